/* SPDX-License-Identifier: Apache-2.0
 *
 * store's private parts: the backend operations table that store.c dispatches through,
 * and the embedded migrations (generated from migrations/NNNN_name.sql by embed-sql). Only files
 * in src/store/ include this header.
 *
 * Invariant: every backend struct starts with a vg_store, so a vg_store * is also a
 * pointer to its backend; the ops pointer is set before the store is handed out.
 */
#ifndef VG__STORE_INTERNAL_H
#define VG__STORE_INTERNAL_H

#include "store.h"

typedef struct vg__migration {
	int version;
	const char *name; /* "0001_banks" */
	const char *sql;
} vg__migration;

extern const vg__migration vg__migrations[];
extern const size_t vg__migration_count;

typedef struct vg__store_ops {
	void (*close)(vg_store *s);
	int (*schema_version)(vg_store *s, int *ret, vg_error *err);
	int (*begin)(vg_store *s, vg_error *err);
	int (*commit)(vg_store *s, vg_error *err);
	void (*rollback)(vg_store *s);
	int (*watermark_get)(vg_store *s, vg_store_watermark *ret, vg_error *err);
	int64_t (*committed_seq)(const vg_store *s);
	int (*bank_create)(vg_store *s, const char *name, const char *description,
			   vg_error *err);
	int (*bank_get)(vg_store *s, const char *name, vg_store_bank *ret, vg_error *err);
	int (*bank_list)(vg_store *s, vg_store_bank **ret_banks, size_t *ret_n, vg_error *err);
	int (*bank_delete)(vg_store *s, const char *name, vg_error *err);
	int (*bank_set_enabled)(vg_store *s, const char *name, bool enabled, vg_error *err);
	int (*signal_add)(vg_store *s, int64_t bank_id, const char *type, const char *value,
			  const char *metadata, int64_t *ret_id, vg_store_add_result *ret_result,
			  vg_error *err);
	int (*signal_remove)(vg_store *s, int64_t bank_id, const char *type, const char *value,
			     size_t *ret_removed, vg_error *err);
	int (*signal_get)(vg_store *s, int64_t id, vg_store_signal *ret, vg_error *err);
	int (*signal_each)(vg_store *s, const vg_store_filter *filter, vg_store_signal_fn *fn,
			   void *ctx, vg_error *err);
	/* The scanning service's calls (migration 0002), in a table of their own below. */
	const struct vg__store_service_ops *service;
	/* The rules engine's labels (migration 0003). */
	const struct vg__store_labels_ops *labels;
	/* Abuse reports: zones, reports, the report lifecycle of cases (migration 0004). */
	const struct vg__store_reports_ops *reports;
} vg__store_ops;

struct vg_store {
	const vg__store_ops *ops;
};

/* create: make the file when missing (vg_store_open); else vg_store_open_existing's terms. */
int vg__store_sqlite_open(const char *path, bool create, vg_store **ret, vg_error *err);

/* ---- the scanning service's operations ------------------------------------------------
 * One entry per public call of store.h's service section. store.c has checked every
 * argument's presence and bounds before calling, so a backend only maps them to its
 * database; out-parameters are written only on success. */
typedef struct vg__store_service_ops {
	int (*token_create)(vg_store *s, const char *name, const char *role,
			    const char *hash_hex, int64_t *ret_id, vg_error *err);
	int (*token_by_hash)(vg_store *s, const char *hash_hex, vg_store_token *ret,
			     vg_error *err);
	int (*token_list)(vg_store *s, vg_store_token **ret, size_t *ret_n, vg_error *err);
	int (*token_revoke)(vg_store *s, const char *name, vg_error *err);
	int (*token_count_live)(vg_store *s, const char *role, size_t *ret, vg_error *err);

	int (*audit_append)(vg_store *s, const char *actor, const char *action,
			    const char *object_type, const char *object_id, const char *detail,
			    int64_t *ret_id, vg_error *err);
	int (*audit_list)(vg_store *s, int64_t after_id, size_t limit, vg_store_audit **ret,
			  size_t *ret_n, vg_error *err);
	int (*audit_verify)(vg_store *s, size_t *ret_count, int64_t *ret_bad_id, vg_error *err);

	int (*bank_update)(vg_store *s, const char *name, const vg_store_bank_patch *patch,
			   vg_error *err);

	int (*scan_set_verdict)(vg_store *s, int64_t id, const char *verdict, vg_error *err);
	int (*scan_record)(vg_store *s, const vg_store_scan *scan, int64_t *ret_id,
			   vg_error *err);

	int (*block_add)(vg_store *s, const char *url, const char *reason, int64_t bank_id,
			 int64_t case_id, const char *actor, int64_t *ret_id, bool *ret_created,
			 vg_error *err);
	int (*block_get)(vg_store *s, int64_t id, vg_store_block *ret, vg_error *err);
	int (*block_lift)(vg_store *s, int64_t id, const char *actor, vg_error *err);
	int (*block_lift_by_case)(vg_store *s, int64_t case_id, const char *actor,
				  int64_t **ret_ids, size_t *ret_n, vg_error *err);
	int (*block_claim)(vg_store *s, int64_t id, int64_t bank_id, const char *reason,
			   int64_t *ret_from_case, vg_error *err);
	int (*block_each)(vg_store *s, bool active_only, int64_t after_id, size_t limit,
			  vg_store_block_fn *fn, void *ctx, vg_error *err);
	int (*block_watermark)(vg_store *s, int64_t *ret, vg_error *err);
	int (*block_lifted_since)(vg_store *s, vg_usec since, vg_store_block_fn *fn, void *ctx,
				  vg_error *err);

	int (*case_open_or_attach)(vg_store *s, const char *url, int64_t bank_id,
				   int64_t scan_id, const char *actor, int64_t *ret_case_id,
				   bool *ret_created, vg_error *err);
	int (*case_get)(vg_store *s, int64_t id, vg_store_case *ret, vg_error *err);
	int (*case_decide)(vg_store *s, int64_t id, const char *decision, const char *note,
			   const char *actor, vg_error *err);
	int (*case_history)(vg_store *s, int64_t id,
			    int (*fn)(const vg_store_case_event *e, void *ctx), void *ctx,
			    vg_error *err);
	int (*case_scans)(vg_store *s, int64_t id,
			  int (*fn)(const vg_store_scan *scan, int64_t scan_id, void *ctx),
			  void *ctx, vg_error *err);

	int (*outbox_enqueue)(vg_store *s, const char *kind, const char *target,
			      const char *payload, const char *secret,
			      const char *idempotency_key, vg_usec next_at, int64_t *ret_id,
			      vg_error *err);
	/* kinds checked by store.c (n_kinds 0: any kind) */
	int (*outbox_due)(vg_store *s, vg_usec now, const char *const *kinds, size_t n_kinds,
			  size_t limit, vg_store_outbox **ret, size_t *ret_n, vg_error *err);
	int (*outbox_claim)(vg_store *s, vg_usec now, vg_usec lease_until,
			    const char *const *kinds, size_t n_kinds, size_t limit,
			    vg_store_outbox **ret, size_t *ret_n, vg_error *err);
	int (*outbox_release)(vg_store *s, int64_t id, vg_error *err);
	int (*outbox_next_due)(vg_store *s, vg_usec after, const char *const *kinds,
			       size_t n_kinds, vg_usec *ret, vg_error *err);
	/* to: "done", "dead", or "pending" for a retry at next_at; error may be NULL. */
	int (*outbox_finish)(vg_store *s, int64_t id, const char *to, vg_usec next_at,
			     const char *error, vg_error *err);
	int (*outbox_list)(vg_store *s, const char *state, int64_t after_id, size_t limit,
			   vg_store_outbox **ret, size_t *ret_n, vg_error *err);
	int (*outbox_counts)(vg_store *s, size_t *ret_pending, size_t *ret_done,
			     size_t *ret_dead, vg_error *err);
} vg__store_service_ops;

extern const vg__store_service_ops vg__sqlite_service_ops;

/* ---- the SQLite backend's helpers, shared by store_sqlite.c and store_sqlite_service.c --
 * Declared with struct tags so this header needs no sqlite3.h (sqlite3.h's typedefs name
 * the same structs). */
struct sqlite3;
struct sqlite3_stmt;

/* Statement slots store_sqlite_service.c may cache per connection. */
#define VG__SQ_SLOTS 48

struct sqlite3 *vg__sq_db(vg_store *s);
/* Turns an SQLite result code into a VG_E* code and message (see fail()). */
int vg__sq_fail(vg_store *s, int rc, vg_error *err, const char *what);
/* The statement for sql kept in slot (< VG__SQ_SLOTS) of this connection, compiled on
 * first use, reset and unbound. The caller resets it when done, so no read snapshot
 * stays open between calls; it must not be used re-entrantly (walks that call back into
 * the store compile their own). */
int vg__sq_cached(vg_store *s, int slot, const char *sql, struct sqlite3_stmt **ret,
		  vg_error *err);
/* Opens a write transaction unless the caller's is open; *ret_own says which. */
int vg__sq_write_begin(vg_store *s, bool *ret_own, vg_error *err);
/* Commits (rc 0) or rolls back the transaction write_begin opened; with own false only
 * passes rc through. */
int vg__sq_write_end(vg_store *s, bool own, int rc, vg_error *err);
/* Opens (release false) or releases the savepoint vg_write inside the caller's
 * transaction, with compiled statements: a multi-row write inside a group commit does
 * both, and sqlite3_exec parsed them every time. */
int vg__sq_savepoint(vg_store *s, bool release, vg_error *err);
/* Marks the open transaction as a change to banks or signals (moves the watermark). */
void vg__sq_mark_changed(vg_store *s);
/* Whether the caller's transaction (vg_store_begin) is open. */
bool vg__sq_in_tx(vg_store *s);
/* In the caller's write transaction, after bank name's webhook changed or before the bank
 * is deleted (deleted true): its pending match webhooks take the bank's current URL and
 * secret, or are given up (dead, secret cleared) when it has no webhook URL any more or
 * is going. A queued item never outlives a rotated or removed secret. */
int vg__sq_bank_webhook_changed(vg_store *s, const char *name, bool deleted, vg_error *err);

/* ---- the rules engine's labels (store.h's labels section), checked by store.c ------------ */
typedef struct vg__store_labels_ops {
	int (*set_many)(vg_store *s, const vg_store_label *v, size_t n, vg_error *err);
	int (*each)(vg_store *s, vg_usec now, vg_store_label_fn *fn, void *ctx, vg_error *err);
	int (*purge)(vg_store *s, vg_usec now, size_t *ret_n, vg_error *err);
	int (*find)(vg_store *s, const vg_store_label_query *q, vg_store_label_fn *fn, void *ctx,
		    vg_error *err);
	int (*delete_one)(vg_store *s, const char *kind, const char *entity, const char *name,
			  vg_usec now, bool *ret_found, vg_error *err);
} vg__store_labels_ops;

extern const vg__store_labels_ops vg__sqlite_labels_ops;

/* ---- abuse reports (store.h's reports section), checked by store.c ------------------------ */
typedef struct vg__store_reports_ops {
	int (*zone_create)(vg_store *s, const vg_store_zone *z, int64_t *ret_id, vg_error *err);
	/* By id when name is NULL, else by name. */
	int (*zone_get)(vg_store *s, int64_t id, const char *name, vg_store_zone *ret,
			vg_error *err);
	int (*zone_list)(vg_store *s, int64_t after_id, size_t limit, vg_store_zone **ret,
			 size_t *ret_n, vg_error *err);
	int (*zone_update)(vg_store *s, const vg_store_zone *z, vg_error *err);
	int (*zone_delete)(vg_store *s, int64_t id, vg_error *err);
	int (*report_create)(vg_store *s, const vg_store_report *r, int64_t *ret_id,
			     vg_error *err);
	int (*report_get)(vg_store *s, int64_t id, vg_store_report *ret, vg_error *err);
	int (*report_find_message_id)(vg_store *s, const char *message_id, vg_usec since,
				      int64_t *ret_id, vg_error *err);
	int (*report_add_url)(vg_store *s, int64_t report_id, const char *url, int64_t zone_id,
			      const char *zone, int64_t case_id, vg_error *err);
	int (*report_add_evidence)(vg_store *s, int64_t report_id, const char *type,
				   const char *hex, vg_error *err);
	int (*report_urls)(vg_store *s, int64_t report_id,
			   int (*fn)(const vg_store_report_url *u, void *ctx), void *ctx,
			   vg_error *err);
	int (*report_evidence)(vg_store *s, int64_t report_id,
			       int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
			       vg_error *err);
	int (*case_evidence)(vg_store *s, int64_t case_id,
			     int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
			     vg_error *err);
	int (*report_erase)(vg_store *s, vg_usec before, vg_usec now, int64_t **ret_ids,
			    size_t *ret_n, vg_error *err);
	int (*report_case_open_or_attach)(vg_store *s, const char *dedup_key, const char *url,
					  const char *category, const char *priority,
					  vg_usec since, int64_t report_id, const char *actor,
					  int64_t *ret_case_id, bool *ret_created, vg_error *err);
	/* status: NULL, "open", "closed" or a stage (store.c checked it). */
	int (*case_query)(vg_store *s, const vg_store_case_filter *f, int64_t after_id,
			  size_t limit, vg_store_case **ret, size_t *ret_n, vg_error *err);
	int (*case_assign)(vg_store *s, int64_t id, const char *assignee, const char *actor,
			   vg_error *err);
	int (*case_transition)(vg_store *s, int64_t id, const char *stage, const char *decision,
			       const char *priority, const char *note, const char *actor,
			       vg_error *err);
	int (*case_reports)(vg_store *s, int64_t case_id,
			    int (*fn)(const vg_store_report *r, void *ctx), void *ctx,
			    vg_error *err);
	int (*figures_get)(vg_store *s, vg_usec from, vg_usec to, vg_store_figures *ret,
			   vg_error *err);
	int (*block_hand_over)(vg_store *s, int64_t case_id, vg_store_block_handover **ret,
			       size_t *ret_n, vg_error *err);
	int (*case_note)(vg_store *s, int64_t case_id, const char *actor, const char *action,
			 const char *note, vg_error *err);
} vg__store_reports_ops;

extern const vg__store_reports_ops vg__sqlite_reports_ops;

/* The columns every case read selects, and how a row of them becomes a vg_store_case
 * (store_sqlite_service.c), shared with store_sqlite_reports.c's case queries. */
#define VG__SQ_CASE_COLUMNS                                                                 \
	"SELECT id, url, bank_id, bank, status, decision, note, created_at, updated_at, "  \
	"closed_at, kind, stage, category, priority, assignee, first_action_at FROM cases "
void vg__sq_read_case(struct sqlite3_stmt *st, vg_store_case *c);

#endif
