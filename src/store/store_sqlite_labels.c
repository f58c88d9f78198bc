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

/* The walk's statement, for each() and find(). */
static int walk(vg_store *s, sqlite3_stmt *st, vg_store_label_fn *fn, void *ctx, vg_error *err)
{
	int rc = 0, src;
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
	return walk(s, st, fn, ctx, err);
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

/* The primary key (kind, entity, name) serves every form: one kind's range, then one
 * entity's, and the (entity, name) cursor as a row value. */
static int find(vg_store *s, const vg_store_label_query *q, vg_store_label_fn *fn, void *ctx,
		vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int src = sqlite3_prepare_v2(vg__sq_db(s),
				     "SELECT kind, entity, name, expires_at FROM labels "
				     "WHERE kind = ?1 AND (?2 IS NULL OR entity = ?2) "
				     "AND (?3 IS NULL OR name = ?3) "
				     "AND (expires_at = 0 OR expires_at > ?4) "
				     "AND (?5 IS NULL OR (entity, name) > (?5, ?6)) "
				     "ORDER BY entity, name LIMIT ?7",
				     -1, &st, NULL);
	if (src != SQLITE_OK)
		return vg__sq_fail(s, src, err, "label query");
	sqlite3_bind_text(st, 1, q->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->entity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, q->now);
	sqlite3_bind_text(st, 5, q->after_entity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->after_name ? q->after_name : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)q->limit);
	return walk(s, st, fn, ctx, err);
}

static int delete_one(vg_store *s, const char *kind, const char *entity, const char *name,
		      vg_usec now, bool *ret_found, vg_error *err)
{
	bool own;
	int rc = vg__sq_write_begin(s, &own, err);
	if (rc)
		return rc;
	sqlite3 *db = vg__sq_db(s);
	sqlite3_stmt *st = NULL;
	/* An expired row is a dead label: removing it removes nothing live. */
	int src = sqlite3_prepare_v2(db,
				     "DELETE FROM labels WHERE kind = ?1 AND entity = ?2 AND name = ?3 "
				     "RETURNING expires_at = 0 OR expires_at > ?4",
				     -1, &st, NULL);
	bool found = false;
	if (src == SQLITE_OK) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, entity, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, now);
		while ((src = sqlite3_step(st)) == SQLITE_ROW)
			found = sqlite3_column_int(st, 0) != 0;
		src = src == SQLITE_DONE ? SQLITE_OK : src;
	}
	if (src != SQLITE_OK)
		rc = vg__sq_fail(s, src, err, "label delete");
	sqlite3_finalize(st);
	rc = vg__sq_write_end(s, own, rc, err);
	if (rc == 0)
		*ret_found = found;
	return rc;
}

const vg__store_labels_ops vg__sqlite_labels_ops = {
	.set_many = set_many,
	.each = each,
	.purge = purge,
	.find = find,
	.delete_one = delete_one,
};
