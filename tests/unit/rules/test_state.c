/* SPDX-License-Identifier: Apache-2.0
 *
 * The state rules keep: sliding-window counters (never under the true count, at most one
 * bucket over, bounded keys), distinct counts (exact to 16, HyperLogLog within 5% beyond,
 * window rotation), labels (expiry, LRU bound) and duration parsing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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
	static const char *const bad[] = {"", "s", "0s", "-1s", "10", "10x", "1.5s", "99999999999999h"};
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

Test(state, distinct_exact_then_hyperloglog_within_bounds)
{
	vg_distinct *d = vg_distinct_new(16);
	vg_usec now = 1700000000 * S, w = 3600 * S;
	char v[32];
	uint64_t est = 0;
	for (int i = 0; i < 16; i++) {
		int n = snprintf(v, sizeof(v), "user%d", i);
		est = vg_distinct_add(d, "ip", 2, v, (size_t)n, w, now);
		cr_assert_eq(est, (uint64_t)i + 1, "exact up to 16");
		/* Repeats do not count. */
		cr_assert_eq(vg_distinct_add(d, "ip", 2, v, (size_t)n, w, now), (uint64_t)i + 1);
	}
	static const int checkpoints[] = {100, 1000, 10000, 100000};
	int at = 16;
	for (size_t c = 0; c < 4; c++) {
		for (; at < checkpoints[c]; at++) {
			int n = snprintf(v, sizeof(v), "user%d", at);
			est = vg_distinct_add(d, "ip", 2, v, (size_t)n, w, now);
		}
		double err = fabs((double)est - checkpoints[c]) / checkpoints[c];
		cr_assert_lt(err, 0.05, "at %d distinct the estimate %llu is %.1f%% off", checkpoints[c],
			     (unsigned long long)est, err * 100);
	}
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
