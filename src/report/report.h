/* SPDX-License-Identifier: Apache-2.0
 *
 * report: abuse reports and what they are about. For now: URL canonicalisation, shared
 * by the scanning service (block list, decision API) and report intake, so that every
 * spelling of one URL is one key, and the registrable domain from the public suffix list.
 *
 * Invariant: canonicalising a canonical URL returns it unchanged, and two URLs that
 * differ only in what RFC 3986 calls equivalent (case of scheme and host, IDN or
 * punycode, default port, dot segments, percent-encoding of unreserved characters,
 * hex case of escapes, fragment) canonicalise to the same string.
 */
#ifndef VG_REPORT_H
#define VG_REPORT_H

#include "util/util.h"

#define VG_URL_MAX 8192 /* bytes in a URL, in or out */

/* Canonical form of an http or https URL: lower-case scheme and host, IDN host in
 * punycode (UTS #46 non-transitional), no user information, no default port, no
 * fragment, dot segments resolved, empty path as "/", percent-encoding normalised
 * (unreserved characters decoded, other escapes upper-case, bytes outside the URL
 * grammar encoded). Writes a NUL-terminated string of at most VG_URL_MAX bytes.
 * Errors: VG_EINVAL with the reason (not a URL, another scheme, bad host or port,
 * over VG_URL_MAX). Thread-safe. */
VG_EXPORT VG_MUST_CHECK int vg_url_canonicalize(const char *url, size_t len, char *out,
						size_t out_size, vg_error *err);

/* The host of a canonical URL (copied into out); VG_EINVAL if out is too small. */
VG_EXPORT VG_MUST_CHECK int vg_url_host(const char *canonical, char *out, size_t out_size);

/* The registrable domain of a lower-case host ("www.example.co.uk" -> "example.co.uk"),
 * from libpsl's built-in public suffix list; the host itself for IP addresses and hosts
 * that are themselves public suffixes. */
VG_EXPORT VG_MUST_CHECK int vg_url_registrable_domain(const char *host, char *out, size_t out_size);

#endif
