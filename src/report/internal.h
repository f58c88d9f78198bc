/* SPDX-License-Identifier: Apache-2.0
 *
 * Shared between the files of src/report/ only: building a report piece by piece (the
 * JSON and mail intakes both do) and the small validators they share. No other folder
 * includes this header.
 */
#ifndef VG_REPORT_INTERNAL_H
#define VG_REPORT_INTERNAL_H

#include "report.h"

/* A new empty report (source API, shares anonymous); aborts on out of memory (fixed
 * size). */
vg_report *vg__report_new(void);

/* Canonicalises url and appends it unless already present or the report holds
 * VG_REPORT_URLS_MAX (once full, url is not even read). Returns 1 when added, 0 when a
 * duplicate or full, VG_EINVAL (with the reason) when not an http(s) URL or over
 * VG_URL_MAX bytes once canonical, VG_ENOMEM. */
int vg__report_add_url(vg_report *r, const char *url, size_t len, vg_error *err);

/* Copies s into a new string; NULL when out of memory. */
char *vg__report_strndup(const char *s, size_t n);

/* True when s[0..n) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool vg__report_utf8_valid(const char *s, size_t n);

/* True when s[0..n) is a plausible mailbox address local@domain: no spaces or control
 * characters, a dot-atom local part of at most 64 bytes, a domain of dot-separated
 * labels (letters, digits, '-', or UTF-8) with at least one dot, each label 1..63 bytes
 * not starting or ending with '-'. Quoted local parts and address literals are refused:
 * abuse reporters do not need them and they complicate every later use. */
bool vg__report_email_valid(const char *s, size_t n);

/* Reads an evidence hash of the given type from hex[0..n) (either case) into *ret with
 * lower-case digits; VG_EINVAL with the reason. */
int vg__report_evidence_parse(vg_report_hash_type type, const char *hex, size_t n,
			      vg_report_evidence *ret, vg_error *err);

/* Adds one field error (printf-style message) unless fields is NULL. */
void vg__report_field_error(vg_report_fields *fields, const char *field, int index,
			    const char *fmt, ...) VG_PRINTF(4, 5);

/* ---- URLs (url.c, url_host.c) ------------------------------------------------------- */

/* Bytes of a host, decoded; DNS allows 253, and past this nothing is a real host. */
#define VG__URL_HOST_MAX 511

/* An http or https URL cut where a browser cuts it (WHATWG URL): ranges into the input,
 * which may still hold tabs and newlines (a browser drops them; every reader skips them).
 * The fragment and the user information are left out. */
typedef struct vg__url_cut {
	char scheme[6];                /* "http" or "https" */
	const char *host, *host_end;   /* host and port */
	const char *path, *path_end;   /* up to '?' or '#'; a '\' in it is a '/' */
	const char *query, *query_end; /* after '?', up to '#'; NULL: no query */
} vg__url_cut;

/* Cuts url[0..len): leading and trailing C0 controls and spaces skipped, the scheme http
 * or https in any case, then at least two of '/' and '\', then the authority up to the
 * first '/', '\', '?' or '#'; the user information ends at its last '@'. With whole
 * false it stops after the authority (path and query unset), reading no further.
 * VG_EINVAL with the reason. */
int vg__url_cut_read(const char *url, size_t len, bool whole, vg__url_cut *ret, vg_error *err);

/* The canonical form of a host name or IPv4 address in [s, e) (percent-encoded maybe),
 * and of the IPv6 address between an IP literal's brackets, brackets added: into out,
 * NUL-terminated, at most cap bytes. VG_EINVAL with the reason. */
int vg__url_name_host(const char *s, const char *e, char *out, size_t cap, vg_error *err);
int vg__url_ipv6_host(const char *s, const char *e, char *out, size_t cap, vg_error *err);

#endif
