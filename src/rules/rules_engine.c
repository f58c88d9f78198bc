/* SPDX-License-Identifier: Apache-2.0
 *
 * The event engine: one producer (the caller of vg_rules_engine_push) decodes event
 * lines and hands them to N worker threads, each with its own Lua state, counters,
 * distinct counts and labels. A line goes to the worker its partition key hashes to, so
 * every event of one ip (or user) meets the same counters, in input order; lines
 * without a key go round robin.
 *
 * Why the producer decodes: it needs the partition key, and the key must be the value
 * the rules read. A scan of the raw text for the first "ip" let {"ip":"a","ip":"b"}
 * go by "a" while the rules count "b" (the last, as in jansson), so an attacker could
 * spread one address over every worker's counters. Decoding costs the producer about
 * what the scan did plus a copy, and takes it off the workers, which are the
 * bottleneck whenever there are spare cores (one worker on two).
 *
 * Invariants:
 * - The per-event path takes no lock: lines travel in batches (up to BATCH_EVENTS lines,
 *   BATCH_BYTES bytes of text, DOCS_BYTES of decoded docs), and only handing a whole
 *   batch over takes the worker's mutex.
 * - Memory is bounded: each worker holds at most QUEUE_BATCHES batches; push blocks when
 *   its worker is that far behind (backpressure instead of growth).
 * - Drain returns only when every pushed line has been evaluated, so counts are exact.
 * - A line that is too long, does not decode or has no string "type" is reported by
 *   the producer and never reaches a worker.
 * - A label one worker sets reaches the others through a vg_label_bus (rules_bus.c),
 *   which each polls before an event: the one cross-worker path, and it locks only when
 *   a label was set.
 *
 * Answers ahead: with one worker on two cores, the producer's core idles most of the
 * time while the worker's is the bottleneck, and a fifth of the worker's time went to
 * bank lookups (match()), which read only immutable banks and the event. So worker 0's
 * state learns which banks its rules match which top-level fields against in most events
 * of each type (rules_event.c) and hands that plan over; the producer then does those
 * lookups as it decodes, and the worker's match() takes the answer when its bank and
 * value are the ones looked up. It does so only while it has a core to itself (fewer
 * workers than cores) and the worker it feeds is behind (its queue half full or more):
 * otherwise the work would only move between busy cores, or slow a producer that is the
 * bottleneck. An answer is what the worker's own lookup would give: same banks, same
 * value, byte for byte.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BATCH_EVENTS 512
#define BATCH_BYTES ((size_t)256 << 10)
#define DOCS_BYTES ((size_t)1 << 20) /* a typical event's doc takes ~3.5x its text */
/* Deep enough to ride out a worker's slow stretch (its core lent to the producer, a table
 * growing): the one producer blocks on the slower worker's full queue while the other's
 * drains, and at 8 each worker sat idle 7-10% of a 2-worker replay. 32 gave +6% in the
 * median of 8 interleaved 2-worker runs (within this VM's noise in another 6); a batch's
 * memory is mostly untouched (~0.5 MB of its 1.25). */
#define QUEUE_BATCHES 32
#define MAX_WORKERS 64
#define PLAN_TYPES 32
#define PLAN_TYPE_MAX 64

/* One decoded line of a batch. */
typedef struct item {
	size_t off, len;     /* its text in buf */
	size_t doc;          /* its vg_json_doc in docs, followed by what it reads */
	vg__event_head head; /* time 0: it has no "ts" of its own */
	uint64_t seq;
} item;

typedef struct batch {
	struct batch *next;
	char *buf;
	size_t used, cap;
	max_align_t *docs;
	size_t docs_used, docs_cap; /* bytes */
	item items[BATCH_EVENTS];
	size_t n;
} batch;

typedef struct worker {
	struct vg_rules_engine *eng;
	int index;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* signalled on any change of the fields below */
	batch *queue_head, *queue_tail;
	size_t queued;
	batch *free_list;
	size_t allocated;
	bool busy, stop;
	batch *filling; /* the producer's batch for this worker (producer only) */
	bool behind;    /* its queue was half full at the last hand-over (producer only) */
	vg__rules_vm *vm;
} worker;

/* The match() calls worker 0's rules make on events of one type. */
typedef struct plan {
	char type[PLAN_TYPE_MAX];
	uint32_t len, n;
	vg__match_plan m[VG__AHEAD_MAX];
} plan;

typedef struct plans {
	plan v[PLAN_TYPES];
	uint32_t n;
} plans;

struct vg_rules_engine {
	vg_rules_opts o;
	worker *w;
	int n;
	uint64_t rr;
	vg_labels *shared_labels;
	vg_label_bus *bus; /* NULL with one worker */
	vg_event_error_fn *on_error;
	void *error_ctx;
	vg_json_doc doc;      /* the producer's */
	uint64_t bad_events;  /* the producer's count */
	vg_usec stream_time;  /* the latest event time so far (see vg_rules_engine_push) */
	char key[64];         /* the partition key, "": the default */
	/* Answers ahead: worker 0 writes `learnt` under plan_mu and bumps plan_gen; the
	 * producer copies it into `ahead` when plan_gen moves. */
	pthread_mutex_t plan_mu;
	plans learnt;
	atomic_uint_fast64_t plan_gen;
	plans ahead;
	uint64_t ahead_gen;
	bool spare_core; /* fewer workers than cores */
	vg__url_memo *memo;
};

int vg_rules_partition(const char *key, size_t len, int workers)
{
	if (workers <= 1)
		return 0;
	return (int)(vg__rules_hash(key, len, 0x51ed2701) % (uint64_t)workers);
}

/* ---- the partition key ---------------------------------------------------------------- */
/* The key text of member key of object obj: a string, or a number as decimal text in
 * num; with want_id, the "id" of an object there. */
static bool member_key(const vg_json_doc *doc, size_t obj, const char *key, bool want_id,
		       char num[32], const char **ret, size_t *ret_len)
{
	long k = vg_json_get(doc, obj, key);
	if (k < 0)
		return false;
	const vg_json_node *nd = &doc->nodes[k];
	switch (nd->type) {
	case VG_JSON_OBJECT:
		return want_id && member_key(doc, (size_t)k, "id", false, num, ret, ret_len);
	case VG_JSON_STRING:
		*ret = nd->v.str;
		*ret_len = nd->len;
		return true; /* "" too: the rules read it as a value like any other */
	case VG_JSON_INT: /* as the rules see it: a double, past 2^53 rounded */
		*ret_len = vg__rules_number_text((double)nd->v.i, num);
		*ret = num;
		return true;
	case VG_JSON_REAL:
		*ret_len = vg__rules_number_text(nd->v.d, num);
		*ret = num;
		return true;
	default:
		return false;
	}
}

size_t vg__rules_number_text(double d, char buf[32])
{
	if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && floor(d) == d)
		return (size_t)snprintf(buf, 32, "%lld", (long long)d);
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, 32, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return (size_t)n;
}

/* The key text at a dotted path ("user.id"): each part but the last names an object. */
static bool path_key(const vg_json_doc *doc, const char *path, char num[32], const char **ret,
		     size_t *ret_len)
{
	size_t obj = 0;
	for (const char *dot; (dot = strchr(path, '.')); path = dot + 1) {
		long k = vg_json_getn(doc, obj, path, (size_t)(dot - path));
		if (k < 0 || doc->nodes[k].type != VG_JSON_OBJECT)
			return false;
		obj = (size_t)k;
	}
	return member_key(doc, obj, path, true, num, ret, ret_len);
}

bool vg_rules_partition_key(const vg_json_doc *doc, const char *key, char num[32],
			    const char **ret, size_t *ret_len)
{
	if (doc->n == 0)
		return false;
	if (key) /* a field of that name, else the path its dots spell */
		return member_key(doc, 0, key, true, num, ret, ret_len) ||
		       (strchr(key, '.') && path_key(doc, key, num, ret, ret_len));
	return member_key(doc, 0, "ip", false, num, ret, ret_len) ||
	       member_key(doc, 0, "user", true, num, ret, ret_len);
}

void vg_rules_partition_key_missing(const char *key)
{
	/* A misspelt key would otherwise spread every event round robin unseen; once per
	 * process is enough to show it. */
	static atomic_bool logged;
	if (!atomic_exchange(&logged, true))
		vg_log(VG_LOG_WARN, "rules.partition_key_missing",
		       "key=%s msg=\"an event without the partition key goes to any worker; "
		       "this is logged once\"", key);
}

static int pick_worker(vg_rules_engine *e, const vg_json_doc *doc)
{
	if (e->n == 1)
		return 0;
	char num[32];
	const char *v;
	size_t vl;
	if (vg_rules_partition_key(doc, e->key[0] ? e->key : NULL, num, &v, &vl))
		return vg_rules_partition(v, vl, e->n);
	if (e->key[0])
		vg_rules_partition_key_missing(e->key);
	return (int)(e->rr++ % (uint64_t)e->n);
}

/* ---- workers ----------------------------------------------------------------------------- */
static void process(worker *w, batch *b)
{
	vg_rules_engine *e = w->eng;
	vg_usec wall = vg_time_now();
	for (size_t i = 0; i < b->n; i++) {
		const item *it = &b->items[i];
		vg__event_head h = it->head;
		if (!h.time)
			h.time = wall;
		const vg_json_doc *doc = (const vg_json_doc *)((char *)b->docs + it->doc);
		vg__rules_vm_eval(w->vm, doc, &h, b->buf + it->off, it->len, it->seq,
				  e->o.on_verdict, e->o.ctx);
	}
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->queue_head && !w->stop)
			pthread_cond_wait(&w->cond, &w->mu);
		if (!w->queue_head)
			break;
		batch *b = w->queue_head;
		w->queue_head = b->next;
		if (!w->queue_head)
			w->queue_tail = NULL;
		w->queued--;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		process(w, b);
		b->n = b->used = b->docs_used = 0;
		pthread_mutex_lock(&w->mu);
		b->next = w->free_list;
		w->free_list = b;
		w->busy = false;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static batch *batch_new(void)
{
	batch *b = vg_xcalloc(1, sizeof(*b));
	b->cap = BATCH_BYTES;
	b->buf = vg_xmalloc(b->cap);
	b->docs_cap = DOCS_BYTES;
	b->docs = vg_xmalloc(b->docs_cap);
	return b;
}

static void batch_free(batch *b)
{
	if (b) {
		free(b->buf);
		free(b->docs);
		free(b);
	}
}

/* Hands w's filling batch to its thread, waiting while the queue is full. */
static void submit(worker *w)
{
	batch *b = w->filling;
	if (!b || b->n == 0)
		return;
	w->filling = NULL;
	pthread_mutex_lock(&w->mu);
	while (w->queued >= QUEUE_BATCHES)
		pthread_cond_wait(&w->cond, &w->mu);
	w->behind = w->queued >= QUEUE_BATCHES / 2;
	b->next = NULL;
	if (w->queue_tail)
		w->queue_tail->next = b;
	else
		w->queue_head = b;
	w->queue_tail = b;
	w->queued++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

static batch *take_batch(worker *w)
{
	pthread_mutex_lock(&w->mu);
	batch *b = w->free_list;
	if (b)
		w->free_list = b->next;
	else
		w->allocated++;
	pthread_mutex_unlock(&w->mu);
	return b ? b : batch_new();
}

/* A line that never reaches a worker. */
static void bad_line(vg_rules_engine *e, uint64_t seq, const char *why)
{
	e->bad_events++;
	if (e->on_error)
		e->on_error(seq, why, e->error_ctx);
}

/* Room for one more line of len bytes whose doc takes need bytes in w's filling batch.
 * A line always fits an empty batch's text (check_opts keeps max_event_bytes within
 * BATCH_BYTES); its doc does under the decoder's node cap, and an empty batch grows for
 * one that does not, so that this stays safe whatever that cap becomes. */
static batch *room(worker *w, size_t len, size_t need)
{
	batch *b = w->filling;
	if (b && (b->n == BATCH_EVENTS || b->used + len > b->cap ||
		  b->docs_used + need > b->docs_cap))
		submit(w);
	if (!w->filling)
		w->filling = take_batch(w);
	b = w->filling;
	if (need > b->docs_cap) { /* then b is empty: the test above closed it otherwise */
		free(b->docs);
		b->docs = vg_xmalloc(need);
		b->docs_cap = need;
	}
	return b;
}

/* ---- answers ahead ------------------------------------------------------------------------ */
static plan *plan_find(plans *p, const char *type, size_t len, bool make)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (p->v[i].len == len && memcmp(p->v[i].type, type, len) == 0)
			return &p->v[i];
	if (!make || p->n == PLAN_TYPES || len > PLAN_TYPE_MAX)
		return NULL;
	plan *t = &p->v[p->n++];
	memcpy(t->type, type, len);
	t->len = (uint32_t)len;
	return t;
}

/* vg__plan_fn, from worker 0's thread. */
static void plan_learnt(void *ctx, const char *type, size_t len, const vg__match_plan *m,
			size_t n)
{
	vg_rules_engine *e = ctx;
	pthread_mutex_lock(&e->plan_mu);
	plan *t = plan_find(&e->learnt, type, len, true);
	if (t) {
		memcpy(t->m, m, n * sizeof(*m));
		t->n = (uint32_t)n;
	}
	pthread_mutex_unlock(&e->plan_mu);
	atomic_fetch_add_explicit(&e->plan_gen, 1, memory_order_release);
}

static bool ahead_wanted(const vg_rules_engine *e, const worker *w)
{
	if (!e->o.banks || e->o.match_ahead < 0)
		return false;
	return e->o.match_ahead > 0 || (e->spare_core && w->behind);
}

/* The learnt lookups for the event in e->doc, into h. */
static void answer_ahead(vg_rules_engine *e, vg__event_head *h)
{
	uint64_t gen = atomic_load_explicit(&e->plan_gen, memory_order_acquire);
	if (gen != e->ahead_gen) {
		pthread_mutex_lock(&e->plan_mu);
		e->ahead = e->learnt;
		pthread_mutex_unlock(&e->plan_mu);
		e->ahead_gen = gen;
	}
	const vg_json_node *ty = &e->doc.nodes[h->type];
	const plan *t = plan_find(&e->ahead, ty->v.str, ty->len, false);
	for (uint32_t k = 0; t && k < t->n; k++) {
		const vg__match_plan *m = &t->m[k];
		long i = vg_json_getn(&e->doc, 0, m->key, m->len);
		if (i < 0 || e->doc.nodes[i].type != VG_JSON_STRING)
			continue;
		if (!e->memo)
			e->memo = vg__url_memo_new();
		const vg_json_node *nd = &e->doc.nodes[i];
		h->ahead[h->n_ahead++] = (vg__ahead){
			.bank = m->bank,
			.node = (uint32_t)i,
			.hit = vg__rules_banks_match_at(e->o.banks, m->bank, nd->v.str, nd->len, e->memo),
		};
	}
}

void vg_rules_engine_push(vg_rules_engine *e, const char *line, size_t len, uint64_t seq)
{
	if (len > e->o.max_event_bytes) {
		char why[96];
		snprintf(why, sizeof(why), "event of %zu bytes is over the limit of %zu", len,
			 e->o.max_event_bytes);
		bad_line(e, seq, why);
		return;
	}
	vg_error err;
	if (vg_json_decode(&e->doc, line, len, &err) != 0) {
		bad_line(e, seq, err.msg);
		return;
	}
	vg__event_head h;
	vg__rules_event_head(&e->doc, 0, &h);
	if (h.type < 0) {
		bad_line(e, seq, "an event needs a string \"type\"");
		return;
	}
	/* An event without a usable ts takes the stream's time so far. The wall clock would
	 * put it in the present among past events (a replay of old logs), moving its keys'
	 * windows years ahead of the events after it. Before any ts, the worker reads the
	 * clock (time 0). */
	if (h.time > e->stream_time)
		e->stream_time = h.time;
	else if (!h.time)
		h.time = e->stream_time;
	worker *w = &e->w[pick_worker(e, &e->doc)];
	if (ahead_wanted(e, w))
		answer_ahead(e, &h);
	size_t need = sizeof(vg_json_doc) + vg_json_doc_copy_size(&e->doc);
	need = (need + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	batch *b = room(w, len, need);
	item *it = &b->items[b->n++];
	memcpy(b->buf + b->used, line, len);
	*it = (item){.off = b->used, .len = len, .doc = b->docs_used, .head = h, .seq = seq};
	b->used += len;
	vg_json_doc *kept = (vg_json_doc *)((char *)b->docs + b->docs_used);
	vg_json_doc_copy(&e->doc, kept + 1, kept);
	b->docs_used += need;
}

void vg_rules_engine_set_error_fn(vg_rules_engine *e, vg_event_error_fn *fn, void *ctx)
{
	e->on_error = fn;
	e->error_ctx = ctx;
}

static void wait_idle(worker *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->queue_head || w->busy)
		pthread_cond_wait(&w->cond, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

int vg_rules_engine_drain(vg_rules_engine *e, vg_rules_stats *ret, vg_error *err)
{
	for (int i = 0; i < e->n; i++)
		submit(&e->w[i]);
	vg_rules_stats sum = {.bad_events = e->bad_events};
	int rc = 0;
	for (int i = 0; i < e->n; i++) {
		worker *w = &e->w[i];
		wait_idle(w);
		/* The worker is idle and its mutex (taken in wait_idle) ordered its writes
		 * before these reads. */
		const vg_rules_stats *s = vg__rules_vm_stats(w->vm);
		sum.events += s->events;
		sum.bad_events += s->bad_events;
		sum.rule_errors += s->rule_errors;
		sum.budget_stops += s->budget_stops;
		for (int a = 0; a < VG_ACTION_COUNT; a++) {
			sum.verdicts[a] += s->verdicts[a];
			sum.shadow_verdicts[a] += s->shadow_verdicts[a];
		}
		size_t n;
		vg__label_write *lw = vg__rules_vm_take_labels(w->vm, &n);
		if (n && e->o.store_path && rc == 0)
			rc = vg__rules_labels_persist(e->o.store_path, lw, n, err);
		vg__label_write_free(lw, n);
	}
	if (ret)
		*ret = sum;
	return rc;
}

void vg_rules_engine_free(vg_rules_engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->n; i++) {
		worker *w = &e->w[i];
		if (!w->started)
			continue;
		submit(w);
		pthread_mutex_lock(&w->mu);
		w->stop = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
	}
	for (int i = 0; i < e->n; i++) {
		worker *w = &e->w[i];
		for (batch *b = w->free_list, *nx; b; b = nx) {
			nx = b->next;
			batch_free(b);
		}
		for (batch *b = w->queue_head, *nx; b; b = nx) {
			nx = b->next;
			batch_free(b);
		}
		batch_free(w->filling);
		vg__rules_vm_free(w->vm);
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cond);
	}
	vg_labels_free(e->shared_labels);
	vg_label_bus_free(e->bus);
	vg_json_doc_done(&e->doc);
	vg__url_memo_free(e->memo);
	pthread_mutex_destroy(&e->plan_mu);
	free(e->w);
	free(e);
}

static void fill_vm_opts(const vg_rules_opts *o, const vg_labels *shared, int worker_index,
			 vg__rules_vm_opts *ret)
{
	*ret = (vg__rules_vm_opts){
		.budget_ms = o->budget_ms,
		.max_counter_keys = o->max_counter_keys,
		.max_distinct_keys = o->max_distinct_keys,
		.max_labels = o->max_labels,
		.banks = o->banks,
		.shared_labels = shared,
		.record_label_writes = o->store_path != NULL,
		.bus = o->bus,
		.bus_index = o->bus_index,
		.worker = worker_index,
		.on_error = o->on_rule_error,
		.error_ctx = o->error_ctx,
	};
}

static int check_opts(const vg_rules_opts *in, vg_rules_opts *o, vg_error *err)
{
	*o = *in;
	if (o->workers == 0)
		o->workers = 1;
	if (o->workers < 1 || o->workers > MAX_WORKERS)
		return vg_error_set(err, VG_EINVAL, "workers must be 1 to %d", MAX_WORKERS);
	if (!o->max_event_bytes)
		o->max_event_bytes = VG_RULES_EVENT_MAX;
	if (o->max_event_bytes > BATCH_BYTES)
		return vg_error_set(err, VG_EINVAL, "max event bytes must be at most %zu", BATCH_BYTES);
	if (o->partition_key && (strlen(o->partition_key) == 0 || strlen(o->partition_key) >= 64))
		return vg_error_set(err, VG_EINVAL, "the partition key must be 1 to 63 bytes");
	return 0;
}

int vg_rules_engine_new(const vg_ruleset *rs, const vg_rules_opts *opts, vg_rules_engine **ret,
			vg_error *err)
{
	vg_rules_engine *e = vg_xcalloc(1, sizeof(*e));
	int rc = check_opts(opts, &e->o, err);
	if (rc) {
		free(e);
		return rc;
	}
	vg_json_doc_init(&e->doc, 0);
	pthread_mutex_init(&e->plan_mu, NULL);
	e->spare_core = e->o.workers < vg_cpu_count();
	if (e->o.partition_key)
		snprintf(e->key, sizeof(e->key), "%s", e->o.partition_key);
	e->o.partition_key = NULL; /* the caller's string: e->key is ours */
	e->n = e->o.workers;
	e->bus = e->n > 1 ? vg_label_bus_new(e->n) : NULL;
	e->o.bus = e->bus;
	e->w = vg_xcalloc((size_t)e->n, sizeof(*e->w));
	for (int i = 0; i < e->n; i++) {
		pthread_mutex_init(&e->w[i].mu, NULL);
		pthread_cond_init(&e->w[i].cond, NULL);
	}
	if (e->o.store_path) {
		e->shared_labels = vg_labels_new(e->o.max_labels ? e->o.max_labels : 1 << 20);
		/* Every stored label, not those live by the wall clock: a replay of old logs
		 * set them with expiries in the logs' time, and has_label judges them at each
		 * event's time, so a stream replayed in parts (a file per day) keeps them. */
		if ((rc = vg__rules_labels_load(e->o.store_path, 0, e->shared_labels, err)))
			goto out;
	}
	for (int i = 0; i < e->n; i++) {
		worker *w = &e->w[i];
		w->eng = e;
		w->index = i;
		vg__rules_vm_opts vo;
		e->o.bus_index = i;
		fill_vm_opts(&e->o, e->shared_labels, i, &vo);
		if (i == 0) { /* one state's plan stands for all: they run the same rules */
			vo.on_plan = plan_learnt;
			vo.plan_ctx = e;
		}
		if ((rc = vg__rules_vm_new(rs, &vo, &w->vm, err)))
			goto out;
	}
	for (int i = 0; i < e->n; i++) {
		worker *w = &e->w[i];
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			rc = vg_error_set(err, VG_EINTERNAL, "cannot start a worker thread");
			goto out;
		}
		w->started = true;
	}
out:
	if (rc) {
		vg_rules_engine_free(e);
		return rc;
	}
	*ret = e;
	return 0;
}

/* ---- the synchronous runner ------------------------------------------------------------ */
struct vg_rules_runner {
	vg_rules_opts o;
	vg__rules_vm *vm;
	vg_json_doc doc;
	vg_labels *shared_labels;
	uint64_t seq;
};

int vg_rules_runner_new(const vg_ruleset *rs, const vg_rules_opts *opts, vg_rules_runner **ret,
			vg_error *err)
{
	vg_rules_runner *r = vg_xcalloc(1, sizeof(*r));
	int rc = check_opts(opts, &r->o, err);
	if (rc)
		goto out;
	vg_json_doc_init(&r->doc, 0);
	if (r->o.store_path) {
		r->shared_labels = vg_labels_new(r->o.max_labels ? r->o.max_labels : 1 << 20);
		if ((rc = vg__rules_labels_load(r->o.store_path, vg_time_now(), r->shared_labels,
						err)))
			goto out;
	}
	vg__rules_vm_opts vo;
	fill_vm_opts(&r->o, r->shared_labels, 0, &vo);
	rc = vg__rules_vm_new(rs, &vo, &r->vm, err);
out:
	if (rc) {
		vg_rules_runner_free(r);
		return rc;
	}
	*ret = r;
	return 0;
}

void vg_rules_runner_free(vg_rules_runner *r)
{
	if (!r)
		return;
	if (r->vm && r->o.store_path) {
		size_t n;
		vg__label_write *lw = vg__rules_vm_take_labels(r->vm, &n);
		vg_error err;
		if (n && vg__rules_labels_persist(r->o.store_path, lw, n, &err) != 0)
			vg_log(VG_LOG_WARN, "rules.labels", "msg=\"%s\"", err.msg);
		vg__label_write_free(lw, n);
	}
	vg__rules_vm_free(r->vm);
	vg_json_doc_done(&r->doc);
	vg_labels_free(r->shared_labels);
	free(r);
}

int vg_rules_runner_eval(vg_rules_runner *r, const char *line, size_t len, vg_verdict_fn *fn,
			 void *ctx, vg_error *err)
{
	uint64_t seq = r->seq++;
	if (len > r->o.max_event_bytes) {
		vg__rules_vm_stats(r->vm)->bad_events++;
		return vg_error_set(err, VG_ETOOBIG, "event of %zu bytes is over the limit of %zu",
				    len, r->o.max_event_bytes);
	}
	vg__event_head h;
	int rc = vg_json_decode(&r->doc, line, len, err);
	if (rc == 0) {
		vg__rules_event_head(&r->doc, vg_time_now(), &h);
		if (h.type < 0)
			rc = vg_error_set(err, VG_EINVAL, "an event needs a string \"type\"");
	}
	if (rc) {
		vg__rules_vm_stats(r->vm)->bad_events++;
		return rc;
	}
	vg__rules_vm_eval(r->vm, &r->doc, &h, line, len, seq, fn, ctx);
	return 0;
}

/* ---- keeping a doc ------------------------------------------------------------------ */
static size_t nodes_bytes(const vg_json_doc *doc)
{
	return (doc->n * sizeof(vg_json_node) + 15) & ~(size_t)15;
}

size_t vg_json_doc_copy_size(const vg_json_doc *doc)
{
	return nodes_bytes(doc) + doc->strused;
}

void vg_json_doc_copy(const vg_json_doc *doc, void *mem, vg_json_doc *ret)
{
	vg_json_node *nodes = mem;
	char *str = (char *)mem + nodes_bytes(doc);
	size_t used = doc->strused;
	memcpy(nodes, doc->nodes, doc->n * sizeof(*nodes));
	memcpy(str, doc->strbuf, used);
	for (size_t i = 0; i < doc->n; i++)
		if (nodes[i].type == VG_JSON_STRING)
			nodes[i].v.str = str + (nodes[i].v.str - doc->strbuf);
	*ret = (vg_json_doc){.nodes = nodes, .n = doc->n, .cap = doc->n, .strbuf = str,
			     .strcap = used, .strused = used};
}

void vg_rules_runner_eval_doc(vg_rules_runner *r, const vg_json_doc *doc, const char *line,
			      size_t len, vg_verdict_fn *fn, void *ctx)
{
	vg__event_head h;
	vg__rules_event_head(doc, 0, &h);
	if (!h.time) /* no "ts" of its own: only then is the clock read */
		h.time = vg_time_now();
	vg__rules_vm_eval(r->vm, doc, &h, line, len, r->seq++, fn, ctx);
}

struct vg_rules_label_batch {
	vg__label_write *w;
	size_t n;
};

vg_rules_label_batch *vg_rules_runner_take_labels(vg_rules_runner *r)
{
	if (!r || !r->vm || !r->o.store_path)
		return NULL;
	size_t n;
	vg__label_write *w = vg__rules_vm_take_labels(r->vm, &n);
	if (!n) {
		vg__label_write_free(w, n);
		return NULL;
	}
	vg_rules_label_batch *b = vg_xmalloc(sizeof(*b));
	b->w = w;
	b->n = n;
	return b;
}

void vg_rules_runner_put_label(vg_rules_runner *r, const char *kind, const char *id,
			       const char *name, vg_usec expires_at)
{
	vg__rules_vm_put_label(r->vm, kind, id, name, expires_at);
}

void vg_rules_runner_set_banks(vg_rules_runner *r, const vg_rules_banks *banks)
{
	vg__rules_vm_set_banks(r->vm, banks);
}

void vg_rules_runner_give_labels(vg_rules_runner *r, vg_rules_label_batch *b)
{
	if (!b)
		return;
	vg__rules_vm_give_labels(r->vm, b->w, b->n);
	free(b);
}

int vg_rules_label_batch_persist(const vg_rules_label_batch *b, vg_store *s, vg_error *err)
{
	if (!b || !b->n)
		return 0;
	return vg__rules_labels_write(s, b->w, b->n, err);
}

size_t vg_rules_label_batch_count(const vg_rules_label_batch *b)
{
	return b ? b->n : 0;
}

void vg_rules_label_batch_free(vg_rules_label_batch *b)
{
	if (!b)
		return;
	vg__label_write_free(b->w, b->n);
	free(b);
}

void vg_rules_runner_stats(const vg_rules_runner *r, vg_rules_stats *ret)
{
	*ret = *vg__rules_vm_stats(r->vm);
}

const char *vg_rules_runner_rule_errors(const vg_rules_runner *r, size_t i, uint64_t *ret_errors,
					uint64_t *ret_budget_stops)
{
	return vg__rules_vm_rule_errors(r->vm, i, ret_errors, ret_budget_stops);
}
