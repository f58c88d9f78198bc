/* SPDX-License-Identifier: Apache-2.0
 *
 * The SQLite backend of abuse reports (store.h's reports section, migration 0004): zones,
 * reports with their URLs and evidence, the report lifecycle of cases, and the erasure of
 * reporter personal data. store_sqlite.c owns the connection and its transactions; this
 * file borrows them through internal.h and dispatches from vg__sqlite_reports_ops.
 *
 * Invariants:
 * - Every write runs under the write lock (its own BEGIN IMMEDIATE or the caller's), so
 *   the dedup lookup and the case it opens cannot race another intake.
 * - A write of more than one row runs in a savepoint inside the caller's transaction, so
 *   a failure leaves nothing of itself behind.
 * - A case's coarse status follows its stage: open for new, triaged and actioned, closed
 *   (with closed_at) for rejected and closed. The scan-case calls keep that too.
 * - Ids are MAX(id) + 1 under the write lock, as in migration 0002: rows are never
 *   deleted except zones, whose reports keep the zone's name, and whose ids come from
 *   store_state.last_zone_id instead, so a deleted zone's id is never reused.
 * - Statements are compiled per call: reports arrive at human rates, not per event.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sqlite_util.h"

/* Steps a statement that returns no row; finalizes it. */
static int run1(vg_store *s, sqlite3_stmt *st, vg_error *err)
{
	int step = sqlite3_step(st);
	int rc = step == SQLITE_DONE ? 0 : vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* NULL binds NULL; "" too for the optional contacts and texts (unset is NULL). */
static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* The one integer sql returns for id: 1 row -> *ret, none -> VG_ENOENT (what). */
static int one_int(vg_store *s, const char *sql, int64_t id, int64_t *ret, const char *what,
		   vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, sql, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no %s %lld", what, (long long)id);
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* ---- zones --------------------------------------------------------------------------- */

#define ZONE_COLUMNS                                                                        \
	"SELECT id, name, owner_email, owner_webhook_url, host_email, host_webhook_url, "   \
	"created_at, updated_at, owner_webhook_secret, host_webhook_secret FROM zones "

static void read_zone(sqlite3_stmt *st, vg_store_zone *z)
{
	z->id = sqlite3_column_int64(st, 0);
	z->name = dup_col(st, 1);
	z->owner_email = dup_col(st, 2);
	z->owner_webhook_url = dup_col(st, 3);
	z->host_email = dup_col(st, 4);
	z->host_webhook_url = dup_col(st, 5);
	z->created_at = sqlite3_column_int64(st, 6);
	z->updated_at = sqlite3_column_int64(st, 7);
	z->owner_webhook_secret = dup_col(st, 8);
	z->host_webhook_secret = dup_col(st, 9);
}

/* vg__sq_collect's typed wrappers. */
static void zone_row(sqlite3_stmt *st, void *row)
{
	read_zone(st, row);
}

static void drop_zones(void *rows, size_t n)
{
	vg_store_zone_list_free(rows, n);
}

static int zone_create(vg_store *s, const vg_store_zone *z, int64_t *ret_id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "INSERT INTO zones (id, name, owner_email, owner_webhook_url, host_email, "
			  "host_webhook_url, created_at, updated_at, owner_webhook_secret, "
			  "host_webhook_secret) VALUES ((SELECT MAX(last_zone_id, "
			  "(SELECT COALESCE(MAX(id), 0) FROM zones)) + 1 FROM store_state WHERE id = 1), "
			  "?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
			  &st, err)) == 0) {
		sqlite3_bind_text(st, 1, z->name, -1, SQLITE_STATIC);
		bind_opt(st, 2, z->owner_email);
		bind_opt(st, 3, z->owner_webhook_url);
		bind_opt(st, 4, z->host_email);
		bind_opt(st, 5, z->host_webhook_url);
		bind_opt(st, 7, z->owner_webhook_secret);
		bind_opt(st, 8, z->host_webhook_secret);
		sqlite3_bind_int64(st, 6, vg_time_now());
		int step = sqlite3_step(st);
		if (step == SQLITE_CONSTRAINT_UNIQUE)
			rc = vg_error_set(err, VG_EEXIST, "a zone with this name exists");
		else if (step != SQLITE_DONE)
			rc = vg__sq_fail(s, step, err, "database");
		sqlite3_finalize(st);
	}
	int64_t id = sqlite3_last_insert_rowid(vg__sq_db(s));
	/* A deleted zone's id is never handed out again (migration 9). */
	if (rc == 0 && (rc = vg__sq_prepare(s, "UPDATE store_state SET last_zone_id = ?1 WHERE id = 1",
					    &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		rc = run1(s, st, err);
	}
	rc = wend(s, &w, rc, err);
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

static int zone_get(vg_store *s, int64_t id, const char *name, vg_store_zone *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, name ? ZONE_COLUMNS "WHERE name = ?1" : ZONE_COLUMNS "WHERE id = ?1",
			 &st, err);
	if (rc)
		return rc;
	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_zone(st, ret);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no such zone");
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int zone_list(vg_store *s, int64_t after_id, size_t limit, vg_store_zone **ret,
		     size_t *ret_n, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, ZONE_COLUMNS "WHERE id > ?1 ORDER BY id LIMIT ?2", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	bind_limit(st, 2, limit);
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(vg_store_zone), zone_row, drop_zones,
				 "out of memory listing zones", &rows, ret_n, err)) == 0)
		*ret = rows;
	return rc;
}

/* NULL keeps a contact ("?N IS NULL"), "" clears it (NULLIF), anything else sets it. */
static int zone_update(vg_store *s, const vg_store_zone *z, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "UPDATE zones SET "
			  "owner_email = CASE WHEN ?2 IS NULL THEN owner_email ELSE NULLIF(?2, '') END, "
			  "owner_webhook_url = CASE WHEN ?3 IS NULL THEN owner_webhook_url "
			  "ELSE NULLIF(?3, '') END, "
			  "host_email = CASE WHEN ?4 IS NULL THEN host_email ELSE NULLIF(?4, '') END, "
			  "host_webhook_url = CASE WHEN ?5 IS NULL THEN host_webhook_url "
			  "ELSE NULLIF(?5, '') END, updated_at = ?6, "
			  "owner_webhook_secret = CASE WHEN ?7 IS NULL THEN owner_webhook_secret "
			  "ELSE NULLIF(?7, '') END, "
			  "host_webhook_secret = CASE WHEN ?8 IS NULL THEN host_webhook_secret "
			  "ELSE NULLIF(?8, '') END WHERE id = ?1",
			  &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, z->id);
		const char *v[4] = {z->owner_email, z->owner_webhook_url, z->host_email,
				    z->host_webhook_url};
		for (int i = 0; i < 4; i++)
			if (v[i])
				sqlite3_bind_text(st, 2 + i, v[i], -1, SQLITE_STATIC);
		if (z->owner_webhook_secret)
			sqlite3_bind_text(st, 7, z->owner_webhook_secret, -1, SQLITE_STATIC);
		if (z->host_webhook_secret)
			sqlite3_bind_text(st, 8, z->host_webhook_secret, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, vg_time_now());
		if ((rc = run1(s, st, err)) == 0 && sqlite3_changes(vg__sq_db(s)) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no zone %lld", (long long)z->id);
	}
	return wend(s, &w, rc, err);
}

static int zone_delete(vg_store *s, int64_t id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	/* report_urls.zone_id is ON DELETE SET NULL; zone keeps the name. */
	if ((rc = vg__sq_prepare(s, "DELETE FROM zones WHERE id = ?1", &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		if ((rc = run1(s, st, err)) == 0 && sqlite3_changes(vg__sq_db(s)) == 0)
			rc = vg_error_set(err, VG_ENOENT, "no zone %lld", (long long)id);
	}
	return wend(s, &w, rc, err);
}

/* ---- reports ------------------------------------------------------------------------- */

static int report_create(vg_store *s, const vg_store_report *r, int64_t *ret_id, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "INSERT INTO reports (id, category, source, kind, description, "
			  "reporter_name, reporter_email, client_addr, share_owner, share_host, "
			  "jurisdiction, source_ip, status, status_token_hash, message_id, "
			  "created_at, incident_at) VALUES ((SELECT COALESCE(MAX(id), 0) + 1 "
			  "FROM reports), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
			  "?14, ?15, ?16)",
			  &st, err)) == 0) {
		sqlite3_bind_text(st, 1, r->category, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->source, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, r->kind[0] ? r->kind : "api", -1, SQLITE_STATIC);
		bind_opt(st, 4, r->description);
		bind_opt(st, 5, r->reporter_name);
		bind_opt(st, 6, r->reporter_email);
		bind_opt(st, 7, r->client_addr);
		sqlite3_bind_text(st, 8, r->share_owner, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, r->share_host, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, r->jurisdiction, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 11, r->source_ip, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 12, r->status, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 13, r->status_token_hash, -1, SQLITE_STATIC);
		bind_opt(st, 14, r->message_id);
		sqlite3_bind_int64(st, 15, r->created_at ? r->created_at : vg_time_now());
		if (r->incident_at > 0)
			sqlite3_bind_int64(st, 16, r->incident_at);
		rc = run1(s, st, err);
	}
	int64_t id = sqlite3_last_insert_rowid(vg__sq_db(s));
	/* A deleted zone's id is never handed out again (migration 9). */
	if (rc == 0 && (rc = vg__sq_prepare(s, "UPDATE store_state SET last_zone_id = ?1 WHERE id = 1",
					    &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, id);
		rc = run1(s, st, err);
	}
	rc = wend(s, &w, rc, err);
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

static int report_find_message_id(vg_store *s, const char *message_id, vg_usec since,
				  int64_t *ret_id, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
				"SELECT id FROM reports WHERE message_id = ?1 AND created_at >= ?2 "
				"ORDER BY created_at, id LIMIT 1",
				&st, err);
	if (rc)
		return rc;
	sqlite3_bind_text(st, 1, message_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, since);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*ret_id = sqlite3_column_int64(st, 0);
	else if (step == SQLITE_DONE)
		rc = vg_error_set(err, VG_ENOENT, "no report with this Message-ID");
	else
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int report_get(vg_store *s, int64_t id, vg_store_report *ret, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 "SELECT id, category, source, kind, description, reporter_name, "
			 "reporter_email, client_addr, share_owner, share_host, jurisdiction, "
			 "source_ip, status, status_token_hash, message_id, created_at, "
			 "first_action_at, closed_at, erased_at, incident_at FROM reports "
			 "WHERE id = ?1",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		vg_store_report r = {.id = sqlite3_column_int64(st, 0)};
		copy_col(st, 1, r.category, sizeof(r.category));
		copy_col(st, 2, r.source, sizeof(r.source));
		copy_col(st, 3, r.kind, sizeof(r.kind));
		r.description = dup_col(st, 4);
		r.reporter_name = dup_col(st, 5);
		r.reporter_email = dup_col(st, 6);
		r.client_addr = dup_col(st, 7);
		copy_col(st, 8, r.share_owner, sizeof(r.share_owner));
		copy_col(st, 9, r.share_host, sizeof(r.share_host));
		copy_col(st, 10, r.jurisdiction, sizeof(r.jurisdiction));
		copy_col(st, 11, r.source_ip, sizeof(r.source_ip));
		copy_col(st, 12, r.status, sizeof(r.status));
		copy_col(st, 13, r.status_token_hash, sizeof(r.status_token_hash));
		r.message_id = dup_col(st, 14);
		r.created_at = sqlite3_column_int64(st, 15);
		r.first_action_at = col_id(st, 16);
		r.closed_at = col_id(st, 17);
		r.erased_at = col_id(st, 18);
		r.incident_at = col_id(st, 19);
		*ret = r;
	} else if (step == SQLITE_DONE) {
		rc = vg_error_set(err, VG_ENOENT, "no report %lld", (long long)id);
	} else {
		rc = vg__sq_fail(s, step, err, "database");
	}
	sqlite3_finalize(st);
	return rc;
}

static int report_add_url(vg_store *s, int64_t report_id, const char *url, int64_t zone_id,
			  const char *zone, int64_t case_id, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	bool own;
	int rc = vg__sq_write_begin(s, &own, err);
	if (rc)
		return rc;
	if ((rc = vg__sq_prepare(s,
			  "INSERT INTO report_urls (report_id, url, zone_id, zone, case_id) "
			  "VALUES (?1, ?2, ?3, ?4, ?5)",
			  &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, report_id);
		sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
		bind_id(st, 3, zone_id);
		sqlite3_bind_text(st, 4, zone, -1, SQLITE_STATIC);
		bind_id(st, 5, case_id);
		int step = sqlite3_step(st);
		if ((step & 0xff) == SQLITE_CONSTRAINT)
			rc = vg_error_set(err, VG_EINVAL,
					  "unknown report, zone or case, or the URL twice");
		else if (step != SQLITE_DONE)
			rc = vg__sq_fail(s, step, err, "database");
		sqlite3_finalize(st);
	}
	return vg__sq_write_end(s, own, rc, err);
}

static int report_add_evidence(vg_store *s, int64_t report_id, const char *type, const char *hex,
			       vg_error *err)
{
	sqlite3_stmt *st = NULL;
	bool own;
	int rc = vg__sq_write_begin(s, &own, err);
	if (rc)
		return rc;
	if ((rc = vg__sq_prepare(s,
			  "INSERT INTO report_evidence (report_id, type, hex) VALUES (?1, ?2, ?3) "
			  "ON CONFLICT DO NOTHING",
			  &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, report_id);
		sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, hex, -1, SQLITE_STATIC);
		int step = sqlite3_step(st);
		if ((step & 0xff) == SQLITE_CONSTRAINT)
			rc = vg_error_set(err, VG_EINVAL, "no report %lld", (long long)report_id);
		else if (step != SQLITE_DONE)
			rc = vg__sq_fail(s, step, err, "database");
		sqlite3_finalize(st);
	}
	return vg__sq_write_end(s, own, rc, err);
}

static int report_urls(vg_store *s, int64_t report_id,
		       int (*fn)(const vg_store_report_url *u, void *ctx), void *ctx,
		       vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 "SELECT u.url, u.zone, u.zone_id, u.case_id, c.stage FROM report_urls u "
			 "LEFT JOIN cases c ON c.id = u.case_id WHERE u.report_id = ?1 "
			 "ORDER BY u.rowid",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, report_id);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		vg_store_report_url u = {
			.url = col_str(st, 0),
			.zone = col_str(st, 1),
			.zone_id = col_id(st, 2),
			.case_id = col_id(st, 3),
			.case_stage = col_str(st, 4),
		};
		if (!u.url || !u.zone)
			continue; /* NOT NULL columns */
		if ((rc = fn(&u, ctx)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

/* Each (type, hex) row of st to fn; finalizes st. */
static int each_hash(vg_store *s, sqlite3_stmt *st,
		     int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
		     vg_error *err)
{
	int rc = 0, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *type = col_str(st, 0), *hex = col_str(st, 1);
		if (type && hex && (rc = fn(type, hex, ctx)) != 0)
			break;
	}
	if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	return rc;
}

static int report_evidence(vg_store *s, int64_t report_id,
			   int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
			   vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
				"SELECT type, hex FROM report_evidence WHERE report_id = ?1 "
				"ORDER BY type, hex",
				&st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, report_id);
	return each_hash(s, st, fn, ctx, err);
}

static int case_evidence(vg_store *s, int64_t case_id,
			 int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
			 vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 /* Only what a reviewer could have seen: the reports that opened or
			  * joined the case (history "opened"/"report_attached", note "report
			  * N", written by report_case_open_or_attach) before its last
			  * block_url or notify. Event ids grow under the write lock, so they
			  * order the history; a report arriving after the review is no
			  * reviewed evidence, and none at all when nobody acted. */
			 "SELECT DISTINCT e.type, e.hex FROM report_evidence e "
			 "JOIN report_urls u ON u.report_id = e.report_id "
			 "WHERE u.case_id = ?1 AND EXISTS (SELECT 1 FROM case_events a "
			 "WHERE a.case_id = ?1 AND a.action IN ('opened', 'report_attached') "
			 "AND a.note = 'report ' || e.report_id AND a.id < (SELECT MAX(d.id) "
			 "FROM case_events d WHERE d.case_id = ?1 AND d.action IN "
			 "('block_url', 'notify'))) ORDER BY e.type, e.hex",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, case_id);
	return each_hash(s, st, fn, ctx, err);
}

static int report_erase(vg_store *s, vg_usec before, vg_usec now, int64_t **ret_ids,
			size_t *ret_n, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	int64_t *ids = NULL;
	size_t n = 0;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "SELECT id FROM reports WHERE erased_at IS NULL AND created_at < ?1 "
			  "ORDER BY id",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, before);
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(*ids), int_row, NULL,
				 "out of memory erasing reports", &rows, &n, err)))
		goto out;
	ids = rows;
	if (n == 0)
		goto out;
	if ((rc = vg__sq_prepare(s,
			  "UPDATE reports SET reporter_name = NULL, reporter_email = NULL, "
			  "client_addr = NULL, erased_at = ?2 "
			  "WHERE erased_at IS NULL AND created_at < ?1",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = run1(s, st, err)))
		goto out;
	/* The reporter also sits in the payloads of notifications where share was full
	 * (api_reports.c notify(), key "report-<id>-zone-<zone>-<party>"). Erased there too,
	 * whatever the item's state: delivered and dead items are kept as a record, and a
	 * pending one is then delivered without it rather than carry the reporter past
	 * retention (an attempt already under way sends what it read). Such an item's
	 * last_error goes in the same statement: what the receiver answered may quote the
	 * reporter it was sent, and nothing can tell a quote from the rest. One statement per
	 * report, on the key's prefix range, so the key's unique index finds its items. */
	for (size_t i = 0; i < n && !rc; i++) {
		char lo[40], hi[40];
		snprintf(lo, sizeof(lo), "report-%lld-", (long long)ids[i]);
		snprintf(hi, sizeof(hi), "report-%lld.", (long long)ids[i]); /* '.' follows '-' */
		if ((rc = vg__sq_prepare(s,
				  /* last_error too: a receiver's answer (webhook_deliver.c keeps
				   * its first bytes) or an SMTP reply may quote the reporter. */
				  "UPDATE outbox SET payload = json_remove(payload, '$.reporter'), "
				  "last_error = CASE WHEN last_error IS NULL THEN NULL ELSE "
				  "'[erased: may have quoted the reporter]' END "
				  "WHERE idempotency_key >= ?1 AND idempotency_key < ?2 "
				  "AND json_valid(payload) "
				  "AND json_type(payload, '$.reporter') IS NOT NULL",
				  &st, err)))
			break;
		sqlite3_bind_text(st, 1, lo, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, hi, -1, SQLITE_TRANSIENT);
		rc = run1(s, st, err);
	}
out:
	rc = wend(s, &w, rc, err);
	if (rc) {
		free(ids);
		return rc;
	}
	*ret_ids = ids;
	*ret_n = n;
	return 0;
}

/* ---- the report lifecycle of cases ------------------------------------------------------ */

static int case_event(vg_store *s, int64_t case_id, vg_usec at, const char *actor,
		      const char *action, const char *note, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 "INSERT INTO case_events (id, case_id, at, actor, action, note) "
			 "VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM case_events), "
			 "?1, ?2, ?3, ?4, ?5)",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, case_id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_text(st, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, action, -1, SQLITE_STATIC);
	bind_opt(st, 5, note);
	return run1(s, st, err);
}

static int case_note(vg_store *s, int64_t case_id, const char *actor, const char *action,
		     const char *note, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (!rc)
		rc = case_event(s, case_id, vg_time_now(), actor, action, note, err);
	return wend(s, &w, rc, err);
}

static int report_case_open_or_attach(vg_store *s, const char *dedup_key, const char *url,
				      const char *category, const char *priority, vg_usec since,
				      int64_t report_id, const char *actor, int64_t *ret_case_id,
				      bool *ret_created, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	int64_t id = 0;
	bool created = false;
	vg_usec now = vg_time_now();
	char note[48];
	snprintf(note, sizeof(note), "report %lld", (long long)report_id);
	/* Only an open case is joined: one rejected or closed within the window is a decision
	 * already taken, and a report attached to it would reach no reviewer and no party. */
	if ((rc = vg__sq_prepare(s,
			  "SELECT id FROM cases WHERE dedup_key = ?1 AND created_at >= ?2 "
			  "AND kind = 'report' AND status = 'open' ORDER BY id DESC LIMIT 1",
			  &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, dedup_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	else if (step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	if (rc)
		goto out;
	if (id) {
		if ((rc = vg__sq_prepare(s, "UPDATE cases SET updated_at = ?2 WHERE id = ?1", &st, err)))
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, now);
		if ((rc = run1(s, st, err)) == 0)
			rc = case_event(s, id, now, actor, "report_attached", note, err);
		/* A case a reviewer already acted on (block_url or notify) acted on this
		 * report's content too: the report counts as acted on when it joined, so the
		 * transparency figures neither drop it from the acted-on reports nor wait for
		 * an action that will never come again. */
		if (!rc && (rc = vg__sq_prepare(s,
				     "UPDATE reports SET first_action_at = ?3 WHERE id = ?1 "
				     "AND first_action_at IS NULL AND (SELECT first_action_at FROM "
				     "cases WHERE id = ?2) IS NOT NULL",
				     &st, err)) == 0) {
			sqlite3_bind_int64(st, 1, report_id);
			sqlite3_bind_int64(st, 2, id);
			sqlite3_bind_int64(st, 3, now);
			rc = run1(s, st, err);
		}
		goto out;
	}
	if ((rc = vg__sq_prepare(s,
			  "INSERT INTO cases (id, url, bank_id, bank, status, created_at, "
			  "updated_at, kind, stage, category, priority, dedup_key) VALUES "
			  "((SELECT COALESCE(MAX(id), 0) + 1 FROM cases), ?1, NULL, '', 'open', "
			  "?2, ?2, 'report', 'new', ?3, ?4, ?5)",
			  &st, err)))
		goto out;
	sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_text(st, 3, category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, priority, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, dedup_key, -1, SQLITE_STATIC);
	if ((rc = run1(s, st, err)))
		goto out;
	id = sqlite3_last_insert_rowid(vg__sq_db(s));
	created = true;
	rc = case_event(s, id, now, actor, "opened", note, err);
out:
	rc = wend(s, &w, rc, err);
	if (rc == 0) {
		*ret_case_id = id;
		*ret_created = created;
	}
	return rc;
}

/* vg__sq_collect's typed wrappers. */
static void case_row(sqlite3_stmt *st, void *row)
{
	vg__sq_read_case(st, row);
}

static void drop_cases(void *rows, size_t n)
{
	vg_store_case_list_free(rows, n);
}

static int case_query(vg_store *s, const vg_store_case_filter *f, int64_t after_id, size_t limit,
		      vg_store_case **ret, size_t *ret_n, vg_error *err)
{
	bool coarse = f->status && (!strcmp(f->status, "open") || !strcmp(f->status, "closed"));
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s,
			 VG__SQ_CASE_COLUMNS
			 "WHERE id > ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR "
			 "stage = ?3) AND (?4 IS NULL OR category = ?4) AND (?5 IS NULL OR "
			 "assignee = ?5) ORDER BY id LIMIT ?6",
			 &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, after_id);
	bind_opt(st, coarse ? 2 : 3, f->status);
	bind_opt(st, 4, f->category);
	bind_opt(st, 5, f->assignee);
	bind_limit(st, 6, limit);
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(vg_store_case), case_row, drop_cases,
				 "out of memory listing cases", &rows, ret_n, err)) == 0)
		*ret = rows;
	return rc;
}

/* VG_ENOENT or VG_EEXIST for a case the update did not change: closed, or (moving to
 * stage, NULL for none) actioned and so not to be rejected, or not actioned and so not
 * to be closed. */
static int refused(vg_store *s, int64_t id, const char *stage, vg_error *err)
{
	int64_t actioned = 0;
	int rc = one_int(s, "SELECT stage = 'actioned' FROM cases WHERE id = ?1 "
			 "AND status = 'open'", id, &actioned, "open case", err);
	if (rc == VG_ENOENT) {
		int64_t one;
		rc = one_int(s, "SELECT 1 FROM cases WHERE id = ?1", id, &one, "case", err);
		return rc ? rc : vg_error_set(err, VG_EEXIST, "case %lld is closed", (long long)id);
	}
	if (rc)
		return rc;
	if (stage && !strcmp(stage, "rejected") && actioned)
		return vg_error_set(err, VG_EEXIST, "an actioned case is closed, not rejected");
	if (stage && !strcmp(stage, "closed") && !actioned)
		return vg_error_set(err, VG_EEXIST, "only an actioned case can be closed; reject it");
	return vg_error_set(err, VG_EEXIST, "case %lld changed meanwhile", (long long)id);
}

static int case_assign(vg_store *s, int64_t id, const char *assignee, const char *actor,
		       vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	vg_usec now = vg_time_now();
	if ((rc = vg__sq_prepare(s,
			  /* Only a report case advances: a scan case stays new while open
			   * (docs/reports.md), its one decision closes it. */
			  "UPDATE cases SET assignee = ?2, updated_at = ?3, stage = CASE WHEN "
			  "stage = 'new' AND kind = 'report' THEN 'triaged' ELSE stage END "
			  "WHERE id = ?1 AND status = 'open'",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, assignee, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	if ((rc = run1(s, st, err)))
		goto out;
	if (sqlite3_changes(vg__sq_db(s)) == 0) {
		rc = refused(s, id, NULL, err);
		goto out;
	}
	rc = case_event(s, id, now, actor, "assigned", assignee, err);
out:
	return wend(s, &w, rc, err);
}

static int case_transition(vg_store *s, int64_t id, const char *stage, const char *decision,
			   const char *priority, const char *note, const char *actor,
			   vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = NULL;
	vg_usec now = vg_time_now();
	bool closes = !strcmp(stage, "rejected") || !strcmp(stage, "closed");
	bool acts = !strcmp(stage, "actioned");
	if ((rc = vg__sq_prepare(s,
			  "UPDATE cases SET stage = ?2, decision = ?3, note = COALESCE(?4, note), "
			  "priority = COALESCE(?5, priority), updated_at = ?6, "
			  "first_action_at = CASE WHEN ?7 AND first_action_at IS NULL THEN ?6 "
			  "ELSE first_action_at END, "
			  "status = CASE WHEN ?8 THEN 'closed' ELSE status END, "
			  "closed_at = CASE WHEN ?8 THEN ?6 ELSE closed_at END "
			  /* The lifecycle here, not in the caller's earlier read: what was
			   * acted on is closed, not rejected; what was not is rejected, not
			   * closed. A reject racing a block_url cannot then both succeed. */
			  "WHERE id = ?1 AND status = 'open' "
			  "AND (?2 <> 'rejected' OR stage <> 'actioned') "
			  "AND (?2 <> 'closed' OR stage = 'actioned')",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, decision, -1, SQLITE_STATIC);
	bind_opt(st, 4, note);
	bind_opt(st, 5, priority);
	sqlite3_bind_int64(st, 6, now);
	sqlite3_bind_int(st, 7, acts);
	sqlite3_bind_int(st, 8, closes);
	if ((rc = run1(s, st, err)))
		goto out;
	if (sqlite3_changes(vg__sq_db(s)) == 0) {
		rc = refused(s, id, stage, err);
		goto out;
	}
	if ((rc = case_event(s, id, now, actor, decision, note, err)))
		goto out;
	/* The reports of the case: their first action and closing times, for the figures. A
	 * report with several URLs has a case for each; it is closed once the last of them
	 * is (this case is closed already by the UPDATE above), not when the first is. */
	if (acts || closes) {
		if ((rc = vg__sq_prepare(s,
				  "UPDATE reports SET "
				  "first_action_at = CASE WHEN ?2 AND first_action_at IS NULL THEN ?3 "
				  "ELSE first_action_at END, "
				  "closed_at = CASE WHEN ?4 AND closed_at IS NULL AND NOT EXISTS "
				  "(SELECT 1 FROM report_urls o JOIN cases oc ON oc.id = o.case_id "
				  "WHERE o.report_id = reports.id AND oc.status = 'open') THEN ?3 "
				  "ELSE closed_at END "
				  "WHERE id IN (SELECT report_id FROM report_urls WHERE case_id = ?1)",
				  &st, err)))
			goto out;
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int(st, 2, acts);
		sqlite3_bind_int64(st, 3, now);
		sqlite3_bind_int(st, 4, closes);
		rc = run1(s, st, err);
	}
out:
	return wend(s, &w, rc, err);
}

/* ---- blocks several cases rely on -------------------------------------------------------
 * One active block per URL, owned by the case that placed it (blocks.case_id). Another case
 * may rely on the same block without owning it: a report case whose reviewer decided
 * block_url on a URL blocked already, or an undismissed scan case of a bank that blocks.
 * Lifting the block with its owner would silently undo their decision; the block passes
 * to one of them instead (a reviewed report case first, then the oldest), with the reason
 * that case would have given. Reliance is read from the history and banks, not stored, so
 * every path that ever joined a block (scan, report intake, review) is covered. */

static int block_hand_over(vg_store *s, int64_t case_id, vg_store_block_handover **ret,
			   size_t *ret_n, vg_error *err)
{
	wtx w;
	int rc = wbegin(s, &w, true, err);
	if (rc)
		return rc;
	vg_store_block_handover *v = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	if ((rc = vg__sq_prepare(s,
			  "SELECT b.id, (SELECT c.id FROM cases c WHERE c.url = b.url AND "
			  "c.id <> ?1 AND ((c.kind = 'report' AND c.stage <> 'rejected' AND "
			  "EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND "
			  "e.action IN ('block_url', 'block_joined'))) OR "
			  "(c.kind = 'scan' AND (c.decision IS NULL OR c.decision = 'confirm') "
			  "AND EXISTS (SELECT 1 FROM banks k, json_each(CASE WHEN "
			  "json_valid(k.actions) THEN k.actions ELSE '[]' END) a WHERE "
			  "k.id = c.bank_id AND a.value = 'block_url'))) "
			  "ORDER BY c.kind = 'report' DESC, c.id LIMIT 1) FROM blocks b "
			  "WHERE b.case_id = ?1 AND b.lifted_at IS NULL ORDER BY b.id",
			  &st, err)))
		goto out;
	sqlite3_bind_int64(st, 1, case_id);
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue; /* nobody else relies on it: lifted with its case */
		if (n == cap) {
			cap = cap ? 2 * cap : 4;
			vg_store_block_handover *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				rc = vg_error_set(err, VG_ENOMEM, "out of memory handing blocks over");
				break;
			}
			v = nv;
		}
		v[n].block_id = sqlite3_column_int64(st, 0);
		v[n].to_case_id = sqlite3_column_int64(st, 1);
		n++;
	}
	if (!rc && step != SQLITE_DONE)
		rc = vg__sq_fail(s, step, err, "database");
	sqlite3_finalize(st);
	for (size_t i = 0; i < n && !rc; i++) {
		if ((rc = vg__sq_prepare(s,
				  "UPDATE blocks SET case_id = ?2, reason = (SELECT CASE c.kind WHEN "
				  "'report' THEN c.category || ' report reviewed (case ' || c.id || ')' "
				  "ELSE 'matched bank ' || c.bank || ' (case ' || c.id || ')' END "
				  "FROM cases c WHERE c.id = ?2) WHERE id = ?1",
				  &st, err)))
			break;
		sqlite3_bind_int64(st, 1, v[i].block_id);
		sqlite3_bind_int64(st, 2, v[i].to_case_id);
		rc = run1(s, st, err);
	}
out:
	rc = wend(s, &w, rc, err);
	if (rc) {
		free(v);
		return rc;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* ---- reports of a case; the transparency figures ---------------------------------------- */

static int case_reports(vg_store *s, int64_t case_id,
			int (*fn)(const vg_store_report *r, void *ctx), void *ctx, vg_error *err)
{
	/* The ids first, so that fn may use the store while we walk. */
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, "SELECT DISTINCT report_id FROM report_urls WHERE case_id = ?1 "
			    "ORDER BY report_id", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, case_id);
	void *rows;
	size_t n;
	if ((rc = vg__sq_collect(s, st, sizeof(int64_t), int_row, NULL, "out of memory", &rows, &n,
				 err)))
		return rc;
	int64_t *ids = rows;
	for (size_t i = 0; i < n && !rc; i++) {
		vg_store_report r;
		if ((rc = report_get(s, ids[i], &r, err)) == 0) {
			rc = fn(&r, ctx);
			vg_store_report_done(&r);
		}
	}
	free(ids);
	return rc;
}

static void count_row(sqlite3_stmt *st, void *row)
{
	vg_store_count *c = row;
	memset(c, 0, sizeof(*c));
	copy_col(st, 0, c->a, sizeof(c->a));
	copy_col(st, 1, c->b, sizeof(c->b));
	c->n = sqlite3_column_int64(st, 2);
}

/* Rows of (word, word, count) from sql bound to [from, to) into a new array. */
static int counts(vg_store *s, const char *sql, vg_usec from, vg_usec to, vg_store_count **ret,
		  size_t *ret_n, vg_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc = vg__sq_prepare(s, sql, &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	void *rows;
	if ((rc = vg__sq_collect(s, st, sizeof(vg_store_count), count_row, NULL, "out of memory",
				 &rows, ret_n, err)) == 0)
		*ret = rows;
	return rc;
}

static int figures_get(vg_store *s, vg_usec from, vg_usec to, vg_store_figures *ret,
		       vg_error *err)
{
	vg_store_figures f = {0};
	int rc = counts(s,
			"SELECT category, source, COUNT(*) FROM reports WHERE created_at >= ?1 "
			"AND created_at < ?2 GROUP BY category, source ORDER BY category, source",
			from, to, &f.reports, &f.n_reports, err);
	/* A reviewer's decisions on report cases (scan cases have their own figures). */
	if (!rc)
		rc = counts(s,
			    "SELECT e.action, '', COUNT(*) FROM case_events e JOIN cases c ON "
			    "c.id = e.case_id WHERE c.kind = 'report' AND e.action IN ('assigned', "
			    "'block_url', 'notify', 'reject', 'escalate', 'close') AND e.at >= ?1 "
			    "AND e.at < ?2 GROUP BY e.action ORDER BY e.action",
			    from, to, &f.actions, &f.n_actions, err);
	sqlite3_stmt *st = NULL;
	if (!rc && (rc = vg__sq_prepare(s,
				 "SELECT (SELECT COUNT(*) FROM blocks WHERE created_at >= ?1 AND "
				 "created_at < ?2), (SELECT COUNT(*) FROM blocks WHERE lifted_at >= "
				 "?1 AND lifted_at < ?2)",
				 &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, to);
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			f.blocks_placed = sqlite3_column_int64(st, 0);
			f.blocks_lifted = sqlite3_column_int64(st, 1);
		} else {
			rc = vg__sq_fail(s, step, err, "database");
		}
		sqlite3_finalize(st);
	}
	if (!rc && (rc = vg__sq_prepare(s,
				 "SELECT first_action_at - created_at FROM reports WHERE created_at "
				 ">= ?1 AND created_at < ?2 AND first_action_at IS NOT NULL ORDER BY 1",
				 &st, err)) == 0) {
		sqlite3_bind_int64(st, 1, from);
		sqlite3_bind_int64(st, 2, to);
		void *rows;
		if ((rc = vg__sq_collect(s, st, sizeof(vg_usec), int_row, NULL, "out of memory",
					 &rows, &f.n_delays, err)) == 0)
			f.first_action_delays = rows;
	}
	if (rc) {
		vg_store_figures_done(&f);
		return rc;
	}
	*ret = f;
	return 0;
}

const vg__store_reports_ops vg__sqlite_reports_ops = {
	.zone_create = zone_create,
	.zone_get = zone_get,
	.zone_list = zone_list,
	.zone_update = zone_update,
	.zone_delete = zone_delete,
	.report_create = report_create,
	.report_get = report_get,
	.report_find_message_id = report_find_message_id,
	.report_add_url = report_add_url,
	.report_add_evidence = report_add_evidence,
	.report_urls = report_urls,
	.report_evidence = report_evidence,
	.case_evidence = case_evidence,
	.report_erase = report_erase,
	.report_case_open_or_attach = report_case_open_or_attach,
	.case_query = case_query,
	.case_assign = case_assign,
	.case_transition = case_transition,
	.case_reports = case_reports,
	.block_hand_over = block_hand_over,
	.case_note = case_note,
	.figures_get = figures_get,
};
