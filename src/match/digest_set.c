/* SPDX-License-Identifier: Apache-2.0
 *
 * Exact digest sets: MD5 or SHA-256 values of known files mapped to the ids of the bank
 * entries that hold them. Lookups run once per uploaded file, adds once per bank entry.
 *
 * Layout: open addressing with linear probing over slots of (digest words, id), plus one
 * control byte per slot: 0 for empty, otherwise 0x80 | 7 bits of the slot's hash, so a
 * probe compares one byte before it touches a digest. Several ids may share a digest;
 * they sit in the same probe run and a lookup collects them all. Deletion shifts later
 * entries of the run back (no tombstones), so probe runs never outlive their entries.
 *
 * Invariants: every entry lies between its home slot and the first empty slot after it;
 * the load factor stays at or under 3/4 (the table doubles before passing it); a (digest,
 * id) pair is present at most once. The hash is keyed with a per-set random seed: bank
 * files are input too, and digests chosen to share a home slot must not turn lookups
 * linear.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

#define MIN_CAP 16

struct vg_digest_set {
	size_t len;     /* digest bytes: 16 or 32 */
	size_t words;   /* len / 8 */
	size_t stride;  /* words + 1: a slot's digest words, then its id */
	size_t cap;     /* slots, a power of two */
	size_t count;   /* pairs present */
	uint64_t seed;
	uint8_t *ctrl;  /* [cap] */
	uint64_t *slot; /* [cap * stride] */
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 31;
	x *= UINT64_C(0x7fb5d329728ea185);
	x ^= x >> 27;
	x *= UINT64_C(0x81dadef4bc2dd44d);
	x ^= x >> 33;
	return x;
}

static uint64_t hash_words(const vg_digest_set *s, const uint64_t *w)
{
	uint64_t h = s->seed;
	for (size_t i = 0; i < s->words; i++)
		h = mix(h ^ w[i]) + i;
	return h;
}

static void load_words(const vg_digest_set *s, const uint8_t *digest, uint64_t *w)
{
	memcpy(w, digest, s->len);
}

static int alloc_table(vg_digest_set *s, size_t cap)
{
	uint8_t *ctrl = calloc(cap, 1);
	uint64_t *slot = malloc(cap * s->stride * sizeof(*slot));
	if (!ctrl || !slot) {
		free(ctrl);
		free(slot);
		return VG_ENOMEM;
	}
	s->ctrl = ctrl;
	s->slot = slot;
	s->cap = cap;
	return 0;
}

vg_digest_set *vg_digest_set_new(size_t digest_len)
{
	if (digest_len != 16 && digest_len != 32)
		return NULL;
	vg_digest_set *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->len = digest_len;
	s->words = digest_len / 8;
	s->stride = s->words + 1;
	if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) != sizeof(s->seed))
		s->seed = (uint64_t)vg_time_mono() ^ (uint64_t)(uintptr_t)s;
	if (alloc_table(s, MIN_CAP) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

void vg_digest_set_free(vg_digest_set *s)
{
	if (!s)
		return;
	free(s->ctrl);
	free(s->slot);
	free(s);
}

size_t vg_digest_set_count(const vg_digest_set *s)
{
	return s->count;
}

/* Places a pair known to be absent; the table has room. */
static void place(vg_digest_set *s, const uint64_t *w, uint64_t id, uint64_t h)
{
	size_t mask = s->cap - 1, i = h & mask;
	while (s->ctrl[i])
		i = (i + 1) & mask;
	s->ctrl[i] = (uint8_t)(0x80 | h >> 57);
	memcpy(&s->slot[i * s->stride], w, s->len);
	s->slot[i * s->stride + s->words] = id;
}

static int grow(vg_digest_set *s)
{
	vg_digest_set old = *s;
	if (alloc_table(s, old.cap * 2) != 0) {
		*s = old;
		return VG_ENOMEM;
	}
	for (size_t i = 0; i < old.cap; i++) {
		if (!old.ctrl[i])
			continue;
		const uint64_t *w = &old.slot[i * old.stride];
		place(s, w, w[old.words], hash_words(s, w));
	}
	free(old.ctrl);
	free(old.slot);
	return 0;
}

/* Slot of the pair, or SIZE_MAX. */
static size_t find(const vg_digest_set *s, const uint64_t *w, uint64_t id, uint64_t h)
{
	const size_t mask = s->cap - 1;
	const uint8_t tag = (uint8_t)(0x80 | h >> 57);
	for (size_t i = h & mask; s->ctrl[i]; i = (i + 1) & mask) {
		const uint64_t *e = &s->slot[i * s->stride];
		if (s->ctrl[i] == tag && e[s->words] == id && memcmp(e, w, s->len) == 0)
			return i;
	}
	return SIZE_MAX;
}

int vg_digest_set_add(vg_digest_set *s, const uint8_t *digest, uint64_t id)
{
	uint64_t w[4];
	load_words(s, digest, w);
	uint64_t h = hash_words(s, w);
	if (find(s, w, id, h) != SIZE_MAX)
		return VG_EEXIST;
	if (s->count >= VG__MIH_MAX_ROWS)
		return VG_ETOOBIG;
	if ((s->count + 1) * 4 > s->cap * 3) {
		int rc = grow(s);
		if (rc)
			return rc;
	}
	place(s, w, id, h);
	s->count++;
	return 0;
}

int vg_digest_set_remove(vg_digest_set *s, const uint8_t *digest, uint64_t id)
{
	uint64_t w[4];
	load_words(s, digest, w);
	size_t i = find(s, w, id, hash_words(s, w));
	if (i == SIZE_MAX)
		return VG_ENOENT;
	/* Backward shift: pull later entries of the run into the hole when their home slot
	 * does not lie cyclically in (hole, j], so none becomes unreachable. */
	const size_t mask = s->cap - 1;
	for (size_t j = (i + 1) & mask; s->ctrl[j]; j = (j + 1) & mask) {
		const uint64_t *e = &s->slot[j * s->stride];
		size_t home = hash_words(s, e) & mask;
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		s->ctrl[i] = s->ctrl[j];
		memcpy(&s->slot[i * s->stride], e, s->stride * sizeof(*e));
		i = j;
	}
	s->ctrl[i] = 0;
	s->count--;
	return 0;
}

size_t vg_digest_set_lookup(const vg_digest_set *s, const uint8_t *digest, uint64_t *ret_ids,
			    size_t max_ids)
{
	uint64_t w[4];
	load_words(s, digest, w);
	const uint64_t h = hash_words(s, w);
	const size_t mask = s->cap - 1;
	const uint8_t tag = (uint8_t)(0x80 | h >> 57);
	size_t found = 0, kept = 0;
	for (size_t i = h & mask; s->ctrl[i]; i = (i + 1) & mask) {
		const uint64_t *e = &s->slot[i * s->stride];
		if (s->ctrl[i] != tag || memcmp(e, w, s->len) != 0)
			continue;
		found++;
		/* Keep the smallest max_ids ids, ascending, by insertion. */
		uint64_t id = e[s->words];
		if (kept == max_ids && (kept == 0 || id >= ret_ids[kept - 1]))
			continue;
		size_t k = kept < max_ids ? kept++ : kept - 1;
		for (; k > 0 && ret_ids[k - 1] > id; k--)
			ret_ids[k] = ret_ids[k - 1];
		ret_ids[k] = id;
	}
	return found;
}
