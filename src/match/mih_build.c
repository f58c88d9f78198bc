/* SPDX-License-Identifier: Apache-2.0
 *
 * Building an index segment: sorting rows by (id, hash) and laying out the sixteen
 * bucket tables with a two-pass counting sort, the eight chunks (two tables each)
 * spread over the cores.
 *
 * Invariants established here (internal.h lists them): rows sorted by (id, hash) with no
 * duplicate pair; every row in exactly one bucket per table, ascending within it; the
 * Elias-Fano bits let a position be turned back into its row. Sorting by id is what
 * makes removal by id a binary search with no extra map, and the counting sort visiting
 * rows in order is what makes rows ascend within each bucket, as Elias-Fano needs.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* ---- big arrays --------------------------------------------------------------------
 * Tables and hashes are read at random across hundreds of megabytes, so TLB misses would
 * cost as much as cache misses: large blocks are 2 MB aligned and offered to the kernel
 * as huge pages (a hint only; without THP they are ordinary pages). A segment's sixty-
 * four table arrays share one block, so only one partial huge page is wasted. */
void *vg__mih_alloc(size_t bytes)
{
	const size_t huge = (size_t)2 << 20;
	if (bytes < huge)
		return malloc(bytes ? bytes : 1);
	void *p = NULL;
	size_t rounded = (bytes + huge - 1) & ~(huge - 1);
	if (posix_memalign(&p, huge, rounded) != 0)
		return NULL;
	(void)madvise(p, rounded, MADV_HUGEPAGE);
	return p;
}

/* ---- sorting rows by (id, hash) ------------------------------------------------------ */

static int cmp_hash(const void *a, const void *b)
{
	const vg_pdq *x = a, *y = b;
	for (int i = 3; i >= 0; i--)
		if (x->w[i] != y->w[i])
			return x->w[i] < y->w[i] ? -1 : 1;
	return 0;
}

/* LSD radix sort of (key, index) by key, 16 bits per pass, skipping passes whose digit
 * is the same for every key (ids are often small integers, so most passes are skipped).
 * Stable, so equal ids keep their input order. */
static int radix_sort_ids(const uint64_t *ids, size_t n, uint32_t *ret_order)
{
	int rc = 0;
	uint64_t *k0 = malloc(n * sizeof(*k0)), *k1 = malloc(n * sizeof(*k1));
	uint32_t *obuf = malloc(n * sizeof(*obuf));
	uint32_t *cnt = malloc(VG__MIH_KEYS * sizeof(*cnt));
	if (!k0 || !k1 || !obuf || !cnt) {
		rc = VG_ENOMEM;
		goto out;
	}
	uint32_t *o0 = ret_order, *o1 = obuf;
	memcpy(k0, ids, n * sizeof(*k0));
	for (size_t i = 0; i < n; i++)
		o0[i] = (uint32_t)i;
	for (int shift = 0; shift < 64; shift += 16) {
		memset(cnt, 0, VG__MIH_KEYS * sizeof(*cnt));
		for (size_t i = 0; i < n; i++)
			cnt[(k0[i] >> shift) & 0xffff]++;
		if (cnt[(k0[0] >> shift) & 0xffff] == n)
			continue;
		uint32_t sum = 0;
		for (size_t k = 0; k < VG__MIH_KEYS; k++) {
			uint32_t c = cnt[k];
			cnt[k] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++) {
			uint32_t p = cnt[(k0[i] >> shift) & 0xffff]++;
			k1[p] = k0[i];
			o1[p] = o0[i];
		}
		uint64_t *kt = k0;
		k0 = k1, k1 = kt;
		uint32_t *ot = o0;
		o0 = o1, o1 = ot;
	}
	if (o0 != ret_order)
		memcpy(ret_order, o0, n * sizeof(*o0));
out:
	free(k0);
	free(k1);
	free(obuf);
	free(cnt);
	return rc;
}

int vg__mih_sort_rows(vg_pdq *hash, uint64_t *id, size_t n, size_t *ret_n)
{
	bool sorted = true;
	for (size_t i = 1; i < n && sorted; i++)
		sorted = id[i - 1] <= id[i];
	if (!sorted) {
		uint32_t *order = malloc(n * sizeof(*order));
		vg_pdq *h2 = malloc(n * sizeof(*h2));
		uint64_t *i2 = malloc(n * sizeof(*i2));
		int rc = order && h2 && i2 ? radix_sort_ids(id, n, order) : VG_ENOMEM;
		if (rc == 0) {
			for (size_t i = 0; i < n; i++) {
				h2[i] = hash[order[i]];
				i2[i] = id[order[i]];
			}
			memcpy(hash, h2, n * sizeof(*h2));
			memcpy(id, i2, n * sizeof(*i2));
		}
		free(order);
		free(h2);
		free(i2);
		if (rc)
			return rc;
	}
	/* Runs of one id (one signal holding several hashes) are short: order them by hash
	 * and drop exact repeats. */
	size_t out = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && id[j] == id[i])
			j++;
		if (j - i > 1)
			qsort(hash + i, j - i, sizeof(*hash), cmp_hash);
		for (size_t k = i; k < j; k++) {
			if (k > i && cmp_hash(&hash[k], &hash[k - 1]) == 0)
				continue;
			hash[out] = hash[k];
			id[out] = id[k];
			out++;
		}
		i = j;
	}
	*ret_n = out;
	return 0;
}

/* ---- tables ------------------------------------------------------------------------
 * A counting sort per table, in two passes so that no pass writes to more than 256
 * places at once: first by the key's high byte into a scratch array, then by the low
 * byte, which only ever writes inside one high-byte group (n / 256 entries, in cache).
 * Writing straight to 65 536 buckets is three times slower at 10M entries. Both passes
 * are stable, so rows still ascend within each bucket. */

struct scratch {
	uint32_t *chunk; /* [n] the chunk both tables of a pair are keyed on */
	uint64_t *tmp;   /* [n] key << 48 | other half << 32 | row */
	uint32_t *cur;   /* [KEYS] */
};

static void build_table(const vg__mih_seg *s, int t, struct scratch *w)
{
	const vg__mih_table *tb = &s->t[t];
	const size_t n = s->n;
	const uint64_t nh = s->nh;
	const uint32_t *chunk = w->chunk;
	uint32_t *cur = w->cur;
	const int kshift = (t & 1) * 16, fshift = 16 - kshift;
	uint32_t group[257] = {0};

	memset(cur, 0, VG__MIH_KEYS * sizeof(*cur));
	for (size_t row = 0; row < n; row++)
		cur[(chunk[row] >> kshift) & 0xffff]++;
	uint32_t sum = 0;
	for (size_t k = 0; k < VG__MIH_KEYS; k++) {
		if ((k & 0xff) == 0)
			group[k >> 8] = sum;
		tb->off[k] = sum;
		sum += cur[k];
		cur[k] = tb->off[k];
	}
	tb->off[VG__MIH_KEYS] = sum;
	group[256] = sum;

	for (size_t row = 0; row < n; row++) {
		uint64_t key = (chunk[row] >> kshift) & 0xffff;
		uint64_t other = (chunk[row] >> fshift) & 0xffff;
		w->tmp[group[key >> 8]++] = key << 48 | other << 32 | row;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t e = w->tmp[i];
		uint32_t k = (uint32_t)(e >> 48), row = (uint32_t)e;
		uint32_t p = cur[k]++;
		tb->filt[p] = (uint16_t)(e >> 32);
		tb->rlo[p] = (uint16_t)row;
		uint64_t b = p + (uint64_t)k * nh + (row >> 16);
		tb->hib[b >> 6] |= UINT64_C(1) << (b & 63);
	}
	/* Padding a SIMD load may read: any value, but a defined one. */
	memset(tb->filt + n, 0, VG__MIH_PAD * sizeof(*tb->filt));
}

struct job {
	vg__mih_seg *seg;
	atomic_int next; /* next chunk to claim */
};

static void *worker(void *arg)
{
	struct job *j = arg;
	const size_t n = j->seg->n;
	struct scratch w = {
		.chunk = malloc((n ? n : 1) * sizeof(*w.chunk)),
		.tmp = malloc((n ? n : 1) * sizeof(*w.tmp)),
		.cur = malloc(VG__MIH_KEYS * sizeof(*w.cur)),
	};
	if (w.chunk && w.tmp && w.cur) {
		for (;;) {
			int c = atomic_fetch_add(&j->next, 1);
			if (c >= VG__MIH_CHUNKS)
				break;
			const vg_pdq *h = j->seg->hash;
			for (size_t row = 0; row < n; row++)
				w.chunk[row] = vg__mih_chunk(h[row].w, c);
			build_table(j->seg, 2 * c, &w);
			build_table(j->seg, 2 * c + 1, &w);
		}
	}
	free(w.chunk);
	free(w.tmp);
	free(w.cur);
	return NULL;
}

void vg__mih_seg_free(vg__mih_seg *s)
{
	if (!s)
		return;
	free(s->mem);
	free(s->quarter);
	free(s->hash);
	free(s->id);
	free(s->dead);
	free(s);
}

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

vg__mih_seg *vg__mih_seg_build(vg_pdq *hash, uint64_t *id, size_t n)
{
	vg__mih_seg *s = calloc(1, sizeof(*s));
	if (!s) {
		free(hash);
		free(id);
		return NULL;
	}
	s->n = n;
	s->nh = (uint32_t)(n >> 16) + 1;
	s->hash = hash;
	s->id = id;
	const size_t hib_words = (n + (size_t)VG__MIH_KEYS * s->nh) / 64 + 2;
	const size_t off_b = align64((VG__MIH_KEYS + 1) * sizeof(uint32_t));
	const size_t filt_b = align64((n + VG__MIH_PAD) * sizeof(uint16_t));
	const size_t rlo_b = align64(n * sizeof(uint16_t));
	const size_t hib_b = align64(hib_words * sizeof(uint64_t));
	const size_t table_b = off_b + filt_b + rlo_b + hib_b;
	s->mem = vg__mih_alloc(VG__MIH_TABLES * table_b);
	if (!s->mem)
		goto fail;
	s->bytes = sizeof(*s) + n * (sizeof(*hash) + sizeof(*id)) + VG__MIH_TABLES * table_b;
	for (int t = 0; t < VG__MIH_TABLES; t++) {
		vg__mih_table *tb = &s->t[t];
		uint8_t *m = (uint8_t *)s->mem + t * table_b;
		tb->off = (uint32_t *)m;
		tb->filt = (uint16_t *)(m + off_b);
		tb->rlo = (uint16_t *)(m + off_b + filt_b);
		tb->hib = (uint64_t *)(m + off_b + filt_b + rlo_b);
		memset(tb->hib, 0, hib_b);
	}

	struct job j = {.seg = s};
	atomic_init(&j.next, 0);
	/* Threads pay off only when a table no longer fits in cache. */
	int nthreads = n >= 200000 ? vg_cpu_count() : 1;
	if (nthreads > VG__MIH_CHUNKS)
		nthreads = VG__MIH_CHUNKS;
	pthread_t th[VG__MIH_CHUNKS];
	int started = 0;
	for (int i = 1; i < nthreads; i++, started++)
		if (pthread_create(&th[started], NULL, worker, &j) != 0)
			break;
	(void)worker(&j);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	/* A worker that could not allocate its scratch claims no chunk and leaves them to
	 * the others; a table is missing only if every worker failed. */
	if (atomic_load(&j.next) < VG__MIH_CHUNKS)
		goto fail;
	/* Small segments also get the quarter index, which answers d <= 31 there with far
	 * fewer probes (mih_quarter.c); larger ones would never choose it. */
	if (n <= VG__MIH_QUARTER_MAX_ROWS && vg__mih_quarter_build(s) != 0)
		goto fail;
	return s;
fail:
	vg__mih_seg_free(s);
	return NULL;
}
