/* SPDX-License-Identifier: Apache-2.0
 *
 * The SQLite backend of the scanning service's calls (store.h's last section, migration
 * 0002): tokens, the audit chain, bank actions, scans, blocks, cases and the outbox.
 * store_sqlite.c owns the connection and its transactions; this file borrows them
 * through internal.h and dispatches from the vg__sqlite_service_ops table.
 *
 * Invariants:
 * - Every write runs under the write lock: in its own BEGIN IMMEDIATE transaction, or in
 *   the caller's (vg_store_begin is IMMEDIATE too). So the read-then-write sequences here
 *   (the audit head, the open case of a URL, the active block of a URL, the live token of
 *   a name, the unclaimed due rows of the outbox) see no other writer between their read
 *   and their write, whichever thread or process it is.
 * - A call that writes more than one row does so inside a savepoint when it runs in the
 *   caller's transaction, so a failure leaves nothing half-written for the caller to
 *   commit by mistake.
 * - None of these writes marks the transaction as a change to banks or signals, except
 *   bank_update: a scan or an audit entry does not make an index snapshot stale.
 * - Cached statements are reset before a call returns, so no read snapshot outlives the
 *   call; walks that call back into the caller compile their own statement, so a
 *   callback may use the store (another cached statement) safely.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sqlite_util.h"

/* Cached statements (vg__sq_cached slots): the calls made per request or per delivery. */
enum {
	SL_TOKEN_BY_HASH,
	SL_AUDIT_HEAD,
	SL_AUDIT_INSERT,
	SL_AUDIT_HEAD_SET,
	SL_SCAN_INSERT,
	SL_BLOCK_ACTIVE,
	SL_BLOCK_INSERT,
	SL_BLOCK_GET,
	SL_BLOCK_OWNER,
	SL_CASE_FIND_OPEN,
	SL_CASE_TOUCH,
	SL_CASE_INSERT,
	SL_CASE_EVENT,
	SL_BANK_NAME,
	SL_OUTBOX_BY_KEY,
	SL_OUTBOX_INSERT,
	SL_OUTBOX_FINISH,
	SL_OUTBOX_STATE,
	SL_OUTBOX_CLAIM,
	SL_COUNT
};
_Static_assert(SL_COUNT <= VG__SQ_SLOTS, "raise VG__SQ_SLOTS in internal.h");

static const char *const zero_hash =
	"0000000000000000000000000000000000000000000000000000000000000000";

/* ---- small helpers ----------------------------------------------------------------- */

static int cached(vg_store *s, int slot, const char *sql, sqlite3_stmt **ret, vg_error *err)
{
	return vg__sq_cached(s, slot, sql, ret, err);
}

/* Steps a statement that returns no row, then resets it. The error is read before the
 * reset so that its message is the step's. */
static int run(vg_store *s, sqlite3_stmt *st, vg_error *err)
{
	int step = sqlite3_step(st);
	int rc = step == SQLITE_DONE ? 0 : vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Whether a row exists for sql with one id parameter: 1, 0, or a negative error. */
static int exists(vg_store *s, const char *sql, int64_t id, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, sql, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* ---- tokens ------------------------------------------------------------------------ */

#define TOKEN_COLUMNS "SELECT id, name, role, hash, created_at, revoked_at FROM tokens "

static void read_token(sqlite3_stmt *st, vg_store_token *t)
{
	t->id = sqlite3_column_int64(st, 0);
	copy_col(st, 1, t->name, sizeof(t->name));
	copy_col(st, 2, t->role, sizeof(t->role));
	copy_col(st, 3, t->hash, sizeof(t->hash));
	t->created_at = sqlite3_column_int64(st, 4);
	t->revoked_at = col_id(st, 5);
}

/* vg__sq_collect's typed wrapper; a token owns nothing, so free() drops a list. */
static void token_row(sqlite3_stmt *st, void *row)
{
	read_token(st, row);
}

static int sq_token_create(vg_store *s, const char *name, const char *role, const char *hash_hex,
			   int64_t *ret_id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	/* The partial unique index would refuse the insert too; asking first tells a live
	 * name apart from a repeated secret. */
	if ((rc = vg__sq_prepare(s, "SELECT 1 FROM tokens WHERE name = ?1 AND revoked_at IS NULL", &st,
			  err)))
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		rc = vg_error_set(err, VG_EEXIST, "a live token is named '%s'", name);
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		goto out;
	if ((rc = vg__sq_prepare(s,
			  "INSERT INTO tokens (id, name, role, hash, created_at) VALUES "
			  "((SELECT COALESCE(MAX(id), 0) + 1 FROM tokens), ?1, ?2, ?3, ?4)",
			  &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hash_hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, vg_time_now());
	step = sqlite3_step(st);
	if (step == SQLITE_CONSTRAINT_UNIQUE)
		rc = vg_error_set(err, VG_EEXIST, "a token with this secret exists");
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	else
		id = sqlite3_last_insert_rowid(vg__sq_db(s));
out:
	sqlite3_finalize(st);
	rc = wend(s, &w, rc, err);
	if (rc == 0)
		*ret_id = id;
	return rc;
}

static int sq_token_by_hash(vg_store *s, const char *hash_hex, vg_store_token *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cached(s, SL_TOKEN_BY_HASH,
			TOKEN_COLUMNS "WHERE hash = ?1 AND revoked_at IS NULL", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, hash_hex, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_token(st, ret);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no such token");
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	return rc;
}

static int sq_token_list(vg_store *s, vg_store_token **ret, size_t *ret_n, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, TOKEN_COLUMNS "ORDER BY name, id", &st, err);
	if (rc)
		return rc;
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(vg_store_token), token_row, NULL,
				 "out of memory listing tokens", &rows, ret_n, err)) == 0)
		*ret = rows;
	return rc;
}

static int sq_token_revoke(vg_store *s, const char *name, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "UPDATE tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
			  &st, err)) == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, vg_time_now());
		if ((rc = run(s, st, err)) == 0 && sqlite3_changes(vg__sq_db(s)) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no live token '%s'", name);
	}
	sqlite3_finalize(st);
	return wend(s, &w, rc, err);
}

static int sq_token_count_live(vg_store *s, const char *role, size_t *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL "
			 "AND (?1 IS NULL OR role = ?1)",
			 &st, err);
	if (rc)
		return rc;
	bind_text(st, 1, role);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*ret = (size_t)sqlite3_column_int64(st, 0);
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* ---- audit --------------------------------------------------------------------------- */

#define AUDIT_COLUMNS                                                                       \
	"SELECT id, at, actor, action, object_type, object_id, detail, prev_hash, hash "   \
	"FROM audit "

static int sq_audit_append(vg_store *s, const char *actor, const char *action,
			   const char *object_type, const char *object_id, const char *detail,
			   int64_t *ret_id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	vg_store_audit a = {
		.at = vg_time_now(),
		.actor = (char *)actor,
		.action = (char *)action,
		.object_type = (char *)object_type,
		.object_id = (char *)object_id,
		.detail = (char *)detail,
	};
	/* The head, read under the write lock: no other append can come between this read
	 * and our insert. The id also steps over any row past the head (a head moved back by
	 * hand), so an append never fails on a duplicate id; verify reports the damage. */
	if ((rc = cached(s, SL_AUDIT_HEAD,
			 "SELECT MAX(last_id, (SELECT COALESCE(MAX(id), 0) FROM audit)), last_hash "
			 "FROM audit_head WHERE id = 1",
			 &st, err)))
		goto out;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		a.id = sqlite3_column_int64(st, 0) + 1;
		copy_col(st, 1, a.prev_hash, sizeof(a.prev_hash));
	} else {
		rc = step == SQLITE_DONE ? vg_error_set(err, VG_ECORRUPT, "audit_head is empty")
					 : vg__sq_fail(s, step, err, "database");
	}
	sqlite3_reset(st);
	if (rc)
		goto out;
	vg_store_audit_hash(&a, a.hash);

	if ((rc = cached(s, SL_AUDIT_INSERT,
			 "INSERT INTO audit (id, at, actor, action, object_type, object_id, detail, "
			 "prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			 &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, a.id);
	sqlite3_bind_int64(st, 2, a.at);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, object_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, object_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, detail, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, a.prev_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, a.hash, -1, SQLITE_STATIC);
	if ((rc = run(s, st, err)))
		goto out;

	if ((rc = cached(s, SL_AUDIT_HEAD_SET,
			 "UPDATE audit_head SET last_id = ?1, last_hash = ?2 WHERE id = 1", &st,
			 err)))
		goto out;
	sqlite3_bind_int64(st, 1, a.id);
	sqlite3_bind_text(st, 2, a.hash, -1, SQLITE_STATIC);
	rc = run(s, st, err);
out:
	if (st)
		sqlite3_clear_bindings(st);
	rc = wend(s, &w, rc, err);
	if (rc == 0)
		*ret_id = a.id;
	return rc;
}

/* A row of AUDIT_COLUMNS into a vg_store_audit (a vg__sq_row_fn). */
static void audit_row(sqlite3_stmt *st, void *row)
{
	vg_store_audit *a = row;
	a->id = sqlite3_column_int64(st, 0);
	a->at = sqlite3_column_int64(st, 1);
	a->actor = dup_col0(st, 2);
	a->action = dup_col0(st, 3);
	a->object_type = dup_col0(st, 4);
	a->object_id = dup_col0(st, 5);
	a->detail = dup_col0(st, 6);
	copy_col(st, 7, a->prev_hash, sizeof(a->prev_hash));
	copy_col(st, 8, a->hash, sizeof(a->hash));
}

static void drop_audit(void *rows, size_t n)
{
	vg_store_audit_list_free(rows, n);
}

static int sq_audit_list(vg_store *s, int64_t after_id, size_t limit, vg_store_audit **ret,
			 size_t *ret_n, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, AUDIT_COLUMNS "WHERE id > ?1 ORDER BY id LIMIT ?2", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	bind_limit(st, 2, limit);
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(vg_store_audit), audit_row, drop_audit,
				 "out of memory listing the audit log", &rows, ret_n, err)) == 0)
		*ret = rows;
	return rc;
}

/* The walk itself, inside a read snapshot; returns 0, VG_ECORRUPT (with *bad_id) or an
 * error of the database. */
static int audit_walk(vg_store *s, size_t *ret_count, int64_t *bad_id, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int64_t head_id = 0;
	char head_hash[65] = "";
	int rc = vg__sq_prepare(s, "SELECT last_id, last_hash FROM audit_head WHERE id = 1", &st, err);
	if (rc)
		return rc;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		head_id = sqlite3_column_int64(st, 0);
		copy_col(st, 1, head_hash, sizeof(head_hash));
	} else if (step == SQLITE_DONE) {
		*bad_id = 0;
		rc = vg_error_set(err, VG_ECORRUPT, "the audit log's head record is missing");
	} else {
		rc = vg__sq_fail(s, step, err, "database");
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc)
		return rc;

	if ((rc = vg__sq_prepare(s, AUDIT_COLUMNS "ORDER BY id", &st, err)))
		return rc;
	size_t count = 0;
	int64_t last_id = 0;
	char last_hash[65];
	snprintf(last_hash, sizeof(last_hash), "%s", zero_hash);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_audit a = {
			.id = sqlite3_column_int64(st, 0),
			.at = sqlite3_column_int64(st, 1),
			.actor = (char *)col_str(st, 2),
			.action = (char *)col_str(st, 3),
			.object_type = (char *)col_str(st, 4),
			.object_id = (char *)col_str(st, 5),
			.detail = (char *)col_str(st, 6),
		};
		const char *prev = col_str(st, 7), *hash = col_str(st, 8);
		char want[65];
		*bad_id = a.id;
		if (sqlite3_column_type(st, 0) != SQLITE_INTEGER || a.id <= last_id) {
			rc = vg_error_set(err, VG_ECORRUPT,
					  "audit entry %lld: id does not follow entry %lld",
					  (long long)a.id, (long long)last_id);
			break;
		}
		if (!prev || strcmp(prev, last_hash) != 0) {
			if (count == 0)
				rc = vg_error_set(err, VG_ECORRUPT,
						  "audit entry %lld: the first entry's prev_hash "
						  "is not 64 zeros (entries before it were removed)",
						  (long long)a.id);
			else
				rc = vg_error_set(err, VG_ECORRUPT,
						  "audit entry %lld: prev_hash does not match the "
						  "hash of entry %lld before it (an entry was "
						  "removed, reordered or rewritten)",
						  (long long)a.id, (long long)last_id);
			break;
		}
		snprintf(a.prev_hash, sizeof(a.prev_hash), "%s", prev);
		vg_store_audit_hash(&a, want);
		if (!hash || strcmp(hash, want) != 0 || !a.actor || !a.action ||
		    !a.object_type || !a.object_id || !a.detail) {
			rc = vg_error_set(err, VG_ECORRUPT,
					  "audit entry %lld: its hash does not match its fields "
					  "(the entry was edited)",
					  (long long)a.id);
			break;
		}
		snprintf(last_hash, sizeof(last_hash), "%s", hash);
		last_id = a.id;
		count++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	if (rc)
		return rc;
	if (head_id != last_id || strcmp(head_hash, last_hash) != 0) {
		if (head_id > last_id) {
			*bad_id = head_id;
			return vg_error_set(err, VG_ECORRUPT,
					    "audit entry %lld: missing; the log ends at entry %lld "
					    "(entries were removed from its end)",
					    (long long)head_id, (long long)last_id);
		}
		*bad_id = last_id;
		return vg_error_set(err, VG_ECORRUPT,
				    "audit entry %lld: not the last entry the store recorded "
				    "(entry %lld was; the log was extended by hand)",
				    (long long)last_id, (long long)head_id);
	}
	*ret_count = count;
	return 0;
}

static int sq_audit_verify(vg_store *s, size_t *ret_count, int64_t *ret_bad_id, vg_error *err)
{
	/* One read transaction, so the head and the rows are the same moment's even while
	 * other connections append. Inside the caller's transaction that is already so. */
	bool own = !vg__sq_in_tx(s);
	int rc;
	if (own && (rc = vg__sq_exec(s, "BEGIN", err)))
		return rc;
	size_t count = 0;
	int64_t bad = 0;
	rc = audit_walk(s, &count, &bad, err);
	if (own)
		sqlite3_exec(vg__sq_db(s), "COMMIT", NULL, NULL, NULL);
	if (rc == VG_ECORRUPT) {
		*ret_bad_id = bad;
		return rc;
	}
	if (rc == 0) {
		*ret_count = count;
		*ret_bad_id = 0;
	}
	return rc;
}

/* ---- bank actions ------------------------------------------------------------------ */

static int sq_bank_update(vg_store *s, const char *name, const vg_store_bank_patch *p,
			  vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "UPDATE banks SET description = COALESCE(?2, description), "
			  "actions = COALESCE(?3, actions), "
			  "webhook_url = CASE WHEN ?4 IS NULL THEN webhook_url "
			  "WHEN ?4 = '' THEN NULL ELSE ?4 END, "
			  "webhook_secret = CASE WHEN ?5 IS NULL THEN webhook_secret "
			  "WHEN ?5 = '' THEN NULL ELSE ?5 END, "
			  "enabled = COALESCE(?6, enabled), updated_at = ?7 WHERE name = ?1",
			  &st, err)) == 0) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		bind_text(st, 2, p->description);
		bind_text(st, 3, p->actions);
		bind_text(st, 4, p->webhook_url);
		bind_text(st, 5, p->webhook_secret);
		if (p->enabled)
			sqlite3_bind_int(st, 6, *p->enabled ? 1 : 0);
		sqlite3_bind_int64(st, 7, vg_time_now());
		if ((rc = run(s, st, err)) == 0) {
			if (sqlite3_changes(vg__sq_db(s)) == 0)
				rc = vg_error_set(err, VG_ENOENT, "no bank '%s'", name);
			else
				vg__sq_mark_changed(s); /* store.h: seq moves on bank changes */
		}
	}
	sqlite3_finalize(st);
	/* Queued items follow a rotated secret or a moved URL: the old secret may have leaked. */
	if (!rc && (p->webhook_url || p->webhook_secret))
		rc = vg__sq_bank_webhook_changed(s, name, false, err);
	return wend(s, &w, rc, err);
}

/* The bank is read from the payload (api_scan.c writes {"event": "match", "bank": name}
 * into every match webhook; a bank's name never changes): only pending webhooks are
 * looked at to re-address, one range of outbox_due_kind. Rows done or dead hold no
 * secret (sq_outbox_finish clears it) but those finished by an older vigil. */
int vg__sq_bank_webhook_changed(vg_store *s, const char *name, bool deleted, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(
		s,
		"UPDATE outbox SET "
		"target = CASE WHEN g.url IS NULL THEN target ELSE g.url END, "
		"secret = CASE WHEN g.url IS NULL THEN NULL ELSE g.secret END, "
		"state = CASE WHEN g.url IS NULL THEN 'dead' ELSE state END, "
		"claimed_until = CASE WHEN g.url IS NULL THEN NULL ELSE claimed_until END, "
		"last_error = CASE WHEN g.url IS NULL THEN ?3 ELSE last_error END, "
		"updated_at = ?4 "
		"FROM (SELECT CASE WHEN ?2 THEN NULL ELSE (SELECT webhook_url FROM banks "
		"WHERE name = ?1) END AS url, (SELECT webhook_secret FROM banks WHERE name = ?1) "
		"AS secret) AS g "
		"WHERE outbox.state = 'pending' AND outbox.kind = 'webhook' AND "
		"json_valid(outbox.payload) AND "
		"json_extract(outbox.payload, '$.event') = 'match' AND "
		"json_extract(outbox.payload, '$.bank') = ?1",
		&st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, deleted ? 1 : 0);
	sqlite3_bind_text(st, 3,
			  deleted ? "the bank was deleted" : "the bank's webhook URL was removed",
			  -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, vg_time_now());
	rc = run(s, st, err);
	sqlite3_finalize(st);
	if (rc)
		return rc;
	/* Rows finished before finishing cleared the secret still hold one: a full pass,
	 * but only on a bank's webhook change, and cheap for rows with no secret. */
	if ((rc = vg__sq_prepare(s,
				 "UPDATE outbox SET secret = NULL WHERE secret IS NOT NULL AND "
				 "state <> 'pending' AND kind = 'webhook' AND json_valid(payload) "
				 "AND json_extract(payload, '$.bank') = ?1",
				 &st, err)))
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = run(s, st, err);
	sqlite3_finalize(st);
	return rc;
}

/* ---- scans ------------------------------------------------------------------------- */

static int sq_scan_record(vg_store *s, const vg_store_scan *scan, int64_t *ret_id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	if ((rc = cached(s, SL_SCAN_INSERT,
			 "INSERT INTO scans (id, at, actor, url, pdq, md5, sha256, quality, "
			 "verdict, matches) VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM scans), "
			 "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
			 &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, scan->at ? scan->at : vg_time_now());
		sqlite3_bind_text(st, 2, scan->actor, -1, SQLITE_STATIC);
		bind_text(st, 3, scan->url);
		bind_text(st, 4, scan->pdq);
		bind_text(st, 5, scan->md5);
		bind_text(st, 6, scan->sha256);
		sqlite3_bind_int(st, 7, scan->quality);
		sqlite3_bind_text(st, 8, scan->verdict, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, scan->matches ? scan->matches : "[]", -1, SQLITE_STATIC);
		if ((rc = run(s, st, err)) == 0)
			id = sqlite3_last_insert_rowid(vg__sq_db(s));
		sqlite3_clear_bindings(st);
	}
	rc = wend(s, &w, rc, err);
	if (rc == 0)
		*ret_id = id;
	return rc;
}

static int sq_scan_set_verdict(vg_store *s, int64_t id, const char *verdict, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s, "UPDATE scans SET verdict = ?2 WHERE id = ?1", &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, verdict, -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		if (step != SQLITE_DONE)
			rc = vg__sq_fail(s, step, err, "database");
		else if (sqlite3_changes(vg__sq_db(s)) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no scan %lld", (long long)id);
		sqlite3_finalize(st);
	}
	return wend(s, &w, rc, err);
}

/* ---- blocks ------------------------------------------------------------------------ */

#define BLOCK_COLUMNS                                                                       \
	"SELECT id, url, reason, bank_id, case_id, created_at, lifted_at, created_by, "    \
	"lifted_by FROM blocks "

/* Strings borrowed from the statement. */
static void read_block(sqlite3_stmt *st, vg_store_block *b)
{
	b->id = sqlite3_column_int64(st, 0);
	b->url = (char *)col_str(st, 1);
	b->reason = (char *)col_str(st, 2);
	b->bank_id = col_id(st, 3);
	b->case_id = col_id(st, 4);
	b->created_at = sqlite3_column_int64(st, 5);
	b->lifted_at = col_id(st, 6);
	b->created_by = (char *)col_str(st, 7);
	b->lifted_by = (char *)col_str(st, 8);
}

static int sq_block_add(vg_store *s, const char *url, const char *reason, int64_t bank_id,
			int64_t case_id, const char *actor, int64_t *ret_id, bool *ret_created,
			vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	bool created = false;
	if ((rc = cached(s, SL_BLOCK_ACTIVE,
			 "SELECT id FROM blocks WHERE url = ?1 AND lifted_at IS NULL", &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	if (rc || id)
		goto out;

	if ((rc = cached(s, SL_BLOCK_INSERT,
			 "INSERT INTO blocks (id, url, reason, bank_id, case_id, created_at, "
			 "created_by) VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM blocks), "
			 "?1, ?2, ?3, ?4, ?5, ?6)",
			 &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	bind_id(st, 3, bank_id);
	bind_id(st, 4, case_id);
	sqlite3_bind_int64(st, 5, vg_time_now());
	sqlite3_bind_text(st, 6, actor, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = vg_error_set(err, VG_EINVAL, "no bank %lld or no case %lld",
				  (long long)bank_id, (long long)case_id);
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	else {
		id = sqlite3_last_insert_rowid(vg__sq_db(s));
		created = true;
	}
	sqlite3_reset(st);
out:
	if (st)
		sqlite3_clear_bindings(st);
	rc = wend(s, &w, rc, err);
	if (rc == 0) {
		*ret_id = id;
		*ret_created = created;
	}
	return rc;
}

static int sq_block_get(vg_store *s, int64_t id, vg_store_block *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cached(s, SL_BLOCK_GET, BLOCK_COLUMNS "WHERE id = ?1", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		vg_store_block b;
		read_block(st, &b);
		b.url = vg_xstrdup(b.url ? b.url : "");
		b.reason = vg_xstrdup(b.reason ? b.reason : "");
		b.created_by = vg_xstrdup(b.created_by ? b.created_by : "");
		b.lifted_by = b.lifted_by ? vg_xstrdup(b.lifted_by) : NULL;
		*ret = b;
	} else if (step == SQLITE_DONE) {
		rc = vg_error_set(err, VG_ENOENT, "no block %lld", (long long)id);
	} else {
		rc = vg__sq_fail(s, step, err, "database");
	}
	sqlite3_reset(st);
	return rc;
}

static int sq_block_lift(vg_store *s, int64_t id, const char *actor, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "UPDATE blocks SET lifted_at = ?2, lifted_by = ?3 "
			  "WHERE id = ?1 AND lifted_at IS NULL",
			  &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, vg_time_now());
		sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
		if ((rc = run(s, st, err)) == 0 && sqlite3_changes(vg__sq_db(s)) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no active block %lld", (long long)id);
	}
	sqlite3_finalize(st);
	return wend(s, &w, rc, err);
}

/* The owner is read and cleared under one write lock, so a case decided concurrently
 * either lifted the block first (VG_ENOENT here) or finds it no longer its own. */
static int sq_block_claim(vg_store *s, int64_t id, int64_t bank_id, const char *reason,
			  int64_t *ret_from_case, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t from = 0;
	/* Cached: a rule's block verdict on a URL blocked already asks this every time. */
	if ((rc = cached(s, SL_BLOCK_OWNER,
			 "SELECT case_id FROM blocks WHERE id = ?1 AND lifted_at IS NULL", &st,
			 err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		from = col_id(st, 0);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no active block %lld", (long long)id);
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	st = NULL;
	if (rc || !from)
		goto out;
	if ((rc = vg__sq_prepare(s,
				 "UPDATE blocks SET case_id = NULL, bank_id = ?2, "
				 "reason = COALESCE(?3, reason) WHERE id = ?1",
				 &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	bind_id(st, 2, bank_id);
	if (reason)
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	rc = run(s, st, err);
	sqlite3_finalize(st);
out:
	rc = wend(s, &w, rc, err);
	if (rc == 0)
		*ret_from_case = from;
	return rc;
}

static int sq_block_lift_by_case(vg_store *s, int64_t case_id, const char *actor,
				 int64_t **ret_ids, size_t *ret_n, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t *ids = NULL;
	size_t n = 0;
	/* Under the write lock the set read here is the set the update lifts. */
	if ((rc = vg__sq_prepare(s,
			  "SELECT id FROM blocks WHERE case_id = ?1 AND lifted_at IS NULL "
			  "ORDER BY id",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, case_id);
	void *rows;
	rc = vg__sq_collect(s, st, sizeof(*ids), int_row, NULL, "out of memory lifting blocks",
			    &rows, &n, err);
	st = NULL; /* finalized */
	if (rc)
		goto out;
	ids = rows;
	if (n == 0)
		goto out;
	if ((rc = vg__sq_prepare(s,
			  "UPDATE blocks SET lifted_at = ?2, lifted_by = ?3 "
			  "WHERE case_id = ?1 AND lifted_at IS NULL",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, case_id);
	sqlite3_bind_int64(st, 2, vg_time_now());
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	rc = run(s, st, err);
out:
	sqlite3_finalize(st);
	rc = wend(s, &w, rc, err);
	if (rc) {
		free(ids);
		return rc;
	}
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

/* Calls fn for each block row st (prepared on BLOCK_COLUMNS, bound) yields; finalizes
 * st. Returns fn's first non-zero answer or the store's error. */
static int each_block(vg_store *s, sqlite3_stmt *st, vg_store_block_fn *fn, void *ctx,
		      vg_error *err)
{
	int rc = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_block b;
		read_block(st, &b);
		if (!b.url || !b.reason || !b.created_by)
			continue; /* NOT NULL columns: cannot happen */
		if ((rc = fn(&b, ctx)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int sq_block_each(vg_store *s, bool active_only, int64_t after_id, size_t limit,
			 vg_store_block_fn *fn, void *ctx, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 active_only ? BLOCK_COLUMNS
			 "WHERE id > ?1 AND lifted_at IS NULL ORDER BY id LIMIT ?2"
				     : BLOCK_COLUMNS "WHERE id > ?1 ORDER BY id LIMIT ?2",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	bind_limit(st, 2, limit);
	return each_block(s, st, fn, ctx, err);
}

static int sq_block_lifted_since(vg_store *s, vg_usec since, vg_store_block_fn *fn, void *ctx,
				 vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, BLOCK_COLUMNS "WHERE lifted_at >= ?1 ORDER BY lifted_at, id",
				&st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, since);
	return each_block(s, st, fn, ctx, err);
}

static int sq_block_watermark(vg_store *s, int64_t *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(lifted_at), 0), "
			    "COUNT(lifted_at) FROM blocks", &st, err);
	if (rc)
		return rc;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		/* Any add raises max(id); any lift raises the count of lifted rows. */
		*ret = sqlite3_column_int64(st, 0) * 1000003 + sqlite3_column_int64(st, 2) * 31 +
		       sqlite3_column_int64(st, 1);
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* ---- cases ------------------------------------------------------------------------- */

#define CASE_COLUMNS VG__SQ_CASE_COLUMNS

void vg__sq_read_case(sqlite3_stmt *st, vg_store_case *c)
{
	c->id = sqlite3_column_int64(st, 0);
	c->url = dup_col0(st, 1);
	c->bank_id = col_id(st, 2);
	copy_col(st, 3, c->bank, sizeof(c->bank));
	copy_col(st, 4, c->status, sizeof(c->status));
	c->decision = dup_col(st, 5);
	c->note = dup_col(st, 6);
	c->created_at = sqlite3_column_int64(st, 7);
	c->updated_at = sqlite3_column_int64(st, 8);
	c->closed_at = col_id(st, 9);
	copy_col(st, 10, c->kind, sizeof(c->kind));
	copy_col(st, 11, c->stage, sizeof(c->stage));
	copy_col(st, 12, c->category, sizeof(c->category));
	copy_col(st, 13, c->priority, sizeof(c->priority));
	c->assignee = dup_col(st, 14);
	c->first_action_at = col_id(st, 15);
}

static int case_event(vg_store *s, int64_t case_id, vg_usec at, const char *actor,
		      const char *action, const char *note, int64_t scan_id, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = cached(s, SL_CASE_EVENT,
			"INSERT INTO case_events (id, case_id, at, actor, action, note, scan_id) "
			"VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM case_events), "
			"?1, ?2, ?3, ?4, ?5, ?6)",
			&st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, case_id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
	bind_text(st, 5, note);
	bind_id(st, 6, scan_id);
	int step = sqlite3_step(st);
	if (step == SQLITE_CONSTRAINT_FOREIGNKEY)
		rc = vg_error_set(err, VG_EINVAL, "no scan %lld", (long long)scan_id);
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static int sq_case_open_or_attach(vg_store *s, const char *url, int64_t bank_id, int64_t scan_id,
				  const char *actor, int64_t *ret_case_id, bool *ret_created,
				  vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	bool created = false;
	vg_usec now = vg_time_now();
	int step;
	if (*url) {
		/* `url <> ''` repeats the partial index's condition so the planner uses it. */
		if ((rc = cached(s, SL_CASE_FIND_OPEN,
				 "SELECT id FROM cases WHERE url = ?1 AND bank_id = ?2 "
				 "AND status = 'open' AND url <> ''",
				 &st, err)))
			goto out;
		sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, bank_id);
		step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		else if (step != SQLITE_DONE)
			rc = vg__sq_fail(s, step, err, "database");
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (rc)
			goto out;
	}
	if (id) {
		if ((rc = cached(s, SL_CASE_TOUCH, "UPDATE cases SET updated_at = ?2 WHERE id = ?1",
				 &st, err)))
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		if ((rc = run(s, st, err)) == 0)
			rc = case_event(s, id, now, actor, "match_attached", NULL, scan_id, err);
		goto out;
	}

	/* A new case keeps the bank's name, which outlives the bank. */
	char bank[VG_STORE_NAME_MAX + 1] = "";
	if ((rc = cached(s, SL_BANK_NAME, "SELECT name FROM banks WHERE id = ?1", &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, bank_id);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		copy_col(st, 0, bank, sizeof(bank));
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_EINVAL, "no bank %lld", (long long)bank_id);
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	if (rc)
		goto out;
	if ((rc = cached(s, SL_CASE_INSERT,
			 "INSERT INTO cases (id, url, bank_id, bank, status, created_at, "
			 "updated_at) VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM cases), "
			 "?1, ?2, ?3, 'open', ?4, ?4)",
			 &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, bank_id);
	sqlite3_bind_text(st, 3, bank, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = run(s, st, err)))
		goto out;
	id = sqlite3_last_insert_rowid(vg__sq_db(s));
	rc = case_event(s, id, now, actor, "opened", NULL, scan_id, err);
	created = true;
out:
	if (st)
		sqlite3_clear_bindings(st);
	rc = wend(s, &w, rc, err);
	if (rc == 0) {
		*ret_case_id = id;
		*ret_created = created;
	}
	return rc;
}

static int sq_case_get(vg_store *s, int64_t id, vg_store_case *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, CASE_COLUMNS "WHERE id = ?1", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		vg__sq_read_case(st, ret);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no case %lld", (long long)id);
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int sq_case_decide(vg_store *s, int64_t id, const char *decision, const char *note,
			  const char *actor, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	vg_usec now = vg_time_now();
	if ((rc = vg__sq_prepare(s,
			  "UPDATE cases SET status = 'closed', stage = 'closed', decision = ?2, "
			  "note = ?3, closed_at = ?4, updated_at = ?4 "
			  "WHERE id = ?1 AND status = 'open'",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, decision, -1, SQLITE_STATIC);
	bind_text(st, 3, note);
	sqlite3_bind_int64(st, 4, now);
	if ((rc = run(s, st, err)))
		goto out;
	if (sqlite3_changes(vg__sq_db(s)) == 0) {
		int e = exists(s, "SELECT 1 FROM cases WHERE id = ?1", id, err);
		rc = e < 0    ? e
		     : e == 1 ? vg_error_set(err, VG_EEXIST, "case %lld is closed already",
					     (long long)id)
			      : vg_error_set(err, VG_ENOENT, "no case %lld", (long long)id);
		goto out;
	}
	rc = case_event(s, id, now, actor, "decided", note, 0, err);
out:
	sqlite3_finalize(st);
	return wend(s, &w, rc, err);
}

static int sq_case_history(vg_store *s, int64_t id,
			   int (*fn)(const vg_store_case_event *e, void *ctx), void *ctx,
			   vg_error *err)
{
	int rc = exists(s, "SELECT 1 FROM cases WHERE id = ?1", id, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return vg_error_set(err, VG_ENOENT, "no case %lld", (long long)id);
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "SELECT at, actor, action, note, scan_id FROM case_events "
			  "WHERE case_id = ?1 ORDER BY id",
			  &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_case_event e = {
			.at = sqlite3_column_int64(st, 0),
			.actor = col_str(st, 1),
			.action = col_str(st, 2),
			.note = col_str(st, 3),
			.scan_id = col_id(st, 4),
		};
		if (!e.actor || !e.action)
			continue; /* NOT NULL columns: cannot happen */
		if ((rc = fn(&e, ctx)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int sq_case_scans(vg_store *s, int64_t id,
			 int (*fn)(const vg_store_scan *scan, int64_t scan_id, void *ctx),
			 void *ctx, vg_error *err)
{
	int rc = exists(s, "SELECT 1 FROM cases WHERE id = ?1", id, err);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return vg_error_set(err, VG_ENOENT, "no case %lld", (long long)id);
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "SELECT s.id, s.at, s.actor, s.url, s.pdq, s.md5, s.sha256, s.quality, "
			  "s.verdict, s.matches FROM scans s JOIN "
			  "(SELECT scan_id, MIN(id) AS first FROM case_events "
			  "WHERE case_id = ?1 AND scan_id IS NOT NULL GROUP BY scan_id) e "
			  "ON s.id = e.scan_id ORDER BY e.first",
			  &st, err)))
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_scan sc = {
			.id = sqlite3_column_int64(st, 0),
			.at = sqlite3_column_int64(st, 1),
			.actor = col_str(st, 2),
			.url = col_str(st, 3),
			.pdq = col_str(st, 4),
			.md5 = col_str(st, 5),
			.sha256 = col_str(st, 6),
			.quality = sqlite3_column_int(st, 7),
			.verdict = col_str(st, 8),
			.matches = col_str(st, 9),
		};
		if (!sc.actor || !sc.verdict || !sc.matches)
			continue; /* NOT NULL columns: cannot happen */
		if ((rc = fn(&sc, sc.id, ctx)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* ---- outbox ------------------------------------------------------------------------ */

#define OUTBOX_COLUMNS                                                                      \
	"SELECT id, kind, target, payload, secret, last_error, idempotency_key, state, "   \
	"attempts, next_at, created_at, updated_at, claimed_until FROM outbox "

static void read_outbox(sqlite3_stmt *st, vg_store_outbox *o)
{
	o->id = sqlite3_column_int64(st, 0);
	copy_col(st, 1, o->kind, sizeof(o->kind));
	o->target = dup_col0(st, 2);
	o->payload = dup_col0(st, 3);
	o->secret = dup_col(st, 4);
	o->last_error = dup_col(st, 5);
	copy_col(st, 6, o->idempotency_key, sizeof(o->idempotency_key));
	copy_col(st, 7, o->state, sizeof(o->state));
	o->attempts = sqlite3_column_int(st, 8);
	o->next_at = sqlite3_column_int64(st, 9);
	o->created_at = sqlite3_column_int64(st, 10);
	o->updated_at = sqlite3_column_int64(st, 11);
	o->claimed_until = col_id(st, 12);
}

/* vg__sq_collect's typed wrappers. */
static void outbox_row(sqlite3_stmt *st, void *row)
{
	read_outbox(st, row);
}

static void drop_outbox(void *rows, size_t n)
{
	vg_store_outbox_list_free(rows, n);
}

/* Every row of st (OUTBOX_COLUMNS) into a new list; finalizes st. */
static int outbox_rows(vg_store *s, sqlite3_stmt *st, vg_store_outbox **ret, size_t *ret_n,
		       vg_error *err)
{
	void *rows;
	int rc = vg__sq_collect(s, st, sizeof(vg_store_outbox), outbox_row, drop_outbox,
				"out of memory listing the outbox", &rows, ret_n, err);
	if (rc == 0)
		*ret = rows;
	return rc;
}

static int sq_outbox_enqueue(vg_store *s, const char *kind, const char *target,
			     const char *payload, const char *secret, const char *key,
			     vg_usec next_at, int64_t *ret_id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	/* An action caused twice (a retried request) is queued once. */
	if ((rc = cached(s, SL_OUTBOX_BY_KEY, "SELECT id FROM outbox WHERE idempotency_key = ?1",
			 &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_reset(st);
	if (rc || id)
		goto out;
	if ((rc = cached(s, SL_OUTBOX_INSERT,
			 "INSERT INTO outbox (id, kind, target, payload, secret, idempotency_key, "
			 "state, attempts, next_at, created_at, updated_at) VALUES "
			 "((SELECT COALESCE(MAX(id), 0) + 1 FROM outbox), ?1, ?2, ?3, ?4, ?5, "
			 "'pending', 0, ?6, ?7, ?7)",
			 &st, err)))
		goto out;
	vg_usec now = vg_time_now();
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
	bind_text(st, 4, secret);
	sqlite3_bind_text(st, 5, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, next_at);
	sqlite3_bind_int64(st, 7, now);
	if ((rc = run(s, st, err)) == 0)
		id = sqlite3_last_insert_rowid(vg__sq_db(s));
out:
	if (st)
		sqlite3_clear_bindings(st);
	rc = wend(s, &w, rc, err);
	if (rc == 0)
		*ret_id = id;
	return rc;
}

static int due_cmp(const void *a, const void *b)
{
	const vg_store_outbox *x = a, *y = b;
	if (x->next_at != y->next_at)
		return x->next_at < y->next_at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Pending rows of kinds due at now (unheld_only: and not claimed at now), in (next_at, id)
 * order, at most limit. One query per kind, each an index range of outbox_due_kind
 * (migration 0005) that stops at limit; the lists are merged and cut at limit. One
 * IN (...) over the kinds would read (state, next_at) instead, through every pending row
 * of the other kinds. Rows claimed by others are skipped inside the range: at most one
 * per attempt in flight. */
static int due_rows(vg_store *s, vg_usec now, const char *const *kinds, size_t n_kinds,
		    size_t limit, bool unheld_only, vg_store_outbox **ret, size_t *ret_n,
		    vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;
	const char *held = unheld_only ? "AND (claimed_until IS NULL OR claimed_until <= ?1) " : "";
	char sql[512];
	if (n_kinds == 0) {
		snprintf(sql, sizeof(sql),
			 OUTBOX_COLUMNS "WHERE state = 'pending' AND next_at <= ?1 %s"
					"ORDER BY next_at, id LIMIT ?2",
			 held);
		if ((rc = vg__sq_prepare(s, sql, &st, err)))
			return rc;
		sqlite3_bind_int64(st, 1, now);
		bind_limit(st, 2, limit);
		return outbox_rows(s, st, ret, ret_n, err);
	}
	snprintf(sql, sizeof(sql),
		 OUTBOX_COLUMNS "WHERE state = 'pending' AND kind = ?3 AND next_at <= ?1 %s"
				"ORDER BY next_at, id LIMIT ?2",
		 held);
	vg_store_outbox *all = NULL;
	size_t n = 0;
	for (size_t k = 0; k < n_kinds; k++) {
		vg_store_outbox *part = NULL;
		size_t m = 0;
		rc = vg__sq_prepare(s, sql, &st, err);
		if (rc == 0) {
			sqlite3_bind_int64(st, 1, now);
			bind_limit(st, 2, limit);
			sqlite3_bind_text(st, 3, kinds[k], -1, SQLITE_STATIC);
			rc = outbox_rows(s, st, &part, &m, err);
		}
		if (rc == 0 && m) {
			vg_store_outbox *g = realloc(all, (n + m) * sizeof(*g));
			if (!g) {
				vg_store_outbox_list_free(part, m);
				rc = vg_error_set(err, VG_ENOMEM, "out of memory listing the outbox");
			} else {
				all = g;
				memcpy(all + n, part, m * sizeof(*part));
				n += m;
				free(part); /* its strings now belong to all */
			}
		}
		if (rc) {
			vg_store_outbox_list_free(all, n);
			return rc;
		}
	}
	if (n > 1)
		qsort(all, n, sizeof(*all), due_cmp);
	for (; limit && n > limit; n--) { /* the rows past limit: their strings only */
		vg_store_outbox *o = &all[n - 1];
		free(o->target);
		free(o->payload);
		free(o->secret);
		free(o->last_error);
	}
	*ret = all;
	*ret_n = n;
	return 0;
}

static int sq_outbox_due(vg_store *s, vg_usec now, const char *const *kinds, size_t n_kinds,
			 size_t limit, vg_store_outbox **ret, size_t *ret_n, vg_error *err)
{
	return due_rows(s, now, kinds, n_kinds, limit, false, ret, ret_n, err);
}

static int sq_outbox_claim(vg_store *s, vg_usec now, vg_usec lease_until,
			   const char *const *kinds, size_t n_kinds, size_t limit,
			   vg_store_outbox **ret, size_t *ret_n, vg_error *err)
{
	vg_store_outbox *rows = NULL;
	size_t n = 0;
	/* A read first, outside the write lock: a worker looks several times a second, and
	 * mostly finds nothing, which then costs no write transaction. */
	int rc = due_rows(s, now, kinds, n_kinds, limit, true, &rows, &n, err);
	vg_store_outbox_list_free(rows, n);
	if (rc || n == 0) {
		if (rc == 0) {
			*ret = NULL;
			*ret_n = 0;
		}
		return rc;
	}
	/* Read again under the lock: another worker may have claimed them meanwhile. */
	wtx w;
	if ((rc = wbegin(s, &w, true, err)))
		return rc;
	rows = NULL;
	n = 0;
	rc = due_rows(s, now, kinds, n_kinds, limit, true, &rows, &n, err);
	sqlite3_stmt *st = NULL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if ((rc = cached(s, SL_OUTBOX_CLAIM,
				 "UPDATE outbox SET claimed_until = ?2 WHERE id = ?1", &st, err)))
			break;
		sqlite3_bind_int64(st, 1, rows[i].id);
		sqlite3_bind_int64(st, 2, lease_until);
		rc = run(s, st, err);
		rows[i].claimed_until = lease_until;
	}
	rc = wend(s, &w, rc, err);
	if (rc) {
		vg_store_outbox_list_free(rows, n);
		return rc;
	}
	*ret = rows;
	*ret_n = n;
	return 0;
}

static int sq_outbox_release(vg_store *s, int64_t id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	rc = vg__sq_prepare(s,
			    "UPDATE outbox SET claimed_until = NULL WHERE id = ?1 AND "
			    "state = 'pending'",
			    &st, err);
	if (rc == 0) {
		sqlite3_bind_int64(st, 1, id);
		int step = sqlite3_step(st);
		if (step != SQLITE_DONE)
			rc = vg__sq_fail(s, step, err, "database");
		sqlite3_finalize(st);
	}
	return wend(s, &w, rc, err);
}

static int sq_outbox_next_due(vg_store *s, vg_usec after, const char *const *kinds,
			      size_t n_kinds, vg_usec *ret, vg_error *err)
{
	vg_usec best = 0;
	/* Per kind, for the index range again; MIN over one is a single seek. */
	for (size_t k = 0; k < (n_kinds ? n_kinds : 1); k++) {
		sqlite3_stmt *st = NULL;
		int rc = vg__sq_prepare(s,
					n_kinds ? "SELECT MIN(next_at) FROM outbox WHERE state = "
						  "'pending' AND kind = ?2 AND next_at > ?1"
						: "SELECT MIN(next_at) FROM outbox WHERE state = "
						  "'pending' AND next_at > ?1",
					&st, err);
		if (rc)
			return rc;
		sqlite3_bind_int64(st, 1, after);
		if (n_kinds)
			sqlite3_bind_text(st, 2, kinds[k], -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			vg_usec t = col_id(st, 0);
			if (t && (!best || t < best))
				best = t;
		} else {
			rc = vg__sq_fail(s, step, err, "database");
		}
		sqlite3_finalize(st);
		if (rc)
			return rc;
	}
	*ret = best;
	return 0;
}

/* An error text cut to VG_STORE_ERROR_MAX bytes on a UTF-8 character boundary, so a long
 * transport error never makes the bookkeeping fail. */
static int error_len(const char *e)
{
	size_t n = strlen(e);
	if (n <= VG_STORE_ERROR_MAX)
		return (int)n;
	n = VG_STORE_ERROR_MAX;
	while (n > 0 && ((unsigned char)e[n] & 0xc0) == 0x80)
		n--;
	return (int)n;
}

static int sq_outbox_finish(vg_store *s, int64_t id, const char *to, vg_usec next_at,
			    const char *error, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, false, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	/* Every transition counts the delivery it follows as an attempt; done keeps the
	 * last error for the record. Only a pending row moves: done and dead are final, and
	 * keep no webhook secret, which nothing needs once nothing will be sent. */
	if ((rc = cached(
		     s, SL_OUTBOX_FINISH,
		     "UPDATE outbox SET state = ?2, attempts = attempts + 1, claimed_until = NULL, "
		     "secret = CASE WHEN ?2 = 'pending' THEN secret ELSE NULL END, "
		     "next_at = CASE WHEN ?2 = 'pending' THEN ?3 ELSE next_at END, "
		     "last_error = CASE WHEN ?2 = 'done' THEN last_error ELSE ?4 END, "
		     "updated_at = ?5 WHERE id = ?1 AND state = 'pending'",
		     &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, next_at);
	if (error)
		sqlite3_bind_text(st, 4, error, error_len(error), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, vg_time_now());
	if ((rc = run(s, st, err)))
		goto out;
	if (sqlite3_changes(vg__sq_db(s)) == 0) {
		if ((rc = cached(s, SL_OUTBOX_STATE, "SELECT state FROM outbox WHERE id = ?1", &st,
				 err)))
			goto out;
		sqlite3_bind_int64(st, 1, id);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW)
			rc = vg_error_set(err, VG_EEXIST, "outbox entry %lld is %s already",
					  (long long)id, col_str(st, 0) ? col_str(st, 0) : "?");
		else if (step == SQLITE_DONE)
			rc = vg_error_set(err, VG_ENOENT, "no outbox entry %lld", (long long)id);
		else
			rc = vg__sq_fail(s, step, err, "database");
		sqlite3_reset(st);
	}
out:
	if (st)
		sqlite3_clear_bindings(st);
	return wend(s, &w, rc, err);
}

static int sq_outbox_list(vg_store *s, const char *state, int64_t after_id, size_t limit,
			  vg_store_outbox **ret, size_t *ret_n, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 OUTBOX_COLUMNS "WHERE id > ?1 AND (?2 IS NULL OR state = ?2) "
					"ORDER BY id LIMIT ?3",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	bind_text(st, 2, state);
	bind_limit(st, 3, limit);
	return outbox_rows(s, st, ret, ret_n, err);
}

static int sq_outbox_counts(vg_store *s, size_t *ret_pending, size_t *ret_done, size_t *ret_dead,
			    vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, "SELECT state, COUNT(*) FROM outbox GROUP BY state", &st, err);
	if (rc)
		return rc;
	size_t pending = 0, done = 0, dead = 0;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *state = col_str(st, 0);
		size_t n = (size_t)sqlite3_column_int64(st, 1);
		if (!state)
			continue;
		if (strcmp(state, "pending") == 0)
			pending = n;
		else if (strcmp(state, "done") == 0)
			done = n;
		else if (strcmp(state, "dead") == 0)
			dead = n;
	}
	if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	if (rc == 0) {
		*ret_pending = pending;
		*ret_done = done;
		*ret_dead = dead;
	}
	return rc;
}

const vg__store_service_ops vg__sqlite_service_ops = {
	.token_create = sq_token_create,
	.token_by_hash = sq_token_by_hash,
	.token_list = sq_token_list,
	.token_revoke = sq_token_revoke,
	.token_count_live = sq_token_count_live,
	.audit_append = sq_audit_append,
	.audit_list = sq_audit_list,
	.audit_verify = sq_audit_verify,
	.bank_update = sq_bank_update,
	.scan_record = sq_scan_record,
	.scan_set_verdict = sq_scan_set_verdict,
	.block_add = sq_block_add,
	.block_get = sq_block_get,
	.block_lift = sq_block_lift,
	.block_lift_by_case = sq_block_lift_by_case,
	.block_claim = sq_block_claim,
	.block_each = sq_block_each,
	.block_watermark = sq_block_watermark,
	.block_lifted_since = sq_block_lifted_since,
	.case_open_or_attach = sq_case_open_or_attach,
	.case_get = sq_case_get,
	.case_decide = sq_case_decide,
	.case_history = sq_case_history,
	.case_scans = sq_case_scans,
	.outbox_enqueue = sq_outbox_enqueue,
	.outbox_due = sq_outbox_due,
	.outbox_claim = sq_outbox_claim,
	.outbox_release = sq_outbox_release,
	.outbox_next_due = sq_outbox_next_due,
	.outbox_finish = sq_outbox_finish,
	.outbox_list = sq_outbox_list,
	.outbox_counts = sq_outbox_counts,
};
