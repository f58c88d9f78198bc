/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the PDQ multi-index (src/match/mih*.c). The oracle is brute force: for
 * random and clustered banks, at thresholds 0, 8, 31, 48 and 63, with adds, removes and
 * compactions interleaved, every kernel the CPU has and every strategy (multi-index,
 * quarter index, linear scan, automatic) must return exactly the brute-force hits in
 * (distance, id) order; the quarter index also on banks with entries planted at every
 * distance around the queries. Then the reference's regression data (needles against
 * haystack at d = 31), snapshots and their rejection of damaged files.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "match/match.h"

/* ---- deterministic data ------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void rand_pdq(uint64_t *s, vg_pdq *h)
{
	for (int i = 0; i < 4; i++)
		h->w[i] = rng_next(s);
}

/* Flips k distinct random bits. */
static void flip(uint64_t *s, vg_pdq *h, int k)
{
	uint64_t done[4] = {0};
	while (k > 0) {
		int b = (int)(rng_next(s) % 256);
		if (done[b >> 6] >> (b & 63) & 1)
			continue;
		done[b >> 6] |= UINT64_C(1) << (b & 63);
		h->w[b >> 6] ^= UINT64_C(1) << (b & 63);
		k--;
	}
}

/* ---- the oracle: a plain list of live entries --------------------------------------- */

typedef struct model {
	vg_pdq *h;
	uint64_t *id;
	size_t n, cap;
} model;

static void model_add(model *m, const vg_pdq *h, uint64_t id)
{
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 1024;
		m->h = realloc(m->h, m->cap * sizeof(*m->h));
		m->id = realloc(m->id, m->cap * sizeof(*m->id));
	}
	m->h[m->n] = *h;
	m->id[m->n] = id;
	m->n++;
}

static size_t model_remove(model *m, uint64_t id)
{
	size_t removed = 0;
	for (size_t i = 0; i < m->n;) {
		if (m->id[i] == id) {
			m->n--;
			m->h[i] = m->h[m->n];
			m->id[i] = m->id[m->n];
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

static void model_free(model *m)
{
	free(m->h);
	free(m->id);
}

static int cmp_hit(const void *a, const void *b)
{
	const vg_mih_hit *x = a, *y = b;
	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static size_t brute(const model *m, const vg_pdq *q, int d, vg_mih_hit *out)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++) {
		int dist = vg_pdq_distance(&m->h[i], q);
		if (dist <= d) {
			out[n].id = m->id[i];
			out[n].distance = dist;
			n++;
		}
	}
	qsort(out, n, sizeof(*out), cmp_hit);
	return n;
}

static const vg_mih_isa isas[] = {VG_MIH_ISA_SCALAR, VG_MIH_ISA_AVX2, VG_MIH_ISA_AVX512};
static const vg_mih_strategy strategies[] = {VG_MIH_STRATEGY_AUTO, VG_MIH_STRATEGY_INDEX,
					     VG_MIH_STRATEGY_SCAN, VG_MIH_STRATEGY_QUARTER};
static const int thresholds[] = {0, 8, 31, 48, 63};

/* Every kernel and strategy against brute force, for each query and threshold. */
static void check_all(vg_mih *idx, const model *m, const vg_pdq *qs, size_t nq,
		      const int *ds, size_t nd)
{
	cr_assert_eq(vg_mih_count(idx), m->n);
	vg_mih_hit *want = malloc((m->n + 1) * sizeof(*want));
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	size_t checked = 0;
	for (size_t ii = 0; ii < VG_ARRAY_LEN(isas); ii++) {
		if (vg_mih_set_isa(idx, isas[ii]) != 0)
			continue;
		for (size_t si = 0; si < VG_ARRAY_LEN(strategies); si++) {
			vg_mih_set_strategy(idx, strategies[si]);
			for (size_t di = 0; di < nd; di++) {
				for (size_t qi = 0; qi < nq; qi++) {
					size_t nw = brute(m, &qs[qi], ds[di], want);
					cr_assert_eq(vg_mih_query(idx, &qs[qi], ds[di], &hits), 0);
					cr_assert_eq(hits.n, nw,
						     "%s strategy %d d=%d query %zu: %zu hits, "
						     "brute force %zu",
						     vg_mih_isa_name(idx), (int)strategies[si],
						     ds[di], qi, hits.n, nw);
					for (size_t k = 0; k < nw; k++)
						cr_assert(hits.v[k].id == want[k].id &&
								  hits.v[k].distance == want[k].distance,
							  "%s d=%d query %zu hit %zu differs",
							  vg_mih_isa_name(idx), ds[di], qi, k);
					checked += nw;
				}
			}
		}
	}
	vg_mih_set_strategy(idx, VG_MIH_STRATEGY_AUTO);
	cr_assert_eq(vg_mih_set_isa(idx, VG_MIH_ISA_AUTO), 0);
	vg_mih_hits_done(&hits);
	free(want);
	(void)checked;
}

/* Queries near entries (so that every threshold has hits) and some far from all. */
static vg_pdq *make_queries(uint64_t *s, const model *m, size_t nq)
{
	vg_pdq *qs = malloc(nq * sizeof(*qs));
	for (size_t i = 0; i < nq; i++) {
		if (i % 5 == 4 || m->n == 0) {
			rand_pdq(s, &qs[i]);
			continue;
		}
		qs[i] = m->h[rng_next(s) % m->n];
		flip(s, &qs[i], (int)(rng_next(s) % 72));
	}
	return qs;
}

/* 1 000 random hashes, some sharing ids and some repeating hashes under other ids. */
static void make_random(uint64_t *s, size_t n, vg_pdq **ret_h, uint64_t **ret_id)
{
	vg_pdq *h = malloc(n * sizeof(*h));
	uint64_t *id = malloc(n * sizeof(*id));
	for (size_t i = 0; i < n; i++) {
		rand_pdq(s, &h[i]);
		id[i] = rng_next(s) >> 20;
		if (i % 97 == 5)
			id[i] = id[i - 1]; /* one signal, two hashes */
		if (i % 89 == 7)
			h[i] = h[i - 3]; /* one hash, two signals */
	}
	*ret_h = h;
	*ret_id = id;
}

/* Families of near-duplicates: each centre with variants at 1..40 flipped bits. This is
 * what real banks look like and what stresses the filter, the dedup and the sort. */
static void make_clustered(uint64_t *s, size_t centres, size_t per, vg_pdq **ret_h,
			   uint64_t **ret_id)
{
	size_t n = centres * per;
	vg_pdq *h = malloc(n * sizeof(*h));
	uint64_t *id = malloc(n * sizeof(*id));
	for (size_t c = 0; c < centres; c++) {
		vg_pdq centre;
		rand_pdq(s, &centre);
		for (size_t v = 0; v < per; v++) {
			size_t i = c * per + v;
			h[i] = centre;
			flip(s, &h[i], 1 + (int)(rng_next(s) % 40));
			id[i] = 1000000 + i * 7; /* ascending: the sorted fast path */
		}
	}
	*ret_h = h;
	*ret_id = id;
}

/* Builds a model holding what vg_mih_build keeps: duplicate pairs once. */
static void model_from(model *m, const vg_pdq *h, const uint64_t *id, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = i >= 8 ? i - 8 : 0; j < i && !dup; j++)
			dup = id[j] == id[i] && memcmp(&h[j], &h[i], sizeof(h[i])) == 0;
		if (!dup)
			model_add(m, &h[i], id[i]);
	}
}

Test(mih_diff, random_bank_matches_brute_force)
{
	uint64_t s = 1;
	vg_pdq *h;
	uint64_t *id;
	make_random(&s, 20000, &h, &id);
	model m = {0};
	model_from(&m, h, id, 20000);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 20000), 0);
	vg_pdq *qs = make_queries(&s, &m, 60);
	check_all(idx, &m, qs, 60, thresholds, VG_ARRAY_LEN(thresholds));
	free(qs);
	free(h);
	free(id);
	model_free(&m);
	vg_mih_free(idx);
}

Test(mih_diff, clustered_bank_matches_brute_force)
{
	uint64_t s = 2;
	vg_pdq *h;
	uint64_t *id;
	make_clustered(&s, 40, 400, &h, &id);
	model m = {0};
	model_from(&m, h, id, 16000);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 16000), 0);
	vg_pdq *qs = make_queries(&s, &m, 40);
	check_all(idx, &m, qs, 40, thresholds, VG_ARRAY_LEN(thresholds));
	free(qs);
	free(h);
	free(id);
	model_free(&m);
	vg_mih_free(idx);
}

Test(mih_diff, every_threshold_0_to_63_is_exact)
{
	uint64_t s = 3;
	vg_pdq *h;
	uint64_t *id;
	make_clustered(&s, 10, 300, &h, &id);
	model m = {0};
	model_from(&m, h, id, 3000);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 3000), 0);
	vg_pdq *qs = make_queries(&s, &m, 6);
	int ds[66];
	for (int d = 0; d < 66; d++)
		ds[d] = d;
	check_all(idx, &m, qs, 6, ds, 66);
	free(qs);
	free(h);
	free(id);
	model_free(&m);
	vg_mih_free(idx);
}

Test(mih_diff, adds_and_removes_interleaved)
{
	/* A base from bulk build, then thousands of single adds (through the pending list,
	 * delta rebuilds and full compactions) and removes of old and new ids, checked
	 * against brute force along the way. */
	uint64_t s = 4;
	vg_pdq *h;
	uint64_t *id;
	make_clustered(&s, 20, 300, &h, &id);
	model m = {0};
	model_from(&m, h, id, 6000);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 6000), 0);
	const int ds[] = {8, 31, 63};
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 700; i++) {
			vg_pdq x = m.h[rng_next(&s) % m.n];
			flip(&s, &x, (int)(rng_next(&s) % 30));
			uint64_t xid = rng_next(&s) % 4 == 0 ? m.id[rng_next(&s) % m.n]
							     : rng_next(&s) >> 1;
			int rc = vg_mih_add(idx, &x, xid);
			if (rc == VG_EEXIST)
				continue;
			cr_assert_eq(rc, 0);
			model_add(&m, &x, xid);
		}
		for (int i = 0; i < 150; i++) {
			uint64_t victim = i % 3 ? m.id[rng_next(&s) % m.n] : rng_next(&s);
			size_t want = model_remove(&m, victim);
			cr_assert_eq(vg_mih_remove(idx, victim), want ? 0 : VG_ENOENT);
		}
		/* Re-adding a removed pair must bring it back. */
		uint64_t victim = m.id[0];
		vg_pdq vh = m.h[0];
		model_remove(&m, victim);
		cr_assert_eq(vg_mih_remove(idx, victim), 0);
		cr_assert_eq(vg_mih_add(idx, &vh, victim), 0);
		model_add(&m, &vh, victim);
		cr_assert_eq(vg_mih_add(idx, &vh, victim), VG_EEXIST);

		vg_pdq *qs = make_queries(&s, &m, 12);
		check_all(idx, &m, qs, 12, ds, VG_ARRAY_LEN(ds));
		free(qs);
		if (round == 3)
			cr_assert_eq(vg_mih_compact(idx), 0);
	}
	free(h);
	free(id);
	model_free(&m);
	vg_mih_free(idx);
}

Test(mih_diff, grows_from_empty_by_single_adds)
{
	uint64_t s = 5;
	model m = {0};
	vg_mih *idx = vg_mih_new();
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	vg_pdq q;
	rand_pdq(&s, &q);
	cr_assert_eq(vg_mih_query(idx, &q, 31, &hits), 0);
	cr_assert_eq(hits.n, 0);
	for (int i = 0; i < 5000; i++) {
		vg_pdq x = q;
		flip(&s, &x, (int)(rng_next(&s) % 100));
		cr_assert_eq(vg_mih_add(idx, &x, (uint64_t)i), 0);
		model_add(&m, &x, (uint64_t)i);
	}
	const int ds[] = {0, 31, 63, 100, 256};
	vg_pdq *qs = make_queries(&s, &m, 8);
	qs[0] = q;
	check_all(idx, &m, qs, 8, ds, VG_ARRAY_LEN(ds));
	free(qs);
	vg_mih_hits_done(&hits);
	model_free(&m);
	vg_mih_free(idx);
}

/* ---- the quarter index (mih_quarter.c) ---------------------------------------------- */

#define PLANT_MAX 33 /* entries at distances 0 .. 33 around each centre: d + 1 for d = 32 */

/* n rows: around each of the nc centres one entry at every distance 0 .. PLANT_MAX (as
 * far as n allows), then random rows; ids 1 .. n. */
static void make_planted(uint64_t *s, size_t n, const vg_pdq *centres, size_t nc,
			 vg_pdq **ret_h, uint64_t **ret_id)
{
	vg_pdq *h = malloc((n ? n : 1) * sizeof(*h));
	uint64_t *id = malloc((n ? n : 1) * sizeof(*id));
	for (size_t i = 0; i < n; i++) {
		id[i] = i + 1;
		size_t c = i / (PLANT_MAX + 1);
		if (c < nc) {
			h[i] = centres[c];
			flip(s, &h[i], (int)(i % (PLANT_MAX + 1)));
		} else {
			rand_pdq(s, &h[i]);
		}
	}
	*ret_h = h;
	*ret_id = id;
}

/* An index and its oracle, built from rows the fixture takes (and frees). */
typedef struct bank {
	model m;
	vg_mih *idx;
} bank;

static void bank_open(bank *b, vg_pdq *h, uint64_t *id, size_t n)
{
	memset(&b->m, 0, sizeof(b->m));
	model_from(&b->m, h, id, n);
	b->idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(b->idx, h, id, n), 0);
	free(h);
	free(id);
}

static void bank_close(bank *b)
{
	model_free(&b->m);
	vg_mih_free(b->idx);
}

/* Removes every seventh planted id and some random ones from both, so tombstones sit
 * among the near neighbours. */
static void plant_tombstones(uint64_t *s, vg_mih *idx, model *m, size_t planted)
{
	for (size_t i = 3; i < planted && i < m->n; i += 7) {
		uint64_t victim = (uint64_t)i + 1;
		size_t want = model_remove(m, victim);
		cr_assert_eq(vg_mih_remove(idx, victim), want ? 0 : VG_ENOENT);
	}
	for (int k = 0; k < 20 && m->n > 0; k++) {
		uint64_t victim = m->id[rng_next(s) % m->n];
		model_remove(m, victim);
		cr_assert_eq(vg_mih_remove(idx, victim), 0);
	}
}

static const int quarter_ds[] = {0, 8, 16, 31, 32, 40};

/* make_random with ids 1 .. n: one row each. */
static void make_numbered(uint64_t *s, size_t n, vg_pdq **ret_h, uint64_t **ret_id)
{
	make_random(s, n, ret_h, ret_id);
	for (size_t i = 0; i < n; i++)
		(*ret_id)[i] = i + 1;
}

Test(mih_quarter, planted_neighbours_at_every_size)
{
	/* 1 and 100 rows, 10 000, exactly the size limit (65 536), and one past it, where
	 * the quarter strategy falls back to the others. Thresholds past 31 fall back too. */
	const size_t sizes[] = {1, 100, 10000, 65536, 65537};
	for (size_t si = 0; si < VG_ARRAY_LEN(sizes); si++) {
		uint64_t s = 20 + si;
		const size_t n = sizes[si], nc = 4;
		vg_pdq qs[8];
		for (size_t i = 0; i < nc; i++)
			rand_pdq(&s, &qs[i]);
		vg_pdq *h;
		uint64_t *id;
		make_planted(&s, n, qs, nc, &h, &id);
		bank b;
		bank_open(&b, h, id, n);
		plant_tombstones(&s, b.idx, &b.m, nc * (PLANT_MAX + 1));
		for (size_t i = nc; i < VG_ARRAY_LEN(qs); i++) {
			rand_pdq(&s, &qs[i]);
			if (i % 2 && b.m.n) { /* near a random row */
				qs[i] = b.m.h[rng_next(&s) % b.m.n];
				flip(&s, &qs[i], (int)(rng_next(&s) % 20));
			}
		}
		check_all(b.idx, &b.m, qs, VG_ARRAY_LEN(qs), quarter_ds, VG_ARRAY_LEN(quarter_ds));
		bank_close(&b);
	}
}

Test(mih_quarter, delta_and_pending_adds_are_found)
{
	/* A base, a delta folded from the pending list (1 024 adds) and a pending list, each
	 * holding neighbours of the queries at every distance, some of them tombstoned. */
	uint64_t s = 30;
	vg_pdq qs[6];
	for (size_t i = 0; i < VG_ARRAY_LEN(qs); i++)
		rand_pdq(&s, &qs[i]);
	vg_pdq *h;
	uint64_t *id;
	make_planted(&s, 10000, qs, 2, &h, &id);
	bank b;
	bank_open(&b, h, id, 10000);
	for (int i = 0; i < 1500; i++) {
		vg_pdq x;
		if (i % 3 == 0) {
			x = qs[2 + (size_t)i % 4];
			flip(&s, &x, i / 3 % (PLANT_MAX + 1));
		} else {
			rand_pdq(&s, &x);
		}
		uint64_t xid = 100000 + (uint64_t)i;
		cr_assert_eq(vg_mih_add(b.idx, &x, xid), 0);
		model_add(&b.m, &x, xid);
	}
	for (uint64_t victim = 100000; victim < 101500; victim += 11) {
		model_remove(&b.m, victim);
		cr_assert_eq(vg_mih_remove(b.idx, victim), 0);
	}
	plant_tombstones(&s, b.idx, &b.m, 2 * (PLANT_MAX + 1));
	check_all(b.idx, &b.m, qs, VG_ARRAY_LEN(qs), quarter_ds, VG_ARRAY_LEN(quarter_ds));
	bank_close(&b);
}

Test(mih_quarter, duplicates_reported_once)
{
	/* One hash under many ids and its variants at 1..31 bits: every table reaches
	 * them, and each must still come back exactly once. */
	uint64_t s = 31;
	vg_pdq q;
	rand_pdq(&s, &q);
	model m = {0};
	vg_mih *idx = vg_mih_new();
	for (uint64_t i = 0; i < 600; i++) {
		vg_pdq x = q;
		if (i >= 100)
			flip(&s, &x, 1 + (int)(i % 31));
		cr_assert_eq(vg_mih_add(idx, &x, i), 0);
		model_add(&m, &x, i);
	}
	cr_assert_eq(vg_mih_compact(idx), 0);
	const int ds[] = {0, 3, 31};
	check_all(idx, &m, &q, 1, ds, VG_ARRAY_LEN(ds));
	model_free(&m);
	vg_mih_free(idx);
}

Test(mih_quarter, bucket_padding_never_matches)
{
	/* Buckets are padded with entries whose key quarter is the complement of the
	 * bucket's and whose other bits are zero; a query whose chunks are zero apart from
	 * the key quarter would pass anything else there, and report row 0 (the padding's
	 * row) again. Row 0 here is the zero hash itself. */
	uint64_t s = 33;
	vg_pdq *h;
	uint64_t *id;
	make_numbered(&s, 3000, &h, &id);
	memset(&h[0], 0, sizeof(h[0]));
	bank b;
	bank_open(&b, h, id, 3000);
	vg_pdq qs[3] = {{{0}}, {{0xff, 0, 0, 0}}, {{0}}}; /* [1]: chunk 0's quarter 0 only */
	memset(&qs[2], 0xff, sizeof(qs[2]));
	const int ds[] = {0, 7, 8, 31};
	check_all(b.idx, &b.m, qs, VG_ARRAY_LEN(qs), ds, VG_ARRAY_LEN(ds));
	bank_close(&b);
}

Test(mih_quarter, built_only_below_the_size_limit_and_counted)
{
	/* ~200 bytes per row on top of the multi-index, up to 65 536 rows and not past. */
	uint64_t s = 32;
	vg_pdq *h;
	uint64_t *id;
	make_numbered(&s, 65537, &h, &id);
	vg_mih *small = vg_mih_new(), *large = vg_mih_new();
	cr_assert_eq(vg_mih_build(small, h, id, 65536), 0);
	cr_assert_eq(vg_mih_build(large, h, id, 65537), 0);
	size_t a = vg_mih_memory(small), b = vg_mih_memory(large);
	cr_assert_gt(a, b + (size_t)65536 * 190, "%zu bytes at 65 536 rows, %zu at 65 537", a, b);
	cr_assert_lt(a, b + (size_t)65536 * 220, "%zu bytes at 65 536 rows, %zu at 65 537", a, b);
	free(h);
	free(id);
	vg_mih_free(small);
	vg_mih_free(large);
}

Test(mih, rejects_bad_thresholds_and_caps_hits)
{
	uint64_t s = 6;
	vg_mih *idx = vg_mih_new();
	vg_pdq h;
	rand_pdq(&s, &h);
	for (uint64_t i = 0; i < 100; i++)
		cr_assert_eq(vg_mih_add(idx, &h, i), 0);
	cr_assert_eq(vg_mih_count(idx), 100);
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 50);
	cr_assert_eq(vg_mih_query(idx, &h, -1, &hits), VG_EINVAL);
	cr_assert_eq(vg_mih_query(idx, &h, 257, &hits), VG_EINVAL);
	cr_assert_eq(vg_mih_query(idx, &h, 0, &hits), VG_ETOOBIG);
	cr_assert_eq(hits.n, 0);
	vg_mih_hits_done(&hits);
	vg_mih_hits_init(&hits, 100);
	cr_assert_eq(vg_mih_query(idx, &h, 0, &hits), 0);
	cr_assert_eq(hits.n, 100);
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(hits.v[i].id, i); /* ties in distance come in id order */
	cr_assert_eq(vg_mih_remove(idx, 7), 0);
	cr_assert_eq(vg_mih_remove(idx, 7), VG_ENOENT);
	cr_assert_eq(vg_mih_count(idx), 99);
	vg_mih_hits_done(&hits);
	vg_mih_free(idx);
	vg_mih_free(NULL);
	vg_mih_hits_done(NULL);
}

Test(mih, memory_is_accounted)
{
	uint64_t s = 7;
	vg_pdq *h;
	uint64_t *id;
	make_random(&s, 100000, &h, &id);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 100000), 0);
	size_t per = vg_mih_memory(idx) / vg_mih_count(idx);
	/* 40 bytes of hash and id, ~68 of tables, ~4 MB of bucket offsets over 100k. */
	cr_assert(per >= 100 && per <= 160, "%zu bytes per entry", per);
	free(h);
	free(id);
	vg_mih_free(idx);
}

struct reader {
	const vg_mih *idx;
	const vg_pdq *qs;
	size_t nq;
	const size_t *want; /* hits per query, single-threaded */
	size_t bad;
};

static void *reader(void *arg)
{
	struct reader *r = arg;
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < r->nq; i++)
			if (vg_mih_query(r->idx, &r->qs[i], 31, &hits) != 0 || hits.n != r->want[i])
				r->bad++;
	vg_mih_hits_done(&hits);
	return NULL;
}

Test(mih, concurrent_queries_agree)
{
	/* Many readers on one index that nobody modifies: the header's promise. */
	uint64_t s = 13;
	vg_pdq *h;
	uint64_t *id;
	make_clustered(&s, 20, 300, &h, &id);
	model m = {0};
	model_from(&m, h, id, 6000);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 6000), 0);
	for (uint64_t i = 0; i < 500; i++) /* and a pending list */
		cr_assert_eq(vg_mih_add(idx, &m.h[i], 1u << 30 | i), 0);
	vg_pdq *qs = make_queries(&s, &m, 100);
	size_t want[100];
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	for (size_t i = 0; i < 100; i++) {
		cr_assert_eq(vg_mih_query(idx, &qs[i], 31, &hits), 0);
		want[i] = hits.n;
	}
	vg_mih_hits_done(&hits);
	pthread_t th[4];
	struct reader r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct reader){idx, qs, 100, want, 0};
		cr_assert_eq(pthread_create(&th[i], NULL, reader, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_assert_eq(r[i].bad, 0);
	}
	free(qs);
	free(h);
	free(id);
	model_free(&m);
	vg_mih_free(idx);
}

Test(mih, tombstones_are_reclaimed)
{
	uint64_t s = 14;
	vg_pdq *h;
	uint64_t *id;
	make_random(&s, 20000, &h, &id);
	for (size_t i = 0; i < 20000; i++)
		id[i] = i;
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 20000), 0);
	size_t full = vg_mih_memory(idx);
	for (uint64_t i = 0; i < 15000; i++)
		cr_assert_eq(vg_mih_remove(idx, i), 0);
	cr_assert_eq(vg_mih_count(idx), 5000);
	/* The next fold of pending adds compacts: the tables shrink to the live rows. */
	for (uint64_t i = 0; i < 1025; i++)
		cr_assert_eq(vg_mih_add(idx, &h[i], 100000 + i), 0);
	cr_assert_eq(vg_mih_count(idx), 6025);
	cr_assert_lt(vg_mih_memory(idx), full - 14000 * 68);
	free(h);
	free(id);
	vg_mih_free(idx);
}

/* ---- conformance: the reference's regression data ----------------------------------- */

static char *shared_path(const char *rel)
{
	const char *shared = getenv("VIGIL_SHARED");
	char buf[4096];
	if (shared && *shared)
		snprintf(buf, sizeof(buf), "%s/%s", shared, rel);
	else
		snprintf(buf, sizeof(buf), "%s/../shared/%s",
			 getenv("VIGIL_SOURCE_ROOT") ? getenv("VIGIL_SOURCE_ROOT") : ".", rel);
	return strdup(buf);
}

/* Non-blank lines of a file of hex hashes. */
static size_t read_hashes(const char *rel, vg_pdq *out, size_t max)
{
	char *path = shared_path(rel);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char line[256];
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");
		if (len == 0)
			continue;
		cr_assert_lt(n, max);
		cr_assert_eq(vg_pdq_from_hex(line, len, &out[n]), 0, "%s line %zu", rel, n + 1);
		n++;
	}
	fclose(f);
	free(path);
	return n;
}

Test(mih_conformance, needles_against_haystack_at_31)
{
	static vg_pdq needles[200], hay[2000];
	size_t nn = read_hashes("conformance/pdq/needles.txt", needles, 200);
	size_t nh = read_hashes("conformance/pdq/haystack.txt", hay, 2000);
	cr_assert_eq(nn, 100);
	cr_assert_eq(nh, 1350);

	/* Expected: "needle,haystack,distance", 1-based non-blank line numbers. */
	char *path = shared_path("conformance/pdq/expected-matches-d31.txt");
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f);
	static long want[1000][3];
	size_t nw = 0;
	char line[256];
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		cr_assert_lt(nw, 1000);
		cr_assert_eq(sscanf(line, "%ld,%ld,%ld", &want[nw][0], &want[nw][1],
				    &want[nw][2]),
			     3);
		nw++;
	}
	fclose(f);
	free(path);
	cr_assert_eq(nw, 250);

	uint64_t ids[2000];
	for (size_t i = 0; i < nh; i++)
		ids[i] = i + 1;
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, hay, ids, nh), 0);
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	for (size_t ii = 0; ii < VG_ARRAY_LEN(isas); ii++) {
		if (vg_mih_set_isa(idx, isas[ii]) != 0)
			continue;
		for (size_t si = 0; si < 2; si++) { /* the haystack is small: force the index too */
			vg_mih_set_strategy(idx, si ? VG_MIH_STRATEGY_INDEX : VG_MIH_STRATEGY_AUTO);
			size_t got = 0;
			for (size_t q = 0; q < nn; q++) {
				cr_assert_eq(vg_mih_query(idx, &needles[q], 31, &hits), 0);
				for (size_t k = 0; k < hits.n; k++, got++) {
					/* The expected file lists pairs by needle, then haystack
					 * line; ours come by distance, so look each one up. */
					bool found = false;
					for (size_t w = 0; w < nw && !found; w++)
						found = want[w][0] == (long)q + 1 &&
							want[w][1] == (long)hits.v[k].id &&
							want[w][2] == hits.v[k].distance;
					cr_assert(found, "unexpected pair %zu,%llu,%d", q + 1,
						  (unsigned long long)hits.v[k].id,
						  hits.v[k].distance);
				}
			}
			/* Every hit was expected and none repeats (ids are distinct per needle
			 * and hits are unique), so equal counts mean equal sets. */
			cr_assert_eq(got, nw, "%s: %zu pairs, expected %zu", vg_mih_isa_name(idx),
				     got, nw);
		}
	}
	vg_mih_hits_done(&hits);
	vg_mih_free(idx);
}

/* ---- snapshots ------------------------------------------------------------------------ */

static char *tmp_path(const char *name)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s/vg-test-mih-%d-%s", dir, (int)getpid(), name);
	return strdup(buf);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc(*len + 1);
	cr_assert_eq(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	cr_assert_eq(fwrite(b, 1, len, f), len);
	fclose(f);
}

/* An index with something in every part: base, tombstones, delta and pending list. */
static vg_mih *messy_index(model *m)
{
	uint64_t s = 8;
	vg_pdq *h;
	uint64_t *id;
	make_clustered(&s, 20, 200, &h, &id);
	model_from(m, h, id, 4000);
	vg_mih *idx = vg_mih_new();
	cr_assert_eq(vg_mih_build(idx, h, id, 4000), 0);
	for (int i = 0; i < 1500; i++) {
		vg_pdq x;
		rand_pdq(&s, &x);
		cr_assert_eq(vg_mih_add(idx, &x, (uint64_t)i), 0);
		model_add(m, &x, (uint64_t)i);
	}
	for (int i = 0; i < 300; i++) {
		uint64_t victim = m->id[rng_next(&s) % m->n];
		model_remove(m, victim);
		cr_assert_eq(vg_mih_remove(idx, victim), 0);
	}
	free(h);
	free(id);
	return idx;
}

Test(mih_snapshot, round_trip_keeps_every_entry)
{
	model m = {0};
	vg_mih *idx = messy_index(&m);
	char *p1 = tmp_path("a"), *p2 = tmp_path("b");
	vg_error err;
	cr_assert_eq(vg_mih_save(idx, p1, &err), 0, "%s", err.msg);
	vg_mih *back = NULL;
	cr_assert_eq(vg_mih_load(p1, 1000000, &back, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_mih_count(back), m.n);
	uint64_t s = 9;
	vg_pdq *qs = make_queries(&s, &m, 20);
	const int ds[] = {0, 31, 63};
	check_all(back, &m, qs, 20, ds, VG_ARRAY_LEN(ds));
	free(qs);

	/* Saving what was loaded gives the same bytes: the file is canonical. */
	cr_assert_eq(vg_mih_save(back, p2, &err), 0);
	size_t l1, l2;
	uint8_t *b1 = slurp(p1, &l1), *b2 = slurp(p2, &l2);
	cr_assert_eq(l1, l2);
	cr_assert_eq(l1, 40 + 40 * m.n);
	cr_assert_eq(memcmp(b1, b2, l1), 0);

	/* An empty index round-trips too. */
	vg_mih *empty = vg_mih_new();
	cr_assert_eq(vg_mih_save(empty, p2, &err), 0);
	vg_mih *eback = NULL;
	cr_assert_eq(vg_mih_load(p2, 0, &eback, &err), 0);
	cr_assert_eq(vg_mih_count(eback), 0);

	free(b1);
	free(b2);
	unlink(p1);
	unlink(p2);
	free(p1);
	free(p2);
	vg_mih_free(empty);
	vg_mih_free(eback);
	vg_mih_free(back);
	vg_mih_free(idx);
	model_free(&m);
}

Test(mih_snapshot, damaged_files_are_rejected)
{
	model m = {0};
	vg_mih *idx = messy_index(&m);
	char *p = tmp_path("good"), *bad = tmp_path("bad");
	vg_error err;
	cr_assert_eq(vg_mih_save(idx, p, &err), 0);
	size_t len;
	uint8_t *good = slurp(p, &len);
	uint8_t *b = malloc(len + 1);
	vg_mih *out = NULL;

	/* Truncated anywhere: in the header, on a record boundary, inside a record. */
	const size_t cuts[] = {0, 7, 39, 40, 79, 80, len / 2, len - 40, len - 1};
	for (size_t i = 0; i < VG_ARRAY_LEN(cuts); i++) {
		spit(bad, good, cuts[i]);
		cr_assert_eq(vg_mih_load(bad, 1000000, &out, &err), VG_ECORRUPT, "cut at %zu",
			     cuts[i]);
	}
	/* A trailing byte. */
	memcpy(b, good, len);
	b[len] = 0;
	spit(bad, b, len + 1);
	cr_assert_eq(vg_mih_load(bad, 1000000, &out, &err), VG_ECORRUPT);
	/* One flipped bit anywhere in the header or in a sample of records. */
	for (size_t at = 0; at < len; at += at < 48 ? 1 : 997) {
		if (at >= 8 && at < 12)
			continue; /* the version field: see below */
		memcpy(b, good, len);
		b[at] ^= 0x10;
		spit(bad, b, len);
		cr_assert_eq(vg_mih_load(bad, 1000000, &out, &err), VG_ECORRUPT, "flip at %zu",
			     at);
	}
	/* Two records swapped: every byte is plausible, the order is not. */
	memcpy(b, good, len);
	memcpy(b + 40, good + 80, 40);
	memcpy(b + 80, good + 40, 40);
	spit(bad, b, len);
	cr_assert_eq(vg_mih_load(bad, 1000000, &out, &err), VG_ECORRUPT);
	/* A version from the future is unsupported, not corrupt. */
	memcpy(b, good, len);
	b[8] = 2;
	spit(bad, b, len);
	cr_assert_eq(vg_mih_load(bad, 1000000, &out, &err), VG_EUNSUPPORTED);
	/* Over the caller's limit: refused before anything is allocated. */
	cr_assert_eq(vg_mih_load(p, 10, &out, &err), VG_ETOOBIG);
	/* Absent. */
	unlink(bad);
	cr_assert_eq(vg_mih_load(bad, 1000000, &out, &err), VG_ENOENT);
	cr_assert_null(out);
	/* Random garbage of many sizes never crashes and never loads. */
	uint64_t s = 10;
	for (int i = 0; i < 200; i++) {
		size_t n = (size_t)(rng_next(&s) % 200);
		memcpy(b, good, n < len ? n : len);
		for (size_t k = 0; k < n && k < len; k += 1 + rng_next(&s) % 16)
			b[k] = (uint8_t)rng_next(&s);
		spit(bad, b, n < len ? n : len);
		int rc = vg_mih_load(bad, 1000000, &out, &err);
		cr_assert(rc == VG_ECORRUPT || rc == VG_EUNSUPPORTED, "rc %d", rc);
	}
	/* Saving into a directory that does not exist fails cleanly. */
	cr_assert_eq(vg_mih_save(idx, "/nonexistent-dir/x.mih", &err), VG_EIO);

	unlink(bad);
	unlink(p);
	free(p);
	free(bad);
	free(b);
	free(good);
	vg_mih_free(idx);
	model_free(&m);
}
