/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the abuse-report store calls (store.h's reports section) on SQLite: zones
 * (unique names, patch keeps / clears contacts, delete keeps the report's zone name),
 * reports with URLs and evidence, dedup within the window and not after it, the case
 * stages with their coarse status (scan cases untouched), filters, and the erasure of
 * reporter personal data.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#include "../common/tmpdb.h"

TestSuite(reports, .init = tmpdb_setup, .fini = tmpdb_teardown);

static vg_store *open_ok(void)
{
	return tmpdb_open();
}

static int64_t report_ok(vg_store *s, const char *name)
{
	vg_store_report r = {.reporter_name = (char *)name, .reporter_email = "a@example.org",
			     .client_addr = "192.0.2.1", .description = "phish"};
	strcpy(r.category, "phishing");
	strcpy(r.source, "rest");
	strcpy(r.share_owner, "full");
	strcpy(r.share_host, "anonymous");
	strcpy(r.status, "received");
	memset(r.status_token_hash, 'a', 64);
	int64_t id;
	vg_error err;
	cr_assert_eq(vg_store_report_create(s, &r, &id, &err), 0, "%s", err.msg);
	return id;
}

Test(reports, zones_are_unique_and_patchable)
{
	vg_store *s = open_ok();
	vg_error err;
	vg_store_zone z = {.name = "example.com", .owner_email = "o@example.com",
			   .host_webhook_url = "http://127.0.0.1/h"};
	int64_t id;
	cr_assert_eq(vg_store_zone_create(s, &z, &id, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_zone_create(s, &z, &id, &err), VG_EEXIST);
	vg_store_zone patch = {.id = id, .owner_email = "", .host_email = "h@example.net"};
	cr_assert_eq(vg_store_zone_update(s, &patch, &err), 0, "%s", err.msg);
	vg_store_zone got;
	cr_assert_eq(vg_store_zone_find(s, "example.com", &got, &err), 0);
	cr_assert_null(got.owner_email, "\"\" clears");
	cr_assert_str_eq(got.host_email, "h@example.net");
	cr_assert_str_eq(got.host_webhook_url, "http://127.0.0.1/h", "NULL keeps");
	vg_store_zone_done(&got);

	int64_t rid = report_ok(s, "Ann");
	cr_assert_eq(vg_store_report_add_url(s, rid, "https://example.com/", id, "example.com", 0,
					     &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_zone_delete(s, id, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_zone_get(s, id, &got, &err), VG_ENOENT);
	cr_assert_eq(vg_store_zone_delete(s, id, &err), VG_ENOENT);
	vg_store_close(s);
}

static int first_zone(const vg_store_report_url *u, void *ctx)
{
	snprintf(ctx, 64, "%s|%lld", u->zone, (long long)u->zone_id);
	return 0;
}

Test(reports, deleted_zone_keeps_its_name_on_reports)
{
	vg_store *s = open_ok();
	vg_error err;
	vg_store_zone z = {.name = "shop.example"};
	int64_t zid, rid = report_ok(s, NULL);
	cr_assert_eq(vg_store_zone_create(s, &z, &zid, &err), 0);
	cr_assert_eq(vg_store_report_add_url(s, rid, "https://shop.example/", zid, z.name, 0, &err),
		     0);
	cr_assert_eq(vg_store_zone_delete(s, zid, &err), 0);
	char got[64] = "";
	cr_assert_eq(vg_store_report_urls(s, rid, first_zone, got, &err), 0);
	cr_assert_str_eq(got, "shop.example|0");
	vg_store_close(s);
}

/* A contact's webhook secret (migration 12) is kept, kept by a patch that does not name
 * it, and cleared by "". */
Test(reports, zone_webhook_secrets_round_trip)
{
	vg_store *s = open_ok();
	vg_error err;
	vg_store_zone z = {.name = "signed.example", .owner_webhook_url = "http://127.0.0.1/o",
			   .owner_webhook_secret = "k1"};
	int64_t id;
	cr_assert_eq(vg_store_zone_create(s, &z, &id, &err), 0, "%s", err.msg);
	vg_store_zone got;
	cr_assert_eq(vg_store_zone_get(s, id, &got, &err), 0);
	cr_assert_str_eq(got.owner_webhook_secret, "k1");
	cr_assert_null(got.host_webhook_secret);
	vg_store_zone_done(&got);
	vg_store_zone patch = {.id = id, .host_webhook_secret = "k2"};
	cr_assert_eq(vg_store_zone_update(s, &patch, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_zone_get(s, id, &got, &err), 0);
	cr_assert_str_eq(got.owner_webhook_secret, "k1", "NULL keeps");
	cr_assert_str_eq(got.host_webhook_secret, "k2");
	vg_store_zone_done(&got);
	patch = (vg_store_zone){.id = id, .owner_webhook_secret = ""};
	cr_assert_eq(vg_store_zone_update(s, &patch, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_zone_get(s, id, &got, &err), 0);
	cr_assert_null(got.owner_webhook_secret, "\"\" clears");
	vg_store_zone_done(&got);
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	patch = (vg_store_zone){.id = id, .owner_webhook_secret = big};
	cr_assert_eq(vg_store_zone_update(s, &patch, &err), VG_EINVAL);
	vg_store_close(s);
}

/* An audit entry or a receiver's record naming "zone N" must name one zone: the newest
 * zone's id is not handed out again after it is deleted, nor after a reopen. */
Test(reports, deleted_zone_ids_are_not_reused)
{
	vg_store *s = open_ok();
	vg_error err;
	vg_store_zone a = {.name = "a.example"}, b = {.name = "b.example"};
	int64_t ida, idb, idc;
	cr_assert_eq(vg_store_zone_create(s, &a, &ida, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_zone_delete(s, ida, &err), 0);
	cr_assert_eq(vg_store_zone_create(s, &b, &idb, &err), 0, "%s", err.msg);
	cr_assert_gt(idb, ida);
	cr_assert_eq(vg_store_zone_delete(s, idb, &err), 0);
	vg_store_close(s);
	s = open_ok();
	cr_assert_eq(vg_store_zone_create(s, &a, &idc, &err), 0, "%s", err.msg);
	cr_assert_gt(idc, idb);
	vg_store_close(s);
}

Test(reports, dedup_attaches_within_the_window_only)
{
	vg_store *s = open_ok();
	vg_error err;
	int64_t r1 = report_ok(s, NULL), r2 = report_ok(s, NULL), c1, c2, c3;
	bool created;
	const char *key = "phishing https://example.com/";
	cr_assert_eq(vg_store_report_case_open_or_attach(s, key, "https://example.com/", "phishing",
							 "normal", 0, r1, "public", &c1, &created,
							 &err), 0, "%s", err.msg);
	cr_assert(created);
	cr_assert_eq(vg_store_report_case_open_or_attach(s, key, "https://example.com/", "phishing",
							 "normal", 0, r2, "public", &c2, &created,
							 &err), 0);
	cr_assert_not(created);
	cr_assert_eq(c1, c2);
	/* A window that starts after the case opened: a new case. */
	cr_assert_eq(vg_store_report_case_open_or_attach(s, key, "https://example.com/", "phishing",
							 "normal", vg_time_now() + 1000000, r2,
							 "public", &c3, &created, &err), 0);
	cr_assert(created);
	cr_assert_neq(c3, c1);
	/* A rejected case is not joined, even within the window (found in review). */
	const char *spam = "spam https://example.com/";
	int64_t c4, c5;
	cr_assert_eq(vg_store_report_case_open_or_attach(s, spam, "https://example.com/", "spam",
							 "low", 0, r1, "public", &c4, &created,
							 &err), 0);
	cr_assert_eq(vg_store_case_transition(s, c4, "rejected", "reject", NULL, NULL, "a", &err),
		     0, "%s", err.msg);
	cr_assert_eq(vg_store_report_case_open_or_attach(s, spam, "https://example.com/", "spam",
							 "low", 0, r2, "public", &c5, &created,
							 &err), 0);
	cr_assert(created);
	cr_assert_neq(c5, c4);
	vg_store_case c;
	cr_assert_eq(vg_store_case_get(s, c1, &c, &err), 0);
	cr_assert_str_eq(c.kind, "report");
	cr_assert_str_eq(c.stage, "new");
	cr_assert_str_eq(c.status, "open");
	cr_assert_str_eq(c.category, "phishing");
	vg_store_case_done(&c);
	vg_store_close(s);
}

Test(reports, stages_follow_the_lifecycle)
{
	vg_store *s = open_ok();
	vg_error err;
	int64_t rid = report_ok(s, NULL), cid;
	bool created;
	cr_assert_eq(vg_store_report_case_open_or_attach(s, "csam https://a.example/", "https://a.example/",
							 "csam", "high", 0, rid, "public", &cid,
							 &created, &err), 0);
	cr_assert_eq(vg_store_report_add_url(s, rid, "https://a.example/", 0, "", cid, &err), 0);
	cr_assert_eq(vg_store_case_assign(s, cid, "alice", "token:admin", &err), 0, "%s", err.msg);
	vg_store_case_filter f = {.status = "triaged", .assignee = "alice"};
	vg_store_case *v;
	size_t n;
	cr_assert_eq(vg_store_case_query(s, &f, 0, 0, &v, &n, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].assignee, "alice");
	vg_store_case_list_free(v, n);

	cr_assert_eq(vg_store_case_transition(s, cid, "actioned", "block_url", NULL, "seen",
					      "token:admin", &err), 0, "%s", err.msg);
	vg_store_case c;
	cr_assert_eq(vg_store_case_get(s, cid, &c, &err), 0);
	cr_assert_str_eq(c.stage, "actioned");
	cr_assert_str_eq(c.status, "open", "actioned stays open");
	cr_assert_gt(c.first_action_at, 0);
	vg_store_case_done(&c);
	vg_store_report r;
	cr_assert_eq(vg_store_report_get(s, rid, &r, &err), 0);
	cr_assert_gt(r.first_action_at, 0);
	cr_assert_eq(r.closed_at, 0);
	vg_store_report_done(&r);

	cr_assert_eq(vg_store_case_transition(s, cid, "closed", "close", NULL, NULL, "token:admin",
					      &err), 0);
	cr_assert_eq(vg_store_case_transition(s, cid, "rejected", "reject", NULL, NULL,
					      "token:admin", &err), VG_EEXIST);
	cr_assert_eq(vg_store_case_transition(s, 999, "rejected", "reject", NULL, NULL,
					      "token:admin", &err), VG_ENOENT);
	cr_assert_eq(vg_store_case_transition(s, cid, "new", "x", NULL, NULL, "a", &err), VG_EINVAL);
	f = (vg_store_case_filter){.status = "closed", .category = "csam"};
	cr_assert_eq(vg_store_case_query(s, &f, 0, 0, &v, &n, &err), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(v[0].status, "closed");
	cr_assert_gt(v[0].closed_at, 0);
	vg_store_case_list_free(v, n);
	f = (vg_store_case_filter){.status = "bogus"};
	cr_assert_eq(vg_store_case_query(s, &f, 0, 0, &v, &n, &err), VG_EINVAL);
	vg_store_close(s);
}

/* Found in review: the lifecycle was checked only by the API on a copy read before its
 * transaction, so a reject racing a block_url could reject an actioned case. The store
 * now refuses the move itself, in the UPDATE. */
Test(reports, transition_checks_the_lifecycle_atomically)
{
	vg_store *s = open_ok();
	vg_error err;
	int64_t rid = report_ok(s, NULL), cid;
	bool created;
	cr_assert_eq(vg_store_report_case_open_or_attach(s, "spam https://c.example/", "https://c.example/",
							 "spam", "low", 0, rid, "public", &cid,
							 &created, &err), 0);
	cr_assert_eq(vg_store_case_transition(s, cid, "closed", "close", NULL, NULL, "a", &err),
		     VG_EEXIST, "not actioned: rejected, never closed");
	cr_assert_str_eq(err.msg, "only an actioned case can be closed; reject it");
	cr_assert_eq(vg_store_case_transition(s, cid, "actioned", "block_url", NULL, NULL, "a",
					      &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_case_transition(s, cid, "rejected", "reject", NULL, NULL, "a", &err),
		     VG_EEXIST, "actioned: closed, never rejected");
	cr_assert_str_eq(err.msg, "an actioned case is closed, not rejected");
	vg_store_case c;
	cr_assert_eq(vg_store_case_get(s, cid, &c, &err), 0);
	cr_assert_str_eq(c.stage, "actioned");
	cr_assert_str_eq(c.status, "open");
	cr_assert_eq(c.closed_at, 0);
	vg_store_case_done(&c);
	cr_assert_eq(vg_store_case_transition(s, cid, "closed", "close", NULL, NULL, "a", &err), 0);
	cr_assert_eq(vg_store_case_transition(s, cid, "closed", "close", NULL, NULL, "a", &err),
		     VG_EEXIST);
	char want[64];
	snprintf(want, sizeof(want), "case %lld is closed", (long long)cid);
	cr_assert_str_eq(err.msg, want);
	vg_store_close(s);
}

static int count_hash(const char *type, const char *hex, void *ctx)
{
	(void)type;
	(void)hex;
	(*(int *)ctx)++;
	return 0;
}

Test(reports, evidence_and_erasure)
{
	vg_store *s = open_ok();
	vg_error err;
	int64_t rid = report_ok(s, "Ann"), cid;
	bool created;
	cr_assert_eq(vg_store_report_case_open_or_attach(s, "csam https://b.example/", "https://b.example/",
							 "csam", "high", 0, rid, "public", &cid,
							 &created, &err), 0);
	cr_assert_eq(vg_store_report_add_url(s, rid, "https://b.example/", 0, "", cid, &err), 0);
	char md5[33];
	memset(md5, 'b', 32);
	md5[32] = 0;
	cr_assert_eq(vg_store_report_add_evidence(s, rid, "md5", md5, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_report_add_evidence(s, rid, "md5", md5, &err), 0, "a repeat is fine");
	cr_assert_eq(vg_store_report_add_evidence(s, rid, "sha256", md5, &err), VG_EINVAL);
	/* Only evidence a reviewer saw: none before an action, this report's after one. */
	int nh = 0;
	cr_assert_eq(vg_store_case_evidence(s, cid, count_hash, &nh, &err), 0);
	cr_assert_eq(nh, 0);
	cr_assert_eq(vg_store_case_transition(s, cid, "actioned", "block_url", NULL, NULL, "ann",
					      &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_case_evidence(s, cid, count_hash, &nh, &err), 0);
	cr_assert_eq(nh, 1);

	int64_t *ids;
	size_t n;
	cr_assert_eq(vg_store_report_erase(s, 1, vg_time_now(), &ids, &n, &err), 0);
	cr_assert_eq(n, 0, "nothing that old");
	cr_assert_eq(vg_store_report_erase(s, vg_time_now() + 1, vg_time_now(), &ids, &n, &err), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(ids[0], rid);
	free(ids);
	vg_store_report r;
	cr_assert_eq(vg_store_report_get(s, rid, &r, &err), 0);
	cr_assert_null(r.reporter_name);
	cr_assert_null(r.reporter_email);
	cr_assert_null(r.client_addr);
	cr_assert_gt(r.erased_at, 0);
	cr_assert_str_eq(r.category, "phishing", "the report stays countable");
	vg_store_report_done(&r);
	vg_store_close(s);
}

static int collect_report(const vg_store_report *r, void *ctx)
{
	int64_t *ids = ctx;
	ids[ids[0] + 1] = r->id;
	ids[0]++;
	return 0;
}

Test(reports, case_reports_and_figures)
{
	vg_store *s = open_ok();
	vg_error err;
	vg_usec t0 = vg_time_now();
	int64_t r1 = report_ok(s, "Ann"), r2 = report_ok(s, "Bob"), r3 = report_ok(s, NULL), cid,
		cid2;
	bool created;
	cr_assert_eq(vg_store_report_case_open_or_attach(s, "phishing https://f.example/",
							 "https://f.example/", "phishing", "normal",
							 0, r1, "public", &cid, &created, &err), 0);
	cr_assert_eq(vg_store_report_case_open_or_attach(s, "phishing https://f.example/",
							 "https://f.example/", "phishing", "normal",
							 0, r2, "public", &cid2, &created, &err), 0);
	cr_assert_eq(cid, cid2);
	cr_assert_eq(vg_store_report_add_url(s, r1, "https://f.example/", 0, "", cid, &err), 0);
	cr_assert_eq(vg_store_report_add_url(s, r2, "https://f.example/", 0, "", cid, &err), 0);
	cr_assert_eq(vg_store_report_add_url(s, r3, "https://g.example/", 0, "", 0, &err), 0);
	int64_t got[8] = {0};
	cr_assert_eq(vg_store_case_reports(s, cid, collect_report, got, &err), 0, "%s", err.msg);
	cr_assert_eq(got[0], 2);
	cr_assert_eq(got[1], r1);
	cr_assert_eq(got[2], r2);

	cr_assert_eq(vg_store_case_assign(s, cid, "alice", "token:admin", &err), 0);
	cr_assert_eq(vg_store_case_transition(s, cid, "actioned", "block_url", NULL, NULL,
					      "token:admin", &err), 0);
	int64_t bid;
	cr_assert_eq(vg_store_block_add(s, "https://f.example/", "r", 0, cid, "token:admin", &bid,
					&created, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_block_lift(s, bid, "token:admin", &err), 0);

	vg_store_figures f;
	cr_assert_eq(vg_store_figures_get(s, t0, vg_time_now() + 1, &f, &err), 0, "%s", err.msg);
	cr_assert_eq(f.n_reports, 1);
	cr_assert_str_eq(f.reports[0].a, "phishing");
	cr_assert_str_eq(f.reports[0].b, "rest");
	cr_assert_eq(f.reports[0].n, 3);
	cr_assert_eq(f.n_actions, 2);
	cr_assert_str_eq(f.actions[0].a, "assigned");
	cr_assert_str_eq(f.actions[1].a, "block_url");
	cr_assert_eq(f.actions[1].n, 1);
	cr_assert_eq(f.blocks_placed, 1);
	cr_assert_eq(f.blocks_lifted, 1);
	cr_assert_eq(f.n_delays, 2, "the two reports of the actioned case");
	cr_assert_geq(f.first_action_delays[0], 0);
	cr_assert_leq(f.first_action_delays[0], f.first_action_delays[1]);
	vg_store_figures_done(&f);

	cr_assert_eq(vg_store_figures_get(s, 1, 2, &f, &err), 0);
	cr_assert_eq(f.n_reports + f.n_actions + f.n_delays, 0, "an empty range counts nothing");
	cr_assert_eq(f.blocks_placed, 0);
	vg_store_figures_done(&f);
	cr_assert_eq(vg_store_figures_get(s, 2, 1, &f, &err), VG_EINVAL);
	vg_store_close(s);
}

/* Found in review: the incident time a report named was never stored, so the authority
 * report gave the arrival instead. It is kept; a report that named none reads 0. */
Test(reports, incident_time_is_kept)
{
	vg_store *s = open_ok();
	vg_store_report r = {.category = "csam",
			     .source = "email",
			     .kind = "xarf",
			     .share_owner = "anonymous",
			     .share_host = "anonymous",
			     .status = "received",
			     .incident_at = (vg_usec)1709811900 * 1000000};
	memset(r.status_token_hash, 'a', 64);
	int64_t with, without;
	vg_error err;
	cr_assert_eq(vg_store_report_create(s, &r, &with, &err), 0, "%s", err.msg);
	r.incident_at = 0;
	cr_assert_eq(vg_store_report_create(s, &r, &without, &err), 0, "%s", err.msg);
	vg_store_report got;
	cr_assert_eq(vg_store_report_get(s, with, &got, &err), 0, "%s", err.msg);
	cr_assert_eq(got.incident_at, (vg_usec)1709811900 * 1000000);
	cr_assert_gt(got.created_at, got.incident_at);
	vg_store_report_done(&got);
	cr_assert_eq(vg_store_report_get(s, without, &got, &err), 0, "%s", err.msg);
	cr_assert_eq(got.incident_at, 0);
	vg_store_report_done(&got);
	vg_store_close(s);
}

static int join_hash(const char *type, const char *hex, void *ctx)
{
	char *out = ctx;
	size_t n = strlen(out);
	snprintf(out + n, 256 - n, "%s:%.4s ", type, hex);
	return 0;
}

Test(reports, report_evidence_lists_one_reports_hashes)
{
	vg_store *s = open_ok();
	vg_error err;
	int64_t a = report_ok(s, NULL), b = report_ok(s, NULL);
	static const char md5[] = "0123456789abcdef0123456789abcdef";
	static const char sha[] =
		"ffff456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	cr_assert_eq(vg_store_report_add_evidence(s, a, "sha256", sha, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_report_add_evidence(s, a, "md5", md5, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_report_add_evidence(s, b, "md5", md5, &err), 0, "%s", err.msg);
	char got[256] = "";
	cr_assert_eq(vg_store_report_evidence(s, a, join_hash, got, &err), 0, "%s", err.msg);
	cr_assert_str_eq(got, "md5:0123 sha256:ffff ");
	got[0] = '\0';
	cr_assert_eq(vg_store_report_evidence(s, 999, join_hash, got, &err), 0);
	cr_assert_str_eq(got, "");
	vg_store_close(s);
}

Test(reports, find_message_id_within_the_window)
{
	vg_store *s = open_ok();
	vg_error err;
	vg_store_report r = {.message_id = "m-1@mx.example", .created_at = 1000};
	strcpy(r.category, "spam");
	strcpy(r.source, "email");
	strcpy(r.share_owner, "anonymous");
	strcpy(r.share_host, "anonymous");
	strcpy(r.status, "received");
	memset(r.status_token_hash, 'a', 64);
	int64_t a, b, got = 0;
	cr_assert_eq(vg_store_report_create(s, &r, &a, &err), 0, "%s", err.msg);
	r.created_at = 2000;
	cr_assert_eq(vg_store_report_create(s, &r, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_report_find_message_id(s, "m-1@mx.example", 0, &got, &err), 0);
	cr_assert_eq(got, a, "the first one");
	cr_assert_eq(vg_store_report_find_message_id(s, "m-1@mx.example", 1500, &got, &err), 0);
	cr_assert_eq(got, b);
	cr_assert_eq(vg_store_report_find_message_id(s, "m-1@mx.example", 2001, &got, &err),
		     VG_ENOENT);
	cr_assert_eq(vg_store_report_find_message_id(s, "other@mx.example", 0, &got, &err),
		     VG_ENOENT);
	cr_assert_eq(vg_store_report_find_message_id(s, "", 0, &got, &err), VG_ENOENT);
	vg_store_close(s);
}
