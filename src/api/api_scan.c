/* SPDX-License-Identifier: Apache-2.0
 *
 * The scanning flow and its results: POST /v1/scan (hash an image served at a URL, match
 * it, carry out each matched bank's actions), GET /v1/decision (the edge's question:
 * may I serve this URL?), GET /v1/blocks and DELETE /v1/blocks/{id}.
 *
 * Invariant: everything a scan decides (the scan record with the verdict it answers,
 * blocks, cases, outbox items, audit entries) is written in one store transaction; only
 * after it commits does the in-memory block list change and the outbox worker wake. A
 * 2xx therefore means all of it is durable, and a crash before the commit leaves none of
 * it.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

/* What a bank's `actions` array asks for. */
enum { ACT_BLOCK = 1, ACT_CASE = 2, ACT_WEBHOOK = 4, ACT_AUTHORITY = 8 };

int vg__api_actions_parse(const char *json, int *ret)
{
	json_t *arr = json ? json_loads(json, 0, NULL) : NULL;
	int mask = 0;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return VG_EINVAL;
	}
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *a = json_string_value(v);
		if (!a) {
			json_decref(arr);
			return VG_EINVAL;
		}
		if (!strcmp(a, "block_url"))
			mask |= ACT_BLOCK;
		else if (!strcmp(a, "open_case"))
			mask |= ACT_CASE;
		else if (!strcmp(a, "webhook"))
			mask |= ACT_WEBHOOK;
		else if (!strcmp(a, "authority_report"))
			mask |= ACT_AUTHORITY;
		else {
			json_decref(arr);
			return VG_EINVAL;
		}
	}
	json_decref(arr);
	*ret = mask;
	return 0;
}

/* Canonicalises the url query argument; answers 422 and returns false when it is bad. */
bool vg__api_url_arg(vg_http_req *req, const char *name, char *out, size_t size, bool required)
{
	const char *u = vg_http_query(req, name);
	if (!u || !*u) {
		if (required)
			vg_http_respond_error(req, VG_EINVAL, "the %s query argument is required", name);
		else
			out[0] = '\0';
		return !required;
	}
	vg_error err;
	if (vg_url_canonicalize(u, strlen(u), out, size, &err) != 0) {
		vg_http_respond_error(req, VG_EINVAL, "%s is not a usable URL: %s", name, err.msg);
		return false;
	}
	return true;
}

static void key_for(const char *what, int64_t a, int64_t b, char out[65])
{
	char text[128];
	uint8_t d[32];
	unsigned n = 0;
	int len = snprintf(text, sizeof(text), "%s:%lld:%lld", what, (long long)a, (long long)b);
	EVP_Digest(text, (size_t)len, d, &n, EVP_sha256(), NULL);
	vg_hex_encode(d, 32, out);
}

struct pending_block {
	int64_t id;
	vg_usec since; /* the store's created_at, so a restart answers the same `since` */
	char reason[160];
};

/* A bank that blocks without review (no open_case) matched a URL whose block a case owns
 * (a review bank matched first): the block becomes this bank's, so that dismissing that
 * case as a false positive does not unblock content this bank still lists. The trail
 * names the case the block left. */
static int claim_block(vg_api *api, vg_store *s, const char *actor, int64_t block_id,
		       const vg_store_bank *b, const char *reason, struct pending_block *blocks,
		       size_t *nblocks, vg_error *err)
{
	int64_t from = 0;
	int rc = vg_store_block_claim(s, block_id, b->id, reason, &from, err);
	if (rc || !from)
		return rc;
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)block_id);
	json_t *d = json_pack("{s:I,s:s}", "from_case_id", (json_int_t)from, "to_bank", b->name);
	rc = vg__api_audit(api, s, actor, "block.hand_over", "block", id, d, err);
	json_decref(d);
	vg_store_block sb;
	if (!rc && (rc = vg_store_block_get(s, block_id, &sb, err)) == 0) {
		blocks[*nblocks].id = block_id;
		blocks[*nblocks].since = sb.created_at;
		snprintf(blocks[*nblocks].reason, sizeof(blocks[0].reason), "%s", reason);
		(*nblocks)++;
		vg_store_block_done(&sb);
	}
	return rc;
}

/* Keeps in payload's matches those of bank only. A bank's webhook goes to whoever runs
 * that bank's receiver, often a partner; the other banks' matches (their names, stored
 * hashes and metadata) are the operator's, and may be confidential. */
static void only_bank_matches(json_t *payload, const char *bank)
{
	json_t *all = json_object_get(payload, "matches"), *mine = json_array(), *m;
	size_t i;
	json_array_foreach(all, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "bank"));
		if (name && strcmp(name, bank) == 0)
			json_array_append(mine, m);
	}
	json_object_set_new(payload, "matches", mine);
}

/* The matched banks' actions, inside the caller's transaction. Appends what was done to
 * `done` and the blocks to apply to memory after the commit. */
static int act(vg_api *api, vg_store *s, const char *actor, const char *url, int64_t scan_id,
	       const vg_bank_matches *m, json_t *scan_json, json_t *done,
	       struct pending_block *blocks, size_t *nblocks, bool *ret_block, vg_error *err)
{
	for (size_t i = 0; i < m->n; i++) {
		/* Each bank once, at its first (closest) match. */
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = m->v[j].bank_id == m->v[i].bank_id;
		if (seen)
			continue;
		vg_store_bank b;
		int rc = vg_store_bank_get(s, m->v[i].bank, &b, err);
		if (rc == VG_ENOENT)
			continue; /* deleted since the index was read */
		if (rc)
			return rc;
		if (!b.enabled) { /* disabled since (by another process: the index follows) */
			vg_store_bank_done(&b);
			continue;
		}
		int mask = 0;
		if (vg__api_actions_parse(b.actions, &mask) != 0)
			mask = 0;
		int64_t case_id = 0;
		if ((mask & ACT_CASE) && !rc) {
			bool created = false;
			rc = vg_store_case_open_or_attach(s, url, b.id, scan_id, actor, &case_id, &created, err);
			if (!rc && created) {
				char id[24];
				snprintf(id, sizeof(id), "%lld", (long long)case_id);
				rc = vg_store_audit_append(s, actor, "case.open", "case", id, NULL, NULL, err);
			}
			if (!rc)
				json_array_append_new(done, json_pack("{s:s,s:I,s:b,s:s}", "type", "open_case",
								      "case_id", (json_int_t)case_id,
								      "created", created, "bank", b.name));
		}
		if ((mask & ACT_BLOCK) && url[0] && !rc) {
			char reason[160];
			snprintf(reason, sizeof(reason), "matched bank %s (signal %lld, distance %d)",
				 b.name, (long long)m->v[i].signal_id, m->v[i].distance);
			int64_t block_id = 0;
			bool created = false;
			rc = vg_store_block_add(s, url, reason, b.id, case_id, actor, &block_id, &created, err);
			if (!rc && created) {
				char id[24];
				snprintf(id, sizeof(id), "%lld", (long long)block_id);
				json_t *d = json_pack("{s:s,s:s}", "url", url, "bank", b.name);
				char *dt = json_dumps(d, JSON_COMPACT);
				rc = vg_store_audit_append(s, actor, "block.create", "block", id, dt, NULL, err);
				free(dt);
				json_decref(d);
				vg_store_block sb;
				if (!rc)
					rc = vg_store_block_get(s, block_id, &sb, err);
				if (!rc) {
					blocks[*nblocks].id = block_id;
					blocks[*nblocks].since = sb.created_at;
					snprintf(blocks[*nblocks].reason, sizeof(blocks[0].reason), "%s", reason);
					(*nblocks)++;
					vg_store_block_done(&sb);
				}
			}
			if (!rc && !created && !(mask & ACT_CASE))
				rc = claim_block(api, s, actor, block_id, &b, reason, blocks,
						 nblocks, err);
			if (!rc) {
				*ret_block = true;
				json_array_append_new(done, json_pack("{s:s,s:I,s:b,s:s}", "type", "block_url",
								      "block_id", (json_int_t)block_id,
								      "created", created, "bank", b.name));
			}
		}
		if ((mask & ACT_WEBHOOK) && b.webhook_url && b.webhook_url[0] && !rc) {
			json_t *payload = json_deep_copy(scan_json);
			only_bank_matches(payload, b.name);
			json_object_set_new(payload, "event", json_string("match"));
			json_object_set_new(payload, "bank", json_string(b.name));
			json_object_set_new(payload, "scan_id", json_integer(scan_id));
			if (case_id)
				json_object_set_new(payload, "case_id", json_integer(case_id));
			char *text = json_dumps(payload, JSON_COMPACT);
			json_decref(payload);
			char key[65];
			key_for("scan", scan_id, b.id, key);
			int64_t oid = 0;
			rc = vg_store_outbox_enqueue(s, "webhook", b.webhook_url, text, b.webhook_secret, key,
						     vg_time_now(), &oid, err);
			free(text);
			if (!rc)
				json_array_append_new(done, json_pack("{s:s,s:I,s:s}", "type", "webhook",
								      "outbox_id", (json_int_t)oid, "bank",
								      b.name));
		}
		vg_store_bank_done(&b);
		if (rc)
			return rc;
	}
	return 0;
}

/* Whether url is on the block list already (an earlier scan, a rule, a report, a
 * person): then this scan's verdict is block too, whatever its own banks do. */
static bool blocked_already(vg_api *api, const char *url)
{
	int64_t id;
	char reason[16];
	vg_usec since;
	return vg__blocklist_get(api->blocks, url, &id, reason, 1, &since);
}

static void scan(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	char url[VG_URL_MAX + 1];
	if (!vg__api_url_arg(req, "url", url, sizeof(url), true))
		return;
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	vg_image_result img;
	vg_digests dig;
	if (!vg__api_hash_body(req, false, &img, &dig))
		return;

	vg_bank_matches m;
	vg_bank_matches_init(&m);
	m.limit = 1000;
	vg_error err;
	json_t *out = NULL, *done = json_array();
	struct pending_block blocks[64];
	size_t nblocks = 0;
	bool block = false;
	int rc = vg__api_match_image(api, s, &img, &dig, (int)VG__CFG(api, threshold), false, NULL, 0, &m, &err);
	if (rc)
		goto fail;
	out = vg__api_hashes_json(&img, &dig);
	json_object_set_new(out, "url", json_string(url));
	json_object_set_new(out, "low_quality", json_boolean(img.quality < VG__CFG(api, quality_floor)));
	json_object_set_new(out, "matches", vg_bank_matches_json(&m));
	json_object_set_new(out, "truncated", json_boolean(m.truncated));
	if (m.n) {
		/* Record and act, all or nothing. */
		char pdq[VG_PDQ_HEX_LEN + 1], md5[33], sha[65];
		vg_pdq_to_hex(&img.pdq[0], pdq);
		vg_hex_encode(dig.md5, 16, md5);
		vg_hex_encode(dig.sha256, 32, sha);
		char *matches = json_dumps(json_object_get(out, "matches"), JSON_COMPACT);
		rc = vg_store_begin(s, &err);
		if (rc) {
			free(matches);
			goto fail;
		}
		/* Recorded first, since its actions name it; its verdict is known once they
		 * have run, and set before the commit. */
		vg_store_scan rec = {.actor = who->name, .url = url, .pdq = pdq, .md5 = md5, .sha256 = sha,
				     .quality = img.quality, .verdict = "allow", .matches = matches};
		int64_t scan_id = 0;
		rc = vg_store_scan_record(s, &rec, &scan_id, &err);
		if (!rc)
			rc = act(api, s, who->name, url, scan_id, &m, out, done, blocks, &nblocks, &block, &err);
		if (!rc && !block)
			block = blocked_already(api, url);
		if (!rc && block)
			rc = vg_store_scan_set_verdict(s, scan_id, "block", &err);
		if (!rc) {
			char id[24];
			snprintf(id, sizeof(id), "%lld", (long long)scan_id);
			rc = vg_store_audit_append(s, who->name, "scan.match", "scan", id, NULL, NULL, &err);
		}
		free(matches);
		rc = vg__api_finish(s, rc, &err);
		if (rc)
			goto fail;
		json_object_set_new(out, "scan_id", json_integer(scan_id));
		for (size_t i = 0; i < nblocks; i++)
			vg__blocklist_put(api->blocks, url, blocks[i].id, blocks[i].reason, blocks[i].since);
		vg__api_outbox_kick(api);
	}
	if (!block)
		block = blocked_already(api, url);
	json_object_set_new(out, "verdict", json_string(block ? "block" : "allow"));
	json_object_set_new(out, "actions", done);
	done = NULL;
	vg__json_respond(req, 200, out);
	out = NULL;
fail:
	if (rc)
		vg__respond_err(req, &err);
	json_decref(out);
	json_decref(done);
	vg_bank_matches_done(&m);
}

/* The edge asks this for every URL it serves, so the answer is written with snprintf
 * rather than built as a jansson tree: no allocation on the allow path. */
static void decision(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	static const char allow[] = "{\"action\":\"allow\"}\n";
	char url[VG_URL_MAX + 1];
	if (!vg__api_url_arg(req, "url", url, sizeof(url), true))
		return;
	int64_t id;
	char reason[512];
	vg_usec since;
	if (!vg__blocklist_get(api->blocks, url, &id, reason, sizeof(reason), &since)) {
		vg_http_respond(req, 200, "application/json", allow, sizeof(allow) - 1);
		return;
	}
	json_t *t = vg__json_time(since);
	char qreason[6 * sizeof(reason) + 3], qurl[6 * sizeof(url) + 3], body[sizeof(qreason) + sizeof(qurl) + 160];
	vg_json_quote(reason, strlen(reason), qreason, sizeof(qreason));
	vg_json_quote(url, strlen(url), qurl, sizeof(qurl));
	int n = snprintf(body, sizeof(body),
			 "{\"action\":\"block\",\"reason\":%s,\"block_id\":%lld,\"since\":\"%s\",\"url\":%s}\n",
			 qreason, (long long)id, json_string_value(t) ? json_string_value(t) : "", qurl);
	json_decref(t);
	vg_http_respond(req, 451, "application/json", body, (size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

json_t *vg__api_block_json(const vg_store_block *b)
{
	return json_pack("{s:I,s:s,s:s,s:I,s:I,s:o,s:o,s:s,s:o,s:b}", "id", (json_int_t)b->id, "url", b->url,
			 "reason", b->reason ? b->reason : "", "bank_id", (json_int_t)b->bank_id, "case_id",
			 (json_int_t)b->case_id, "created_at", vg__json_time(b->created_at), "lifted_at",
			 vg__json_time(b->lifted_at), "created_by", b->created_by ? b->created_by : "",
			 "lifted_by", vg__json_str(b->lifted_by), "active", b->lifted_at == 0);
}

static int add_block_json(const vg_store_block *b, void *ctx)
{
	json_array_append_new(ctx, vg__api_block_json(b));
	return 0;
}

static void blocks_list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	vg__page page;
	if (!s || !vg__api_page(req, &page))
		return;
	const char *active = vg_http_query(req, "active");
	bool active_only = !active || strcmp(active, "false") != 0;
	json_t *arr = json_array();
	vg_error err;
	if (vg_store_block_each(s, active_only, page.after, page.limit, add_block_json, arr, &err) != 0) {
		json_decref(arr);
		vg__respond_err(req, &err);
		return;
	}
	vg__api_page_respond(req, arr, page.limit);
}

static void block_delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_block_lift(s, id, who->name, &err);
	if (!rc) {
		char sid[24];
		snprintf(sid, sizeof(sid), "%lld", (long long)id);
		rc = vg_store_audit_append(s, who->name, "block.lift", "block", sid, NULL, NULL, &err);
	}
	rc = vg__api_finish(s, rc, &err);
	if (rc) {
		vg__respond_err(req, &err);
		return;
	}
	vg__blocklist_remove_id(api->blocks, id);
	vg_store_block b;
	if (vg_store_block_get(s, id, &b, &err) == 0) {
		vg__json_respond(req, 200, vg__api_block_json(&b));
		vg_store_block_done(&b);
	} else {
		vg__json_respond(req, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "active", 0));
	}
}

const vg__api_route vg__scan_routes[] = {
	{"POST", "/v1/scan", VG__ROLE_SCANNER, true, scan},
	{"GET", "/v1/decision", VG__ROLE_SCANNER | VG__ROLE_ANALYST, false, decision},
	{"GET", "/v1/blocks", VG__ROLE_ANALYST, false, blocks_list},
	{"DELETE", "/v1/blocks/{id}", VG__ROLE_ANALYST, false, block_delete},
};
const size_t vg__scan_route_count = VG_ARRAY_LEN(vg__scan_routes);
