/* SPDX-License-Identifier: Apache-2.0
 *
 * The PDQ multi-index: exact Hamming-radius search over millions of 256-bit hashes.
 *
 * Design. The hash is cut into eight 32-bit chunks and each chunk into two 16-bit
 * halves; each of the sixteen halves keys one table of 65 536 buckets. If the query is
 * within d of an entry, the sixteen half distances sum to at most d, so with per-table
 * probe radii r[t] such that sum(r[t] + 1) > d, some half t is within r[t] (Norouzi et
 * al.'s generalised pigeonhole). At d = 31 every table is probed at radius 1: 16 x 17 =
 * 272 buckets; at d = 8, nine tables at radius 0. The argument holds for chunks too:
 * chunk c is covered to radius R[c] = r[2c] + r[2c+1] + 1, sum(R[c] + 1) > d, so some
 * chunk lies within R[c] of the query and one of its halves within its radius. Each
 * bucket entry therefore carries the other 16 bits of its chunk inline, and an entry is
 * verified against the full hash only when its whole chunk is within R[c]: at d = 31
 * about 0.3 % of random entries. A bucket scan is sequential 16-bit loads, 16 or 32 per
 * SIMD compare; the random accesses to full hashes (the reference's bottleneck, with
 * std::map and std::set on top) are a handful per query. What remains is two cache
 * misses per probed bucket (its offsets, its entries), which mih_scan.c overlaps with a
 * software prefetch pipeline.
 *
 * Memory. Entries name their row in ~18 bits rather than 32: rows ascend within a
 * bucket, so the low 16 bits are stored and the high bits Elias-Fano coded (~2 bits per
 * entry). Per hash: hash 32 + id 8 + 16 tables x (16 filter + 16 + ~2 row bits) = ~108
 * bytes, plus 4 MB of bucket offsets. Each table is an arbitrary permutation of the rows
 * (>= ~17 bits per entry in any encoding), so 48 bytes per hash is out of reach with
 * sixteen tables, and fewer tables cost more than they save: measured at d = 31, twelve
 * tables (~91 B) run 4-5x slower and eight (~74 B) 10x slower, missing the 1M target.
 *
 * Duplicates. An entry near the query is reachable through several tables. A chunk's
 * second table skips entries its first table reaches (decidable from the inline half:
 * vg__mih_probe.floor); across chunks a per-query set of verified rows skips repeats,
 * and when that set is full the entry is reported only through the first table that
 * reaches it (mih_scan.c: canonical), so the result stays exact without allocating.
 *
 * Updates. A segment (internal.h) is immutable apart from tombstones. The index is a
 * base segment, a delta segment of recent adds (at most an eighth of the base, rebuilt
 * every 1024 adds) and a pending list of under 1024 adds scanned linearly. Rows are
 * sorted by id, so removal is a binary search plus a tombstone bit; compaction rebuilds
 * one base from the live rows.
 *
 * Small segments. At d = 31 the sixteen tables take 272 probes, which at 10 000 rows
 * find ~0.15 entries each: nearly all the cost is per probe. Segments of up to 65 536
 * rows therefore also get a quarter index (mih_quarter.c): 32 tables keyed on 8 bits,
 * probed exactly d + 1 times at radius 0, each bucket scanned with SIMD. It answers
 * d <= 31 only; the multi-index stays for the thresholds above.
 *
 * Per segment and threshold, a cost estimate (choose, below) picks the multi-index, the
 * quarter index or a linear SIMD scan (tiny segments, high thresholds on small banks,
 * and d > 63, where radius 3 per table no longer covers d).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TAIL_MAX 1024
#define PROBE_BATCH 512

struct vg_mih {
	vg__mih_seg *base;  /* NULL when empty */
	vg__mih_seg *delta; /* recent adds, NULL when none */
	vg_pdq *tail_hash;  /* [TAIL_MAX] pending adds, unsorted */
	uint64_t *tail_id;
	size_t tail_n;
	const vg__mih_kernels *k;
	vg_mih_strategy strategy;
	/* The multi-index's cost terms per threshold, which depend on nothing else: buckets
	 * probed, and expected filter survivors per entry per bucket (see choose). */
	float index_probes[4 * VG__MIH_TABLES], index_survivors[4 * VG__MIH_TABLES];
};

static void plan(vg__mih_q *qc, const vg_pdq *q, int d);
static void index_terms(const vg__mih_q *qc, float *ret_probes, float *ret_survivors);

static size_t seg_live(const vg__mih_seg *s)
{
	return s ? s->n - s->ndead : 0;
}

static size_t seg_rows(const vg__mih_seg *s)
{
	return s ? s->n : 0;
}

vg_mih *vg_mih_new(void)
{
	vg_mih *idx = calloc(1, sizeof(*idx));
	if (!idx)
		return NULL;
	idx->k = vg__mih_kernels_get(VG_MIH_ISA_AUTO);
	for (int d = 0; d < 4 * VG__MIH_TABLES; d++) {
		vg__mih_q qc;
		const vg_pdq zero = {{0}};
		plan(&qc, &zero, d);
		index_terms(&qc, &idx->index_probes[d], &idx->index_survivors[d]);
	}
	return idx;
}

void vg_mih_free(vg_mih *idx)
{
	if (!idx)
		return;
	vg__mih_seg_free(idx->base);
	vg__mih_seg_free(idx->delta);
	free(idx->tail_hash);
	free(idx->tail_id);
	free(idx);
}

size_t vg_mih_count(const vg_mih *idx)
{
	return seg_live(idx->base) + seg_live(idx->delta) + idx->tail_n;
}

size_t vg_mih_memory(const vg_mih *idx)
{
	size_t b = sizeof(*idx);
	if (idx->base)
		b += idx->base->bytes;
	if (idx->delta)
		b += idx->delta->bytes;
	if (idx->tail_hash)
		b += TAIL_MAX * (sizeof(vg_pdq) + sizeof(uint64_t));
	return b;
}

int vg_mih_set_isa(vg_mih *idx, vg_mih_isa isa)
{
	const vg__mih_kernels *k = vg__mih_kernels_get(isa);
	if (!k)
		return VG_EUNSUPPORTED;
	idx->k = k;
	return 0;
}

const char *vg_mih_isa_name(const vg_mih *idx)
{
	return idx->k->name;
}

void vg_mih_set_strategy(vg_mih *idx, vg_mih_strategy strategy)
{
	idx->strategy = strategy;
}

/* ---- lookups by id ------------------------------------------------------------------ */

/* First row whose id is >= id. */
static size_t lower_bound(const vg__mih_seg *s, uint64_t id)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->id[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool pdq_eq(const vg_pdq *a, const vg_pdq *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

static bool seg_contains(const vg__mih_seg *s, const vg_pdq *h, uint64_t id)
{
	if (!s)
		return false;
	for (size_t i = lower_bound(s, id); i < s->n && s->id[i] == id; i++)
		if (!vg__mih_is_dead(s->dead, i) && pdq_eq(&s->hash[i], h))
			return true;
	return false;
}

/* Allocates s's tombstone bitmap if id has rows in s, so that removal can then mark
 * rows without failing halfway. */
static int seg_prepare_remove(vg__mih_seg *s, uint64_t id)
{
	if (!s || s->dead)
		return 0;
	size_t i = lower_bound(s, id);
	if (i == s->n || s->id[i] != id)
		return 0;
	size_t words = (s->n + 63) / 64;
	s->dead = calloc(words, sizeof(*s->dead));
	if (!s->dead)
		return VG_ENOMEM;
	s->bytes += words * sizeof(*s->dead);
	return 0;
}

static size_t seg_remove(vg__mih_seg *s, uint64_t id)
{
	size_t removed = 0;
	if (!s)
		return 0;
	for (size_t i = lower_bound(s, id); i < s->n && s->id[i] == id; i++) {
		if (vg__mih_is_dead(s->dead, i))
			continue;
		s->dead[i >> 6] |= UINT64_C(1) << (i & 63);
		s->ndead++;
		removed++;
	}
	return removed;
}

int vg_mih_remove(vg_mih *idx, uint64_t id)
{
	if (seg_prepare_remove(idx->base, id) != 0 || seg_prepare_remove(idx->delta, id) != 0)
		return VG_ENOMEM;
	size_t removed = seg_remove(idx->base, id) + seg_remove(idx->delta, id);
	for (size_t i = 0; i < idx->tail_n;) {
		if (idx->tail_id[i] == id) {
			idx->tail_n--;
			idx->tail_hash[i] = idx->tail_hash[idx->tail_n];
			idx->tail_id[i] = idx->tail_id[idx->tail_n];
			removed++;
		} else {
			i++;
		}
	}
	return removed ? 0 : VG_ENOENT;
}

/* ---- rebuilding ----------------------------------------------------------------------- */

static void gather_seg(const vg__mih_seg *s, vg_pdq *hash, uint64_t *id, size_t *n)
{
	if (!s)
		return;
	if (!s->dead) {
		memcpy(hash + *n, s->hash, s->n * sizeof(*hash));
		memcpy(id + *n, s->id, s->n * sizeof(*id));
		*n += s->n;
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (vg__mih_is_dead(s->dead, i))
			continue;
		hash[*n] = s->hash[i];
		id[*n] = s->id[i];
		(*n)++;
	}
}

/* A new segment from the live rows of a and b, the pending list (when with_tail) and
 * extra rows; NULL in *ret when that is empty. */
static int rebuild(const vg_mih *idx, const vg__mih_seg *a, const vg__mih_seg *b,
		   bool with_tail, const vg_pdq *xh, const uint64_t *xid, size_t xn,
		   vg__mih_seg **ret)
{
	size_t total = seg_live(a) + seg_live(b) + (with_tail ? idx->tail_n : 0);
	if (xn > VG__MIH_MAX_ROWS || total + xn > VG__MIH_MAX_ROWS)
		return VG_ETOOBIG;
	total += xn;
	if (total == 0) {
		*ret = NULL;
		return 0;
	}
	vg_pdq *hash = vg__mih_alloc(total * sizeof(*hash));
	uint64_t *id = vg__mih_alloc(total * sizeof(*id));
	if (!hash || !id) {
		free(hash);
		free(id);
		return VG_ENOMEM;
	}
	size_t n = 0;
	gather_seg(a, hash, id, &n);
	gather_seg(b, hash, id, &n);
	if (with_tail && idx->tail_n) {
		memcpy(hash + n, idx->tail_hash, idx->tail_n * sizeof(*hash));
		memcpy(id + n, idx->tail_id, idx->tail_n * sizeof(*id));
		n += idx->tail_n;
	}
	if (xn) {
		memcpy(hash + n, xh, xn * sizeof(*hash));
		memcpy(id + n, xid, xn * sizeof(*id));
		n += xn;
	}
	int rc = vg__mih_sort_rows(hash, id, n, &n);
	if (rc) {
		free(hash);
		free(id);
		return rc;
	}
	vg__mih_seg *s = vg__mih_seg_build(hash, id, n);
	if (!s)
		return VG_ENOMEM;
	*ret = s;
	return 0;
}

static int compact_with(vg_mih *idx, const vg_pdq *xh, const uint64_t *xid, size_t xn)
{
	vg__mih_seg *s;
	int rc = rebuild(idx, idx->base, idx->delta, true, xh, xid, xn, &s);
	if (rc)
		return rc;
	vg__mih_seg_free(idx->base);
	vg__mih_seg_free(idx->delta);
	idx->base = s;
	idx->delta = NULL;
	idx->tail_n = 0;
	return 0;
}

int vg_mih_compact(vg_mih *idx)
{
	return compact_with(idx, NULL, NULL, 0);
}

int vg_mih_build(vg_mih *idx, const vg_pdq *hashes, const uint64_t *ids, size_t n)
{
	return compact_with(idx, hashes, ids, n);
}

/* The pending list is full: fold it into the delta, or everything into a new base once
 * the delta would pass an eighth of the base (so a query never pays for more than one
 * large segment, and each row is rebuilt O(1) times on average) or a quarter of the
 * base is tombstones (whose memory is then given back). */
static int fold_tail(vg_mih *idx)
{
	const vg__mih_seg *b = idx->base;
	if (seg_live(idx->delta) + idx->tail_n > seg_live(b) / 8 || (b && b->ndead > b->n / 4))
		return vg_mih_compact(idx);
	vg__mih_seg *s;
	int rc = rebuild(idx, idx->delta, NULL, true, NULL, NULL, 0, &s);
	if (rc)
		return rc;
	vg__mih_seg_free(idx->delta);
	idx->delta = s;
	idx->tail_n = 0;
	return 0;
}

int vg_mih_add(vg_mih *idx, const vg_pdq *h, uint64_t id)
{
	if (seg_contains(idx->base, h, id) || seg_contains(idx->delta, h, id))
		return VG_EEXIST;
	for (size_t i = 0; i < idx->tail_n; i++)
		if (idx->tail_id[i] == id && pdq_eq(&idx->tail_hash[i], h))
			return VG_EEXIST;
	if (seg_rows(idx->base) + seg_rows(idx->delta) + idx->tail_n >= VG__MIH_MAX_ROWS)
		return VG_ETOOBIG;
	if (!idx->tail_hash) {
		idx->tail_hash = malloc(TAIL_MAX * sizeof(*idx->tail_hash));
		idx->tail_id = malloc(TAIL_MAX * sizeof(*idx->tail_id));
		if (!idx->tail_hash || !idx->tail_id) {
			free(idx->tail_hash);
			free(idx->tail_id);
			idx->tail_hash = NULL;
			idx->tail_id = NULL;
			return VG_ENOMEM;
		}
	}
	if (idx->tail_n == TAIL_MAX) {
		int rc = fold_tail(idx);
		if (rc)
			return rc;
	}
	idx->tail_hash[idx->tail_n] = *h;
	idx->tail_id[idx->tail_n] = id;
	idx->tail_n++;
	return 0;
}

int vg__mih_adopt(vg_mih *idx, vg_pdq *hash, uint64_t *id, size_t n)
{
	int rc = vg__mih_sort_rows(hash, id, n, &n);
	if (rc || n == 0) {
		free(hash);
		free(id);
		return rc;
	}
	vg__mih_seg *s = vg__mih_seg_build(hash, id, n);
	if (!s)
		return VG_ENOMEM;
	vg__mih_seg_free(idx->base);
	idx->base = s;
	return 0;
}

/* ---- ordered iteration (snapshots) --------------------------------------------------- */

static int cmp_entry(const vg_pdq *ha, uint64_t ia, const vg_pdq *hb, uint64_t ib)
{
	if (ia != ib)
		return ia < ib ? -1 : 1;
	for (int i = 3; i >= 0; i--)
		if (ha->w[i] != hb->w[i])
			return ha->w[i] < hb->w[i] ? -1 : 1;
	return 0;
}

struct cursor {
	const vg_pdq *hash;
	const uint64_t *id;
	const uint64_t *dead;
	size_t i, n;
};

static void cursor_skip_dead(struct cursor *c)
{
	while (c->i < c->n && vg__mih_is_dead(c->dead, c->i))
		c->i++;
}

int vg__mih_each_sorted(const vg_mih *idx, vg__mih_entry_fn *fn, void *ctx)
{
	/* Base and delta are sorted already; the pending list is sorted into a copy. */
	vg_pdq *th = NULL;
	uint64_t *ti = NULL;
	size_t tn = idx->tail_n;
	if (tn) {
		th = vg_xmalloc(tn * sizeof(*th));
		ti = vg_xmalloc(tn * sizeof(*ti));
		memcpy(th, idx->tail_hash, tn * sizeof(*th));
		memcpy(ti, idx->tail_id, tn * sizeof(*ti));
		/* No duplicate pair exists, so the sort cannot drop anything. */
		(void)vg__mih_sort_rows(th, ti, tn, &tn);
	}
	struct cursor c[3] = {
		{th, ti, NULL, 0, tn},
		{0},
		{0},
	};
	if (idx->base)
		c[1] = (struct cursor){idx->base->hash, idx->base->id, idx->base->dead, 0,
				       idx->base->n};
	if (idx->delta)
		c[2] = (struct cursor){idx->delta->hash, idx->delta->id, idx->delta->dead, 0,
				       idx->delta->n};
	int rc = 0;
	for (;;) {
		struct cursor *best = NULL;
		for (int k = 0; k < 3; k++) {
			cursor_skip_dead(&c[k]);
			if (c[k].i < c[k].n &&
			    (!best || cmp_entry(&c[k].hash[c[k].i], c[k].id[c[k].i],
						&best->hash[best->i], best->id[best->i]) < 0))
				best = &c[k];
		}
		if (!best)
			break;
		rc = fn(ctx, &best->hash[best->i], best->id[best->i]);
		if (rc)
			break;
		best->i++;
	}
	free(th);
	free(ti);
	return rc;
}

/* ---- hit buffers ---------------------------------------------------------------------- */

void vg_mih_hits_init(vg_mih_hits *hits, size_t max_hits)
{
	memset(hits, 0, sizeof(*hits));
	hits->max = max_hits ? max_hits : VG_MIH_HITS_DEFAULT_MAX;
}

void vg_mih_hits_done(vg_mih_hits *hits)
{
	if (!hits)
		return;
	free(hits->v);
	free(hits->tmp);
	memset(hits, 0, sizeof(*hits));
}

int vg__mih_hits_grow(vg_mih_hits *hits)
{
	if (hits->cap >= hits->max)
		return VG_ETOOBIG;
	size_t cap = hits->cap ? hits->cap * 2 : 64;
	if (cap > hits->max)
		cap = hits->max;
	vg_mih_hit *v = realloc(hits->v, cap * sizeof(*v));
	if (!v)
		return VG_ENOMEM;
	hits->v = v;
	vg_mih_hit *tmp = realloc(hits->tmp, cap * sizeof(*tmp));
	if (!tmp)
		return VG_ENOMEM; /* v grew; cap stays, so the next grow retries tmp */
	hits->tmp = tmp;
	hits->cap = cap;
	return 0;
}

/* In-place heap sort by id, for the rare large group of hits at one distance. */
static void sift(vg_mih_hit *a, size_t i, size_t n)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && a[c + 1].id > a[c].id)
			c++;
		if (a[c].id <= a[i].id)
			return;
		vg_mih_hit t = a[i];
		a[i] = a[c];
		a[c] = t;
		i = c;
	}
}

static void sort_by_id(vg_mih_hit *a, size_t n)
{
	if (n <= 24) {
		for (size_t i = 1; i < n; i++) {
			vg_mih_hit x = a[i];
			size_t j = i;
			for (; j > 0 && a[j - 1].id > x.id; j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
		return;
	}
	for (size_t i = n / 2; i-- > 0;)
		sift(a, i, n);
	for (size_t end = n - 1; end > 0; end--) {
		vg_mih_hit t = a[0];
		a[0] = a[end];
		a[end] = t;
		sift(a, 0, end);
	}
}

/* Distance then id: a counting sort on the distance (0..256) into the scratch half, then
 * each run of equal distance by id. Allocation-free. */
static void sort_hits(vg_mih_hits *hits)
{
	size_t n = hits->n;
	if (n < 2)
		return;
	size_t start[258] = {0};
	for (size_t i = 0; i < n; i++)
		start[hits->v[i].distance + 1]++;
	for (int d = 1; d < 258; d++)
		start[d] += start[d - 1];
	size_t at[257];
	memcpy(at, start, sizeof(at));
	for (size_t i = 0; i < n; i++)
		hits->tmp[at[hits->v[i].distance]++] = hits->v[i];
	for (int d = 0; d < 257; d++)
		if (start[d + 1] - start[d] > 1)
			sort_by_id(hits->tmp + start[d], start[d + 1] - start[d]);
	vg_mih_hit *t = hits->v;
	hits->v = hits->tmp;
	hits->tmp = t;
}

/* ---- queries ------------------------------------------------------------------------ */

/* Values within radius r of a 16-bit value: sum of C(16, i), i <= r. */
static const int ball16[8] = {1, 17, 137, 697, 2517, 6885, 14893, 26333};
static const int choose16[4] = {1, 16, 120, 560};

/* Radii: raise the lowest radius one step at a time until sum(r + 1) > d. Probing one
 * more table at radius 0 costs one bucket, raising a radius from 1 to 2 costs 120, so
 * spreading the budget evenly is the cheapest cover. The first eight steps take one
 * half of each chunk, which keeps chunk radii (and so filter pass rates) small. */
static void plan(vg__mih_q *qc, const vg_pdq *q, int d)
{
	static const int8_t order[VG__MIH_TABLES] = {0, 2, 4, 6, 8, 10, 12, 14,
						     1, 3, 5, 7, 9, 11, 13, 15};
	memset(qc, 0, sizeof(*qc));
	qc->q = q;
	qc->d = d;
	for (int t = 0; t < VG__MIH_TABLES; t++)
		qc->r[t] = -1;
	/* Raised in that order one step at a time while the cover is <= d, order[i] ends
	 * at the last level L with 16 L + i <= d (-1: none): in closed form, no loop. */
	if (d <= 4 * VG__MIH_TABLES - 1)
		for (int i = 0; i < VG__MIH_TABLES; i++)
			qc->r[order[i]] = (int8_t)((d - i + VG__MIH_TABLES) / VG__MIH_TABLES - 1);
	for (int c = 0; c < VG__MIH_CHUNKS; c++) {
		qc->R[c] = (int8_t)(qc->r[2 * c] + qc->r[2 * c + 1] + 1);
		uint32_t chunk = vg__mih_chunk(q->w, c);
		for (int t = 2 * c; t < 2 * c + 2; t++) {
			qc->qk[t] = vg__mih_key(chunk, t);
			qc->qf[t] = vg__mih_other(chunk, t);
		}
	}
}

/* The cheapest way to answer for a segment of n rows: a cost estimate in nanoseconds,
 * fitted on the bench machine (bench/bench_match.c prints every strategy). The
 * multi-index: ~80 ns to set up, ~15 ns per probed bucket (two cache misses, overlapped)
 * plus 0.3 ns per entry scanned, ~40 ns per expected filter survivor on random data (a
 * key at distance j passes when the rest of its chunk is within R - j). The linear scan:
 * 1.2 ns per row with AVX-512 (memory-bound). The quarter index (d <= 31, segments of at
 * most 64K rows): d + 1 probes at ~10 ns each plus ~0.35 ns per entry of their ~n / 256;
 * its survivors are too rare to count. The scan beats the multi-index below n ~ 2 000 at
 * d = 31 and ~200 000 at d = 63; at d = 31 the quarter index beats both from ~200 rows
 * up to its size limit (the multi-index would overtake it at ~90 000), at d = 8 up to
 * ~9 000. Being off near a crossover costs little, since both sides are equal there. */
#define INDEX_SETUP_NS 80.0
#define QUARTER_PROBE_NS 10.0
#define QUARTER_ENTRY_NS 0.35

enum path { PATH_SCAN, PATH_INDEX, PATH_QUARTER };

static void index_terms(const vg__mih_q *qc, float *ret_probes, float *ret_survivors)
{
	double probes = 0, survivors = 0;
	for (int t = 0; t < VG__MIH_TABLES; t++) {
		const int r = qc->r[t], R = qc->R[t >> 1];
		if (r < 0)
			continue;
		probes += ball16[r];
		for (int j = 0; j <= r; j++)
			survivors += choose16[j] * (double)ball16[R - j] / VG__MIH_KEYS;
	}
	*ret_probes = (float)probes;
	*ret_survivors = (float)survivors;
}

static enum path choose(const vg_mih *idx, const vg__mih_q *qc, const vg__mih_seg *s)
{
	const bool quarter = s->quarter && qc->d < VG__MIH_QTABLES;
	if (qc->d > 4 * VG__MIH_TABLES - 1 || idx->strategy == VG_MIH_STRATEGY_SCAN)
		return PATH_SCAN;
	if (idx->strategy == VG_MIH_STRATEGY_INDEX)
		return PATH_INDEX;
	if (idx->strategy == VG_MIH_STRATEGY_QUARTER && quarter)
		return PATH_QUARTER;
	const double n = (double)s->n, per_bucket = n / VG__MIH_KEYS;
	const double per_row = idx->k->isa == VG_MIH_ISA_AVX512 ? 1.2
			       : idx->k->isa == VG_MIH_ISA_AVX2 ? 1.6
								: 4.0;
	const double scan = per_row * n;
	const double index = INDEX_SETUP_NS +
			     idx->index_probes[qc->d] * (15.0 + 0.3 * per_bucket) +
			     40.0 * idx->index_survivors[qc->d] * per_bucket;
	const double quart = quarter ? (qc->d + 1) * (QUARTER_PROBE_NS + QUARTER_ENTRY_NS * n / 256)
				     : scan + index;
	if (quart < scan && quart < index)
		return PATH_QUARTER;
	return index < scan ? PATH_INDEX : PATH_SCAN;
}

static int query_seg(const vg_mih *idx, const vg__mih_seg *s, vg__mih_q *qc)
{
	if (!s || s->n == s->ndead)
		return 0;
	switch (choose(idx, qc, s)) {
	case PATH_SCAN:
		return idx->k->linear(s->hash, s->id, s->dead, s->n, qc->q, qc->d, qc->hits);
	case PATH_QUARTER:
		return idx->k->quarter(s, qc->q, qc->d, qc->hits);
	case PATH_INDEX:
		break;
	}
	qc->seg = s;
	uint32_t seen[VG__MIH_SEEN];
	uint64_t seen_used[VG__MIH_SEEN / 64];
	memset(seen_used, 0, sizeof(seen_used));
	qc->seen = seen;
	qc->seen_used = seen_used;
	qc->seen_n = 0;
	vg__mih_probe pr[PROBE_BATCH];
	size_t np = 0;
	int rc = 0;
#define PROBE(mask, bits)                                                               \
	do {                                                                             \
		pr[np].key = (uint16_t)(qk ^ (mask));                                    \
		pr[np].t = (uint8_t)t;                                                   \
		pr[np].budget = (int8_t)(R - (bits));                                    \
		pr[np].floor = floor;                                                    \
		if (++np == PROBE_BATCH) {                                               \
			if ((rc = idx->k->scan(qc, pr, np)) != 0)                        \
				return rc;                                               \
			np = 0;                                                          \
		}                                                                        \
	} while (0)
	for (int t = 0; t < VG__MIH_TABLES; t++) {
		const int r = qc->r[t], R = qc->R[t >> 1];
		const int8_t floor = (t & 1) ? qc->r[t - 1] : -1;
		const uint32_t qk = qc->qk[t];
		if (r < 0)
			continue;
		PROBE(0u, 0);
		for (int a = 0; a < 16 && r >= 1; a++) {
			PROBE(1u << a, 1);
			for (int b = a + 1; b < 16 && r >= 2; b++) {
				PROBE(1u << a | 1u << b, 2);
				for (int c = b + 1; c < 16 && r >= 3; c++)
					PROBE(1u << a | 1u << b | 1u << c, 3);
			}
		}
	}
#undef PROBE
	if (np)
		rc = idx->k->scan(qc, pr, np);
	return rc;
}

int vg_mih_query(const vg_mih *idx, const vg_pdq *q, int max_distance, vg_mih_hits *hits)
{
	hits->n = 0;
	if (max_distance < 0 || max_distance > 256)
		return VG_EINVAL;
	vg__mih_q qc;
	plan(&qc, q, max_distance);
	qc.hits = hits;
	int rc = query_seg(idx, idx->base, &qc);
	if (rc == 0)
		rc = query_seg(idx, idx->delta, &qc);
	if (rc == 0 && idx->tail_n)
		rc = idx->k->linear(idx->tail_hash, idx->tail_id, NULL, idx->tail_n, q,
				    max_distance, hits);
	if (rc) {
		hits->n = 0;
		return rc;
	}
	sort_hits(hits);
	return 0;
}
