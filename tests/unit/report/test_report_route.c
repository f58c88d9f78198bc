/* SPDX-License-Identifier: Apache-2.0
 *
 * Routing of abuse reports: every category under the default policy with every share
 * setting, the restricted categories' invariants (no owner before review, no reporter
 * details) under any config, the policy text, dedup keys, and the authority XML
 * (well-formed by libxml2 when the build found it, and by structure always).
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#ifdef VG_HAVE_LIBXML2
#include <libxml/parser.h>
#endif

#include "report/report.h"

static const vg_report_zone zone = {
	.name = "example.com",
	.owner = {.email = "owner@example.com", .webhook_url = NULL},
	.host = {.email = "abuse@host.example", .webhook_url = "https://host.example/hook"},
};

static vg_report make(vg_report_category c, vg_report_share owner, vg_report_share host)
{
	vg_report r = {.category = c, .share_owner = owner, .share_host = host};
	return r;
}

static const vg_report_intent *find(const vg_report_route *rt, vg_report_party p)
{
	for (size_t i = 0; i < rt->n_intents; i++)
		if (rt->intents[i].party == p)
			return &rt->intents[i];
	return NULL;
}

Test(report_route, every_category_and_share_under_the_defaults)
{
	vg_report_policy pol;
	vg_report_policy_default(&pol);
	const vg_report_share shares[] = {VG_REPORT_SHARE_FULL, VG_REPORT_SHARE_ANONYMOUS,
					  VG_REPORT_SHARE_NONE};
	for (int c = 0; c < VG_REPORT_NCATEGORIES; c++) {
		for (int so = 0; so < 3; so++) {
			for (int sh = 0; sh < 3; sh++) {
				vg_report r = make((vg_report_category)c, shares[so], shares[sh]);
				vg_report_route rt;
				vg_report_route_compute(&pol, &r, &zone, &rt);
				const vg_report_intent *o = find(&rt, VG_REPORT_PARTY_OWNER);
				const vg_report_intent *h = find(&rt, VG_REPORT_PARTY_HOST);
				const char *name = vg_report_category_name((vg_report_category)c);
				cr_assert(!rt.not_ours);
				if (c == VG_REPORT_CSAM || c == VG_REPORT_NCII || c == VG_REPORT_TERRORISM) {
					cr_assert_eq(rt.n_intents, 0, "%s: nobody before review", name);
					cr_assert_eq(rt.priority, VG_REPORT_PRIORITY_HIGH);
					cr_assert(rt.hold_for_review && rt.match_evidence);
					continue;
				}
				cr_assert(!rt.hold_for_review);
				bool fwd = c >= VG_REPORT_COPYRIGHT;
				if (shares[so] == VG_REPORT_SHARE_NONE) {
					cr_assert_null(o, "%s: share none skips the owner", name);
				} else {
					cr_assert_not_null(o, "%s", name);
					cr_assert_eq(o->forward, fwd, "%s", name);
					cr_assert_eq(o->channel, VG_REPORT_CHANNEL_EMAIL);
					cr_assert_str_eq(o->target, "owner@example.com");
					cr_assert_eq(o->include_reporter, shares[so] == VG_REPORT_SHARE_FULL);
				}
				if (shares[sh] == VG_REPORT_SHARE_NONE) {
					cr_assert_null(h, "%s", name);
				} else {
					cr_assert_not_null(h, "%s", name);
					cr_assert_eq(h->channel, VG_REPORT_CHANNEL_WEBHOOK,
						     "a webhook wins over email");
					cr_assert_str_eq(h->target, "https://host.example/hook");
					cr_assert_eq(h->include_reporter, shares[sh] == VG_REPORT_SHARE_FULL);
				}
			}
		}
	}
}

Test(report_route, no_zone_is_not_ours_and_no_contact_no_intent)
{
	vg_report_policy pol;
	vg_report_policy_default(&pol);
	vg_report r = make(VG_REPORT_PHISHING, VG_REPORT_SHARE_FULL, VG_REPORT_SHARE_FULL);
	vg_report_route rt;
	vg_report_route_compute(&pol, &r, NULL, &rt);
	cr_assert(rt.not_ours);
	cr_assert_eq(rt.n_intents, 0);
	vg_report_zone bare = {.name = "x.example", .owner = {.email = ""}};
	vg_report_route_compute(&pol, &r, &bare, &rt);
	cr_assert(!rt.not_ours);
	cr_assert_eq(rt.n_intents, 0);
}

Test(report_route, policy_text_overrides_lines)
{
	vg_report_policy pol;
	vg_report_policy_default(&pol);
	const char *text = "# ours\n\nspam = notify_host, priority_normal\n"
			   "csam = notify_host, match_evidence  # host may hear\n"
			   "other=none\n";
	vg_error e;
	cr_assert_eq(vg_report_policy_parse(&pol, text, strlen(text), "routing.conf", &e), 0, "%s", e.msg);
	cr_assert_eq(pol.rules[VG_REPORT_SPAM].actions, VG_REPORT_ACT_NOTIFY_HOST);
	cr_assert_eq(pol.rules[VG_REPORT_SPAM].priority, VG_REPORT_PRIORITY_NORMAL);
	cr_assert_eq(pol.rules[VG_REPORT_OTHER].actions, 0);
	cr_assert_eq(pol.rules[VG_REPORT_OTHER].priority, VG_REPORT_PRIORITY_LOW, "priority kept");

	vg_report r = make(VG_REPORT_CSAM, VG_REPORT_SHARE_FULL, VG_REPORT_SHARE_FULL);
	vg_report_route rt;
	vg_report_route_compute(&pol, &r, &zone, &rt);
	cr_assert_eq(rt.n_intents, 1);
	cr_assert_eq(rt.intents[0].party, VG_REPORT_PARTY_HOST);
	cr_assert(!rt.intents[0].include_reporter, "never reporter details for csam");

	/* Even a hand-built policy cannot reach the owner for a restricted category. */
	pol.rules[VG_REPORT_NCII].actions = VG_REPORT_ACT_FORWARD_OWNER | VG_REPORT_ACT_FORWARD_HOST;
	r.category = VG_REPORT_NCII;
	vg_report_route_compute(&pol, &r, &zone, &rt);
	cr_assert_eq(rt.n_intents, 1);
	cr_assert_eq(rt.intents[0].party, VG_REPORT_PARTY_HOST);
	cr_assert(!rt.intents[0].include_reporter);
	cr_assert(rt.match_evidence);
}

Test(report_route, bad_policy_text_is_refused_and_changes_nothing)
{
	static const char *const bad[] = {"spam = shout\n", "scam = notify_host\n", "spam notify_host\n",
					  "csam = notify_owner\n", "terrorism = forward_owner\n",
					  "spam =\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vg_report_policy pol, before;
		vg_report_policy_default(&pol);
		before = pol;
		char text[128];
		snprintf(text, sizeof(text), "phishing = none\n%s", bad[i]);
		vg_error e;
		cr_assert_eq(vg_report_policy_parse(&pol, text, strlen(text), "r.conf", &e), VG_EINVAL,
			     "%s", bad[i]);
		cr_assert_not_null(strstr(e.msg, "r.conf:2:"), "%s", e.msg);
		cr_assert(!memcmp(&pol, &before, sizeof(pol)));
	}
}

Test(report_route, dedup_key_is_category_and_canonical_url)
{
	char a[VG_URL_MAX + 32], b[VG_URL_MAX + 32];
	vg_error e;
	cr_assert_eq(vg_report_dedup_key(VG_REPORT_PHISHING, "HTTPS://Example.com:443/a/../x#f", a,
					 sizeof(a), &e), 0);
	cr_assert_str_eq(a, "phishing https://example.com/x");
	cr_assert_eq(vg_report_dedup_key(VG_REPORT_PHISHING, "https://example.com/x", b, sizeof(b), &e), 0);
	cr_assert_str_eq(a, b);
	cr_assert_eq(vg_report_dedup_key(VG_REPORT_MALWARE, "https://example.com/x", b, sizeof(b), &e), 0);
	cr_assert_str_neq(a, b, "another category is another case");
	cr_assert_eq(vg_report_dedup_key(VG_REPORT_SPAM, "ftp://x", b, sizeof(b), &e), VG_EINVAL);
	cr_assert_eq(vg_report_dedup_key(VG_REPORT_SPAM, "http://x.example/", b, 8, &e), VG_EINVAL);
}

static size_t count(const char *s, const char *sub)
{
	size_t n = 0;
	for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
		n++;
	return n;
}

Test(report_route, authority_xml_is_well_formed_and_escaped)
{
	const char *urls[] = {"https://bad.example/a?x=1&y=<2>", "http://bad.example/\"q'"};
	vg_report_evidence ev[2] = {{VG_REPORT_HASH_MD5, "d41d8cd98f00b204e9800998ecf8427e"},
				    {VG_REPORT_HASH_PDQ, "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"}};
	vg_report_authority in = {
		.org_name = "Host & Co <Abuse>",
		.org_email = "abuse@host.example",
		.case_id = "c-42",
		.incident_time = (vg_usec)1709629200 * 1000000,
		.urls = urls,
		.n_urls = 2,
		.ip = "192.0.2.10",
		.hashes = ev,
		.n_hashes = 2,
		.reviewer_note = "confirmed \x01 by reviewer; bad byte \xff; </report>",
	};
	char *xml;
	vg_error e;
	cr_assert_eq(vg_report_authority_xml(&in, &xml, &e), 0, "%s", e.msg);
	cr_assert_eq(count(xml, "<report>"), 1);
	cr_assert_eq(count(xml, "</report>"), 1, "the note cannot close the document");
	cr_assert_eq(count(xml, "<url>"), 2);
	cr_assert_not_null(strstr(xml, "<url>https://bad.example/a?x=1&amp;y=&lt;2&gt;</url>"));
	cr_assert_not_null(strstr(xml, "<incidentDateTime>2024-03-05T09:00:00Z</incidentDateTime>"));
	cr_assert_not_null(strstr(xml, "<ipAddress>192.0.2.10</ipAddress>"));
	cr_assert_not_null(strstr(xml, "<fileHash type=\"md5\">d41d8cd98f00b204e9800998ecf8427e</fileHash>"));
	cr_assert_not_null(strstr(xml, "Host &amp; Co &lt;Abuse&gt;"));
	cr_assert_null(strchr(xml, '\x01'));
	cr_assert_null(strchr(xml, '\xff'));
#ifdef VG_HAVE_LIBXML2
	xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "authority.xml", NULL, XML_PARSE_NONET);
	cr_assert_not_null(doc, "libxml2 reads the document");
	xmlFreeDoc(doc);
#endif
	free(xml);

	vg_report_authority empty = {.org_name = "x", .case_id = "c", .incident_time = 1};
	cr_assert_eq(vg_report_authority_xml(&empty, &xml, &e), VG_EINVAL);
	vg_report_authority noorg = in;
	noorg.org_name = NULL;
	cr_assert_eq(vg_report_authority_xml(&noorg, &xml, &e), VG_EINVAL);
}
