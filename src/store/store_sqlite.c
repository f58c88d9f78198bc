/* SPDX-License-Identifier: Apache-2.0
 *
 * The SQLite backend of the storage interface: the embedded default, one file beside
 * the binary's working directory. With store_sqlite_service.c (the scanning service's
 * calls, sharing this file's helpers through internal.h), the only file in vigil that
 * includes sqlite3.h.
 *
 * Invariants:
 * - Durability: WAL journal with synchronous=FULL, so a committed transaction survives
 *   kill -9 and power loss; foreign keys on; a busy timeout instead of instant
 *   SQLITE_BUSY when another process writes.
 * - Every write runs inside a BEGIN IMMEDIATE transaction (the caller's, or one of its
 *   own), and a transaction that changed anything bumps store_state.change_seq before
 *   it commits, so the watermark never misses a change.
 * - Signal ids come from store_state.last_signal_id, read under the write lock at the
 *   transaction's first insert and written back at commit: never reused, never racing.
 * - Writers of one process queue on a gate of their own before BEGIN IMMEDIATE, so they
 *   take turns as soon as the lock is free; SQLite's busy handler, which sleeps 1, 2, 5,
 *   10... ms between tries, then only ever waits for other processes. (Under concurrent
 *   POST /v1/events those sleeps made the p99 latency; the gate removed them.)
 * - Hot statements are prepared once and reused (a million-row import spends its time in
 *   the B-tree, not the SQL compiler). SQLite's errors become VG_E* codes here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "sqlite_util.h"

#define BUSY_TIMEOUT_MS 5000
/* Page cache per connection, in KiB (a negative cache_size). SQLite's 2 MiB default makes
 * a million-row import rewrite the same index pages to the WAL over and over; the cache
 * grows only as far as the database needs. */
#define CACHE_KIB 262144

enum {
	ST_SIG_INSERT,
	ST_SIG_FIND,
	ST_SIG_REVIVE,
	ST_SIG_REMOVE,
	ST_SIG_GET,
	ST_BANK_GET,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_COUNT
};

/* The counts are the bank row's own (the bank_counts migration), kept by tx_close:
 * counting the signals here made every read of a bank, even a name lookup, O(bank size). */
#define BANK_COLUMNS                                                                     \
	"SELECT b.id, b.name, b.description, b.enabled, b.created_at, b.updated_at, "    \
	"b.live_signals, b.removed_signals, b.actions, b.webhook_url, b.webhook_secret " \
	"FROM banks b "

static const char *const stmt_sql[ST_COUNT] = {
	[ST_SIG_INSERT] = "INSERT INTO signals (id, bank_id, type, value, metadata, added_at) "
			  "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
			  "ON CONFLICT (bank_id, value, type) DO NOTHING",
	[ST_SIG_FIND] = "SELECT id, removed_at FROM signals "
			"WHERE bank_id = ?1 AND value = ?2 AND type = ?3",
	[ST_SIG_REVIVE] = "UPDATE signals SET removed_at = NULL, added_at = ?2, "
			  "metadata = COALESCE(?3, metadata) WHERE id = ?1",
	[ST_SIG_REMOVE] = "UPDATE signals SET removed_at = ?3 "
			  "WHERE bank_id = ?1 AND value = ?2 AND (?4 IS NULL OR type = ?4) "
			  "AND removed_at IS NULL",
	[ST_SIG_GET] = "SELECT s.id, s.bank_id, b.name, s.type, s.value, s.metadata, "
		       "s.added_at, s.removed_at FROM signals s JOIN banks b ON b.id = s.bank_id "
		       "WHERE s.id = ?1",
	[ST_BANK_GET] = BANK_COLUMNS "WHERE b.name = ?1",
	[ST_SAVEPOINT] = "SAVEPOINT vg_write",
	[ST_RELEASE] = "RELEASE vg_write",
};

/* A bank whose signals the open transaction changed, and by how much its counts move
 * (banks.live_signals and removed_signals, written at commit). */
struct touched {
	int64_t bank_id;
	int64_t live, removed; /* deltas */
};

typedef struct sq {
	vg_store base;
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	bool in_tx;   /* the caller's transaction is open */
	bool gated;   /* this connection holds the process's write gate */
	bool dirty;   /* the open transaction changed something */
	int64_t next_id; /* next signal id in this transaction; 0 = not read yet */
	struct touched *touched; /* banks whose signals changed in this transaction */
	size_t n_touched, cap_touched;
	sqlite3_stmt *svc[VG__SQ_SLOTS]; /* store_sqlite_service.c's cached statements */
	int64_t committed_seq;           /* vg_store_committed_seq */
} sq;

static int fail(sq *q, int rc, vg_error *err, const char *what)
{
	int code;
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		code = rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
			       ? VG_EEXIST
			       : VG_EINVAL;
		break;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT: code = VG_ECORRUPT; break;
	case SQLITE_NOMEM: code = VG_ENOMEM; break;
	case SQLITE_TOOBIG: code = VG_ETOOBIG; break;
	/* Another process held the database past the busy timeout: passing, so the
	 * caller is told to try again (HTTP 503), not that something broke. */
	case SQLITE_BUSY:
	case SQLITE_LOCKED: code = VG_EBUSY; break;
	default: code = VG_EIO; break;
	}
	return vg_error_set(err, code, "%s: %s", what,
			    q && q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
}

static int exec(sq *q, const char *sql, vg_error *err)
{
	int rc = sqlite3_exec(q->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : fail(q, rc, err, "database");
}

/* A statement compiled for one call (the cold paths); finalize it when done. */
static int prepare(sq *q, const char *sql, sqlite3_stmt **ret, vg_error *err)
{
	int rc = sqlite3_prepare_v2(q->db, sql, -1, ret, NULL);
	return rc == SQLITE_OK ? 0 : fail(q, rc, err, "database");
}

/* A cached statement, reset and unbound, ready for its parameters. */
static int cached(sq *q, int which, sqlite3_stmt **ret, vg_error *err)
{
	if (!q->st[which]) {
		int rc = sqlite3_prepare_v3(q->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
					    &q->st[which], NULL);
		if (rc != SQLITE_OK)
			return fail(q, rc, err, "database");
	}
	sqlite3_reset(q->st[which]);
	sqlite3_clear_bindings(q->st[which]);
	*ret = q->st[which];
	return 0;
}

/* ---- transactions ------------------------------------------------------------------ */

/* Records a change to bank_id's signals: live and removed are how far its counts move. */
static void touch(sq *q, int64_t bank_id, int64_t live, int64_t removed)
{
	q->dirty = true;
	for (size_t i = 0; i < q->n_touched; i++)
		if (q->touched[i].bank_id == bank_id) {
			q->touched[i].live += live;
			q->touched[i].removed += removed;
			return;
		}
	if (q->n_touched == q->cap_touched) {
		q->cap_touched = q->cap_touched ? 2 * q->cap_touched : 8;
		struct touched *t = realloc(q->touched, q->cap_touched * sizeof(*t));
		if (!t)
			abort(); /* a handful of ids: a small fixed allocation (STYLE.md 3) */
		q->touched = t;
	}
	q->touched[q->n_touched++] = (struct touched){bank_id, live, removed};
}

static void tx_reset(sq *q)
{
	q->in_tx = q->dirty = false;
	q->next_id = 0;
	q->n_touched = 0;
}

/* The process's write gate: a flag, not a mutex, because a transaction may end on
 * another thread than the one that began it. A wait past the busy timeout gives up on
 * the gate and lets SQLite's own lock decide (say, a thread that opened a second
 * connection's transaction inside its first). */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_busy;

static void gate_enter(sq *q)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += BUSY_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&gate_mu);
	int rc = 0;
	while (gate_busy && rc == 0)
		rc = pthread_cond_timedwait(&gate_cv, &gate_mu, &until);
	if (!gate_busy) {
		gate_busy = true;
		q->gated = true;
	}
	pthread_mutex_unlock(&gate_mu);
}

static void gate_leave(sq *q)
{
	if (!q->gated)
		return;
	q->gated = false;
	pthread_mutex_lock(&gate_mu);
	gate_busy = false;
	pthread_cond_signal(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static int tx_open(sq *q, vg_error *err)
{
	/* IMMEDIATE takes the write lock now, so nothing else can hand out our ids. */
	gate_enter(q);
	int rc = exec(q, "BEGIN IMMEDIATE", err);
	if (rc == 0)
		tx_reset(q);
	else
		gate_leave(q);
	return rc;
}

/* A fresh random tag for store_state.change_tag (see migration 5): SQLite's generator,
 * seeded from the system's randomness. */
static int64_t change_tag(void)
{
	uint64_t v;
	sqlite3_randomness(sizeof(v), &v);
	return (int64_t)(v >> 1);
}

/* Records the transaction's changes in store_state and commits. */
static int tx_close(sq *q, vg_error *err)
{
	int rc = 0;
	int64_t seq = 0;
	sqlite3_stmt *st = NULL;
	if (q->dirty) {
		vg_usec now = vg_time_now();
		for (size_t i = 0; i < q->n_touched && rc == 0; i++) {
			if ((rc = prepare(q,
					  "UPDATE banks SET updated_at = ?2, "
					  "live_signals = live_signals + ?3, "
					  "removed_signals = removed_signals + ?4 WHERE id = ?1",
					  &st, err)))
				break;
			sqlite3_bind_int64(st, 1, q->touched[i].bank_id);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_int64(st, 3, q->touched[i].live);
			sqlite3_bind_int64(st, 4, q->touched[i].removed);
			int s = sqlite3_step(st);
			if (s != SQLITE_DONE)
				rc = fail(q, s, err, "database");
			sqlite3_finalize(st);
			st = NULL;
		}
		if (rc == 0 &&
		    (rc = prepare(q,
				  "UPDATE store_state SET change_seq = change_seq + 1, change_tag = ?2, "
				  "last_signal_id = MAX(last_signal_id, ?1) WHERE id = 1 "
				  "RETURNING change_seq",
				  &st, err)) == 0) {
			sqlite3_bind_int64(st, 1, q->next_id ? q->next_id - 1 : 0);
			sqlite3_bind_int64(st, 2, change_tag());
			int s = sqlite3_step(st);
			if (s == SQLITE_ROW) {
				seq = sqlite3_column_int64(st, 0);
				s = sqlite3_step(st);
			}
			if (s != SQLITE_DONE)
				rc = fail(q, s, err, "database");
			sqlite3_finalize(st);
		}
	}
	if (rc == 0)
		rc = exec(q, "COMMIT", err);
	if (rc != 0)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	q->committed_seq = rc == 0 ? seq : 0;
	tx_reset(q);
	gate_leave(q);
	return rc;
}

static int sq_begin(vg_store *s, vg_error *err)
{
	sq *q = (sq *)s;
	if (q->in_tx)
		return vg_error_set(err, VG_EINTERNAL, "a transaction is already open");
	int rc = tx_open(q, err);
	if (rc == 0)
		q->in_tx = true;
	return rc;
}

static int sq_commit(vg_store *s, vg_error *err)
{
	sq *q = (sq *)s;
	if (!q->in_tx)
		return vg_error_set(err, VG_EINTERNAL, "no transaction is open");
	return tx_close(q, err);
}

static void sq_rollback(vg_store *s)
{
	sq *q = (sq *)s;
	if (!sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	tx_reset(q);
	gate_leave(q);
}

/* Single writes outside the caller's transaction run in one of their own. */
#define WRITE_BEGIN(q, err)                                                                 \
	bool own_tx_ = !(q)->in_tx;                                                         \
	if (own_tx_) {                                                                      \
		int brc_ = tx_open((q), (err));                                             \
		if (brc_)                                                                   \
			return brc_;                                                        \
	}

static int write_end(sq *q, bool own_tx, int rc, vg_error *err)
{
	if (!own_tx)
		return rc;
	if (rc != 0) {
		sq_rollback(&q->base);
		return rc;
	}
	return tx_close(q, err);
}

/* ---- open, migrations, close ------------------------------------------------------- */

static int migrate(sq *q, vg_error *err)
{
	int rc = exec(q,
		      "CREATE TABLE IF NOT EXISTS schema_version ("
		      "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
		      "applied_at BIGINT NOT NULL)",
		      err);
	if (rc)
		return rc;
	if ((rc = tx_open(q, err)))
		return rc;
	sqlite3_stmt *st = NULL;
	int have = 0;
	if ((rc = prepare(q, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &st, err)))
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW)
		have = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (have > (int)vg__migration_count) {
		rc = vg_error_set(err, VG_ECORRUPT,
				  "database schema version %d is newer than this vigil knows (%zu)",
				  have, vg__migration_count);
		goto out;
	}
	vg_usec now = vg_time_now();
	for (size_t i = (size_t)have; i < vg__migration_count; i++) {
		const vg__migration *m = &vg__migrations[i];
		int xrc = sqlite3_exec(q->db, m->sql, NULL, NULL, NULL);
		if (xrc != SQLITE_OK) {
			rc = fail(q, xrc, err, m->name);
			goto out;
		}
		if ((rc = prepare(q, "INSERT INTO schema_version (version, name, applied_at) "
				     "VALUES (?1, ?2, ?3)",
				  &st, err)))
			goto out;
		sqlite3_bind_int(st, 1, m->version);
		sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, now);
		int s = sqlite3_step(st);
		sqlite3_finalize(st);
		st = NULL;
		if (s != SQLITE_DONE) {
			rc = fail(q, s, err, "database");
			goto out;
		}
	}
	if ((rc = prepare(q, "INSERT INTO store_state (id, created_at, change_seq, last_signal_id) "
			     "VALUES (1, ?1, 0, 0) ON CONFLICT (id) DO NOTHING",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, now);
	int s = sqlite3_step(st);
	sqlite3_finalize(st);
	if (s != SQLITE_DONE) {
		rc = fail(q, s, err, "database");
		goto out;
	}
	rc = exec(q, "COMMIT", err);
out:
	if (rc)
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	tx_reset(q);
	gate_leave(q);
	return rc;
}

static void sq_close(vg_store *s)
{
	sq *q = (sq *)s;
	if (q->db && !sqlite3_get_autocommit(q->db))
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
	gate_leave(q);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(q->st[i]);
	for (int i = 0; i < VG__SQ_SLOTS; i++)
		sqlite3_finalize(q->svc[i]);
	sqlite3_close(q->db);
	free(q->touched);
	free(q);
}

static int sq_schema_version(vg_store *s, int *ret, vg_error *err)
{
	sq *q = (sq *)s;
	sqlite3_stmt *st = NULL;
	int rc = prepare(q, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &st, err);
	if (rc)
		return rc;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*ret = sqlite3_column_int(st, 0);
	else
		rc = fail(q, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int64_t sq_committed_seq(const vg_store *s)
{
	return ((const sq *)s)->committed_seq;
}

static int sq_watermark_get(vg_store *s, vg_store_watermark *ret, vg_error *err)
{
	sq *q = (sq *)s;
	sqlite3_stmt *st = NULL;
	int rc = prepare(q, "SELECT created_at, change_seq, change_tag FROM store_state WHERE id = 1",
			 &st, err);
	if (rc)
		return rc;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		ret->birth = sqlite3_column_int64(st, 0);
		ret->seq = sqlite3_column_int64(st, 1);
		ret->tag = sqlite3_column_int64(st, 2);
	} else {
		rc = step == SQLITE_DONE ? vg_error_set(err, VG_ECORRUPT, "store_state is empty")
					 : fail(q, step, err, "database");
	}
	sqlite3_finalize(st);
	return rc;
}

/* ---- banks ------------------------------------------------------------------------- */


static void read_bank(sqlite3_stmt *st, vg_store_bank *b)
{
	b->id = sqlite3_column_int64(st, 0);
	copy_col(st, 1, b->name, sizeof(b->name));
	b->description = dup_col(st, 2);
	if (!b->description)
		b->description = vg_xstrdup("");
	b->enabled = sqlite3_column_int(st, 3) != 0;
	b->created_at = sqlite3_column_int64(st, 4);
	b->updated_at = sqlite3_column_int64(st, 5);
	b->live_signals = (uint64_t)sqlite3_column_int64(st, 6);
	b->removed_signals = (uint64_t)sqlite3_column_int64(st, 7);
	b->actions = dup_col(st, 8);
	if (!b->actions)
		b->actions = vg_xstrdup("[]");
	b->webhook_url = dup_col(st, 9);
	b->webhook_secret = dup_col(st, 10);
}

static int sq_bank_create(vg_store *s, const char *name, const char *description, vg_error *err)
{
	sq *q = (sq *)s;
	WRITE_BEGIN(q, err);
	sqlite3_stmt *st = NULL;
	int rc = prepare(q,
			 "INSERT INTO banks (id, name, description, enabled, created_at, updated_at) "
			 "VALUES ((SELECT MAX(last_bank_id, (SELECT COALESCE(MAX(id), 0) FROM banks)) + 1 "
			 "FROM store_state WHERE id = 1), ?1, ?2, 1, ?3, ?3)",
			 &st, err);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, description, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, vg_time_now());
		int step = sqlite3_step(st);
		if ((step & 0xff) == SQLITE_CONSTRAINT)
			rc = vg_error_set(err, VG_EEXIST, "bank '%s' already exists", name);
		else if (step != SQLITE_DONE)
			rc = fail(q, step, err, "database");
		else
			q->dirty = true;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* A deleted bank's id is never handed out again (migration 9). */
	if (rc == 0 && (rc = prepare(q, "UPDATE store_state SET last_bank_id = ?1 WHERE id = 1",
				     &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, sqlite3_last_insert_rowid(q->db));
		int step = sqlite3_step(st);
		if (step != SQLITE_DONE)
			rc = fail(q, step, err, "database");
		sqlite3_finalize(st);
	}
	return write_end(q, own_tx_, rc, err);
}

static int sq_bank_get(vg_store *s, const char *name, vg_store_bank *ret, vg_error *err)
{
	sq *q = (sq *)s;
	sqlite3_stmt *st = NULL;
	int rc = cached(q, ST_BANK_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_bank(st, ret);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no bank '%s'", name);
	else
		rc = fail(q, step, err, "database");
	sqlite3_reset(st);
	return rc;
}

/* vg__sq_collect's typed wrappers. */
static void bank_row(sqlite3_stmt *st, void *row)
{
	read_bank(st, row);
}

static void drop_banks(void *rows, size_t n)
{
	vg_store_bank_list_free(rows, n);
}

static int sq_bank_list(vg_store *s, vg_store_bank **ret_banks, size_t *ret_n, vg_error *err)
{
	sq *q = (sq *)s;
	sqlite3_stmt *st = NULL;
	int rc = prepare(q, BANK_COLUMNS "ORDER BY b.name", &st, err);
	if (rc)
		return rc;
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(vg_store_bank), bank_row, drop_banks,
				 "out of memory listing banks", &rows, ret_n, err)) == 0)
		*ret_banks = rows;
	return rc;
}

static int sq_bank_delete(vg_store *s, const char *name, vg_error *err)
{
	sq *q = (sq *)s;
	WRITE_BEGIN(q, err);
	sqlite3_stmt *st = NULL;
	/* Its queued webhooks go first: nothing is sent for a bank that is gone, and its
	 * secret does not stay behind in the outbox. */
	int rc = vg__sq_bank_webhook_changed(s, name, true, err);
	/* ON DELETE CASCADE takes the signals with the bank. */
	if (rc == 0)
		rc = prepare(q, "DELETE FROM banks WHERE name = ?1", &st, err);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		if (step != SQLITE_DONE)
			rc = fail(q, step, err, "database");
		else if (sqlite3_changes(q->db) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no bank '%s'", name);
		else
			q->dirty = true;
	}
	sqlite3_finalize(st);
	return write_end(q, own_tx_, rc, err);
}

static int sq_bank_set_enabled(vg_store *s, const char *name, bool enabled, vg_error *err)
{
	sq *q = (sq *)s;
	WRITE_BEGIN(q, err);
	sqlite3_stmt *st = NULL;
	int rc = prepare(q, "UPDATE banks SET enabled = ?2, updated_at = ?3 WHERE name = ?1", &st,
			 err);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, enabled ? 1 : 0);
		sqlite3_bind_int64(st, 3, vg_time_now());
		int step = sqlite3_step(st);
		if (step != SQLITE_DONE)
			rc = fail(q, step, err, "database");
		else if (sqlite3_changes(q->db) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no bank '%s'", name);
		else
			q->dirty = true;
	}
	sqlite3_finalize(st);
	return write_end(q, own_tx_, rc, err);
}

/* ---- signals ----------------------------------------------------------------------- */

static int next_signal_id(sq *q, int64_t *ret, vg_error *err)
{
	if (q->next_id == 0) {
		sqlite3_stmt *st = NULL;
		int rc = prepare(q,
				 "SELECT MAX(last_signal_id, (SELECT COALESCE(MAX(id), 0) FROM signals)) "
				 "FROM store_state WHERE id = 1",
				 &st, err);
		if (rc)
			return rc;
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			q->next_id = sqlite3_column_int64(st, 0) + 1;
		else
			rc = step == SQLITE_DONE
				     ? vg_error_set(err, VG_ECORRUPT, "store_state is empty")
				     : fail(q, step, err, "database");
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	*ret = q->next_id;
	return 0;
}

static int signal_add_locked(sq *q, int64_t bank_id, const char *type, const char *value,
			     const char *metadata, int64_t *ret_id,
			     vg_store_add_result *ret_result, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t id;
	vg_usec now = vg_time_now();
	int rc = next_signal_id(q, &id, err);
	if (rc || (rc = cached(q, ST_SIG_INSERT, &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, bank_id);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, value, -1, SQLITE_STATIC);
	if (metadata)
		sqlite3_bind_text(st, 5, metadata, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	int step = sqlite3_step(st);
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(q->db)) == SQLITE_CONSTRAINT_FOREIGNKEY)
			return vg_error_set(err, VG_EINVAL, "unknown signal type '%s' or bank",
					    type);
		return fail(q, sqlite3_extended_errcode(q->db), err, "database");
	}
	if (sqlite3_changes(q->db) == 1) {
		q->next_id++;
		touch(q, bank_id, 1, 0);
		*ret_id = id;
		*ret_result = VG_STORE_ADDED;
		return 0;
	}

	/* The triple exists: a duplicate, or a removed signal to revive. */
	if ((rc = cached(q, ST_SIG_FIND, &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, bank_id);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step != SQLITE_ROW) {
		sqlite3_reset(st);
		return step == SQLITE_DONE ? vg_error_set(err, VG_EINTERNAL, "signal vanished")
					   : fail(q, step, err, "database");
	}
	id = sqlite3_column_int64(st, 0);
	bool removed = sqlite3_column_type(st, 1) != SQLITE_NULL;
	sqlite3_reset(st);
	if (!removed) {
		*ret_id = id;
		*ret_result = VG_STORE_DUPLICATE;
		return 0;
	}
	if ((rc = cached(q, ST_SIG_REVIVE, &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	if (metadata)
		sqlite3_bind_text(st, 3, metadata, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return fail(q, step, err, "database");
	touch(q, bank_id, 1, -1);
	*ret_id = id;
	*ret_result = VG_STORE_REVIVED;
	return 0;
}

static int sq_signal_add(vg_store *s, int64_t bank_id, const char *type, const char *value,
			 const char *metadata, int64_t *ret_id, vg_store_add_result *ret_result,
			 vg_error *err)
{
	sq *q = (sq *)s;
	WRITE_BEGIN(q, err);
	int64_t id = 0;
	vg_store_add_result res = VG_STORE_DUPLICATE;
	int rc = signal_add_locked(q, bank_id, type, value, metadata, &id, &res, err);
	rc = write_end(q, own_tx_, rc, err);
	if (rc == 0) {
		*ret_id = id;
		*ret_result = res;
	}
	return rc;
}

static int sq_signal_remove(vg_store *s, int64_t bank_id, const char *type, const char *value,
			    size_t *ret_removed, vg_error *err)
{
	sq *q = (sq *)s;
	WRITE_BEGIN(q, err);
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int rc = cached(q, ST_SIG_REMOVE, &st, err);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, bank_id);
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, vg_time_now());
		if (type)
			sqlite3_bind_text(st, 4, type, -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		sqlite3_reset(st);
		if (step != SQLITE_DONE) {
			rc = fail(q, step, err, "database");
		} else {
			n = (size_t)sqlite3_changes(q->db);
			if (n)
				touch(q, bank_id, -(int64_t)n, (int64_t)n);
		}
	}
	rc = write_end(q, own_tx_, rc, err);
	if (rc == 0)
		*ret_removed = n;
	return rc;
}

/* Fills sig from a row of (id, bank_id, bank name, type, value, metadata, added_at,
 * removed_at); the strings point into the statement (borrowed until the next step). */
static void read_signal(sqlite3_stmt *st, vg_store_signal *sig)
{
	sig->id = sqlite3_column_int64(st, 0);
	sig->bank_id = sqlite3_column_int64(st, 1);
	copy_col(st, 2, sig->bank, sizeof(sig->bank));
	copy_col(st, 3, sig->type, sizeof(sig->type));
	sig->value = (char *)sqlite3_column_text(st, 4);
	sig->metadata = (char *)sqlite3_column_text(st, 5);
	sig->added_at = sqlite3_column_int64(st, 6);
	sig->removed_at = sqlite3_column_type(st, 7) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 7);
}

static int sq_signal_get(vg_store *s, int64_t id, vg_store_signal *ret, vg_error *err)
{
	sq *q = (sq *)s;
	sqlite3_stmt *st = NULL;
	int rc = cached(q, ST_SIG_GET, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		read_signal(st, ret);
		ret->value = vg_xstrdup(ret->value ? ret->value : "");
		ret->metadata = ret->metadata ? vg_xstrdup(ret->metadata) : NULL;
	} else if (step == SQLITE_DONE) {
		rc = vg_error_set(err, VG_ENOENT, "no signal %lld", (long long)id);
	} else {
		rc = fail(q, step, err, "database");
	}
	sqlite3_reset(st);
	return rc;
}

#define MAX_FILTER_BANKS 500

static int sq_signal_each(vg_store *s, const vg_store_filter *f, vg_store_signal_fn *fn,
			  void *ctx, vg_error *err)
{
	sq *q = (sq *)s;
	if (f->n_bank_ids > MAX_FILTER_BANKS || f->n_types > MAX_FILTER_BANKS)
		return vg_error_set(err, VG_ETOOBIG, "more than %d banks or types in one walk",
				    MAX_FILTER_BANKS);
	/* CROSS JOIN keeps signals as the outer loop, and the unary + keeps the planner off
	 * the (bank_id, value, type) index: one pass in rowid (= id) order with no sort,
	 * however many banks are selected. */
	char sql[512 + 4 * MAX_FILTER_BANKS];
	int len = snprintf(sql, sizeof(sql),
			   "SELECT s.id, s.bank_id, b.name, s.type, s.value, s.metadata, "
			   "s.added_at, s.removed_at FROM signals s CROSS JOIN banks b "
			   "WHERE b.id = s.bank_id%s%s AND ",
			   f->include_removed ? "" : " AND s.removed_at IS NULL",
			   f->after_id > 0 ? " AND s.id > ?" : "");
	if (f->n_bank_ids == 0) {
		len += snprintf(sql + len, sizeof(sql) - (size_t)len, "b.enabled = 1");
	} else {
		len += snprintf(sql + len, sizeof(sql) - (size_t)len, "+s.bank_id IN (");
		for (size_t i = 0; i < f->n_bank_ids; i++)
			len += snprintf(sql + len, sizeof(sql) - (size_t)len, "%s?", i ? "," : "");
		len += snprintf(sql + len, sizeof(sql) - (size_t)len, ")");
	}
	if (f->n_types) {
		len += snprintf(sql + len, sizeof(sql) - (size_t)len, " AND s.type IN (");
		for (size_t i = 0; i < f->n_types; i++)
			len += snprintf(sql + len, sizeof(sql) - (size_t)len, "%s?", i ? "," : "");
		len += snprintf(sql + len, sizeof(sql) - (size_t)len, ")");
	}
	snprintf(sql + len, sizeof(sql) - (size_t)len, " ORDER BY s.id");

	sqlite3_stmt *st = NULL;
	int rc = prepare(q, sql, &st, err);
	if (rc)
		return rc;
	/* The cursor is a rowid range: a later page starts where it is, not at the first row. */
	int at = 1;
	if (f->after_id > 0)
		sqlite3_bind_int64(st, at++, f->after_id);
	for (size_t i = 0; i < f->n_bank_ids; i++)
		sqlite3_bind_int64(st, at++, f->bank_ids[i]);
	for (size_t i = 0; i < f->n_types; i++)
		sqlite3_bind_text(st, at++, f->types[i], -1, SQLITE_STATIC);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_signal sig;
		read_signal(st, &sig);
		if (!sig.value)
			continue;
		if ((rc = fn(&sig, ctx)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = fail(q, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static const vg__store_ops sqlite_ops = {
	.close = sq_close,
	.schema_version = sq_schema_version,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.watermark_get = sq_watermark_get,
	.committed_seq = sq_committed_seq,
	.bank_create = sq_bank_create,
	.bank_get = sq_bank_get,
	.bank_list = sq_bank_list,
	.bank_delete = sq_bank_delete,
	.bank_set_enabled = sq_bank_set_enabled,
	.signal_add = sq_signal_add,
	.signal_remove = sq_signal_remove,
	.signal_get = sq_signal_get,
	.signal_each = sq_signal_each,
	.service = &vg__sqlite_service_ops,
	.labels = &vg__sqlite_labels_ops,
	.reports = &vg__sqlite_reports_ops,
};

/* Whether the open database holds vigil's schema (a schema_version row): read before
 * anything is written, so a file that is not ours is left as it was. */
static int has_schema(sq *q, bool *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(q,
			 "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
			 "name = 'schema_version'",
			 &st, err);
	if (rc)
		return rc;
	int step = sqlite3_step(st);
	bool table = step == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	if (step != SQLITE_ROW)
		rc = fail(q, step, err, "database");
	sqlite3_finalize(st);
	if (rc || !table) {
		*ret = false;
		return rc;
	}
	if ((rc = prepare(q, "SELECT COUNT(*) FROM schema_version", &st, err)))
		return rc;
	step = sqlite3_step(st);
	*ret = step == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	if (step != SQLITE_ROW)
		rc = fail(q, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

int vg__store_sqlite_open(const char *path, bool create, vg_store **ret, vg_error *err)
{
	sq *q = vg_xcalloc(1, sizeof(*q));
	q->base.ops = &sqlite_ops;
	int rc;
	/* Without create, a missing file is its own error (SQLite's "unable to open" would
	 * not say which), and the open below cannot make one meanwhile. */
	if (!create && access(path, F_OK) != 0 && errno == ENOENT) {
		rc = vg_error_set(err, VG_ENOENT, "no such database (the file does not exist)");
		goto out;
	}
	/* A new database is made readable by its owner only: it holds bank webhook secrets,
	 * reporters' names and addresses, and the hash lists, and SQLite would make it (and
	 * then its -wal and -shm, which copy its mode) 0644 under the usual umask. */
	if (create && path[0] != ':' && strncmp(path, "file:", 5) != 0) {
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	rc = sqlite3_open_v2(path, &q->db,
			     SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		rc = vg_error_set(err, VG_EIO, "cannot open database %s: %s", path,
				  q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
	if (!create) {
		bool ours = false;
		if ((rc = has_schema(q, &ours, err)))
			goto out;
		if (!ours) {
			rc = vg_error_set(err, VG_ENOENT,
					  "not a vigil database (it has no vigil schema)");
			goto out;
		}
	}

	/* journal_mode answers with the mode it ended in; anything but WAL (a read-only
	 * directory, a file system without shared memory) would break durability's terms. */
	sqlite3_stmt *st = NULL;
	if ((rc = prepare(q, "PRAGMA journal_mode = WAL", &st, err)))
		goto out;
	int step = sqlite3_step(st);
	bool wal = step == SQLITE_ROW &&
		   sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	if (step != SQLITE_ROW)
		rc = fail(q, step, err, "database");
	sqlite3_finalize(st);
	if (rc)
		goto out;
	if (!wal) {
		rc = vg_error_set(err, VG_EIO, "database %s cannot use WAL journaling", path);
		goto out;
	}
	char cache[64];
	snprintf(cache, sizeof(cache), "PRAGMA cache_size = -%d", CACHE_KIB);
	if ((rc = exec(q, "PRAGMA synchronous = FULL", err)) || (rc = exec(q, cache, err)) ||
	    (rc = exec(q, "PRAGMA foreign_keys = ON", err)) || (rc = migrate(q, err)))
		goto out;
	*ret = &q->base;
	q = NULL;
out:
	if (q)
		sq_close(&q->base);
	return rc;
}

/* ---- helpers for store_sqlite_service.c (internal.h) ------------------------------- */

struct sqlite3 *vg__sq_db(vg_store *s)
{
	return ((sq *)s)->db;
}

int vg__sq_fail(vg_store *s, int rc, vg_error *err, const char *what)
{
	return fail((sq *)s, rc, err, what);
}

int vg__sq_cached(vg_store *s, int slot, const char *sql, sqlite3_stmt **ret, vg_error *err)
{
	sq *q = (sq *)s;
	if (slot < 0 || slot >= VG__SQ_SLOTS)
		return vg_error_set(err, VG_EINTERNAL, "statement slot %d out of range", slot);
	if (!q->svc[slot]) {
		int rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
					    &q->svc[slot], NULL);
		if (rc != SQLITE_OK)
			return fail(q, rc, err, "database");
	}
	sqlite3_reset(q->svc[slot]);
	sqlite3_clear_bindings(q->svc[slot]);
	*ret = q->svc[slot];
	return 0;
}

int vg__sq_write_begin(vg_store *s, bool *ret_own, vg_error *err)
{
	sq *q = (sq *)s;
	if (q->in_tx) {
		*ret_own = false;
		return 0;
	}
	int rc = tx_open(q, err);
	if (rc == 0)
		*ret_own = true;
	return rc;
}

int vg__sq_write_end(vg_store *s, bool own, int rc, vg_error *err)
{
	return write_end((sq *)s, own, rc, err);
}

int vg__sq_savepoint(vg_store *s, bool release, vg_error *err)
{
	sq *q = (sq *)s;
	sqlite3_stmt *st = NULL;
	int rc = cached(q, release ? ST_RELEASE : ST_SAVEPOINT, &st, err);
	if (rc)
		return rc;
	int step = sqlite3_step(st);
	rc = step == SQLITE_DONE ? 0 : fail(q, step, err, "database");
	sqlite3_reset(st);
	return rc;
}

void vg__sq_mark_changed(vg_store *s)
{
	((sq *)s)->dirty = true;
}

bool vg__sq_in_tx(vg_store *s)
{
	return ((sq *)s)->in_tx;
}
