/* SPDX-License-Identifier: Apache-2.0
 *
 * POST /v1/events: the event intake over HTTP. The body is NDJSON (one JSON object with
 * a string "type" per line), optionally gzip-compressed (Content-Encoding: gzip). Each
 * line is decoded with the rules' bounded decoder; a bad line is counted and reported
 * with its number and never stops the others. Good lines run through the rules in the
 * lanes of api_rules.c, picked by partition key (the "ip" field, else "user" or its
 * "id", else round robin), and the answer comes after every line has been evaluated.
 *
 * Verdicts feed the action layer that matches use, in ONE store transaction per request
 * (as a scan does): `block` blocks the event's canonicalised "url" field (no url: no
 * block) so GET /v1/decision answers 451; `review` and `report` open (or attach to) a
 * case in the reserved bank "event-rules", keyed by that url; with rules_webhook_url set,
 * every live verdict other than allow is queued in the outbox. Only after the commit does
 * the in-memory block list change and the outbox worker wake, so a 2xx means all of it is
 * durable. Shadow rules (declared, or set through PUT /v1/rules/{name}) are counted and
 * never act.
 *
 * Bounds: the body is at most max_events_bytes, compressed or not; gzip output is cut
 * at the same bound (413), so a small bomb cannot fill memory. A line is at most
 * max_event_bytes. The answer lists the first ERRORS_LISTED bad lines; "rejected" counts
 * them all.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "internal.h"
#include "report/report.h"

#define ERRORS_LISTED 100
#define RULES_BANK "event-rules"

/* A live verdict waiting for the action layer; the event text points into the body. */
typedef struct act {
	size_t tally;
	size_t order; /* arrival: lanes run in any order, so acts are sorted back to input order */
	vg_action action;
	uint64_t line;
	const char *text;
	size_t len;
	char *reason;
} act;

typedef struct evctx {
	uint64_t magic;
	vg__rule_tally *t;
	size_t nt, capt;
	act *acts;
	size_t nacts, capacts;
} evctx;

#define EVCTX_MAGIC 0x7667657663747821ull

static void on_verdict(const vg_verdict *v, void *p)
{
	evctx *c = p;
	if (c->magic != EVCTX_MAGIC)
		abort();
	size_t i = 0;
	while (i < c->nt && (c->t[i].declared_shadow != v->shadow || strcmp(c->t[i].rule, v->rule) != 0))
		i++;
	if (i == c->nt) {
		if (c->nt == c->capt) {
			c->capt = c->capt ? c->capt * 2 : 8;
			vg__rule_tally *g = realloc(c->t, c->capt * sizeof(*g));
			if (!g)
				abort(); /* bounded by the rules in the folder, times two */
			c->t = g;
		}
		memset(&c->t[i], 0, sizeof(c->t[i]));
		snprintf(c->t[i].rule, sizeof(c->t[i].rule), "%s", v->rule);
		c->t[i].declared_shadow = v->shadow;
		c->nt++;
	}
	c->t[i].n[v->action]++;
	if (v->action == VG_ACTION_ALLOW)
		return;
	if (c->nacts == c->capacts) {
		c->capacts = c->capacts ? c->capacts * 2 : 64;
		act *g = realloc(c->acts, c->capacts * sizeof(*g));
		if (!g)
			abort(); /* at most 8 verdicts per rule per line of a bounded body */
		c->acts = g;
	}
	/* seq is the runner's own count; the event text is the line as it came, within the
	 * body, so its line number is found again by the caller from the pointer. */
	c->acts[c->nacts] = (act){.tally = i, .order = c->nacts, .action = v->action, .text = v->event,
				  .len = v->event_len, .reason = vg_xstrdup(v->reason)};
	c->nacts++;
}

/* The line whose text starts at text (its number, its kept doc), or NULL. */
static const vg__event_line *line_of(const vg__event_line *lines, size_t n, const char *text)
{
	size_t lo = 0, hi = n;
	while (lo < hi) { /* lines are in body order, so their texts ascend */
		size_t mid = lo + (hi - lo) / 2;
		if (lines[mid].text < text)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && lines[lo].text == text ? &lines[lo] : NULL;
}

/* Every verdict but allow goes to its rule's latest (api_verdicts.c), live or shadow. */
static void note_verdicts(vg_api *api, vg_http_req *req, const evctx *c,
			  const vg__event_line *lines, size_t nlines)
{
	if (!c->nacts)
		return;
	vg__verdict_note *v = vg_xcalloc(c->nacts, sizeof(*v));
	for (size_t i = 0; i < c->nacts; i++) {
		const act *a = &c->acts[i];
		const vg__event_line *line = line_of(lines, nlines, a->text);
		v[i] = (vg__verdict_note){.rule = c->t[a->tally].rule, .action = a->action,
					  .shadow = !c->t[a->tally].acts, .reason = a->reason,
					  .event = a->text, .event_len = a->len,
					  .line = line ? line->line : 0};
	}
	vg__verdict_log_add(api->verdicts, vg_http_request_id(req), v, c->nacts);
	free(v);
}

/* Input order: by the line's place in the body, then (one line's verdicts all come from
 * one lane, in rule order) by arrival. */
static int act_cmp(const void *a, const void *b)
{
	const act *x = a, *y = b;
	if (x->text != y->text)
		return x->text < y->text ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* gunzips in, one gzip member or several, into a new buffer of at most max bytes.
 * Errors: VG_EMALFORMED, VG_ETOOBIG. */
static int gunzip(const uint8_t *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len,
		  vg_error *err)
{
	z_stream z = {0};
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return vg_error_set(err, VG_ENOMEM, "cannot start gzip decompression");
	size_t cap = len * 4 < max ? (len * 4 > 65536 ? len * 4 : 65536) : max;
	if (cap > max)
		cap = max;
	uint8_t *out = malloc(cap + 1);
	size_t have = 0;
	int rc = 0;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	for (;;) {
		if (!out) {
			rc = vg_error_set(err, VG_ENOMEM, "out of memory decompressing the body");
			break;
		}
		if (have == cap) {
			if (cap >= max) {
				rc = vg_error_set(err, VG_ETOOBIG,
						  "the decompressed body is over max_events_bytes (%zu)", max);
				break;
			}
			cap = cap * 2 > max ? max : cap * 2;
			uint8_t *g = realloc(out, cap + 1);
			if (!g) {
				rc = vg_error_set(err, VG_ENOMEM, "out of memory decompressing the body");
				break;
			}
			out = g;
		}
		z.next_out = out + have;
		z.avail_out = (uInt)(cap - have);
		int zr = inflate(&z, Z_NO_FLUSH);
		have = cap - z.avail_out;
		if (zr == Z_STREAM_END) {
			if (z.avail_in == 0)
				break;
			/* Gzip members may follow one another (RFC 1952 2.2; `cat a.gz b.gz`):
			 * each is read. Bytes after a member that are not one fail below rather
			 * than be dropped unseen. */
			inflateReset(&z);
			continue;
		}
		if (zr == Z_BUF_ERROR && z.avail_in == 0) {
			rc = vg_error_set(err, VG_EMALFORMED, "the gzip body is truncated");
			break;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			rc = vg_error_set(err, VG_EMALFORMED, "the body is not valid gzip: %s",
					  z.msg ? z.msg : "corrupt data");
			break;
		}
	}
	inflateEnd(&z);
	if (rc) {
		free(out);
		return rc;
	}
	*ret = out;
	*ret_len = have;
	return 0;
}

/* Decoded lines are kept for the lanes, so each is decoded once, up to this many bytes
 * per request; lines past it are decoded again in their lane. A typical event's nodes
 * take ~3.5x its text (the benchmarks' 205-byte events: ~700 bytes kept), a hostile body
 * of tiny values ~12x, so: 4x the body, and at most 16 MB a request. */
#define KEPT_DOCS_MAX ((size_t)16 << 20)
#define KEPT_DOCS_BYTES(body) \
	(4 * (body) + 65536 < KEPT_DOCS_MAX ? 4 * (body) + 65536 : KEPT_DOCS_MAX)

/* A copy of doc in docs that outlives the next decode, or NULL when docs is full. */
static const vg_json_doc *keep(vg_arena *docs, const vg_json_doc *doc)
{
	void *mem = vg_arena_alloc(docs, vg_json_doc_copy_size(doc) + sizeof(vg_json_doc));
	if (!mem)
		return NULL;
	vg_json_doc *kept = mem;
	vg_json_doc_copy(doc, kept + 1, kept);
	return kept;
}

/* The lane of a decoded event: its partition key's (key, or the default when empty),
 * else round robin. */
static int pick_lane(const vg_json_doc *doc, const char *key, int lanes)
{
	static atomic_uint_fast64_t rr;
	char num[32];
	const char *k;
	size_t n;
	if (vg_rules_partition_key(doc, key[0] ? key : NULL, num, &k, &n))
		return vg_rules_partition(k, n, lanes);
	if (key[0])
		vg_rules_partition_key_missing(key);
	return (int)(atomic_fetch_add(&rr, 1) % (uint64_t)lanes);
}

static void idem_key(const char *rid, uint64_t line, size_t k, char out[65])
{
	char text[200];
	uint8_t d[32];
	unsigned n = 0;
	int len = snprintf(text, sizeof(text), "event:%s:%llu:%zu", rid, (unsigned long long)line, k);
	EVP_Digest(text, (size_t)len, d, &n, EVP_sha256(), NULL);
	vg_hex_encode(d, 32, out);
}

/* The reserved bank that rule cases and blocks name. Created disabled and empty, so it
 * never matches anything itself. */
static int rules_bank(vg_store *s, int64_t *ret, vg_error *err)
{
	vg_store_bank b;
	int rc = vg_store_bank_get(s, RULES_BANK, &b, err);
	if (rc == VG_ENOENT) {
		rc = vg_store_bank_create(s, RULES_BANK, "cases and blocks opened by event rules", err);
		if (!rc)
			rc = vg_store_bank_set_enabled(s, RULES_BANK, false, err);
		if (!rc)
			rc = vg_store_bank_get(s, RULES_BANK, &b, err);
	}
	if (rc)
		return rc;
	*ret = b.id;
	vg_store_bank_done(&b);
	return 0;
}

struct pending_block {
	char *url;
	int64_t id;
	vg_usec since;
	char reason[300];
};

/* One request's actions on its way through a group commit: what act_one reads, what it
 * leaves for the request's own thread, and how the group hands it back. */
typedef struct act_job act_job;
struct act_job {
	vg_api *api;
	const char *rid;
	const vg__actor *who;
	const evctx *c;
	const vg__event_line *lines;
	size_t nlines;
	struct pending_block *pb; /* c->nacts of them */
	size_t npb, nblocks, ncases, nhooks, skipped;
	int rc;
	vg_error err;
	bool done;
	struct act_job *next;
};

/* A rule's block verdict on a URL whose block a case owns (a bank's review case placed it):
 * a rule has nothing to review, so the block becomes the rule's and dismissing that case
 * no longer lifts what the rule still asks for. The trail names the case it left. */
static int claim_block(act_job *j, vg_store *s, const char *url, const char *rule, int64_t bank_id,
		       const char *reason, int64_t block_id, vg_error *err)
{
	int64_t from = 0;
	int rc = vg_store_block_claim(s, block_id, bank_id, reason, &from, err);
	if (rc || !from)
		return rc;
	char id[24];
	snprintf(id, sizeof(id), "%lld", (long long)block_id);
	json_t *d = json_pack("{s:I,s:s}", "from_case_id", (json_int_t)from, "to_rule", rule);
	rc = vg__api_audit(j->api, s, j->who->name, "block.hand_over", "block", id, d, err);
	json_decref(d);
	vg_store_block sb;
	if (!rc && (rc = vg_store_block_get(s, block_id, &sb, err)) == 0) {
		j->pb[j->npb] = (struct pending_block){
			.url = vg_xstrdup(url), .id = block_id, .since = sb.created_at};
		snprintf(j->pb[j->npb].reason, sizeof(j->pb[0].reason), "%s", reason);
		j->npb++;
		vg_store_block_done(&sb);
	}
	return rc;
}

static void job_reset(act_job *j)
{
	for (size_t i = 0; i < j->npb; i++)
		free(j->pb[i].url);
	j->npb = j->nblocks = j->ncases = j->nhooks = j->skipped = 0;
}

/* The event's canonical "url" into out, or "" when it has none that canonicalises: from
 * the line's kept doc, else decoded again into scratch (it decoded before it was
 * evaluated, so only the url can be missing). */
static void event_url(const vg__event_line *line, vg_json_doc *scratch, char *out, size_t cap)
{
	vg_error err;
	const vg_json_doc *doc = line->doc;
	out[0] = '\0';
	if (!doc) {
		if (vg_json_decode(scratch, line->text, line->len, &err) != 0)
			return;
		doc = scratch;
	}
	long k = vg_json_get(doc, 0, "url");
	if (k < 0 || doc->nodes[k].type != VG_JSON_STRING)
		return;
	if (vg_url_canonicalize(doc->nodes[k].v.str, doc->nodes[k].len, out, cap, &err) != 0)
		out[0] = '\0';
}

/* What a rule's case says of the verdict, in its history: the case alone must tell a
 * moderator which rule, why and about whom (an event without a url opens a case of url
 * ""), with no trip to the audit log. The event's partition key names whom; the event
 * itself is not stored. */
static int note_verdict(vg_store *s, const act_job *j, const vg__event_line *line,
			vg_json_doc *scratch, const char *rule, const act *a, int64_t case_id,
			vg_error *err)
{
	vg_error derr;
	const vg_json_doc *doc = line->doc;
	if (!doc && vg_json_decode(scratch, line->text, line->len, &derr) == 0)
		doc = scratch;
	const char *pk = j->api->cfg.rules_partition_key;
	char num[32];
	const char *k = NULL;
	size_t n = 0;
	if (doc && !vg_rules_partition_key(doc, pk[0] ? pk : NULL, num, &k, &n))
		k = NULL;
	size_t cut = 0; /* at most 256 bytes of it, whole characters (the decoder checked) */
	for (size_t c; k && cut < n &&
		       (c = vg_utf8_next((const unsigned char *)k + cut, n - cut, NULL)) > 0 &&
		       cut + c <= 256;)
		cut += c;
	char *note = NULL;
	int len = asprintf(&note, "rule %s (%s): %s; line %llu of request %s%s%.*s%s", rule,
			   vg_action_name(a->action), a->reason, (unsigned long long)line->line,
			   j->rid ? j->rid : "-", k ? ", key \"" : "", (int)cut, k ? k : "",
			   k ? "\"" : "");
	if (len < 0)
		abort(); /* a few hundred bytes: STYLE.md 3 */
	int rc = vg_store_case_note(s, case_id, j->who->name, "rule_verdict", note, err);
	free(note);
	return rc;
}

/* The live verdicts' actions of one request, inside the caller's transaction on s. */
static int act_one(vg_store *s, act_job *j, vg_error *err)
{
	const evctx *c = j->c;
	const char *hook = j->api->cfg.rules_webhook_url;
	int64_t bank_id = 0;
	int rc = 0;
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	for (size_t i = 0; i < c->nacts && !rc; i++) {
		act *a = &c->acts[i];
		const char *rule = c->t[a->tally].rule;
		if (!c->t[a->tally].acts)
			continue;
		const vg__event_line *line = line_of(j->lines, j->nlines, a->text);
		if (!line)
			line = &(vg__event_line){.text = a->text, .len = a->len};
		uint64_t lineno = line->line;
		char url[VG_URL_MAX + 1] = "";
		event_url(line, &doc, url, sizeof(url));
		char reason[300];
		snprintf(reason, sizeof(reason), "rule %s: %s", rule, a->reason);
		int64_t case_id = 0;
		bool created = false;
		if ((a->action == VG_ACTION_BLOCK && url[0]) || a->action == VG_ACTION_REVIEW ||
		    a->action == VG_ACTION_REPORT)
			if (!bank_id)
				rc = rules_bank(s, &bank_id, err);
		if (!rc && (a->action == VG_ACTION_REVIEW || a->action == VG_ACTION_REPORT)) {
			rc = vg_store_case_open_or_attach(s, url, bank_id, 0, j->who->name, &case_id,
							  &created, err);
			if (!rc)
				rc = note_verdict(s, j, line, &doc, rule, a, case_id, err);
			if (!rc && created) {
				char id[24];
				snprintf(id, sizeof(id), "%lld", (long long)case_id);
				json_t *d = json_pack("{s:s,s:s,s:s,s:I}", "rule", rule, "reason", a->reason,
						      "action", vg_action_name(a->action), "line",
						      (json_int_t)lineno);
				char *dt = json_dumps(d, JSON_COMPACT);
				rc = vg_store_audit_append(s, j->who->name, "case.open", "case", id, dt,
							   NULL, err);
				free(dt);
				json_decref(d);
			}
			j->ncases += !rc;
		}
		if (!rc && a->action == VG_ACTION_BLOCK) {
			if (!url[0]) {
				j->skipped++; /* nothing to block: the event has no usable url */
			} else {
				int64_t block_id = 0;
				rc = vg_store_block_add(s, url, reason, bank_id, 0, j->who->name, &block_id,
							&created, err);
				if (!rc && created) {
					char id[24];
					snprintf(id, sizeof(id), "%lld", (long long)block_id);
					json_t *d = json_pack("{s:s,s:s}", "url", url, "rule", rule);
					char *dt = json_dumps(d, JSON_COMPACT);
					rc = vg_store_audit_append(s, j->who->name, "block.create", "block", id, dt,
								   NULL, err);
					free(dt);
					json_decref(d);
					vg_store_block sb;
					if (!rc && (rc = vg_store_block_get(s, block_id, &sb, err)) == 0) {
						j->pb[j->npb] = (struct pending_block){.url = vg_xstrdup(url), .id = block_id,
										 .since = sb.created_at};
						snprintf(j->pb[j->npb].reason, sizeof(j->pb[0].reason), "%s", reason);
						j->npb++;
						vg_store_block_done(&sb);
					}
				}
				if (!rc && !created)
					rc = claim_block(j, s, url, rule, bank_id, reason, block_id,
							 err);
				j->nblocks += !rc;
			}
		}
		if (!rc && hook[0]) {
			json_t *payload = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "event", "verdict", "rule", rule,
						    "action", vg_action_name(a->action), "reason", a->reason,
						    "line", (json_int_t)lineno, "request_id", j->rid ? j->rid : "");
			if (url[0])
				json_object_set_new(payload, "url", json_string(url));
			if (case_id)
				json_object_set_new(payload, "case_id", json_integer(case_id));
			/* The event decoder reads an integer past int64 as a real, where
			 * jansson refuses it: read it the same way, or the data would be lost. */
			json_error_t jerr;
			json_t *ev = json_loadb(a->text, a->len, 0, &jerr);
			if (!ev && json_error_code(&jerr) == json_error_numeric_overflow)
				ev = json_loadb(a->text, a->len, JSON_DECODE_INT_AS_REAL, NULL);
			if (ev)
				json_object_set_new(payload, "data", ev);
			char *text = json_dumps(payload, JSON_COMPACT);
			json_decref(payload);
			char key[65];
			idem_key(j->rid ? j->rid : "", lineno, i, key);
			int64_t oid = 0;
			rc = vg_store_outbox_enqueue(s, "webhook", hook, text,
						     j->api->cfg.rules_webhook_secret[0] ? j->api->cfg.rules_webhook_secret
										      : NULL,
						     key, vg_time_now(), &oid, err);
			free(text);
			j->nhooks += !rc;
		}
	}
	vg_json_doc_done(&doc);
	return rc;
}

/* Group commit: every transaction here ends in an fsync, and one per request capped
 * POST /v1/events at about a thousand requests a second however small they were. A
 * request queues its job; whoever finds no leader leads, takes every job queued for its
 * api and runs them in one transaction on its own connection, then wakes them. If any
 * job fails, the batch rolls back and each job runs again alone, so one request's error
 * is never another's. Jobs are done (durable) only when their transaction committed. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	act_job *head;
	bool leading;
} group = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, false};

/* Commits through vg__api_finish_banks: the first live verdict creates the reserved
 * bank, a bank change the index must not mistake for another process's. */
static void run_alone(vg_api *api, vg_store *s, act_job *j)
{
	job_reset(j);
	int rc = vg_store_begin(s, &j->err);
	if (!rc)
		rc = act_one(s, j, &j->err);
	j->rc = vg__api_finish_banks(api, s, rc, &j->err);
}

static void run_batch(vg_api *api, act_job *batch)
{
	vg_store *s = vg__api_store(api, NULL);
	if (!s) {
		for (act_job *j = batch; j; j = j->next)
			j->rc = vg_error_set(&j->err, VG_EIO, "no store connection");
		return;
	}
	if (!batch->next) {
		run_alone(api, s, batch);
		return;
	}
	vg_error err;
	int rc = vg_store_begin(s, &err);
	for (act_job *j = batch; j && !rc; j = j->next)
		rc = act_one(s, j, &j->err);
	if (!vg__api_finish_banks(api, s, rc, &err) && !rc) {
		for (act_job *j = batch; j; j = j->next)
			j->rc = 0;
		return;
	}
	for (act_job *j = batch; j; j = j->next)
		run_alone(api, s, j);
}

static void group_run(act_job *job)
{
	pthread_mutex_lock(&group.mu);
	act_job **tail = &group.head;
	while (*tail)
		tail = &(*tail)->next;
	*tail = job;
	while (!job->done) {
		if (group.leading) {
			pthread_cond_wait(&group.cv, &group.mu);
			continue;
		}
		group.leading = true;
		/* This api's jobs, in arrival order; another api's (another database) wait. */
		act_job *batch = NULL, **bt = &batch;
		for (act_job **pp = &group.head; *pp;) {
			act_job *j = *pp;
			if (j->api != job->api) {
				pp = &j->next;
				continue;
			}
			*pp = j->next;
			j->next = NULL;
			*bt = j;
			bt = &j->next;
		}
		pthread_mutex_unlock(&group.mu);
		run_batch(job->api, batch);
		pthread_mutex_lock(&group.mu);
		for (act_job *j = batch; j;) {
			act_job *nx = j->next;
			j->done = true;
			j = nx;
		}
		group.leading = false;
		pthread_cond_broadcast(&group.cv);
	}
	pthread_mutex_unlock(&group.mu);
}

/* The live verdicts' actions, durable when this returns 0 (group_run). */
static int act_all(vg_api *api, vg_http_req *req, const vg__actor *who, evctx *c,
		   const vg__event_line *lines, size_t nlines, json_t *counts, vg_error *err)
{
	size_t todo = 0;
	for (size_t i = 0; i < c->nacts; i++)
		todo += c->t[c->acts[i].tally].acts;
	if (!todo)
		return 0;
	act_job j = {.api = api, .rid = vg_http_request_id(req), .who = who, .c = c,
		     .lines = lines, .nlines = nlines};
	j.pb = vg_xcalloc(c->nacts, sizeof(*j.pb));
	group_run(&j);
	if (j.rc) {
		*err = j.err;
	} else {
		for (size_t i = 0; i < j.npb; i++)
			vg__blocklist_put(api->blocks, j.pb[i].url, j.pb[i].id, j.pb[i].reason,
					  j.pb[i].since);
		if (j.nhooks)
			vg__api_outbox_kick(api);
		json_object_set_new(counts, "blocks", json_integer((json_int_t)j.nblocks));
		json_object_set_new(counts, "cases", json_integer((json_int_t)j.ncases));
		json_object_set_new(counts, "webhooks", json_integer((json_int_t)j.nhooks));
		json_object_set_new(counts, "skipped", json_integer((json_int_t)j.skipped));
	}
	job_reset(&j);
	free(j.pb);
	return j.rc;
}

static void events(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	if (!api->rules) {
		vg_http_respond_error(req, VG_EEXIST,
				      "no rules folder is loaded: start vigil serve with --rules DIR");
		return;
	}
	size_t blen;
	const uint8_t *body = vg_http_body(req, &blen);
	const char *enc = vg_http_header(req, "Content-Encoding");
	uint8_t *inflated = NULL;
	vg_error err;
	if (enc && *enc && strcasecmp(enc, "identity") != 0) {
		if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "x-gzip") != 0) {
			vg_http_respond_error(req, VG_EUNSUPPORTED,
					      "Content-Encoding %s is not supported: send gzip or nothing", enc);
			return;
		}
		size_t n = 0;
		if (gunzip(body, blen, (size_t)api->cfg.max_events_bytes, &inflated, &n, &err) != 0) {
			vg__respond_err(req, &err);
			return;
		}
		body = inflated;
		blen = n;
	}

	/* Split, decode and place every line; bad ones are answered, not evaluated. The
	 * table grows with the events kept (each at least 12 bytes of text), not with the
	 * body's newlines: a body of blank lines would otherwise ask for 40 bytes a byte. */
	size_t cap = 1024;
	vg__event_line *lines = malloc(cap * sizeof(*lines));
	if (!lines) {
		free(inflated);
		vg_http_respond_error(req, VG_ENOMEM, "out of memory");
		return;
	}
	int nlanes = vg__api_rules_lanes(api);
	size_t max_line = (size_t)api->cfg.max_event_bytes, n = 0, rejected = 0;
	bool oom = false;
	json_t *errors = json_array();
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	vg_arena *docs = vg_arena_new(KEPT_DOCS_BYTES(blen));
	const char *p = (const char *)body, *end = p + blen;
	p += vg_utf8_bom(p, blen);
	for (uint64_t lineno = 1; p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		if (len && line[len - 1] == '\r')
			len--;
		size_t k = 0;
		while (k < len && (line[k] == ' ' || line[k] == '\t'))
			k++;
		if (k == len)
			continue;
		char why[240];
		why[0] = '\0';
		if (len > max_line) {
			snprintf(why, sizeof(why), "event of %zu bytes is over max_event_bytes (%zu)", len,
				 max_line);
		} else if (vg_json_decode(&doc, line, len, &err) != 0) {
			snprintf(why, sizeof(why), "%s", err.msg);
		} else {
			long t = vg_json_get(&doc, 0, "type");
			if (t < 0 || doc.nodes[t].type != VG_JSON_STRING)
				snprintf(why, sizeof(why), "an event needs a string \"type\"");
		}
		if (why[0]) {
			if (rejected++ < ERRORS_LISTED)
				json_array_append_new(errors, json_pack("{s:I,s:o}", "line", (json_int_t)lineno,
									"message", vg__json_str(why)));
			continue;
		}
		if (n == cap) {
			vg__event_line *more = realloc(lines, 2 * cap * sizeof(*lines));
			if (!more) {
				oom = true;
				break;
			}
			lines = more;
			cap *= 2;
		}
		int lane = pick_lane(&doc, api->cfg.rules_partition_key, nlanes);
		lines[n++] = (vg__event_line){.text = line, .len = len, .line = lineno,
					      .lane = lane, .doc = keep(docs, &doc)};
	}
	vg_json_doc_done(&doc);
	if (oom) {
		json_decref(errors);
		free(lines);
		vg_arena_free(docs);
		free(inflated);
		vg_http_respond_error(req, VG_ENOMEM, "out of memory");
		return;
	}

	evctx c = {.magic = EVCTX_MAGIC};
	vg__api_rules_eval(api, lines, n, on_verdict, &c);
	if (c.nacts > 1)
		qsort(c.acts, c.nacts, sizeof(*c.acts), act_cmp);
	vg__api_rules_modes(api, c.t, c.nt);
	uint64_t live[VG_ACTION_COUNT] = {0}, shadow[VG_ACTION_COUNT] = {0};
	for (size_t i = 0; i < c.nt; i++)
		for (int a = 0; a < VG_ACTION_COUNT; a++)
			(c.t[i].acts ? live : shadow)[a] += c.t[i].n[a];
	json_t *actions = json_pack("{s:i,s:i,s:i,s:i}", "blocks", 0, "cases", 0, "webhooks", 0, "skipped", 0);
	int rc = act_all(api, req, who, &c, lines, n, actions, &err);
	/* Counted and listed only once acknowledged: a failed batch is sent again, and its
	 * verdicts did not act. (Its rules have run: counters count its events twice.) */
	if (!rc) {
		vg__api_rules_merge(api, c.t, c.nt);
		note_verdicts(api, req, &c, lines, n);
		vg__api_rules_count_events(api, n, rejected);
	}
	for (size_t i = 0; i < c.nacts; i++)
		free(c.acts[i].reason);
	free(c.acts);
	free(c.t);
	free(lines);
	vg_arena_free(docs);
	free(inflated);
	if (rc) {
		json_decref(errors);
		json_decref(actions);
		vg__respond_err(req, &err);
		return;
	}
	json_t *vl = json_object(), *vs = json_object();
	for (int a = 0; a < VG_ACTION_COUNT; a++) {
		json_object_set_new(vl, vg_action_name(a), json_integer((json_int_t)live[a]));
		json_object_set_new(vs, vg_action_name(a), json_integer((json_int_t)shadow[a]));
	}
	vg__json_respond(req, 200, json_pack("{s:I,s:I,s:o,s:o,s:o,s:o}", "accepted", (json_int_t)n,
					      "rejected", (json_int_t)rejected, "errors", errors,
					      "verdicts", vl, "shadow_verdicts", vs, "actions", actions));
}

const vg__api_route vg__events_routes[] = {
	{"POST", "/v1/events", VG__ROLE_INGEST, false, events},
};
const size_t vg__events_route_count = VG_ARRAY_LEN(vg__events_routes);
