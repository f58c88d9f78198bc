/* SPDX-License-Identifier: Apache-2.0
 *
 * bench-rules: events per second through the rules engine, in process (no file, no
 * HTTP), for the reference rule pack (bench/rules: every rule function, four banks) on
 * the benchmarks' synthetic stream (bench/events/gen_events.h: logins, uploads with PDQ
 * hashes, HTTP requests with URLs and addresses, attack campaigns; a million users).
 * The banks are built through the store API in a temporary database, from the same
 * generator, so a share of the events match them.
 *
 * Prints the decoder alone (ours and jansson's DOM, the reason ours exists), then the
 * engine on 1 worker, 2 workers and every core count past that, each as the median of
 * --runs runs with min and max; runs of the peers interleave so a noisy neighbour hits
 * them alike. Ratios compare figures of this one process. Then the verdicts by action.
 * Never passes or fails on time.
 *
 *   bench-rules [--events N] [--keys K] [--runs R] [--rules DIR]
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "events/gen_events.h"
#include "rules/rules.h"

#define DECODE_EVENTS 500000 /* the decoder runs on this many at most */
#define RUNS_MAX 15
#define WORKERS_MAX 64

typedef struct events {
	char *buf;
	size_t *off; /* event i is buf[off[i] .. off[i+1]) */
	size_t n;
} events;

static void events_make(events *ev, size_t n, const gen_opts *o)
{
	gen *g = gen_new(o);
	size_t cap = n * 256 + GEN_LINE_MAX, used = 0;
	ev->buf = vg_xmalloc(cap);
	ev->off = vg_xmalloc((n + 1) * sizeof(*ev->off));
	ev->n = n;
	for (size_t i = 0; i < n; i++) {
		if (cap - used < GEN_LINE_MAX) {
			cap *= 2;
			if (!(ev->buf = realloc(ev->buf, cap)))
				abort();
		}
		ev->off[i] = used;
		used += gen_next(g, ev->buf + used);
	}
	ev->off[n] = used;
	gen_free(g);
}

/* ---- banks ----------------------------------------------------------------------------- */
#define BANKS_MAX 8

typedef struct bank_load {
	vg_store *s;
	struct {
		char name[VG_STORE_NAME_MAX + 1];
		const char *type;
		int64_t id;
		size_t count;
	} b[BANKS_MAX];
	int nb; /* b[nb - 1] is the bank being filled */
	vg_error err;
} bank_load;

/* Creates each bank as its first signal comes (the generator gives them in a row). */
static int add_signal(const char *bank, const char *type, const char *value, void *ctx)
{
	bank_load *l = ctx;
	if (l->nb == 0 || strcmp(bank, l->b[l->nb - 1].name) != 0) {
		vg_store_bank sb;
		if (l->nb == BANKS_MAX)
			return -1;
		if (vg_store_bank_create(l->s, bank, "bench/events", &l->err) ||
		    vg_store_bank_get(l->s, bank, &sb, &l->err))
			return -1;
		snprintf(l->b[l->nb].name, sizeof(l->b[l->nb].name), "%s", bank);
		l->b[l->nb].type = type;
		l->b[l->nb].id = sb.id;
		l->b[l->nb++].count = 0;
		vg_store_bank_done(&sb);
	}
	int64_t id;
	vg_store_add_result res;
	if (vg_store_signal_add(l->s, l->b[l->nb - 1].id, type, value, NULL, &id, &res, &l->err))
		return -1;
	l->b[l->nb - 1].count++;
	return 0;
}

/* Fills a fresh store at path with the generator's banks, opens them for match() and
 * prints what they hold. */
static int banks_make(const char *path, const gen_opts *o, vg_rules_banks **ret)
{
	bank_load l = {0};
	gen *g = gen_new(o);
	int rc = vg_store_open(path, &l.s, &l.err);
	if (!rc && !(rc = vg_store_begin(l.s, &l.err)))
		rc = gen_banks(g, add_signal, &l) ? -1 : vg_store_commit(l.s, &l.err);
	if (!rc)
		rc = vg_rules_banks_open(l.s, 31, ret, &l.err);
	if (rc)
		fprintf(stderr, "bench-rules: banks: %s\n", l.err.msg);
	for (int i = 0; i < l.nb && !rc; i++)
		printf("bank %-18s %6zu %s\n", l.b[i].name, l.b[i].count, l.b[i].type);
	gen_free(g);
	vg_store_close(l.s);
	return rc;
}

/* ---- figures ------------------------------------------------------------------------- */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

typedef struct figure {
	double v[RUNS_MAX];
	int n;
} figure;

static double median(const figure *f)
{
	double s[RUNS_MAX];
	memcpy(s, f->v, sizeof(double) * (size_t)f->n);
	qsort(s, (size_t)f->n, sizeof(double), cmp_double);
	return f->n % 2 ? s[f->n / 2] : (s[f->n / 2 - 1] + s[f->n / 2]) / 2;
}

static void print_figure(const char *what, const figure *f)
{
	double lo = f->v[0], hi = f->v[0];
	for (int i = 1; i < f->n; i++) {
		lo = f->v[i] < lo ? f->v[i] : lo;
		hi = f->v[i] > hi ? f->v[i] : hi;
	}
	printf("%-20s %10.0f events/s  (min %.0f, max %.0f)", what, median(f), lo, hi);
}

/* ---- the decoder alone ------------------------------------------------------------------- */
static double decode_ours(const events *ev, size_t n)
{
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	vg_error err;
	vg_usec t0 = vg_time_mono();
	for (size_t i = 0; i < n; i++)
		if (vg_json_decode(&doc, ev->buf + ev->off[i], ev->off[i + 1] - ev->off[i], &err))
			abort(); /* the generator writes valid JSON */
	vg_usec t = vg_time_mono() - t0;
	vg_json_doc_done(&doc);
	return (double)n * 1e6 / (double)t;
}

static double decode_jansson(const events *ev, size_t n)
{
	vg_usec t0 = vg_time_mono();
	for (size_t i = 0; i < n; i++) {
		json_error_t jerr;
		json_t *j = json_loadb(ev->buf + ev->off[i], ev->off[i + 1] - ev->off[i], 0, &jerr);
		if (!j)
			abort();
		json_decref(j);
	}
	return (double)n * 1e6 / (double)(vg_time_mono() - t0);
}

static void decode_bench(const events *ev, int runs)
{
	size_t n = ev->n < DECODE_EVENTS ? ev->n : DECODE_EVENTS;
	figure ours = {.n = runs}, jansson = {.n = runs};
	for (int r = 0; r < runs; r++) {
		ours.v[r] = decode_ours(ev, n);
		jansson.v[r] = decode_jansson(ev, n);
	}
	print_figure("decode, ours", &ours);
	printf("\n");
	print_figure("decode, jansson DOM", &jansson);
	printf("  ours %.2fx\n", median(&ours) / median(&jansson));
}

/* ---- a counter table growing to a million keys ------------------------------------------------
 * The slowest single count() is what a rule's CPU budget and an event's latency see; the
 * median is the ordinary one. CPU time of this thread, so a descheduled moment is not
 * counted. */
static double thread_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void growth_bench(void)
{
	enum { KEYS = 1 << 20 };
	vg_counters *c = vg_counters_new(KEYS);
	double *t = vg_xmalloc(KEYS * sizeof(*t)), worst = 0;
	size_t at = 0;
	char key[40];
	for (size_t i = 0; i < KEYS; i++) {
		int n = snprintf(key, sizeof(key), "requests:10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255,
				 i & 255);
		double t0 = thread_ms();
		vg_counters_add(c, key, (size_t)n, 10 * 1000000, 1700000000ll * 1000000, 1);
		t[i] = thread_ms() - t0;
		if (t[i] > worst) {
			worst = t[i];
			at = i;
		}
	}
	qsort(t, KEYS, sizeof(*t), cmp_double);
	printf("counter table to %d keys: median count() %.2f us, slowest %.2f ms (key %zu), "
	       "99.99th %.3f ms\n",
	       KEYS, t[KEYS / 2] * 1e3, worst, at, t[KEYS - KEYS / 10000]);
	free(t);
	vg_counters_free(c);
}

/* ---- the engine --------------------------------------------------------------------------- */
static int engine_run(const vg_ruleset *rs, const vg_rules_banks *banks, int workers,
		      const events *ev, double *ret_rate, vg_rules_stats *ret_stats)
{
	vg_rules_opts o = {.workers = workers, .banks = banks};
	vg_rules_engine *e;
	vg_error err;
	if (vg_rules_engine_new(rs, &o, &e, &err)) {
		fprintf(stderr, "bench-rules: %s\n", err.msg);
		return -1;
	}
	vg_usec t0 = vg_time_mono();
	for (size_t i = 0; i < ev->n; i++)
		vg_rules_engine_push(e, ev->buf + ev->off[i], ev->off[i + 1] - ev->off[i], i + 1);
	int rc = vg_rules_engine_drain(e, ret_stats, &err);
	vg_usec t = vg_time_mono() - t0;
	if (rc)
		fprintf(stderr, "bench-rules: %s\n", err.msg);
	*ret_rate = (double)ret_stats->events * 1e6 / (double)t;
	vg_rules_engine_free(e);
	return rc;
}

static void print_verdicts(const char *what, const uint64_t v[VG_ACTION_COUNT], uint64_t n)
{
	uint64_t sum = 0;
	printf("  %-7s", what);
	for (int a = 0; a < VG_ACTION_COUNT; a++) {
		printf(" %s %llu", vg_action_name((vg_action)a), (unsigned long long)v[a]);
		sum += v[a];
	}
	printf("  (%.2f%% of events)\n", 100.0 * (double)sum / (double)n);
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-rules [--events N] [--keys K] [--runs R] [--rules DIR]\n"
			"  --events N  events per run (default 2000000)\n"
			"  --keys K    distinct users (default 1000000)\n"
			"  --runs R    runs per figure, 1..%d (default 3)\n"
			"  --rules DIR the rule pack (default %s)\n",
		RUNS_MAX, BENCH_RULES_DIR);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"events", required_argument, NULL, 'n'}, {"keys", required_argument, NULL, 'k'},
		{"runs", required_argument, NULL, 'r'},   {"rules", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	size_t n = 2000000;
	int runs = 3;
	const char *dir = BENCH_RULES_DIR;
	gen_opts go = {0};
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			go.keys = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || n == 0 || runs < 1 || runs > RUNS_MAX)
		return usage();
	vg_log_set_level(VG_LOG_ERROR);

	vg_error err;
	vg_ruleset *rs;
	if (vg_ruleset_load_dir(dir, &rs, &err)) {
		fprintf(stderr, "bench-rules: %s\n", err.msg);
		return 1;
	}
	events ev;
	events_make(&ev, n, &go);
	int cores = vg_cpu_count();
	printf("bench-rules: %zu events (%.0f bytes each, %u keys), %zu rules from %s, %d cores\n",
	       n, (double)ev.off[n] / (double)n, go.keys ? go.keys : 1000000, vg_ruleset_count(rs),
	       dir, cores);

	/* The banks are read into memory once; the database is not needed after that. */
	char tmp[] = "/tmp/bench-rules-XXXXXX", db[64];
	if (!mkdtemp(tmp)) {
		perror("bench-rules: mkdtemp");
		return 1;
	}
	snprintf(db, sizeof(db), "%s/banks.db", tmp);
	vg_rules_banks *banks = NULL;
	int rc = banks_make(db, &go, &banks);
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < VG_ARRAY_LEN(suffixes); i++) {
		char p[80];
		snprintf(p, sizeof(p), "%s%s", db, suffixes[i]);
		unlink(p);
	}
	rmdir(tmp);
	if (rc) {
		vg_ruleset_free(rs);
		return 1;
	}
	decode_bench(&ev, runs);
	growth_bench();

	/* 1 and 2 workers, then every core count past 2. */
	int nw = cores > 2 ? (cores < WORKERS_MAX ? cores : WORKERS_MAX) : 2;
	figure *rate = vg_xcalloc((size_t)nw, sizeof(*rate));
	vg_rules_stats *stats = vg_xcalloc((size_t)nw, sizeof(*stats));
	for (int r = 0; r < runs && !rc; r++)
		for (int w = 1; w <= nw && !rc; w++) {
			rate[w - 1].n = r + 1;
			rc = engine_run(rs, banks, w, &ev, &rate[w - 1].v[r], &stats[w - 1]);
		}
	for (int w = 1; w <= nw && !rc; w++) {
		char what[32];
		snprintf(what, sizeof(what), "engine, %d worker%s", w, w == 1 ? "" : "s");
		print_figure(what, &rate[w - 1]);
		if (w > 1)
			printf("  %.2fx 1 worker", median(&rate[w - 1]) / median(&rate[0]));
		printf("\n");
	}
	for (int w = 1; w <= nw && !rc; w++) {
		const vg_rules_stats *st = &stats[w - 1];
		printf("verdicts, %d worker%s: %llu events, %llu bad, %llu rule errors, %llu budget "
		       "stops\n",
		       w, w == 1 ? "" : "s", (unsigned long long)st->events,
		       (unsigned long long)st->bad_events, (unsigned long long)st->rule_errors,
		       (unsigned long long)st->budget_stops);
		print_verdicts("live", st->verdicts, st->events);
		print_verdicts("shadow", st->shadow_verdicts, st->events);
	}
	free(rate);
	free(stats);
	free(ev.buf);
	free(ev.off);
	vg_rules_banks_free(banks);
	vg_ruleset_free(rs);
	return rc ? 1 : 0;
}
