/* SPDX-License-Identifier: Apache-2.0
 *
 * PDQ index benchmark: for random and clustered banks (1 000 centres, each with variants
 * at 1..40 flipped bits) of the given sizes, prints build time, memory per hash (bytes
 * the index allocated, and the process RSS growth), single-thread queries/s at d = 31
 * (median of several runs) for queries near a bank entry and for unrelated queries, the
 * same on all cores, a threshold sweep, and brute force measured in the same run: a plain
 * popcount loop and the index's own AVX-512/AVX2 linear scan. Every figure is printed,
 * none is judged; hits are cross-checked against the linear scan so that a fast wrong
 * index cannot print a good number.
 *
 * usage: bench-match [--sizes 1000000,10000000] [--queries N] [--runs N]
 *                    [--kinds random,clustered] [--dump DIR]
 * --dump writes each bank, its queries and vigil's hits per query to DIR for
 * bench/match_faiss.py.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "match/match.h"

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

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

static size_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, res = 0;
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static double now_s(void)
{
	return (double)vg_time_mono() / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- brute force as anyone would write it, with the popcount instruction ------------- */

#if defined(__x86_64__)
__attribute__((target("popcnt")))
#endif
static size_t
brute_popcnt(const vg_pdq *h, size_t n, const vg_pdq *q, int d)
{
	size_t hits = 0;
	for (size_t i = 0; i < n; i++) {
		int dist = __builtin_popcountll(h[i].w[0] ^ q->w[0]) +
			   __builtin_popcountll(h[i].w[1] ^ q->w[1]) +
			   __builtin_popcountll(h[i].w[2] ^ q->w[2]) +
			   __builtin_popcountll(h[i].w[3] ^ q->w[3]);
		hits += dist <= d;
	}
	return hits;
}

/* ---- query loops ------------------------------------------------------------------- */

/* Queries/s over qs, single thread, median of runs; *ret_hits = hits per query. A run
 * stops early once it has taken max_s seconds (0: never). */
static double qps_bounded(const vg_mih *idx, const vg_pdq *qs, size_t nq, int d, int runs,
			  double max_s, double *ret_hits)
{
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	double *r = malloc((size_t)runs * sizeof(*r));
	size_t total = 0, done = 0;
	for (int k = 0; k < runs; k++) {
		total = 0;
		double t0 = now_s();
		for (done = 0; done < nq; done++) {
			if (vg_mih_query(idx, &qs[done], d, &hits) != 0)
				abort();
			total += hits.n;
			if (max_s > 0 && (done & 63) == 63 && now_s() - t0 > max_s) {
				done++;
				break;
			}
		}
		r[k] = (double)done / (now_s() - t0);
	}
	double m = median(r, runs);
	free(r);
	vg_mih_hits_done(&hits);
	if (ret_hits)
		*ret_hits = (double)total / (double)done;
	return m;
}

static double qps(const vg_mih *idx, const vg_pdq *qs, size_t nq, int d, int runs,
		  double *ret_hits)
{
	return qps_bounded(idx, qs, nq, d, runs, 0, ret_hits);
}

struct par {
	const vg_mih *idx;
	const vg_pdq *qs;
	size_t nq;
	int d;
};

static void *par_worker(void *arg)
{
	struct par *p = arg;
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	for (size_t i = 0; i < p->nq; i++)
		if (vg_mih_query(p->idx, &p->qs[i], p->d, &hits) != 0)
			abort();
	vg_mih_hits_done(&hits);
	return NULL;
}

/* Queries/s with one thread per core, each running the whole query set. */
static double qps_all_cores(const vg_mih *idx, const vg_pdq *qs, size_t nq, int d,
			    int threads)
{
	pthread_t th[64];
	struct par p = {idx, qs, nq, d};
	if (threads > 64)
		threads = 64;
	double t0 = now_s();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, par_worker, &p);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	return (double)nq * threads / (now_s() - t0);
}

/* ---- data -------------------------------------------------------------------------- */

enum kind { RANDOM, CLUSTERED };

static void make_bank(enum kind kind, size_t n, uint64_t seed, vg_pdq *h, uint64_t *id)
{
	uint64_t s = seed;
	const size_t centres = 1000;
	vg_pdq centre = {{0}};
	for (size_t i = 0; i < n; i++) {
		id[i] = i + 1; /* signal ids as a store hands them out */
		if (kind == RANDOM) {
			for (int k = 0; k < 4; k++)
				h[i].w[k] = rng_next(&s);
			continue;
		}
		/* Family c holds rows c, c + centres, c + 2 centres, ...: interleaved, as
		 * banks receive them over time. */
		uint64_t cs = seed ^ (i % centres) * UINT64_C(0x9e3779b97f4a7c15);
		for (int k = 0; k < 4; k++)
			centre.w[k] = rng_next(&cs);
		h[i] = centre;
		flip(&s, &h[i], 1 + (int)(rng_next(&s) % 40));
	}
}

/* Near: a bank entry with 0..31 bits flipped (at least one hit at d = 31). Far: random,
 * like most uploads, which match nothing. */
static void make_queries(const vg_pdq *h, size_t n, size_t nq, uint64_t seed, vg_pdq *near,
			 vg_pdq *far)
{
	uint64_t s = seed;
	for (size_t i = 0; i < nq; i++) {
		near[i] = h[rng_next(&s) % n];
		flip(&s, &near[i], (int)(rng_next(&s) % 32));
		for (int k = 0; k < 4; k++)
			far[i].w[k] = rng_next(&s);
	}
}

static int dump(const char *dir, const char *name, const void *p, size_t bytes)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, bytes, f) != bytes) {
		fprintf(stderr, "bench-match: cannot write %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

/* ---- one bank ------------------------------------------------------------------------ */

struct opts {
	size_t queries;
	int runs;
	const char *dump_dir;
};

static void bench_bank(enum kind kind, size_t n, const struct opts *o)
{
	const char *kname = kind == RANDOM ? "random" : "clustered";
	vg_pdq *h = malloc(n * sizeof(*h));
	uint64_t *id = malloc(n * sizeof(*id));
	size_t nq = o->queries;
	vg_pdq *near = malloc(nq * sizeof(*near)), *far = malloc(nq * sizeof(*far));
	if (!h || !id || !near || !far) {
		fprintf(stderr, "bench-match: out of memory for %zu hashes\n", n);
		exit(1);
	}
	make_bank(kind, n, 42 + n, h, id);
	make_queries(h, n, nq, 7 + n, near, far);

	printf("\n== %s bank, %zu hashes ==\n", kname, n);
	if (o->dump_dir) {
		char name[64];
		snprintf(name, sizeof(name), "%s-%zu.base", kname, n);
		dump(o->dump_dir, name, h, n * sizeof(*h));
		snprintf(name, sizeof(name), "%s-%zu.near", kname, n);
		dump(o->dump_dir, name, near, nq * sizeof(*near));
		snprintf(name, sizeof(name), "%s-%zu.far", kname, n);
		dump(o->dump_dir, name, far, nq * sizeof(*far));
	}

	size_t rss0 = rss_bytes();
	vg_mih *idx = vg_mih_new();
	double t0 = now_s();
	if (!idx || vg_mih_build(idx, h, id, n) != 0) {
		fprintf(stderr, "bench-match: build failed\n");
		exit(1);
	}
	double build_s = now_s() - t0;
	size_t rss1 = rss_bytes();
	printf("build             %.3f s (%.0f k hashes/s, %d threads at most)\n", build_s,
	       (double)n / build_s / 1e3, vg_cpu_count() < 8 ? vg_cpu_count() : 8);
	printf("memory            %.1f bytes/hash allocated by the index, %.1f bytes/hash RSS "
	       "growth\n",
	       (double)vg_mih_memory(idx) / (double)n, (double)(rss1 - rss0) / (double)n);
	printf("                  (hash 32 + id 8 + tables; the caller's input arrays, 40 "
	       "bytes/hash, are not counted)\n");
	printf("kernels           %s\n", vg_mih_isa_name(idx));

	/* Snapshot: how fast a bank of this size starts. */
	{
		char path[4096];
		const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		snprintf(path, sizeof(path), "%s/bench-match-%d.mih", dir, (int)getpid());
		vg_error err;
		double ts = now_s();
		int rc = vg_mih_save(idx, path, &err);
		double save_s = now_s() - ts;
		vg_mih *back = NULL;
		ts = now_s();
		if (rc == 0)
			rc = vg_mih_load(path, n, &back, &err);
		double load_s = now_s() - ts;
		if (rc == 0)
			printf("snapshot          save %.3f s, load %.3f s (read, checksum, rebuild), "
			       "%.0f MB\n",
			       save_s, load_s, (double)(40 + 40 * n) / 1e6);
		else
			printf("snapshot          failed: %s\n", err.msg);
		vg_mih_free(back);
		unlink(path);
	}

	/* Cross-check a sample against the linear scan before timing anything. */
	{
		vg_mih_hits a, b;
		vg_mih_hits_init(&a, 0);
		vg_mih_hits_init(&b, 0);
		vg_mih *scan = idx;
		size_t bad = 0, sample = nq < 50 ? nq : 50;
		const int ds[] = {0, 8, 31, 48, 63};
		for (size_t i = 0; i < sample; i++) {
			for (size_t k = 0; k < 5; k++) {
				vg_mih_set_strategy(scan, VG_MIH_STRATEGY_AUTO);
				if (vg_mih_query(idx, &near[i], ds[k], &a) != 0)
					abort();
				vg_mih_set_strategy(scan, VG_MIH_STRATEGY_SCAN);
				if (vg_mih_query(idx, &near[i], ds[k], &b) != 0)
					abort();
				bool same = a.n == b.n;
				for (size_t j = 0; same && j < a.n; j++)
					same = a.v[j].id == b.v[j].id &&
					       a.v[j].distance == b.v[j].distance;
				bad += !same;
			}
		}
		vg_mih_set_strategy(scan, VG_MIH_STRATEGY_AUTO);
		printf("exactness         %zu of %zu sampled queries differ from the linear scan "
		       "(d = 0, 8, 31, 48, 63)\n",
		       bad, sample * 5);
		vg_mih_hits_done(&a);
		vg_mih_hits_done(&b);
	}

	if (o->dump_dir) {
		/* Hits per near query at d = 31, for match_faiss.py to compare query by query. */
		uint32_t *per = malloc(nq * sizeof(*per));
		vg_mih_hits hh;
		vg_mih_hits_init(&hh, 0);
		for (size_t i = 0; i < nq; i++) {
			if (vg_mih_query(idx, &near[i], 31, &hh) != 0)
				abort();
			per[i] = (uint32_t)hh.n;
		}
		vg_mih_hits_done(&hh);
		char name[64];
		snprintf(name, sizeof(name), "%s-%zu.near-hits", kname, n);
		dump(o->dump_dir, name, per, nq * sizeof(*per));
		free(per);
	}

	double hits_near, hits_far;
	double q_near = qps(idx, near, nq, 31, o->runs, &hits_near);
	double q_far = qps(idx, far, nq, 31, o->runs, &hits_far);
	printf("d=31 index        %9.0f q/s near (%.1f hits/query)   %9.0f q/s unrelated (%.2f "
	       "hits/query)   [1 thread, median of %d]\n",
	       q_near, hits_near, q_far, hits_far, o->runs);
	int cores = vg_cpu_count();
	printf("d=31 index        %9.0f q/s near on %d threads\n",
	       qps_all_cores(idx, near, nq, 31, cores), cores);

	/* Brute force on fewer queries: it is thousands of times slower. */
	size_t nb = (size_t)(2e8 / (double)n);
	if (nb < 10)
		nb = 10;
	if (nb > nq)
		nb = nq;
	double r[16];
	int runs = o->runs < 16 ? o->runs : 16;
	size_t sink = 0;
	for (int k = 0; k < runs; k++) {
		double tb = now_s();
		for (size_t i = 0; i < nb; i++)
			sink += brute_popcnt(h, n, &near[i], 31);
		r[k] = (double)nb / (now_s() - tb);
	}
	double q_brute = median(r, runs);
	vg_mih_set_strategy(idx, VG_MIH_STRATEGY_SCAN);
	double q_scan = qps(idx, near, nb, 31, runs, NULL);
	vg_mih_set_strategy(idx, VG_MIH_STRATEGY_AUTO);
	printf("d=31 brute force  %9.1f q/s popcnt loop   %9.1f q/s %s linear scan   (%zu "
	       "queries, %zu hits)\n",
	       q_brute, q_scan, vg_mih_isa_name(idx), nb, sink / (size_t)runs);
	printf("d=31 speed-up     %9.0fx over the popcnt loop   %9.0fx over the SIMD scan\n",
	       q_near / q_brute, q_near / q_scan);

	/* Each per-segment strategy forced in turn (the quarter index exists only on
	 * segments of up to 128K rows; elsewhere QUARTER runs as AUTO), at the threshold
	 * of most rules and a tight one: the figures the cost model in mih.c is fitted to. */
	static const struct {
		vg_mih_strategy s;
		const char *name;
	} strats[] = {{VG_MIH_STRATEGY_AUTO, "auto"},
		      {VG_MIH_STRATEGY_QUARTER, "quarter"},
		      {VG_MIH_STRATEGY_INDEX, "multi-index"},
		      {VG_MIH_STRATEGY_SCAN, "scan"}};
	for (int d = 31; d >= 8; d -= 23) {
		printf("d=%-2d strategies   ", d);
		for (size_t k = 0; k < VG_ARRAY_LEN(strats); k++) {
			vg_mih_set_strategy(idx, strats[k].s);
			double v = qps_bounded(idx, near, nq, d, o->runs, 0.5, NULL);
			double f = qps_bounded(idx, far, nq, d, o->runs, 0.5, NULL);
			printf("%s %.0f/%.0f%s", strats[k].name, v, f,
			       k + 1 < VG_ARRAY_LEN(strats) ? ", " : "  q/s near/unrelated\n");
		}
	}
	vg_mih_set_strategy(idx, VG_MIH_STRATEGY_AUTO);

	/* Threshold sweep, near queries, at most half a second per run. */
	printf("thresholds        ");
	const int ds[] = {0, 8, 16, 24, 31, 40, 48, 56, 63};
	for (size_t k = 0; k < VG_ARRAY_LEN(ds); k++) {
		double hq;
		double v = qps_bounded(idx, near, nq, ds[k], 3, 0.5, &hq);
		printf("d=%d %.0f q/s (%.0f hits)%s", ds[k], v, hq,
		       k + 1 < VG_ARRAY_LEN(ds) ? ", " : "\n");
		if (k == 4)
			printf("\n                  ");
	}

	vg_mih_free(idx);
	free(h);
	free(id);
	free(near);
	free(far);
}

int main(int argc, char **argv)
{
	struct opts o = {.queries = 20000, .runs = 5, .dump_dir = NULL};
	size_t sizes[16] = {1000000, 10000000};
	int nsizes = 2;
	bool kinds[2] = {true, true};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--sizes") && v) {
			nsizes = 0;
			for (char *p = argv[++i]; *p && nsizes < 16;) {
				char *end;
				sizes[nsizes++] = strtoull(p, &end, 10);
				p = *end == ',' ? end + 1 : end;
				if (end == p && *p)
					break;
			}
		} else if (!strcmp(a, "--queries") && v) {
			o.queries = strtoull(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--runs") && v) {
			o.runs = atoi(argv[++i]);
		} else if (!strcmp(a, "--kinds") && v) {
			kinds[0] = strstr(v, "random") != NULL;
			kinds[1] = strstr(v, "clustered") != NULL;
			i++;
		} else if (!strcmp(a, "--dump") && v) {
			o.dump_dir = argv[++i];
			mkdir(o.dump_dir, 0755);
		} else {
			fprintf(stderr,
				"usage: bench-match [--sizes N,N...] [--queries N] [--runs N] "
				"[--kinds random,clustered] [--dump DIR]\n");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0); /* figures appear as they are measured */
	if (o.queries < 1)
		o.queries = 1;
	if (o.runs < 1)
		o.runs = 1;
	printf("bench-match: PDQ multi-index, %d cores, %zu queries per run\n", vg_cpu_count(),
	       o.queries);
	printf("reference (NOTES.md, 1M random, d=31): C++ MIH ~505 q/s (build 18-25 s, RSS 304 "
	       "MB); linear ~82 q/s; AVX-512 flat ~3200 q/s\n");
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < nsizes; i++)
			if (kinds[k] && sizes[i] > 0)
				bench_bank(k ? CLUSTERED : RANDOM, sizes[i], &o);
	return 0;
}
