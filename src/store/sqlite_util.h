/* SPDX-License-Identifier: Apache-2.0
 *
 * Small helpers every SQLite file of the store shares: one-off statements, binding
 * optional values and limits, reading columns, collecting rows into lists, and write
 * transactions that join the caller's. Private to src/store/store_sqlite*.c (the only
 * files that see sqlite3.h); static inline so that each stays as cheap as the open-coded
 * call.
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

/* ---- lists: every row of a statement into a new array ------------------------------------ */

/* Reads the current row of st into *row (one element of the caller's array). */
typedef void vg__sq_row_fn(sqlite3_stmt *st, void *row);
/* Frees an array of n elements read by a vg__sq_row_fn, with what they own. */
typedef void vg__sq_drop_fn(void *rows, size_t n);

/* Steps st to its end, reading each row with read_row into a new array of elements of size
 * bytes, and finalizes st whatever happens. On success *ret (free with drop_rows, or free()
 * when drop_rows is NULL: rows that own nothing) and *ret_n; an empty result is NULL, 0.
 * Errors: VG_ENOMEM with oom as the message, or the step's error (read before the finalize,
 * so its message is the step's); the rows read so far are freed and nothing is written.
 * read_row and drop_rows take void *, so each list gives small typed wrappers rather than
 * casting its functions (a call through a mismatched function type is undefined). */
static inline int vg__sq_collect(vg_store *s, sqlite3_stmt *st, size_t size,
				 vg__sq_row_fn *read_row, vg__sq_drop_fn *drop_rows, const char *oom,
				 void **ret, size_t *ret_n, vg_error *err)
{
	void *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!grow(&v, &cap, n, size)) {
			rc = vg_error_set(err, VG_ENOMEM, "%s", oom);
			break;
		}
		read_row(st, (char *)v + n++ * size);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	if (rc) {
		if (drop_rows)
			drop_rows(v, n);
		else
			free(v);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* A vg__sq_row_fn for lists of one integer (ids, durations): column 0 as an int64_t. */
static inline void int_row(sqlite3_stmt *st, void *row)
{
	*(int64_t *)row = sqlite3_column_int64(st, 0);
}

/* ---- writes: the caller's transaction or one of our own ----------------------------------- */

typedef struct wtx {
	bool own;       /* we opened the transaction */
	bool savepoint; /* we opened a savepoint inside the caller's */
} wtx;

/* Opens a write transaction, or joins the caller's. multi: the call writes more than one
 * row, so inside the caller's transaction it needs a savepoint to undo its own part on
 * failure (a half-written change must not be left for the caller to commit). Savepoints
 * of one name nest, so a write inside another's savepoint keeps its own. */
static inline int wbegin(vg_store *s, wtx *w, bool multi, vg_error *err)
{
	w->savepoint = false;
	int rc = vg__sq_write_begin(s, &w->own, err);
	if (rc || w->own || !multi)
		return rc;
	if ((rc = vg__sq_savepoint(s, false, err)) == 0)
		w->savepoint = true;
	return rc;
}

/* Ends what wbegin opened: commits on rc 0, else rolls back; returns rc or the commit's
 * error. */
static inline int wend(vg_store *s, wtx *w, int rc, vg_error *err)
{
	if (w->savepoint) {
		if (rc)
			sqlite3_exec(vg__sq_db(s), "ROLLBACK TO vg_write; RELEASE vg_write", NULL,
				     NULL, NULL);
		else
			rc = vg__sq_savepoint(s, true, err);
	}
	return vg__sq_write_end(s, w->own, rc, err);
}

#endif
