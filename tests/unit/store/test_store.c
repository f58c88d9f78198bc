/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the storage interface (store.h) on its SQLite backend: migrations apply
 * once, banks are unique, signals dedupe on (bank, value, type), removal is soft and a
 * re-add revives the same id, the watermark moves on every committed change and never on
 * a rolled-back one, and writes survive closing and reopening.
 */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#include "../common/tmpdb.h"

TestSuite(store, .init = tmpdb_setup, .fini = tmpdb_teardown);

static vg_store *open_ok(void)
{
	return tmpdb_open();
}

static int64_t bank_id(vg_store *s, const char *name)
{
	vg_store_bank b;
	vg_error err;
	cr_assert_eq(vg_store_bank_get(s, name, &b, &err), 0, "%s", err.msg);
	int64_t id = b.id;
	vg_store_bank_done(&b);
	return id;
}

Test(store, migrations_are_idempotent)
{
	vg_error err;
	int v1, v2;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_schema_version(s, &v1, &err), 0);
	cr_assert_geq(v1, 1);
	vg_store_watermark w1, w2;
	cr_assert_eq(vg_store_watermark_get(s, &w1, &err), 0);
	vg_store_close(s);
	s = open_ok();
	cr_assert_eq(vg_store_schema_version(s, &v2, &err), 0);
	cr_assert_eq(v1, v2);
	cr_assert_eq(vg_store_watermark_get(s, &w2, &err), 0);
	cr_assert_eq(w1.birth, w2.birth);
	cr_assert_eq(w1.seq, w2.seq, "opening is not a change");
	vg_store_close(s);
}

/* Found in review: `vigil audit verify` on a mistyped path created and migrated a new
 * database and answered "ok: 0 entries". Opening an existing one never creates. */
Test(store, open_existing_never_creates)
{
	vg_store *s = NULL;
	vg_error err;
	cr_assert_eq(vg_store_open_existing(tmp.path, &s, &err), VG_ENOENT);
	cr_assert_null(s);
	cr_assert_neq(access(tmp.path, F_OK), 0, "nothing made");
	/* An empty file is not a vigil database, and stays as it was. */
	FILE *f = fopen(tmp.path, "w");
	fclose(f);
	cr_assert_eq(vg_store_open_existing(tmp.path, &s, &err), VG_ENOENT);
	cr_assert_not_null(strstr(err.msg, "not a vigil database"), "%s", err.msg);
	f = fopen(tmp.path, "r");
	cr_assert_eq(fgetc(f), EOF, "still empty");
	fclose(f);
	unlink(tmp.path);
	/* One made by vg_store_open opens. */
	s = open_ok();
	vg_store_close(s);
	s = NULL;
	cr_assert_eq(vg_store_open_existing(tmp.path, &s, &err), 0, "%s", err.msg);
	int v;
	cr_assert_eq(vg_store_schema_version(s, &v, &err), 0);
	cr_assert_geq(v, 5);
	vg_store_close(s);
}

Test(store, not_a_database_is_an_error)
{
	FILE *f = fopen(tmp.path, "w");
	fputs("this is not an sqlite database, just some bytes that are long enough....", f);
	fclose(f);
	vg_store *s = NULL;
	vg_error err;
	int rc = vg_store_open(tmp.path, &s, &err);
	cr_assert(rc == VG_ECORRUPT || rc == VG_EIO, "rc %d", rc);
	cr_assert_null(s);
}

Test(store, banks_are_unique_and_deletable)
{
	vg_error err;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "a", "first", &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "a", "again", &err), VG_EEXIST);
	cr_assert_eq(vg_store_bank_create(s, "b", NULL, &err), 0);
	vg_store_bank *banks;
	size_t n;
	cr_assert_eq(vg_store_bank_list(s, &banks, &n, &err), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(banks[0].name, "a");
	cr_assert_str_eq(banks[0].description, "first");
	cr_assert(banks[0].enabled);
	vg_store_bank_list_free(banks, n);
	cr_assert_eq(vg_store_bank_set_enabled(s, "a", false, &err), 0);
	vg_store_bank b;
	cr_assert_eq(vg_store_bank_get(s, "a", &b, &err), 0);
	cr_assert_not(b.enabled);
	vg_store_bank_done(&b);
	cr_assert_eq(vg_store_bank_delete(s, "a", &err), 0);
	cr_assert_eq(vg_store_bank_delete(s, "a", &err), VG_ENOENT);
	cr_assert_eq(vg_store_bank_get(s, "a", &b, &err), VG_ENOENT);
	cr_assert_eq(vg_store_bank_set_enabled(s, "zz", true, &err), VG_ENOENT);
	/* The newest bank's id is not handed out again once it is deleted. */
	cr_assert_eq(vg_store_bank_get(s, "b", &b, &err), 0);
	int64_t old_id = b.id;
	vg_store_bank_done(&b);
	cr_assert_eq(vg_store_bank_delete(s, "b", &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "c", NULL, &err), 0);
	cr_assert_eq(vg_store_bank_get(s, "c", &b, &err), 0);
	cr_assert_gt(b.id, old_id);
	vg_store_bank_done(&b);
	vg_store_close(s);
}

/* The database holds webhook secrets, reporters' addresses and hash lists: a new one,
 * and the WAL beside it, are the owner's alone whatever the umask. */
Test(store, a_new_database_is_private)
{
	mode_t old = umask(022);
	vg_store *s = tmpdb_open();
	vg_error err;
	cr_assert_eq(vg_store_bank_create(s, "a", NULL, &err), 0, "%s", err.msg);
	char wal[300];
	snprintf(wal, sizeof(wal), "%s-wal", tmp.path);
	struct stat st;
	cr_assert_eq(stat(tmp.path, &st), 0);
	cr_assert_eq(st.st_mode & 077, 0, "database mode %o", st.st_mode & 0777);
	cr_assert_eq(stat(wal, &st), 0);
	cr_assert_eq(st.st_mode & 077, 0, "wal mode %o", st.st_mode & 0777);
	vg_store_close(s);
	umask(old);
}

static const char *const V1 = "00000000000000000000000000000000000000000000000000000000000000ff";

Test(store, signals_dedupe_soft_delete_and_revive)
{
	vg_error err;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "a", "", &err), 0);
	int64_t b = bank_id(s, "a");
	int64_t id1, id2, id3;
	vg_store_add_result r;
	vg_store_signal sig;
	cr_assert_eq(vg_store_signal_add(s, b, "pdq", V1, "{\"k\":1}", &id1, &r, &err), 0);
	cr_assert_eq(r, VG_STORE_ADDED);
	cr_assert_eq(vg_store_signal_add(s, b, "pdq", V1, NULL, &id2, &r, &err), 0);
	cr_assert_eq(r, VG_STORE_DUPLICATE);
	cr_assert_eq(id1, id2);
	/* Same value, another type: another signal. */
	cr_assert_eq(vg_store_signal_add(s, b, "sha256", V1, NULL, &id3, &r, &err), 0);
	cr_assert_eq(r, VG_STORE_ADDED);
	cr_assert_neq(id3, id1);
	cr_assert_eq(vg_store_signal_add(s, b, "nosuchtype", V1, NULL, &id3, &r, &err), VG_EINVAL);
	cr_assert_eq(vg_store_signal_add(s, 999, "pdq", V1, NULL, &id3, &r, &err), VG_EINVAL);

	size_t removed;
	/* With a type, only that type's signal goes. */
	cr_assert_eq(vg_store_signal_remove(s, b, "sha256", V1, &removed, &err), 0);
	cr_assert_eq(removed, 1);
	cr_assert_eq(vg_store_signal_get(s, id1, &sig, &err), 0);
	cr_assert_eq(sig.removed_at, 0, "the pdq signal of the same value is still live");
	vg_store_signal_done(&sig);
	cr_assert_eq(vg_store_signal_add(s, b, "sha256", V1, NULL, &id3, &r, &err), 0);
	cr_assert_eq(r, VG_STORE_REVIVED);
	cr_assert_eq(vg_store_signal_remove(s, b, NULL, V1, &removed, &err), 0);
	cr_assert_eq(removed, 2, "without a type, both types of the value");
	cr_assert_eq(vg_store_signal_remove(s, b, NULL, V1, &removed, &err), 0);
	cr_assert_eq(removed, 0);

	cr_assert_eq(vg_store_signal_get(s, id1, &sig, &err), 0);
	cr_assert_neq(sig.removed_at, 0, "kept for audit");
	cr_assert_str_eq(sig.metadata, "{\"k\":1}");
	vg_store_signal_done(&sig);

	vg_store_bank bk;
	cr_assert_eq(vg_store_bank_get(s, "a", &bk, &err), 0);
	cr_assert_eq(bk.live_signals, 0);
	cr_assert_eq(bk.removed_signals, 2);
	vg_store_bank_done(&bk);

	cr_assert_eq(vg_store_signal_add(s, b, "pdq", V1, NULL, &id2, &r, &err), 0);
	cr_assert_eq(r, VG_STORE_REVIVED);
	cr_assert_eq(id2, id1, "a revived signal keeps its id");
	cr_assert_eq(vg_store_signal_get(s, id1, &sig, &err), 0);
	cr_assert_eq(sig.removed_at, 0);
	cr_assert_str_eq(sig.metadata, "{\"k\":1}", "no new metadata keeps the old");
	vg_store_signal_done(&sig);
	cr_assert_eq(vg_store_signal_get(s, 12345, &sig, &err), VG_ENOENT);
	vg_store_close(s);
}

static int count_fn(const vg_store_signal *sig, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

Test(store, walks_respect_enabled_removed_and_types)
{
	vg_error err;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "a", "", &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "b", "", &err), 0);
	int64_t a = bank_id(s, "a"), b = bank_id(s, "b"), id;
	vg_store_add_result r;
	char v[65];
	for (int i = 0; i < 10; i++) {
		snprintf(v, sizeof(v), "%064x", i);
		cr_assert_eq(vg_store_signal_add(s, i < 6 ? a : b, i % 2 ? "sha256" : "pdq", v, NULL,
						 &id, &r, &err),
			     0);
	}
	size_t removed, n = 0;
	snprintf(v, sizeof(v), "%064x", 0);
	cr_assert_eq(vg_store_signal_remove(s, a, NULL, v, &removed, &err), 0);
	cr_assert_eq(vg_store_signal_each(s, NULL, count_fn, &n, &err), 0);
	cr_assert_eq(n, 9);
	cr_assert_eq(vg_store_bank_set_enabled(s, "b", false, &err), 0);
	n = 0;
	cr_assert_eq(vg_store_signal_each(s, NULL, count_fn, &n, &err), 0);
	cr_assert_eq(n, 5);
	vg_store_filter f = {.bank_ids = &b, .n_bank_ids = 1};
	n = 0;
	cr_assert_eq(vg_store_signal_each(s, &f, count_fn, &n, &err), 0);
	cr_assert_eq(n, 4, "a named bank is walked even when disabled");
	static const char *const pdq_only[] = {"pdq"};
	vg_store_filter g = {.bank_ids = &a, .n_bank_ids = 1, .types = pdq_only, .n_types = 1,
			     .include_removed = true};
	n = 0;
	cr_assert_eq(vg_store_signal_each(s, &g, count_fn, &n, &err), 0);
	cr_assert_eq(n, 3);
	vg_store_close(s);
}

static uint64_t live_of(vg_store *s, const char *name, uint64_t *ret_removed)
{
	vg_store_bank b;
	vg_error err;
	cr_assert_eq(vg_store_bank_get(s, name, &b, &err), 0, "%s", err.msg);
	uint64_t n = b.live_signals;
	*ret_removed = b.removed_signals;
	vg_store_bank_done(&b);
	return n;
}

/* The counts are kept, not counted (the bank_counts migration): they must follow every
 * add, revive, duplicate, removal and rollback, from this connection or another one. */
Test(store, bank_counts_follow_adds_removes_revives_and_rollbacks)
{
	vg_error err;
	vg_store *s = open_ok(), *t = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "a", "", &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "b", "", &err), 0);
	int64_t a = bank_id(s, "a"), b = bank_id(s, "b"), id;
	vg_store_add_result r;
	uint64_t rem;
	char v[65];
	cr_assert_eq(vg_store_begin(s, &err), 0);
	for (int i = 0; i < 10; i++) {
		snprintf(v, sizeof(v), "%064x", i);
		cr_assert_eq(vg_store_signal_add(s, i < 7 ? a : b, "pdq", v, NULL, &id, &r, &err),
			     0);
		cr_assert_eq(vg_store_signal_add(s, i < 7 ? a : b, "pdq", v, NULL, &id, &r, &err),
			     0);
		cr_assert_eq(r, VG_STORE_DUPLICATE);
	}
	cr_assert_eq(vg_store_commit(s, &err), 0);
	cr_assert_eq(live_of(s, "a", &rem), 7);
	cr_assert_eq(rem, 0);
	cr_assert_eq(live_of(t, "b", &rem), 3, "another connection reads the same counts");

	size_t n;
	snprintf(v, sizeof(v), "%064x", 1);
	cr_assert_eq(vg_store_signal_remove(t, a, NULL, v, &n, &err), 0);
	cr_assert_eq(vg_store_signal_remove(t, a, NULL, v, &n, &err), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(live_of(s, "a", &rem), 6);
	cr_assert_eq(rem, 1);
	cr_assert_eq(vg_store_signal_add(s, a, "pdq", v, NULL, &id, &r, &err), 0);
	cr_assert_eq(r, VG_STORE_REVIVED);
	cr_assert_eq(live_of(s, "a", &rem), 7);
	cr_assert_eq(rem, 0);

	/* A rolled-back transaction moves nothing. */
	cr_assert_eq(vg_store_begin(s, &err), 0);
	cr_assert_eq(vg_store_signal_remove(s, a, NULL, v, &n, &err), 0);
	snprintf(v, sizeof(v), "%064x", 99);
	cr_assert_eq(vg_store_signal_add(s, b, "pdq", v, NULL, &id, &r, &err), 0);
	vg_store_rollback(s);
	cr_assert_eq(live_of(s, "a", &rem), 7);
	cr_assert_eq(rem, 0);
	cr_assert_eq(live_of(s, "b", &rem), 3);

	/* The list carries them too. */
	vg_store_bank *banks;
	size_t nb;
	cr_assert_eq(vg_store_bank_list(t, &banks, &nb, &err), 0);
	cr_assert_eq(nb, 2);
	cr_assert_eq(banks[0].live_signals, 7);
	cr_assert_eq(banks[1].live_signals, 3);
	vg_store_bank_list_free(banks, nb);
	vg_store_close(t);
	vg_store_close(s);
}

/* Found in review: every read of a bank counted its signals, so resolving a bank's name
 * (a bank-filtered match, a one-signal add, `vigil bank add`) cost seconds on a bank of
 * a million signals (87 ms a lookup at 200,000). A lookup now reads the counts the bank's
 * row keeps: a signal row written behind the store's back is not counted, where a count
 * over the rows would see it. (A time bound would say the same and fail on a slow
 * machine.) */
Test(store, bank_lookup_does_not_count_the_bank)
{
	vg_error err;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "big", "", &err), 0);
	int64_t big = bank_id(s, "big"), id;
	vg_store_add_result r;
	cr_assert_eq(vg_store_signal_add(s, big, "md5", "00000000000000000000000000000001", NULL,
					 &id, &r, &err), 0);
	uint64_t rem;
	cr_assert_eq(live_of(s, "big", &rem), 1);
	vg_store_close(s);
	sqlite3 *db = NULL;
	cr_assert_eq(sqlite3_open(tmp.path, &db), SQLITE_OK);
	char sql[256];
	snprintf(sql, sizeof(sql),
		 "INSERT INTO signals (bank_id, type, value, added_at) VALUES (%lld, 'md5', "
		 "'00000000000000000000000000000002', 1)",
		 (long long)big);
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
	sqlite3_close(db);
	s = open_ok();
	cr_assert_eq(live_of(s, "big", &rem), 1);
	vg_store_close(s);
}

static int first_id(const vg_store_signal *sig, void *ctx)
{
	*(int64_t *)ctx = sig->id;
	return 1;
}

/* Found in review: a page of GET /v1/banks/{name}/signals walked the bank from its first
 * signal and skipped up to the cursor, so a page deep in a bank of a million cost a
 * walk of the rows before it. The cursor is the walk's own now. */
Test(store, walks_start_after_the_cursor)
{
	vg_error err;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "a", "", &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "b", "", &err), 0);
	int64_t a = bank_id(s, "a"), b = bank_id(s, "b"), ids[6];
	vg_store_add_result r;
	char v[65];
	for (int i = 0; i < 6; i++) {
		snprintf(v, sizeof(v), "%032x", i);
		cr_assert_eq(
			vg_store_signal_add(s, i % 2 ? b : a, "md5", v, NULL, &ids[i], &r, &err),
			0);
	}
	/* a holds ids[0], ids[2], ids[4]. */
	vg_store_filter f = {.bank_ids = &a, .n_bank_ids = 1, .after_id = ids[0]};
	int64_t got = 0;
	cr_assert_eq(vg_store_signal_each(s, &f, first_id, &got, &err), 1);
	cr_assert_eq(got, ids[2]);
	f.after_id = ids[3];
	cr_assert_eq(vg_store_signal_each(s, &f, first_id, &got, &err), 1);
	cr_assert_eq(got, ids[4]);
	size_t n = 0;
	f.after_id = ids[4];
	cr_assert_eq(vg_store_signal_each(s, &f, count_fn, &n, &err), 0);
	cr_assert_eq(n, 0);
	static const char *const md5_only[] = {"md5"};
	vg_store_filter g = {.bank_ids = &b,
			     .n_bank_ids = 1,
			     .types = md5_only,
			     .n_types = 1,
			     .after_id = ids[1]};
	cr_assert_eq(vg_store_signal_each(s, &g, count_fn, &n, &err), 0);
	cr_assert_eq(n, 2, "the cursor beside bank and type filters");
	vg_store_close(s);
}

Test(store, watermark_moves_on_commit_not_on_rollback)
{
	vg_error err;
	vg_store *s = open_ok();
	vg_store_watermark w0, w1, w2, w3;
	cr_assert_eq(vg_store_watermark_get(s, &w0, &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "a", "", &err), 0);
	cr_assert_eq(vg_store_watermark_get(s, &w1, &err), 0);
	cr_assert_gt(w1.seq, w0.seq);
	int64_t b = bank_id(s, "a"), id;
	vg_store_add_result r;
	cr_assert_eq(vg_store_begin(s, &err), 0);
	cr_assert_eq(vg_store_signal_add(s, b, "pdq", V1, NULL, &id, &r, &err), 0);
	vg_store_rollback(s);
	cr_assert_eq(vg_store_watermark_get(s, &w2, &err), 0);
	cr_assert_eq(w2.seq, w1.seq);
	size_t n = 0;
	cr_assert_eq(vg_store_signal_each(s, NULL, count_fn, &n, &err), 0);
	cr_assert_eq(n, 0, "rolled back");
	cr_assert_eq(vg_store_begin(s, &err), 0);
	cr_assert_eq(vg_store_signal_add(s, b, "pdq", V1, NULL, &id, &r, &err), 0);
	cr_assert_eq(vg_store_commit(s, &err), 0);
	cr_assert_eq(vg_store_watermark_get(s, &w3, &err), 0);
	cr_assert_gt(w3.seq, w2.seq);
	vg_store_close(s);
}

Test(store, ids_are_never_reused_and_writes_survive_reopen)
{
	vg_error err;
	vg_store *s = open_ok();
	cr_assert_eq(vg_store_bank_create(s, "a", "", &err), 0);
	cr_assert_eq(vg_store_bank_create(s, "b", "", &err), 0);
	int64_t id1, id2;
	vg_store_add_result r;
	cr_assert_eq(vg_store_signal_add(s, bank_id(s, "b"), "pdq", V1, NULL, &id1, &r, &err), 0);
	cr_assert_eq(vg_store_bank_delete(s, "b", &err), 0);
	vg_store_close(s);
	s = open_ok();
	cr_assert_eq(vg_store_signal_add(s, bank_id(s, "a"), "pdq", V1, NULL, &id2, &r, &err), 0);
	cr_assert_gt(id2, id1);
	vg_store_close(s);
	s = open_ok();
	vg_store_signal sig;
	cr_assert_eq(vg_store_signal_get(s, id2, &sig, &err), 0);
	cr_assert_str_eq(sig.bank, "a");
	cr_assert_str_eq(sig.value, V1);
	vg_store_signal_done(&sig);
	vg_store_close(s);
}

Test(store, resolve_path)
{
	setenv("VIGIL_DB", "/x/env.db", 1);
	cr_assert_str_eq(vg_store_resolve_path("/flag.db"), "/flag.db");
	cr_assert_str_eq(vg_store_resolve_path(NULL), "/x/env.db");
	unsetenv("VIGIL_DB");
	cr_assert_str_eq(vg_store_resolve_path(NULL), VG_STORE_DEFAULT_PATH);
}

typedef struct label_list {
	char got[16][64];
	int n;
} label_list;

static int collect_label(const vg_store_label *l, void *ctx)
{
	label_list *ll = ctx;
	cr_assert_lt(ll->n, 16);
	snprintf(ll->got[ll->n++], 64, "%s/%s/%s", l->kind, l->entity, l->name);
	return 0;
}

static label_list find_labels(vg_store *s, vg_store_label_query q)
{
	label_list ll = {.n = 0};
	vg_error err;
	cr_assert_eq(vg_store_label_find(s, &q, collect_label, &ll, &err), 0, "%s", err.msg);
	return ll;
}

Test(store, labels_are_found_by_entity_or_name_paged_and_deleted)
{
	vg_store *s = open_ok();
	vg_error err;
	const vg_usec now = 1700000000000000;
	const vg_store_label v[] = {
		{"user", "a", "bad", 0},         {"user", "a", "vip", now + 1},
		{"user", "b", "bad", now + 100}, {"user", "c", "bad", now - 1}, /* expired */
		{"ip", "a", "bad", 0},
	};
	cr_assert_eq(vg_store_label_set_many(s, v, 5, &err), 0, "%s", err.msg);
	label_list ll = find_labels(s, (vg_store_label_query){.kind = "user", .now = now, .limit = 10});
	cr_assert_eq(ll.n, 3);
	cr_assert_str_eq(ll.got[0], "user/a/bad");
	cr_assert_str_eq(ll.got[1], "user/a/vip");
	cr_assert_str_eq(ll.got[2], "user/b/bad");
	ll = find_labels(s, (vg_store_label_query){.kind = "user", .entity = "a", .now = now, .limit = 10});
	cr_assert_eq(ll.n, 2);
	ll = find_labels(s, (vg_store_label_query){.kind = "user", .name = "bad", .now = now, .limit = 10});
	cr_assert_eq(ll.n, 2, "c's has expired");
	cr_assert_str_eq(ll.got[1], "user/b/bad");
	/* Pages: after (a, bad) comes (a, vip), then (b, bad). */
	ll = find_labels(s, (vg_store_label_query){.kind = "user", .after_entity = "a",
						   .after_name = "bad", .now = now, .limit = 1});
	cr_assert_eq(ll.n, 1);
	cr_assert_str_eq(ll.got[0], "user/a/vip");
	ll = find_labels(s, (vg_store_label_query){.kind = "user", .after_entity = "a",
						   .after_name = "vip", .now = now, .limit = 5});
	cr_assert_eq(ll.n, 1);
	cr_assert_str_eq(ll.got[0], "user/b/bad");
	vg_store_label_query bad = {.kind = "user", .now = now, .limit = 0};
	cr_assert_eq(vg_store_label_find(s, &bad, collect_label, &ll, &err), VG_EINVAL);
	bad = (vg_store_label_query){.kind = "", .now = now, .limit = 1};
	cr_assert_eq(vg_store_label_find(s, &bad, collect_label, &ll, &err), VG_EINVAL);

	bool found = false;
	cr_assert_eq(vg_store_label_delete(s, "user", "a", "bad", &found, &err), 0, "%s", err.msg);
	cr_assert(found);
	cr_assert_eq(vg_store_label_delete(s, "user", "a", "bad", &found, &err), 0);
	cr_assert_not(found, "gone already");
	/* c's label expired (against the wall clock, long after now): not a live one. */
	cr_assert_eq(vg_store_label_delete(s, "user", "c", "bad", &found, &err), 0);
	cr_assert_not(found);
	ll = find_labels(s, (vg_store_label_query){.kind = "user", .now = now, .limit = 10});
	cr_assert_eq(ll.n, 2);
	ll = find_labels(s, (vg_store_label_query){.kind = "ip", .now = now, .limit = 10});
	cr_assert_eq(ll.n, 1, "another kind's label stays");
	vg_store_close(s);
}
