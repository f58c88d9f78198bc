/* SPDX-License-Identifier: Apache-2.0
 *
 * The outbox worker: one thread that takes due webhook items from the store and runs
 * their attempts side by side in one libcurl multi handle, then writes each outcome
 * back (done, retry at a later time, dead). action.h has the contract; this is how.
 *
 * A loop turn:
 *   1. claim, when kicked, when the poll interval has passed, or when a slot freed up
 *      while more items were due than slots: claim in the store as many due items as
 *      there are free slots (vg_store_outbox_claim), start an attempt at each, and ask
 *      when the next item falls due (so a retry scheduled 30 ms ahead is sent 30 ms
 *      later, not at the next poll);
 *   2. let libcurl move every transfer forward, and judge the finished ones;
 *   3. write the outcomes, all of one turn in one transaction (one fsync, not one per
 *      item), and only then free their slots;
 *   4. sleep in curl_multi_poll until a socket is ready, a timer is due, or
 *      vg_outbox_worker_kick()/stop() wakes it (curl_multi_wakeup).
 *
 * Invariants:
 * - An item is sent by one worker at a time, across threads, processes and servers on
 *   one database: it is claimed in the store, under the write lock, before its attempt
 *   starts, for a lease (the attempt timeout plus LEASE_MARGIN_US) longer than the
 *   attempt can last; recording the outcome ends the claim, and so does giving back an
 *   item whose attempt was cut short or could not start. A worker that dies holding
 *   items loses them when their lease ends, and they are sent again.
 * - An item is in at most one slot, and it stays there from the start of its attempt
 *   until its outcome is committed; the claim step skips items a slot holds (a lease
 *   that ran out while the store kept failing to record an outcome). So an item is
 *   never sent twice at once, even while the store is failing.
 * - Outcomes are written only after the attempt ended; a crash before the write leaves
 *   the item pending with the attempt uncounted, and it is sent again (same
 *   Idempotency-Key).
 * - Only "webhook" items, and "email" items when an SMTP relay is configured, are
 *   claimed; others (authority_report drafts) never are. The store is asked for those
 *   kinds only, each read as its own index range: pending items of other kinds wait
 *   without end (drafts until a person acts), and however many pile up they can never
 *   hide a webhook behind them.
 * - The counters move only after the store has the outcome.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

#define WORKER_MAGIC 0x7667626fu /* "vgbo": the thread's void * argument */
#define MAX_CONCURRENCY 1024
#define STOP_GRACE_US 1000000 /* beyond the timeout, while stopping */
/* A claim's lease beyond the attempt timeout (libcurl ends every attempt by then): room
 * for the loop turn that writes the outcome. Also how long the items of a worker that
 * died wait before another sends them. */
#define LEASE_MARGIN_US 10000000

struct vg_outbox_worker {
	uint32_t magic;
	vg_outbox_config cfg; /* db_path cleared: only used at start */
	vg_store *store;      /* the worker thread's alone once it runs */
	CURLM *multi;
	pthread_t thread;
	atomic_bool stopping, kicked;
	atomic_uint_fast64_t delivered, retried, dead, store_errors, in_flight;
	/* A new policy from vg_outbox_worker_set_policy, waiting for the worker thread to
	 * copy it into cfg at its next loop turn (cfg is that thread's alone). */
	pthread_mutex_t policy_lock;
	vg_outbox_config next_policy; /* under policy_lock */
	atomic_bool policy_changed;

	/* Below: the worker thread's own. */
	vg__delivery **slots; /* cfg.concurrency entries; NULL when free */
	int used;             /* non-NULL slots */
	vg_usec lease_us;     /* how long a claim holds: timeout + LEASE_MARGIN_US */
	const char *kinds[2]; /* what this worker delivers: webhook, and email with a relay */
	size_t n_kinds;
	bool backlog;         /* more was due than slots at the last claim */
	vg_usec retry_wake;   /* monotonic: the earliest retry scheduled since that claim */
	uint64_t rng;
};

void vg_outbox_config_init(vg_outbox_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_attempts = 8;
	cfg->first_backoff_us = 1000000;
	cfg->max_backoff_us = 3600LL * 1000000;
	cfg->timeout_us = 10000000;
	cfg->concurrency = 16;
	cfg->poll_interval_us = 250000;
}

static uint64_t next_random(vg_outbox_worker *w)
{
	/* splitmix64: jitter needs spread, not secrecy */
	uint64_t z = (w->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static bool held(const vg_outbox_worker *w, int64_t id)
{
	for (int i = 0; i < w->cfg.concurrency; i++)
		if (w->slots[i] && w->slots[i]->id == id)
			return true;
	return false;
}

static int free_slot(const vg_outbox_worker *w)
{
	for (int i = 0; i < w->cfg.concurrency; i++)
		if (!w->slots[i])
			return i;
	return -1;
}

/* The attempt-count limit and the backoff, applied to an attempt libcurl finished (or
 * one judged unusable before it started). */
static void schedule(vg_outbox_worker *w, vg__delivery *d)
{
	if (d->outcome != VG__OUTCOME_RETRY)
		return;
	if (d->attempt >= w->cfg.max_attempts) {
		d->outcome = VG__OUTCOME_DEAD;
		size_t n = strlen(d->error);
		snprintf(d->error + n, sizeof(d->error) - n, " (gave up after %d attempts)",
			 d->attempt);
		return;
	}
	vg_usec delay = vg_outbox_backoff(w->cfg.first_backoff_us, w->cfg.max_backoff_us,
					  d->attempt, next_random(w), d->retry_after_us);
	d->next_at = vg_time_now() + delay;
	/* The claim step would not see this item until its next poll: wake for it. */
	vg_usec wake = vg_time_mono() + delay;
	if (wake < w->retry_wake)
		w->retry_wake = wake;
}

/* Starts an attempt at item in a free slot. Returns false only when it could not. */
static bool start(vg_outbox_worker *w, const vg_store_outbox *item, vg_usec now)
{
	int slot = free_slot(w);
	if (slot < 0)
		return false;
	vg__delivery *d;
	vg_error e;
	bool email = strcmp(item->kind, "email") == 0;
	if ((email ? vg__email_prepare : vg__webhook_prepare)(item, &w->cfg, now, &d, &e)) {
		vg_log(VG_LOG_DEBUG, "outbox.prepare_failed", "id=%" PRId64 " error=%s", item->id,
		       vg_error_name(e.code));
		return false;
	}
	if (d->easy) {
		CURLMcode mc = curl_multi_add_handle(w->multi, d->easy);
		if (mc != CURLM_OK) {
			vg_log(VG_LOG_DEBUG, "outbox.add_failed", "id=%" PRId64 " error=%s",
			       item->id, curl_multi_strerror(mc));
			vg__delivery_free(d);
			return false;
		}
		atomic_fetch_add(&w->in_flight, 1);
	} else {
		schedule(w, d); /* judged unusable: written with the next outcomes */
	}
	w->slots[slot] = d;
	w->used++;
	return true;
}

/* Ends this worker's claim on an item it will not attempt now; should that fail, the
 * lease ends it later. */
static void give_back(vg_outbox_worker *w, int64_t id)
{
	vg_error e;
	if (vg_store_outbox_release(w->store, id, &e) != 0) {
		atomic_fetch_add(&w->store_errors, 1);
		vg_log(VG_LOG_DEBUG, "outbox.release_failed", "id=%" PRId64 " error=%s", id,
		       vg_error_name(e.code));
	}
}

/* Step 1. Returns how long until the next claim is worth making. */
static vg_usec claim(vg_outbox_worker *w)
{
	const vg_usec poll = w->cfg.poll_interval_us;
	vg_usec now = vg_time_now();
	vg_usec wake = poll;
	w->backlog = false;
	size_t free_slots = (size_t)(w->cfg.concurrency - w->used);
	vg_store_outbox *items = NULL;
	size_t n = 0;
	vg_error e;
	if (vg_store_outbox_claim(w->store, now, now + w->lease_us, w->kinds, w->n_kinds,
				  free_slots, &items, &n, &e)) {
		atomic_fetch_add(&w->store_errors, 1);
		vg_log(VG_LOG_DEBUG, "outbox.claim_failed", "error=%s", vg_error_name(e.code));
		return poll;
	}
	for (size_t i = 0; i < n; i++) {
		if (held(w, items[i].id))
			continue;
		if (!start(w, &items[i], now))
			give_back(w, items[i].id);
	}
	/* Every slot taken by a full claim: more may be due, so claim again as soon as a
	 * slot frees up. */
	w->backlog = n == free_slots && w->used == w->cfg.concurrency;
	vg_store_outbox_list_free(items, n);
	vg_usec next = 0;
	if (vg_store_outbox_next_due(w->store, now, w->kinds, w->n_kinds, &next, &e) != 0) {
		atomic_fetch_add(&w->store_errors, 1);
		vg_log(VG_LOG_DEBUG, "outbox.due_failed", "error=%s", vg_error_name(e.code));
	} else if (next && next - now < wake) {
		wake = next - now;
	}
	return wake < 1 ? 1 : wake;
}

/* Step 2: judges every transfer libcurl has finished. */
static void reap(vg_outbox_worker *w)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(w->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
		vg__delivery *d = vg__delivery_of(easy);
		curl_multi_remove_handle(w->multi, easy);
		atomic_fetch_sub(&w->in_flight, 1);
		if (d->email)
			vg__email_finish(d, rc);
		else
			vg__webhook_finish(d, rc);
		schedule(w, d);
		vg_log(VG_LOG_DEBUG, "outbox.attempt", "id=%" PRId64 " attempt=%d outcome=%s",
		       d->id, d->attempt,
		       d->outcome == VG__OUTCOME_DONE	 ? "done"
		       : d->outcome == VG__OUTCOME_RETRY ? "retry"
							 : "dead");
	}
}

static int record(vg_outbox_worker *w, const vg__delivery *d, vg_error *err)
{
	switch (d->outcome) {
	case VG__OUTCOME_DONE:
		return vg_store_outbox_done(w->store, d->id, err);
	case VG__OUTCOME_RETRY:
		return vg_store_outbox_retry(w->store, d->id, d->next_at, d->error, err);
	case VG__OUTCOME_DEAD:
		return vg_store_outbox_dead(w->store, d->id, d->error, err);
	case VG__OUTCOME_PENDING:
		break;
	}
	return VG_EINTERNAL;
}

static void release(vg_outbox_worker *w, int slot, bool count)
{
	vg__delivery *d = w->slots[slot];
	if (count) {
		atomic_uint_fast64_t *c = d->outcome == VG__OUTCOME_DONE    ? &w->delivered
					  : d->outcome == VG__OUTCOME_RETRY ? &w->retried
									    : &w->dead;
		atomic_fetch_add(c, 1);
	}
	vg__delivery_free(d);
	w->slots[slot] = NULL;
	w->used--;
}

/* Step 3: writes the outcomes of finished attempts and frees their slots. One
 * transaction for the lot; if that fails, one by one, so that one item the store
 * refuses does not hold back the others. An outcome that cannot be written keeps its
 * slot (and its claim) and is written at a later turn. */
static void save(vg_outbox_worker *w)
{
	int finished = 0;
	for (int i = 0; i < w->cfg.concurrency; i++)
		if (w->slots[i] && w->slots[i]->outcome != VG__OUTCOME_PENDING)
			finished++;
	if (!finished)
		return;

	vg_error e;
	if (finished > 1 && vg_store_begin(w->store, &e) == 0) {
		bool ok = true;
		for (int i = 0; ok && i < w->cfg.concurrency; i++)
			if (w->slots[i] && w->slots[i]->outcome != VG__OUTCOME_PENDING)
				ok = record(w, w->slots[i], &e) == 0;
		if (ok && vg_store_commit(w->store, &e) == 0) {
			for (int i = 0; i < w->cfg.concurrency; i++)
				if (w->slots[i] && w->slots[i]->outcome != VG__OUTCOME_PENDING)
					release(w, i, true);
			return;
		}
		vg_store_rollback(w->store);
	}
	for (int i = 0; i < w->cfg.concurrency; i++) {
		vg__delivery *d = w->slots[i];
		if (!d || d->outcome == VG__OUTCOME_PENDING)
			continue;
		int rc = record(w, d, &e);
		/* ENOENT, EEXIST: gone or finished by someone else meanwhile; nothing to keep. */
		if (rc == 0 || rc == VG_ENOENT || rc == VG_EEXIST) {
			release(w, i, rc == 0);
			continue;
		}
		atomic_fetch_add(&w->store_errors, 1);
		vg_log(VG_LOG_DEBUG, "outbox.save_failed", "id=%" PRId64 " error=%s", d->id,
		       vg_error_name(rc));
	}
}

static int poll_ms(vg_usec us)
{
	if (us <= 0)
		return 0;
	vg_usec ms = (us + 999) / 1000;
	return ms > 1000 ? 1000 : (int)ms;
}

/* Lets the attempts in flight end (each has its own timeout; the whole wait is bounded
 * too), records their outcomes, and drops whatever is still running: those items stay
 * pending with their attempt uncounted. */
static void drain(vg_outbox_worker *w)
{
	vg_usec deadline = vg_time_mono() + w->cfg.timeout_us + STOP_GRACE_US;
	int running = 0;
	for (;;) {
		curl_multi_perform(w->multi, &running);
		reap(w);
		save(w);
		vg_usec left = deadline - vg_time_mono();
		if ((running == 0 && atomic_load(&w->in_flight) == 0) || left <= 0)
			break;
		curl_multi_poll(w->multi, NULL, 0, poll_ms(left < 100000 ? left : 100000), NULL);
	}
	for (int i = 0; i < w->cfg.concurrency; i++) {
		vg__delivery *d = w->slots[i];
		if (!d)
			continue;
		if (d->outcome == VG__OUTCOME_PENDING) {
			curl_multi_remove_handle(w->multi, d->easy);
			atomic_fetch_sub(&w->in_flight, 1);
			give_back(w, d->id); /* a restart sends it at once, not after the lease */
		} else {
			atomic_fetch_add(&w->store_errors, 1); /* outcome never written */
		}
		release(w, i, false);
	}
}

/* Copies a policy set since the last turn into cfg, on the worker thread. */
static void take_policy(vg_outbox_worker *w)
{
	if (!atomic_exchange(&w->policy_changed, false))
		return;
	pthread_mutex_lock(&w->policy_lock);
	w->cfg.max_attempts = w->next_policy.max_attempts;
	w->cfg.first_backoff_us = w->next_policy.first_backoff_us;
	w->cfg.max_backoff_us = w->next_policy.max_backoff_us;
	w->cfg.timeout_us = w->next_policy.timeout_us;
	pthread_mutex_unlock(&w->policy_lock);
	w->lease_us = w->cfg.timeout_us + LEASE_MARGIN_US;
}

static void *run(void *arg)
{
	vg_outbox_worker *w = arg;
	if (!w || w->magic != WORKER_MAGIC)
		abort();
	vg_usec next_claim = 0; /* monotonic */
	int running = 0;
	while (!atomic_load(&w->stopping)) {
		take_policy(w);
		vg_usec now = vg_time_mono();
		bool want = w->backlog || now >= next_claim;
		if (w->used < w->cfg.concurrency) {
			want |= atomic_exchange(&w->kicked, false);
			if (want) {
				w->retry_wake = INT64_MAX;
				next_claim = now + claim(w);
			}
		}
		curl_multi_perform(w->multi, &running);
		reap(w);
		save(w);
		if (w->backlog && w->used < w->cfg.concurrency)
			continue; /* slots freed while more is due: claim again at once */
		if (w->retry_wake < next_claim)
			next_claim = w->retry_wake;
		/* With every slot taken, only a transfer can change anything, and libcurl's
		 * sockets and timers end the wait for that; otherwise the next claim does. */
		vg_usec wait = w->used == w->cfg.concurrency ? w->cfg.poll_interval_us
							     : next_claim - vg_time_mono();
		curl_multi_poll(w->multi, NULL, 0, poll_ms(wait), NULL);
	}
	drain(w);
	return NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	/* Once per process and never cleaned up: other parts of a program may use libcurl
	 * too, and libcurl's global state is process-wide. */
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void worker_free(vg_outbox_worker *w)
{
	if (!w)
		return;
	if (w->multi)
		curl_multi_cleanup(w->multi);
	vg_store_close(w->store);
	free(w->slots);
	pthread_mutex_destroy(&w->policy_lock);
	w->magic = 0;
	free(w);
}

/* The settings vg_outbox_worker_start and vg_outbox_worker_set_policy refuse. */
static int check_policy(const vg_outbox_config *cfg, vg_error *err)
{
	if (cfg->max_attempts < 1 || cfg->first_backoff_us < 1 ||
	    cfg->max_backoff_us < cfg->first_backoff_us || cfg->timeout_us < 1000)
		return vg_error_set(err, VG_EINVAL,
				    "outbox worker: a setting is out of range (attempts >= 1, "
				    "0 < first backoff <= max backoff, timeout >= 1 ms)");
	return 0;
}

int vg_outbox_worker_start(const vg_outbox_config *cfg, vg_outbox_worker **ret, vg_error *err)
{
	if (!cfg || !cfg->db_path || !*cfg->db_path)
		return vg_error_set(err, VG_EINVAL, "outbox worker: no database path");
	int prc = check_policy(cfg, err);
	if (prc)
		return prc;
	if (cfg->concurrency < 1 || cfg->concurrency > MAX_CONCURRENCY ||
	    cfg->poll_interval_us < 1)
		return vg_error_set(err, VG_EINVAL,
				    "outbox worker: a setting is out of range (concurrency 1..%d, "
				    "poll interval > 0)",
				    MAX_CONCURRENCY);
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return vg_error_set(err, VG_EINTERNAL, "curl_global_init: %s",
				    curl_easy_strerror(curl_init_rc));

	vg_outbox_worker *w = vg_xcalloc(1, sizeof(*w));
	w->magic = WORKER_MAGIC;
	w->cfg = *cfg;
	w->cfg.db_path = NULL;
	w->slots = vg_xcalloc((size_t)cfg->concurrency, sizeof(*w->slots));
	w->retry_wake = INT64_MAX;
	w->lease_us = cfg->timeout_us + LEASE_MARGIN_US;
	w->kinds[w->n_kinds++] = "webhook";
	if (cfg->smtp_url[0])
		w->kinds[w->n_kinds++] = "email";
	if (getrandom(&w->rng, sizeof(w->rng), 0) != (ssize_t)sizeof(w->rng))
		w->rng = (uint64_t)vg_time_now();
	atomic_init(&w->stopping, false);
	atomic_init(&w->kicked, false);
	atomic_init(&w->delivered, 0);
	atomic_init(&w->retried, 0);
	atomic_init(&w->dead, 0);
	atomic_init(&w->store_errors, 0);
	atomic_init(&w->in_flight, 0);
	pthread_mutex_init(&w->policy_lock, NULL);
	atomic_init(&w->policy_changed, false);

	int rc = vg_store_open(cfg->db_path, &w->store, err);
	if (rc)
		goto out;
	w->multi = curl_multi_init();
	if (!w->multi) {
		rc = vg_error_set(err, VG_EINTERNAL, "curl_multi_init failed");
		goto out;
	}
	/* Connections are kept and reused across attempts (the multi handle's cache);
	 * allow one per slot to each receiver. */
	curl_multi_setopt(w->multi, CURLMOPT_MAXCONNECTS, (long)cfg->concurrency);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		rc = vg_error_set(err, VG_EINTERNAL, "outbox worker: cannot start its thread");
		goto out;
	}
	*ret = w;
	return 0;
out:
	worker_free(w);
	return rc;
}

int vg_outbox_worker_set_policy(vg_outbox_worker *w, const vg_outbox_config *cfg,
				vg_error *err)
{
	int rc = check_policy(cfg, err);
	if (rc || !w)
		return rc;
	pthread_mutex_lock(&w->policy_lock);
	w->next_policy = *cfg;
	pthread_mutex_unlock(&w->policy_lock);
	atomic_store(&w->policy_changed, true);
	curl_multi_wakeup(w->multi);
	return 0;
}

void vg_outbox_worker_kick(vg_outbox_worker *w)
{
	if (!w)
		return;
	atomic_store(&w->kicked, true);
	curl_multi_wakeup(w->multi);
}

void vg_outbox_worker_stats(vg_outbox_worker *w, vg_outbox_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!w)
		return;
	ret->delivered = atomic_load(&w->delivered);
	ret->retried = atomic_load(&w->retried);
	ret->dead = atomic_load(&w->dead);
	ret->store_errors = atomic_load(&w->store_errors);
	ret->in_flight = atomic_load(&w->in_flight);
}

void vg_outbox_worker_stop(vg_outbox_worker *w)
{
	if (!w)
		return;
	atomic_store(&w->stopping, true);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	worker_free(w);
}
