/* SPDX-License-Identifier: Apache-2.0
 *
 * The state rules keep between events, one set per worker: sliding-window counters,
 * distinct counts (exact up to 256 values, then HyperLogLog) and expiring labels. Each is
 * a bounded hash table of keys (ktable below), so memory is bounded by a key count fixed
 * at creation whatever the traffic: past the bound a key not used lately is forgotten
 * (CLOCK, an approximation of least recently used), which costs accuracy for a cold key
 * and never memory. The table is the engine's hottest code: a lookup costs about one
 * cache miss for the slot and one for the record, and nothing is allocated per event
 * once the table has grown, except for keys over 48 bytes and HyperLogLog registers.
 *
 * Invariants: a table never holds more than its max_keys entries; counts are never lower
 * than the true count of the last window (the ring has one bucket more than the window
 * needs, see rules.h); nothing here locks: each worker owns its tables, and a label
 * table shared by the workers is only read (vg_labels_has writes nothing).
 */
#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "internal.h"

/* ---- a bounded hash table of byte-string keys --------------------------------------------
 * Open addressing with linear probing over an array of 8-byte slots (a fingerprint and an
 * entry index), and the entries themselves in one flat array of fixed-size records (header,
 * payload, the key inline when short). A hit thus reads one or two neighbouring slots and
 * one record: no chain of separately allocated nodes, no list neighbours to touch. The
 * fingerprint is the hash's low 32 bits, so the home slot of any slot's entry is known
 * without reading the entry: growing the slots and backward-shift deletion never touch
 * the records.
 *
 * Eviction is CLOCK (second chance): a hit sets the entry's referenced bit; when the table
 * is full, a hand sweeps the records in index order, clearing set bits, and the first entry
 * found clear is the victim, whose record the new key takes over. A key used again within
 * one lap of the hand survives however many one-off keys pass through.
 *
 * The slots grow by doubling, a little at a time: rehashing a million slots at once took
 * 22 ms in one count(), inside a rule's CPU budget and in the latency of every event queued
 * behind it. A new array takes the inserts while each insert moves MIGRATE_STEP slots of
 * the old one over, and lookups try the new array, then the old. A moved (or deleted) old
 * slot becomes a tombstone rather than empty, so the probe runs through it stay whole; the
 * old array gets no inserts, so it keeps its empty slots and every probe ends. */
#define KEY_INLINE 48                 /* bytes of key kept in the record */
#define MIGRATE_STEP 4 /* > 1 / 0.7: the old slots are all moved before the next doubling */
#define SLOT_MOVED UINT32_MAX /* an old slot's idx once its entry has left it */
#define KT_MAX_KEYS ((size_t)1 << 30) /* so entry indexes fit a slot's 32 bits */
#define KT_MIN_CAP 64                 /* records allocated when the first key comes */

typedef struct kslot {
	uint32_t fp;  /* the hash's low 32 bits; the entry's home slot is fp & mask */
	uint32_t idx; /* entry index + 1; 0: an empty slot */
} kslot;

/* A record: this header, the payload (zeroed when an entry is made), then KEY_INLINE bytes
 * for the key, or a pointer to a copy of its own when it is longer. (Measured: a counter's
 * record is 152 bytes; padding records to whole cache lines bought nothing, and 24 bytes
 * of key instead of 48, for 128-byte records, bought 9% on IPv4 keys and lost 40% on
 * 40-byte keys, which then live outside.) */
typedef struct kentry {
	uint64_t hash; /* kt_hash of key and window */
	vg_usec window;
	uint32_t key_len;
	bool ref;    /* CLOCK: used since the hand last passed */
	bool pinned; /* never the CLOCK victim (vg_labels_pin) */
} kentry;

typedef struct ktable {
	kslot *slots;
	size_t mask;        /* slots - 1; slots a power of two, n <= 0.7 slots */
	kslot *old;         /* while the slots grow, the old array; NULL otherwise */
	size_t old_mask;
	size_t moved;       /* old slots [0, moved) are tombstones or empty */
	kslot *next;        /* the slots after the next doubling, made and faulted in ahead */
	char *recs;         /* cap records of rec_bytes, the first n in use */
	size_t rec_bytes;   /* header, payload and KEY_INLINE, a multiple of 8 */
	size_t key_at;      /* offset of the key in a record */
	size_t n, cap, max; /* n <= cap <= max <= KT_MAX_KEYS */
	size_t faulted;     /* bytes of recs handed to vg__prefault (or written) */
	size_t hand;        /* CLOCK: the next record to consider once n == max */
	size_t pinned;      /* records never evicted, at most max / 2 */
	size_t payload_bytes;
	void (*payload_done)(void *payload); /* frees what a payload points to; may be NULL */
	/* Random per table: the SipHash key (internal.h says why SipHash). */
	uint64_t key[2];
} ktable;

static inline kentry *rec(const ktable *t, size_t i)
{
	return (kentry *)(t->recs + i * t->rec_bytes);
}

static inline void *payload(kentry *e)
{
	return e + 1;
}

/* Where the key's bytes are: in the record, or in its own copy the record points to. */
static inline char *key_area(const ktable *t, const kentry *e)
{
	return (char *)e + t->key_at;
}

static inline bool key_is_inline(size_t len)
{
	return len <= KEY_INLINE;
}

static inline const char *key_of(const ktable *t, const kentry *e)
{
	char *a = key_area(t, e);
	if (key_is_inline(e->key_len))
		return a;
	char *out;
	memcpy(&out, a, sizeof(out));
	return out;
}

/* Arrays of a big table get a mapping of their own, which the kernel may back with 2 MiB
 * pages: a random lookup in a table of a million keys otherwise costs a TLB miss and a
 * page walk on top of its cache misses (without them, replays ran 4-14% slower).
 * Growing such a mapping moves page tables instead of copying (mremap). First writes to
 * those pages are costly (rules_prefault.c), so the memory a table writes next is
 * faulted in ahead by another thread: its records FAULT_AHEAD bytes ahead of the last
 * one used, its slots a whole array ahead (made when the table is half way to the
 * doubling that will need them). Small arrays stay on the heap, where ASan sees them. */
#define BIG_BYTES ((size_t)2 << 20)
#define FAULT_AHEAD ((size_t)8 << 20)

static void *map_big(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort(); /* sized by max_keys, a configured bound, as vg_xmalloc would */
#ifdef MADV_HUGEPAGE
	(void)madvise(p, bytes, MADV_HUGEPAGE); /* a hint: no huge pages is only slower */
#endif
	return p;
}

/* Zeroed. */
static void *arr_new(size_t bytes)
{
	return bytes < BIG_BYTES ? vg_xcalloc(1, bytes) : map_big(bytes);
}

static void arr_free(void *p, size_t bytes)
{
	if (bytes < BIG_BYTES) {
		free(p);
	} else if (p) {
		vg__prefault_fence(p, bytes);
		munmap(p, bytes);
	}
}

/* Grows p from old to bytes (bytes > old), keeping its contents. */
static void *arr_grow(void *p, size_t old, size_t bytes)
{
	if (bytes < BIG_BYTES) {
		p = realloc(p, bytes);
		if (!p)
			abort();
		return p;
	}
	if (old >= BIG_BYTES) {
		vg__prefault_fence(p, old);
		p = mremap(p, old, bytes, MREMAP_MAYMOVE);
		if (p == MAP_FAILED)
			abort();
		return p;
	}
	void *q = map_big(bytes);
	if (old)
		memcpy(q, p, old);
	free(p);
	return q;
}

static void kt_init(ktable *t, size_t max, size_t payload_bytes, void (*payload_done)(void *))
{
	memset(t, 0, sizeof(*t));
	t->payload_bytes = payload_bytes;
	t->payload_done = payload_done;
	t->key_at = sizeof(kentry) + ((payload_bytes + 7) & ~(size_t)7);
	t->rec_bytes = t->key_at + KEY_INLINE;
	t->max = max == 0 ? 1 : max > KT_MAX_KEYS ? KT_MAX_KEYS : max;
	vg__rules_random_key(t->key);
	t->mask = 2 * KT_MIN_CAP - 1;
	t->slots = arr_new((t->mask + 1) * sizeof(kslot));
}

/* Frees what an entry owns, not its record. */
static void entry_done(const ktable *t, kentry *e)
{
	if (!key_is_inline(e->key_len))
		free((void *)key_of(t, e));
	if (t->payload_done)
		t->payload_done(payload(e));
}

static void kt_done(ktable *t)
{
	for (size_t i = 0; i < t->n; i++)
		entry_done(t, rec(t, i));
	arr_free(t->recs, t->cap * t->rec_bytes);
	arr_free(t->slots, (t->mask + 1) * sizeof(kslot));
	arr_free(t->next, 2 * (t->mask + 1) * sizeof(kslot));
	if (t->old)
		arr_free(t->old, (t->old_mask + 1) * sizeof(kslot));
	memset(t, 0, sizeof(*t));
}

/* The window is part of the key: it goes into the SipHash key. */
static inline uint64_t kt_hash(const ktable *t, const char *key, size_t len, vg_usec window)
{
	return vg__siphash(key, len, t->key[0] ^ (uint64_t)window, t->key[1], 1, 3);
}

void vg__rules_random_key(uint64_t key[2])
{
	/* getrandom blocks only before the kernel's pool is first seeded, at early boot. */
	if (getrandom(key, 2 * sizeof(uint64_t), 0) == 2 * (ssize_t)sizeof(uint64_t))
		return;
	/* No random source (a seccomp filter, an old kernel): a key an outsider cannot read,
	 * though one who can watch the process's timing might narrow it down. */
	key[0] = (uint64_t)vg_time_now() ^ (uint64_t)(uintptr_t)key;
	key[1] = vg__rules_fmix((uint64_t)vg_time_mono() ^ (uint64_t)(uintptr_t)&key);
}

static bool same_key(const ktable *t, const kentry *e, const char *key, size_t len,
		     vg_usec window, uint64_t h)
{
	return e->hash == h && e->window == window && e->key_len == len &&
	       memcmp(key_of(t, e), key, len) == 0;
}

static kentry *probe(const ktable *t, const kslot *slots, size_t mask, const char *key,
		     size_t len, vg_usec window, uint64_t h)
{
	uint32_t fp = (uint32_t)h;
	for (size_t i = fp & mask;; i = (i + 1) & mask) {
		kslot s = slots[i];
		if (s.idx == 0)
			return NULL;
		if (s.fp == fp && s.idx != SLOT_MOVED) {
			kentry *e = rec(t, s.idx - 1);
			if (same_key(t, e, key, len, window, h))
				return e;
		}
	}
}

/* The entry of (key, window) or NULL. Reads only: the shared label table relies on it
 * (see vg_labels_has). */
static kentry *kt_find(const ktable *t, const char *key, size_t len, vg_usec window,
		       uint64_t h)
{
	kentry *e = probe(t, t->slots, t->mask, key, len, window, h);
	if (!e && t->old)
		e = probe(t, t->old, t->old_mask, key, len, window, h);
	return e;
}

static size_t empty_slot(const ktable *t, uint32_t fp)
{
	size_t i = fp & t->mask;
	while (t->slots[i].idx)
		i = (i + 1) & t->mask;
	return i;
}

/* Moves up to steps old slots to the new array (reading only slots: home slots come from
 * fingerprints); frees the old array once it is drained. */
static void migrate(ktable *t, size_t steps)
{
	while (t->old && steps--) {
		kslot *s = &t->old[t->moved];
		if (s->idx && s->idx != SLOT_MOVED) {
			t->slots[empty_slot(t, s->fp)] = *s;
			s->idx = SLOT_MOVED;
		}
		if (++t->moved > t->old_mask) {
			arr_free(t->old, (t->old_mask + 1) * sizeof(kslot));
			t->old = NULL;
		}
	}
}

/* Doubles the slots: a new array, which migrate() fills from the old one. */
static void grow_slots(ktable *t)
{
	migrate(t, SIZE_MAX); /* never needed with MIGRATE_STEP > 1 / 0.7; keeps one old array */
	t->old = t->slots;
	t->old_mask = t->mask;
	t->moved = 0;
	t->mask = 2 * t->mask + 1;
	t->slots = t->next ? t->next : arr_new((t->mask + 1) * sizeof(kslot));
	t->next = NULL;
}

/* Hands the memory the table will write next to vg__prefault, when it is a mapping of
 * its own: the records ahead of the last one used, and the slots of the next doubling
 * once the table is half way there (and can get there). */
static void fault_ahead(ktable *t)
{
	size_t bytes = t->cap * t->rec_bytes, used = t->n * t->rec_bytes;
	if (bytes >= BIG_BYTES) {
		if (t->faulted < used)
			t->faulted = used; /* written already, or the request was dropped */
		if (t->faulted - used < FAULT_AHEAD / 2 && t->faulted < bytes) {
			size_t end = t->faulted + FAULT_AHEAD < bytes ? t->faulted + FAULT_AHEAD : bytes;
			vg__prefault(t->recs + t->faulted, end - t->faulted);
			t->faulted = end;
		}
	}
	size_t slots = t->mask + 1, next = 2 * slots * sizeof(kslot);
	if (!t->next && next >= BIG_BYTES && (t->n + 1) * 20 > slots * 7 && t->max * 10 > slots * 7) {
		t->next = arr_new(next);
		vg__prefault(t->next, next);
	}
}

/* Backward-shift deletion of the slot at i: each later slot of the run moves back into the
 * hole when its home is not between the hole and itself, so every entry stays reachable
 * from its home without tombstones, and probes stay as short as if it had never been. */
static void slot_delete(ktable *t, size_t i)
{
	size_t m = t->mask;
	for (size_t j = (i + 1) & m; t->slots[j].idx; j = (j + 1) & m) {
		size_t home = t->slots[j].fp & m;
		if (((j - home) & m) >= ((j - i) & m)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = (kslot){0, 0};
}

/* The record the CLOCK hand picks: the first unpinned one not used since the hand last
 * passed, clearing the bits of those that were. */
static size_t clock_victim(ktable *t)
{
	for (;;) {
		size_t i = t->hand;
		t->hand = i + 1 == t->n ? 0 : i + 1;
		kentry *e = rec(t, i);
		if (e->pinned)
			continue; /* at most half are: the loop still ends, within two laps */
		if (!e->ref)
			return i;
		e->ref = false;
	}
}

/* Forgets the CLOCK victim; returns its record, free for a new key. */
static size_t evict(ktable *t)
{
	size_t v = clock_victim(t);
	kentry *e = rec(t, v);
	uint32_t fp = (uint32_t)e->hash;
	size_t i = fp & t->mask;
	while (t->slots[i].idx && t->slots[i].idx != v + 1)
		i = (i + 1) & t->mask;
	if (t->slots[i].idx) {
		slot_delete(t, i);
	} else {
		/* Not moved yet: a tombstone in the old array, whose runs must stay whole. */
		assert(t->old); /* every record is reachable from its home */
		i = fp & t->old_mask;
		while (t->old[i].idx != v + 1) {
			assert(t->old[i].idx != 0);
			i = (i + 1) & t->old_mask;
		}
		t->old[i].idx = SLOT_MOVED;
	}
	entry_done(t, e);
	return v;
}

/* A record for a new entry: the next unused one, growing the records by doubling up to
 * max, or the victim's once the table is full. */
static size_t take_record(ktable *t)
{
	if (t->n == t->max)
		return evict(t);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : KT_MIN_CAP;
		cap = cap < t->max ? cap : t->max;
		t->recs = arr_grow(t->recs, t->cap * t->rec_bytes, cap * t->rec_bytes);
		t->cap = cap;
	}
	if ((t->n + 1) * 10 > (t->mask + 1) * 7)
		grow_slots(t);
	fault_ahead(t);
	return t->n++;
}

static kentry *kt_insert(ktable *t, const char *key, size_t len, vg_usec window, uint64_t h)
{
	size_t i = take_record(t);
	kentry *e = rec(t, i);
	e->hash = h;
	e->window = window;
	e->key_len = (uint32_t)len;
	/* Unreferenced: once the table is full a new record sits just behind the hand, so it
	 * has a whole lap to be used again, and a key seen once goes before any key seen
	 * twice. */
	e->ref = false;
	e->pinned = false;
	if (key_is_inline(len)) {
		memcpy(key_area(t, e), key, len);
	} else {
		char *out = vg_xmalloc(len);
		memcpy(out, key, len);
		memcpy(key_area(t, e), &out, sizeof(out));
	}
	memset(payload(e), 0, t->payload_bytes);
	t->slots[empty_slot(t, (uint32_t)h)] = (kslot){(uint32_t)h, (uint32_t)i + 1};
	migrate(t, MIGRATE_STEP);
	return e;
}

/* Finds or creates (key, window), marking it used. *ret_new says whether it was created
 * (its payload then zeroed). Allocates only to grow and for a key over KEY_INLINE bytes
 * (and the caller for its payload: HyperLogLog registers). */
static kentry *kt_get(ktable *t, const char *key, size_t len, vg_usec window, bool *ret_new)
{
	assert(len <= UINT32_MAX);
	uint64_t h = kt_hash(t, key, len, window);
	kentry *e = kt_find(t, key, len, window, h);
	*ret_new = e == NULL;
	if (!e)
		return kt_insert(t, key, len, window, h);
	e->ref = true;
	return e;
}

/* ---- durations ------------------------------------------------------------------------- */
#define DURATION_MAX 1000000000 /* units; also keeps v * 10 + 9 within int64 */

int vg_rules_duration_parse(const char *s, size_t len, vg_usec *ret)
{
	size_t i = 0;
	int64_t v = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		v = v * 10 + (s[i++] - '0');
		if (v > DURATION_MAX)
			return VG_EINVAL;
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

/* The bucket now falls in, for a ring of window. */
/* Buckets are window / SLOTS wide, rounded up: rounded down, the newest bucket and the
 * SLOTS before it could span less than the window, and a count fall short of the truth. */
static inline int64_t ring_bucket(vg_usec window, vg_usec now)
{
	vg_usec width = (window + VG_RULES_COUNTER_SLOTS - 1) / VG_RULES_COUNTER_SLOTS;
	return now / (width < 1 ? 1 : width);
}

/* Makes b the newest bucket when it is newer than *head (or the ring is fresh), and
 * returns how many buckets after the old head the ring moved past, which the caller
 * clears: at most all RING of them. */
static inline int64_t ring_move(int64_t *head, int64_t b, bool fresh)
{
	if (fresh)
		*head = b;
	if (b <= *head)
		return 0;
	int64_t steps = b - *head;
	*head = b;
	return steps < RING ? steps : RING;
}

/* How many of a ring's buckets, newest first, count at bucket b without moving it (a
 * read): all of them, less those a move to b would clear. */
static inline int ring_live(int64_t head, int64_t b)
{
	if (b <= head)
		return RING;
	return b - head < RING ? (int)(RING - (b - head)) : 0;
}

/* The ring index of bucket n, for every n: C's % keeps a negative n's sign. */
static inline size_t ring_at(int64_t n)
{
	int64_t m = n % RING;
	return (size_t)(m < 0 ? m + RING : m);
}

/* The entry of (key, window) or NULL, for reads that must not make a key. */
static const kentry *kt_peek(const ktable *t, const char *key, size_t len, vg_usec window)
{
	return t->n ? kt_find(t, key, len, window, kt_hash(t, key, len, window)) : NULL;
}

uint64_t vg_counters_add(vg_counters *c, const char *key, size_t key_len, vg_usec window,
			 vg_usec now, uint64_t add)
{
	bool fresh;
	kentry *e = kt_get(&c->t, key, key_len, window, &fresh);
	int64_t b = ring_bucket(window, now);
	ring *r = payload(e);
	int64_t old = r->head, steps = ring_move(&r->head, b, fresh);
	for (int64_t i = 1; i <= steps; i++)
		r->c[ring_at(old + i)] = 0;
	if (r->head - b < RING) {
		/* An event older than the newest (out of order) still counts while its bucket
		 * is in the ring. */
		uint64_t v = r->c[ring_at(b)] + add;
		r->c[ring_at(b)] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	}
	uint64_t sum = 0;
	for (int i = 0; i < RING; i++)
		sum += r->c[i];
	return sum;
}

uint64_t vg_counters_get(const vg_counters *c, const char *key, size_t key_len, vg_usec window,
			 vg_usec now)
{
	const kentry *e = kt_peek(&c->t, key, key_len, window);
	if (!e)
		return 0;
	const ring *r = payload((kentry *)e);
	int64_t b = ring_bucket(window, now);
	uint64_t sum = 0;
	size_t i = ring_at(r->head);
	for (int k = ring_live(r->head, b); k > 0; k--) {
		sum += r->c[i];
		i = i ? i - 1 : RING - 1;
	}
	return sum;
}

/* ---- sums ----------------------------------------------------------------------------------
 * Counters of amounts (bytes, cents): the same ring with a double per bucket. Amounts are
 * finite and not negative (rules_lua.c checks), so as for counters a total is never
 * below the true one over the window. Doubles add whole numbers exactly up to 2^53. */
typedef struct sum_ring {
	int64_t head;
	double c[RING];
} sum_ring;

struct vg_sums {
	ktable t;
};

vg_sums *vg_sums_new(size_t max_keys)
{
	vg_sums *m = vg_xcalloc(1, sizeof(*m));
	kt_init(&m->t, max_keys, sizeof(sum_ring), NULL);
	return m;
}

void vg_sums_free(vg_sums *m)
{
	if (!m)
		return;
	kt_done(&m->t);
	free(m);
}

size_t vg_sums_size(const vg_sums *m)
{
	return m->t.n;
}

double vg_sums_add(vg_sums *m, const char *key, size_t key_len, vg_usec window, vg_usec now,
		   double amount)
{
	bool fresh;
	kentry *e = kt_get(&m->t, key, key_len, window, &fresh);
	int64_t b = ring_bucket(window, now);
	sum_ring *r = payload(e);
	int64_t old = r->head, steps = ring_move(&r->head, b, fresh);
	for (int64_t i = 1; i <= steps; i++)
		r->c[ring_at(old + i)] = 0;
	if (r->head - b < RING)
		r->c[ring_at(b)] += amount;
	double total = 0;
	for (int i = 0; i < RING; i++)
		total += r->c[i];
	return total;
}

double vg_sums_get(const vg_sums *m, const char *key, size_t key_len, vg_usec window,
		   vg_usec now)
{
	const kentry *e = kt_peek(&m->t, key, key_len, window);
	if (!e)
		return 0;
	const sum_ring *r = payload((kentry *)e);
	int64_t b = ring_bucket(window, now);
	double total = 0;
	size_t i = ring_at(r->head);
	for (int k = ring_live(r->head, b); k > 0; k--) {
		total += r->c[i];
		i = i ? i - 1 : RING - 1;
	}
	return total;
}

/* ---- distinct counts --------------------------------------------------------------------- */
#define HLL_P 12
#define HLL_M (1u << HLL_P)
#define SMALL 16      /* values per window kept in the record itself */
#define EXACT_MAX 256 /* distinct values counted exactly; past them, HyperLogLog */

/* Exact up to EXACT_MAX, so that a threshold a rule is likely to test (20 accounts, 100
 * addresses) is met exactly: HyperLogLog's linear counting is off by one at 20 values in
 * one key of twenty (two values in one register). Past SMALL a window's values move to
 * the heap: 2 KB each, no more than the registers that would follow. */
typedef struct hll {
	int64_t epoch; /* now / window of the current half */
	/* Exact mode while regs is NULL: the value hashes of the two windows, window cur the
	 * current one, in small[i] or (past SMALL) in big[i]; union_n counts their union. */
	uint64_t small[2][SMALL];
	uint64_t *big[2];
	uint16_t n[2], union_n;
	uint8_t cur;
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
	free(h->big[0]);
	free(h->big[1]);
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

/* Window i's values. */
static uint64_t *win(hll *h, int i)
{
	return h->big[i] ? h->big[i] : h->small[i];
}

/* Appends x to window i (which lacks it and holds fewer than EXACT_MAX). */
static void win_add(hll *h, int i, uint64_t x)
{
	if (h->n[i] == SMALL && !h->big[i]) {
		h->big[i] = vg_xmalloc(EXACT_MAX * sizeof(uint64_t));
		memcpy(h->big[i], h->small[i], sizeof(h->small[i]));
	}
	win(h, i)[h->n[i]++] = x;
}

/* Leaves exact mode: both windows' values into fresh registers, the sets freed. */
static void to_hll(hll *h)
{
	h->regs = vg_xcalloc(1, HLL_M);
	h->merged = vg_xmalloc(HLL_M);
	hll_reset_merged(h);
	for (int i = 0; i < 2; i++) {
		const uint64_t *v = win(h, i);
		for (size_t k = 0; k < h->n[i]; k++)
			hll_insert(h, v[k], i == h->cur);
		free(h->big[i]);
		h->big[i] = NULL;
		h->n[i] = 0;
	}
}

static uint64_t hll_estimate(const hll *h)
{
	double m = HLL_M;
	double alpha = 0.7213 / (1.0 + 1.079 / m);
	double e = alpha * m * m / h->sum;
	/* Linear counting while its own estimate is under 3m: the raw estimate is biased up
	 * there (by +1.7% at 2.4m, where the usual switch on the raw estimate at 2.5m took
	 * it). Measured over 600 random keys a size: bias under 0.5%, 1.1% to 1.6% rms
	 * from 257 to 100,000 (the raw estimate's 1.04 / sqrt(m) = 1.6%), but ~2.1% around
	 * the switch (12,000 to 12,500), where linear counting is at its worst; taking that
	 * out needs a bias-corrected estimator (HLL++, Ertl 2017). */
	double lc = h->zeros > 0 ? m * log(m / h->zeros) : INFINITY;
	if (lc <= 3 * m)
		e = lc;
	return (uint64_t)(e + 0.5);
}

uint64_t vg_distinct_add(vg_distinct *d, const char *key, size_t key_len, const char *value,
			 size_t value_len, vg_usec window, vg_usec now)
{
	bool fresh;
	kentry *e = kt_get(&d->t, key, key_len, window, &fresh);
	hll *h = payload(e);
	int64_t epoch = now / (window > 0 ? window : 1);
	if (fresh)
		h->epoch = epoch;
	if (epoch > h->epoch) {
		bool adjacent = epoch == h->epoch + 1;
		if (h->regs && !adjacent) {
			/* Both windows are gone: back to exact counting, so that a key which once
			 * saw a crowd (an address behind a NAT) meets a small threshold exactly. */
			free(h->regs);
			free(h->merged);
			h->regs = h->merged = NULL;
			h->n[0] = h->n[1] = h->union_n = 0;
		} else if (h->regs) {
			/* The union becomes the old current window alone. */
			hll_reset_merged(h);
			if (adjacent)
				for (uint32_t j = 0; j < HLL_M; j++)
					if (h->regs[j])
						merged_set(h, j, h->regs[j]);
			memset(h->regs, 0, HLL_M);
		} else if (adjacent) {
			/* The current window becomes the previous one; the old previous one's
			 * storage is emptied for the new current window. */
			h->cur ^= 1;
			h->n[h->cur] = 0;
			h->union_n = h->n[!h->cur];
		} else {
			h->n[0] = h->n[1] = h->union_n = 0;
		}
		h->epoch = epoch;
	} else if (epoch < h->epoch - 1) {
		/* Older than both windows: it counts in neither, as count() drops it. */
		return h->regs ? hll_estimate(h) : h->union_n;
	}
	/* Keyed too: with a public hash an attacker could pick values that collide (counted
	 * once while exact) or that fill few registers (a low estimate), and try accounts
	 * without reaching a distinct() threshold. */
	uint64_t x = vg__siphash(value, value_len, d->t.key[1], d->t.key[0], 1, 3);
	bool current = epoch >= h->epoch; /* an older event only joins the union */
	if (!h->regs) {
		int i = current ? h->cur : !h->cur;
		if (in(win(h, i), h->n[i], x))
			return h->union_n;
		bool new_value = !in(win(h, !i), h->n[!i], x);
		if (h->union_n + new_value <= EXACT_MAX) {
			win_add(h, i, x);
			h->union_n = (uint16_t)(h->union_n + new_value);
			return h->union_n;
		}
		/* Past the exact range: switch so later calls cost O(1). */
		to_hll(h);
	}
	hll_insert(h, x, current);
	return hll_estimate(h);
}

/* ---- labels -------------------------------------------------------------------------------
 * Keyed by "kind\0id\0name"; the payload is the expiry time. Only set() marks a label used
 * for CLOCK: has() is also called by every worker at once on the table loaded from the
 * store (vg__rules_vm_opts.shared_labels), so it must not write, not even a bit. */
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

void vg__labels_settle(vg_labels *l)
{
	migrate(&l->t, SIZE_MAX);
}

/* Every record has exactly one slot, in the new or the old array: a slot lost or left
 * behind by a shift, a drain or an eviction breaks it. For tests; O(slots). */
bool vg__labels_consistent(const vg_labels *l)
{
	const ktable *t = &l->t;
	uint8_t *seen = vg_xcalloc(t->n + 1, 1);
	size_t live = 0;
	bool ok = true;
	for (int a = 0; a < 2; a++) {
		const kslot *slots = a ? t->old : t->slots;
		size_t n = slots ? (a ? t->old_mask : t->mask) + 1 : 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t idx = slots[i].idx;
			if (idx == 0 || idx == SLOT_MOVED)
				continue;
			live++;
			if (idx > t->n || seen[idx]++ ||
			    slots[i].fp != (uint32_t)rec(t, idx - 1)->hash)
				ok = false;
		}
	}
	free(seen);
	return ok && live == t->n;
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

/* The entry of the label with its expiry set, or NULL when the label is not one
 * (rules_lua.c refuses such labels before they get here). */
static kentry *label_put(vg_labels *l, const char *kind, const char *id, const char *name,
			 vg_usec expires_at)
{
	char key[LABEL_KEY_MAX];
	size_t n = label_key(key, sizeof(key), kind, id, name);
	if (!n)
		return NULL;
	bool fresh;
	kentry *e = kt_get(&l->t, key, n, 0, &fresh);
	*(vg_usec *)payload(e) = expires_at;
	return e;
}

void vg_labels_set(vg_labels *l, const char *kind, const char *id, const char *name,
		   vg_usec expires_at)
{
	label_put(l, kind, id, name, expires_at);
}

void vg_labels_pin(vg_labels *l, const char *kind, const char *id, const char *name,
		   vg_usec expires_at)
{
	kentry *e = label_put(l, kind, id, name, expires_at);
	if (e && !e->pinned && l->t.pinned < l->t.max / 2) {
		e->pinned = true;
		l->t.pinned++;
	}
}

bool vg_labels_get(const vg_labels *l, const char *kind, const char *id, const char *name,
		   vg_usec *ret_expires_at)
{
	char key[LABEL_KEY_MAX];
	if (l->t.n == 0)
		return false; /* often so for the table loaded from the store: skip the hash */
	size_t n = label_key(key, sizeof(key), kind, id, name);
	if (!n)
		return false;
	uint64_t h = kt_hash(&l->t, key, n, 0);
	kentry *e = kt_find(&l->t, key, n, 0, h);
	if (!e)
		return false;
	*ret_expires_at = *(vg_usec *)payload(e);
	return true;
}

bool vg_labels_has(const vg_labels *l, const char *kind, const char *id, const char *name,
		   vg_usec now)
{
	vg_usec exp;
	return vg_labels_get(l, kind, id, name, &exp) && (exp == 0 || exp > now);
}
