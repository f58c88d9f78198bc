/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of banks over a real store: import then export round trips in every format,
 * one transaction per import, the index built from the store (exact against brute force,
 * enabled banks only, kept in step by add/remove), snapshots used only while current, and
 * the time a million-signal import takes (printed, never asserted: STYLE.md 7).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank/bank.h"

#include "../common/tmpdb.h"
#include "bank_test.h"

TestSuite(bank, .init = tmpdb_setup, .fini = tmpdb_teardown);

static vg_store *open_store(void)
{
	return tmpdb_open();
}

/* Deterministic pseudo-random hashes (splitmix64). */
static uint64_t rng = 42;
static uint64_t next64(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void random_hex(char out[65])
{
	for (int i = 0; i < 4; i++)
		snprintf(out + 16 * i, 17, "%016llx", (unsigned long long)next64());
}

static char *export_text(vg_store *s, int64_t bank, vg_bank_format f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	vg_error err;
	cr_assert_eq(vg_bank_export(s, bank, f, mem, NULL, &err), 0, "%s", err.msg);
	fclose(mem);
	return buf;
}

Test(bank, export_import_round_trip_in_every_format)
{
	vg_store *s = open_store();
	vg_error err;
	int64_t src = make_bank(s, "src"), id;
	vg_store_add_result r;
	cr_assert_eq(vg_bank_signal_add(s, src, "pdq",
					"D8F8F0CEE0F4A84F0637022A078F67F0B36E2ED596621E1D33E6339C4E9C9B22",
					"{\"source\":\"x, \\\"y\\\"\",\"tags\":[\"a\",\"b\"]}", &id, &r,
					&err),
		     0, "%s", err.msg);
	cr_assert_eq(vg_bank_signal_add(s, src, "md5", "d35c785545392755e7e4164457657269", NULL,
					&id, &r, &err),
		     0);
	cr_assert_eq(vg_bank_signal_add(s, src, "pdq", "00", NULL, &id, &r, &err), VG_EINVAL);
	cr_assert_eq(vg_bank_signal_add(s, src, "md5", "d35c785545392755e7e4164457657269", "[]",
					&id, &r, &err),
		     VG_EINVAL);
	char *want = export_text(s, src, VG_BANK_NDJSON);
	vg_bank_format formats[] = {VG_BANK_PLAIN, VG_BANK_CSV, VG_BANK_NDJSON};
	const char *names[] = {"plain", "csv", "ndjson"};
	for (size_t i = 0; i < 3; i++) {
		int64_t dst = make_bank(s, names[i]);
		char *text = export_text(s, src, formats[i]);
		vg_bank_parse_opts o = {.format = formats[i]};
		vg_bank_import_stats st;
		cr_assert_eq(vg_bank_import(s, dst, text, strlen(text), &o, NULL, NULL, &st, &err), 0,
			     "%s", err.msg);
		cr_assert_eq(st.added, 2, "%s", names[i]);
		cr_assert_eq(st.rejected, 0, "%s", names[i]);
		char *got = export_text(s, dst, VG_BANK_NDJSON);
		/* Same content; only the ids differ. */
		char *a = want, *b = got;
		for (int line = 0; line < 2; line++) {
			a = strstr(a, "\"type\"");
			b = strstr(b, "\"type\"");
			cr_assert(a && b);
			size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
			cr_assert_eq(la, lb, "%s: %.*s vs %.*s", names[i], (int)la, a, (int)lb, b);
			cr_assert_eq(memcmp(a, b, la), 0, "%s", names[i]);
			a += la;
			b += lb;
		}
		free(text);
		free(got);
	}
	free(want);
	vg_store_close(s);
}

static void count_reject(size_t line, const char *reason, void *ctx)
{
	(*(size_t *)ctx)++;
}

Test(bank, import_counts_duplicates_and_rejects)
{
	vg_store *s = open_store();
	vg_error err;
	int64_t b = make_bank(s, "b");
	const char *text = "d35c785545392755e7e4164457657269\n"
			   "D35C785545392755E7E4164457657269\n"
			   "bad\n";
	vg_bank_parse_opts o = {.format = VG_BANK_PLAIN};
	vg_bank_import_stats st;
	size_t rejects = 0;
	cr_assert_eq(vg_bank_import(s, b, text, strlen(text), &o, count_reject, &rejects, &st, &err),
		     0);
	cr_assert_eq(st.added, 1);
	cr_assert_eq(st.duplicates, 1);
	cr_assert_eq(st.rejected, 1);
	cr_assert_eq(rejects, 1);
	vg_store_close(s);
}

static int brute(const vg_pdq *hs, size_t n, const vg_pdq *q, int d)
{
	int count = 0;
	for (size_t i = 0; i < n; i++)
		count += vg_pdq_distance(&hs[i], q) <= d;
	return count;
}

Test(bank, index_is_exact_respects_enabled_and_tracks_changes)
{
	vg_store *s = open_store();
	vg_error err;
	int64_t a = make_bank(s, "a"), b = make_bank(s, "b"), id;
	vg_store_add_result r;
	enum { N = 2000 };
	static vg_pdq hs[N];
	char hex[65];
	cr_assert_eq(vg_store_begin(s, &err), 0);
	for (int i = 0; i < N; i++) {
		random_hex(hex);
		cr_assert_eq(vg_pdq_from_hex(hex, 64, &hs[i]), 0);
		/* Every tenth hash a few bits from the first, so queries have neighbours. */
		if (i % 10 == 0 && i) {
			hs[i] = hs[0];
			for (int k = 0; k < 12; k++) {
				unsigned bit = (unsigned)(next64() % 256);
				hs[i].w[bit / 64] ^= UINT64_C(1) << (bit % 64);
			}
		}
		vg_pdq_to_hex(&hs[i], hex);
		cr_assert_eq(vg_bank_signal_add(s, i % 2 ? b : a, "pdq", hex, NULL, &id, &r, &err), 0,
			     "%s", err.msg);
	}
	cr_assert_eq(vg_store_commit(s, &err), 0);

	vg_bank_index *idx;
	cr_assert_eq(vg_bank_index_open(s, NULL, &idx, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_bank_index_count(idx, "pdq"), N);
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	for (int q = 0; q < 50; q++) {
		cr_assert_eq(vg_bank_index_query_pdq(idx, &hs[q], 31, &hits), 0);
		cr_assert_eq((int)hits.n, brute(hs, N, &hs[q], 31));
	}
	vg_bank_index_free(idx);

	/* Disabled banks are not loaded. */
	cr_assert_eq(vg_store_bank_set_enabled(s, "b", false, &err), 0);
	cr_assert_eq(vg_bank_index_open(s, NULL, &idx, &err), 0);
	cr_assert_eq(vg_bank_index_count(idx, "pdq"), N / 2);

	/* Incremental add and remove. */
	uint8_t md5[16] = {1, 2, 3};
	char md5hex[33];
	vg_hex_encode(md5, 16, md5hex);
	cr_assert_eq(vg_bank_signal_add(s, a, "md5", md5hex, NULL, &id, &r, &err), 0);
	cr_assert_eq(vg_bank_index_add(idx, id, "md5", md5hex, &err), 0);
	uint64_t ids[4];
	cr_assert_eq(vg_bank_index_lookup(idx, "md5", md5, ids, 4), 1);
	cr_assert_eq(ids[0], (uint64_t)id);
	size_t removed;
	cr_assert_eq(vg_store_signal_remove(s, a, "md5", md5hex, &removed, &err), 0);
	cr_assert_eq(vg_bank_index_remove(idx, id, "md5", md5hex, &err), 0);
	cr_assert_eq(vg_bank_index_lookup(idx, "md5", md5, ids, 4), 0);

	vg_pdq_to_hex(&hs[0], hex);
	cr_assert_eq(vg_bank_index_query_pdq(idx, &hs[0], 0, &hits), 0);
	cr_assert_eq(hits.n, 1);
	cr_assert_eq(vg_bank_index_remove(idx, (int64_t)hits.v[0].id, "pdq", hex, &err), 0);
	cr_assert_eq(vg_bank_index_query_pdq(idx, &hs[0], 0, &hits), 0);
	cr_assert_eq(hits.n, 0);
	vg_mih_hits_done(&hits);
	vg_bank_index_free(idx);
	vg_store_close(s);
}

Test(bank, snapshot_is_used_only_while_current)
{
	vg_store *s = open_store();
	vg_error err;
	int64_t a = make_bank(s, "a"), id;
	vg_store_add_result r;
	char hex[65], snap[300];
	snprintf(snap, sizeof(snap), "%s.pdq-index", tmp.path);
	cr_assert_eq(vg_store_begin(s, &err), 0);
	for (int i = 0; i < 500; i++) {
		random_hex(hex);
		cr_assert_eq(vg_bank_signal_add(s, a, "pdq", hex, NULL, &id, &r, &err), 0);
	}
	cr_assert_eq(vg_store_commit(s, &err), 0);
	vg_bank_index_opts o = {.snapshot_path = snap, .snapshot_min_entries = 100};
	vg_bank_index *idx;
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0, "%s", err.msg);
	cr_assert_not(vg_bank_index_from_snapshot(idx));
	vg_bank_index_free(idx);
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0);
	cr_assert(vg_bank_index_from_snapshot(idx));
	cr_assert_eq(vg_bank_index_count(idx, "pdq"), 500);
	vg_bank_index_free(idx);

	/* A change makes the snapshot stale: rebuilt from the store, with the new signal. */
	random_hex(hex);
	cr_assert_eq(vg_bank_signal_add(s, a, "pdq", hex, NULL, &id, &r, &err), 0);
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0);
	cr_assert_not(vg_bank_index_from_snapshot(idx));
	cr_assert_eq(vg_bank_index_count(idx, "pdq"), 501);
	vg_bank_index_free(idx);

	/* A corrupt snapshot is not trusted. */
	FILE *f = fopen(snap, "r+");
	fseek(f, 100, SEEK_SET);
	fputc('!', f);
	fclose(f);
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0);
	cr_assert_not(vg_bank_index_from_snapshot(idx));
	cr_assert_eq(vg_bank_index_count(idx, "pdq"), 501);
	vg_bank_index_free(idx);
	vg_store_close(s);
}

/* A database restored from a backup and written to again reaches the change count the
 * snapshot was made at, with other content. The snapshot must not pass for current: it
 * held X, which the restored store lost, and lacked Y. */
Test(bank, a_snapshot_of_content_a_restore_lost_is_stale)
{
	vg_store *s = open_store();
	vg_error err;
	int64_t a = make_bank(s, "a"), id;
	vg_store_add_result r;
	char hex[65], x[65], y[65], snap[300], cmd[1200];
	snprintf(snap, sizeof(snap), "%s.pdq-index", tmp.path);
	cr_assert_eq(vg_store_begin(s, &err), 0);
	for (int i = 0; i < 200; i++) {
		random_hex(hex);
		cr_assert_eq(vg_bank_signal_add(s, a, "pdq", hex, NULL, &id, &r, &err), 0);
	}
	cr_assert_eq(vg_store_commit(s, &err), 0);
	vg_store_close(s);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s.bak'", tmp.path, tmp.path);
	cr_assert_eq(system(cmd), 0);

	s = open_store();
	random_hex(x);
	cr_assert_eq(vg_bank_signal_add(s, a, "pdq", x, NULL, &id, &r, &err), 0);
	vg_bank_index_opts o = {.snapshot_path = snap, .snapshot_min_entries = 100};
	vg_bank_index *idx;
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0, "%s", err.msg);
	vg_bank_index_free(idx); /* the snapshot, with X, is written */
	vg_store_close(s);

	snprintf(cmd, sizeof(cmd), "cp '%s.bak' '%s' && rm -f '%s-wal' '%s-shm'", tmp.path,
		 tmp.path, tmp.path, tmp.path);
	cr_assert_eq(system(cmd), 0);
	s = open_store();
	random_hex(y);
	cr_assert_eq(vg_bank_signal_add(s, a, "pdq", y, NULL, &id, &r, &err), 0);
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0, "%s", err.msg);
	cr_assert_not(vg_bank_index_from_snapshot(idx), "the same change count, not the same content");
	vg_pdq hy, hx;
	cr_assert_eq(vg_pdq_from_hex(y, 64, &hy), 0);
	cr_assert_eq(vg_pdq_from_hex(x, 64, &hx), 0);
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	cr_assert_eq(vg_bank_index_query_pdq(idx, &hy, 0, &hits), 0);
	cr_assert_eq(hits.n, 1, "Y, which the store has, matches");
	cr_assert_eq(vg_bank_index_query_pdq(idx, &hx, 0, &hits), 0);
	cr_assert_eq(hits.n, 0, "X, which the restore lost, does not");
	vg_mih_hits_done(&hits);
	vg_bank_index_free(idx);
	vg_store_close(s);
}

/* A limit on the matches (the scan's 1000) was spent on the first hits found: a bank
 * whose only hit came after another bank's many near-duplicate PDQ hits was dropped,
 * so the scan never ran its actions. Every matched bank keeps its first hit. */
Test(bank, a_match_limit_never_drops_a_matched_bank)
{
	vg_store *s = open_store();
	vg_error err;
	int64_t variants = make_bank(s, "variants"), csam = make_bank(s, "csam"), id;
	vg_store_add_result r;
	const char *base = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
	const char *md5 = "00112233445566778899aabbccddeeff";
	cr_assert_eq(vg_store_begin(s, &err), 0);
	for (int i = 0; i < 30; i++) {
		char hex[65];
		memcpy(hex, base, 65);
		hex[i] = hex[i] == '0' ? '1' : '0'; /* one to four bits from base */
		cr_assert_eq(vg_bank_signal_add(s, variants, "pdq", hex, NULL, &id, &r, &err), 0,
			     "%s", err.msg);
	}
	cr_assert_eq(vg_bank_signal_add(s, csam, "md5", md5, NULL, &id, &r, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(vg_store_commit(s, &err), 0);
	vg_bank_index_opts o = {0};
	vg_bank_index *idx;
	cr_assert_eq(vg_bank_index_open(s, &o, &idx, &err), 0, "%s", err.msg);

	vg_pdq q;
	uint8_t d[16];
	cr_assert_eq(vg_pdq_from_hex(base, 64, &q), 0);
	cr_assert_eq(vg_hex_decode(md5, 32, d, 16), 0);
	vg_bank_matches m;
	vg_bank_matches_init(&m);
	m.limit = 10;
	cr_assert_eq(vg_bank_match_pdq(idx, s, &q, 31, NULL, 0, &m, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_bank_match_digest(idx, s, "md5", d, NULL, 0, &m, &err), 0, "%s", err.msg);
	vg_bank_matches_sort(&m);
	cr_assert(m.truncated, "30 hits do not fit in 10");
	cr_assert_eq(m.n, 11, "the limit, and csam's hit past it");
	bool found = false;
	for (size_t i = 0; i < m.n; i++)
		found |= m.v[i].bank_id == csam;
	cr_assert(found, "csam's exact hit came after the limit and was dropped");
	vg_bank_matches_done(&m);
	vg_bank_index_free(idx);
	vg_store_close(s);
}

Test(bank, million_signal_import_timing, .timeout = 240)
{
	enum { N = 1000000 };
	char *text = malloc((size_t)N * 65 + 1), hex[65];
	for (size_t i = 0; i < N; i++) {
		random_hex(hex);
		memcpy(text + i * 65, hex, 64);
		text[i * 65 + 64] = '\n';
	}
	vg_store *s = open_store();
	vg_error err;
	int64_t b = make_bank(s, "big");
	vg_bank_parse_opts o = {.format = VG_BANK_PLAIN};
	vg_bank_import_stats st;
	vg_usec t0 = vg_time_mono();
	cr_assert_eq(vg_bank_import(s, b, text, (size_t)N * 65, &o, NULL, NULL, &st, &err), 0, "%s",
		     err.msg);
	vg_usec t1 = vg_time_mono();
	cr_assert_eq(st.added, N);
	vg_bank_index *idx;
	cr_assert_eq(vg_bank_index_open(s, NULL, &idx, &err), 0);
	vg_usec t2 = vg_time_mono();
	cr_assert_eq(vg_bank_index_count(idx, "pdq"), N);
	printf("bank: imported %d PDQ signals in %.2f s, loaded the index in %.2f s (%d cores)\n",
	       N, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, vg_cpu_count());
	vg_bank_index_free(idx);
	vg_store_close(s);
	free(text);
}
