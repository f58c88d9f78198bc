/* SPDX-License-Identifier: Apache-2.0
 *
 * The state rules keep between events, one set per worker: sliding-window counters,
 * distinct counts (exact up to 16 values, then HyperLogLog) and expiring labels. Each is
 * a hash table of keys with an LRU list, so memory is bounded by a key count fixed at
 * creation whatever the traffic: past the bound the least recently used key is forgotten,
 * which costs accuracy for a cold key and never memory.
 *
 * Invariants: a table never holds more than its max_keys entries; counts are never lower
 * than the true count of the last window (the ring has one bucket more than the window
 * needs, see rules.h); nothing here locks: each worker owns its tables.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- a bounded LRU hash table of byte-string keys ------------------------------------ */
typedef struct kentry {
	struct kentry *hnext;       /* hash chain */
	struct kentry *prev, *next; /* LRU: head is the most recent */
	uint64_t hash;
	uint64_t tick; /* the table's tick when this entry last moved to the front */
	vg_usec window;
	void *payload; /* in the same allocation, after the key: one cache miss fewer */
	uint32_t key_len;
	char key[];
} kentry;

typedef struct ktable {
	kentry **buckets;
	size_t nbuckets; /* power of two */
	size_t n, max;
	uint64_t tick; /* counts lookups */
	kentry *head, *tail;
	size_t payload_bytes;              /* zeroed when an entry is made */
	void (*payload_done)(void *payload); /* frees what a payload points to; may be NULL */
} ktable;

static void kt_init(ktable *t, size_t max, size_t payload_bytes, void (*payload_done)(void *))
{
	memset(t, 0, sizeof(*t));
	t->payload_bytes = payload_bytes;
	t->payload_done = payload_done;
	t->max = max ? max : 1;
	t->nbuckets = 64;
	t->buckets = vg_xcalloc(t->nbuckets, sizeof(*t->buckets));
}

static void kt_done(ktable *t)
{
	for (kentry *e = t->head, *nx; e; e = nx) {
		nx = e->next;
		if (t->payload_done)
			t->payload_done(e->payload);
		free(e);
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static void lru_unlink(ktable *t, kentry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
}

static void lru_push(ktable *t, kentry *e)
{
	e->prev = NULL;
	e->next = t->head;
	if (t->head)
		t->head->prev = e;
	t->head = e;
	if (!t->tail)
		t->tail = e;
}

static void kt_remove(ktable *t, kentry *e)
{
	kentry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(t, e);
	t->n--;
	if (t->payload_done)
		t->payload_done(e->payload);
	free(e);
}

static void kt_grow(ktable *t)
{
	size_t nb = t->nbuckets * 2;
	kentry **b = vg_xcalloc(nb, sizeof(*b));
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (kentry *e = t->buckets[i], *nx; e; e = nx) {
			nx = e->hnext;
			e->hnext = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = nb;
}

static kentry *kt_find(const ktable *t, const char *key, size_t len, vg_usec window,
		       uint64_t h)
{
	for (kentry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->hnext)
		if (e->hash == h && e->window == window && e->key_len == len &&
		    memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

/* Finds or creates (key, window), marking it most recently used. *ret_new says whether
 * it was created (its payload then zeroed). */
static kentry *kt_get(ktable *t, const char *key, size_t len, vg_usec window, bool *ret_new)
{
	uint64_t h = vg__rules_hash(key, len, (uint64_t)window);
	kentry *e = kt_find(t, key, len, window, h);
	t->tick++;
	if (e) {
		/* Moving to the front touches two neighbours, i.e. cache misses on a big
		 * table. An entry moved within the last n/4 lookups is still in the front
		 * part of the list, so it stays: eviction order stays close to LRU and hot
		 * keys cost one lookup. */
		if (t->head != e && t->tick - e->tick > t->n / 4) {
			lru_unlink(t, e);
			lru_push(t, e);
			e->tick = t->tick;
		}
		*ret_new = false;
		return e;
	}
	if (t->n >= t->max)
		kt_remove(t, t->tail);
	if (t->n + 1 > t->nbuckets)
		kt_grow(t);
	size_t at = (offsetof(kentry, key) + len + 1 + 7) & ~(size_t)7;
	e = vg_xmalloc(at + t->payload_bytes);
	e->hash = h;
	e->tick = t->tick;
	e->window = window;
	e->payload = (char *)e + at;
	memset(e->payload, 0, t->payload_bytes);
	e->key_len = (uint32_t)len;
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	e->hnext = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = e;
	lru_push(t, e);
	t->n++;
	*ret_new = true;
	return e;
}

/* ---- durations ------------------------------------------------------------------------- */
int vg_rules_duration_parse(const char *s, size_t len, vg_usec *ret)
{
	size_t i = 0;
	int64_t v = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (v > 1000000000)
			return VG_EINVAL;
		v = v * 10 + (s[i++] - '0');
	}
	if (i == 0 || v <= 0)
		return VG_EINVAL;
	const char *u = s + i;
	size_t ul = len - i;
	int64_t mult;
	if (ul == 2 && memcmp(u, "ms", 2) == 0)
		mult = 1000;
	else if (ul == 1 && *u == 's')
		mult = 1000000;
	else if (ul == 1 && *u == 'm')
		mult = 60 * 1000000ll;
	else if (ul == 1 && *u == 'h')
		mult = 3600 * 1000000ll;
	else if (ul == 1 && *u == 'd')
		mult = 86400 * 1000000ll;
	else
		return VG_EINVAL;
	if (v > INT64_MAX / mult / 2)
		return VG_EINVAL;
	*ret = v * mult;
	return 0;
}

/* ---- counters ------------------------------------------------------------------------------
 * A ring of SLOTS + 1 buckets of window/SLOTS: the newest bucket is the one `now` falls in,
 * so the ring covers at least the whole window behind now and at most one bucket more. */
#define RING (VG_RULES_COUNTER_SLOTS + 1)

typedef struct ring {
	int64_t head; /* bucket number (time / width) of the newest bucket */
	uint32_t c[RING];
} ring;

struct vg_counters {
	ktable t;
};

vg_counters *vg_counters_new(size_t max_keys)
{
	vg_counters *c = vg_xcalloc(1, sizeof(*c));
	kt_init(&c->t, max_keys, sizeof(ring), NULL);
	return c;
}

void vg_counters_free(vg_counters *c)
{
	if (!c)
		return;
	kt_done(&c->t);
	free(c);
}

size_t vg_counters_size(const vg_counters *c)
{
	return c->t.n;
}

uint64_t vg_counters_add(vg_counters *c, const char *key, size_t key_len, vg_usec window,
			 vg_usec now, uint64_t add)
{
	bool fresh;
	kentry *e = kt_get(&c->t, key, key_len, window, &fresh);
	vg_usec width = window / VG_RULES_COUNTER_SLOTS;
	if (width < 1)
		width = 1;
	int64_t b = now / width;
	ring *r = e->payload;
	if (fresh)
		r->head = b;
	if (b > r->head) {
		/* Clear the buckets the ring moves past: at most all of them. */
		int64_t steps = b - r->head;
		if (steps >= RING) {
			memset(r->c, 0, sizeof(r->c));
		} else {
			for (int64_t i = 1; i <= steps; i++)
				r->c[(r->head + i) % RING] = 0;
		}
		r->head = b;
	}
	if (r->head - b < RING) {
		/* An event older than the newest (out of order) still counts while its bucket
		 * is in the ring. */
		uint64_t v = r->c[b % RING] + add;
		r->c[b % RING] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	}
	uint64_t sum = 0;
	for (int i = 0; i < RING; i++)
		sum += r->c[i];
	return sum;
}

/* ---- distinct counts --------------------------------------------------------------------- */
#define HLL_P 12
#define HLL_M (1u << HLL_P)
#define SMALL 16

typedef struct hll {
	int64_t epoch; /* now / window of the current half */
	/* Exact mode while regs is NULL: the value hashes of the current and the previous
	 * window. */
	uint64_t cur[SMALL], prev[SMALL];
	uint8_t ncur, nprev;
	/* HyperLogLog mode: the current window's registers, and the union of the current and
	 * previous windows' with its running sum of 2^-M[j] and count of zero registers, so
	 * an estimate costs O(1). */
	uint8_t *regs, *merged;
	double sum;
	uint32_t zeros;
} hll;

struct vg_distinct {
	ktable t;
};

/* An evicted or freed key's registers go with it. */
static void hll_done(void *p)
{
	hll *h = p;
	free(h->regs);
	free(h->merged);
}

vg_distinct *vg_distinct_new(size_t max_keys)
{
	vg_distinct *d = vg_xcalloc(1, sizeof(*d));
	kt_init(&d->t, max_keys, sizeof(hll), hll_done);
	return d;
}


void vg_distinct_free(vg_distinct *d)
{
	if (!d)
		return;
	kt_done(&d->t);
	free(d);
}

static void merged_set(hll *h, uint32_t j, uint8_t rho)
{
	uint8_t old = h->merged[j];
	if (rho <= old)
		return;
	if (old == 0)
		h->zeros--;
	h->sum += ldexp(1.0, -rho) - ldexp(1.0, -old);
	h->merged[j] = rho;
}

static void hll_insert(hll *h, uint64_t x, bool current)
{
	uint32_t j = (uint32_t)(x >> (64 - HLL_P));
	uint64_t w = (x << HLL_P) | ((uint64_t)1 << (HLL_P - 1));
	uint8_t rho = (uint8_t)(__builtin_clzll(w) + 1);
	if (current && h->regs[j] < rho)
		h->regs[j] = rho;
	merged_set(h, j, rho);
}

static void hll_reset_merged(hll *h)
{
	memset(h->merged, 0, HLL_M);
	h->sum = HLL_M;
	h->zeros = HLL_M;
}

static bool in(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

static uint64_t small_union(const hll *h)
{
	uint64_t n = h->ncur;
	for (size_t i = 0; i < h->nprev; i++)
		if (!in(h->cur, h->ncur, h->prev[i]))
			n++;
	return n;
}

static void to_hll(hll *h)
{
	h->regs = vg_xcalloc(1, HLL_M);
	h->merged = vg_xmalloc(HLL_M);
	hll_reset_merged(h);
	for (size_t i = 0; i < h->nprev; i++)
		hll_insert(h, h->prev[i], false);
	for (size_t i = 0; i < h->ncur; i++)
		hll_insert(h, h->cur[i], true);
}

static uint64_t hll_estimate(const hll *h)
{
	double m = HLL_M;
	double alpha = 0.7213 / (1.0 + 1.079 / m);
	double e = alpha * m * m / h->sum;
	if (e <= 2.5 * m && h->zeros > 0)
		e = m * log(m / h->zeros);
	return (uint64_t)(e + 0.5);
}

uint64_t vg_distinct_add(vg_distinct *d, const char *key, size_t key_len, const char *value,
			 size_t value_len, vg_usec window, vg_usec now)
{
	bool fresh;
	kentry *e = kt_get(&d->t, key, key_len, window, &fresh);
	hll *h = e->payload;
	int64_t epoch = now / (window > 0 ? window : 1);
	if (fresh)
		h->epoch = epoch;
	if (epoch > h->epoch) {
		bool adjacent = epoch == h->epoch + 1;
		if (h->regs) {
			/* The union becomes the old current window alone. */
			hll_reset_merged(h);
			if (adjacent)
				for (uint32_t j = 0; j < HLL_M; j++)
					if (h->regs[j])
						merged_set(h, j, h->regs[j]);
			memset(h->regs, 0, HLL_M);
		} else {
			if (adjacent)
				memcpy(h->prev, h->cur, sizeof(h->cur));
			h->nprev = adjacent ? h->ncur : 0;
			h->ncur = 0;
		}
		h->epoch = epoch;
	}
	uint64_t x = vg__rules_hash(value, value_len, 0x9e3779b97f4a7c15ull);
	bool current = epoch >= h->epoch; /* an older event only joins the union */
	if (!h->regs) {
		uint64_t *v = current ? h->cur : h->prev;
		uint8_t *n = current ? &h->ncur : &h->nprev;
		if (!in(v, *n, x)) {
			if (*n < SMALL) {
				v[(*n)++] = x;
			} else {
				to_hll(h);
				hll_insert(h, x, current);
				return hll_estimate(h);
			}
		}
		uint64_t u = small_union(h);
		if (u <= SMALL)
			return u;
		/* Past the exact range: switch so later calls cost O(1). */
		to_hll(h);
		return hll_estimate(h);
	}
	hll_insert(h, x, current);
	return hll_estimate(h);
}

/* ---- labels -------------------------------------------------------------------------------
 * Keyed by "kind\0id\0name"; the payload is the expiry time. */
struct vg_labels {
	ktable t;
};

vg_labels *vg_labels_new(size_t max_labels)
{
	vg_labels *l = vg_xcalloc(1, sizeof(*l));
	kt_init(&l->t, max_labels, sizeof(vg_usec), NULL);
	return l;
}

void vg_labels_free(vg_labels *l)
{
	if (!l)
		return;
	kt_done(&l->t);
	free(l);
}

size_t vg_labels_size(const vg_labels *l)
{
	return l->t.n;
}

static size_t label_key(char *buf, size_t cap, const char *kind, const char *id,
			const char *name)
{
	size_t a = strlen(kind), b = strlen(id), c = strlen(name);
	if (a + b + c + 2 > cap)
		return 0;
	memcpy(buf, kind, a);
	buf[a] = '\0';
	memcpy(buf + a + 1, id, b);
	buf[a + 1 + b] = '\0';
	memcpy(buf + a + b + 2, name, c);
	return a + b + c + 2;
}

#define LABEL_KEY_MAX 1024

void vg_labels_set(vg_labels *l, const char *kind, const char *id, const char *name,
		   vg_usec expires_at)
{
	char key[LABEL_KEY_MAX];
	size_t n = label_key(key, sizeof(key), kind, id, name);
	if (!n)
		return; /* rules.c refuses such labels before they get here */
	bool fresh;
	kentry *e = kt_get(&l->t, key, n, 0, &fresh);
	(void)fresh;
	*(vg_usec *)e->payload = expires_at;
}

bool vg_labels_has(const vg_labels *l, const char *kind, const char *id, const char *name,
		   vg_usec now)
{
	char key[LABEL_KEY_MAX];
	size_t n = label_key(key, sizeof(key), kind, id, name);
	if (!n)
		return false;
	uint64_t h = vg__rules_hash(key, n, 0);
	kentry *e = kt_find(&l->t, key, n, 0, h);
	if (!e)
		return false;
	vg_usec exp = *(vg_usec *)e->payload;
	return exp == 0 || exp > now;
}
