/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON intake of abuse reports (POST /v1/reports): each field rule of issue 5 and
 * docs/reports.md, the limits at and just past their bounds, the field errors a 422
 * lists, and the round trip through vg_report_to_json().
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"
#include "report/report.h"

static vg_report_fields fields;

static void setup(void)
{
	vg_report_fields_init(&fields);
}

static void teardown(void)
{
	vg_report_fields_done(&fields);
}

TestSuite(report_json, .init = setup, .fini = teardown);

static vg_report *ok(const char *body)
{
	vg_report *r = NULL;
	vg_error e = {0};
	int rc = vg_report_parse_json(body, strlen(body), &r, &fields, &e);
	cr_assert_eq(rc, 0, "%s: %s (%s)", body, e.msg,
		     fields.n ? fields.items[0].message : "");
	cr_assert_not_null(r);
	return r;
}

/* Parses a body that must break exactly the rules of `field` (once each), returning
 * the first error's index. */
static int bad(const char *body, const char *field)
{
	vg_report *r = NULL;
	vg_error e = {0};
	vg_report_fields_done(&fields);
	int rc = vg_report_parse_json(body, strlen(body), &r, &fields, &e);
	cr_assert_eq(rc, VG_EINVAL, "%s: rc %d (%s)", body, rc, e.msg);
	cr_assert_null(r);
	cr_assert_geq(fields.n, 1);
	cr_assert_str_eq(fields.items[0].field, field, "%s: field %s, message %s", body,
			 fields.items[0].field, fields.items[0].message);
	return fields.items[0].index;
}

Test(report_json, minimal_report_takes_the_defaults)
{
	vg_report *r = ok("{\"category\":\"phishing\",\"urls\":[\"HTTPS://Example.COM/login\"]}");
	cr_assert_eq(r->category, VG_REPORT_PHISHING);
	cr_assert_eq(r->source, VG_REPORT_SOURCE_API);
	cr_assert_eq(r->n_urls, 1);
	cr_assert_str_eq(r->urls[0], "https://example.com/login");
	cr_assert_null(r->description);
	cr_assert_null(r->reporter_name);
	cr_assert_null(r->reporter_email);
	cr_assert_eq(r->share_owner, VG_REPORT_SHARE_ANONYMOUS);
	cr_assert_eq(r->share_host, VG_REPORT_SHARE_ANONYMOUS);
	cr_assert_str_eq(r->jurisdiction, "");
	cr_assert_eq(r->n_evidence, 0);
	vg_report_free(r);
}

Test(report_json, full_report)
{
	vg_report *r = ok("{\"category\":\"copyright\",\"urls\":[\"http://a.example/x\","
			  "\"https://b.example/y?q=1\"],\"description\":\"my photo\","
			  "\"reporter\":{\"name\":\"Ana\",\"email\":\"ana@mail.example\"},"
			  "\"share\":{\"owner\":\"full\",\"host\":\"none\"},\"jurisdiction\":\"DE\","
			  "\"evidence\":[{\"md5\":\"D41D8CD98F00B204E9800998ECF8427E\"},"
			  "{\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"},"
			  "{\"pdq\":\"f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22\"}]}");
	cr_assert_eq(r->category, VG_REPORT_COPYRIGHT);
	cr_assert_eq(r->n_urls, 2);
	cr_assert_str_eq(r->description, "my photo");
	cr_assert_str_eq(r->reporter_name, "Ana");
	cr_assert_str_eq(r->reporter_email, "ana@mail.example");
	cr_assert_eq(r->share_owner, VG_REPORT_SHARE_FULL);
	cr_assert_eq(r->share_host, VG_REPORT_SHARE_NONE);
	cr_assert_str_eq(r->jurisdiction, "DE");
	cr_assert_eq(r->n_evidence, 3);
	cr_assert_eq(r->evidence[0].type, VG_REPORT_HASH_MD5);
	cr_assert_str_eq(r->evidence[0].hex, "d41d8cd98f00b204e9800998ecf8427e", "hex is lower-cased");
	cr_assert_eq(r->evidence[1].type, VG_REPORT_HASH_SHA256);
	cr_assert_eq(r->evidence[2].type, VG_REPORT_HASH_PDQ);
	vg_report_free(r);
}

Test(report_json, every_category_parses_and_names_itself)
{
	for (int c = 0; c < VG_REPORT_NCATEGORIES; c++) {
		char body[200];
		snprintf(body, sizeof(body), "{\"category\":\"%s\",\"urls\":[\"http://x.example/\"]}",
			 vg_report_category_name((vg_report_category)c));
		vg_report *r = ok(body);
		cr_assert_eq((int)r->category, c);
		vg_report_free(r);
	}
	bad("{\"category\":\"Phishing\",\"urls\":[\"http://x.example/\"]}", "category");
	bad("{\"category\":\"scam\",\"urls\":[\"http://x.example/\"]}", "category");
	bad("{\"category\":3,\"urls\":[\"http://x.example/\"]}", "category");
	bad("{\"urls\":[\"http://x.example/\"]}", "category");
}

Test(report_json, urls_rules)
{
	bad("{\"category\":\"spam\"}", "urls");
	bad("{\"category\":\"spam\",\"urls\":[]}", "urls");
	bad("{\"category\":\"spam\",\"urls\":\"http://x.example/\"}", "urls");
	cr_assert_eq(bad("{\"category\":\"spam\",\"urls\":[\"http://x.example/\",7]}", "urls"), 1);
	/* Every invalid URL is listed with its index, and the valid ones do not hide it. */
	vg_report *r = NULL;
	const char *body = "{\"category\":\"spam\",\"urls\":[\"ftp://x.example/\",\"http://ok.example/\","
			   "\"not a url\",\"javascript:alert(1)\"]}";
	vg_report_fields_done(&fields);
	cr_assert_eq(vg_report_parse_json(body, strlen(body), &r, &fields, NULL), VG_EINVAL);
	cr_assert_eq(fields.n, 3);
	cr_assert_eq(fields.items[0].index, 0);
	cr_assert_eq(fields.items[1].index, 2);
	cr_assert_eq(fields.items[2].index, 3);
	cr_assert_str_eq(fields.items[0].field, "urls");
}

Test(report_json, duplicate_urls_after_canonicalisation_are_kept_once)
{
	vg_report *r = ok("{\"category\":\"spam\",\"urls\":[\"http://x.example\",\"HTTP://X.EXAMPLE:80/\","
			  "\"http://x.example/a/../\",\"http://y.example/\"]}");
	cr_assert_eq(r->n_urls, 2);
	cr_assert_str_eq(r->urls[0], "http://x.example/");
	cr_assert_str_eq(r->urls[1], "http://y.example/");
	vg_report_free(r);
}

static char *urls_body(int n)
{
	size_t cap = 64 + (size_t)n * 40;
	char *b = malloc(cap);
	size_t k = (size_t)snprintf(b, cap, "{\"category\":\"malware\",\"urls\":[");
	for (int i = 0; i < n; i++)
		k += (size_t)snprintf(b + k, cap - k, "%s\"http://h%d.example/\"", i ? "," : "", i);
	snprintf(b + k, cap - k, "]}");
	return b;
}

Test(report_json, at_most_250_urls)
{
	char *b = urls_body(VG_REPORT_URLS_MAX);
	vg_report *r = ok(b);
	cr_assert_eq(r->n_urls, VG_REPORT_URLS_MAX);
	vg_report_free(r);
	free(b);
	b = urls_body(VG_REPORT_URLS_MAX + 1);
	bad(b, "urls");
	free(b);
}

Test(report_json, body_over_64k_is_too_large)
{
	size_t n = VG_REPORT_JSON_MAX_BYTES + 1;
	char *b = malloc(n + 1);
	memset(b, ' ', n);
	b[n] = '\0';
	memcpy(b, "{\"category\":\"spam\",\"urls\":[\"http://x.example/\"]}",
	       strlen("{\"category\":\"spam\",\"urls\":[\"http://x.example/\"]}"));
	vg_report *r = NULL;
	vg_error e;
	cr_assert_eq(vg_report_parse_json(b, n, &r, &fields, &e), VG_ETOOBIG);
	/* Exactly at the bound it is read (trailing white space is JSON). */
	cr_assert_eq(vg_report_parse_json(b, n - 1, &r, &fields, &e), 0, "%s", e.msg);
	vg_report_free(r);
	free(b);
}

Test(report_json, malformed_and_non_object_bodies)
{
	static const char *const bodies[] = {"", "{", "[1,2]", "\"x\"", "null", "{\"a\":1,}",
					     "{\"category\":\"spam\",\"category\":\"spam\"}"};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		vg_report *r = NULL;
		vg_error e;
		cr_assert_eq(vg_report_parse_json(bodies[i], strlen(bodies[i]), &r, &fields, &e),
			     VG_EMALFORMED, "%s", bodies[i]);
		cr_assert_null(r);
	}
}

Test(report_json, unknown_members_are_refused_at_every_level)
{
	bad("{\"category\":\"spam\",\"urls\":[\"http://x.example/\"],\"jurisdicton\":\"DE\"}",
	    "jurisdicton");
	bad("{\"category\":\"spam\",\"urls\":[\"http://x.example/\"],\"reporter\":{\"phone\":\"1\"}}",
	    "reporter");
	bad("{\"category\":\"spam\",\"urls\":[\"http://x.example/\"],\"share\":{\"owners\":\"full\"}}",
	    "share");
}

Test(report_json, description_bound)
{
	size_t n = VG_REPORT_DESCRIPTION_MAX;
	char *b = malloc(n + 200);
	int k = snprintf(b, 200, "{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"description\":\"");
	memset(b + k, 'a', n);
	strcpy(b + k + n, "\"}");
	vg_report *r = ok(b);
	cr_assert_eq(strlen(r->description), n);
	vg_report_free(r);
	memset(b + k, 'a', n + 1);
	strcpy(b + k + n + 1, "\"}");
	bad(b, "description");
	free(b);
	bad("{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"description\":5}", "description");
	r = ok("{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"description\":null}");
	cr_assert_null(r->description);
	vg_report_free(r);
}

Test(report_json, reporter_rules)
{
	const char *pre = "{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"reporter\":";
	char b[1024];
	static const char *const good_emails[] = {"a@b.example", "first.last+tag@sub.mail.example",
						  "o'brien@x-y.example", "x@xn--bcher-kva.example"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(b, sizeof(b), "%s{\"email\":\"%s\"}}", pre, good_emails[i]);
		vg_report *r = ok(b);
		cr_assert_str_eq(r->reporter_email, good_emails[i]);
		vg_report_free(r);
	}
	static const char *const bad_emails[] = {"plain",	     "@x.example",   "a@",
						 "a@localhost",	     "a b@x.example", "a..b@x.example",
						 ".a@x.example",     "a.@x.example",  "a@-x.example",
						 "a@x-.example",     "a@x..example",  "a@x.example.",
						 "a@b@c.example",    "\\\"q\\\"@x.example"};
	for (size_t i = 0; i < sizeof(bad_emails) / sizeof(bad_emails[0]); i++) {
		snprintf(b, sizeof(b), "%s{\"email\":\"%s\"}}", pre, bad_emails[i]);
		bad(b, "reporter.email");
		cr_assert_null(strstr(fields.items[0].message, bad_emails[i]),
			       "the error never quotes the address");
	}
	/* Bounds: a 255-byte address and a 257-byte name are refused. */
	char local[65], longdom[300];
	memset(local, 'a', 64), local[64] = '\0';
	memset(longdom, 'b', 185), longdom[185] = '\0';
	snprintf(b, sizeof(b), "%s{\"email\":\"%s@%s.example\"}}", pre, local, longdom);
	bad(b, "reporter.email");
	char name[300];
	memset(name, 'n', 257), name[257] = '\0';
	snprintf(b, sizeof(b), "%s{\"name\":\"%s\"}}", pre, name);
	bad(b, "reporter.name");
	name[256] = '\0';
	snprintf(b, sizeof(b), "%s{\"name\":\"%s\"}}", pre, name);
	vg_report *r = ok(b);
	cr_assert_eq(strlen(r->reporter_name), 256);
	vg_report_free(r);
	/* Empty strings and null count as absent. */
	snprintf(b, sizeof(b), "%s{\"name\":\"\",\"email\":null}}", pre);
	r = ok(b);
	cr_assert_null(r->reporter_name);
	cr_assert_null(r->reporter_email);
	vg_report_free(r);
	snprintf(b, sizeof(b), "%s[\"x\"]}", pre);
	bad(b, "reporter");
}

Test(report_json, share_rules)
{
	static const struct {
		const char *v;
		vg_report_share s;
	} cases[] = {{"full", VG_REPORT_SHARE_FULL},
		     {"anonymous", VG_REPORT_SHARE_ANONYMOUS},
		     {"none", VG_REPORT_SHARE_NONE}};
	char b[512];
	for (size_t i = 0; i < 3; i++) {
		snprintf(b, sizeof(b),
			 "{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"share\":{\"host\":\"%s\"}}",
			 cases[i].v);
		vg_report *r = ok(b);
		cr_assert_eq(r->share_host, cases[i].s);
		cr_assert_eq(r->share_owner, VG_REPORT_SHARE_ANONYMOUS, "owner keeps the default");
		vg_report_free(r);
	}
	bad("{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"share\":{\"owner\":\"FULL\"}}",
	    "share.owner");
	bad("{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"share\":{\"host\":true}}",
	    "share.host");
	bad("{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"share\":\"full\"}", "share");
}

Test(report_json, jurisdiction_rules)
{
	char b[512];
	static const char *const good[] = {"DE", "US", "GB", "BR", "ZW", "XK"};
	for (size_t i = 0; i < 6; i++) {
		snprintf(b, sizeof(b),
			 "{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"jurisdiction\":\"%s\"}",
			 good[i]);
		vg_report *r = ok(b);
		cr_assert_str_eq(r->jurisdiction, good[i]);
		vg_report_free(r);
	}
	static const char *const wrong[] = {"de", "D", "DEU", "UK", "ZZ", "", "1A"};
	for (size_t i = 0; i < 7; i++) {
		snprintf(b, sizeof(b),
			 "{\"category\":\"other\",\"urls\":[\"http://x.example/\"],\"jurisdiction\":\"%s\"}",
			 wrong[i]);
		bad(b, "jurisdiction");
	}
}

Test(report_json, evidence_rules)
{
	const char *pre = "{\"category\":\"csam\",\"urls\":[\"http://x.example/\"],\"evidence\":";
	char b[2048];
	static const char *const wrong[] = {
		"[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427\"}]",	     /* 31 digits */
		"[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e0\"}]",	     /* 33 */
		"[{\"md5\":\"g41d8cd98f00b204e9800998ecf8427e\"}]",	     /* not hex */
		"[{\"sha256\":\"d41d8cd98f00b204e9800998ecf8427e\"}]",	     /* md5 length */
		"[{\"pdq\":\"f8f8\"}]",
		"[{\"sha1\":\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"}]", /* unknown type */
		"[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\",\"sha256\":\"x\"}]",
		"[{}]",
		"[\"d41d8cd98f00b204e9800998ecf8427e\"]",
		"[{\"md5\":5}]",
		"{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\"}",
	};
	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		snprintf(b, sizeof(b), "%s%s}", pre, wrong[i]);
		bad(b, "evidence");
	}
	/* The bound: 100 hashes pass, 101 do not. */
	size_t k = (size_t)snprintf(b, sizeof(b), "%s[", pre);
	char *big = malloc(64 * 1024);
	memcpy(big, b, k);
	for (int i = 0; i < VG_REPORT_EVIDENCE_MAX + 1; i++)
		k += (size_t)sprintf(big + k, "%s{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\"}",
				     i ? "," : "");
	strcpy(big + k, "]}");
	bad(big, "evidence");
	char *last = strrchr(big, '{');
	strcpy(last - 1, "]}");
	vg_report *r = ok(big);
	cr_assert_eq(r->n_evidence, VG_REPORT_EVIDENCE_MAX);
	vg_report_free(r);
	free(big);
}

Test(report_json, several_broken_rules_are_all_listed)
{
	vg_report *r = NULL;
	const char *body = "{\"category\":\"nope\",\"urls\":[\"x\"],\"share\":{\"owner\":\"all\"},"
			   "\"jurisdiction\":\"de\",\"evidence\":[{\"md5\":\"00\"}],\"extra\":1}";
	vg_error e;
	cr_assert_eq(vg_report_parse_json(body, strlen(body), &r, &fields, &e), VG_EINVAL);
	cr_assert_eq(fields.n, 6, "%zu errors; %s", fields.n, e.msg);
	char *json = vg_report_fields_json(&fields);
	cr_assert_not_null(json);
	cr_assert_not_null(strstr(json, "\"field\":\"urls\",\"index\":0"), "%s", json);
	cr_assert_not_null(strstr(json, "\"field\":\"jurisdiction\""), "%s", json);
	free(json);
}

Test(report_json, round_trip_through_to_json)
{
	vg_report *r = ok("{\"category\":\"trademark\",\"urls\":[\"http://a.example/x\"],"
			  "\"description\":\"fake \\u00e9 shop\",\"reporter\":{\"name\":\"B\","
			  "\"email\":\"b@c.example\"},\"share\":{\"owner\":\"none\",\"host\":\"full\"},"
			  "\"jurisdiction\":\"FR\",\"evidence\":[{\"md5\":\"d41d8cd98f00b204e9800998ecf8427e\"}]}");
	char *json = vg_report_to_json(r, true);
	vg_report *again = ok(json);
	char *json2 = vg_report_to_json(again, true);
	cr_assert_str_eq(json, json2);
	cr_assert_eq(again->share_owner, VG_REPORT_SHARE_NONE);
	cr_assert_str_eq(again->reporter_email, "b@c.example");
	char *anon = vg_report_to_json(r, false);
	cr_assert_null(strstr(anon, "b@c.example"), "without reporter: no personal data");
	free(anon);
	free(json);
	free(json2);
	vg_report_free(r);
	vg_report_free(again);
}

Test(report_json, free_accepts_null)
{
	vg_report_free(NULL);
	vg_report_fields_done(NULL);
}

/* Found in review: a URL over what the store holds passed intake and failed the whole
 * report in the store, with no field error. The store now holds VG_URL_MAX, as much as
 * /v1/scan takes; a URL over it is one field error with its index. The bound is on the
 * canonical form, which is what gets stored. */
Test(report_json, url_over_the_url_bound_is_a_field_error)
{
	size_t pad = VG_URL_MAX - strlen("http://x.example/");
	char *body = malloc(pad + 256);
	int k = sprintf(body, "{\"category\":\"spam\",\"urls\":[\"http://ok.example/\",\"http://x.example/");
	memset(body + k, 'a', pad);
	strcpy(body + k + pad, "\"]}");
	vg_report *r = ok(body); /* exactly VG_URL_MAX bytes: fine */
	cr_assert_eq(r->n_urls, 2);
	cr_assert_eq(strlen(r->urls[1]), VG_URL_MAX);
	vg_report_free(r);
	/* One byte more, and a URL that only grows past the bound once canonical ("^" is
	 * escaped as %5E). */
	strcpy(body + k + pad, "a\"]}");
	cr_assert_eq(bad(body, "urls"), 1);
	cr_assert_eq(fields.n, 1);
	cr_assert_not_null(strstr(fields.items[0].message, "8192"), "%s", fields.items[0].message);
	memset(body + k, '^', pad / 2);
	strcpy(body + k + pad / 2, "\"]}");
	cr_assert_eq(bad(body, "urls"), 1);
	free(body);
}

/* Found in review: a URL past the 250th was canonicalised (IDNA included) and only then
 * dropped, so an ARF of 180,000 Reported-URI lines cost seconds of CPU for nothing. Once
 * a report is full, a URL is not read at all: not even a malformed one is judged. */
Test(report_json, a_full_report_reads_no_more_urls)
{
	vg_report *r = vg__report_new();
	cr_assert_not_null(r);
	vg_error err;
	char url[64];
	for (int i = 0; i < VG_REPORT_URLS_MAX; i++) {
		int n = snprintf(url, sizeof(url), "http://b\xc3\xbc" "cher-%d.example/p", i);
		cr_assert_eq(vg__report_add_url(r, url, (size_t)n, &err), 1, "%d: %s", i, err.msg);
	}
	const char *bad = "ftp://not-even-http";
	cr_assert_eq(vg__report_add_url(r, bad, strlen(bad), &err), 0);
	vg_report_free(r);
}
