/* SPDX-License-Identifier: Apache-2.0
 *
 * Abuse-report intake: POST /v1/reports (public: no token, at most 64 KB, rate-limited per
 * client address), POST /v1/reports/email (admin or intake: one raw RFC 5322 message) and
 * GET /v1/reports/{id}/status?token= (the reporter follows the report without an account).
 * vg_api_report_store and vg_api_report_ingest_mail (api.h) are the pipeline, shared with
 * `vigil report ingest-mail`. The pipeline: parse and canonicalise (src/report), find each URL's
 * zone (api_zones.c), open or join one case per (category, URL) within the dedup window,
 * route with the category's policy (vg_report_route_compute) into outbox items, and match
 * evidence hashes against the banks, blocking the report's URLs on the operator's zones on
 * a match as /v1/scan does.
 *
 * Invariants:
 * - Everything a report causes (report row, URLs, evidence, cases, blocks, outbox items,
 *   audit entries) is one store transaction: a 201 means all of it is durable.
 * - The site owner never hears of csam, ncii or terrorism before a person reviews the
 *   case, and the reporter's name and email leave vigil only where share says full (both
 *   are enforced by vg_report_route_compute, which this file never overrides).
 * - A report joining an existing case within the dedup window notifies no party that was
 *   told of that case already (a "notified" event in its history); one nobody told, it does.
 * - Only the SHA-256 of the status token is stored; the check is constant-time.
 * - Reporter personal data (name, email, client address) is never logged or audited.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

/* ---- helpers --------------------------------------------------------------------------- */

static void sha256_hex(const char *s, char out[65])
{
	uint8_t d[32];
	unsigned int n = 0;
	EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
	vg_hex_encode(d, 32, out);
}

static const char *share_word(vg_report_share s)
{
	return vg_report_share_name(s);
}

/* One zone's URLs in this report, and which of them opened a new case. */
typedef struct zone_group {
	vg_store_zone zone; /* zone.id 0: on no zone */
	size_t *urls;       /* indexes into report->urls */
	bool *fresh;        /* the URL's case was opened by this report */
	size_t n;
} zone_group;

struct told_query {
	const char *party, *review_tag;
	bool found;
};

static int told_event(const vg_store_case_event *e, void *ctx)
{
	struct told_query *q = ctx;
	if (q->found || strcmp(e->action, "notified") != 0 || !e->note)
		return 0;
	size_t n = strlen(q->party);
	if (strncmp(e->note, q->party, n) != 0 || (e->note[n] && e->note[n] != ' '))
		return 0;
	if (!q->review_tag)
		q->found = true;
	else if (!strncmp(e->note + n, " review ", 8) &&
		 (!q->review_tag[0] || !strcmp(e->note + n + 8, q->review_tag)))
		q->found = true;
	return 0;
}

int vg__api_case_told(vg_store *s, int64_t case_id, const char *party, const char *review_tag,
		      bool *ret, vg_error *err)
{
	struct told_query q = {party, review_tag, false};
	int rc = vg_store_case_history(s, case_id, told_event, &q, err);
	if (!rc)
		*ret = q.found;
	return rc;
}

void vg__api_target_tag(const char *target, char ret[17])
{
	char h[65];
	sha256_hex(target ? target : "", h);
	memcpy(ret, h, 16);
	ret[16] = '\0';
}

/* The outbox item for one intent: a webhook now; an email waits for SMTP delivery
 * (kind "email", not claimed by the webhook worker). It names the URLs of the group
 * whose case has not been notified to this party yet: a report joining a case within
 * the window does not tell a party again, but does tell one nobody told (the first
 * report's share said none for it, or the zone had no contact then). Suppressing on
 * "the case is not new" alone let anyone silence the host about a phishing URL by
 * filing its first report with share none, once per window. Each URL told gets a
 * "notified" event on its case. */
static int notify(vg_store *s, int64_t report_id, const vg_report *r, const zone_group *g,
		  const int64_t *case_of, const vg_report_intent *in, json_t *done, vg_error *err)
{
	const char *party = in->party == VG_REPORT_PARTY_OWNER ? "owner" : "host";
	json_t *urls = json_array();
	bool *tell = vg_xcalloc(g->n ? g->n : 1, sizeof(bool));
	int rc = 0;
	for (size_t i = 0; i < g->n && !rc; i++) {
		bool told = false;
		if (!g->fresh[i])
			rc = vg__api_case_told(s, case_of[g->urls[i]], party, NULL, &told, err);
		tell[i] = !rc && !told;
		if (tell[i])
			json_array_append_new(urls, json_string(r->urls[g->urls[i]]));
	}
	if (rc || json_array_size(urls) == 0) {
		json_decref(urls);
		free(tell);
		return rc; /* every URL's case was told this party already */
	}
	for (size_t i = 0; i < g->n && !rc; i++)
		if (tell[i])
			rc = vg_store_case_note(s, case_of[g->urls[i]], "report", "notified", party,
						err);
	free(tell);
	if (rc) {
		json_decref(urls);
		return rc;
	}
	json_t *p = json_pack("{s:s,s:I,s:s,s:s,s:s,s:o}", "event",
			      in->forward ? "abuse_report.forward" : "abuse_report.notify",
			      "report_id", (json_int_t)report_id, "category",
			      vg_report_category_name(r->category), "zone", g->zone.name, "party",
			      party, "urls", urls);
	if (in->forward)
		json_object_set_new(p, "description", vg__json_str(r->description));
	if (in->include_reporter)
		json_object_set_new(p, "reporter",
				    json_pack("{s:o,s:o}", "name", vg__json_str(r->reporter_name),
					      "email", vg__json_str(r->reporter_email)));
	char *text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	char key[65];
	snprintf(key, sizeof(key), "report-%lld-zone-%lld-%s", (long long)report_id,
		 (long long)g->zone.id, party);
	const char *kind = in->channel == VG_REPORT_CHANNEL_WEBHOOK ? "webhook" : "email";
	/* Signed with the contact's own secret, when it has one (migration 12). */
	const char *secret = NULL;
	if (in->channel == VG_REPORT_CHANNEL_WEBHOOK)
		secret = strcmp(party, "owner") == 0 ? g->zone.owner_webhook_secret
						    : g->zone.host_webhook_secret;
	int64_t oid = 0;
	rc = vg_store_outbox_enqueue(s, kind, in->target, text, secret, key, vg_time_now(), &oid,
				     err);
	free(text);
	if (!rc)
		json_array_append_new(done, json_pack("{s:s,s:s,s:s,s:I,s:b,s:b}", "type", kind,
						      "party", party, "zone", g->zone.name,
						      "outbox_id", (json_int_t)oid, "forward",
						      in->forward, "reporter_shared",
						      in->include_reporter));
	return rc;
}

/* Matches the evidence hashes; on a match blocks each URL of the report that is on one of
 * the operator's zones (case_of[u] != 0), with its case, as /v1/scan's block_url does. A
 * URL on no zone is someone else's site: the operator has no say over it, and a block
 * without a case is one no rejection would ever lift. The blocks to put in memory after
 * the commit go to *blocks. */
typedef struct pending {
	int64_t id;
	char url[VG_URL_MAX + 1];
	char reason[160];
	vg_usec since;
} pending;


/* Intake found the URL blocked already: when another case placed the block, case_id
 * relies on it too, should that one be rejected (vg_store_block_hand_over). */
static int note_joined(vg_store *s, int64_t block_id, int64_t case_id, vg_error *err)
{
	vg_store_block b;
	int rc = vg_store_block_get(s, block_id, &b, err);
	if (rc)
		return rc;
	bool other = b.case_id != case_id;
	vg_store_block_done(&b);
	if (!other)
		return 0;
	char note[48];
	snprintf(note, sizeof(note), "block %lld", (long long)block_id);
	return vg_store_case_note(s, case_id, "report", "block_joined", note, err);
}

/* What matched, on the case's history for its reviewer (action evidence_matched): the
 * intake's answer never says it (it would be an oracle for bank membership). At most
 * MATCH_NOTES per case; the block's reason names the first. */
#define MATCH_NOTES 8

static int note_matches(vg_store *s, int64_t report_id, int64_t case_id, const vg_bank_matches *m,
			vg_error *err)
{
	int rc = 0;
	for (size_t i = 0; i < m->n && i < MATCH_NOTES && !rc; i++) {
		char note[VG_STORE_NAME_MAX + 128];
		snprintf(note, sizeof(note), "report %lld: bank %s signal %lld %s distance %d",
			 (long long)report_id, m->v[i].bank, (long long)m->v[i].signal_id,
			 m->v[i].type, m->v[i].distance);
		rc = vg_store_case_note(s, case_id, "report", "evidence_matched", note, err);
	}
	return rc;
}

static int match_evidence(const vg_api_report_ctx *ctx, vg_store *s, int64_t report_id,
			  const vg_report *r, const int64_t *case_of, pending **blocks,
			  size_t *nblocks, vg_error *err)
{
	vg_api *api = ctx->api;
	const vg_bank_index *index = api ? api->index : ctx->index;
	int threshold = api ? (int)VG__CFG(api, threshold) : ctx->threshold;
	vg_bank_matches m;
	vg_bank_matches_init(&m);
	int rc = 0;
	if (api)
		pthread_rwlock_rdlock(&api->index_lock);
	else if (!index)
		return 0; /* no banks to match against */
	for (size_t i = 0; i < r->n_evidence && !rc; i++) {
		const vg_report_evidence *e = &r->evidence[i];
		if (e->type == VG_REPORT_HASH_PDQ) {
			vg_pdq q;
			if (vg_pdq_from_hex(e->hex, strlen(e->hex), &q) == 0)
				rc = vg_bank_match_pdq(index, s, &q, threshold, NULL, 0, &m, err);
		} else {
			uint8_t d[32];
			size_t dl = e->type == VG_REPORT_HASH_MD5 ? 16 : 32;
			if (vg_hex_decode(e->hex, strlen(e->hex), d, dl) == 0)
				rc = vg_bank_match_digest(index, s,
							  vg_report_hash_type_name(e->type), d, NULL,
							  0, &m, err);
		}
	}
	if (api)
		pthread_rwlock_unlock(&api->index_lock);
	if (!rc)
		vg_bank_matches_sort(&m);
	if (!rc && m.n > 0) {
		*blocks = vg_xcalloc(r->n_urls, sizeof(**blocks));
		for (size_t u = 0; u < r->n_urls && !rc; u++) {
			if (!case_of[u])
				continue; /* on no zone of ours */
			if ((rc = note_matches(s, report_id, case_of[u], &m, err)))
				break;
			char reason[160];
			snprintf(reason, sizeof(reason), "report evidence matched bank %s (signal %lld)",
				 m.v[0].bank, (long long)m.v[0].signal_id);
			int64_t bid = 0;
			bool created = false;
			rc = vg_store_block_add(s, r->urls[u], reason, m.v[0].bank_id, case_of[u],
						"report", &bid, &created, err);
			if (!rc && !created && case_of[u])
				rc = note_joined(s, bid, case_of[u], err);
			if (!rc && created) {
				char sid[24];
				snprintf(sid, sizeof(sid), "%lld", (long long)bid);
				json_t *d = json_pack("{s:s,s:s}", "url", r->urls[u], "bank", m.v[0].bank);
				char *dt = json_dumps(d, JSON_COMPACT);
				json_decref(d);
				rc = vg_store_audit_append(s, "report", "block.create", "block", sid, dt,
							   NULL, err);
				free(dt);
				vg_store_block sb;
				if (!rc && (rc = vg_store_block_get(s, bid, &sb, err)) == 0) {
					pending *pb = &(*blocks)[(*nblocks)++];
					pb->id = bid;
					pb->since = sb.created_at;
					snprintf(pb->url, sizeof(pb->url), "%s", r->urls[u]);
					snprintf(pb->reason, sizeof(pb->reason), "%s", reason);
					vg_store_block_done(&sb);
				}
			}
		}
		for (size_t i = 0; i < m.n && api; i++)
			vg__api_count_match(api, m.v[i].bank);
	}
	vg_bank_matches_done(&m);
	return rc;
}

/* ---- POST /v1/reports ------------------------------------------------------------------ */

static void respond_fields(vg_http_req *req, const vg_error *err, const vg_report_fields *f)
{
	char *fj = vg_report_fields_json(f);
	json_t *fields = fj ? json_loads(fj, 0, NULL) : NULL;
	free(fj);
	vg__json_respond(req, vg_error_http_status(err->code),
			 json_pack("{s:{s:s,s:s,s:o}}", "error", "code", vg_error_name(err->code),
				   "message", err->msg, "fields", fields ? fields : json_array()));
}

/* The server's part after a stored report: blocks into memory, the worker woken, the
 * 201 answered. Frees res. */
static void intake_done(vg_api *api, vg_http_req *req, vg_api_report_result *res)
{
	for (size_t i = 0; i < res->n_blocks; i++)
		vg__blocklist_put(api->blocks, res->blocks[i].url, res->blocks[i].id,
				  res->blocks[i].reason, res->blocks[i].since);
	if (res->queued)
		vg__api_outbox_kick(api);
	if (res->json)
		vg_http_respond(req, res->duplicate ? 200 : 201, "application/json", res->json,
				strlen(res->json));
	else
		vg_http_respond_error(req, VG_ENOMEM, "out of memory");
	vg_api_report_result_done(res);
}

void vg_api_report_result_done(vg_api_report_result *res)
{
	if (!res)
		return;
	free(res->json);
	free(res->blocks);
	memset(res, 0, sizeof(*res));
}

/* The whole intake of a parsed report in one transaction (api.h). */
int vg_api_report_store(const vg_api_report_ctx *ctx, const vg_report *r,
			vg_api_report_result *ret, vg_error *ret_err)
{
	vg_store *s = ctx->store;
	const char *source = ctx->source, *actor = ctx->actor;
	vg_usec window = ctx->api ? VG__CFG(ctx->api, report_dedup_window) : ctx->dedup_window;
	vg_report_policy policy;
	if (ctx->api)
		policy = ctx->api->routing;
	else if (ctx->policy)
		policy = *ctx->policy;
	else
		vg_report_policy_default(&policy);
	char token[2 * 24 + 1], token_hash[65]; /* 24 random bytes in hex, and a NUL */
	uint8_t raw[24];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return vg_error_set(ret_err, VG_EIO, "no randomness for the status token");
	vg_hex_encode(raw, sizeof(raw), token);
	sha256_hex(token, token_hash);

	vg_store_report row = {
		.description = r->description,
		.reporter_name = r->reporter_name,
		.reporter_email = r->reporter_email,
		.client_addr = (char *)ctx->client_addr,
		.message_id = (char *)ctx->message_id,
	};
	snprintf(row.category, sizeof(row.category), "%s", vg_report_category_name(r->category));
	snprintf(row.source, sizeof(row.source), "%s", source);
	snprintf(row.kind, sizeof(row.kind), "%s", vg_report_source_name(r->source));
	snprintf(row.share_owner, sizeof(row.share_owner), "%s", share_word(r->share_owner));
	snprintf(row.share_host, sizeof(row.share_host), "%s", share_word(r->share_host));
	snprintf(row.jurisdiction, sizeof(row.jurisdiction), "%s", r->jurisdiction);
	snprintf(row.source_ip, sizeof(row.source_ip), "%s", r->source_ip);
	snprintf(row.status_token_hash, sizeof(row.status_token_hash), "%s", token_hash);
	/* The reporter's word for when it happened; a time after today is no incident time
	 * (a wrong clock or a made-up date), it is dropped rather than put in an authority
	 * report. */
	if (r->incident_time > 0 && r->incident_time <= vg_time_now() + 86400LL * 1000000)
		row.incident_at = r->incident_time;

	zone_group *groups = vg_xcalloc(r->n_urls + 1, sizeof(*groups));
	size_t ngroups = 0;
	int64_t *case_of = vg_xcalloc(r->n_urls, sizeof(*case_of));
	pending *blocks = NULL;
	size_t nblocks = 0;
	json_t *done = json_array(), *cases = json_array();
	vg_error err;
	int64_t id = 0;
	bool ours = false;
	vg_usec since = vg_time_now() - window;
	const char *cat = vg_report_category_name(r->category);

	/* The zones first (reads only), so the status is known before the row is written. */
	int rc = vg_store_begin(s, &err);
	/* The same message delivered again within the window (mail is delivered at least
	 * once: an MTA that timed out a slow pipe, a message sent to two abuse aliases) is the
	 * report stored the first time: answered with it, nothing written or counted again.
	 * Looked up under the write lock, so two deliveries at once store one report. */
	if (!rc && ctx->message_id && ctx->message_id[0]) {
		int64_t first = 0;
		int drc = vg_store_report_find_message_id(s, ctx->message_id, since, &first, &err);
		if (drc == 0) {
			rc = vg__api_finish(s, 0, &err);
			if (!rc) {
				json_t *body = json_pack("{s:I,s:b}", "id", (json_int_t)first,
							 "duplicate", true);
				*ret = (vg_api_report_result){
					.id = first,
					.json = json_dumps(body, JSON_COMPACT),
					.duplicate = true,
				};
				json_decref(body);
			} else {
				*ret_err = err;
			}
			json_decref(done);
			json_decref(cases);
			free(groups);
			free(case_of);
			OPENSSL_cleanse(token, sizeof(token));
			return rc;
		}
		if (drc != VG_ENOENT)
			rc = drc;
	}
	for (size_t u = 0; u < r->n_urls && !rc; u++) {
		vg_store_zone z;
		int zrc = vg__api_zone_resolve(s, r->urls[u], &z, &err);
		if (zrc == VG_ENOENT)
			continue;
		if ((rc = zrc))
			break;
		ours = true;
		size_t g = 0;
		while (g < ngroups && groups[g].zone.id != z.id)
			g++;
		if (g == ngroups) {
			groups[ngroups].zone = z;
			groups[ngroups].urls = vg_xcalloc(r->n_urls, sizeof(size_t));
			groups[ngroups].fresh = vg_xcalloc(r->n_urls, sizeof(bool));
			ngroups++;
		} else {
			vg_store_zone_done(&z);
		}
		groups[g].urls[groups[g].n++] = u;
	}
	snprintf(row.status, sizeof(row.status), "%s", ours ? "received" : "not_ours");
	if (!rc)
		rc = vg_store_report_create(s, &row, &id, &err);
	char sid[24];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if (!rc) {
		json_t *d = json_pack("{s:s,s:s,s:i,s:s}", "category", cat, "source", source, "urls",
				      (int)r->n_urls, "status", row.status);
		char *dt = json_dumps(d, JSON_COMPACT);
		json_decref(d);
		rc = vg_store_audit_append(s, actor, "report.create", "report", sid, dt, NULL, &err);
		free(dt);
	}
	for (size_t i = 0; i < r->n_evidence && !rc; i++)
		rc = vg_store_report_add_evidence(s, id, vg_report_hash_type_name(r->evidence[i].type),
						  r->evidence[i].hex, &err);
	/* One case per (category, URL) on a zone: opened, or joined within the window. */
	vg_report_route route0;
	vg_report_route_compute(&policy, r, NULL, &route0);
	for (size_t g = 0; g < ngroups && !rc; g++)
		for (size_t i = 0; i < groups[g].n && !rc; i++) {
			size_t u = groups[g].urls[i];
			vg_report_zone rz = {.name = groups[g].zone.name};
			vg_report_route rt;
			vg_report_route_compute(&policy, r, &rz, &rt);
			char key[VG_URL_MAX + 48];
			rc = vg_report_dedup_key(r->category, r->urls[u], key, sizeof(key), &err);
			bool created = false;
			if (!rc)
				rc = vg_store_report_case_open_or_attach(
					s, key, r->urls[u], cat, vg_report_priority_name(rt.priority),
					since, id, actor, &case_of[u], &created, &err);
			if (!rc && created) {
				char cid[24];
				snprintf(cid, sizeof(cid), "%lld", (long long)case_of[u]);
				rc = vg_store_audit_append(s, actor, "case.open", "case", cid, NULL, NULL,
							   &err);
			}
			groups[g].fresh[i] = created;
			/* Whether the case is new is not said: to an anonymous caller (the
			 * abuser running the site, say) it would tell that someone else
			 * reported the URL lately. */
			if (!rc)
				json_array_append_new(cases,
						      json_pack("{s:s,s:I}", "url", r->urls[u],
								"case_id", (json_int_t)case_of[u]));
		}
	for (size_t u = 0; u < r->n_urls && !rc; u++) {
		const char *zname = "";
		int64_t zid = 0;
		for (size_t g = 0; g < ngroups; g++)
			for (size_t i = 0; i < groups[g].n; i++)
				if (groups[g].urls[i] == u) {
					zname = groups[g].zone.name;
					zid = groups[g].zone.id;
				}
		rc = vg_store_report_add_url(s, id, r->urls[u], zid, zname, case_of[u], &err);
	}
	/* Notifications, one per party of each zone. */
	for (size_t g = 0; g < ngroups && !rc; g++) {
		vg_store_zone *z = &groups[g].zone;
		vg_report_zone rz = {
			.name = z->name,
			.owner = {z->owner_email, z->owner_webhook_url},
			.host = {z->host_email, z->host_webhook_url},
		};
		vg_report_route rt;
		vg_report_route_compute(&policy, r, &rz, &rt);
		for (size_t k = 0; k < rt.n_intents && !rc; k++)
			rc = notify(s, id, r, &groups[g], case_of, &rt.intents[k], done, &err);
	}
	/* Only a report with a URL on a zone is matched: only those URLs can be blocked, and
	 * matching the others would tell the public intake whether a hash is in a bank. */
	if (!rc && ours && route0.match_evidence && r->n_evidence)
		rc = match_evidence(ctx, s, id, r, case_of, &blocks, &nblocks, &err);
	rc = vg__api_finish(s, rc, &err);

	if (rc) {
		*ret_err = err;
		json_decref(done);
		json_decref(cases);
	} else {
		vg_log(VG_LOG_INFO, "report.received", "report=%lld category=%s status=%s urls=%zu",
		       (long long)id, cat, row.status, r->n_urls);
		/* No matches and no "blocked" in the answer, which the public intake gives
		 * anyone: they made it an oracle for bank membership that handed out the
		 * listed hash itself (a near-miss PDQ came back with the bank's value). The
		 * match result belongs to the case, where an analyst sees it. */
		json_t *body = json_pack("{s:I,s:s,s:s,s:s,s:o,s:o}", "id", (json_int_t)id,
					 "status", row.status, "status_token", token, "category",
					 cat, "cases", cases, "notifications", done);
		*ret = (vg_api_report_result){
			.id = id,
			.json = json_dumps(body, JSON_COMPACT),
			.n_blocks = nblocks,
			.queued = json_array_size(done) > 0,
		};
		json_decref(body);
		if (nblocks) {
			ret->blocks = vg_xcalloc(nblocks, sizeof(*ret->blocks));
			for (size_t i = 0; i < nblocks; i++) {
				ret->blocks[i].id = blocks[i].id;
				ret->blocks[i].since = blocks[i].since;
				snprintf(ret->blocks[i].url, sizeof(ret->blocks[i].url), "%s",
					 blocks[i].url);
				snprintf(ret->blocks[i].reason, sizeof(ret->blocks[i].reason), "%s",
					 blocks[i].reason);
			}
		}
	}
	for (size_t g = 0; g < ngroups; g++) {
		vg_store_zone_done(&groups[g].zone);
		free(groups[g].urls);
		free(groups[g].fresh);
	}
	free(groups);
	free(case_of);
	free(blocks);
	OPENSSL_cleanse(token, sizeof(token));
	return rc;
}

/* Answers a request with what vg_api_report_store did, after putting its blocks in
 * memory (only now: they are committed) and waking the outbox worker. */
static void intake(vg_api *api, vg_http_req *req, vg_store *s, const vg_report *r,
		   const char *source, const char *actor)
{
	vg_api_report_ctx ctx = {
		.store = s,
		.api = api,
		.source = source,
		.actor = actor,
		.client_addr = vg_http_client_ip(req),
	};
	vg_api_report_result res;
	vg_error err;
	if (vg_api_report_store(&ctx, r, &res, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	intake_done(api, req, &res);
}

static void create(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	const char *addr = vg_http_client_ip(req);
	int wait =
		vg__rate_take(api->report_rate, addr ? addr : "", (double)VG__CFG(api, report_rate),
			      (double)VG__CFG(api, report_burst));
	if (wait > 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", wait);
		vg_http_add_header(req, "Retry-After", v);
		vg_http_respond_error(req, VG_ERATE, "too many reports from this address; retry later");
		return;
	}
	/* Required, not only checked: a report without it (or as text/plain or a form) is a
	 * request any web page can make its visitors' browsers send, with no CORS preflight,
	 * each visitor a fresh address to the rate limit. */
	if (!vg__json_content_type(req, true))
		return;
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	size_t len;
	const uint8_t *body = vg_http_body(req, &len);
	vg_report *r = NULL;
	vg_report_fields f;
	vg_report_fields_init(&f);
	vg_error err;
	if (vg_report_parse_json((const char *)body, len, &r, &f, &err) != 0) {
		if (err.code == VG_EINVAL)
			respond_fields(req, &err, &f);
		else
			vg__respond_err(req, &err);
	} else {
		intake(api, req, s, r, "rest", "public");
	}
	vg_report_fields_done(&f);
	vg_report_free(r);
}

/* ---- GET /v1/reports/{id}/status ---------------------------------------------------------- */

typedef struct status_acc {
	int rank; /* the furthest stage any of its cases reached */
	json_t *urls;
} status_acc;

static int stage_rank(const char *st)
{
	static const char *const order[] = {"new", "triaged", "rejected", "actioned", "closed"};
	for (int i = 0; st && i < 5; i++)
		if (!strcmp(st, order[i]))
			return i + 1;
	return 0;
}

static int add_status_url(const vg_store_report_url *u, void *ctx)
{
	status_acc *a = ctx;
	int k = stage_rank(u->case_stage);
	if (k > a->rank)
		a->rank = k;
	json_array_append_new(a->urls, json_pack("{s:s,s:o}", "url", u->url, "status",
						 vg__json_str(u->case_stage ? u->case_stage
									    : "not_ours")));
	return 0;
}

static void status(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	const char *token = vg_http_query(req, "token");
	vg_store_report r;
	vg_error err;
	char h[65];
	sha256_hex(token ? token : "", h);
	/* A wrong token and an unknown id answer alike, so ids cannot be probed. */
	if (vg_store_report_get(s, id, &r, &err) != 0) {
		vg_http_respond_error(req, VG_ENOENT, "no report with this id and token");
		return;
	}
	bool ok = token && CRYPTO_memcmp(h, r.status_token_hash, 64) == 0;
	if (!ok) {
		vg_store_report_done(&r);
		vg_http_respond_error(req, VG_ENOENT, "no report with this id and token");
		return;
	}
	status_acc a = {0, json_array()};
	if (vg_store_report_urls(s, id, add_status_url, &a, &err) != 0) {
		json_decref(a.urls);
		vg_store_report_done(&r);
		vg__respond_err(req, &err);
		return;
	}
	static const char *const names[] = {"received", "received", "triaged", "rejected",
					    "actioned", "closed"};
	const char *st = strcmp(r.status, "not_ours") == 0 ? "not_ours" : names[a.rank];
	vg__json_respond(req, 200,
			 json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)id, "status",
				   st, "category", r.category, "received_at",
				   vg__json_time(r.created_at), "first_action_at",
				   vg__json_time(r.first_action_at), "closed_at",
				   vg__json_time(r.closed_at), "urls", a.urls));
	vg_store_report_done(&r);
}

/* ---- mail intake: POST /v1/reports/email and `vigil report ingest-mail` ------------------ */

/* A refused message leaves a trace an operator can find by its Message-ID: an audit
 * entry in its own transaction (the report's transaction never began). The sender is
 * personal data and is not recorded; the reason is the library's, which never quotes it. */
static void record_rejected(const vg_api_report_ctx *ctx, const vg_report_mail *m,
			    const vg_error *why)
{
	char mid[257] = "";
	if (m->message_id) {
		/* At most 256 bytes, cut before a character, never inside one: a torn UTF-8
		 * sequence in the object id made the entry unprintable as JSON. */
		size_t n = strlen(m->message_id);
		if (n > sizeof(mid) - 1) {
			n = sizeof(mid) - 1;
			while (n > 0 && ((unsigned char)m->message_id[n] & 0xc0) == 0x80)
				n--;
		}
		memcpy(mid, m->message_id, n);
		mid[n] = '\0';
	}
	json_t *d = json_pack("{s:o,s:s,s:s,s:s}", "message_id", mid[0] ? vg__json_str(mid) : json_null(),
			      "reason", why->msg, "error", vg_error_name(why->code), "kind",
			      vg_report_source_name(m->kind));
	char *dt = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(d);
	vg_error err;
	if (vg_store_audit_append(ctx->store, ctx->actor, "report.mail_rejected", "mail", mid, dt,
				  NULL, &err) != 0)
		vg_log(VG_LOG_WARN, "report.mail_rejected.unrecorded", "reason=\"%s\"", err.msg);
	free(dt);
}

int vg_api_report_ingest_mail(const vg_api_report_ctx *ctx, const void *data, size_t len,
			      vg_api_report_result *ret, vg_error *err)
{
	vg_report_mail m;
	vg_report_mail_init(&m);
	int rc = vg_report_mail_parse(data, len, &m, err);
	if (rc) {
		record_rejected(ctx, &m, err);
	} else {
		vg_api_report_ctx c = *ctx;
		c.source = "email";
		c.message_id = m.message_id;
		rc = vg_api_report_store(&c, m.report, ret, err);
		/* Refused after parsing (the store said no, the transaction rolled back): the
		 * message is recorded all the same, so no refused mail goes unaccounted. */
		if (rc)
			record_rejected(ctx, &m, err);
	}
	vg_report_mail_done(&m);
	return rc;
}

static void create_email(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	size_t len;
	const uint8_t *body = vg_http_body(req, &len);
	vg_api_report_ctx ctx = {
		.store = s,
		.api = api,
		.source = "email",
		.actor = who->name,
		/* The client is the mail relay that forwarded the message, not the reporter. */
		.client_addr = NULL,
	};
	vg_api_report_result res;
	vg_error err;
	int rc = vg_api_report_ingest_mail(&ctx, body, len, &res, &err);
	if (rc == VG_EMALFORMED || rc == VG_EINVAL) {
		/* Readable HTTP, unusable message: 422, whatever the error table says of a
		 * malformed JSON body. */
		vg__json_respond(req, 422,
				 json_pack("{s:{s:s,s:s}}", "error", "code", vg_error_name(rc),
					   "message", err.msg));
		return;
	}
	if (rc) {
		vg__respond_err(req, &err);
		return;
	}
	intake_done(api, req, &res);
}

/* ---- GET /v1/transparency -------------------------------------------------------------
 * The figures of a transparency report over [from, to): reports by category and source,
 * reviewers' actions by type, blocks placed and lifted, and the median and 90th
 * percentile of the time from a report's arrival to the first action on it (nearest rank,
 * over the reports received in the range that were acted on). Counts only: no report,
 * URL or person appears in it. */

/* YYYY-MM-DD (that day's start, UTC; *ret_day true) or an RFC 3339 time
 * (YYYY-MM-DDTHH:MM:SSZ, or with a fraction or an offset), from 1970 on. */
static bool parse_when(const char *v, vg_usec *ret, bool *ret_day)
{
	size_t len = strlen(v);
	char midnight[32];
	*ret_day = len == 10;
	if (*ret_day) {
		len = (size_t)snprintf(midnight, sizeof(midnight), "%sT00:00:00Z", v);
		v = midnight;
	}
	vg_usec t;
	if (!vg_time_parse_rfc3339(v, len, &t) || t < 0)
		return false;
	*ret = t;
	return true;
}

/* The last instant the range can end at: 9999-12-31T23:59:59.999Z. A later end (to =
 * 9999-12-31 counted whole) would read 10000-01-01, which no RFC 3339 reader takes. */
#define RANGE_END_MAX ((vg_usec)253402300799999000LL)

/* A bound of the range as the answer shows it. vg__json_time writes 0 (the epoch, the
 * earliest from) as null, meaning "never" for its other callers; here it is a time. */
static json_t *range_time(vg_usec t)
{
	return t <= 0 ? json_string("1970-01-01T00:00:00.000Z") : vg__json_time(t);
}

/* Nearest rank: the smallest value with at least p of the values at or below it. */
static double rank_seconds(const vg_usec *v, size_t n, double p)
{
	double want = p * (double)n;
	size_t k = (size_t)want;
	if ((double)k < want) /* ceil without libm */
		k++;
	if (k < 1)
		k = 1;
	return (double)v[k - 1] / 1e6;
}

static void transparency(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	const char *qf = vg_http_query(req, "from"), *qt = vg_http_query(req, "to");
	const char *format = vg_http_query(req, "format");
	bool day;
	vg_usec to = vg_time_now(), from;
	if (qt) {
		if (!parse_when(qt, &to, &day)) {
			vg_http_respond_error(req, VG_EINVAL, "to must be YYYY-MM-DD or an RFC 3339 "
							      "time (YYYY-MM-DDTHH:MM:SSZ)");
			return;
		}
		if (day) /* a day named as the end is counted whole */
			to += 86400LL * 1000000;
	}
	if (to > RANGE_END_MAX + 1000) {
		vg_http_respond_error(req, VG_EINVAL, "to must be at most 9999-12-31");
		return;
	}
	if (to > RANGE_END_MAX)
		to = RANGE_END_MAX;
	from = to - 30LL * 86400 * 1000000;
	if (from < 0) /* nothing was reported before 1970 */
		from = 0;
	if (qf && !parse_when(qf, &from, &day)) {
		vg_http_respond_error(req, VG_EINVAL, "from must be YYYY-MM-DD or an RFC 3339 "
							      "time (YYYY-MM-DDTHH:MM:SSZ)");
		return;
	}
	if (format && strcmp(format, "json") && strcmp(format, "csv")) {
		vg_http_respond_error(req, VG_EINVAL, "format must be json or csv");
		return;
	}
	vg_store_figures f;
	vg_error err;
	if (vg_store_figures_get(s, from, to, &f, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	int64_t total = 0;
	json_t *by_cat = json_object(), *by_src = json_object(), *pairs = json_array();
	for (size_t i = 0; i < f.n_reports; i++) {
		const vg_store_count *c = &f.reports[i];
		total += c->n;
		json_object_set_new(by_cat, c->a, json_integer(json_integer_value(json_object_get(by_cat, c->a)) + c->n));
		json_object_set_new(by_src, c->b, json_integer(json_integer_value(json_object_get(by_src, c->b)) + c->n));
		json_array_append_new(pairs, json_pack("{s:s,s:s,s:I}", "category", c->a, "source",
						       c->b, "count", (json_int_t)c->n));
	}
	json_t *actions = json_object();
	for (size_t i = 0; i < f.n_actions; i++)
		json_object_set_new(actions, f.actions[i].a, json_integer(f.actions[i].n));
	json_t *median = f.n_delays ? json_real(rank_seconds(f.first_action_delays, f.n_delays, 0.5))
				    : json_null();
	json_t *p90 = f.n_delays ? json_real(rank_seconds(f.first_action_delays, f.n_delays, 0.9))
				 : json_null();
	json_t *out = json_pack("{s:o,s:o,s:{s:I,s:o,s:o,s:o},s:o,s:{s:I,s:I},s:{s:I,s:o,s:o}}",
				"from", range_time(from), "to", range_time(to), "reports",
				"total", (json_int_t)total, "by_category", by_cat, "by_source",
				by_src, "by_category_source", pairs, "actions", actions, "blocks",
				"placed", (json_int_t)f.blocks_placed, "lifted",
				(json_int_t)f.blocks_lifted, "time_to_first_action", "count",
				(json_int_t)f.n_delays, "median_seconds", median, "p90_seconds", p90);
	vg_store_figures_done(&f);
	if (!format || strcmp(format, "csv") != 0) {
		vg__json_respond(req, 200, out);
		return;
	}
	/* One figure a line: section,name,source,value. Every word is from a fixed list, so
	 * nothing needs quoting. */
	size_t cap = 4096 + 128 * (json_array_size(pairs) + json_object_size(actions)), len = 0;
	char *csv = vg_xcalloc(1, cap);
	len += (size_t)snprintf(csv + len, cap - len, "section,name,source,value\n");
	size_t i;
	json_t *v;
	json_array_foreach(pairs, i, v)
		len += (size_t)snprintf(csv + len, cap - len, "reports,%s,%s,%lld\n",
					json_string_value(json_object_get(v, "category")),
					json_string_value(json_object_get(v, "source")),
					(long long)json_integer_value(json_object_get(v, "count")));
	const char *k;
	json_object_foreach(actions, k, v)
		len += (size_t)snprintf(csv + len, cap - len, "actions,%s,,%lld\n", k,
					(long long)json_integer_value(v));
	json_t *b = json_object_get(out, "blocks"), *t = json_object_get(out, "time_to_first_action");
	len += (size_t)snprintf(csv + len, cap - len, "blocks,placed,,%lld\nblocks,lifted,,%lld\n",
				(long long)json_integer_value(json_object_get(b, "placed")),
				(long long)json_integer_value(json_object_get(b, "lifted")));
	len += (size_t)snprintf(csv + len, cap - len, "time_to_first_action,count,,%lld\n",
				(long long)json_integer_value(json_object_get(t, "count")));
	static const char *const pct[] = {"median_seconds", "p90_seconds"};
	for (int j = 0; j < 2; j++) {
		json_t *x = json_object_get(t, pct[j]);
		if (json_is_real(x))
			len += (size_t)snprintf(csv + len, cap - len, "time_to_first_action,%s,,%.3f\n",
						pct[j], json_real_value(x));
		else
			len += (size_t)snprintf(csv + len, cap - len, "time_to_first_action,%s,,\n",
						pct[j]);
	}
	json_decref(out);
	vg_http_respond(req, 200, "text/csv", csv, len < cap ? len : cap - 1);
	free(csv);
}

const vg__api_route vg__report_routes[] = {
	{"POST", "/v1/reports", VG__ROLE_PUBLIC, false, create},
	{"GET", "/v1/reports/{id}/status", VG__ROLE_PUBLIC, false, status},
	/* image_body: a raw message may exceed max_json_bytes; vg_report_mail_parse bounds it
	 * at VG_REPORT_MAIL_MAX_BYTES (413 above) within max_image_bytes. */
	{"POST", "/v1/reports/email", VG__ROLE_INTAKE, true, create_email},
	{"GET", "/v1/transparency", VG__ROLE_ANALYST, false, transparency},
	{"POST", "/v1/admin/retention/run", VG__ROLE_ADMIN, false, vg__api_retention_run},
};
const size_t vg__report_route_count = VG_ARRAY_LEN(vg__report_routes);

int vg_api_routing_load(const char *path, vg_report_policy *ret, vg_error *err)
{
	vg_report_policy p;
	vg_report_policy_default(&p);
	if (path && *path) {
		uint8_t *text;
		size_t len;
		int rc = vg_file_read(path, 1 << 20, &text, &len, err);
		if (rc)
			return rc;
		rc = vg_report_policy_parse(&p, (const char *)text, len, path, err);
		free(text);
		if (rc)
			return rc;
	}
	*ret = p;
	return 0;
}
