/* SPDX-License-Identifier: Apache-2.0
 *
 * The state rules keep: sliding-window counters (never under the true count, at most one
 * bucket over, bounded keys), distinct counts (exact to 16, HyperLogLog within 5% beyond,
 * window rotation), labels (expiry, bound) and duration parsing; and the table under all
 * three: the bound under churn, keys past the inline size, many windows per key, CLOCK
 * keeping a hot key through a flood of one-off keys, and differential runs against a
 * plain reference (with and without evictions, which are the table's only deletions, and
 * with the table filling while its slots grow).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rules/internal.h"
#include "rules/rules.h"

#define S 1000000ll

Test(state, durations)
{
	vg_usec u;
	cr_assert_eq(vg_rules_duration_parse("10s", 3, &u), 0);
	cr_assert_eq(u, 10 * S);
	cr_assert_eq(vg_rules_duration_parse("5m", 2, &u), 0);
	cr_assert_eq(u, 300 * S);
	cr_assert_eq(vg_rules_duration_parse("24h", 3, &u), 0);
	cr_assert_eq(u, 86400 * S);
	cr_assert_eq(vg_rules_duration_parse("250ms", 5, &u), 0);
	cr_assert_eq(u, 250000);
	/* The bounds docs/rules.md gives: 1 to 1,000,000,000 of a unit, 53,375,995 days in all. */
	cr_assert_eq(vg_rules_duration_parse("1000000000s", 11, &u), 0);
	cr_assert_eq(u, 1000000000 * S);
	cr_assert_eq(vg_rules_duration_parse("53375995d", 9, &u), 0);
	cr_assert_eq(u, 53375995ll * 86400 * S);
	static const char *const bad[] = {"", "s", "0s", "-1s", "10", "10x", "1.5s", "99999999999999h",
					  "1000000001s", "53375996d"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_neq(vg_rules_duration_parse(bad[i], strlen(bad[i]), &u), 0, "%s", bad[i]);
}

Test(state, sliding_window_counts)
{
	vg_counters *c = vg_counters_new(100);
	vg_usec t0 = 1700000000 * S, w = 10 * S;
	for (int i = 1; i <= 5; i++)
		cr_assert_eq(vg_counters_add(c, "k", 1, w, t0 + i * S, 1), (uint64_t)i);
	/* Another key and another window on the same key are separate counters. */
	cr_assert_eq(vg_counters_add(c, "j", 1, w, t0, 1), 1);
	cr_assert_eq(vg_counters_add(c, "k", 1, 60 * S, t0, 1), 1);
	/* 10 s after the first five: at most the bucket of slack keeps any of them. */
	uint64_t n = vg_counters_add(c, "k", 1, w, t0 + 5 * S + w + w / 16 + 1, 1);
	cr_assert_leq(n, 2, "old events must leave the window (got %llu)", (unsigned long long)n);
	/* Long after: starts again. */
	cr_assert_eq(vg_counters_add(c, "k", 1, w, t0 + 1000 * S, 1), 1);
	vg_counters_free(c);
}

Test(state, window_count_is_never_below_the_truth)
{
	/* Events every 100 ms for a minute; the count over a 10 s window must lie between the
	 * true count and the true count plus one bucket (10 s / 16 = 625 ms: 7 events). */
	vg_counters *c = vg_counters_new(10);
	vg_usec t0 = 1700000000 * S, w = 10 * S;
	for (int i = 0; i < 600; i++) {
		vg_usec now = t0 + i * 100000;
		uint64_t got = vg_counters_add(c, "k", 1, w, now, 1);
		uint64_t truth = (uint64_t)(i < 100 ? i + 1 : 100);
		cr_assert_geq(got, truth, "i=%d got %llu want >= %llu", i, (unsigned long long)got,
			      (unsigned long long)truth);
		cr_assert_leq(got, truth + 7, "i=%d got %llu", i, (unsigned long long)got);
	}
	vg_counters_free(c);
}

Test(state, window_sum_is_never_below_the_truth)
{
	/* Amounts 1, 2, 3, ... every 100 ms; the total over a 10 s window lies between the
	 * true total and it plus one bucket's (625 ms: the 7 amounts before the window). */
	vg_sums *m = vg_sums_new(10);
	vg_usec t0 = 1700000000 * S, w = 10 * S;
	for (int i = 0; i < 600; i++) {
		double got = vg_sums_add(m, "k", 1, w, t0 + i * 100000, (double)(i + 1));
		int first = i < 100 ? 0 : i - 99; /* the oldest event inside the window */
		double truth = 0, slack = 0;
		for (int j = first; j <= i; j++)
			truth += j + 1;
		for (int j = first - 7; j < first; j++)
			slack += j >= 0 ? j + 1 : 0;
		cr_assert_geq(got, truth, "i=%d got %.0f want >= %.0f", i, got, truth);
		cr_assert_leq(got, truth + slack, "i=%d got %.0f", i, got);
	}
	/* Other keys and windows are their own; fractions add; old amounts leave. */
	cr_assert_eq(vg_sums_add(m, "j", 1, w, t0, 2.5), 2.5);
	cr_assert_eq(vg_sums_add(m, "j", 1, w, t0 + S, 0.25), 2.75);
	cr_assert_eq(vg_sums_add(m, "j", 1, 60 * S, t0, 1), 1);
	cr_assert_eq(vg_sums_add(m, "j", 1, w, t0 + 1000 * S, 4), 4);
	cr_assert_eq(vg_sums_size(m), 3);
	vg_sums_free(m);
}

/* Windows that 16 buckets do not divide (1 ms, 125 ms, 31 us, a number of seconds): the
 * buckets round up, so the newest and the 16 before it still span the whole window. Two
 * events closer than the window both count, whatever their phase against the buckets. */
Test(state, odd_windows_never_count_short)
{
	static const vg_usec windows[] = {1000, 125000, 31, 20, 17, 1000001};
	vg_counters *c = vg_counters_new(64);
	vg_sums *m = vg_sums_new(64);
	for (size_t k = 0; k < VG_ARRAY_LEN(windows); k++) {
		vg_usec w = windows[k];
		for (vg_usec phase = 0; phase < 40; phase++) {
			char key[32];
			int n = snprintf(key, sizeof(key), "%zu/%lld", k, (long long)phase);
			vg_usec t = 1700000000 * S + phase * 7;
			vg_counters_add(c, key, (size_t)n, w, t, 1);
			vg_sums_add(m, key, (size_t)n, w, t, 5);
			cr_assert_eq(vg_counters_add(c, key, (size_t)n, w, t + w - 1, 1), 2,
				     "window %lld us, phase %lld", (long long)w, (long long)phase);
			cr_assert_eq(vg_sums_add(m, key, (size_t)n, w, t + w - 1, 5), 10);
		}
	}
	vg_counters_free(c);
	vg_sums_free(m);
}

/* The library takes any time, negative too: a bucket before 0 lands in its own slot of
 * the ring, not in the record's header. */
Test(state, times_before_the_epoch_count_like_any_other)
{
	vg_counters *c = vg_counters_new(8);
	vg_sums *m = vg_sums_new(8);
	for (uint64_t i = 1; i <= 3; i++) {
		cr_assert_eq(vg_counters_add(c, "k", 1, 16 * S, -5 * S, 1), i);
		cr_assert_eq(vg_sums_add(m, "k", 1, 16 * S, -5 * S, 1), (double)i);
	}
	cr_assert_eq(vg_counters_get(c, "k", 1, 16 * S, -5 * S), 3);
	cr_assert_eq(vg_counters_size(c), 1);
	cr_assert_eq(vg_sums_size(m), 1);
	vg_counters_free(c);
	vg_sums_free(m);
}

/* A read is what an add of nothing would answer, and makes no key: checked against a
 * twin table that adds zero instead, with time moving forward by random steps (an add of
 * zero moves the twin's ring, so an add older than a read would part them). */
Test(state, reads_are_adds_of_nothing)
{
	vg_counters *c = vg_counters_new(100), *twin = vg_counters_new(100);
	vg_sums *m = vg_sums_new(100), *mtwin = vg_sums_new(100);
	vg_usec now = 1700000000 * S, w = 10 * S;
	uint64_t x = 88172645463325252ull; /* xorshift: the same walk every run */
	bool added[3] = {false, false, false};
	for (int i = 0; i < 5000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		char k[2] = {(char)('a' + x % 3), 0};
		now += (vg_usec)(x >> 8 & 0xfff) * 1000 * (x >> 20 & 3); /* 0 to 12 s */
		if (x >> 40 & 1) {
			vg_counters_add(c, k, 1, w, now, 1);
			vg_counters_add(twin, k, 1, w, now, 1);
			vg_sums_add(m, k, 1, w, now, (double)(x % 7));
			vg_sums_add(mtwin, k, 1, w, now, (double)(x % 7));
			added[x % 3] = true;
			continue;
		}
		size_t keys = vg_counters_size(c);
		uint64_t got = vg_counters_get(c, k, 1, w, now);
		double total = vg_sums_get(m, k, 1, w, now);
		cr_assert_eq(vg_counters_size(c), keys, "a read made a key");
		if (!added[x % 3]) {
			cr_assert(got == 0 && total == 0);
			continue;
		}
		cr_assert_eq(got, vg_counters_add(twin, k, 1, w, now, 0), "i=%d", i);
		cr_assert_eq(total, vg_sums_add(mtwin, k, 1, w, now, 0), "i=%d", i);
	}
	cr_assert_eq(vg_counters_get(c, "never", 5, w, now), 0);
	cr_assert_eq(vg_sums_get(m, "never", 5, w, now), 0);
	/* A read at a time before the newest bucket sees the whole ring, as an add would. */
	vg_counters *o = vg_counters_new(10);
	vg_counters_add(o, "k", 1, w, now, 1);
	vg_counters_add(o, "k", 1, w, now + 5 * S, 1);
	cr_assert_eq(vg_counters_get(o, "k", 1, w, now), 2);
	cr_assert_eq(vg_counters_get(o, "k", 1, w, now + 5 * S + w + w / 16 + 1), 0);
	vg_counters_free(o);
	vg_counters_free(c);
	vg_counters_free(twin);
	vg_sums_free(m);
	vg_sums_free(mtwin);
}

Test(state, counter_keys_are_bounded)
{
	vg_counters *c = vg_counters_new(1000);
	char k[32];
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(k, sizeof(k), "key%d", i);
		vg_counters_add(c, k, (size_t)n, 60 * S, 1700000000 * S, 1);
	}
	cr_assert_eq(vg_counters_size(c), 1000);
	/* The most recent keys survived; the oldest were forgotten. */
	cr_assert_eq(vg_counters_add(c, "key99999", 8, 60 * S, 1700000000 * S, 1), 2);
	cr_assert_eq(vg_counters_add(c, "key0", 4, 60 * S, 1700000000 * S, 1), 1);
	vg_counters_free(c);
}

/* Exact up to 256 values; then HyperLogLog, whose hash is keyed at random per table, so
 * each table errs its own way: over 20 tables every estimate stays within 8% (about 4.5
 * standard errors of the 1.8% measured) and the mean error within 2.5%. */
Test(state, distinct_exact_then_hyperloglog_within_bounds)
{
	static const int checkpoints[] = {300, 1000, 5000, 10000, 12000, 100000};
	enum { TABLES = 20, CPS = sizeof(checkpoints) / sizeof(checkpoints[0]) };
	double sum_err[CPS] = {0};
	vg_usec now = 1700000000 * S, w = 3600 * S;
	char v[32];
	for (int t = 0; t < TABLES; t++) {
		vg_distinct *d = vg_distinct_new(16);
		uint64_t est = 0;
		for (int i = 0; i < 256; i++) {
			int n = snprintf(v, sizeof(v), "user%d", i);
			est = vg_distinct_add(d, "ip", 2, v, (size_t)n, w, now);
			cr_assert_eq(est, (uint64_t)i + 1, "exact up to 256");
			/* Repeats do not count. */
			cr_assert_eq(vg_distinct_add(d, "ip", 2, v, (size_t)n, w, now), (uint64_t)i + 1);
		}
		int at = 256;
		for (size_t c = 0; c < CPS; c++) {
			for (; at < checkpoints[c]; at++) {
				int n = snprintf(v, sizeof(v), "user%d", at);
				est = vg_distinct_add(d, "ip", 2, v, (size_t)n, w, now);
			}
			double err = fabs((double)est - checkpoints[c]) / checkpoints[c];
			cr_assert_lt(err, 0.08, "table %d: at %d distinct the estimate %llu is %.1f%% off",
				     t, checkpoints[c], (unsigned long long)est, err * 100);
			sum_err[c] += err;
		}
		vg_distinct_free(d);
	}
	for (size_t c = 0; c < CPS; c++)
		cr_assert_lt(sum_err[c] / TABLES, 0.025, "at %d distinct the mean error is %.2f%%",
			     checkpoints[c], 100 * sum_err[c] / TABLES);
}

/* The exact range across windows, with each window's values past the 16 kept in the
 * record: the union of the current and the previous window, an older event joining the
 * previous one, and the switch to HyperLogLog only past 256 in the union. */
Test(state, distinct_is_exact_across_windows_up_to_256)
{
	vg_distinct *d = vg_distinct_new(16);
	vg_usec w = 60 * S, t0 = 1700000000 * S / w * w;
	char v[32];
#define ADD(i, t) vg_distinct_add(d, "k", 1, v, (size_t)snprintf(v, sizeof(v), "v%d", i), w, t)
	for (int i = 0; i < 100; i++)
		cr_assert_eq(ADD(i, t0), (uint64_t)i + 1);
	/* Next window: 50 old values add nothing, 50 new ones do. */
	for (int i = 50; i < 150; i++)
		cr_assert_eq(ADD(i, t0 + w), (uint64_t)(i < 100 ? 100 : i + 1));
	/* An event of the previous window joins it. */
	cr_assert_eq(ADD(500, t0), 151);
	cr_assert_eq(ADD(500, t0 + w), 151, "already in the union");
	/* The window after forgets the first: the second's 100 values and v500 are left. */
	cr_assert_eq(ADD(150, t0 + 2 * w), 101 + 1);
	/* Up to 256 the count stays exact, then HyperLogLog takes over. */
	for (int i = 151; i < 305; i++)
		cr_assert_eq(ADD(i, t0 + 2 * w), (uint64_t)(i - 149 + 101));
	uint64_t est = ADD(305, t0 + 2 * w);
	cr_assert(est > 240 && est < 280, "past 256: an estimate near 257, not %llu",
		  (unsigned long long)est);
#undef ADD
	vg_distinct_free(d);
}

Test(state, distinct_windows_rotate)
{
	vg_distinct *d = vg_distinct_new(16);
	vg_usec w = 60 * S, t0 = 1700000000 * S / w * w;
	vg_distinct_add(d, "k", 1, "a", 1, w, t0);
	vg_distinct_add(d, "k", 1, "b", 1, w, t0);
	/* The next window still sees the previous one ... */
	cr_assert_eq(vg_distinct_add(d, "k", 1, "c", 1, w, t0 + w), 3);
	/* ... and the one after forgets a and b. */
	cr_assert_eq(vg_distinct_add(d, "k", 1, "d", 1, w, t0 + 2 * w), 2);
	cr_assert_eq(vg_distinct_add(d, "k", 1, "e", 1, w, t0 + 10 * w), 1);
	vg_distinct_free(d);
}

/* A key that once went past 256 (an address behind a NAT) counts exactly again once both
 * of its windows have gone by, so a threshold such as 20 is met on the 20th value. */
Test(state, distinct_is_exact_again_after_a_crowd_has_gone)
{
	vg_distinct *d = vg_distinct_new(64);
	vg_usec w = 3600 * S, t0 = 1700000000 * S / w * w;
	char k[16], v[32];
	/* 64 keys with values of their own (the value hash is per table, not per key): an
	 * estimate is often, not always, off by one at these sizes. */
	for (int key = 0; key < 64; key++) {
		size_t kl = (size_t)snprintf(k, sizeof(k), "k%d", key);
		for (int i = 0; i < 300; i++)
			vg_distinct_add(d, k, kl, v, (size_t)snprintf(v, sizeof(v), "crowd%d", i), w, t0);
		for (int i = 0; i < 40; i++)
			cr_assert_eq(vg_distinct_add(d, k, kl, v,
						     (size_t)snprintf(v, sizeof(v), "new%d.%d", key, i), w,
						     t0 + 3 * w),
				     (uint64_t)i + 1, "key %d, value %d", key, i + 1);
	}
	vg_distinct_free(d);
}

/* An event older than both windows counts in neither, as count() drops it: late logs
 * from days before do not inflate today's answer, in exact mode or past it. */
Test(state, distinct_ignores_events_older_than_its_windows)
{
	vg_distinct *d = vg_distinct_new(16);
	vg_usec w = 3600 * S, t0 = 1700000000 * S / w * w;
	cr_assert_eq(vg_distinct_add(d, "k", 1, "now", 3, w, t0), 1);
	char v[32];
	for (int day = 2; day <= 5; day++)
		cr_assert_eq(vg_distinct_add(d, "k", 1, v, (size_t)snprintf(v, sizeof(v), "d%d", day),
					     w, t0 - day * 86400 * S),
			     1, "day %d", day);
	cr_assert_eq(vg_distinct_add(d, "k", 1, "hour-before", 11, w, t0 - w), 2);
	for (int i = 0; i < 400; i++)
		vg_distinct_add(d, "k", 1, v, (size_t)snprintf(v, sizeof(v), "x%d", i), w, t0);
	uint64_t est = vg_distinct_add(d, "k", 1, "x0", 2, w, t0);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(vg_distinct_add(d, "k", 1, v, (size_t)snprintf(v, sizeof(v), "old%d", i),
					     w, t0 - 86400 * S),
			     est, "an old value moved the estimate");
	vg_distinct_free(d);
}

Test(state, labels_expire)
{
	vg_labels *l = vg_labels_new(100);
	vg_usec now = 1700000000 * S;
	vg_labels_set(l, "user", "u1", "spammer", now + 60 * S);
	vg_labels_set(l, "ip", "10.0.0.1", "tor", 0);
	cr_assert(vg_labels_has(l, "user", "u1", "spammer", now));
	cr_assert(vg_labels_has(l, "user", "u1", "spammer", now + 59 * S));
	cr_assert_not(vg_labels_has(l, "user", "u1", "spammer", now + 60 * S));
	cr_assert_not(vg_labels_has(l, "user", "u2", "spammer", now));
	cr_assert_not(vg_labels_has(l, "user", "u1", "other", now));
	cr_assert(vg_labels_has(l, "ip", "10.0.0.1", "tor", now + 1000000 * S), "0 never expires");
	/* Setting again moves the expiry. */
	vg_labels_set(l, "user", "u1", "spammer", now + 120 * S);
	cr_assert(vg_labels_has(l, "user", "u1", "spammer", now + 100 * S));
	/* kind/id/name boundaries matter: ("a", "bc") is not ("ab", "c"). */
	vg_labels_set(l, "a", "bc", "x", 0);
	cr_assert_not(vg_labels_has(l, "ab", "c", "x", now));
	vg_labels_free(l);
}

Test(state, labels_are_bounded)
{
	vg_labels *l = vg_labels_new(50);
	char id[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(id, sizeof(id), "u%d", i);
		vg_labels_set(l, "user", id, "x", 0);
	}
	cr_assert_eq(vg_labels_size(l), 50);
	vg_labels_free(l);
}

/* An operator's change is pinned: it keeps overriding the table loaded from the store
 * however many labels rules set after it, where an unpinned entry would be evicted and
 * the loaded label (removed since) answer again. Pins stop at half the table. */
Test(state, pinned_labels_outlive_evictions)
{
	vg_labels *l = vg_labels_new(4);
	vg_labels_pin(l, "user", "victim", "bad", VG_LABEL_REMOVED);
	vg_labels_set(l, "user", "plain", "bad", 0);
	char id[16];
	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "u%d", i);
		vg_labels_set(l, "user", id, "x", 0);
	}
	vg_usec exp;
	cr_assert(vg_labels_get(l, "user", "victim", "bad", &exp));
	cr_assert_eq(exp, VG_LABEL_REMOVED);
	cr_assert_not(vg_labels_get(l, "user", "plain", "bad", &exp), "unpinned: evicted");
	/* Half of 4 pinned; the next pin is a plain set, and the table still takes labels. */
	vg_labels_pin(l, "user", "p2", "bad", 0);
	vg_labels_pin(l, "user", "p3", "bad", 0);
	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "v%d", i);
		vg_labels_set(l, "user", id, "x", 0);
	}
	cr_assert(vg_labels_get(l, "user", "victim", "bad", &exp));
	cr_assert(vg_labels_get(l, "user", "p2", "bad", &exp));
	cr_assert_not(vg_labels_get(l, "user", "p3", "bad", &exp));
	cr_assert_eq(vg_labels_size(l), 4);
	vg_labels_free(l);
}

/* Evicting a key in HyperLogLog mode frees its registers (LeakSanitizer checks it in the
 * ASan run), and the key that took its place counts from scratch. */
Test(state, distinct_eviction_frees_hyperloglog_keys)
{
	vg_distinct *d = vg_distinct_new(2);
	char key[16], val[16];
	for (int k = 0; k < 4; k++) {
		snprintf(key, sizeof(key), "k%d", k);
		for (int i = 0; i < 100; i++) {
			snprintf(val, sizeof(val), "v%d", i);
			(void)vg_distinct_add(d, key, strlen(key), val, strlen(val), 60000000, 1000000);
		}
	}
	cr_assert_eq(vg_distinct_add(d, "k0", 2, "x", 1, 60000000, 1000000), 1);
	vg_distinct_free(d);
}

/* A deterministic xorshift, so a failure replays. */
static uint64_t rng_state;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Key i of a universe: unique (its number in decimal leads) and len bytes long, padded
 * with bytes that depend on i, so long keys differ all along and not only at the start. */
static size_t make_key(char *buf, size_t len, unsigned i)
{
	int n = snprintf(buf, len + 1, "k%u:", i);
	size_t at = (size_t)n < len ? (size_t)n : len;
	for (size_t j = at; j < len; j++)
		buf[j] = (char)('a' + (i * 31 + j * 7) % 26);
	return len;
}

Test(state, every_table_stays_bounded_under_churn)
{
	enum { MAX = 777 };
	vg_counters *c = vg_counters_new(MAX);
	vg_distinct *d = vg_distinct_new(MAX);
	vg_labels *l = vg_labels_new(MAX);
	static char key[200];
	rng_state = 1;
	for (int i = 0; i < 60000; i++) {
		unsigned k = rnd() % 20000;
		/* Short and long keys and a few windows, so several records per key and some
		 * out-of-line keys are evicted (LeakSanitizer checks those are freed). */
		size_t len = make_key(key, k % 5 == 0 ? 60 + k % 100 : 8, k);
		vg_usec w = (vg_usec)(1 + k % 3) * 60 * S;
		vg_counters_add(c, key, len, w, 1700000000 * S, 1);
		vg_distinct_add(d, key, len, key, len, w, 1700000000 * S);
		key[len] = '\0';
		vg_labels_set(l, "user", key, "x", 0);
		cr_assert_leq(vg_counters_size(c), MAX);
		cr_assert_leq(vg_labels_size(l), MAX);
	}
	cr_assert_eq(vg_counters_size(c), MAX);
	cr_assert_eq(vg_labels_size(l), MAX);
	vg_counters_free(c);
	vg_distinct_free(d);
	vg_labels_free(l);
}

Test(state, keys_past_the_inline_size)
{
	/* 48 bytes live in the record, longer keys in their own allocation; around that
	 * boundary and up to the rules' 1024-byte key limit, keys that differ only in their
	 * last byte or only in length are different keys. */
	static const size_t lens[] = {1, 47, 48, 49, 50, 64, 100, 1023, 1024};
	enum { N = sizeof(lens) / sizeof(lens[0]) };
	static char keys[N][2][1024];
	vg_counters *c = vg_counters_new(1000);
	vg_usec w = 60 * S, now = 1700000000 * S;
	for (size_t i = 0; i < N; i++) {
		memset(keys[i][0], 'x', lens[i]);
		memcpy(keys[i][1], keys[i][0], lens[i]);
		keys[i][1][lens[i] - 1] = 'y';
	}
	for (int round = 1; round <= 3; round++)
		for (size_t i = 0; i < N; i++)
			for (int v = 0; v < 2; v++)
				cr_assert_eq(vg_counters_add(c, keys[i][v], lens[i], w, now, 1),
					     (uint64_t)round, "len %zu variant %d", lens[i], v);
	cr_assert_eq(vg_counters_size(c), 2 * N);
	vg_counters_free(c);

	/* A label whose kind, id and name fill the 1024-byte key. */
	static char id[1024];
	memset(id, 'i', 1024 - 2 - 4 - 1);
	vg_labels *l = vg_labels_new(10);
	vg_labels_set(l, "user", id, "x", 0);
	cr_assert(vg_labels_has(l, "user", id, "x", now));
	id[0] = 'j';
	cr_assert_not(vg_labels_has(l, "user", id, "x", now));
	vg_labels_free(l);
}

Test(state, many_windows_on_one_key)
{
	/* Each window is its own counter and its own distinct count. */
	enum { W = 300 };
	vg_counters *c = vg_counters_new(1 << 12);
	vg_distinct *d = vg_distinct_new(1 << 12);
	vg_usec now = 1700000000 * S;
	for (int w = 1; w <= W; w++)
		for (int i = 0; i < w % 7 + 1; i++) {
			vg_counters_add(c, "ip:10.0.0.1", 11, w * S, now, 1);
			vg_distinct_add(d, "ip:10.0.0.1", 11, (char[]){(char)('a' + i)}, 1, w * S,
					now);
		}
	cr_assert_eq(vg_counters_size(c), W);
	for (int w = 1; w <= W; w++) {
		cr_assert_eq(vg_counters_add(c, "ip:10.0.0.1", 11, w * S, now, 1),
			     (uint64_t)(w % 7 + 2), "window %d s", w);
		cr_assert_eq(vg_distinct_add(d, "ip:10.0.0.1", 11, "z", 1, w * S, now),
			     (uint64_t)(w % 7 + 2), "window %d s", w);
	}
	vg_counters_free(c);
	vg_distinct_free(d);
}

/* A key used every few operations is never forgotten while ten times the table's bound
 * in one-off keys pass through; a key used once before the flood is. (An LRU list
 * keeps the hot key too; what this guards is that the CLOCK hand gives it its second
 * chance.) */
Test(state, hot_key_survives_a_flood_of_one_off_keys)
{
	enum { MAX = 1000, EVERY = 5 };
	vg_counters *c = vg_counters_new(MAX);
	vg_usec w = 3600 * S, now = 1700000000 * S;
	char key[32];
	vg_counters_add(c, "cold", 4, w, now, 1);
	uint64_t hot = 0;
	for (int i = 0; i < 10 * MAX; i++) {
		int n = snprintf(key, sizeof(key), "once:%d", i);
		cr_assert_eq(vg_counters_add(c, key, (size_t)n, w, now, 1), 1);
		if (i % EVERY == 0)
			cr_assert_eq(vg_counters_add(c, "hot", 3, w, now, 1), ++hot,
				     "the hot key was forgotten after %d one-off keys", i);
		cr_assert_leq(vg_counters_size(c), MAX);
	}
	cr_assert_eq(vg_counters_add(c, "cold", 4, w, now, 1), 1, "a cold key is forgotten");
	vg_counters_free(c);
}

/* Many (key, window) pairs, random lengths across the inline boundary, no evictions (a
 * bound far above the pairs used): every count must equal a plain array's, through
 * many doublings of the slots and records. */
Test(state, counters_match_a_reference_without_evictions)
{
	enum { KEYS = 6000, WINDOWS = 4, OPS = 200000 };
	static uint32_t ref[KEYS][WINDOWS];
	static uint8_t lens[KEYS];
	memset(ref, 0, sizeof(ref));
	vg_counters *c = vg_counters_new(1 << 20);
	vg_usec now = 1700000000 * S;
	char key[256];
	rng_state = 7;
	for (unsigned k = 0; k < KEYS; k++)
		lens[k] = (uint8_t)(8 + rnd() % 90);
	size_t pairs = 0;
	for (int i = 0; i < OPS; i++) {
		/* Skewed: half the operations on a tenth of the keys. */
		unsigned k = rnd() % 2 ? rnd() % (KEYS / 10) : rnd() % KEYS;
		unsigned wi = rnd() % WINDOWS;
		size_t len = make_key(key, lens[k], k);
		pairs += ref[k][wi] == 0;
		uint64_t got = vg_counters_add(c, key, len, (vg_usec)(wi + 1) * 3600 * S, now, 1);
		cr_assert_eq(got, ++ref[k][wi], "op %d key %u window %u", i, k, wi);
	}
	cr_assert_eq(vg_counters_size(c), pairs);
	vg_counters_free(c);
}

/* A quarter of a million keys: every key must survive the doublings of slots and
 * records up to there (mremap of large arrays included), with a bound above the keys
 * and one equal to them, and then evictions once the bound is reached. */
Test(state, counters_keep_every_key_through_large_growth)
{
	static const size_t bounds[] = {1 << 20, 250000};
	enum { KEYS = 250000 };
	vg_usec now = 1700000000 * S, w = 3600 * S;
	char key[32];
	for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++) {
		vg_counters *c = vg_counters_new(bounds[b]);
		for (int pass = 1; pass <= 2; pass++)
			for (unsigned k = 0; k < KEYS; k++) {
				int n = snprintf(key, sizeof(key), "k%u", k);
				cr_assert_eq(vg_counters_add(c, key, (size_t)n, w, now, 1), (uint64_t)pass,
					     "bound %zu pass %d key %u", bounds[b], pass, k);
			}
		cr_assert_eq(vg_counters_size(c), KEYS);
		/* Past the bound, old keys go and new ones come in; the table stays bounded. */
		for (unsigned k = KEYS; k < KEYS + 1000; k++) {
			int n = snprintf(key, sizeof(key), "k%u", k);
			cr_assert_eq(vg_counters_add(c, key, (size_t)n, w, now, 1), 1);
		}
		cr_assert_leq(vg_counters_size(c), bounds[b] > KEYS + 1000 ? KEYS + 1000 : bounds[b]);
		vg_counters_free(c);
	}
}

/* Evictions are the table's deletions (backward shifts in the slots, tombstones in the old
 * slots while they grow). Labels show what a table holds without changing it (has() only
 * reads), so after every burst of churn every label ever set is either gone or has its
 * last expiry, and exactly size() of them are found: a slot lost or left stale by a shift
 * would break one or the other. */
static void labels_against_reference(size_t max, unsigned keys, int bursts, int per_burst)
{
	static vg_usec ref[4000];
	cr_assert_leq(keys, 4000);
	memset(ref, 0, sizeof(ref));
	vg_labels *l = vg_labels_new(max);
	char id[128];
	rng_state = 11;
	for (int b = 0; b < bursts; b++) {
		for (int i = 0; i < per_burst; i++) {
			unsigned k = rnd() % 4 ? rnd() % (keys / 8) : rnd() % keys;
			ref[k] = (vg_usec)(rnd() % 4) * 100; /* 0 (never), 100, 200 or 300 */
			make_key(id, k % 3 ? 10 : 60, k);
			id[k % 3 ? 10 : 60] = '\0';
			vg_labels_set(l, "user", id, "x", ref[k]);
		}
		size_t found = 0;
		for (unsigned k = 0; k < keys; k++) {
			make_key(id, k % 3 ? 10 : 60, k);
			id[k % 3 ? 10 : 60] = '\0';
			if (!vg_labels_has(l, "user", id, "x", 0))
				continue;
			found++;
			bool live = ref[k] == 0 || ref[k] > 150;
			cr_assert_eq(vg_labels_has(l, "user", id, "x", 150), live,
				     "max %zu burst %d key %u: a stale expiry", max, b, k);
		}
		cr_assert_eq(found, vg_labels_size(l), "max %zu burst %d: %zu labels found, %zu held",
			     max, b, found, vg_labels_size(l));
		cr_assert(vg__labels_consistent(l), "max %zu burst %d: slots and records disagree",
			  max, b);
	}
	cr_assert_eq(vg_labels_size(l), max);
	vg_labels_free(l);
}

Test(state, labels_match_a_reference_through_evictions)
{
	labels_against_reference(500, 4000, 60, 700);
}

/* The slots double at 0.7 full and the old ones drain over the next inserts: 358 labels
 * start a drain of 512 old slots that 486 would finish, so a bound between the two fills
 * the table mid-drain, and evictions must find entries still in the old slots. Bursts of
 * a few sets look at the table at every stage of the drain. */
Test(state, labels_match_a_reference_while_the_slots_grow)
{
	static const size_t bounds[] = {360, 400, 470};
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
		labels_against_reference(bounds[i], 1200, 400, 7);
}

/* SipHash-2-4 against the paper's vectors (key 00..0f; messages 00, 01, .. of length 0 and
 * 15: Aumasson and Bernstein, "SipHash: a fast short-input PRF", appendix A), and the
 * tables' 1-3 variant as a keyed function: another key or another byte, another hash. */
Test(state, siphash_matches_the_reference_vectors)
{
	const uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
	unsigned char m[64];
	for (int i = 0; i < 64; i++)
		m[i] = (unsigned char)i;
	cr_assert_eq(vg__siphash(m, 0, k0, k1, 2, 4), 0x726fdb47dd0e0e31ull);
	cr_assert_eq(vg__siphash(m, 15, k0, k1, 2, 4), 0xa129ca6149be45e5ull);
	uint64_t h = vg__siphash(m, 20, k0, k1, 1, 3);
	cr_assert_neq(h, vg__siphash(m, 20, k0 ^ 1, k1, 1, 3));
	cr_assert_neq(h, vg__siphash(m, 20, k0, k1 ^ (1ull << 63), 1, 3));
	m[19] ^= 0x80;
	cr_assert_neq(h, vg__siphash(m, 20, k0, k1, 1, 3));
	cr_assert_neq(vg__siphash(m, 7, k0, k1, 1, 3), vg__siphash(m, 8, k0, k1, 1, 3),
		      "the length is part of the hash");
	uint64_t a[2], b[2];
	vg__rules_random_key(a);
	vg__rules_random_key(b);
	cr_assert(a[0] != b[0] || a[1] != b[1], "two tables, two keys");
}
