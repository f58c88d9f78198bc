/* SPDX-License-Identifier: Apache-2.0
 *
 * Review cases: GET /v1/cases, GET /v1/cases/{id} (with its matches and history),
 * POST /v1/cases/{id}/assign and POST /v1/cases/{id}/decision. A scan case is decided
 * once: dismissing lifts the blocks it caused; confirming keeps them and, for a bank with
 * the authority_report action, queues a report draft in the outbox for a person to check
 * and submit. A report case moves through stages (new -> triaged -> actioned -> closed, or
 * rejected) by the decisions block_url, notify, escalate, reject and close.
 *
 * Invariants: every change and what it causes (blocks, outbox items, history, audit) is
 * one transaction, and in-memory blocks change only after its commit; nothing here ever
 * sends a reporter's name or email, or anything to the site owner of a csam, ncii or
 * terrorism case.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

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
	json_array_append_new(ctx, json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:o}", "scan_id",
					     (json_int_t)scan_id, "at", vg__json_time(sc->at), "url",
					     vg__json_str(sc->url), "pdq", vg__json_str(sc->pdq), "md5",
					     vg__json_str(sc->md5), "sha256", vg__json_str(sc->sha256),
					     "quality", sc->quality, "verdict", vg__json_str(sc->verdict),
					     "matches", matches ? matches : json_array()));
	return 0;
}

/* A report case's reports, for its reviewer: what was reported (description, evidence,
 * source IP, incident time), how and by whom (the reporter as stored: nothing once
 * erased; never the client address). Without them a reviewer decided blind. The matches
 * found at intake are in the history (evidence_matched). At most CASE_REPORTS_MAX, the
 * oldest; reports_truncated says when there were more. */
#define CASE_REPORTS_MAX 100

struct report_acc {
	vg_store *s;
	json_t *arr;
	bool truncated;
	vg_error *err;
};

static int add_hash(const char *type, const char *hex, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:s,s:s}", "type", type, "value", hex));
	return 0;
}

static int add_report(const vg_store_report *r, void *ctx)
{
	struct report_acc *a = ctx;
	if (json_array_size(a->arr) >= CASE_REPORTS_MAX) {
		a->truncated = true;
		return 1; /* stops the walk; not an error */
	}
	json_t *ev = json_array();
	int rc = vg_store_report_evidence(a->s, r->id, add_hash, ev, a->err);
	if (rc) {
		json_decref(ev);
		return rc;
	}
	json_t *who = r->reporter_name || r->reporter_email
			      ? json_pack("{s:o,s:o}", "name", vg__json_str(r->reporter_name),
					  "email", vg__json_str(r->reporter_email))
			      : json_null();
	json_t *o =
		json_pack("{s:I,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:s,s:s},s:o,s:o,s:o}", "id",
			  (json_int_t)r->id, "category", r->category, "source", r->source, "kind",
			  r->kind, "received_at", vg__json_time(r->created_at), "description",
			  vg__json_str(r->description), "evidence", ev, "source_ip",
			  r->source_ip[0] ? json_string(r->source_ip) : json_null(), "jurisdiction",
			  r->jurisdiction[0] ? json_string(r->jurisdiction) : json_null(),
			  "incident_at", vg__json_time(r->incident_at), "share", "owner",
			  r->share_owner, "host", r->share_host, "reporter", who, "message_id",
			  vg__json_str(r->message_id), "erased_at", vg__json_time(r->erased_at));
	if (!o)
		return vg_error_set(a->err, VG_ENOMEM, "out of memory");
	json_array_append_new(a->arr, o);
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
	if (!strcmp(json_string_value(json_object_get(out, "kind")), "report")) {
		struct report_acc a = {s, json_array(), false, err};
		int rc = vg_store_case_reports(s, id, add_report, &a, err);
		if (rc < 0) {
			json_decref(a.arr);
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, "reports", a.arr);
		json_object_set_new(out, "reports_truncated", json_boolean(a.truncated));
	}
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

/* ---- report-case decisions -------------------------------------------------------------
 * A report case is decided in steps rather than once: block_url and notify act (stage
 * actioned, still open, so both can follow each other), escalate raises the priority,
 * reject closes an unfounded case (lifting any block it caused, as dismiss does), close
 * ends an actioned one. Each step is one transaction: the stage change and its history
 * event, the blocks or outbox items it causes, and its audit entry. */

static bool restricted(const char *category)
{
	return !strcmp(category, "csam") || !strcmp(category, "ncii") ||
	       !strcmp(category, "terrorism");
}

/* One notification of a reviewed case to one party of its zone: the case's URL and
 * category only, never the description or who reported it (a case gathers several
 * reports, each with its own consent; the per-report forwards went at intake). Once per
 * party and contact: a party told by an earlier notify at the same contact is skipped,
 * so a second notify reaches only a party whose contact was added or changed since (the
 * key, with the contact's tag, makes a repeat a no-op in the outbox too). *ret_reachable
 * is set when the party has a contact. */
static int case_notify_party(vg_store *s, const vg_store_case *c, const vg_store_zone *z,
			     const char *party, const char *email, const char *webhook,
			     const char *secret, const char *actor, json_t *done,
			     bool *ret_reachable, vg_error *err)
{
	const char *target = webhook && webhook[0] ? webhook : email;
	if (!target || !target[0])
		return 0;
	*ret_reachable = true;
	char tag[17], note[48];
	vg__api_target_tag(target, tag);
	bool told = false;
	int rc = vg__api_case_told(s, c->id, party, tag, &told, err);
	if (rc || told)
		return rc;
	const char *kind = webhook && webhook[0] ? "webhook" : "email";
	json_t *p = json_pack("{s:s,s:I,s:s,s:s,s:s,s:[s]}", "event", "abuse_report.notify",
			      "case_id", (json_int_t)c->id, "category", c->category, "zone",
			      z->name, "party", party, "urls", c->url);
	char *text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	char key[65];
	snprintf(key, sizeof(key), "case-%lld-notify-%s-%s", (long long)c->id, party, tag);
	int64_t oid = 0;
	rc = vg_store_outbox_enqueue(s, kind, target, text, webhook && webhook[0] ? secret : NULL,
				     key, vg_time_now(), &oid, err);
	free(text);
	/* Told: neither a report joining the case later nor another notify tells this
	 * party at this contact again. */
	snprintf(note, sizeof(note), "%s review %s", party, tag);
	if (!rc)
		rc = vg_store_case_note(s, c->id, actor, "notified", note, err);
	if (!rc)
		json_array_append_new(done, json_pack("{s:s,s:s,s:s,s:I}", "type", kind, "party", party,
						      "zone", z->name, "outbox_id", (json_int_t)oid));
	return rc;
}

static int decided_before(vg_store *s, int64_t id, const char *decision, bool *ret, vg_error *err);

/* notify: the parties the category's policy names; for csam, ncii and terrorism (held at
 * intake until a person reviewed the case) the host only: the site owner may be the
 * abuser, and the host can act without warning them. */
static int case_notify(vg_api *api, vg_store *s, const vg_store_case *c, const char *actor,
		       json_t *done, vg_error *err)
{
	vg_store_zone z;
	int rc = vg__api_zone_resolve(s, c->url, &z, err);
	if (rc == VG_ENOENT)
		return vg_error_set(err, VG_EEXIST, "the case's URL is on no zone: nobody to notify");
	if (rc)
		return rc;
	bool owner = false, host = true;
	if (!restricted(c->category)) {
		vg_report_category cat;
		if (vg_report_category_parse(c->category, &cat) == 0) {
			unsigned a = api->routing.rules[cat].actions;
			owner = a & (VG_REPORT_ACT_NOTIFY_OWNER | VG_REPORT_ACT_FORWARD_OWNER);
			host = a & (VG_REPORT_ACT_NOTIFY_HOST | VG_REPORT_ACT_FORWARD_HOST);
		}
	}
	/* A case notified before "notified" events were kept (its history has a notify but
	 * no reviewer's notified event): its parties count as told, as they were then. */
	bool before = false, owner_told = false, host_told = false, reachable = false;
	rc = decided_before(s, c->id, "notify", &before, err);
	if (!rc && before)
		rc = vg__api_case_told(s, c->id, "owner", "", &owner_told, err);
	if (!rc && before)
		rc = vg__api_case_told(s, c->id, "host", "", &host_told, err);
	if (!rc && before && !owner_told && !host_told)
		rc = vg_error_set(err, VG_EEXIST,
				  "the case's parties were notified already; nothing to do");
	if (!rc && owner)
		rc = case_notify_party(s, c, &z, "owner", z.owner_email, z.owner_webhook_url,
				       z.owner_webhook_secret, actor, done, &reachable, err);
	if (!rc && host)
		rc = case_notify_party(s, c, &z, "host", z.host_email, z.host_webhook_url,
				       z.host_webhook_secret, actor, done, &reachable, err);
	if (!rc && json_array_size(done) == 0)
		rc = vg_error_set(err, VG_EEXIST,
				  reachable ? "the case's parties were notified already at their "
					      "current contacts; nothing to do"
					    : "the zone has no contact to notify");
	vg_store_zone_done(&z);
	return rc;
}

/* block_url: the case's URL, as /v1/scan's block_url does; the block goes into memory
 * after the commit (*ret_block_id 0 when the URL was blocked already). */
static int case_block(vg_store *s, const vg_store_case *c, const char *actor,
		      int64_t *ret_block_id, int64_t *ret_joined, vg_error *err)
{
	if (!c->url || !c->url[0])
		return vg_error_set(err, VG_EEXIST, "the case has no URL to block");
	char reason[96];
	snprintf(reason, sizeof(reason), "%s report reviewed (case %lld)", c->category,
		 (long long)c->id);
	int64_t bid = 0;
	bool created = false;
	int rc = vg_store_block_add(s, c->url, reason, 0, c->id, actor, &bid, &created, err);
	if (!rc && created) {
		char sid[24];
		snprintf(sid, sizeof(sid), "%lld", (long long)bid);
		json_t *d = json_pack("{s:s,s:I}", "url", c->url, "case_id", (json_int_t)c->id);
		char *dt = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(d);
		rc = vg_store_audit_append(s, actor, "block.create", "block", sid, dt, NULL, err);
		free(dt);
	}
	*ret_block_id = created ? bid : 0;
	*ret_joined = created ? 0 : bid;
	return rc;
}

struct seen_event {
	const char *action;
	bool found;
};

/* Before case c's blocks are lifted: those another case relies on pass to it
 * (vg_store_block_hand_over), each with an audit entry naming both cases, so the trail
 * shows why a block outlived the case that placed it. */
static int hand_over(vg_api *api, vg_store *s, int64_t case_id, const char *actor,
		     vg_store_block_handover **ret, size_t *ret_n, vg_error *err)
{
	vg_store_block_handover *h = NULL;
	size_t n = 0;
	int rc = vg_store_block_hand_over(s, case_id, &h, &n, err);
	for (size_t i = 0; i < n && !rc; i++) {
		char sid[24];
		snprintf(sid, sizeof(sid), "%lld", (long long)h[i].block_id);
		json_t *d = json_pack("{s:I,s:I}", "from_case_id", (json_int_t)case_id,
				      "to_case_id", (json_int_t)h[i].to_case_id);
		rc = vg__api_audit(api, s, actor, "block.hand_over", "block", sid, d, err);
		json_decref(d);
	}
	if (rc) {
		free(h);
		return rc;
	}
	*ret = h;
	*ret_n = n;
	return 0;
}

/* After the commit: a block handed over keeps answering 451, with its new reason. */
static void hand_over_done(vg_api *api, vg_store *s, vg_store_block_handover *h, size_t n)
{
	vg_error err;
	for (size_t i = 0; i < n; i++) {
		vg_store_block b;
		if (vg_store_block_get(s, h[i].block_id, &b, &err) == 0) {
			if (!b.lifted_at)
				vg__blocklist_put(api->blocks, b.url, b.id, b.reason ? b.reason : "",
						  b.created_at);
			vg_store_block_done(&b);
		}
	}
	free(h);
}

static int has_event(const vg_store_case_event *e, void *ctx)
{
	struct seen_event *q = ctx;
	q->found = q->found || strcmp(e->action, q->action) == 0;
	return 0;
}

/* Whether the case's history already holds decision. */
static int decided_before(vg_store *s, int64_t id, const char *decision, bool *ret,
			  vg_error *err)
{
	struct seen_event q = {decision, false};
	int rc = vg_store_case_history(s, id, has_event, &q, err);
	if (!rc)
		*ret = q.found;
	return rc;
}

/* A block_url that would change nothing is refused (409) rather than recorded: counted
 * again, it would make the transparency figures claim actions nobody took (two blocks
 * counted, one placed). It is a repeat only while the URL is still blocked (a block
 * lifted by hand may be placed again). notify is refused alike by case_notify when it
 * would queue nothing. Called under the write lock, after case_block. */
static int refuse_repeat(vg_store *s, const vg_store_case *c, const char *decision,
			 int64_t block_id, vg_error *err)
{
	bool before = false;
	if (strcmp(decision, "block_url"))
		return 0; /* notify: case_notify queues only what is new */
	if (!strcmp(decision, "block_url") && block_id)
		return 0; /* placed a block now: an action */
	int rc = decided_before(s, c->id, decision, &before, err);
	if (rc || !before)
		return rc;
	return vg_error_set(err, VG_EEXIST, "the case's URL is blocked already; nothing to do");
}

static const char *priority_up(const char *p)
{
	return !strcmp(p, "low") ? "normal" : "high";
}

/* The stage (and priority) decision moves case c to, if the lifecycle allows it: what was
 * acted on is closed, not rejected; what was not acted on is rejected, not closed.
 * VG_EEXIST (409) otherwise. *ret_stage may point into c. */
static int report_next(const vg_store_case *c, const char *decision, const char **ret_stage,
		       const char **ret_priority, vg_error *err)
{
	bool actioned = strcmp(c->stage, "actioned") == 0;
	if (strcmp(c->status, "open") != 0)
		return vg_error_set(err, VG_EEXIST, "the case is closed");
	if (!strcmp(decision, "close") && !actioned)
		return vg_error_set(err, VG_EEXIST, "only an actioned case can be closed; reject it");
	if (!strcmp(decision, "reject") && actioned)
		return vg_error_set(err, VG_EEXIST, "an actioned case is closed, not rejected");
	*ret_priority = NULL;
	if (!strcmp(decision, "block_url") || !strcmp(decision, "notify")) {
		*ret_stage = "actioned";
	} else if (!strcmp(decision, "escalate")) {
		/* Nothing to raise: recorded, it would count an escalation nobody made (every
		 * csam, ncii and terrorism case starts high). */
		if (!strcmp(c->priority, "high"))
			return vg_error_set(err, VG_EEXIST,
					    "the case's priority is high already; nothing to do");
		*ret_stage = strcmp(c->stage, "new") == 0 ? "triaged" : c->stage;
		*ret_priority = priority_up(c->priority);
	} else {
		*ret_stage = !strcmp(decision, "reject") ? "rejected" : "closed";
	}
	return 0;
}

/* A decision on report case id. The case is read again under the write lock, and the
 * lifecycle checked on that copy (and once more by vg_store_case_transition's UPDATE):
 * checked on a copy read before the transaction, a reject and a block_url arriving
 * together could both pass and leave a blocked case rejected. */
static void report_decide(vg_api *api, vg_http_req *req, vg_store *s, int64_t id,
			  const char *decision, const char *note, const vg__actor *who)
{
	vg_error err;
	const char *stage = NULL, *priority = NULL;
	if (strcmp(decision, "block_url") && strcmp(decision, "notify") &&
	    strcmp(decision, "escalate") && strcmp(decision, "reject") && strcmp(decision, "close")) {
		vg_http_respond_error(req, VG_EINVAL, "a report case's decision must be block_url, "
						      "notify, reject, escalate or close");
		return;
	}
	json_t *done = json_array();
	int64_t block_id = 0, joined = 0, *lifted = NULL;
	size_t nlifted = 0, nhanded = 0;
	vg_store_block_handover *handed = NULL;
	vg_store_case cur;
	const vg_store_case *c = &cur;
	bool have_case = false;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		have_case = (rc = vg_store_case_get(s, id, &cur, &err)) == 0;
	if (!rc)
		rc = report_next(c, decision, &stage, &priority, &err);
	if (!rc && !strcmp(decision, "block_url"))
		rc = case_block(s, c, who->name, &block_id, &joined, &err);
	if (!rc)
		rc = refuse_repeat(s, c, decision, block_id, &err);
	if (!rc && !strcmp(decision, "notify"))
		rc = case_notify(api, s, c, who->name, done, &err);
	if (!rc && !strcmp(decision, "reject"))
		rc = hand_over(api, s, c->id, who->name, &handed, &nhanded, &err);
	if (!rc && !strcmp(decision, "reject"))
		rc = vg_store_block_lift_by_case(s, c->id, who->name, &lifted, &nlifted, &err);
	if (!rc)
		rc = vg_store_case_transition(s, c->id, stage, decision, priority, note, who->name,
					      &err);
	if (!rc) {
		char sid[24];
		snprintf(sid, sizeof(sid), "%lld", (long long)c->id);
		json_t *d = json_pack("{s:s,s:s,s:i,s:i}", "decision", decision, "stage", stage,
				      "notifications", (int)json_array_size(done), "blocks_lifted",
				      (int)nlifted);
		if (nhanded)
			json_object_set_new(d, "blocks_handed_over", json_integer((json_int_t)nhanded));
		if (block_id)
			json_object_set_new(d, "block_id", json_integer((json_int_t)block_id));
		if (joined) /* the URL was blocked already: this case now relies on it */
			json_object_set_new(d, "relies_on_block_id", json_integer((json_int_t)joined));
		rc = vg__api_audit(api, s, who->name, "case.decide", "case", sid, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish(s, rc, &err);
	if (have_case)
		vg_store_case_done(&cur);
	if (rc) {
		free(lifted);
		free(handed);
		json_decref(done);
		vg__respond_err(req, &err);
		return;
	}
	hand_over_done(api, s, handed, nhanded);
	/* In memory only after the commit, so a rolled-back block never answers 451. */
	if (block_id) {
		vg_store_block b;
		if (vg_store_block_get(s, block_id, &b, &err) == 0) {
			vg__blocklist_put(api->blocks, b.url, b.id, b.reason ? b.reason : "",
					  b.created_at);
			vg_store_block_done(&b);
		}
	}
	for (size_t i = 0; i < nlifted; i++)
		vg__blocklist_remove_id(api->blocks, lifted[i]);
	free(lifted);
	if (json_array_size(done))
		vg__api_outbox_kick(api);
	json_t *out = full_case(s, id, &err);
	if (!out) {
		json_decref(done);
		vg__respond_err(req, &err);
		return;
	}
	json_object_set_new(out, "blocks_lifted", json_integer((json_int_t)nlifted));
	json_object_set_new(out, "blocks_handed_over", json_integer((json_int_t)nhanded));
	json_object_set_new(out, "notifications", done);
	json_object_set_new(out, "block_id", block_id ? json_integer((json_int_t)block_id) : json_null());
	vg__json_respond(req, 200, out);
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
	/* The body is checked before the case is looked up, so a bad body is a 422 whatever
	 * the id. */
	static const char *const known[] = {"confirm", "dismiss", "block_url", "notify",
					    "reject", "escalate", "close"};
	bool word = false;
	for (size_t i = 0; decision && i < VG_ARRAY_LEN(known); i++)
		word = word || strcmp(decision, known[i]) == 0;
	if (!word) {
		json_decref(body);
		vg_http_respond_error(req, VG_EINVAL, "decision must be confirm or dismiss (scan "
						      "cases), or block_url, notify, reject, "
						      "escalate or close (report cases)");
		return;
	}
	if ((jnote && !json_is_null(jnote) && !note) || (note && strlen(note) > 4000)) {
		json_decref(body);
		vg_http_respond_error(req, VG_EINVAL, "note must be a string of at most 4000 bytes");
		return;
	}
	vg_error err;
	/* Report cases have their own decisions; scan cases keep confirm and dismiss. */
	vg_store_case rc0;
	if (vg_store_case_get(s, id, &rc0, &err) != 0) {
		json_decref(body);
		vg__respond_err(req, &err);
		return;
	}
	bool is_report = strcmp(rc0.kind, "report") == 0;
	if (is_report)
		report_decide(api, req, s, id, decision, note, who);
	vg_store_case_done(&rc0);
	if (is_report) {
		json_decref(body);
		return;
	}
	if (strcmp(decision, "confirm") && strcmp(decision, "dismiss")) {
		json_decref(body);
		vg_http_respond_error(req, VG_EINVAL, "decision must be confirm or dismiss");
		return;
	}
	int64_t *lifted = NULL;
	size_t nlifted = 0, nhanded = 0;
	vg_store_block_handover *handed = NULL;
	vg_store_case c = {0};
	bool have_case = false;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_case_decide(s, id, decision, note, who->name, &err);
	if (!rc)
		rc = vg_store_case_get(s, id, &c, &err);
	have_case = rc == 0;
	if (!rc && !strcmp(decision, "dismiss"))
		rc = hand_over(api, s, id, who->name, &handed, &nhanded, &err);
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
		if (nhanded)
			json_object_set_new(d, "blocks_handed_over", json_integer((json_int_t)nhanded));
		rc = vg__api_audit(api, s, who->name, "case.decide", "case", sid, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish(s, rc, &err);
	json_decref(body);
	if (have_case)
		vg_store_case_done(&c);
	if (rc) {
		free(lifted);
		free(handed);
		vg__respond_err(req, &err);
		return;
	}
	hand_over_done(api, s, handed, nhanded);
	for (size_t i = 0; i < nlifted; i++)
		vg__blocklist_remove_id(api->blocks, lifted[i]);
	free(lifted);
	json_t *out = full_case(s, id, &err);
	if (!out) {
		vg__respond_err(req, &err);
		return;
	}
	json_object_set_new(out, "blocks_lifted", json_integer((json_int_t)nlifted));
	json_object_set_new(out, "blocks_handed_over", json_integer((json_int_t)nhanded));
	vg__json_respond(req, 200, out);
}

/* ---- POST /v1/cases/{id}/assign ------------------------------------------------------- */

/* Whether a live token is named name and may review cases (analyst or admin): cases are
 * assigned to people who can act on them, and a scanner or intake token cannot even open
 * one. */
static int token_live(vg_store *s, const char *name, bool *ret, vg_error *err)
{
	vg_store_token *t;
	size_t n;
	int rc = vg_store_token_list(s, &t, &n, err);
	if (rc)
		return rc;
	bool found = false;
	for (size_t i = 0; i < n && !found; i++)
		found = t[i].revoked_at == 0 && strcmp(t[i].name, name) == 0 &&
			(!strcmp(t[i].role, "analyst") || !strcmp(t[i].role, "admin"));
	free(t);
	*ret = found;
	return 0;
}

static void assign(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	const char *assignee = json_string_value(json_object_get(body, "assignee"));
	vg_error err;
	bool live = false;
	int rc = 0;
	if (!assignee || !assignee[0] || strlen(assignee) > VG_STORE_NAME_MAX) {
		rc = vg_error_set(&err, VG_EINVAL, "assignee must be a token name of 1 to %d bytes",
				  VG_STORE_NAME_MAX);
	} else if ((rc = token_live(s, assignee, &live, &err)) == 0 && !live) {
		rc = vg_error_set(&err, VG_EINVAL,
				  "assignee names no live analyst or admin token");
	}
	/* The assignment, its history event and its audit entry commit together. */
	if (!rc && (rc = vg_store_begin(s, &err)) == 0) {
		/* Read under the write lock: assigning a case to whom it is assigned to would
		 * change nothing, yet be recorded, audited and counted in the transparency
		 * figures as an action, as a repeated notify would (409 alike). */
		vg_store_case cur;
		if ((rc = vg_store_case_get(s, id, &cur, &err)) == 0) {
			if (cur.assignee && !strcmp(cur.assignee, assignee))
				rc = vg_error_set(&err, VG_EEXIST,
						  "the case is assigned to this name already; "
						  "nothing to do");
			vg_store_case_done(&cur);
		}
		if (!rc)
			rc = vg_store_case_assign(s, id, assignee, who->name, &err);
		if (!rc) {
			char sid[24];
			snprintf(sid, sizeof(sid), "%lld", (long long)id);
			json_t *d = json_pack("{s:s}", "assignee", assignee);
			rc = vg__api_audit(api, s, who->name, "case.assign", "case", sid, d, &err);
			json_decref(d);
		}
		rc = vg__api_finish(s, rc, &err);
	}
	json_decref(body);
	json_t *out = rc ? NULL : full_case(s, id, &err);
	if (!out)
		vg__respond_err(req, &err);
	else
		vg__json_respond(req, 200, out);
}

/* ---- GET /v1/cases/{id}/authority-report ------------------------------------------------
 * The CyberTipline-style XML of a reviewed csam report case, built by
 * vg_report_authority_xml from the case, its reports' times and source address, and the
 * evidence hashes: the document has no field that could hold content. The incident time
 * is the earliest a report named (ARF Arrival-Date, X-ARF Date), else the earliest
 * arrival. Audited, as preparing a report to the authorities is a decision someone must
 * answer for. */

typedef struct authority_acc {
	vg_usec first;       /* the earliest report: when the content was reported */
	vg_usec incident;    /* the earliest incident time a report named; 0: none did */
	char ip[46];         /* the first source address a report named */
	vg_report_evidence *hashes;
	size_t n, cap;
} authority_acc;

static int authority_report_of(const vg_store_report *r, void *ctx)
{
	authority_acc *a = ctx;
	if (!a->first || r->created_at < a->first)
		a->first = r->created_at;
	if (r->incident_at > 0 && (!a->incident || r->incident_at < a->incident))
		a->incident = r->incident_at;
	if (!a->ip[0] && r->source_ip[0])
		snprintf(a->ip, sizeof(a->ip), "%s", r->source_ip);
	return 0;
}

static int authority_hash(const char *type, const char *hex, void *ctx)
{
	authority_acc *a = ctx;
	vg_report_hash_type t;
	if (!strcmp(type, "pdq"))
		t = VG_REPORT_HASH_PDQ;
	else if (!strcmp(type, "md5"))
		t = VG_REPORT_HASH_MD5;
	else if (!strcmp(type, "sha256"))
		t = VG_REPORT_HASH_SHA256;
	else
		return 0;
	/* Bounded: a case's reports carry at most VG_REPORT_EVIDENCE_MAX hashes each, and the
	 * document is for people to check, so past a thousand it is cut. */
	if (a->n == 1000)
		return 0;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 8;
		vg_report_evidence *v = realloc(a->hashes, cap * sizeof(*v));
		if (!v)
			return vg_error_set(NULL, VG_ENOMEM, "out of memory");
		a->hashes = v;
		a->cap = cap;
	}
	a->hashes[a->n].type = t;
	snprintf(a->hashes[a->n].hex, sizeof(a->hashes[a->n].hex), "%s", hex);
	a->n++;
	return 0;
}

static void authority(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	vg_error err;
	vg_store_case c;
	if (vg_store_case_get(s, id, &c, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	/* Only what a person reviewed and acted on: a new, triaged or rejected case is no
	 * confirmed report, and the authority must not receive unreviewed accusations. */
	bool ok = !strcmp(c.kind, "report") && !strcmp(c.category, "csam") && c.first_action_at &&
		  strcmp(c.stage, "rejected") != 0;
	if (!ok) {
		vg_store_case_done(&c);
		vg_http_respond_error(req, VG_EEXIST, "an authority report needs a csam report case "
						      "that was reviewed and actioned");
		return;
	}
	authority_acc a = {0};
	char sid[24];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	const char *urls[1] = {c.url};
	int rc = vg_store_case_reports(s, id, authority_report_of, &a, &err);
	if (!rc)
		rc = vg_store_case_evidence(s, id, authority_hash, &a, &err);
	char *xml = NULL;
	char org_name[VG_OPT_STRING_MAX], org_email[VG_OPT_STRING_MAX];
	vg__api_cfg_str(api, offsetof(vg_api_config, report_org_name), org_name);
	vg__api_cfg_str(api, offsetof(vg_api_config, report_org_email), org_email);
	if (!rc) {
		vg_report_authority in = {
			.org_name = org_name[0] ? org_name : "vigil operator",
			.org_email = org_email[0] ? org_email : NULL,
			.case_id = sid,
			.incident_time = a.incident ? a.incident : a.first ? a.first : c.created_at,
			.urls = urls,
			.n_urls = c.url && c.url[0] ? 1 : 0,
			.ip = a.ip[0] ? a.ip : NULL,
			.hashes = a.hashes,
			.n_hashes = a.n,
			.reviewer_note = c.note,
		};
		rc = vg_report_authority_xml(&in, &xml, &err);
	}
	if (!rc) {
		json_t *d = json_pack("{s:i,s:i}", "urls", c.url && c.url[0] ? 1 : 0, "hashes",
				      (int)a.n);
		rc = vg__api_audit(api, s, who->name, "case.authority_report", "case", sid, d, &err);
		json_decref(d);
	}
	if (rc)
		vg__respond_err(req, &err);
	else
		vg_http_respond(req, 200, "application/xml", xml, strlen(xml));
	free(xml);
	free(a.hashes);
	vg_store_case_done(&c);
}

const vg__api_route vg__case_routes[] = {
	{"GET", "/v1/cases", VG__ROLE_ANALYST, false, list},
	{"GET", "/v1/cases/{id}", VG__ROLE_ANALYST, false, get},
	{"POST", "/v1/cases/{id}/decision", VG__ROLE_ANALYST, false, decide},
	{"POST", "/v1/cases/{id}/assign", VG__ROLE_ANALYST, false, assign},
	{"GET", "/v1/cases/{id}/authority-report", VG__ROLE_ANALYST, false, authority},
};
const size_t vg__case_route_count = VG_ARRAY_LEN(vg__case_routes);
