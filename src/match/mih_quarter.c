/* SPDX-License-Identifier: Apache-2.0
 *
 * The quarter index: a per-segment alternative to the multi-index for small segments
 * and thresholds up to 31, where the multi-index's 272 probes of nearly empty 16-bit
 * buckets cost far more than the entries they hold.
 *
 * Design. Each 32-bit chunk is cut into four 8-bit quarters, and each of the 32 quarters
 * keys one table of 256 buckets; an entry stores its whole chunk inline (and its row).
 * Give chunk c a radius R[c] (-1..3) with sum(R[c] + 1) = d + 1. If an entry is within
 * d of the query, some chunk c is within R[c] (else the distance would be at least
 * sum(R[c] + 1) > d), and of that chunk's quarters 0 .. R[c], whose distances sum to at
 * most R[c], one is exact. So a query probes exactly d + 1 buckets (32 at d = 31), one
 * per table t = 4c + j for j <= R[c], at the query's own quarter, and keeps the entries
 * whose whole chunk is within R[c]: on random data 0.01 % of what it scans. The scan
 * tests 8 chunks per AVX2 compare over contiguous memory (d + 1 runs of ~n / 256
 * entries), which beats the multi-index's 272 scattered probes at d = 31 up to about
 * 90 000 rows; mih.c's cost model decides per segment and threshold.
 *
 * Duplicates. An entry near the query passes the filter in every probed table whose
 * quarter it shares and whose chunk is within radius; whether an earlier table (in table
 * order) also reached it is decidable from the entry XOR query, so each entry is
 * reported through the first such table only: exact, and with no per-query set.
 *
 * Memory: 32 entries per row of 4 + 2 bytes, plus 32 KB of offsets and the buckets'
 * padding (building, below): about 200 bytes per row, on top of the multi-index, which
 * thresholds past 31 still need. Built only for segments of at most
 * VG__MIH_QUARTER_MAX_ROWS rows: a uint16 names a row, and past that size the quarter
 * index wins too little (at most ~1.3x, near the crossover) to pay for its memory. The
 * index is derived from the segment's hashes, so snapshots never store it.
 */
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "internal.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))
#define BUCKETS 256

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

/* ---- building ----------------------------------------------------------------------
 * A counting sort per table over rows in ascending order, so rows ascend within each
 * bucket; 256 buckets keep every write stream in cache. Each bucket is padded to a
 * multiple of VG__MIH_QBLOCK entries whose key quarter is the complement of the
 * bucket's key: eight bits away from every query that probes the bucket, so no filter
 * (radius <= 3) passes them, and the scan needs no tail handling (which cost a third of
 * its instructions). */

/* Adds the bucket sizes of chunk c's four tables to cnt[0 .. 3]. */
static void count_chunk(const vg__mih_seg *s, int c, uint32_t (*cnt)[BUCKETS])
{
	for (size_t row = 0; row < s->n; row++) {
		const uint32_t ch = vg__mih_chunk(s->hash[row].w, c);
		for (int j = 0; j < 4; j++)
			cnt[j][ch >> 8 * j & 0xff]++;
	}
}

int vg__mih_quarter_build(vg__mih_seg *s)
{
	const size_t n = s->n;
	uint32_t *ch = malloc((n ? n : 1) * sizeof(*ch));
	uint32_t(*cnt)[BUCKETS] = calloc(VG__MIH_QTABLES, sizeof(*cnt));
	uint8_t *m = NULL;
	int rc = VG_ENOMEM;
	if (!ch || !cnt)
		goto out;
	size_t ne = 0;
	for (int c = 0; c < VG__MIH_CHUNKS; c++)
		count_chunk(s, c, cnt + 4 * c);
	for (int t = 0; t < VG__MIH_QTABLES; t++)
		for (int k = 0; k < BUCKETS; k++)
			ne += (cnt[t][k] + VG__MIH_QBLOCK - 1) & ~(uint32_t)(VG__MIH_QBLOCK - 1);
	const size_t head_b = align64(sizeof(vg__mih_quarter));
	const size_t off_b = align64((VG__MIH_QTABLES * BUCKETS + 1) * sizeof(uint32_t));
	const size_t chunk_b = align64(ne * sizeof(uint32_t));
	const size_t row_b = align64(ne * sizeof(uint16_t));
	m = vg__mih_alloc(head_b + off_b + chunk_b + row_b);
	if (!m)
		goto out;
	vg__mih_quarter *qi = (vg__mih_quarter *)m;
	qi->off = (uint32_t *)(m + head_b);
	qi->chunk = (uint32_t *)(m + head_b + off_b);
	qi->row = (uint16_t *)(m + head_b + off_b + chunk_b);
	qi->bytes = head_b + off_b + chunk_b + row_b;
	memset(m + head_b + off_b + chunk_b, 0, row_b); /* padding's rows: never read */
	uint32_t sum = 0;
	for (int t = 0; t < VG__MIH_QTABLES; t++) {
		for (int k = 0; k < BUCKETS; k++) {
			qi->off[t * BUCKETS + k] = sum;
			uint32_t end = sum + cnt[t][k];
			sum = (end + VG__MIH_QBLOCK - 1) & ~(uint32_t)(VG__MIH_QBLOCK - 1);
			for (uint32_t p = end; p < sum; p++)
				qi->chunk[p] = (uint32_t)(k ^ 0xff) << 8 * (t & 3);
			cnt[t][k] = qi->off[t * BUCKETS + k]; /* now the next free position */
		}
	}
	qi->off[VG__MIH_QTABLES * BUCKETS] = sum;
	for (int c = 0; c < VG__MIH_CHUNKS; c++) {
		for (size_t row = 0; row < n; row++)
			ch[row] = vg__mih_chunk(s->hash[row].w, c);
		for (int j = 0; j < 4; j++) {
			uint32_t *cur = cnt[4 * c + j];
			for (size_t row = 0; row < n; row++) {
				uint32_t p = cur[ch[row] >> 8 * j & 0xff]++;
				qi->chunk[p] = ch[row];
				qi->row[p] = (uint16_t)row;
			}
		}
	}
	s->quarter = qi;
	s->bytes += qi->bytes;
	m = NULL;
	rc = 0;
out:
	free(m);
	free(ch);
	free(cnt);
	return rc;
}

/* ---- querying ----------------------------------------------------------------------
 * Chunk radii: d + 1 probes spread over the chunks as evenly as possible, which keeps
 * every radius, and with it the filter's pass rate, as small as it can be. Chunks
 * 0 .. hi_n - 1 get radius r_hi and the rest r_hi - 1 (-1: not probed), so the probes
 * form two runs of one radius each, and each run is scanned by a loop specialised for
 * its radius. */

typedef struct qctx {
	const vg__mih_seg *s;
	const vg_pdq *q;
	int d;
	int8_t R[VG__MIH_CHUNKS];
	vg_mih_hits *hits;
} qctx;

typedef struct probe {
	uint32_t lo, hi; /* the bucket's positions */
	uint32_t qc;     /* the query's chunk */
	int t;           /* table */
} probe;

/* True when table t = 4c + j is the first probed table that reaches the entry whose XOR
 * with the query is x: no earlier table has an exact quarter in a chunk within radius. */
ALWAYS_INLINE bool canonical(const int8_t R[VG__MIH_CHUNKS], int t, const uint64_t x[4])
{
	for (int c = 0; c <= t >> 2; c++) {
		uint32_t xc = vg__mih_chunk(x, c);
		if (__builtin_popcount(xc) > R[c])
			continue;
		int before = c < t >> 2 ? R[c] + 1 : t & 3;
		for (int j = 0; j < before; j++)
			if ((xc >> 8 * j & 0xff) == 0)
				return false;
	}
	return true;
}

/* Verifies the lanes set in m of the entries from position pos of table t. Each ISA
 * wraps it in a function of its own, out of line: survivors are rare, and inlined into
 * the scan loop this spills its registers. */
typedef int verify_fn(const qctx *x, int t, uint32_t pos, uint32_t m);

ALWAYS_INLINE int verify(const qctx *qx, int t, uint32_t pos, uint32_t m)
{
	const vg__mih_seg *s = qx->s;
	const vg__mih_quarter *qi = s->quarter;
	const uint64_t *q = qx->q->w;
	const uint32_t qc = vg__mih_chunk(q, t >> 2);
	for (; m; m &= m - 1) {
		const uint32_t p = pos + (uint32_t)__builtin_ctz(m);
		/* An earlier quarter of this chunk is exact: that table reported it (or will
		 * have, if it is within d). Decided here without fetching the hash, which
		 * spares a near-duplicate most of its repeat visits. */
		const uint32_t xc = qi->chunk[p] ^ qc;
		bool earlier = false;
		for (int j = 0; j < (t & 3); j++)
			earlier |= (xc >> 8 * j & 0xff) == 0;
		if (earlier)
			continue;
		const uint32_t row = qi->row[p];
		const uint64_t *h = s->hash[row].w;
		const uint64_t x[4] = {h[0] ^ q[0], h[1] ^ q[1], h[2] ^ q[2], h[3] ^ q[3]};
		const int dist = __builtin_popcountll(x[0]) + __builtin_popcountll(x[1]) +
				 __builtin_popcountll(x[2]) + __builtin_popcountll(x[3]);
		if (dist > qx->d || vg__mih_is_dead(s->dead, row) || !canonical(qx->R, t, x))
			continue;
		int rc = vg__mih_hits_push(qx->hits, s->id[row], dist);
		if (rc)
			return rc;
	}
	return 0;
}

/* Lanes of chunk[0 .. W - 1] within r of qc, as a bit mask. */
typedef uint32_t qblock_fn(const uint32_t *chunk, uint32_t qc, int r);

/* Every entry within r of its probe's chunk in buckets p[0 .. np - 1] is verified. r is a
 * constant wherever this is inlined, so the kernels' per-lane test unrolls. Buckets
 * hold whole blocks (see building), so there is no tail to mask. */
ALWAYS_INLINE int scan_run(const qctx *qx, const probe *p, int np, int r, qblock_fn *block,
			   uint32_t W, verify_fn *vf)
{
	const uint32_t *chunk = qx->s->quarter->chunk;
	int rc;
	for (int i = 0; i < np; i++) {
		uint32_t pos = p[i].lo;
		for (; pos + 2 * W <= p[i].hi; pos += 2 * W) {
			uint32_t m = block(chunk + pos, p[i].qc, r) |
				     block(chunk + pos + W, p[i].qc, r) << W;
			if (m && (rc = vf(qx, p[i].t, pos, m)) != 0)
				return rc;
		}
		if (pos < p[i].hi) {
			uint32_t m = block(chunk + pos, p[i].qc, r);
			if (m && (rc = vf(qx, p[i].t, pos, m)) != 0)
				return rc;
		}
	}
	return 0;
}

ALWAYS_INLINE int scan_run_r(const qctx *qx, const probe *p, int np, int r, qblock_fn *block,
			     uint32_t W, verify_fn *vf)
{
	switch (r) {
	case 0: return scan_run(qx, p, np, 0, block, W, vf);
	case 1: return scan_run(qx, p, np, 1, block, W, vf);
	case 2: return scan_run(qx, p, np, 2, block, W, vf);
	default: return scan_run(qx, p, np, 3, block, W, vf);
	}
}

/* Finds every probe's bucket first, prefetching its first entries, so that the (at most
 * 32) cache misses on entries overlap instead of queueing. */
ALWAYS_INLINE int query(const vg__mih_seg *s, const vg_pdq *q, int d, vg_mih_hits *hits,
			qblock_fn *block, uint32_t W, verify_fn *vf)
{
	const vg__mih_quarter *qi = s->quarter;
	const int r_hi = (d + VG__MIH_CHUNKS) / VG__MIH_CHUNKS - 1;
	const int hi_n = (d + 1) % VG__MIH_CHUNKS ? (d + 1) % VG__MIH_CHUNKS : VG__MIH_CHUNKS;
	qctx qx = {.s = s, .q = q, .d = d, .hits = hits};
	probe p[VG__MIH_QTABLES];
	int np = 0, np_hi = 0;
	for (int c = 0; c < VG__MIH_CHUNKS; c++) {
		const uint32_t qc = vg__mih_chunk(q->w, c);
		qx.R[c] = (int8_t)(c < hi_n ? r_hi : r_hi - 1);
		for (int j = 0; j <= qx.R[c]; j++, np++) {
			const int t = 4 * c + j;
			const uint32_t *off = qi->off + t * BUCKETS + (qc >> 8 * j & 0xff);
			p[np] = (probe){off[0], off[1], qc, t};
			__builtin_prefetch(&qi->chunk[off[0]]);
		}
		if (c + 1 == hi_n)
			np_hi = np;
	}
	int rc = scan_run_r(&qx, p, np_hi, r_hi, block, W, vf);
	if (rc == 0 && np > np_hi)
		rc = scan_run_r(&qx, p + np_hi, np - np_hi, r_hi - 1, block, W, vf);
	return rc;
}

/* ---- portable ---------------------------------------------------------------------- */

ALWAYS_INLINE uint32_t qblock_scalar(const uint32_t *chunk, uint32_t qc, int r)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < VG__MIH_QBLOCK; i++)
		m |= (uint32_t)(__builtin_popcount(chunk[i] ^ qc) <= r) << i;
	return m;
}

static __attribute__((noinline)) int verify_scalar(const qctx *qx, int t, uint32_t pos,
						    uint32_t m)
{
	return verify(qx, t, pos, m);
}

int vg__mih_quarter_scalar(const vg__mih_seg *s, const vg_pdq *q, int d, vg_mih_hits *hits)
{
	return query(s, q, d, hits, qblock_scalar, VG__MIH_QBLOCK, verify_scalar);
}

#if defined(__x86_64__)

/* ---- AVX2 ---------------------------------------------------------------------------
 * 16 chunks per step in two vectors. With r <= 3 a popcount is not needed: clearing the
 * lowest set bit r times leaves zero exactly when at most r bits were set, two
 * instructions per step against a nibble-table popcount's eight. */

#define AVX2_TARGET __attribute__((target("avx2,popcnt")))

AVX2_TARGET ALWAYS_INLINE uint32_t within_avx2(__m256i x, int r)
{
	const __m256i ones = _mm256_set1_epi32(-1);
	for (int i = 0; i < r; i++)
		x = _mm256_and_si256(x, _mm256_add_epi32(x, ones));
	__m256i zero = _mm256_cmpeq_epi32(x, _mm256_setzero_si256());
	return (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(zero));
}

AVX2_TARGET ALWAYS_INLINE uint32_t qblock_avx2(const uint32_t *chunk, uint32_t qc, int r)
{
	__m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)chunk),
				     _mm256_set1_epi32((int)qc));
	return within_avx2(x, r);
}

AVX2_TARGET static __attribute__((noinline)) int verify_avx2(const qctx *qx, int t,
							     uint32_t pos, uint32_t m)
{
	return verify(qx, t, pos, m);
}

AVX2_TARGET int vg__mih_quarter_avx2(const vg__mih_seg *s, const vg_pdq *q, int d,
				     vg_mih_hits *hits)
{
	return query(s, q, d, hits, qblock_avx2, VG__MIH_QBLOCK, verify_avx2);
}

#endif /* __x86_64__ */
