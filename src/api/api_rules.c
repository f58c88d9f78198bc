/* SPDX-License-Identifier: Apache-2.0
 *
 * The rules folder behind POST /v1/events, and its resource: GET /v1/rules (each rule
 * with its live and shadow verdict counts, errors and budget stops), PUT /v1/rules/{name}
 * (new Lua source, or a shadow toggle) and DELETE /v1/rules/{name}.
 *
 * Evaluation runs in lanes: each lane is one synchronous Lua state (vg_rules_runner) with
 * its own counters and labels, guarded by a mutex; an event's partition key picks its
 * lane, so one key's counters see all its events. A label one lane sets reaches the
 * others through a vg_label_bus, before their next event. A reload (SIGHUP, or an edit
 * through the API) compiles new states for every lane first, then swaps them in one lane
 * at a time under that lane's mutex, that is between two batches: an event runs on the
 * old state or the new one, never both, never neither. Counters start empty after a reload
 * (labels do not: each state writes its labels to the store when it is retired and the
 * new ones read them back). Labels set while serving are also written every
 * LABEL_FLUSH_MS by a flusher thread, which takes each lane's new labels under the lane's
 * mutex (a pointer swap) and writes them outside it, so a kill -9 loses at most the last
 * LABEL_FLUSH_MS of labels and events never wait for the store.
 *
 * A reload keeps every label. Under labels_mu (so no other flush is between its take and
 * its write) it holds the bus, flushes, builds the new states, which read the store, and
 * hands each the labels its retired state set since that flush; then it releases the
 * bus. A label set before the flush is in the store; one set after it by a lane is in
 * that lane's hand-over, and in the other lanes' inboxes, which the held bus kept for
 * the new states.
 *
 * Storage: PUT writes the source to DIR/NAME.lua (a temporary file, fsync, rename, fsync
 * of the folder), so an edit survives a restart and shows in `git diff` of the folder.
 * Shadow overrides made through the API live in DIR/.vigil-shadow.json (the loader reads
 * only *.lua files). The source is compiled in the sandbox and run against
 * DIR/NAME.test.ndjson, when that fixture exists, before it is written; then the whole
 * folder is loaded, and if that fails (a rule name used twice across files) the old file
 * is put back.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define OVERRIDES_FILE ".vigil-shadow.json"
#define SOURCE_MAX ((size_t)1 << 20)
#define FIXTURE_MAX ((size_t)16 << 20)
#define LABEL_FLUSH_MS 2000

typedef struct lane {
	pthread_mutex_t mu;
	vg_rules_runner *r; /* replaced only under mu */
} lane;

typedef struct rule_stat {
	char name[VG_RULES_NAME_MAX + 1];
	uint64_t live[VG_ACTION_COUNT], shadow[VG_ACTION_COUNT];
	uint64_t errors, budget_stops; /* of states retired by reloads */
	int override;                  /* -1: none; 0: live; 1: shadow */
} rule_stat;

struct vg__rules_state {
	char dir[VG_OPT_STRING_MAX];
	pthread_mutex_t admin_mu; /* one reload or edit at a time; guards rs and banks */
	vg_label_bus *bus;
	pthread_mutex_t labels_mu; /* a label flush, a reload's build and swap (see top), or
				    * a label edit (which then takes every lane in order);
				    * lock order: admin_mu, labels_mu, a lane's mu, stats_mu */
	vg_ruleset *rs;
	vg_rules_banks *banks;
	int64_t banks_seq; /* the store's change seq banks reflect */
	int nlanes;
	lane *lanes;
	pthread_mutex_t stats_mu;
	rule_stat *stats;         /* every rule seen since start (counts outlive reloads) */
	size_t nstats, capstats;
	uint64_t reloads, reload_errors;
	uint64_t events_accepted, events_rejected; /* under stats_mu */
	pthread_t flusher;
	bool flusher_started, flusher_stop; /* flusher_stop under flush_mu */
	pthread_mutex_t flush_mu;
	pthread_cond_t flush_cond;
	uint64_t label_flushes, label_flush_errors; /* under flush_mu */
	vg_usec loaded_at;
};

/* Under stats_mu. */
static rule_stat *stat_find(struct vg__rules_state *st, const char *name, bool create)
{
	for (size_t i = 0; i < st->nstats; i++)
		if (strcmp(st->stats[i].name, name) == 0)
			return &st->stats[i];
	if (!create)
		return NULL;
	if (st->nstats == st->capstats) {
		st->capstats = st->capstats ? st->capstats * 2 : 16;
		rule_stat *grown = realloc(st->stats, st->capstats * sizeof(*st->stats));
		if (!grown)
			abort(); /* a few hundred bytes per rule: STYLE.md 3 */
		st->stats = grown;
	}
	rule_stat *r = &st->stats[st->nstats++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->override = -1;
	return r;
}

static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > VG_RULES_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Replaces dir/name with data: temporary file, fsync, rename, fsync of the folder, so
 * a crash leaves the old file or the new one, whole. */
static int write_atomic(const char *dir, const char *name, const void *data, size_t len,
			vg_error *err)
{
	char tmp[VG_OPT_STRING_MAX + 300], path[VG_OPT_STRING_MAX + 300];
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vg_error_set(err, VG_EIO, "cannot write %s: %s", tmp, strerror(errno));
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(tmp);
			return vg_error_set(err, VG_EIO, "cannot write %s", tmp);
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return vg_error_set(err, VG_EIO, "cannot write %s", path);
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

static int remove_synced(const char *dir, const char *name)
{
	char path[VG_OPT_STRING_MAX + 300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) != 0)
		return VG_EIO;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* ---- overrides ------------------------------------------------------------------------ */
static void overrides_load(struct vg__rules_state *st)
{
	char path[VG_OPT_STRING_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", st->dir, OVERRIDES_FILE);
	json_t *o = json_load_file(path, 0, NULL);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (json_is_boolean(v) && name_ok(k))
			stat_find(st, k, true)->override = json_is_true(v);
	}
	json_decref(o);
}

/* Under admin_mu. */
static int overrides_save(struct vg__rules_state *st, vg_error *err)
{
	json_t *o = json_object();
	pthread_mutex_lock(&st->stats_mu);
	for (size_t i = 0; i < st->nstats; i++)
		if (st->stats[i].override >= 0)
			json_object_set_new(o, st->stats[i].name, json_boolean(st->stats[i].override));
	pthread_mutex_unlock(&st->stats_mu);
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	int rc = write_atomic(st->dir, OVERRIDES_FILE, text, strlen(text), err);
	free(text);
	return rc;
}

/* Under admin_mu: sets rule name's override (-1 none, 0 live, 1 shadow) in memory and
 * answers the one it had. A deleted rule's override goes with it: kept, it would turn
 * the next rule of that name live (or shadow) against what that rule declares. */
static int set_override(struct vg__rules_state *st, const char *name, int override)
{
	pthread_mutex_lock(&st->stats_mu);
	rule_stat *r = stat_find(st, name, override >= 0);
	int was = r ? r->override : -1;
	if (r)
		r->override = override;
	pthread_mutex_unlock(&st->stats_mu);
	return was;
}

/* ---- loading and reloading -------------------------------------------------------------- */
static void runner_opts(vg_api *api, const vg_rules_banks *banks, vg_rules_opts *o)
{
	*o = (vg_rules_opts){
		.workers = 1,
		.max_event_bytes = (size_t)api->cfg.max_event_bytes,
		.budget_ms = (uint64_t)api->cfg.rules_budget_ms,
		.banks = banks,
		.store_path = api->cfg.db,
		.bus = api->rules->bus,
	};
}

/* Under labels_mu: writes b (taken from a lane) to the store, and frees it. */
static void persist_labels(vg_api *api, vg_rules_label_batch *b)
{
	struct vg__rules_state *st = api->rules;
	if (b) {
		vg_error err;
		vg_store *s = vg__api_store(api, NULL); /* this thread's, kept open */
		int rc = s ? vg_rules_label_batch_persist(b, s, &err)
			   : vg_error_set(&err, VG_EIO, "cannot open the store");
		if (rc)
			vg_log(VG_LOG_WARN, "rules.labels", "labels=%zu msg=\"%s\"",
			       vg_rules_label_batch_count(b), err.msg);
		vg_rules_label_batch_free(b);
		pthread_mutex_lock(&st->flush_mu);
		if (rc)
			st->label_flush_errors++;
		else
			st->label_flushes++;
		pthread_mutex_unlock(&st->flush_mu);
	}
}

/* Under labels_mu: writes every lane's labels set since the last flush. */
static void flush_labels_locked(vg_api *api)
{
	struct vg__rules_state *st = api->rules;
	for (int i = 0; i < st->nlanes; i++) {
		lane *l = &st->lanes[i];
		pthread_mutex_lock(&l->mu);
		vg_rules_label_batch *b = vg_rules_runner_take_labels(l->r);
		pthread_mutex_unlock(&l->mu);
		persist_labels(api, b);
	}
}

static void flush_labels(vg_api *api)
{
	struct vg__rules_state *st = api->rules;
	pthread_mutex_lock(&st->labels_mu);
	flush_labels_locked(api);
	pthread_mutex_unlock(&st->labels_mu);
}

/* Under admin_mu: loads the folder, builds every lane's new state, then swaps them in. */
static int reload_locked(vg_api *api, vg_error *err)
{
	struct vg__rules_state *st = api->rules;
	vg_ruleset *rs = NULL;
	vg_rules_banks *banks = NULL;
	vg_rules_runner **fresh = vg_xcalloc((size_t)st->nlanes, sizeof(*fresh));
	vg_store *s = NULL;
	vg_store_watermark wm = {0};
	int rc = vg_ruleset_load_dir(st->dir, &rs, err);
	if (!rc)
		rc = vg_store_open(api->cfg.db, &s, err);
	if (!rc) /* before the banks: a change made while they are read is read again */
		rc = vg_store_watermark_get(s, &wm, err);
	if (!rc)
		rc = vg_rules_banks_open(s, (int)VG__CFG(api, threshold), &banks, err);
	vg_store_close(s);
	vg_rules_opts o;
	runner_opts(api, banks, &o);
	pthread_mutex_lock(&st->labels_mu);
	vg_label_bus_hold(st->bus, true);
	flush_labels_locked(api);
	for (int i = 0; i < st->nlanes && !rc; i++) {
		o.bus_index = i;
		rc = vg_rules_runner_new(rs, &o, &fresh[i], err);
	}
	if (rc) {
		vg_label_bus_hold(st->bus, false);
		pthread_mutex_unlock(&st->labels_mu);
		st->reload_errors++;
		for (int i = 0; i < st->nlanes; i++)
			vg_rules_runner_free(fresh[i]);
		free(fresh);
		vg_rules_banks_free(banks);
		vg_ruleset_free(rs);
		return rc;
	}
	pthread_mutex_lock(&st->stats_mu);
	for (size_t i = 0; i < vg_ruleset_count(rs); i++)
		stat_find(st, vg_ruleset_rule_name(rs, i, NULL), true);
	pthread_mutex_unlock(&st->stats_mu);
	for (int i = 0; i < st->nlanes; i++) {
		lane *l = &st->lanes[i];
		pthread_mutex_lock(&l->mu);
		vg_rules_runner *old = l->r;
		vg_rules_runner_give_labels(fresh[i], vg_rules_runner_take_labels(old));
		l->r = fresh[i];
		pthread_mutex_lock(&st->stats_mu);
		/* The retired state's error counts move to the table, so totals never drop. */
		uint64_t e, b;
		const char *name;
		for (size_t k = 0; old && (name = vg_rules_runner_rule_errors(old, k, &e, &b)); k++) {
			rule_stat *r = stat_find(st, name, true);
			r->errors += e;
			r->budget_stops += b;
		}
		pthread_mutex_unlock(&st->stats_mu);
		pthread_mutex_unlock(&l->mu);
		fresh[i] = old; /* freed below, outside the lane */
	}
	vg_label_bus_hold(st->bus, false);
	pthread_mutex_unlock(&st->labels_mu);
	for (int i = 0; i < st->nlanes; i++)
		vg_rules_runner_free(fresh[i]);
	free(fresh);
	vg_rules_banks_free(st->banks);
	vg_ruleset_free(st->rs);
	st->banks = banks;
	st->banks_seq = wm.seq;
	st->rs = rs;
	st->reloads++;
	st->loaded_at = vg_time_now();
	vg_log(VG_LOG_INFO, "rules.loaded", "dir=%s rules=%zu lanes=%d", st->dir, vg_ruleset_count(rs),
	       st->nlanes);
	return 0;
}

void vg__api_rules_follow_banks(vg_api *api, vg_store *s, int64_t seq)
{
	struct vg__rules_state *st = api->rules;
	if (!st)
		return;
	pthread_mutex_lock(&st->admin_mu);
	vg_rules_banks *banks = NULL;
	vg_error err;
	int rc = 0;
	/* seq was read before the banks are: a change made meanwhile is read again. */
	if (st->banks && st->banks_seq != seq &&
	    (rc = vg_rules_banks_refresh(st->banks, s, &banks, &err)) == 0) {
		for (int i = 0; i < st->nlanes; i++) {
			pthread_mutex_lock(&st->lanes[i].mu);
			vg_rules_runner_set_banks(st->lanes[i].r, banks);
			pthread_mutex_unlock(&st->lanes[i].mu);
		}
		vg_rules_banks_free(st->banks); /* no lane reads it any more */
		st->banks = banks;
		st->banks_seq = seq;
	}
	pthread_mutex_unlock(&st->admin_mu);
	if (rc)
		vg_log(VG_LOG_WARN, "rules.banks_follow_failed", "error=%s msg=\"%s\"",
		       vg_error_name(err.code), err.msg);
}

void vg__api_rules_labels_flush(vg_api *api)
{
	if (api->rules)
		flush_labels(api);
}

/* With every lane held no rule runs, so the change is one step in every lane's order:
 * no lane's pending write of the label, nor one waiting in an inbox, can land after it.
 * Only eval ever holds a lane, one at a time, so taking them all in order cannot
 * deadlock; events wait for one store transaction, which an operator's edit is worth. */
int vg__api_rules_label_edit(vg_api *api, const vg_store_label *l, vg__label_edit_fn *fn,
			     void *ctx, vg_error *err)
{
	struct vg__rules_state *st = api->rules;
	if (!st)
		return fn(ctx, err);
	pthread_mutex_lock(&st->labels_mu);
	for (int i = 0; i < st->nlanes; i++)
		pthread_mutex_lock(&st->lanes[i].mu);
	/* The lanes' pending writes go first, so the edit finds the label a rule set a
	 * moment ago (up to LABEL_FLUSH_MS): a DELETE answered 404 for it and left it live. */
	for (int i = 0; i < st->nlanes; i++)
		persist_labels(api, vg_rules_runner_take_labels(st->lanes[i].r));
	int rc = fn(ctx, err);
	if (rc == 0) {
		for (int i = 0; i < st->nlanes; i++)
			vg_rules_runner_put_label(st->lanes[i].r, l->kind, l->entity, l->name,
						  l->expires_at);
		vg_label_bus_forget(st->bus, l->kind, l->entity, l->name);
	}
	for (int i = st->nlanes - 1; i >= 0; i--)
		pthread_mutex_unlock(&st->lanes[i].mu);
	pthread_mutex_unlock(&st->labels_mu);
	return rc;
}

static void *flusher_main(void *arg)
{
	vg_api *api = arg;
	struct vg__rules_state *st = api->rules;
	pthread_mutex_lock(&st->flush_mu);
	while (!st->flusher_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += LABEL_FLUSH_MS / 1000;
		ts.tv_nsec += (LABEL_FLUSH_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&st->flush_cond, &st->flush_mu, &ts);
		if (st->flusher_stop)
			break;
		pthread_mutex_unlock(&st->flush_mu);
		flush_labels(api);
		pthread_mutex_lock(&st->flush_mu);
	}
	pthread_mutex_unlock(&st->flush_mu);
	return NULL;
}

int vg__api_rules_open(vg_api *api, vg_error *err)
{
	if (!api->cfg.rules[0])
		return 0;
	struct vg__rules_state *st = vg_xcalloc(1, sizeof(*st));
	snprintf(st->dir, sizeof(st->dir), "%s", api->cfg.rules);
	pthread_mutex_init(&st->admin_mu, NULL);
	pthread_mutex_init(&st->labels_mu, NULL);
	pthread_mutex_init(&st->stats_mu, NULL);
	pthread_mutex_init(&st->flush_mu, NULL);
	pthread_cond_init(&st->flush_cond, NULL);
	st->nlanes = api->cfg.rules_workers ? (int)api->cfg.rules_workers : vg_cpu_count();
	if (st->nlanes < 1)
		st->nlanes = 1;
	if (st->nlanes > 64)
		st->nlanes = 64;
	st->lanes = vg_xcalloc((size_t)st->nlanes, sizeof(*st->lanes));
	st->bus = vg_label_bus_new(st->nlanes);
	for (int i = 0; i < st->nlanes; i++)
		pthread_mutex_init(&st->lanes[i].mu, NULL);
	api->rules = st;
	overrides_load(st);
	pthread_mutex_lock(&st->admin_mu);
	int rc = reload_locked(api, err);
	pthread_mutex_unlock(&st->admin_mu);
	if (rc) {
		vg__api_rules_close(api);
		return rc;
	}
	st->reloads = 0;
	if (pthread_create(&st->flusher, NULL, flusher_main, api) == 0)
		st->flusher_started = true;
	else
		vg_log(VG_LOG_WARN, "rules.labels", "msg=\"cannot start the label flusher; labels are written at reload and shutdown only\"");
	return 0;
}

void vg__api_rules_close(vg_api *api)
{
	struct vg__rules_state *st = api->rules;
	if (!st)
		return;
	if (st->flusher_started) {
		pthread_mutex_lock(&st->flush_mu);
		st->flusher_stop = true;
		pthread_cond_broadcast(&st->flush_cond);
		pthread_mutex_unlock(&st->flush_mu);
		pthread_join(st->flusher, NULL);
	}
	for (int i = 0; i < st->nlanes; i++) {
		vg_rules_runner_free(st->lanes[i].r);
		pthread_mutex_destroy(&st->lanes[i].mu);
	}
	free(st->lanes);
	vg_label_bus_free(st->bus);
	vg_rules_banks_free(st->banks);
	vg_ruleset_free(st->rs);
	free(st->stats);
	pthread_mutex_destroy(&st->admin_mu);
	pthread_mutex_destroy(&st->labels_mu);
	pthread_mutex_destroy(&st->stats_mu);
	pthread_mutex_destroy(&st->flush_mu);
	pthread_cond_destroy(&st->flush_cond);
	free(st);
	api->rules = NULL;
}

int vg_api_reload(vg_api *api, vg_error *err)
{
	struct vg__rules_state *st = api->rules;
	if (!st)
		return 0;
	pthread_mutex_lock(&st->admin_mu);
	int rc = reload_locked(api, err);
	pthread_mutex_unlock(&st->admin_mu);
	return rc;
}

int vg__api_rules_lanes(vg_api *api)
{
	return api->rules ? api->rules->nlanes : 0;
}

void vg__api_rules_eval(vg_api *api, vg__event_line *lines, size_t n, vg_verdict_fn *fn, void *ctx)
{
	struct vg__rules_state *st = api->rules;
	size_t *per = vg_xcalloc((size_t)st->nlanes, sizeof(*per));
	size_t left = 0;
	for (size_t i = 0; i < n; i++)
		left += per[lines[i].lane]++ == 0;
	/* One lock per lane per request: its lines run in input order, and a reload waits
	 * for the batch to end. Lanes are taken as they come free rather than in order, so
	 * concurrent requests do not queue behind each other lane after lane; when none is
	 * free, wait for the first one left. */
	static atomic_uint turn;
	int from = (int)(atomic_fetch_add(&turn, 1) % (unsigned)st->nlanes);
	for (; left > 0; left--) {
		int l = -1;
		for (int k = 0; k < st->nlanes && l < 0; k++) {
			int c = (from + k) % st->nlanes;
			if (per[c] && pthread_mutex_trylock(&st->lanes[c].mu) == 0)
				l = c;
		}
		if (l < 0) {
			l = from;
			while (!per[l])
				l = (l + 1) % st->nlanes;
			pthread_mutex_lock(&st->lanes[l].mu);
		}
		per[l] = 0;
		from = (l + 1) % st->nlanes;
		for (size_t i = 0; i < n; i++) {
			if (lines[i].lane != l)
				continue;
			vg_error err;
			/* The caller decoded each line already; an error here is counted by the
			 * runner and cannot happen for a line that decoded. */
			if (lines[i].doc)
				vg_rules_runner_eval_doc(st->lanes[l].r, lines[i].doc, lines[i].text,
							 lines[i].len, fn, ctx);
			else if (vg_rules_runner_eval(st->lanes[l].r, lines[i].text, lines[i].len, fn,
						      ctx, &err) != 0)
				continue;
		}
		pthread_mutex_unlock(&st->lanes[l].mu);
	}
	free(per);
}

void vg__api_rules_modes(vg_api *api, vg__rule_tally *t, size_t n)
{
	struct vg__rules_state *st = api->rules;
	pthread_mutex_lock(&st->stats_mu);
	for (size_t i = 0; i < n; i++) {
		rule_stat *r = stat_find(st, t[i].rule, true);
		t[i].acts = !(r->override >= 0 ? r->override == 1 : t[i].declared_shadow);
	}
	pthread_mutex_unlock(&st->stats_mu);
}

void vg__api_rules_merge(vg_api *api, const vg__rule_tally *t, size_t n)
{
	struct vg__rules_state *st = api->rules;
	pthread_mutex_lock(&st->stats_mu);
	for (size_t i = 0; i < n; i++) {
		rule_stat *r = stat_find(st, t[i].rule, true);
		for (int a = 0; a < VG_ACTION_COUNT; a++)
			(t[i].acts ? r->live : r->shadow)[a] += t[i].n[a];
	}
	pthread_mutex_unlock(&st->stats_mu);
}

static long rule_index(const vg_ruleset *rs, const char *name);

bool vg__api_rules_known(vg_api *api, const char *name)
{
	struct vg__rules_state *st = api->rules;
	pthread_mutex_lock(&st->stats_mu);
	bool known = stat_find(st, name, false) != NULL;
	pthread_mutex_unlock(&st->stats_mu);
	return known;
}

void vg__api_rules_count_events(vg_api *api, size_t accepted, size_t rejected)
{
	struct vg__rules_state *st = api->rules;
	if (!st)
		return;
	pthread_mutex_lock(&st->stats_mu);
	st->events_accepted += accepted;
	st->events_rejected += rejected;
	pthread_mutex_unlock(&st->stats_mu);
}

/* Rule names are [A-Za-z0-9_.-] (rules_lua.c), so they need no escaping in a label. */
void vg__api_rules_metrics(vg_api *api, char *out, size_t cap, size_t *len)
{
	struct vg__rules_state *st = api->rules;
	if (!st)
		return;
	size_t m = *len;
#define EMIT(...)                                                               \
	do {                                                                    \
		int k_ = snprintf(out + m, m < cap ? cap - m : 0, __VA_ARGS__); \
		if (k_ > 0 && m + (size_t)k_ < cap)                             \
			m += (size_t)k_;                                        \
	} while (0)
	pthread_mutex_lock(&st->admin_mu);
	/* The live states' per-rule error counts, by rule name, before stats_mu (lock order:
	 * a lane's mu, then stats_mu). */
	size_t nr = st->rs ? vg_ruleset_count(st->rs) : 0;
	uint64_t *errs = vg_xcalloc(nr ? nr : 1, sizeof(*errs));
	uint64_t *stops = vg_xcalloc(nr ? nr : 1, sizeof(*stops));
	for (int l = 0; l < st->nlanes; l++) {
		pthread_mutex_lock(&st->lanes[l].mu);
		for (size_t i = 0; i < nr && st->lanes[l].r; i++) {
			uint64_t e = 0, b = 0;
			(void)vg_rules_runner_rule_errors(st->lanes[l].r, i, &e, &b);
			errs[i] += e;
			stops[i] += b;
		}
		pthread_mutex_unlock(&st->lanes[l].mu);
	}
	pthread_mutex_lock(&st->stats_mu);
	EMIT("# HELP vigil_events_total Event lines posted to /v1/events, by outcome.\n"
	     "# TYPE vigil_events_total counter\n"
	     "vigil_events_total{outcome=\"accepted\"} %llu\nvigil_events_total{outcome=\"rejected\"} %llu\n",
	     (unsigned long long)st->events_accepted, (unsigned long long)st->events_rejected);
	EMIT("# HELP vigil_rule_verdicts_total Verdicts, by rule, action and mode (live acts, shadow only counts).\n"
	     "# TYPE vigil_rule_verdicts_total counter\n");
	for (size_t i = 0; i < st->nstats; i++) {
		const rule_stat *r = &st->stats[i];
		for (int a = 0; a < VG_ACTION_COUNT; a++) {
			if (r->live[a])
				EMIT("vigil_rule_verdicts_total{rule=\"%s\",action=\"%s\",mode=\"live\"} %llu\n",
				     r->name, vg_action_name(a), (unsigned long long)r->live[a]);
			if (r->shadow[a])
				EMIT("vigil_rule_verdicts_total{rule=\"%s\",action=\"%s\",mode=\"shadow\"} %llu\n",
				     r->name, vg_action_name(a), (unsigned long long)r->shadow[a]);
		}
	}
	EMIT("# HELP vigil_rule_errors_total Rule runs that raised an error, by rule.\n"
	     "# TYPE vigil_rule_errors_total counter\n");
	for (size_t i = 0; i < st->nstats; i++) {
		long k = st->rs ? rule_index(st->rs, st->stats[i].name) : -1;
		EMIT("vigil_rule_errors_total{rule=\"%s\"} %llu\n", st->stats[i].name,
		     (unsigned long long)(st->stats[i].errors + (k >= 0 ? errs[k] : 0)));
	}
	EMIT("# HELP vigil_rule_budget_stops_total Rule runs stopped by the CPU time budget, by rule.\n"
	     "# TYPE vigil_rule_budget_stops_total counter\n");
	for (size_t i = 0; i < st->nstats; i++) {
		long k = st->rs ? rule_index(st->rs, st->stats[i].name) : -1;
		EMIT("vigil_rule_budget_stops_total{rule=\"%s\"} %llu\n", st->stats[i].name,
		     (unsigned long long)(st->stats[i].budget_stops + (k >= 0 ? stops[k] : 0)));
	}
	pthread_mutex_unlock(&st->stats_mu);
	EMIT("# HELP vigil_rules_reloads_total Rules folder reloads (SIGHUP or API edits), by outcome.\n"
	     "# TYPE vigil_rules_reloads_total counter\n"
	     "vigil_rules_reloads_total{outcome=\"ok\"} %llu\nvigil_rules_reloads_total{outcome=\"error\"} %llu\n",
	     (unsigned long long)st->reloads, (unsigned long long)st->reload_errors);
	EMIT("# HELP vigil_rules_loaded Rules in the live set.\n# TYPE vigil_rules_loaded gauge\n"
	     "vigil_rules_loaded %zu\n", nr);
	pthread_mutex_unlock(&st->admin_mu);
	pthread_mutex_lock(&st->flush_mu);
	EMIT("# HELP vigil_rules_label_flushes_total Periodic writes of rule labels to the store, by outcome.\n"
	     "# TYPE vigil_rules_label_flushes_total counter\n"
	     "vigil_rules_label_flushes_total{outcome=\"ok\"} %llu\nvigil_rules_label_flushes_total{outcome=\"error\"} %llu\n",
	     (unsigned long long)st->label_flushes, (unsigned long long)st->label_flush_errors);
	pthread_mutex_unlock(&st->flush_mu);
	EMIT("# HELP vigil_rules_labels_undelivered_total Labels not handed to a lane because its inbox was full.\n"
	     "# TYPE vigil_rules_labels_undelivered_total counter\n"
	     "vigil_rules_labels_undelivered_total %llu\n",
	     (unsigned long long)vg_label_bus_dropped(st->bus));
#undef EMIT
	free(errs);
	free(stops);
	*len = m;
}

/* ---- the resource --------------------------------------------------------------------- */
static json_t *counts_json(const uint64_t *c)
{
	json_t *o = json_object();
	for (int a = 0; a < VG_ACTION_COUNT; a++)
		json_object_set_new(o, vg_action_name(a), json_integer((json_int_t)c[a]));
	return o;
}

/* Under admin_mu: rule i of the live set as JSON. */
static json_t *rule_json(struct vg__rules_state *st, size_t i)
{
	bool declared;
	const char *name = vg_ruleset_rule_name(st->rs, i, &declared);
	uint64_t errors = 0, stops = 0;
	for (int l = 0; l < st->nlanes; l++) {
		uint64_t e = 0, b = 0;
		pthread_mutex_lock(&st->lanes[l].mu);
		if (st->lanes[l].r)
			(void)vg_rules_runner_rule_errors(st->lanes[l].r, i, &e, &b);
		pthread_mutex_unlock(&st->lanes[l].mu);
		errors += e;
		stops += b;
	}
	pthread_mutex_lock(&st->stats_mu);
	rule_stat *r = stat_find(st, name, true);
	json_t *o = json_pack("{s:s,s:b,s:b,s:o,s:o,s:o,s:I,s:I}", "name", name, "shadow",
			      r->override >= 0 ? r->override == 1 : declared, "declared_shadow", declared,
			      "shadow_override", r->override < 0 ? json_null() : json_boolean(r->override),
			      "verdicts", counts_json(r->live), "shadow_verdicts", counts_json(r->shadow),
			      "errors", (json_int_t)(errors + r->errors), "budget_stops",
			      (json_int_t)(stops + r->budget_stops));
	pthread_mutex_unlock(&st->stats_mu);
	json_t *on = json_null();
	for (size_t k = 0; vg_ruleset_rule_on(st->rs, i, k); k++) {
		if (k == 0)
			on = json_array();
		json_array_append_new(on, json_string(vg_ruleset_rule_on(st->rs, i, k)));
	}
	json_object_set_new(o, "on", on);
	return o;
}

static long rule_index(const vg_ruleset *rs, const char *name)
{
	for (size_t i = 0; i < vg_ruleset_count(rs); i++)
		if (strcmp(vg_ruleset_rule_name(rs, i, NULL), name) == 0)
			return (long)i;
	return -1;
}

bool vg__api_rules_need(vg_api *api, vg_http_req *req)
{
	if (api->rules)
		return true;
	vg_http_respond_error(req, VG_EEXIST, "no rules folder is loaded: start vigil serve with --rules DIR");
	return false;
}

static void rules_list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	if (!vg__api_rules_need(api, req))
		return;
	struct vg__rules_state *st = api->rules;
	pthread_mutex_lock(&st->admin_mu);
	json_t *items = json_array();
	for (size_t i = 0; i < vg_ruleset_count(st->rs); i++)
		json_array_append_new(items, rule_json(st, i));
	json_t *out = json_pack("{s:o,s:s,s:i,s:I,s:o}", "items", items, "folder", st->dir, "lanes",
				st->nlanes, "reloads", (json_int_t)st->reloads, "loaded_at",
				vg__json_time(st->loaded_at));
	pthread_mutex_unlock(&st->admin_mu);
	vg__json_respond(req, 200, out);
}

/* ---- fixtures: run as `vigil rules test` runs them (vg_rules_fixture_run) ------------ */
typedef struct first_failure {
	size_t line;
	char msg[256]; /* more than the answer's vg_error keeps */
} first_failure;

static bool keep_first(size_t line, const char *msg, void *ctx)
{
	first_failure *f = ctx;
	f->line = line;
	snprintf(f->msg, sizeof(f->msg), "%s", msg);
	return false; /* the first failure is the answer */
}

/* Runs dir/name.test.ndjson, when it exists, through rs alone on a state of its own,
 * with the live banks (under admin_mu), so match() answers as it will once the rule is
 * live; nothing else live reaches the fixture, nor anything of it the lanes. */
static int run_fixture(vg_api *api, const vg_ruleset *rs, const char *name, vg_error *err)
{
	char path[VG_OPT_STRING_MAX + 300];
	snprintf(path, sizeof(path), "%s/%s.test.ndjson", api->rules->dir, name);
	uint8_t *fx;
	size_t fxlen;
	vg_error rerr;
	if (vg_file_read(path, FIXTURE_MAX, &fx, &fxlen, &rerr) != 0) {
		if (rerr.code == VG_ENOENT)
			return 0; /* no fixture: nothing to test */
		/* One that cannot be read is not one that passes. */
		return vg_error_set(err, VG_EINVAL, "cannot read %s.test.ndjson: %s", name, rerr.msg);
	}
	vg_rules_fixture_opts o = {
		.banks = api->rules->banks,
		.budget_ms = (uint64_t)api->cfg.rules_budget_ms,
		.max_event_bytes = (size_t)api->cfg.max_event_bytes,
	};
	first_failure f = {0};
	vg_rules_fixture_result res;
	int rc = vg_rules_fixture_run(rs, (const char *)fx, fxlen, &o, keep_first, &f, &res, err);
	if (rc == 0 && res.failures) {
		if (f.line)
			rc = vg_error_set(err, VG_EINVAL, "%s.test.ndjson line %zu: %s", name, f.line, f.msg);
		else
			rc = vg_error_set(err, VG_EINVAL, "%s.test.ndjson: %s", name, f.msg);
	}
	free(fx);
	return rc;
}

/* Under admin_mu: validates, tests, writes and loads src as dir/name.lua; on a failed
 * folder load the previous file (or none) is put back. */
static int put_source(vg_api *api, const char *name, const char *src, size_t len, bool *ret_created,
		      vg_error *err)
{
	struct vg__rules_state *st = api->rules;
	char file[VG_RULES_NAME_MAX + 8];
	snprintf(file, sizeof(file), "%s.lua", name);
	vg_ruleset *one = NULL;
	int rc = vg_ruleset_load_string(file, src, len, &one, err);
	if (!rc && rule_index(one, name) < 0)
		rc = vg_error_set(err, VG_EINVAL, "the source does not define rule '%s' (call rule(\"%s\", function(e) ... end))",
				  name, name);
	if (!rc)
		rc = run_fixture(api, one, name, err);
	vg_ruleset_free(one);
	if (rc)
		return rc;
	char path[VG_OPT_STRING_MAX + 300];
	snprintf(path, sizeof(path), "%s/%s", st->dir, file);
	uint8_t *old = NULL;
	size_t oldlen = 0;
	vg_error rerr;
	bool existed = vg_file_read(path, SOURCE_MAX, &old, &oldlen, &rerr) == 0;
	/* A NAME.lua that does not define NAME holds other rules (logins.lua and its
	 * failed-logins): overwriting it would drop them unasked, as DELETE refuses to. */
	vg_ruleset *was = NULL;
	if (existed && vg_ruleset_load_string(file, (const char *)old, oldlen, &was, &rerr) == 0 &&
	    rule_index(was, name) < 0)
		rc = vg_error_set(err, VG_EEXIST,
				  "%s defines '%s', not rule '%s', and writing it would remove "
				  "that; give the rule another name, or edit the file",
				  file, vg_ruleset_rule_name(was, 0, NULL), name);
	vg_ruleset_free(was);
	if (rc || (rc = write_atomic(st->dir, file, src, len, err))) {
		free(old);
		return rc;
	}
	rc = reload_locked(api, err);
	if (rc) {
		if (existed)
			(void)write_atomic(st->dir, file, old, oldlen, &rerr);
		else
			(void)remove_synced(st->dir, file);
	}
	free(old);
	*ret_created = !existed;
	return rc;
}

static void rule_put(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	if (!vg__api_rules_need(api, req))
		return;
	struct vg__rules_state *st = api->rules;
	const char *name = vg_http_param(req, "name");
	if (!name || !name_ok(name)) {
		vg_http_respond_error(req, VG_EINVAL, "a rule name is 1 to %d letters, digits, _ - and ., not starting with .",
				      VG_RULES_NAME_MAX);
		return;
	}
	size_t blen;
	const char *body = (const char *)vg_http_body(req, &blen);
	const char *ct = vg_http_header(req, "Content-Type");
	const char *src = NULL;
	size_t srclen = 0;
	int shadow = -1;
	json_t *j = NULL;
	if (ct && strncmp(ct, "application/json", 16) == 0) {
		if (!(j = vg__json_body(req)))
			return;
		json_t *s = json_object_get(j, "source"), *sh = json_object_get(j, "shadow");
		if ((s && !json_is_string(s)) || (sh && !json_is_boolean(sh) && !json_is_null(sh)) ||
		    (!s && !sh)) {
			json_decref(j);
			vg_http_respond_error(req, VG_EINVAL,
					      "give \"source\" (Lua text) and/or \"shadow\" (true, false or null)");
			return;
		}
		if (s) {
			src = json_string_value(s);
			srclen = json_string_length(s);
		}
		if (sh)
			shadow = json_is_null(sh) ? 2 : json_is_true(sh); /* 2: drop the override */
	} else {
		src = body;
		srclen = blen;
	}
	if (src && srclen == 0) {
		json_decref(j);
		vg_http_respond_error(req, VG_EINVAL, "the rule source is empty");
		return;
	}
	vg_error err;
	int rc = 0;
	bool created = false;
	vg_store *s = vg__api_store(api, req);
	if (!s) {
		json_decref(j);
		return;
	}
	pthread_mutex_lock(&st->admin_mu);
	/* With a source, the override is set and saved before the new rules reach a lane:
	 * a rule PUT as shadow must never act, not even on the batches evaluated between
	 * the swap and the override (their modes are read after they ran). A failed load
	 * puts the old override back. */
	int was = -2; /* the override before this PUT, when it set one */
	if (src && shadow >= 0) {
		was = set_override(st, name, shadow == 2 ? -1 : shadow);
		if ((rc = overrides_save(st, &err)) != 0) {
			(void)set_override(st, name, was);
			was = -2;
		}
	}
	if (src && !rc)
		rc = put_source(api, name, src, srclen, &created, &err);
	if (rc && was != -2) {
		vg_error werr;
		(void)set_override(st, name, was);
		if (overrides_save(st, &werr) != 0)
			vg_log(VG_LOG_WARN, "rules.overrides", "error=%s rule=%s",
			       vg_error_name(werr.code), name);
	}
	long idx = rc ? -1 : rule_index(st->rs, name);
	if (!rc && idx < 0)
		rc = vg_error_set(&err, VG_ENOENT, "no rule named '%s'", name);
	if (!rc && !src && shadow >= 0) {
		int before = set_override(st, name, shadow == 2 ? -1 : shadow);
		if ((rc = overrides_save(st, &err)) != 0)
			(void)set_override(st, name, before); /* nothing changed */
	}
	json_t *out = rc ? NULL : rule_json(st, (size_t)idx);
	pthread_mutex_unlock(&st->admin_mu);
	json_decref(j);
	if (rc) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *detail = json_pack("{s:b,s:b}", "source", src != NULL, "created", created);
	if (shadow >= 0)
		json_object_set_new(detail, "shadow", shadow == 2 ? json_null() : json_boolean(shadow));
	if (vg__api_audit(api, s, who->name, "rule.put", "rule", name, detail, &err) != 0)
		vg_log(VG_LOG_WARN, "rules.audit_failed", "error=%s", vg_error_name(err.code));
	json_decref(detail);
	vg__json_respond(req, created ? 201 : 200, out);
}

/* Under admin_mu: 0 when file (its source at src) defines rule name and no other, so
 * removing it removes that rule alone. A file that does not define name is no rule's
 * (404: DELETE /v1/rules/logins must not take logins.lua's failed-logins with it); one
 * that defines others too is refused (409) rather than taking them along unasked. */
static int file_is_only(struct vg__rules_state *st, const char *file, const char *name,
			const char *src, size_t len, vg_error *err)
{
	vg_ruleset *rs = NULL;
	vg_error lerr;
	int rc = 0;
	if (vg_ruleset_load_string(file, src, len, &rs, &lerr) != 0) {
		if (rule_index(st->rs, name) >= 0)
			rc = vg_error_set(err, VG_EEXIST, "%s does not load alone, so it is not removed: %s",
					  file, lerr.msg);
		else
			rc = vg_error_set(err, VG_ENOENT, "no rule named '%s'", name);
	} else if (rule_index(rs, name) < 0) {
		rc = rule_index(st->rs, name) >= 0
			     ? vg_error_set(err, VG_EEXIST, "rule '%s' is defined in another file of the folder, not %s; edit that file",
					    name, file)
			     : vg_error_set(err, VG_ENOENT, "no rule named '%s' (%s defines '%s')", name,
					    file, vg_ruleset_rule_name(rs, 0, NULL));
	} else if (vg_ruleset_count(rs) > 1) {
		size_t others = vg_ruleset_count(rs) - 1;
		rc = vg_error_set(err, VG_EEXIST, "%s defines %zu rule%s besides '%s' (such as '%s'), which deleting it would delete too; PUT rule '%s' alone first, or edit the file",
				  file, others, others == 1 ? "" : "s", name,
				  vg_ruleset_rule_name(rs, rule_index(rs, name) == 0 ? 1 : 0, NULL), name);
	}
	vg_ruleset_free(rs);
	return rc;
}

static void rule_delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	if (!vg__api_rules_need(api, req))
		return;
	struct vg__rules_state *st = api->rules;
	const char *name = vg_http_param(req, "name");
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	if (!name || !name_ok(name)) {
		vg_http_respond_error(req, VG_ENOENT, "no such rule");
		return;
	}
	char file[VG_RULES_NAME_MAX + 8], path[VG_OPT_STRING_MAX + 300];
	snprintf(file, sizeof(file), "%s.lua", name);
	snprintf(path, sizeof(path), "%s/%s", st->dir, file);
	vg_error err;
	int rc = 0;
	int override = -1; /* the shadow override the delete drops, if any */
	pthread_mutex_lock(&st->admin_mu);
	uint8_t *old = NULL;
	size_t oldlen = 0;
	if (vg_file_read(path, SOURCE_MAX, &old, &oldlen, &err) != 0) {
		if (rule_index(st->rs, name) >= 0)
			rc = vg_error_set(&err, VG_EEXIST, "rule '%s' is defined in another file of the folder, not %s; edit that file",
					  name, file);
		else
			rc = vg_error_set(&err, VG_ENOENT, "no rule named '%s'", name);
	} else if ((rc = file_is_only(st, file, name, (const char *)old, oldlen, &err)) != 0) {
		/* err says why: no such rule, or the file holds others too */
	} else if ((override = set_override(st, name, -1)) >= 0 &&
		   (rc = overrides_save(st, &err)) != 0) {
		(void)set_override(st, name, override); /* nothing changed */
		override = -1;
	} else if (remove_synced(st->dir, file) != 0) {
		rc = vg_error_set(&err, VG_EIO, "cannot remove %s", path);
	} else if ((rc = reload_locked(api, &err)) != 0) {
		vg_error werr;
		(void)write_atomic(st->dir, file, old, oldlen, &werr);
		err.code = VG_EEXIST; /* e.g. the last rule of the folder */
	}
	if (rc && override >= 0) { /* the rule stays: so does its override */
		vg_error werr;
		(void)set_override(st, name, override);
		if (overrides_save(st, &werr) != 0)
			vg_log(VG_LOG_WARN, "rules.overrides", "error=%s rule=%s", vg_error_name(werr.code),
			       name);
	}
	free(old);
	pthread_mutex_unlock(&st->admin_mu);
	if (rc) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *detail = override >= 0 ? json_pack("{s:b}", "shadow_override", override) : NULL;
	if (vg__api_audit(api, s, who->name, "rule.delete", "rule", name, detail, &err) != 0)
		vg_log(VG_LOG_WARN, "rules.audit_failed", "error=%s", vg_error_name(err.code));
	json_decref(detail);
	vg__json_respond(req, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

const vg__api_route vg__rules_routes[] = {
	{"GET", "/v1/rules", VG__ROLE_ANALYST, false, rules_list},
	{"PUT", "/v1/rules/{name}", VG__ROLE_ADMIN, false, rule_put},
	{"DELETE", "/v1/rules/{name}", VG__ROLE_ADMIN, false, rule_delete},
};
const size_t vg__rules_route_count = VG_ARRAY_LEN(vg__rules_routes);
