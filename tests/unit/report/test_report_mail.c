/* SPDX-License-Identifier: Apache-2.0
 *
 * The mail intake: the ARF, X-ARF and plain fixtures under tests/fixtures/mail/ read into
 * the report a user expects (category mapping, URLs canonicalised and deduplicated,
 * source IP, times, reporter from From), and every malformed fixture gives its error with
 * the Message-ID still read. VIGIL_SOURCE_ROOT (set by meson) finds the fixtures.
 */
#include <criterion/criterion.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

static vg_report_mail m;
static vg_error err;

static void setup(void)
{
	vg_report_mail_init(&m);
}

static void teardown(void)
{
	vg_report_mail_done(&m);
}

TestSuite(report_mail, .init = setup, .fini = teardown);

static int parse_fixture(const char *name)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	char path[1024];
	snprintf(path, sizeof(path), "%s/tests/fixtures/mail/%s", root ? root : ".", name);
	uint8_t *data;
	size_t len;
	cr_assert_eq(vg_file_read(path, 1 << 20, &data, &len, &err), 0, "%s: %s", path, err.msg);
	int rc = vg_report_mail_parse(data, len, &m, &err);
	free(data);
	return rc;
}

static bool has_url(const vg_report *r, const char *url)
{
	for (size_t i = 0; i < r->n_urls; i++)
		if (!strcmp(r->urls[i], url))
			return true;
	return false;
}

Test(report_mail, arf_fraud_is_phishing_with_reported_uri_and_domain)
{
	cr_assert_eq(parse_fixture("arf-fraud.eml"), 0, "%s", err.msg);
	const vg_report *r = m.report;
	cr_assert_eq(m.kind, VG_REPORT_SOURCE_ARF);
	cr_assert_eq(r->source, VG_REPORT_SOURCE_ARF);
	cr_assert_eq(r->category, VG_REPORT_PHISHING);
	cr_assert_str_eq(m.feedback_type, "fraud");
	cr_assert_str_eq(m.message_id, "arf-1@isp.example");
	cr_assert_str_eq(m.subject, "FW: Verify your account now");
	cr_assert_str_eq(m.from, "fbl@isp.example");
	cr_assert_eq(m.date, (vg_usec)1709634030 * 1000000);
	cr_assert_eq(r->incident_time, (vg_usec)1709629200 * 1000000, "Arrival-Date");
	cr_assert_str_eq(r->source_ip, "192.0.2.10");
	cr_assert_eq(r->n_urls, 2);
	cr_assert(has_url(r, "http://bank-secure.example/verify?id=7"));
	cr_assert(has_url(r, "http://bank-secure.example/"));
	cr_assert_str_eq(r->reporter_email, "fbl@isp.example");
	cr_assert_str_eq(r->reporter_name, "Feedback Loop");
	cr_assert_eq(r->share_owner, VG_REPORT_SHARE_ANONYMOUS);
	cr_assert_eq(r->share_host, VG_REPORT_SHARE_ANONYMOUS);
}

Test(report_mail, arf_abuse_is_spam_with_urls_of_the_enclosed_message)
{
	cr_assert_eq(parse_fixture("arf-abuse-enclosed.eml"), 0, "%s", err.msg);
	const vg_report *r = m.report;
	cr_assert_eq(r->category, VG_REPORT_SPAM);
	cr_assert_str_eq(r->source_ip, "2001:db8::25");
	cr_assert_eq(r->n_urls, 2, "%zu urls", r->n_urls);
	cr_assert(has_url(r, "https://shop.pills.example/buy?a=1&b=2"), "%s", r->urls[0]);
	cr_assert(has_url(r, "http://pills.example/unsubscribe"), "%s", r->urls[1]);
}

Test(report_mail, arf_virus_is_malware_and_skips_other_schemes)
{
	cr_assert_eq(parse_fixture("arf-virus.eml"), 0, "%s", err.msg);
	cr_assert_eq(m.report->category, VG_REPORT_MALWARE);
	cr_assert_eq(m.report->n_urls, 1);
	cr_assert_str_eq(m.report->urls[0], "https://files.example/invoice.exe");
	cr_assert_eq(m.date, 0, "no Date header");
	cr_assert_null(m.report->reporter_name);
}

Test(report_mail, xarf_v3_phishing)
{
	cr_assert_eq(parse_fixture("xarf-v3.eml"), 0, "%s", err.msg);
	const vg_report *r = m.report;
	cr_assert_eq(m.kind, VG_REPORT_SOURCE_XARF);
	cr_assert_eq(r->category, VG_REPORT_PHISHING);
	cr_assert_str_eq(m.feedback_type, "content/phishing");
	cr_assert_eq(r->n_urls, 1);
	cr_assert_str_eq(r->urls[0], "https://login.example/secure/");
	cr_assert_str_eq(r->source_ip, "198.51.100.7");
	cr_assert_eq(r->incident_time, (vg_usec)1709811900 * 1000000);
	cr_assert_str_eq(m.message_id, "xarf-3@reporter.example");
}

/* Found in review: version 4 of the xarf-spec (one flat object, lower-case keys) was
 * refused as "without a JSON report part"; the code read version 3 and called it 4. */
Test(report_mail, xarf_v4_phishing)
{
	cr_assert_eq(parse_fixture("xarf-v4.eml"), 0, "%s", err.msg);
	const vg_report *r = m.report;
	cr_assert_eq(m.kind, VG_REPORT_SOURCE_XARF);
	cr_assert_eq(r->category, VG_REPORT_PHISHING);
	cr_assert_str_eq(m.feedback_type, "content/phishing");
	cr_assert_eq(r->n_urls, 1);
	cr_assert_str_eq(r->urls[0], "https://pay.example/verify/");
	cr_assert_str_eq(r->source_ip, "203.0.113.80");
	cr_assert_eq(r->incident_time, (vg_usec)1736756100 * 1000000);
	cr_assert_str_eq(m.message_id, "xarf-v4-1@brand-watch.example");
}

/* An X-XARF message whose only part is the JSON report. */
static int parse_xarf_json(const char *json)
{
	char msg[4096];
	int k = snprintf(
		msg, sizeof(msg),
		"From: desk@rep.example\r\nMessage-ID: <x@rep.example>\r\nX-XARF: PLAIN\r\n"
		"MIME-Version: 1.0\r\nContent-Type: application/json\r\n\r\n%s\r\n",
		json);
	cr_assert(k > 0 && (size_t)k < sizeof(msg));
	vg_report_mail_done(&m);
	return vg_report_mail_parse(msg, (size_t)k, &m, &err);
}

Test(report_mail, xarf_v4_categories_and_sources)
{
	static const struct {
		const char *json;
		vg_report_category category;
		const char *url, *ip;
	} cases[] = {
		{"{\"xarf_version\": \"4.0.0\", \"category\": \"copyright\", \"type\": \"p2p\", "
		 "\"source_identifier\": \"2001:db8::7\", \"infringing_url\": "
		 "\"http://films.example/a\"}",
		 VG_REPORT_COPYRIGHT, "http://films.example/a", "2001:db8::7"},
		{"{\"xarf_version\": \"4.1.0\", \"category\": \"messaging\", \"type\": "
		 "\"bulk_messaging\", "
		 "\"source_identifier\": \"https://list.example/join\"}",
		 VG_REPORT_SPAM, "https://list.example/join", ""},
		{"{\"xarf_version\": \"4.0.0\", \"category\": \"content\", \"type\": \"csam\", "
		 "\"source_identifier\": \"192.0.2.9\", \"url\": \"http://bad.example/x\"}",
		 VG_REPORT_CSAM, "http://bad.example/x", "192.0.2.9"},
		{"{\"xarf_version\": \"4.0.0\", \"category\": \"content\", \"type\": "
		 "\"brand_infringement\", "
		 "\"source_identifier\": \"lookalike.example\", \"url\": "
		 "\"http://lookalike.example/\"}",
		 VG_REPORT_TRADEMARK, "http://lookalike.example/", ""},
		{"{\"xarf_version\": \"4.0.0\", \"category\": \"content\", \"type\": \"malware\", "
		 "\"url\": [\"http://dl.example/a.exe\"]}",
		 VG_REPORT_MALWARE, "http://dl.example/a.exe", ""},
		{"{\"xarf_version\": \"4.0.0\", \"category\": \"content\", \"type\": "
		 "\"exposed_data\", "
		 "\"url\": \"http://open.example/dump.sql\"}",
		 VG_REPORT_OTHER, "http://open.example/dump.sql", ""},
		/* No version, but version 4's keys. */
		{"{\"category\": \"content\", \"type\": \"fraud\", \"url\": "
		 "\"http://win.example/\"}",
		 VG_REPORT_PHISHING, "http://win.example/", ""},
		/* Version 3 as its samples write it: the page in Report.SourceUrl. */
		{"{\"Version\": \"3\", \"Report\": {\"ReportClass\": \"Content\", \"ReportType\": "
		 "\"Phishing\", "
		 "\"SourceIp\": \"192.0.2.55\", \"SourceUrl\": "
		 "\"http://phish.example/index.html\"}}",
		 VG_REPORT_PHISHING, "http://phish.example/index.html", "192.0.2.55"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(parse_xarf_json(cases[i].json), 0, "%zu: %s", i, err.msg);
		cr_assert_eq(m.report->category, cases[i].category, "%zu", i);
		cr_assert_eq(m.report->n_urls, 1, "%zu", i);
		cr_assert_str_eq(m.report->urls[0], cases[i].url, "%zu", i);
		cr_assert_str_eq(m.report->source_ip, cases[i].ip, "%zu", i);
	}
	/* Version 4 with neither category nor type is no report. */
	cr_assert_eq(
		parse_xarf_json("{\"xarf_version\": \"4.0.0\", \"url\": \"http://x.example/\"}"),
		VG_EMALFORMED);
}

Test(report_mail, xarf_flat_copyright_in_base64_text_part)
{
	cr_assert_eq(parse_fixture("xarf-flat.eml"), 0, "%s", err.msg);
	cr_assert_eq(m.report->category, VG_REPORT_COPYRIGHT);
	cr_assert_str_eq(m.feedback_type, "abuse/copyright");
	cr_assert_eq(m.report->n_urls, 1);
	cr_assert_str_eq(m.report->urls[0], "http://movies.example/film.mkv");
}

Test(report_mail, plain_message_urls_from_text_and_html_deduplicated)
{
	cr_assert_eq(parse_fixture("plain.eml"), 0, "%s", err.msg);
	const vg_report *r = m.report;
	cr_assert_eq(m.kind, VG_REPORT_SOURCE_MAIL);
	cr_assert_eq(r->category, VG_REPORT_OTHER);
	for (size_t i = 0; i < r->n_urls; i++)
		cr_log_info("url %s", r->urls[i]);
	cr_assert_eq(r->n_urls, 3, "%zu urls", r->n_urls);
	cr_assert(has_url(r, "https://fake-shop.example/cart?x=1&y=2"));
	cr_assert(has_url(r, "http://fake-shop.example/about"));
	cr_assert(has_url(r, "http://other.example/p"));
	cr_assert_str_eq(m.subject, "Betrug auf eurer Seite");
	cr_assert_str_eq(r->reporter_name, "J\xc3\xbcrgen");
	cr_assert_str_eq(r->reporter_email, "jurgen@people.example");
}

Test(report_mail, no_url_is_invalid_but_keeps_the_message_id)
{
	cr_assert_eq(parse_fixture("plain-no-url.eml"), VG_EINVAL);
	cr_assert_null(m.report);
	cr_assert_str_eq(m.message_id, "nourl-1@people.example");
}

Test(report_mail, message_id_with_an_encoded_crlf_esc_drops_the_controls)
{
	/* Found in review: GMime decodes an encoded word in Message-ID; its CR, LF and ESC
	 * went into the audit log and `vigil audit list` as forged lines and escapes. */
	static const char mail[] =
		"From: Rep <rep@example.org>\r\n"
		"Message-ID: <=?utf-8?Q?a=0D=0Aaction=3Dfake=1B[31m=C2=9B?=@x>\r\n"
		"Subject: x\r\n\r\nno urls here\r\n";
	cr_assert_eq(vg_report_mail_parse(mail, sizeof(mail) - 1, &m, &err), VG_EINVAL);
	cr_assert_not_null(m.message_id);
	cr_assert_str_eq(m.message_id, "aaction=fake[31m@x");
}

Test(report_mail, malformed_messages_say_why_and_keep_the_message_id)
{
	static const struct {
		const char *file, *id, *reason;
	} cases[] = {
		{"malformed-arf-no-feedback.eml", "broken-arf-1@isp.example", "feedback-report part"},
		{"malformed-arf-no-type.eml", "broken-arf-2@isp.example", "Feedback-Type"},
		{"malformed-xarf-bad-json.eml", "broken-xarf-1@reporter.example", "JSON report"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vg_report_mail_done(&m);
		cr_assert_eq(parse_fixture(cases[i].file), VG_EMALFORMED, "%s", cases[i].file);
		cr_assert_null(m.report);
		cr_assert_str_eq(m.message_id, cases[i].id);
		cr_assert_not_null(strstr(err.msg, cases[i].reason), "%s: %s", cases[i].file, err.msg);
	}
	vg_report_mail_done(&m);
	cr_assert_eq(parse_fixture("malformed-binary.bin"), VG_EMALFORMED, "%s", err.msg);
	cr_assert_null(m.message_id);
}

Test(report_mail, bounds)
{
	cr_assert_eq(vg_report_mail_parse("", 0, &m, &err), VG_EMALFORMED);
	size_t n = VG_REPORT_MAIL_MAX_BYTES + 1;
	char *big = calloc(1, n);
	cr_assert_eq(vg_report_mail_parse(big, n, &m, &err), VG_ETOOBIG);
	cr_assert_null(m.message_id);
	/* The header of a message over the bound still names it, for the audit entry. */
	const char *head = "Message-ID: <big@b.example>\r\nFrom: a@b.example\r\n\r\n";
	memcpy(big, head, strlen(head));
	memset(big + strlen(head), 'a', n - strlen(head));
	cr_assert_eq(vg_report_mail_parse(big, n, &m, &err), VG_ETOOBIG);
	cr_assert_str_eq(m.message_id, "big@b.example");
	cr_assert_null(m.report);
	free(big);
}

Test(report_mail, url_count_is_bounded)
{
	size_t cap = 64 * 1024;
	char *msg = malloc(cap);
	size_t k = (size_t)snprintf(msg, cap, "From: a@b.example\r\nMessage-ID: <many@b.example>\r\n\r\n");
	for (int i = 0; i < 400; i++)
		k += (size_t)snprintf(msg + k, cap - k, "http://h%d.example/ ", i);
	cr_assert_eq(vg_report_mail_parse(msg, k, &m, &err), 0, "%s", err.msg);
	cr_assert_eq(m.report->n_urls, VG_REPORT_URLS_MAX);
	free(msg);
}

Test(report_mail, not_spam_feedback_is_refused)
{
	const char *msg = "From: f@isp.example\r\nMessage-ID: <ns@isp.example>\r\nMIME-Version: 1.0\r\n"
			  "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n"
			  "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b\r\n"
			  "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: not-spam\r\n"
			  "Reported-URI: http://ok.example/\r\n--b--\r\n";
	cr_assert_eq(vg_report_mail_parse(msg, strlen(msg), &m, &err), VG_EINVAL);
	cr_assert_str_eq(m.message_id, "ns@isp.example");
}

/* Found in review: a URL the store cannot hold made the whole mail fail. Now a report
 * keeps URLs up to VG_URL_MAX, as /v1/scan does; a longer one is skipped, as any unusable
 * URL in a message, and the others still make the report. One far longer than the bound
 * is skipped whole, never cut into a shorter URL that nobody reported. */
Test(report_mail, urls_up_to_the_bound_are_kept_longer_ones_skipped_not_cut)
{
	size_t cap = 64 * 1024;
	char *msg = malloc(cap);
	size_t k = (size_t)snprintf(msg, cap, "From: a@b.example\r\nMessage-ID: <long@b.example>\r\n\r\n"
				    "See http://spam.example/spam, http://kept.example/t?");
	size_t pad = VG_URL_MAX - strlen("http://kept.example/t?");
	memset(msg + k, 'k', pad);
	k += pad;
	k += (size_t)snprintf(msg + k, cap - k, ". And http://other.example/track?");
	memset(msg + k, 'x', 20000);
	k += 20000;
	k += (size_t)snprintf(msg + k, cap - k, " and http://just.example/t?");
	pad = VG_URL_MAX + 1 - strlen("http://just.example/t?");
	memset(msg + k, 'j', pad);
	k += pad;
	k += (size_t)snprintf(msg + k, cap - k, " thanks\r\n");
	cr_assert_eq(vg_report_mail_parse(msg, k, &m, &err), 0, "%s", err.msg);
	cr_assert_eq(m.report->n_urls, 2);
	cr_assert_str_eq(m.report->urls[0], "http://spam.example/spam");
	cr_assert_eq(strlen(m.report->urls[1]), VG_URL_MAX);
	cr_assert(!strncmp(m.report->urls[1], "http://kept.example/t?kkk", 25));
	vg_report_mail_done(&m);
	vg_report_mail_init(&m);
	/* With no other URL, the message has none: invalid, as one without any. */
	k = (size_t)snprintf(msg, cap, "From: a@b.example\r\nMessage-ID: <long2@b.example>\r\n\r\n"
			     "http://other.example/track?");
	memset(msg + k, 'x', 20000);
	k += 20000;
	cr_assert_eq(vg_report_mail_parse(msg, k, &m, &err), VG_EINVAL);
	cr_assert_str_eq(m.message_id, "long2@b.example");
	free(msg);
}

/* A message of n nested multiparts (each boundary parameter written as decl, its name and
 * what comes before the value), then dashes lines of "--", then a URL in the innermost
 * text part. */
static char *nested(int n, const char *decl, size_t dashes, size_t *ret_len)
{
	size_t cap = 256 + (size_t)n * 96 + dashes * 3;
	char *msg = malloc(cap);
	size_t k = (size_t)snprintf(msg, cap,
				    "From: a@b.example\r\nMessage-ID: <deep@b.example>\r\n"
				    "MIME-Version: 1.0\r\n");
	for (int i = 0; i < n; i++) {
		k += (size_t)snprintf(msg + k, cap - k, "Content-Type: multipart/mixed; ");
		bool quoted = decl[strlen(decl) - 1] == '"';
		k += (size_t)snprintf(msg + k, cap - k, "%sb%d%s\r\n\r\n--b%d\r\n", decl, i,
				      quoted ? "\"" : "", i);
	}
	k += (size_t)snprintf(msg + k, cap - k, "Content-Type: text/plain\r\n\r\n");
	for (size_t i = 0; i < dashes; i++)
		k += (size_t)snprintf(msg + k, cap - k, "--\n");
	k += (size_t)snprintf(msg + k, cap - k, "http://deep.example/x\r\n");
	*ret_len = k;
	return msg;
}

/* Found in review: GMime's parser costs O(lines x open boundaries), so 2000 nested
 * multiparts and 3M lines of "--" took 24 s of CPU. More boundaries than the walk reads
 * parts, or more comparisons than MAX_BOUNDARY_CHECKS, are refused before GMime runs,
 * and the Message-ID is still read for the audit entry. */
Test(report_mail, boundaries_that_would_make_gmime_slow_are_refused)
{
	static const char *const decls[] = {"boundary=", "boundary=\"",
					    "BOUNDARY = ", "boundary*=", "boundary*0="};
	size_t len;
	for (size_t i = 0; i < sizeof(decls) / sizeof(decls[0]); i++) {
		vg_report_mail_done(&m);
		char *msg = nested(257, decls[i], 0, &len);
		cr_assert_eq(vg_report_mail_parse(msg, len, &m, &err), VG_EMALFORMED, "%s",
			     decls[i]);
		cr_assert_not_null(strstr(err.msg, "boundaries"), "%s", err.msg);
		cr_assert_str_eq(m.message_id, "deep@b.example");
		free(msg);
	}
	/* 200 boundaries: 160000 "--" lines may be compared with each, 170000 may not. */
	vg_report_mail_done(&m);
	char *msg = nested(200, decls[0], 160000, &len);
	int rc = vg_report_mail_parse(msg, len, &m, &err);
	cr_assert(rc == 0 || rc == VG_EINVAL, "%d %s", rc, err.msg); /* the URL is too deep */
	free(msg);
	vg_report_mail_done(&m);
	msg = nested(200, decls[0], 170000, &len);
	cr_assert_eq(vg_report_mail_parse(msg, len, &m, &err), VG_EMALFORMED);
	cr_assert_not_null(strstr(err.msg, "boundary lines"), "%s", err.msg);
	cr_assert_str_eq(m.message_id, "deep@b.example");
	free(msg);
	/* A few boundaries never meet the bound, however many "--" lines follow. */
	vg_report_mail_done(&m);
	msg = nested(3, decls[0], 1000000, &len);
	cr_assert_eq(vg_report_mail_parse(msg, len, &m, &err), 0, "%s", err.msg);
	cr_assert_str_eq(m.report->urls[0], "http://deep.example/x");
	free(msg);
}

/* A plain-text message with body (UTF-8) and no other part. */
static int parse_text(const char *content_type, const char *body)
{
	char msg[8192];
	int k = snprintf(
		msg, sizeof(msg),
		"From: a@b.example\r\nMessage-ID: <t@b.example>\r\nMIME-Version: 1.0\r\n"
		"Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n",
		content_type, body);
	cr_assert(k > 0 && (size_t)k < sizeof(msg));
	vg_report_mail_done(&m);
	return vg_report_mail_parse(msg, (size_t)k, &m, &err);
}

/* Found in review: a URL ran on through Unicode spaces and punctuation (a closing curly
 * quote, a no-break space, CJK brackets and full stop), which then went into the report
 * percent-encoded. They end a URL as their ASCII kin do; letters past ASCII stay. */
Test(report_mail, unicode_spaces_quotes_and_punctuation_end_a_url)
{
	cr_assert_eq(
		parse_text(
			"text/plain",
			"\xe2\x80\x9chttp://u.example/curly\xe2\x80\x9d, "          /* “...” */
			"http://u.example/nbsp\xc2\xa0next "                        /* NBSP */
			"\xe3\x80\x8chttp://u.example/cjk\xe3\x80\x8d\xe3\x80\x82 " /* 「...」。 */
			"http://u.example/ideo\xe3\x80\x82 "                        /* 。 */
			"http://u.example/wide\xe3\x80\x80x "                       /* U+3000 */
			"http://u.example/zw\xe2\x80\x8bx "                         /* U+200B */
			"\xc2\xabhttp://u.example/guill\xc2\xbb "                   /* «...» */
			"http://u.example/bang\xef\xbc\x81 "                        /* ！ */
			"http://u.example/dots\xe2\x80\xa6 "                        /* … */
			"http://u.example/caf\xc3\xa9/\xe8\xb7\xaf " /* letters stay */
			"http://u.example/dash\xe2\x80\x94"),        /* — */
		0, "%s", err.msg);
	static const char *const want[] = {
		"http://u.example/curly", "http://u.example/nbsp",
		"http://u.example/cjk",   "http://u.example/ideo",
		"http://u.example/wide",  "http://u.example/zw",
		"http://u.example/guill", "http://u.example/bang",
		"http://u.example/dots",  "http://u.example/caf%C3%A9/%E8%B7%AF",
		"http://u.example/dash",
	};
	for (size_t i = 0; i < m.report->n_urls; i++)
		cr_log_info("url %s", m.report->urls[i]);
	cr_assert_eq(m.report->n_urls, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(has_url(m.report, want[i]), "%s", want[i]);
}

/* Found in review of the merge: a URL over the bound was skipped only up to an ASCII
 * end, so the next URL after a no-break space was lost; sentence punctuation after a
 * URL at the bound counted against it; and the soft hyphen and zero-width non-joiner,
 * which a domain name may hold, cut a host short. */
Test(report_mail, urls_in_prose_end_where_a_reader_sees_them_end)
{
	size_t cap = 32 * 1024;
	char *body = malloc(cap);
	size_t k = (size_t)snprintf(body, cap, "see http://a.example/");
	memset(body + k, 'a', 9000);
	k += 9000;
	k += (size_t)snprintf(body + k, cap - k, "\xc2\xa0http://b.example/x and http://c.example/");
	size_t pad = VG_URL_MAX - strlen("http://c.example/");
	memset(body + k, 'c', pad);
	k += pad;
	memset(body + k, '.', 100);
	k += 100;
	k += (size_t)snprintf(body + k, cap - k, " http://exa\xc2\xadmple.com/x "
				   "http://\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85.ir/x");
	char *msg = malloc(cap + 512);
	int n = snprintf(msg, cap + 512,
			 "From: a@b.example\r\nMessage-ID: <p@b.example>\r\nMIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", body);
	vg_report_mail_done(&m);
	cr_assert_eq(vg_report_mail_parse(msg, (size_t)n, &m, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < m.report->n_urls; i++)
		cr_log_info("url %.80s", m.report->urls[i]);
	cr_assert_eq(m.report->n_urls, 4);
	cr_assert(has_url(m.report, "http://b.example/x"));
	cr_assert(has_url(m.report, "http://example.com/x"), "the soft hyphen is IDNA's to drop");
	cr_assert(has_url(m.report, "http://xn--mgbn2ecje63gr19l.ir/x"), "ZWNJ is part of the name");
	bool at_bound = false;
	for (size_t i = 0; i < m.report->n_urls; i++)
		at_bound |= strlen(m.report->urls[i]) == VG_URL_MAX;
	cr_assert(at_bound, "a URL at the bound, then 100 dots, is kept");
	free(body);
	free(msg);
	/* In HTML link text, &shy; is nothing: the URL is the one the link shows. */
	cr_assert_eq(parse_text("text/html", "<a href=\"http://s.example/verylongpath\">"
					     "http://s.example/very&shy;longpath</a>"),
		     0, "%s", err.msg);
	cr_assert_eq(m.report->n_urls, 1);
	cr_assert_str_eq(m.report->urls[0], "http://s.example/verylongpath");
}

/* Found in review: only "&amp;" was decoded in HTML, so "&gt;", "&quot;", "&nbsp;" and
 * numeric references ended up inside URLs. References are decoded before the scan. */
Test(report_mail, html_character_references_are_decoded_before_urls_are_taken)
{
	cr_assert_eq(
		parse_text(
			"text/html",
			"<p>&lt;http://h.example/login&gt; &quot;http://h.example/q&quot; "
			"http://h.example/nb&nbsp;here <a href=\"http://h.example/a?x=1&amp;y=2\">"
			"http:&#x2F;&#47;h.example/num&#39;s</a> &ldquo;http://h.example/ld&rdquo; "
			"http://h.example/keep&copy;x http://h.example/bad&#0;x "
			"http://h.example/big&#x110000;x "
			"&amp;lt;http://h.example/twice&amp;gt;</p>"),
		0, "%s", err.msg);
	static const char *const want[] = {
		"http://h.example/login",
		"http://h.example/q",
		"http://h.example/nb",
		"http://h.example/a?x=1&y=2",
		"http://h.example/num",
		"http://h.example/ld",
		"http://h.example/keep&copy;x",
		"http://h.example/bad%EF%BF%BDx",
		"http://h.example/big%EF%BF%BDx",
		"http://h.example/twice&gt",
	};
	for (size_t i = 0; i < m.report->n_urls; i++)
		cr_log_info("url %s", m.report->urls[i]);
	cr_assert_eq(m.report->n_urls, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(has_url(m.report, want[i]), "%s", want[i]);
	/* In plain text a reference is just text. */
	cr_assert_eq(parse_text("text/plain", "http://h.example/p&gt;x"), 0, "%s", err.msg);
	cr_assert_str_eq(m.report->urls[0], "http://h.example/p&gt;x");
}

/* Found in review: a message/rfc822 part sent base64 or quoted-printable is a leaf to
 * GMime, so the URLs of a forwarded or ARF-enclosed message in one were lost. */
Test(report_mail, an_encoded_enclosed_message_is_read)
{
	cr_assert_eq(parse_fixture("fwd-b64-enclosed.eml"), 0, "%s", err.msg);
	cr_assert_eq(m.report->n_urls, 2);
	cr_assert(has_url(m.report, "https://pills.example/order?id=9&r=1"));
	cr_assert(has_url(m.report, "http://pills.example/today"));
	cr_assert_str_eq(m.report->reporter_email, "helga@people.example");
	vg_report_mail_done(&m);
	cr_assert_eq(parse_fixture("arf-qp-enclosed.eml"), 0, "%s", err.msg);
	cr_assert_eq(m.report->category, VG_REPORT_SPAM);
	cr_assert_str_eq(m.report->source_ip, "192.0.2.44");
	cr_assert_eq(m.report->n_urls, 1);
	cr_assert_str_eq(m.report->urls[0], "http://prize.example/claim?user=42&token="
					    "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnop");
}

/* A message enclosed base64 in one enclosed base64 in ... levels deep. */
static char *enclosed(int levels)
{
	char *msg = g_strdup("Content-Type: text/plain\r\n\r\nhttp://deep.example/\r\n");
	for (int i = 0; i < levels; i++) {
		char *b64 = g_base64_encode((const guchar *)msg, strlen(msg));
		char *next = g_strdup_printf("From: a@b.example\r\nMessage-ID: <enc@b.example>\r\n"
					     "Content-Type: message/rfc822\r\n"
					     "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n",
					     b64);
		g_free(b64);
		g_free(msg);
		msg = next;
	}
	return msg;
}

Test(report_mail, encoded_enclosed_messages_keep_to_the_depth_limit)
{
	char *msg = enclosed(3);
	cr_assert_eq(vg_report_mail_parse(msg, strlen(msg), &m, &err), 0, "%s", err.msg);
	cr_assert_str_eq(m.report->urls[0], "http://deep.example/");
	g_free(msg);
	vg_report_mail_done(&m);
	msg = enclosed(12); /* past MAX_DEPTH: never read, however it is encoded */
	cr_assert_eq(vg_report_mail_parse(msg, strlen(msg), &m, &err), VG_EINVAL);
	cr_assert_str_eq(m.message_id, "enc@b.example");
	g_free(msg);
}

/* A message From "Long" <60 r's @ subs times "sub." evil.example>: 73 + 4 * subs bytes. */
static int parse_from(int subs)
{
	char msg[1024], addr[512];
	size_t k = 0;
	for (int i = 0; i < 60; i++)
		addr[k++] = 'r';
	addr[k++] = '@';
	for (int i = 0; i < subs; i++)
		k += (size_t)snprintf(addr + k, sizeof(addr) - k, "sub.");
	snprintf(addr + k, sizeof(addr) - k, "evil.example");
	int n = snprintf(msg, sizeof(msg),
			 "From: Long <%s>\r\nMessage-ID: <lf@x>\r\n\r\nhttp://evil.example/lf\r\n",
			 addr);
	vg_report_mail_done(&m);
	return vg_report_mail_parse(msg, (size_t)n, &m, &err);
}

/* Found in review: a From address over 254 bytes was cut to 254 and then checked, so the
 * report named a different address. It is no reporter address at all, as in POST
 * /v1/reports; the report itself still stands. */
Test(report_mail, a_from_address_over_the_bound_is_no_reporter)
{
	cr_assert_eq(parse_from(46), 0, "%s", err.msg); /* 257 bytes */
	cr_assert_null(m.report->reporter_email, "%s", m.report->reporter_email);
	cr_assert_null(m.from);
	cr_assert_str_eq(m.report->reporter_name, "Long");
	cr_assert_eq(parse_from(45), 0, "%s", err.msg); /* 253 bytes: kept whole */
	cr_assert_not_null(m.report->reporter_email);
	cr_assert_eq(strlen(m.report->reporter_email), 253);
}

/* Encoded enclosed messages are parsed again from their decoded bytes: at most one more
 * message's worth in all, so nesting them cannot multiply the work. Four levels of 2.4
 * MiB each: the second level parses 7.2 MiB again, the third would pass the bound. */
Test(report_mail, encoded_enclosed_messages_share_one_bound)
{
	size_t pad = 2400 * 1024;
	char *msg = g_strdup("");
	for (int level = 4; level >= 1; level--) {
		/* Quoted-printable of short lines: only '=' needs encoding. */
		char **parts = g_strsplit(msg, "=", -1);
		char *qp = g_strjoinv("=3D", parts);
		g_strfreev(parts);
		char *padding = g_malloc(pad + 1);
		for (size_t i = 0; i < pad; i += 3)
			memcpy(padding + i, "x\r\n", pad - i < 3 ? pad - i : 3);
		padding[pad] = '\0';
		char *next = g_strdup_printf(
			"From: a@b.example\r\nMessage-ID: <l%d@b.example>\r\n"
			"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
			"Content-Type: text/plain\r\n\r\nhttp://level%d.example/\r\n%s--b%d\r\n"
			"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
			"quoted-printable"
			"\r\n\r\n%s\r\n--b%d--\r\n",
			level, level, level, level, padding, level, qp, level);
		g_free(padding);
		g_free(qp);
		g_free(msg);
		msg = next;
	}
	cr_assert_lt(strlen(msg), VG_REPORT_MAIL_MAX_BYTES);
	cr_assert_eq(vg_report_mail_parse(msg, strlen(msg), &m, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < m.report->n_urls; i++)
		cr_log_info("url %s", m.report->urls[i]);
	cr_assert(has_url(m.report, "http://level1.example/"));
	cr_assert(has_url(m.report, "http://level2.example/"));
	cr_assert_eq(m.report->n_urls, 2);
	g_free(msg);
}
