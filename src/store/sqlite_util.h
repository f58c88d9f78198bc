/* SPDX-License-Identifier: Apache-2.0
 *
 * Small helpers every SQLite file of the store shares: one-off statements, binding
 * optional values and limits, reading columns. Private to src/store/store_sqlite*.c (the only files that see
 * sqlite3.h); static inline so that each stays as cheap as the open-coded call.
 */
#ifndef VG__STORE_SQLITE_UTIL_H
#define VG__STORE_SQLITE_UTIL_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* A statement compiled for one call; the caller finalizes it. */
static inline int vg__sq_prepare(vg_store *s, const char *sql, sqlite3_stmt **ret, vg_error *err)
{
	int rc = sqlite3_prepare_v2(vg__sq_db(s), sql, -1, ret, NULL);
	return rc == SQLITE_OK ? 0 : vg__sq_fail(s, rc, err, "database");
}

static inline int vg__sq_exec(vg_store *s, const char *sql, vg_error *err)
{
	int rc = sqlite3_exec(vg__sq_db(s), sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : vg__sq_fail(s, rc, err, "database");
}

/* 0 (no row to point at) becomes NULL, which the foreign keys accept. */
static inline void bind_id(sqlite3_stmt *st, int i, int64_t id)
{
	if (id > 0)
		sqlite3_bind_int64(st, i, id);
	else
		sqlite3_bind_null(st, i);
}

/* limit 0 means every row; SQLite reads a negative LIMIT the same way. */
static inline void bind_limit(sqlite3_stmt *st, int i, size_t limit)
{
	sqlite3_bind_int64(st, i, limit == 0 || limit > (size_t)INT64_MAX ? -1 : (int64_t)limit);
}

static inline const char *col_str(sqlite3_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(st, col);
}

/* A new copy of a text column, or NULL for SQL NULL. */
static inline char *dup_col(sqlite3_stmt *st, int col)
{
	const char *t = col_str(st, col);
	return t ? vg_xstrdup(t) : NULL;
}

/* Like dup_col, but "" for NULL: for columns the schema declares NOT NULL. */
static inline char *dup_col0(sqlite3_stmt *st, int col)
{
	const char *t = col_str(st, col);
	return vg_xstrdup(t ? t : "");
}

static inline void copy_col(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const char *t = col_str(st, col);
	snprintf(out, size, "%s", t ? t : "");
}

/* 0 for SQL NULL (no row to point at). */
static inline int64_t col_id(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

/* Grows *v (of elements of size bytes) to hold n + 1; false when out of memory. The
 * lists are as long as the database's rows (bounded by the caller's limit when given),
 * so failing cleanly matters more than for the fixed allocations. */
static inline bool grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? 2 * *cap : 16;
	void *nv = ncap < SIZE_MAX / size ? realloc(*v, ncap * size) : NULL;
	if (!nv)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

#endif
