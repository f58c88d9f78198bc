/* SPDX-License-Identifier: Apache-2.0
 *
 * The SQLite backend of the rules engine's labels (store.h's labels section, migration
 * 0003). store_sqlite.c owns the connection and its transactions; this file borrows them
 * through internal.h and dispatches from the vg__sqlite_labels_ops table.
 *
 * Invariants: a batch of label writes is one transaction (or part of the caller's), so
 * it is all durable or none of it; an upsert keeps one row per (kind, entity, name) and
 * the last write's expiry wins; statements are compiled per call, since label writes come
 * in batches (one per engine drain), never per event.
 */
#include <sqlite3.h>
#include <string.h>

#include "internal.h"

static int set_many(vg_store *s, const vg_store_label *v, size_t n, vg_error *err)
{
	sqlite3 *db = vg__sq_db(s);
	bool own;
	int rc = vg__sq_write_begin(s, &own, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int src = sqlite3_prepare_v2(db,
				     "INSERT INTO labels (kind, entity, name, expires_at, updated_at) "
				     "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (kind, entity, name) "
				     "DO UPDATE SET expires_at = excluded.expires_at, "
				     "updated_at = excluded.updated_at",
				     -1, &st, NULL);
	vg_usec now = vg_time_now();
	for (size_t i = 0; src == SQLITE_OK && i < n; i++) {
		sqlite3_bind_text(st, 1, v[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, v[i].entity, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, v[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, v[i].expires_at);
		sqlite3_bind_int64(st, 5, now);
		src = sqlite3_step(st);
		src = src == SQLITE_DONE ? SQLITE_OK : src;
		sqlite3_reset(st);
	}
	if (src != SQLITE_OK)
		rc = vg__sq_fail(s, src, err, "label write");
	sqlite3_finalize(st);
	return vg__sq_write_end(s, own, rc, err);
}

static int each(vg_store *s, vg_usec now, vg_store_label_fn *fn, void *ctx, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int src = sqlite3_prepare_v2(vg__sq_db(s),
				     "SELECT kind, entity, name, expires_at FROM labels "
				     "WHERE expires_at = 0 OR expires_at > ?1 ORDER BY kind, entity, name",
				     -1, &st, NULL);
	if (src != SQLITE_OK)
		return vg__sq_fail(s, src, err, "label walk");
	sqlite3_bind_int64(st, 1, now);
	int rc = 0;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_label l = {
			.kind = (const char *)sqlite3_column_text(st, 0),
			.entity = (const char *)sqlite3_column_text(st, 1),
			.name = (const char *)sqlite3_column_text(st, 2),
			.expires_at = sqlite3_column_int64(st, 3),
		};
		if (!l.kind || !l.entity || !l.name)
			continue;
		if ((rc = fn(&l, ctx)) != 0)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = vg__sq_fail(s, src, err, "label walk");
	sqlite3_finalize(st);
	return rc;
}

static int purge(vg_store *s, vg_usec now, size_t *ret_n, vg_error *err)
{
	bool own;
	int rc = vg__sq_write_begin(s, &own, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = vg__sq_db(s);
	int src = sqlite3_prepare_v2(db, "DELETE FROM labels WHERE expires_at <> 0 AND expires_at <= ?1",
				     -1, &st, NULL);
	if (src == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now);
		src = sqlite3_step(st);
		src = src == SQLITE_DONE ? SQLITE_OK : src;
	}
	size_t n = (size_t)sqlite3_changes(db);
	if (src != SQLITE_OK)
		rc = vg__sq_fail(s, src, err, "label purge");
	sqlite3_finalize(st);
	rc = vg__sq_write_end(s, own, rc, err);
	if (rc == 0 && ret_n)
		*ret_n = n;
	return rc;
}

const vg__store_labels_ops vg__sqlite_labels_ops = {
	.set_many = set_many,
	.each = each,
	.purge = purge,
};
