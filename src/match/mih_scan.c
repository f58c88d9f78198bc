/* SPDX-License-Identifier: Apache-2.0
 *
 * The inner loops of PDQ matching, once per instruction set: the bucket scan of the
 * multi-index (filter 16-bit fragments, then verify survivors against the full hash) and
 * the linear scan used for small segments, the pending list and thresholds past 63.
 *
 * Invariant: every variant returns exactly the same hits as the portable one (the unit
 * tests run each variant the CPU has against brute force). The x86 variants are compiled
 * with function-level target attributes and chosen at run time, because the build has
 * no -march and must still run on any x86-64.
 */
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "internal.h"

#define ALWAYS_INLINE static inline __attribute__((always_inline))

/* A filter survivor waiting for verification: its position, where its bucket's
 * Elias-Fano bits start, and (once decoded) its row. */
typedef struct cand {
	uint64_t start; /* bit where the bucket's upper-bits run starts */
	uint32_t pos;   /* position in table t */
	uint32_t j;     /* index within the bucket */
	uint32_t row;
	uint32_t t;
} cand;

/* Pipeline depths, in probes and in survivors: far enough ahead to cover a cache miss
 * from L3 or DRAM, near enough that the fill buffers are not swamped (measured on a
 * Sapphire Rapids core; 12-32 all do within noise). */
#define CAND_MAX 256
#define AHEAD_OFF 16  /* prefetch a bucket's offsets this many probes before its scan */
#define AHEAD_FILT 8  /* read the offsets, prefetch the entries this many before */
#define AHEAD_EF 24   /* prefetch a survivor's row bits this many survivors ahead */
#define AHEAD_ROW 12  /* decode its row and prefetch its hash and id this many ahead */

/* Row of a survivor. The bucket's rows ascend, so their upper bits are a non-decreasing
 * sequence stored in unary (Elias-Fano): the j-th entry's set bit sits at
 * start + j + (row >> 16); finding it is a select over a few words. The in-word select
 * is PDEP where PDEP is fast, clearing low bits one by one elsewhere. */
typedef unsigned select_fn(uint64_t x, uint32_t k);

ALWAYS_INLINE unsigned select_loop(uint64_t x, uint32_t k)
{
	while (k--)
		x &= x - 1;
	return (unsigned)__builtin_ctzll(x);
}

ALWAYS_INLINE uint32_t ef_row(const vg__mih_table *tb, const cand *c, select_fn *select)
{
	const uint64_t *w = tb->hib + (c->start >> 6);
	uint64_t x = *w & (~UINT64_C(0) << (c->start & 63));
	uint64_t base = c->start & ~(uint64_t)63;
	uint32_t left = c->j;
	for (;;) {
		uint32_t n = (uint32_t)__builtin_popcountll(x);
		if (n > left)
			break;
		left -= n;
		x = *++w;
		base += 64;
	}
	const uint64_t bit = base + select(x, left);
	const uint32_t high = (uint32_t)(bit - c->start - c->j);
	return high << 16 | tb->rlo[c->pos];
}

/* An entry within d is reachable through every table u whose half is within r[u] while
 * its chunk is within R[u / 2]. True when t is the first such table: the rule that
 * reports each entry once when the seen-set is full. x is entry XOR query. */
ALWAYS_INLINE bool canonical(const vg__mih_q *qc, uint32_t t, const uint64_t x[4])
{
	for (uint32_t u = 0; u < t; u++) {
		if (qc->r[u] < 0)
			continue;
		uint32_t xc = vg__mih_chunk(x, (int)u >> 1);
		if (__builtin_popcount(vg__mih_key(xc, (int)u)) <= qc->r[u] &&
		    __builtin_popcount(xc) <= qc->R[u >> 1])
			return false;
	}
	return true;
}

/* True when row was verified before in this query (see vg__mih_q.seen); otherwise
 * records it, room permitting, in *ret_recorded. */
ALWAYS_INLINE bool seen_before(vg__mih_q *qc, uint32_t row, bool *ret_recorded)
{
	const uint32_t mask = VG__MIH_SEEN - 1;
	uint32_t i = (uint32_t)((row * UINT64_C(0x9e3779b97f4a7c15)) >> 52) & mask;
	for (; qc->seen_used[i >> 6] >> (i & 63) & 1; i = (i + 1) & mask)
		if (qc->seen[i] == row)
			return true;
	*ret_recorded = qc->seen_n < VG__MIH_SEEN / 2;
	if (*ret_recorded) {
		qc->seen[i] = row;
		qc->seen_used[i >> 6] |= UINT64_C(1) << (i & 63);
		qc->seen_n++;
	}
	return false;
}

ALWAYS_INLINE int verify_one(vg__mih_q *qc, const cand *c)
{
	const vg__mih_seg *s = qc->seg;
	const uint64_t *q = qc->q->w;
	const uint32_t row = c->row;
	bool recorded = false;
	if (seen_before(qc, row, &recorded))
		return 0;
	const uint64_t *h = s->hash[row].w;
	const uint64_t x[4] = {h[0] ^ q[0], h[1] ^ q[1], h[2] ^ q[2], h[3] ^ q[3]};
	const int dist = __builtin_popcountll(x[0]) + __builtin_popcountll(x[1]) +
			 __builtin_popcountll(x[2]) + __builtin_popcountll(x[3]);
	if (dist > qc->d || vg__mih_is_dead(s->dead, row) ||
	    (!recorded && !canonical(qc, c->t, x)))
		return 0;
	return vg__mih_hits_push(qc->hits, s->id[row], dist);
}

/* Verifies survivors through a rolling pipeline so that their cache misses overlap:
 * fetch the Elias-Fano word and low row bits, AHEAD_EF - AHEAD_ROW steps later decode
 * the row and fetch its hash and id, AHEAD_ROW steps later compare. */
ALWAYS_INLINE int verify_all(vg__mih_q *qc, cand *c, size_t nc, select_fn *select)
{
	const vg__mih_seg *s = qc->seg;
	for (size_t i = 0; i < nc + AHEAD_EF; i++) {
		if (i < nc) {
			const vg__mih_table *tb = &s->t[c[i].t];
			__builtin_prefetch(&tb->hib[c[i].start >> 6]);
			__builtin_prefetch(&tb->rlo[c[i].pos]);
		}
		if (i >= AHEAD_EF - AHEAD_ROW && i - (AHEAD_EF - AHEAD_ROW) < nc) {
			cand *e = &c[i - (AHEAD_EF - AHEAD_ROW)];
			e->row = ef_row(&s->t[e->t], e, select);
			__builtin_prefetch(&s->hash[e->row]);
			__builtin_prefetch(&s->id[e->row]);
		}
		if (i >= AHEAD_EF) {
			int rc = verify_one(qc, &c[i - AHEAD_EF]);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Lanes of filt[0 .. min(W, left) - 1] with floor < popcount(f ^ qf) <= budget, as a
 * bit mask. */
typedef uint32_t block_fn(const uint16_t *filt, uint16_t qf, int floor, int budget,
			  uint32_t left);

/* The probe pipeline shared by every instruction set: prefetch a bucket's offsets
 * AHEAD_OFF probes before its scan, read them and prefetch its first entries AHEAD_FILT
 * probes before, then scan it W entries at a time, queueing survivors for verify_all.
 * Without it each probe waits for two cache misses in turn, which at a million entries
 * is most of the query time. */
ALWAYS_INLINE int pipeline(vg__mih_q *qc, vg__mih_probe *pr, size_t np, block_fn *block,
			   uint32_t W, select_fn *select)
{
	const vg__mih_seg *s = qc->seg;
	const uint64_t nh = s->nh;
	cand c[CAND_MAX];
	size_t nc = 0;
	int rc;
	for (size_t i = 0; i < np + AHEAD_OFF; i++) {
		if (i < np)
			__builtin_prefetch(&s->t[pr[i].t].off[pr[i].key]);
		if (i >= AHEAD_OFF - AHEAD_FILT && i - (AHEAD_OFF - AHEAD_FILT) < np) {
			vg__mih_probe *p = &pr[i - (AHEAD_OFF - AHEAD_FILT)];
			const vg__mih_table *tb = &s->t[p->t];
			p->lo = tb->off[p->key];
			p->hi = tb->off[p->key + 1];
			for (uint32_t k = p->lo; k < p->hi && k < p->lo + 128; k += 32)
				__builtin_prefetch(&tb->filt[k]);
		}
		if (i < AHEAD_OFF)
			continue;
		const vg__mih_probe *p = &pr[i - AHEAD_OFF];
		const uint16_t *filt = s->t[p->t].filt;
		const uint16_t qf = qc->qf[p->t];
		const uint64_t start = p->lo + (uint64_t)p->key * nh;
		for (uint32_t pos = p->lo; pos < p->hi; pos += W) {
			uint32_t m = block(filt + pos, qf, p->floor, p->budget, p->hi - pos);
			if (!m)
				continue;
			if (nc + W > CAND_MAX) {
				if ((rc = verify_all(qc, c, nc, select)) != 0)
					return rc;
				nc = 0;
			}
			while (m) {
				uint32_t lane = (uint32_t)__builtin_ctz(m);
				m &= m - 1;
				c[nc].start = start;
				c[nc].pos = pos + lane;
				c[nc].j = pos + lane - p->lo;
				c[nc].t = p->t;
				nc++;
			}
		}
	}
	return nc ? verify_all(qc, c, nc, select) : 0;
}

ALWAYS_INLINE int linear_hit(const uint64_t *id, const uint64_t *dead, size_t row, int dist,
			     vg_mih_hits *hits)
{
	if (vg__mih_is_dead(dead, row))
		return 0;
	return vg__mih_hits_push(hits, id[row], dist);
}

/* ---- portable ---------------------------------------------------------------------- */

ALWAYS_INLINE uint32_t block_scalar(const uint16_t *filt, uint16_t qf, int floor, int budget,
				    uint32_t left)
{
	uint32_t n = left < 32 ? left : 32, m = 0;
	for (uint32_t i = 0; i < n; i++) {
		int c = __builtin_popcount((uint32_t)(filt[i] ^ qf));
		m |= (uint32_t)(c <= budget && c > floor) << i;
	}
	return m;
}

static int scan_scalar(vg__mih_q *qc, vg__mih_probe *pr, size_t np)
{
	return pipeline(qc, pr, np, block_scalar, 32, select_loop);
}

static int linear_scalar(const vg_pdq *hash, const uint64_t *id, const uint64_t *dead,
			 size_t n, const vg_pdq *q, int d, vg_mih_hits *hits)
{
	for (size_t i = 0; i < n; i++) {
		int dist = vg_pdq_distance(&hash[i], q);
		if (dist <= d) {
			int rc = linear_hit(id, dead, i, dist, hits);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static const vg__mih_kernels k_scalar = {VG_MIH_ISA_SCALAR, "scalar", scan_scalar,
					 linear_scalar, vg__mih_quarter_scalar};

#if defined(__x86_64__)

/* ---- AVX2 ---------------------------------------------------------------------------
 * 16 fragments per vector; popcount by nibble lookup (AVX2 has no vector popcount). */

#define AVX2_TARGET __attribute__((target("avx2,popcnt")))

AVX2_TARGET static inline __m256i popcnt8_avx2(__m256i x)
{
	const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1,
					     1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	__m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(x, m4));
	__m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), m4));
	return _mm256_add_epi8(lo, hi);
}

AVX2_TARGET ALWAYS_INLINE uint32_t block_avx2(const uint16_t *filt, uint16_t qf, int floor,
					      int budget, uint32_t left)
{
	/* Reads up to 15 entries past the bucket: inside the table's padding. */
	__m256i x = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)filt),
				     _mm256_set1_epi16((short)qf));
	__m256i c8 = popcnt8_avx2(x);
	__m256i c16 = _mm256_add_epi16(_mm256_and_si256(c8, _mm256_set1_epi16(0x00ff)),
				       _mm256_srli_epi16(c8, 8));
	__m256i out = _mm256_or_si256(_mm256_cmpgt_epi16(c16, _mm256_set1_epi16((short)budget)),
				      _mm256_cmpgt_epi16(_mm256_set1_epi16((short)(floor + 1)), c16));
	/* One byte per lane, in lane order within each 128-bit half. */
	uint32_t b = (uint32_t)_mm256_movemask_epi8(_mm256_packs_epi16(out, _mm256_setzero_si256()));
	uint32_t m = ~((b & 0xff) | (b >> 8 & 0xff00)) & 0xffff;
	return left < 16 ? m & ((UINT32_C(1) << left) - 1) : m;
}

AVX2_TARGET static int scan_avx2(vg__mih_q *qc, vg__mih_probe *pr, size_t np)
{
	return pipeline(qc, pr, np, block_avx2, 16, select_loop);
}

AVX2_TARGET static int linear_avx2(const vg_pdq *hash, const uint64_t *id, const uint64_t *dead,
				   size_t n, const vg_pdq *q, int d, vg_mih_hits *hits)
{
	const __m256i vq = _mm256_loadu_si256((const __m256i *)q->w);
	const __m256i vd = _mm256_set1_epi64x(d);
	const __m256i zero = _mm256_setzero_si256();
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		__m256i s[4];
		for (int k = 0; k < 4; k++) {
			__m256i x = _mm256_xor_si256(
				_mm256_loadu_si256((const __m256i *)hash[i + k].w), vq);
			s[k] = _mm256_sad_epu8(popcnt8_avx2(x), zero); /* 4 partial sums */
		}
		__m256i t0 = _mm256_add_epi64(_mm256_unpacklo_epi64(s[0], s[1]),
					      _mm256_unpackhi_epi64(s[0], s[1]));
		__m256i t1 = _mm256_add_epi64(_mm256_unpacklo_epi64(s[2], s[3]),
					      _mm256_unpackhi_epi64(s[2], s[3]));
		__m256i tot = _mm256_add_epi64(_mm256_permute2x128_si256(t0, t1, 0x20),
					       _mm256_permute2x128_si256(t0, t1, 0x31));
		int far = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(tot, vd)));
		if (far == 0xf)
			continue;
		uint64_t dist[4];
		_mm256_storeu_si256((__m256i *)dist, tot);
		for (int k = 0; k < 4; k++) {
			if (far >> k & 1)
				continue;
			int rc = linear_hit(id, dead, i + k, (int)dist[k], hits);
			if (rc)
				return rc;
		}
	}
	for (; i < n; i++) {
		int dist = vg_pdq_distance(&hash[i], q);
		if (dist <= d) {
			int rc = linear_hit(id, dead, i, dist, hits);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static const vg__mih_kernels k_avx2 = {VG_MIH_ISA_AVX2, "avx2", scan_avx2, linear_avx2,
					vg__mih_quarter_avx2};

/* ---- AVX-512 ------------------------------------------------------------------------
 * 32 fragments per vector with VPOPCNTW (BITALG); the linear scan does two hashes per
 * vector with VPOPCNTQ (VPOPCNTDQ). */

#define AVX512_TARGET                                                                      \
	__attribute__((target("avx512f,avx512bw,avx512vl,avx512bitalg,avx512vpopcntdq,popcnt,bmi2")))

AVX512_TARGET ALWAYS_INLINE uint32_t block_avx512(const uint16_t *filt, uint16_t qf, int floor,
						  int budget, uint32_t left)
{
	__mmask32 m = left >= 32 ? ~(__mmask32)0 : (UINT32_C(1) << left) - 1;
	__m512i x = _mm512_xor_si512(_mm512_maskz_loadu_epi16(m, filt), _mm512_set1_epi16((short)qf));
	__m512i c = _mm512_popcnt_epi16(x);
	m = _mm512_mask_cmple_epi16_mask(m, c, _mm512_set1_epi16((short)budget));
	return _mm512_mask_cmpgt_epi16_mask(m, c, _mm512_set1_epi16((short)floor));
}

/* PDEP is fast on every CPU with AVX-512 (not on the AVX2-era AMD parts). */
AVX512_TARGET ALWAYS_INLINE unsigned select_pdep(uint64_t x, uint32_t k)
{
	return (unsigned)__builtin_ctzll(_pdep_u64(UINT64_C(1) << k, x));
}

AVX512_TARGET static int scan_avx512(vg__mih_q *qc, vg__mih_probe *pr, size_t np)
{
	return pipeline(qc, pr, np, block_avx512, 32, select_pdep);
}

AVX512_TARGET static int linear_avx512(const vg_pdq *hash, const uint64_t *id,
				       const uint64_t *dead, size_t n, const vg_pdq *q, int d,
				       vg_mih_hits *hits)
{
	const __m512i vq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q->w));
	const __m512i vd = _mm512_set1_epi64(d);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		/* Eight hashes in four vectors; each vector's two totals land in qwords 0
		 * and 4 after folding its four words. */
		__mmask8 near = 0;
		__m512i tot[4];
		for (int k = 0; k < 4; k++) {
			__m512i c = _mm512_popcnt_epi64(_mm512_xor_si512(
				_mm512_loadu_si512((const void *)hash[i + 2 * k].w), vq));
			c = _mm512_add_epi64(c, _mm512_shuffle_epi32(c, _MM_PERM_BADC));
			c = _mm512_add_epi64(c, _mm512_shuffle_i64x2(c, c, 0xb1));
			tot[k] = c;
			near |= _mm512_cmple_epu64_mask(c, vd) & 0x11;
		}
		if (!near)
			continue;
		for (int k = 0; k < 4; k++) {
			uint64_t dist[8];
			_mm512_storeu_si512((void *)dist, tot[k]);
			for (int e = 0; e < 2; e++) {
				if (dist[4 * e] > (uint64_t)d)
					continue;
				int rc = linear_hit(id, dead, i + 2 * k + e, (int)dist[4 * e], hits);
				if (rc)
					return rc;
			}
		}
	}
	for (; i < n; i++) {
		int dist = vg_pdq_distance(&hash[i], q);
		if (dist <= d) {
			int rc = linear_hit(id, dead, i, dist, hits);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* The quarter index has no AVX-512 scan yet (16 lanes per compare would halve its
 * arithmetic); every AVX-512 CPU runs the AVX2 one. */
static const vg__mih_kernels k_avx512 = {VG_MIH_ISA_AVX512, "avx512", scan_avx512,
					 linear_avx512, vg__mih_quarter_avx2};

static bool has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}

static bool has_avx512(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bitalg") &&
	       __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("popcnt") &&
	       __builtin_cpu_supports("bmi2");
}

#endif /* __x86_64__ */

const vg__mih_kernels *vg__mih_kernels_get(vg_mih_isa isa)
{
	switch (isa) {
	case VG_MIH_ISA_SCALAR:
		return &k_scalar;
#if defined(__x86_64__)
	case VG_MIH_ISA_AVX2:
		return has_avx2() ? &k_avx2 : NULL;
	case VG_MIH_ISA_AVX512:
		return has_avx512() ? &k_avx512 : NULL;
	case VG_MIH_ISA_AUTO:
		return has_avx512() ? &k_avx512 : has_avx2() ? &k_avx2 : &k_scalar;
#else
	case VG_MIH_ISA_AUTO:
		return &k_scalar;
	default:
		return NULL;
#endif
	}
	return NULL;
}
