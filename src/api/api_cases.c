/* SPDX-License-Identifier: Apache-2.0
 *
 * Review cases: GET /v1/cases, GET /v1/cases/{id} (with its matches and history) and
 * POST /v1/cases/{id}/decision. Dismissing a case lifts the blocks it caused; confirming
 * keeps them and, for a bank with the authority_report action, queues a report draft in
 * the outbox for a person to check and submit. The draft holds hashes, URL and times,
 * never content.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static json_t *case_json(const vg_store_case *c)
{
	json_t *o = json_pack("{s:I,s:s,s:s,s:I,s:s,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)c->id, "url",
			 c->url ? c->url : "", "bank", c->bank, "bank_id", (json_int_t)c->bank_id, "status",
			 c->status, "decision", vg__json_str(c->decision), "note", vg__json_str(c->note),
			 "created_at", vg__json_time(c->created_at), "updated_at",
			 vg__json_time(c->updated_at), "closed_at", vg__json_time(c->closed_at));
	/* The report lifecycle (migration 0004): status stays open|closed for every case,
	 * stage is the finer state (docs/reports.md). */
	json_object_set_new(o, "kind", json_string(c->kind));
	json_object_set_new(o, "stage", json_string(c->stage));
	json_object_set_new(o, "category", c->category[0] ? json_string(c->category) : json_null());
	json_object_set_new(o, "priority", json_string(c->priority));
	json_object_set_new(o, "assignee", vg__json_str(c->assignee));
	json_object_set_new(o, "first_action_at", vg__json_time(c->first_action_at));
	return o;
}

static void list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	vg__page page;
	if (!s || !vg__api_page(req, &page))
		return;
	/* status: open|closed (coarse) or a stage; category; assignee (a token name). */
	vg_store_case_filter f = {
		.status = vg_http_query(req, "status"),
		.category = vg_http_query(req, "category"),
		.assignee = vg_http_query(req, "assignee"),
	};
	vg_store_case *cs;
	size_t n;
	vg_error err;
	if (vg_store_case_query(s, &f, page.after, page.limit, &cs, &n, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, case_json(&cs[i]));
	vg_store_case_list_free(cs, n);
	vg__api_page_respond(req, arr, page.limit);
}

static int add_event(const vg_store_case_event *e, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:o,s:s,s:s,s:o,s:o}", "at", vg__json_time(e->at), "actor",
					     e->actor, "action", e->action, "note", vg__json_str(e->note),
					     "scan_id", e->scan_id ? json_integer(e->scan_id) : json_null()));
	return 0;
}

static int add_scan(const vg_store_scan *sc, int64_t scan_id, void *ctx)
{
	json_t *matches = sc->matches ? json_loads(sc->matches, 0, NULL) : NULL;
	json_array_append_new(ctx, json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:i,s:o}", "scan_id",
					     (json_int_t)scan_id, "at", vg__json_time(sc->at), "url",
					     vg__json_str(sc->url), "pdq", vg__json_str(sc->pdq), "md5",
					     vg__json_str(sc->md5), "sha256", vg__json_str(sc->sha256),
					     "quality", sc->quality, "matches",
					     matches ? matches : json_array()));
	return 0;
}

static json_t *full_case(vg_store *s, int64_t id, vg_error *err)
{
	vg_store_case c;
	if (vg_store_case_get(s, id, &c, err) != 0)
		return NULL;
	json_t *out = case_json(&c);
	vg_store_case_done(&c);
	json_t *hist = json_array(), *scans = json_array();
	if (vg_store_case_history(s, id, add_event, hist, err) != 0 ||
	    vg_store_case_scans(s, id, add_scan, scans, err) != 0) {
		json_decref(out);
		json_decref(hist);
		json_decref(scans);
		return NULL;
	}
	json_object_set_new(out, "history", hist);
	json_object_set_new(out, "matches", scans);
	return out;
}

static void get(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	vg_error err;
	json_t *out = full_case(s, id, &err);
	if (!out)
		vg__respond_err(req, &err);
	else
		vg__json_respond(req, 200, out);
}

/* The authority report draft: what a person needs to file it, never content. */
static int queue_report(vg_store *s, int64_t case_id, const vg_store_bank *b, const char *note,
			const char *actor, vg_error *err)
{
	json_t *c = full_case(s, case_id, err);
	if (!c)
		return err->code;
	json_t *draft = json_pack("{s:s,s:I,s:s,s:O,s:O,s:o,s:s,s:o}", "kind", "authority_report",
				  "case_id", (json_int_t)case_id, "bank", b->name, "url",
				  json_object_get(c, "url"), "matches", json_object_get(c, "matches"),
				  "reviewer_note", vg__json_str(note), "reviewed_by", actor,
				  "prepared_at", vg__json_time(vg_time_now()));
	json_decref(c);
	char *text = json_dumps(draft, JSON_COMPACT);
	json_decref(draft);
	char key[32];
	snprintf(key, sizeof(key), "case-%lld-report", (long long)case_id);
	int64_t oid;
	/* No delivery target: a person files the draft (action.h). */
	int rc = vg_store_outbox_enqueue(s, "authority_report", "draft", text, NULL, key, vg_time_now(), &oid, err);
	free(text);
	return rc;
}

static void decide(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	const char *decision = json_string_value(json_object_get(body, "decision"));
	json_t *jnote = json_object_get(body, "note");
	const char *note = json_string_value(jnote);
	if (!decision || (strcmp(decision, "confirm") && strcmp(decision, "dismiss"))) {
		json_decref(body);
		vg_http_respond_error(req, VG_EINVAL, "decision must be confirm or dismiss");
		return;
	}
	if ((jnote && !json_is_null(jnote) && !note) || (note && strlen(note) > 4000)) {
		json_decref(body);
		vg_http_respond_error(req, VG_EINVAL, "note must be a string of at most 4000 bytes");
		return;
	}
	vg_error err;
	int64_t *lifted = NULL;
	size_t nlifted = 0;
	vg_store_case c = {0};
	bool have_case = false;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_case_decide(s, id, decision, note, who->name, &err);
	if (!rc)
		rc = vg_store_case_get(s, id, &c, &err);
	have_case = rc == 0;
	if (!rc && !strcmp(decision, "dismiss"))
		rc = vg_store_block_lift_by_case(s, id, who->name, &lifted, &nlifted, &err);
	if (!rc && !strcmp(decision, "confirm") && c.bank_id) {
		vg_store_bank b;
		int brc = vg_store_bank_get(s, c.bank, &b, &err);
		int mask = 0;
		if (brc == 0 && vg__api_actions_parse(b.actions, &mask) == 0 && (mask & 8))
			rc = queue_report(s, id, &b, note, who->name, &err);
		if (brc == 0)
			vg_store_bank_done(&b);
	}
	if (!rc) {
		char sid[24];
		snprintf(sid, sizeof(sid), "%lld", (long long)id);
		json_t *d = json_pack("{s:s,s:i}", "decision", decision, "blocks_lifted", (int)nlifted);
		rc = vg__api_audit(api, s, who->name, "case.decide", "case", sid, d, &err);
		json_decref(d);
	}
	if (!rc)
		rc = vg_store_commit(s, &err);
	else
		vg_store_rollback(s);
	json_decref(body);
	if (have_case)
		vg_store_case_done(&c);
	if (rc) {
		free(lifted);
		vg__respond_err(req, &err);
		return;
	}
	for (size_t i = 0; i < nlifted; i++)
		vg__blocklist_remove_id(api->blocks, lifted[i]);
	free(lifted);
	json_t *out = full_case(s, id, &err);
	if (!out) {
		vg__respond_err(req, &err);
		return;
	}
	json_object_set_new(out, "blocks_lifted", json_integer((json_int_t)nlifted));
	vg__json_respond(req, 200, out);
}

const vg__api_route vg__case_routes[] = {
	{"GET", "/v1/cases", VG__ROLE_ANALYST, false, list},
	{"GET", "/v1/cases/{id}", VG__ROLE_ANALYST, false, get},
	{"POST", "/v1/cases/{id}/decision", VG__ROLE_ANALYST, false, decide},
};
const size_t vg__case_route_count = VG_ARRAY_LEN(vg__case_routes);
