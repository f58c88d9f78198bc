/* SPDX-License-Identifier: Apache-2.0
 *
 * The decision API's memory: every active block, keyed by canonical URL, in an
 * open-addressing hash table under a read-write lock. GET /v1/decision reads it and
 * nothing else, which is what lets it answer tens of thousands of times a second. The
 * store is the truth: the table is loaded from it at start and changed only after the
 * store has committed the block or the lift, so a decision never shows a block that a
 * crash could lose. Blocks written by another process (`vigil report ingest-mail`, a
 * second server) are picked up by a thread that watches the store's block watermark
 * and, when it moves, applies what changed since its last look (within
 * SYNC_INTERVAL_MS): blocks with a higher id, lifts since its last lift seen. It never
 * reads every active block again: the watermark moves on this server's own blocks too,
 * and a full reload per move cost O(active blocks) each time, which event traffic can
 * drive. Following is idempotent (a block put twice, a lift of a block gone already), so
 * it may see this server's own changes again. The same thread has the bank index follow
 * banks changed by another process (vg__api_index_follow).
 */
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

struct entry {
	char *url; /* NULL: empty; TOMBSTONE: deleted */
	int64_t id;
	vg_usec since;
	char *reason;
};

static char tombstone;
#define TOMBSTONE (&tombstone)

struct vg__blocklist {
	pthread_rwlock_t lock;
	struct entry *v;
	size_t cap, n, used; /* used counts tombstones too */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct entry *find_slot(struct entry *v, size_t cap, const char *url, bool for_insert)
{
	size_t i = hash_str(url) & (cap - 1);
	struct entry *first_free = NULL;
	for (;;) {
		struct entry *e = &v[i];
		if (!e->url)
			return for_insert && first_free ? first_free : (for_insert ? e : NULL);
		if (e->url == TOMBSTONE) {
			if (!first_free)
				first_free = e;
		} else if (!strcmp(e->url, url)) {
			return e;
		}
		i = (i + 1) & (cap - 1);
	}
}

static void grow(struct vg__blocklist *b)
{
	size_t cap = b->cap ? b->cap * 2 : 1024;
	struct entry *v = vg_xcalloc(cap, sizeof(*v));
	for (size_t i = 0; i < b->cap; i++) {
		struct entry *e = &b->v[i];
		if (e->url && e->url != TOMBSTONE)
			*find_slot(v, cap, e->url, true) = *e;
	}
	free(b->v);
	b->v = v;
	b->cap = cap;
	b->used = b->n;
}

vg__blocklist *vg__blocklist_new(void)
{
	vg__blocklist *b = vg_xcalloc(1, sizeof(*b));
	pthread_rwlock_init(&b->lock, NULL);
	grow(b);
	return b;
}

void vg__blocklist_free(vg__blocklist *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->cap; i++)
		if (b->v[i].url && b->v[i].url != TOMBSTONE) {
			free(b->v[i].url);
			free(b->v[i].reason);
		}
	free(b->v);
	pthread_rwlock_destroy(&b->lock);
	free(b);
}

void vg__blocklist_put(vg__blocklist *b, const char *url, int64_t id, const char *reason, vg_usec since)
{
	pthread_rwlock_wrlock(&b->lock);
	if ((b->used + 1) * 4 > b->cap * 3)
		grow(b);
	struct entry *e = find_slot(b->v, b->cap, url, true);
	if (e->url && e->url != TOMBSTONE) {
		free(e->reason);
	} else {
		if (!e->url)
			b->used++;
		e->url = vg_xstrdup(url);
		b->n++;
	}
	e->id = id;
	e->since = since;
	e->reason = vg_xstrdup(reason ? reason : "");
	pthread_rwlock_unlock(&b->lock);
}

void vg__blocklist_remove_id(vg__blocklist *b, int64_t id)
{
	pthread_rwlock_wrlock(&b->lock);
	for (size_t i = 0; i < b->cap; i++) {
		struct entry *e = &b->v[i];
		if (e->url && e->url != TOMBSTONE && e->id == id) {
			free(e->url);
			free(e->reason);
			e->url = TOMBSTONE;
			e->reason = NULL;
			b->n--;
			break;
		}
	}
	pthread_rwlock_unlock(&b->lock);
}

/* A lift: url's entry goes if it is block id; a newer block of the URL stays. */
static void remove_url_id(vg__blocklist *b, const char *url, int64_t id)
{
	pthread_rwlock_wrlock(&b->lock);
	struct entry *e = find_slot(b->v, b->cap, url, false);
	if (e && e->id == id) {
		free(e->url);
		free(e->reason);
		e->url = TOMBSTONE;
		e->reason = NULL;
		b->n--;
	}
	pthread_rwlock_unlock(&b->lock);
}

bool vg__blocklist_get(vg__blocklist *b, const char *url, int64_t *ret_id, char *reason,
		       size_t reason_size, vg_usec *ret_since)
{
	pthread_rwlock_rdlock(&b->lock);
	struct entry *e = find_slot(b->v, b->cap, url, false);
	bool found = e != NULL;
	if (found) {
		*ret_id = e->id;
		*ret_since = e->since;
		snprintf(reason, reason_size, "%s", e->reason);
	}
	pthread_rwlock_unlock(&b->lock);
	return found;
}

size_t vg__blocklist_count(vg__blocklist *b)
{
	pthread_rwlock_rdlock(&b->lock);
	size_t n = b->n;
	pthread_rwlock_unlock(&b->lock);
	return n;
}

/* Keyed by the URL's canonical form as this version writes it: a block stored when
 * canonicalisation wrote some URLs otherwise (an IPv6 host's zeros, an IPv4 host as one
 * number) still answers the decision for every spelling. */
static const char *key_of(const char *url, char canon[VG_URL_MAX + 1])
{
	if (vg_url_canonicalize(url, strlen(url), canon, VG_URL_MAX + 1, NULL) == 0)
		return canon;
	return url;
}

static int load_one(const vg_store_block *blk, void *ctx)
{
	char canon[VG_URL_MAX + 1];
	vg__blocklist_put(ctx, key_of(blk->url, canon), blk->id, blk->reason, blk->created_at);
	return 0;
}

int vg__blocklist_load(vg__blocklist *b, vg_store *s, vg_error *err)
{
	return vg_store_block_each(s, true, 0, 0, load_one, b, err);
}

/* ---- following other writers ---------------------------------------------------------- */
#define SYNC_INTERVAL_MS 2000
/* Lifts are found by their lifted_at, the lifting process's clock, and one may commit a
 * little after a later-stamped one was seen: each look goes back this far, so a lift is
 * missed only when the writers' clocks differ by more (outbox claims assume the same). */
#define LIFT_OVERLAP_US (600 * (vg_usec)1000000)

struct follow {
	vg__blocklist *b;
	int64_t last_id;   /* highest active block id put */
	vg_usec last_lift; /* latest lifted_at seen */
};

static int follow_add(const vg_store_block *blk, void *ctx)
{
	struct follow *f = ctx;
	load_one(blk, f->b);
	if (blk->id > f->last_id)
		f->last_id = blk->id;
	return 0;
}

static int follow_lift(const vg_store_block *blk, void *ctx)
{
	struct follow *f = ctx;
	char canon[VG_URL_MAX + 1];
	remove_url_id(f->b, key_of(blk->url, canon), blk->id);
	if (blk->lifted_at > f->last_lift)
		f->last_lift = blk->lifted_at;
	return 0;
}

/* New blocks first, then lifts: a block read as active just before its lift is put and
 * then taken out again by this look or, as the lift moved the watermark, by the next. */
static int follow(vg__blocklist *b, vg_store *s, struct follow *f, vg_error *err)
{
	struct follow next = *f;
	next.b = b;
	int rc = vg_store_block_each(s, true, f->last_id, 0, follow_add, &next, err);
	vg_usec since = f->last_lift > LIFT_OVERLAP_US ? f->last_lift - LIFT_OVERLAP_US : 0;
	if (!rc)
		rc = vg_store_block_lifted_since(s, since, follow_lift, &next, err);
	if (!rc)
		*f = next;
	return rc;
}

struct vg__block_sync {
	vg_api *api;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

static void *sync_main(void *arg)
{
	vg__block_sync *y = arg;
	vg_store *s = NULL;
	vg_error err;
	int64_t seen = -1;
	/* The table was loaded before this thread started: the first look puts every active
	 * block again (once) and takes lifts from a little before now. */
	struct follow f = {.last_id = 0, .last_lift = vg_time_now()};
	pthread_mutex_lock(&y->mu);
	while (!y->stop) {
		pthread_mutex_unlock(&y->mu);
		int64_t mark;
		if (!s && vg_store_open(y->api->cfg.db, &s, &err) != 0)
			s = NULL;
		if (s && vg_store_block_watermark(s, &mark, &err) == 0) {
			if (mark != seen && follow(y->api->blocks, s, &f, &err) != 0)
				mark = seen; /* try again next time */
			seen = mark;
		}
		if (s)
			vg__api_index_follow(y->api, s);
		pthread_mutex_lock(&y->mu);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += SYNC_INTERVAL_MS / 1000;
		if (!y->stop)
			pthread_cond_timedwait(&y->cv, &y->mu, &until);
	}
	pthread_mutex_unlock(&y->mu);
	vg_store_close(s);
	return NULL;
}

vg__block_sync *vg__block_sync_start(vg_api *api)
{
	vg__block_sync *y = vg_xcalloc(1, sizeof(*y));
	y->api = api;
	pthread_mutex_init(&y->mu, NULL);
	pthread_cond_init(&y->cv, NULL);
	if (pthread_create(&y->thread, NULL, sync_main, y) != 0) {
		pthread_cond_destroy(&y->cv);
		pthread_mutex_destroy(&y->mu);
		free(y);
		return NULL;
	}
	return y;
}

void vg__block_sync_stop(vg__block_sync *y)
{
	if (!y)
		return;
	pthread_mutex_lock(&y->mu);
	y->stop = true;
	pthread_cond_signal(&y->cv);
	pthread_mutex_unlock(&y->mu);
	pthread_join(y->thread, NULL);
	pthread_cond_destroy(&y->cv);
	pthread_mutex_destroy(&y->mu);
	free(y);
}
