/* SPDX-License-Identifier: Apache-2.0
 *
 * report: abuse reports and what they are about. URL canonicalisation, shared by the
 * scanning service (block list, decision API) and report intake, so that every spelling of
 * one URL is one key, and the registrable domain from the public suffix list; the report
 * model and its two intakes (the JSON body of POST /v1/reports, and one RFC 5322 message:
 * ARF, X-ARF or plain); the routing policy that turns a report and a zone's contacts into
 * notification intents; the dedup key; the authority report document. Everything here is
 * pure: no store, no network, no clock except where a prototype says so.
 *
 * Personal data: a report's reporter name and email (and a mail's From) are personal data.
 * Nothing in this folder logs them, and error messages never quote them.
 *
 * Invariant: canonicalising a canonical URL returns it unchanged, and two URLs that
 * differ only in what RFC 3986 calls equivalent (case of scheme and host, IDN or
 * punycode, default port, dot segments, percent-encoding of unreserved characters,
 * hex case of escapes, fragment), or that a browser reads as one URL (the spellings of
 * one IP address, a raw "{" and its escape), canonicalise to the same string.
 */
#ifndef VG_REPORT_H
#define VG_REPORT_H

#include "util/util.h"

#define VG_URL_MAX 8192 /* bytes in a URL, in or out */

/* Canonical form of an http or https URL: lower-case scheme and host, IDN host in
 * punycode (UTS #46 non-transitional), an IPv4 host as four decimal parts, an IPv6 host
 * as inet_ntop writes it (RFC 5952), no user information, no default port, no fragment,
 * dot segments resolved, empty path as "/", percent-encoding normalised (unreserved
 * characters decoded, other escapes upper-case, bytes outside the URL grammar encoded).
 * The URL is read as a browser reads it (WHATWG URL): blanks around it, tabs and
 * newlines in it and the fragment ignored, a '\' as a '/', characters browsers tolerate
 * in a path or query ("{", "|", a stray "%") encoded, an IPv4 host in any spelling
 * browsers read ("3221225985", "0xc0.0.2.1"). Writes a NUL-terminated string of at most
 * VG_URL_MAX bytes. Errors: VG_EINVAL with the reason (not a URL, another scheme, bad
 * host or port, over VG_URL_MAX). Thread-safe. */
VG_EXPORT VG_MUST_CHECK int vg_url_canonicalize(const char *url, size_t len, char *out,
						size_t out_size, vg_error *err);
/* The same without the shortcut for URLs already in canonical form (a scan of the bytes
 * that proves the full parse would return them unchanged); tests and the fuzz target
 * check that both always agree. */
VG_EXPORT VG_MUST_CHECK int vg_url_canonicalize_full(const char *url, size_t len, char *out,
						     size_t out_size, vg_error *err);

/* The host of a canonical URL (copied into out); VG_EINVAL if out is too small. */
VG_EXPORT VG_MUST_CHECK int vg_url_host(const char *canonical, char *out, size_t out_size);

/* The host a browser would connect to for url[0..len), in the form a canonical URL
 * carries, read from the authority alone: for a URL that does not canonicalise (too
 * long, a bad port, a character in the path no browser minds) it still names the host a
 * domain bank must see. When no IDNA reading of the whole name exists, the longest run of
 * its last labels that has one (a subdomain label cannot hide its domain). Whenever
 * vg_url_canonicalize succeeds, this is vg_url_host of its result. Reads no further than
 * the authority, whatever len is. VG_EINVAL with the reason. Thread-safe. */
VG_EXPORT VG_MUST_CHECK int vg_url_host_lenient(const char *url, size_t len, char *out,
						size_t out_size, vg_error *err);

/* The registrable domain of a lower-case host ("www.example.co.uk" -> "example.co.uk"),
 * from libpsl's built-in public suffix list; the host itself for IP addresses and hosts
 * that are themselves public suffixes. */
VG_EXPORT VG_MUST_CHECK int vg_url_registrable_domain(const char *host, char *out, size_t out_size);

/* Whether a lower-case host is itself on libpsl's built-in public suffix list, and in
 * which section: ICANN ("co.uk", "com"; an unlisted TLD is not counted) or private
 * ("github.io", "blogspot.com": a platform that registered its domain so its customers'
 * sites are kept apart). A name in both sections counts as ICANN. Thread-safe. */
typedef enum vg_url_suffix {
	VG_URL_SUFFIX_NONE,
	VG_URL_SUFFIX_ICANN,
	VG_URL_SUFFIX_PRIVATE,
} vg_url_suffix;
VG_EXPORT vg_url_suffix vg_url_public_suffix(const char *host);

/* ---- the report model ---------------------------------------------------------------
 * A report is a plain record rather than an opaque type: the API, the store and the
 * routing all read every field, and getters for each would say nothing more. Every
 * string it points to is owned by the report and freed by vg_report_free(). */

#define VG_REPORT_JSON_MAX_BYTES 65536	   /* the POST /v1/reports body */
#define VG_REPORT_URLS_MAX 250		   /* URLs in one report */
#define VG_REPORT_DESCRIPTION_MAX 16384    /* bytes of description */
#define VG_REPORT_NAME_MAX 256		   /* bytes of reporter name */
#define VG_REPORT_EMAIL_MAX 254		   /* bytes of reporter email (RFC 5321 path) */
#define VG_REPORT_EVIDENCE_MAX 100	   /* evidence hashes in one report */
/* A report's URLs are canonical URLs of at most VG_URL_MAX bytes, as /v1/scan takes: the
 * store keeps that much in a report row, a case and a block (src/api/internal.h asserts
 * it), so a longer URL is refused per URL by canonicalisation and never fails a report. */

/* The fixed list of categories; the API names them as vg_report_category_name() does. */
typedef enum {
	VG_REPORT_CSAM,
	VG_REPORT_NCII,
	VG_REPORT_TERRORISM,
	VG_REPORT_PHISHING,
	VG_REPORT_MALWARE,
	VG_REPORT_SPAM,
	VG_REPORT_COPYRIGHT,
	VG_REPORT_TRADEMARK,
	VG_REPORT_HARASSMENT,
	VG_REPORT_OTHER,
	VG_REPORT_NCATEGORIES
} vg_report_category;

/* What the reporter allows to be passed on to one party (the site owner or the host). */
typedef enum {
	VG_REPORT_SHARE_ANONYMOUS, /* the report without who sent it (the default) */
	VG_REPORT_SHARE_FULL,	   /* the report with the reporter's name and email */
	VG_REPORT_SHARE_NONE	   /* nothing from this report goes to that party */
} vg_report_share;

typedef enum { VG_REPORT_HASH_PDQ, VG_REPORT_HASH_MD5, VG_REPORT_HASH_SHA256 } vg_report_hash_type;

/* One evidence hash: lower-case hex, 64 digits for PDQ and SHA-256, 32 for MD5. */
typedef struct vg_report_evidence {
	vg_report_hash_type type;
	char hex[65];
} vg_report_evidence;

/* Where a report came from, for the transparency figures. */
typedef enum {
	VG_REPORT_SOURCE_API,
	VG_REPORT_SOURCE_ARF,
	VG_REPORT_SOURCE_XARF,
	VG_REPORT_SOURCE_MAIL /* a plain message */
} vg_report_source;

typedef struct vg_report {
	vg_report_category category;
	vg_report_source source;
	char **urls;	    /* n_urls canonical URLs, distinct, in first-seen order; 1..250 */
	size_t n_urls;
	char *description;  /* UTF-8 text; NULL when absent */
	char *reporter_name;  /* personal data; NULL when absent */
	char *reporter_email; /* personal data; NULL when absent */
	vg_report_share share_owner, share_host;
	char jurisdiction[3]; /* ISO 3166-1 alpha-2, upper case; "" when absent */
	vg_report_evidence *evidence; /* n_evidence hashes; NULL when none */
	size_t n_evidence;
	char source_ip[46];   /* the abusive source address when the intake names one (ARF
			       * Source-IP, X-ARF Source); "" when unknown */
	vg_usec incident_time; /* when the abuse was seen (ARF Arrival-Date, X-ARF Date); 0
				* when unknown */
} vg_report;

/* Accepts NULL and a half-built report. */
VG_EXPORT void vg_report_free(vg_report *r);

VG_EXPORT const char *vg_report_category_name(vg_report_category c); /* "phishing" */
/* VG_EINVAL unless s is exactly one of the category names (lower case). */
VG_EXPORT VG_MUST_CHECK int vg_report_category_parse(const char *s, vg_report_category *ret);
VG_EXPORT const char *vg_report_share_name(vg_report_share s); /* "anonymous" */
VG_EXPORT const char *vg_report_hash_type_name(vg_report_hash_type t); /* "sha256" */
VG_EXPORT const char *vg_report_source_name(vg_report_source s); /* "api", "arf", ... */

/* ---- field errors: what a 422 lists ---------------------------------------------- */
#define VG_REPORT_FIELD_ERRORS_MAX 300 /* every URL of a full report, and the rest */

typedef struct vg_report_field_error {
	char field[32];	     /* the member: "urls", "reporter.email", "share.owner" */
	int index;	     /* the array element for urls and evidence; -1 otherwise */
	char message[160];   /* for people; never quotes personal data */
} vg_report_field_error;

/* Caller's storage (vg_report_fields_init/_done). Past VG_REPORT_FIELD_ERRORS_MAX the
 * further errors are only counted in n_dropped. */
typedef struct vg_report_fields {
	vg_report_field_error *items;
	size_t n, n_dropped;
} vg_report_fields;

VG_EXPORT void vg_report_fields_init(vg_report_fields *f);
VG_EXPORT void vg_report_fields_done(vg_report_fields *f);
/* The errors as the JSON array a 422 carries in error.fields: [{"field", "index"?,
 * "message"}...]. A new malloc'd NUL-terminated string (caller frees). */
VG_EXPORT char *vg_report_fields_json(const vg_report_fields *f);

/* ---- JSON intake: the POST /v1/reports body -------------------------------------------
 * Parses and validates one body (docs/reports.md lists every rule). Unknown members are
 * refused, at every level, so that a misspelt optional member ("jurisdicton") is an error
 * rather than silently dropped consent or data. Valid URLs are canonicalised with
 * vg_url_canonicalize() and duplicates after canonicalisation kept once.
 *
 * Returns 0 and a new report in *ret_report (the caller frees it). Errors:
 * VG_ETOOBIG over VG_REPORT_JSON_MAX_BYTES; VG_EMALFORMED when the body is not JSON or
 * not an object; VG_EINVAL when one or more members break a rule, each listed in fields
 * (which the caller initialised; it may be NULL). Thread-safe. */
VG_EXPORT VG_MUST_CHECK int vg_report_parse_json(const char *body, size_t len, vg_report **ret_report,
						 vg_report_fields *fields, vg_error *err);

/* The report in the intake's own shape (category, urls, description, reporter when
 * with_reporter, share, jurisdiction, evidence), so that vg_report_parse_json() of the
 * result gives the same report back. A new malloc'd string; NULL when out of memory. */
VG_EXPORT char *vg_report_to_json(const vg_report *r, bool with_reporter);

/* ---- mail intake: one RFC 5322 message ------------------------------------------------
 * vigil report ingest-mail and POST /v1/reports/email. A message is read as ARF (RFC 5965:
 * multipart/report; report-type=feedback-report), as X-ARF (an X-XARF header and a JSON
 * report part) or else as a plain message whose http(s) URLs are taken from its text/plain
 * and text/html parts. docs/reports.md gives the category mappings. The reporter is the
 * From address (share: anonymous for both parties, as no consent was given). */

#define VG_REPORT_MAIL_MAX_BYTES (10u << 20) /* one raw message */

/* Caller's storage: vg_report_mail_init() before, vg_report_mail_done() after, whatever
 * the parse returned. Unlike most out-parameters, the metadata fields are filled as far as
 * the message could be read even when the parse fails, so that a malformed message is
 * recorded with its Message-ID and the reason. All strings are owned; NULL when absent. */
typedef struct vg_report_mail {
	vg_report *report;    /* NULL unless the parse returned 0; taken by setting it NULL */
	vg_report_source kind; /* what the message was read as (ARF, XARF, MAIL) */
	char *message_id;      /* without angle brackets; UTF-8 without control characters
			       * (an encoded word's CR, LF or ESC, say, are dropped) */
	char *from;           /* the From address: personal data, never logged; NULL when over
			       * VG_REPORT_EMAIL_MAX bytes */
	char *subject;	      /* UTF-8, at most 998 bytes */
	vg_usec date;	      /* the Date header; 0 when absent or unreadable */
	char *feedback_type;  /* ARF Feedback-Type or X-ARF "class/type", lower case, as sent */
} vg_report_mail;

VG_EXPORT void vg_report_mail_init(vg_report_mail *m);
VG_EXPORT void vg_report_mail_done(vg_report_mail *m);

/* Parses one raw message (data is not NUL-terminated). Returns 0 with m->report set.
 * Errors: VG_ETOOBIG over VG_REPORT_MAIL_MAX_BYTES; VG_EMALFORMED with the reason (no
 * header, an ARF message without its feedback-report part or Feedback-Type, an X-ARF
 * message without a JSON report); VG_EINVAL when the message is readable but no report
 * (no http(s) URL in it, ARF feedback of type not-spam). Thread-safe (GMime is set up
 * once on first use). */
VG_EXPORT VG_MUST_CHECK int vg_report_mail_parse(const void *data, size_t len, vg_report_mail *m,
						 vg_error *err);

/* ---- routing: who hears about a report ------------------------------------------------
 * A policy is a small table, per category: which parties to notify at once ("notify": the
 * URLs and category, for phishing, malware, spam) or to forward the report to ("forward":
 * the report with its description, for copyright and the like), the case priority, and
 * whether evidence hashes are matched against the banks at once. The defaults are issue
 * 5's; a config text overrides lines of it (vg_report_policy_parse()).
 *
 * What no policy can change, for csam, ncii and terrorism: the site owner is never told
 * before a person reviews the case, and reporter details are never shared with anyone. */

typedef enum { VG_REPORT_PRIORITY_LOW, VG_REPORT_PRIORITY_NORMAL, VG_REPORT_PRIORITY_HIGH } vg_report_priority;
typedef enum { VG_REPORT_PARTY_OWNER, VG_REPORT_PARTY_HOST } vg_report_party;
typedef enum { VG_REPORT_CHANNEL_WEBHOOK, VG_REPORT_CHANNEL_EMAIL } vg_report_channel;

/* What a policy line may name; a line's actions replace the category's defaults. */
#define VG_REPORT_ACT_NOTIFY_OWNER (1u << 0)
#define VG_REPORT_ACT_NOTIFY_HOST (1u << 1)
#define VG_REPORT_ACT_FORWARD_OWNER (1u << 2)
#define VG_REPORT_ACT_FORWARD_HOST (1u << 3)
#define VG_REPORT_ACT_MATCH_EVIDENCE (1u << 4)

typedef struct vg_report_rule {
	unsigned actions;	     /* VG_REPORT_ACT_* */
	vg_report_priority priority; /* of the case every report opens */
} vg_report_rule;

typedef struct vg_report_policy {
	vg_report_rule rules[VG_REPORT_NCATEGORIES];
} vg_report_policy;

/* The defaults: phishing, malware, spam notify owner and host; copyright,
 * trademark, harassment, other forward to both; csam, ncii, terrorism notify nobody before
 * review, match evidence, high priority. */
VG_EXPORT void vg_report_policy_default(vg_report_policy *ret);

/* Applies a config text over *policy: one `category = action, action, ...` per line, '#'
 * comments, blank lines ignored. Actions: notify_owner, notify_host, forward_owner,
 * forward_host, match_evidence, priority_low, priority_normal, priority_high, and none (no
 * party). A line replaces that category's actions; its priority stays unless named.
 * Refused (VG_EINVAL with "name:line: reason"): unknown categories or actions, and
 * notify_owner or forward_owner for csam, ncii or terrorism. *policy is changed only on
 * success. */
VG_EXPORT VG_MUST_CHECK int vg_report_policy_parse(vg_report_policy *policy, const char *text, size_t len,
						   const char *name, vg_error *err);

/* One party's contacts in a zone, borrowed strings; NULL or "" when not set. */
typedef struct vg_report_contact {
	const char *email;
	const char *webhook_url;
} vg_report_contact;

typedef struct vg_report_zone {
	const char *name; /* the zone's hostname or registrable domain */
	vg_report_contact owner, host;
} vg_report_zone;

/* One notification to queue in the outbox. */
typedef struct vg_report_intent {
	vg_report_party party;
	vg_report_channel channel;
	const char *target;	  /* the webhook URL or email address, borrowed from the zone */
	bool forward;		  /* the whole report (description too), not only URL and category */
	bool include_reporter;	  /* the reporter's name and email may go with it */
} vg_report_intent;

typedef struct vg_report_route {
	vg_report_intent intents[2]; /* at most one per party */
	size_t n_intents;
	vg_report_priority priority;
	bool match_evidence;	  /* match evidence hashes against the banks now */
	bool hold_for_review;	  /* restricted category: nothing to the owner before review */
	bool not_ours;		  /* no zone: status not_ours, nothing else happens */
} vg_report_route;

/* Routes a report for the URLs it has on one zone (NULL: on no zone). Pure: no I/O, no
 * allocation. A party is skipped when the report's share says none for it or it has no
 * contact; a party with a webhook URL gets a webhook, otherwise an email. Reporter details
 * go only where share says full, never for csam, ncii, terrorism. */
VG_EXPORT void vg_report_route_compute(const vg_report_policy *policy, const vg_report *report,
				       const vg_report_zone *zone, vg_report_route *ret);

VG_EXPORT const char *vg_report_priority_name(vg_report_priority p); /* "high" */

/* The dedup key of a report for one URL: "<category> <canonical url>" (a report for the
 * same key within the dedup window attaches to the open case). url is canonicalised
 * again, so any spelling gives the same key. VG_EINVAL for a bad URL or a small out;
 * VG_URL_MAX + 32 bytes always suffice. */
VG_EXPORT VG_MUST_CHECK int vg_report_dedup_key(vg_report_category category, const char *url, char *out,
						size_t out_size, vg_error *err);

/* ---- authority report: a CyberTipline-style XML document -------------------------------
 * For a confirmed csam case, what the operator submits to the authority. Built from plain
 * inputs only (no content can reach it: there is no field for it). All strings borrowed,
 * UTF-8; invalid bytes and characters XML 1.0 forbids become U+FFFD. */
typedef struct vg_report_authority {
	const char *org_name;	  /* the reporting organisation (required) */
	const char *org_email;	  /* its contact; NULL when not set */
	const char *case_id;	  /* vigil's case id (required) */
	vg_usec incident_time;	  /* when the content was reported or found (required) */
	const char *const *urls;  /* n_urls URLs */
	size_t n_urls;
	const char *ip;		  /* the uploader's or source address; NULL when unknown */
	const vg_report_evidence *hashes; /* n_hashes file hashes */
	size_t n_hashes;
	const char *reviewer_note; /* NULL when none */
} vg_report_authority;

/* A new malloc'd NUL-terminated XML document in *ret_xml. VG_EINVAL when a required input
 * is missing or there is neither a URL nor a hash. */
VG_EXPORT VG_MUST_CHECK int vg_report_authority_xml(const vg_report_authority *in, char **ret_xml,
						    vg_error *err);

#endif
