/* SPDX-License-Identifier: Apache-2.0
 *
 * store: where vigil keeps what must survive a restart. This header is the storage
 * interface, neutral about the database behind it: an opaque vg_store, plain C types in
 * and out, no SQLite or libpq type in sight. store.c dispatches to a backend
 * (store_sqlite.c today; PostgreSQL behind the same calls later).
 *
 * Invariants:
 * - Acknowledged means durable: a write function that returned 0 outside a transaction,
 *   or a vg_store_commit() that returned 0, has reached the disk (WAL, synchronous=FULL).
 * - The schema is the numbered migrations in src/store/migrations/, applied in order at
 *   open, each once, recorded in schema_version; opening twice changes nothing.
 * - Signals are never deleted one by one, only soft-removed (removed_at set); a removed
 *   signal is never returned as live. (bank, value, type) identifies one signal.
 * - The store checks what the database needs (foreign keys, uniqueness); the domain
 *   rules (name syntax, value normalisation) are the bank layer's, above this one.
 *
 * Threading: a vg_store is used by one thread at a time.
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include "util/util.h"

typedef struct vg_store vg_store;

#define VG_STORE_DEFAULT_PATH "./vigil.db"
#define VG_STORE_NAME_MAX 64   /* bytes in a bank name */
#define VG_STORE_TYPE_MAX 15   /* bytes in a signal type name */
#define VG_STORE_VALUE_MAX 2048 /* bytes in a signal value */
/* Bytes in a canonical URL the service keeps: a scan's, a block's, a case's, a report's.
 * As long as the longest URL the API accepts (VG_URL_MAX in report.h; the api folder
 * asserts it), so a URL that passed intake never fails in the store: signed CDN URLs of
 * several KB are common, and a scan of one that matched must still block it. */
#define VG_STORE_URL_MAX 8192

/* The database to use: flag when not NULL, else $VIGIL_DB when set and not empty, else
 * VG_STORE_DEFAULT_PATH. Returns a borrowed string. */
VG_EXPORT const char *vg_store_resolve_path(const char *flag);

/* Opens (creating when missing) the database at path and applies pending migrations.
 * Errors: VG_EIO (cannot open or write; the reason in err), VG_ECORRUPT (not a
 * database, or a schema newer than this build knows). */
VG_EXPORT VG_MUST_CHECK int vg_store_open(const char *path, vg_store **ret, vg_error *err);
/* Like vg_store_open, but never creates anything: for commands that read (`vigil audit`,
 * `bank list`, `match --db`...), where a mistyped path must fail rather than make a new,
 * empty database that then answers "ok, nothing here". A vigil database of an older
 * schema is migrated as vg_store_open does. Errors: VG_ENOENT (no file at path, or a
 * file without vigil's schema: an empty file or another program's database, left as it
 * was), and vg_store_open's. */
VG_EXPORT VG_MUST_CHECK int vg_store_open_existing(const char *path, vg_store **ret,
						   vg_error *err);
/* Rolls back an open transaction and closes; NULL is fine. */
VG_EXPORT void vg_store_close(vg_store *s);

/* The highest migration applied. */
VG_EXPORT VG_MUST_CHECK int vg_store_schema_version(vg_store *s, int *ret, vg_error *err);

/* ---- transactions ----------------------------------------------------------------------
 * Writes outside a transaction commit one by one. Between begin and commit they commit
 * together (how an import of a million signals takes seconds). No nesting. */
VG_EXPORT VG_MUST_CHECK int vg_store_begin(vg_store *s, vg_error *err);
VG_EXPORT VG_MUST_CHECK int vg_store_commit(vg_store *s, vg_error *err);
VG_EXPORT void vg_store_rollback(vg_store *s);

/* Identifies the store's content: birth is the database's creation time, seq moves
 * forward on every committed change to banks or signals, and tag is a random number
 * each such commit sets (a backup restored and written to again reaches an old seq with
 * other content, never an old tag). Two equal watermarks of the same path mean the
 * same content, which is how derived files (index snapshots) know whether they are
 * stale. */
typedef struct vg_store_watermark {
	int64_t birth;
	int64_t seq;
	int64_t tag;
} vg_store_watermark;

VG_EXPORT VG_MUST_CHECK int vg_store_watermark_get(vg_store *s, vg_store_watermark *ret,
						   vg_error *err);
/* The seq this connection's last commit moved the watermark to, or 0 when that commit
 * changed no bank or signal: with the seq a derived view had, it tells whether the view
 * now follows on from this commit alone (seq one more) or another writer's came between. */
VG_EXPORT int64_t vg_store_committed_seq(const vg_store *s);

/* ---- banks ----------------------------------------------------------------------------- */
typedef struct vg_store_bank {
	int64_t id;
	char name[VG_STORE_NAME_MAX + 1];
	char *description; /* owned; vg_store_bank_done() frees */
	bool enabled;
	vg_usec created_at, updated_at;
	uint64_t live_signals;    /* not removed */
	uint64_t removed_signals; /* soft-removed */
	/* What a match does (migration 0002; see vg_store_bank_update). Owned. */
	char *actions;        /* JSON array text, "[]" when none */
	char *webhook_url;    /* NULL when unset */
	char *webhook_secret; /* NULL when unset */
} vg_store_bank;

VG_EXPORT void vg_store_bank_done(vg_store_bank *b);

/* Creates an enabled bank. name must not be longer than VG_STORE_NAME_MAX (its syntax is
 * the bank layer's to check). Errors: VG_EEXIST, VG_EINVAL, VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_store_bank_create(vg_store *s, const char *name,
						 const char *description, vg_error *err);
/* Errors: VG_ENOENT, VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_store_bank_get(vg_store *s, const char *name, vg_store_bank *ret,
					      vg_error *err);
/* Every bank, by name, into a new array (free with vg_store_bank_list_free). */
VG_EXPORT VG_MUST_CHECK int vg_store_bank_list(vg_store *s, vg_store_bank **ret_banks,
					       size_t *ret_n, vg_error *err);
VG_EXPORT void vg_store_bank_list_free(vg_store_bank *banks, size_t n);
/* Deletes the bank and every signal it holds (live and removed). Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_bank_delete(vg_store *s, const char *name, vg_error *err);
/* Errors: VG_ENOENT. Setting the state it already has is not an error. */
VG_EXPORT VG_MUST_CHECK int vg_store_bank_set_enabled(vg_store *s, const char *name,
						      bool enabled, vg_error *err);

/* ---- signals ----------------------------------------------------------------------------- */
typedef enum {
	VG_STORE_ADDED,     /* a new signal */
	VG_STORE_DUPLICATE, /* already live; left as it was */
	VG_STORE_REVIVED,   /* was removed; live again, with the new metadata when given */
} vg_store_add_result;

/* Adds (bank_id, type, value) with metadata (a JSON object's text, or NULL). The caller
 * has validated and normalised type and value. Errors: VG_EINVAL (an unknown type or
 * bank, or a value over VG_STORE_VALUE_MAX), VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_store_signal_add(vg_store *s, int64_t bank_id, const char *type,
						const char *value, const char *metadata,
						int64_t *ret_id, vg_store_add_result *ret_result,
						vg_error *err);

/* Soft-removes the live signals of bank_id holding value as type (any type when type is
 * NULL); *ret_removed says how many (0 when none was live, which is not an error). */
VG_EXPORT VG_MUST_CHECK int vg_store_signal_remove(vg_store *s, int64_t bank_id,
						   const char *type, const char *value,
						   size_t *ret_removed, vg_error *err);

typedef struct vg_store_signal {
	int64_t id;
	int64_t bank_id;
	char bank[VG_STORE_NAME_MAX + 1];
	char type[VG_STORE_TYPE_MAX + 1];
	char *value;    /* see the function that filled it for who owns these two */
	char *metadata; /* JSON object text, or NULL */
	vg_usec added_at;
	vg_usec removed_at; /* 0 while live */
} vg_store_signal;

/* One signal by id, removed or not, with owned strings (free with
 * vg_store_signal_done). Errors: VG_ENOENT, VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_store_signal_get(vg_store *s, int64_t id, vg_store_signal *ret,
						vg_error *err);
VG_EXPORT void vg_store_signal_done(vg_store_signal *sig);

/* Called once per signal; the strings are borrowed until it returns. A nonzero return
 * stops the walk and becomes vg_store_signal_each()'s return. */
typedef int vg_store_signal_fn(const vg_store_signal *sig, void *ctx);

typedef struct vg_store_filter {
	const int64_t *bank_ids; /* these banks (whatever their enabled flag) ... */
	size_t n_bank_ids;       /* ... or, when 0, every enabled bank */
	const char *const *types; /* only these types ... */
	size_t n_types;           /* ... or, when 0, every type */
	bool include_removed;
	int64_t after_id; /* only ids above this (a page's cursor; 0: from the first) */
} vg_store_filter;

/* Walks the signals the filter selects in id order. */
VG_EXPORT VG_MUST_CHECK int vg_store_signal_each(vg_store *s, const vg_store_filter *filter,
						 vg_store_signal_fn *fn, void *ctx, vg_error *err);

/* =========================================================================================
 * The scanning service (`vigil serve`): tokens, the audit chain, bank actions, scans,
 * blocks, cases and the outbox (migration 0002).
 *
 * Every write below works alone (its own transaction, durable when it returns 0) and
 * inside vg_store_begin/commit (then it commits with the rest; a failed write inside a
 * caller's transaction leaves nothing of itself behind, and the caller decides whether
 * to roll back). vg_store_begin takes the write lock at once, so a read-then-write
 * sequence inside a transaction (the audit chain, the one-open-case rule) cannot race a
 * writer on another connection, thread or process. Use one vg_store per thread.
 *
 * These writes do not move the watermark (it tracks banks and signals only), except
 * vg_store_bank_update, which changes a bank.
 *
 * Lists and walks take (after_id, limit): rows with id > after_id in id order, at most
 * limit of them (0: no limit), for keyset paging.
 * ======================================================================================= */

#define VG_STORE_ROLE_MAX 16      /* bytes in a role name */
#define VG_STORE_ACTOR_MAX 128    /* bytes in an actor ("cli", "token:NAME", ...) */
#define VG_STORE_WORD_MAX 64      /* bytes in an action, object type, decision, kind... */
#define VG_STORE_TEXT_MAX 4096    /* bytes in a note or a block's reason */
#define VG_STORE_JSON_MAX 1048576 /* bytes in any JSON text (detail, matches, payload) */
#define VG_STORE_ERROR_MAX 1024   /* an outbox error longer than this is cut, not refused */

/* ---- tokens: only the SHA-256 hex of the secret is stored ---------------------------- */
typedef struct vg_store_token {
	int64_t id;
	char name[VG_STORE_NAME_MAX + 1];
	char role[VG_STORE_ROLE_MAX + 1]; /* admin, analyst, scanner, intake, ingest */
	char hash[65];                    /* lower-case hex SHA-256 of the secret */
	vg_usec created_at, revoked_at;   /* revoked_at 0 while live */
} vg_store_token;

/* A live token named name with role, identified by hash_hex (64 lower-case hex digits).
 * Errors: VG_EEXIST (a live token has this name, or any token this hash), VG_EINVAL (name
 * not 1 to 64 bytes, an unknown role, a hash that is not 64 lower-case hex digits). */
VG_EXPORT VG_MUST_CHECK int vg_store_token_create(vg_store *s, const char *name,
						  const char *role, const char *hash_hex,
						  int64_t *ret_id, vg_error *err);
/* The live token with this hash. Errors: VG_ENOENT (none, or revoked). */
VG_EXPORT VG_MUST_CHECK int vg_store_token_by_hash(vg_store *s, const char *hash_hex,
						   vg_store_token *ret, vg_error *err);
/* Every token, live and revoked, by name (then id), into a new array (free() it). */
VG_EXPORT VG_MUST_CHECK int vg_store_token_list(vg_store *s, vg_store_token **ret,
						size_t *ret_n, vg_error *err);
/* Errors: VG_ENOENT when no live token has this name. */
VG_EXPORT VG_MUST_CHECK int vg_store_token_revoke(vg_store *s, const char *name,
						  vg_error *err);
/* How many live tokens have role (NULL: any role). */
VG_EXPORT VG_MUST_CHECK int vg_store_token_count_live(vg_store *s, const char *role,
						      size_t *ret, vg_error *err);

/* ---- audit: append-only, hash-chained -------------------------------------------------
 * hash = SHA-256 hex of prev_hash "\n" id "\n" at "\n" actor "\n" action "\n" object_type
 * "\n" object_id "\n" detail (id and at in decimal); the first entry's prev_hash is 64
 * '0's. An append reads the last hash and inserts under the write lock, so two writers
 * can never fork the chain. */
typedef struct vg_store_audit {
	int64_t id;
	vg_usec at;
	char *actor, *action, *object_type, *object_id, *detail; /* owned by the list */
	char prev_hash[65], hash[65];
} vg_store_audit;

/* actor and action: 1 to VG_STORE_ACTOR_MAX / VG_STORE_WORD_MAX bytes; object_type
 * (at most VG_STORE_WORD_MAX) and object_id (at most VG_STORE_VALUE_MAX) may be NULL for
 * ""; detail_json is a JSON object's text (the caller builds it; only its outer braces
 * are checked) or NULL for "{}". ret_id may be NULL. Errors: VG_EINVAL, VG_ETOOBIG. */
VG_EXPORT VG_MUST_CHECK int vg_store_audit_append(vg_store *s, const char *actor,
						  const char *action, const char *object_type,
						  const char *object_id, const char *detail_json,
						  int64_t *ret_id, vg_error *err);
/* Entries with id > after_id in id order, at most limit (0: all), into a new array
 * (free with vg_store_audit_list_free). */
VG_EXPORT VG_MUST_CHECK int vg_store_audit_list(vg_store *s, int64_t after_id, size_t limit,
						vg_store_audit **ret, size_t *ret_n,
						vg_error *err);
VG_EXPORT void vg_store_audit_list_free(vg_store_audit *a, size_t n);
/* Recomputes an entry's hash from its fields and prev_hash (64 hex digits and a NUL). */
VG_EXPORT void vg_store_audit_hash(const vg_store_audit *a, char out[65]);
/* Walks the whole chain in one snapshot: every hash recomputed, every prev_hash equal to
 * the previous entry's hash (the first: 64 '0's), ids increasing, and the last entry the
 * one the store recorded as last (so a cut tail shows). Returns 0 and the count, or
 * VG_ECORRUPT with *ret_bad_id the first entry that fails (for a cut tail: the recorded
 * last id) and err saying what; other errors as usual. Cost: one pass over the log. */
VG_EXPORT VG_MUST_CHECK int vg_store_audit_verify(vg_store *s, size_t *ret_count,
						  int64_t *ret_bad_id, vg_error *err);

/* ---- bank actions ---------------------------------------------------------------------- */
/* NULL fields are left as they are; "" clears webhook_url / webhook_secret. actions is a
 * JSON array's text (only its outer brackets are checked). Moves the watermark.
 * Errors: VG_ENOENT, VG_EINVAL, VG_ETOOBIG. */
typedef struct vg_store_bank_patch {
	const char *description, *actions, *webhook_url, *webhook_secret;
	const bool *enabled;
} vg_store_bank_patch;

VG_EXPORT VG_MUST_CHECK int vg_store_bank_update(vg_store *s, const char *name,
						 const vg_store_bank_patch *patch,
						 vg_error *err);

/* ---- scans: one record per scan, never the image -------------------------------------- */
typedef struct vg_store_scan {
	int64_t id;  /* ignored by vg_store_scan_record */
	vg_usec at;  /* 0: now */
	const char *actor;
	const char *url;              /* canonical, or NULL */
	const char *pdq, *md5, *sha256; /* hex, or NULL when not computed */
	int quality;                  /* PDQ quality 0..100 */
	const char *verdict;          /* "block" | "allow" */
	const char *matches;          /* JSON array text; NULL: "[]" */
} vg_store_scan;

/* Errors: VG_EINVAL (no actor, a bad verdict or quality, a hash over 64 bytes),
 * VG_ETOOBIG. */
VG_EXPORT VG_MUST_CHECK int vg_store_scan_record(vg_store *s, const vg_store_scan *scan,
						 int64_t *ret_id, vg_error *err);
/* Sets a recorded scan's verdict ("block" | "allow"): a scan is recorded before its
 * actions (they name it), which decide the verdict, so the caller sets it last, in the
 * same transaction. Errors: VG_ENOENT (no such scan), VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_store_scan_set_verdict(vg_store *s, int64_t id,
						      const char *verdict, vg_error *err);

/* ---- blocks: at most one active block per URL ------------------------------------------ */
typedef struct vg_store_block {
	int64_t id;
	char *url, *reason;
	int64_t bank_id, case_id; /* 0: none */
	vg_usec created_at, lifted_at; /* lifted_at 0 while active */
	char *created_by, *lifted_by;  /* lifted_by NULL while active */
} vg_store_block;

/* Frees the strings vg_store_block_get filled; NULL is fine. */
VG_EXPORT void vg_store_block_done(vg_store_block *b);
/* Blocks url (1 to VG_STORE_URL_MAX bytes) for reason (NULL: ""). When url has an
 * active block already, returns its id with *ret_created false and changes nothing.
 * bank_id and case_id 0 mean none. Errors: VG_EINVAL (empty url or actor, an unknown
 * bank or case). */
VG_EXPORT VG_MUST_CHECK int vg_store_block_add(vg_store *s, const char *url, const char *reason,
					       int64_t bank_id, int64_t case_id,
					       const char *actor, int64_t *ret_id,
					       bool *ret_created, vg_error *err);
/* Any block, active or lifted, with owned strings. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_block_get(vg_store *s, int64_t id, vg_store_block *ret,
					       vg_error *err);
/* Errors: VG_ENOENT when id is not an active block. */
VG_EXPORT VG_MUST_CHECK int vg_store_block_lift(vg_store *s, int64_t id, const char *actor,
						vg_error *err);
/* Lifts every active block of case_id; the ids lifted into a new array (free(); NULL
 * when none, which is not an error). */
VG_EXPORT VG_MUST_CHECK int vg_store_block_lift_by_case(vg_store *s, int64_t case_id,
							const char *actor, int64_t **ret_ids,
							size_t *ret_n, vg_error *err);
/* A source with nothing to review (a bank whose actions lack open_case, a rule verdict)
 * relies on active block id, which it found in place: when a case owns the block, the
 * block passes to that source (its case_id cleared, bank_id and reason replaced), so
 * dismissing or rejecting that case no longer lifts it; only a person lifting the block
 * does. *ret_from_case is the case that owned it, 0 when none did (then nothing
 * changes). bank_id 0 means none; reason NULL keeps the old one. Errors: VG_ENOENT when
 * id is not an active block. */
VG_EXPORT VG_MUST_CHECK int vg_store_block_claim(vg_store *s, int64_t id, int64_t bank_id,
						 const char *reason, int64_t *ret_from_case,
						 vg_error *err);
/* A block passed from a case to another that relies on it. */
typedef struct vg_store_block_handover {
	int64_t block_id, to_case_id;
} vg_store_block_handover;
/* Before case_id's blocks are lifted (a rejected report case, a dismissed scan case): each
 * active block it owns that another case relies on (a report case not rejected that decided
 * block_url or joined the block at intake, or an undismissed scan case of a bank whose actions hold block_url, on the same URL)
 * passes to that case, a report case first, then the lowest id, with that case's reason;
 * the lift then leaves it. The blocks handed over into a new array (free(); NULL when
 * none). Call in the transaction that lifts. */
VG_EXPORT VG_MUST_CHECK int vg_store_block_hand_over(vg_store *s, int64_t case_id,
						     vg_store_block_handover **ret,
						     size_t *ret_n, vg_error *err);
/* Appends an event (action, with an optional note) to a case's history, in its own
 * transaction or the caller's: what the store should know of a case beyond its
 * decisions, such as report intake joining a block another case placed
 * ("block_joined"), which vg_store_block_hand_over then counts as reliance. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_note(vg_store *s, int64_t case_id, const char *actor,
					       const char *action, const char *note,
					       vg_error *err);
/* Strings borrowed until it returns; a nonzero return stops the walk and is returned. */
typedef int vg_store_block_fn(const vg_store_block *b, void *ctx);
VG_EXPORT VG_MUST_CHECK int vg_store_block_each(vg_store *s, bool active_only, int64_t after_id,
						size_t limit, vg_store_block_fn *fn, void *ctx,
						vg_error *err);
/* Blocks lifted at or after since (lifted_at >= since), oldest lift first, as
 * vg_store_block_each walks: how a server follows lifts made by other processes without
 * reading every active block again. lifted_at is the lifting process's clock. Cost: a
 * pass over the blocks table inside SQLite (no index on lifted_at), nothing per active
 * block outside it. */
VG_EXPORT VG_MUST_CHECK int vg_store_block_lifted_since(vg_store *s, vg_usec since,
							vg_store_block_fn *fn, void *ctx,
							vg_error *err);
/* A number that changes whenever a block is added or lifted, by any process: how a
 * server notices blocks placed by `vigil report ingest-mail` or another server. */
VG_EXPORT VG_MUST_CHECK int vg_store_block_watermark(vg_store *s, int64_t *ret, vg_error *err);

/* ---- cases: one open case per (url, bank) ---------------------------------------------- */
typedef struct vg_store_case {
	int64_t id;
	char *url;       /* "" when the match had no URL */
	int64_t bank_id; /* 0 once the bank is deleted */
	char bank[VG_STORE_NAME_MAX + 1]; /* the bank's name when the case opened */
	char status[16];                  /* "open" | "closed" */
	char *decision, *note;            /* NULL until decided (note: NULL when none given) */
	vg_usec created_at, updated_at, closed_at; /* closed_at 0 while open */
	/* The report lifecycle (migration 0004; see the reports section). */
	char kind[8];       /* "scan" | "report" */
	char stage[12];     /* new, triaged, actioned, rejected, closed */
	char category[16];  /* a report category; "" for scan cases */
	char priority[8];   /* low, normal, high */
	char *assignee;     /* NULL when unassigned */
	vg_usec first_action_at; /* 0 until actioned */
} vg_store_case;

VG_EXPORT void vg_store_case_done(vg_store_case *c);
/* Attaches the match (scan_id; 0: none) to the open case of (url, bank_id), or opens one;
 * records "match_attached" or "opened" in its history either way. A NULL or empty url has
 * nothing to group by and always opens a new case. Errors: VG_EINVAL (an unknown bank or
 * scan, no actor). */
VG_EXPORT VG_MUST_CHECK int vg_store_case_open_or_attach(vg_store *s, const char *url,
							 int64_t bank_id, int64_t scan_id,
							 const char *actor, int64_t *ret_case_id,
							 bool *ret_created, vg_error *err);
/* Owned strings. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_get(vg_store *s, int64_t id, vg_store_case *ret,
					      vg_error *err);
/* status: "open", "closed" or NULL for both. Free with vg_store_case_list_free. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_list(vg_store *s, const char *status, int64_t after_id,
					       size_t limit, vg_store_case **ret, size_t *ret_n,
					       vg_error *err);
VG_EXPORT void vg_store_case_list_free(vg_store_case *c, size_t n);
/* Closes an open case with decision (1 to VG_STORE_WORD_MAX bytes) and note (NULL or at
 * most VG_STORE_TEXT_MAX) and records "decided" (with the note) in its history.
 * Errors: VG_ENOENT, VG_EEXIST (already closed), VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_decide(vg_store *s, int64_t id, const char *decision,
						 const char *note, const char *actor,
						 vg_error *err);
typedef struct vg_store_case_event {
	vg_usec at;
	const char *actor, *action, *note; /* note NULL when none */
	int64_t scan_id;                   /* 0: none */
} vg_store_case_event;
/* The case's events in order; borrowed strings; a nonzero return from fn stops the walk
 * and is returned. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_history(vg_store *s, int64_t id,
						  int (*fn)(const vg_store_case_event *e,
							    void *ctx),
						  void *ctx, vg_error *err);
/* The scans attached to the case, each once, in the order they were attached. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_scans(vg_store *s, int64_t id,
						int (*fn)(const vg_store_scan *scan,
							  int64_t scan_id, void *ctx),
						void *ctx, vg_error *err);

/* ---- outbox: durable actions ------------------------------------------------------------
 * Enqueue in the same transaction as what caused the action; a worker delivers what is
 * due after the commit. pending -> (retry) pending -> done | dead; done and dead are final. */
typedef struct vg_store_outbox {
	int64_t id;
	char kind[24]; /* "webhook", "authority_report" */
	char *target, *payload, *secret, *last_error; /* secret, last_error: NULL when none */
	char idempotency_key[65];
	char state[12]; /* "pending" | "done" | "dead" */
	int attempts;
	vg_usec next_at, created_at, updated_at;
	vg_usec claimed_until; /* a worker holds it until then (vg_store_outbox_claim); 0: none */
} vg_store_outbox;

/* kind (1 to 23 bytes of a-z 0-9 _), target (non-empty), payload (at most
 * VG_STORE_JSON_MAX), secret (NULL for none) and idempotency_key (1 to 64 bytes, unique).
 * Enqueueing a key that is queued already changes nothing and returns that row's id: an
 * action caused twice is delivered once. Errors: VG_EINVAL, VG_ETOOBIG. */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_enqueue(vg_store *s, const char *kind,
						    const char *target, const char *payload,
						    const char *secret,
						    const char *idempotency_key, vg_usec next_at,
						    int64_t *ret_id, vg_error *err);
#define VG_STORE_OUTBOX_KINDS_MAX 8 /* kinds one due query may name */

/* Pending rows of one of kinds (n_kinds distinct kinds, at most VG_STORE_OUTBOX_KINDS_MAX;
 * n_kinds 0: every kind) with next_at <= now, oldest next_at first (then id), at most
 * limit (0: all). Free with vg_store_outbox_list_free. Each kind is read as its own index
 * range, so pending rows of other kinds, however many and however old, neither hide
 * these nor cost the query anything: a worker names the kinds it delivers. Errors:
 * VG_EINVAL (a bad or repeated kind, too many). */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_due(vg_store *s, vg_usec now,
						const char *const *kinds, size_t n_kinds,
						size_t limit, vg_store_outbox **ret,
						size_t *ret_n, vg_error *err);
/* What a worker takes to deliver, so that no two workers (threads, processes, servers on
 * one database) ever send one item at the same time: under the write lock, at most limit
 * (>= 1) pending rows of kinds (as vg_store_outbox_due) with next_at <= now that nobody
 * holds (claimed_until unset or <= now), oldest next_at first, each then held until
 * lease_until (> now). A transition out of pending (below) or vg_store_outbox_release
 * ends the hold; a worker that dies holding a row loses it at lease_until, and the row
 * is claimed (and sent, with its Idempotency-Key) again. So lease_until must lie past the
 * longest attempt. Nothing claimable: no write at all. Errors: VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_claim(vg_store *s, vg_usec now, vg_usec lease_until,
						  const char *const *kinds, size_t n_kinds,
						  size_t limit, vg_store_outbox **ret,
						  size_t *ret_n, vg_error *err);
/* Gives a claimed row back without an attempt (one cut short, one that could not start):
 * claimable again at once. A row not pending is left alone (not an error). */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_release(vg_store *s, int64_t id, vg_error *err);
/* The earliest next_at later than after among pending rows of kinds (as
 * vg_store_outbox_due), claimed or not, or 0 when there is none: when a worker should
 * look again. */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_next_due(vg_store *s, vg_usec after,
						     const char *const *kinds, size_t n_kinds,
						     vg_usec *ret, vg_error *err);
/* The transitions out of pending; each ends a claim. error (NULL: none) is kept in
 * last_error, cut to VG_STORE_ERROR_MAX bytes. Errors: VG_ENOENT (no such row),
 * VG_EEXIST (done or dead already). */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_done(vg_store *s, int64_t id, vg_error *err);
/* Stays pending until next_at; attempts + 1. */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_retry(vg_store *s, int64_t id, vg_usec next_at,
						  const char *error, vg_error *err);
/* Gives up; attempts + 1. */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_dead(vg_store *s, int64_t id, const char *error,
						 vg_error *err);
/* state: "pending", "done", "dead" or NULL for all. */
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_list(vg_store *s, const char *state,
						 int64_t after_id, size_t limit,
						 vg_store_outbox **ret, size_t *ret_n,
						 vg_error *err);
VG_EXPORT void vg_store_outbox_list_free(vg_store_outbox *o, size_t n);
VG_EXPORT VG_MUST_CHECK int vg_store_outbox_counts(vg_store *s, size_t *ret_pending,
						   size_t *ret_done, size_t *ret_dead,
						   vg_error *err);

/* ---- labels (migration 0003): what rules put on entities with label() ----------------------
 * One row per (kind, entity, name); setting it again moves its expiry. expires_at 0 means
 * never. These writes do not move the watermark. */
#define VG_STORE_LABEL_MAX 1024 /* bytes of kind, entity and name together */

typedef struct vg_store_label {
	const char *kind, *entity, *name; /* borrowed */
	vg_usec expires_at;               /* 0: never */
} vg_store_label;

/* Sets n labels in one transaction (or the caller's): all durable on 0, none on an
 * error. Errors: VG_EINVAL (an empty or over-long field), VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_store_label_set_many(vg_store *s, const vg_store_label *v,
						    size_t n, vg_error *err);
/* Walks the labels live at now (expires_at 0 or > now), in (kind, entity, name) order;
 * the strings are borrowed until fn returns; nonzero from fn stops the walk and is
 * returned. */
typedef int vg_store_label_fn(const vg_store_label *l, void *ctx);
VG_EXPORT VG_MUST_CHECK int vg_store_label_each(vg_store *s, vg_usec now, vg_store_label_fn *fn,
						void *ctx, vg_error *err);
/* The labels of one kind live at now, optionally of one entity and/or one name, in
 * (entity, name) order after (after_entity, after_name) when after_entity is set; at
 * most limit of them (1..1000). The strings are borrowed until fn returns. Errors:
 * VG_EINVAL (no kind, a bad limit), VG_EIO. */
typedef struct vg_store_label_query {
	const char *kind;
	const char *entity, *name;             /* NULL: any */
	const char *after_entity, *after_name; /* NULL: from the first */
	vg_usec now;
	size_t limit;
} vg_store_label_query;
VG_EXPORT VG_MUST_CHECK int vg_store_label_find(vg_store *s, const vg_store_label_query *q,
						vg_store_label_fn *fn, void *ctx, vg_error *err);
/* Removes a label; *ret_found says whether it was live (the caller's transaction, or its
 * own). Errors: VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_store_label_delete(vg_store *s, const char *kind,
						  const char *entity, const char *name,
						  bool *ret_found, vg_error *err);
/* Deletes the labels expired at now; *ret_n (may be NULL) says how many. */
VG_EXPORT VG_MUST_CHECK int vg_store_label_purge(vg_store *s, vg_usec now, size_t *ret_n,
						 vg_error *err);

/* =========================================================================================
 * Abuse reports (migration 0004): zones, reports with their URLs and evidence hashes, and
 * the report lifecycle of cases. Same rules as the service section above: each write
 * works alone or inside vg_store_begin/commit, lists take (after_id, limit).
 *
 * Case stages: new -> triaged (assigned or escalated) -> actioned (a block or a
 * notification was sent; still open, so more can follow) -> closed; or -> rejected. The
 * coarse status stays "open" for new, triaged and actioned and "closed" for rejected
 * and closed, so scan cases (confirm/dismiss: closed) and the one-open-case rule keep
 * working unchanged; a scan case is "new" while open.
 * ======================================================================================= */

/* ---- zones: whose site a URL is on ------------------------------------------------------ */
typedef struct vg_store_zone {
	int64_t id;
	char *name; /* lower-case hostname or registrable domain */
	/* The contacts; NULL when unset. */
	char *owner_email, *owner_webhook_url, *host_email, *host_webhook_url;
	/* The HMAC keys that sign each contact's webhook (migration 12); NULL when unset.
	 * Never shown back by the API. */
	char *owner_webhook_secret, *host_webhook_secret;
	vg_usec created_at, updated_at;
} vg_store_zone;

VG_EXPORT void vg_store_zone_done(vg_store_zone *z);
VG_EXPORT void vg_store_zone_list_free(vg_store_zone *z, size_t n);
/* Creates a zone from z's name and contacts (id and times ignored; NULL or "" contacts
 * unset). Errors: VG_EEXIST (the name is taken), VG_EINVAL (name not 1 to 253 bytes, a
 * contact over VG_STORE_VALUE_MAX). */
VG_EXPORT VG_MUST_CHECK int vg_store_zone_create(vg_store *s, const vg_store_zone *z,
						 int64_t *ret_id, vg_error *err);
/* Owned strings. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_zone_get(vg_store *s, int64_t id, vg_store_zone *ret,
					      vg_error *err);
/* The zone named exactly name. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_zone_find(vg_store *s, const char *name,
					       vg_store_zone *ret, vg_error *err);
VG_EXPORT VG_MUST_CHECK int vg_store_zone_list(vg_store *s, int64_t after_id, size_t limit,
					       vg_store_zone **ret, size_t *ret_n, vg_error *err);
/* Changes the contacts of z->id: a NULL field is left as it is, "" clears it (the name
 * is not changed). Errors: VG_ENOENT, VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_store_zone_update(vg_store *s, const vg_store_zone *z,
						 vg_error *err);
/* Reports keep the zone's name. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_zone_delete(vg_store *s, int64_t id, vg_error *err);

/* ---- reports ------------------------------------------------------------------------------ */
typedef struct vg_store_report {
	int64_t id;
	/* Words: category (vg_report_category_name), source ("rest" | "email"), kind ("api",
	 * "arf", "xarf", "mail"), share_owner / share_host ("full", "anonymous", "none"),
	 * status ("received" | "not_ours"). */
	char category[16], source[8], kind[8], share_owner[12], share_host[12], status[12];
	char jurisdiction[3];
	char source_ip[46];
	char status_token_hash[65]; /* lower-case hex SHA-256 of the status token */
	char *description;          /* NULL when none */
	char *reporter_name, *reporter_email, *client_addr; /* personal data; NULL when
							     * absent or erased */
	char *message_id; /* mail intake; NULL otherwise */
	vg_usec created_at, first_action_at, closed_at, erased_at; /* 0: not yet */
	vg_usec incident_at; /* when the reporter says it happened (ARF Arrival-Date, X-ARF
			      * Date); 0: not given */
} vg_store_report;

VG_EXPORT void vg_store_report_done(vg_store_report *r);
/* Records a report (id and times except created_at ignored; created_at 0: now).
 * Errors: VG_EINVAL (an unknown word, a bad hash, a field over its bound). */
VG_EXPORT VG_MUST_CHECK int vg_store_report_create(vg_store *s, const vg_store_report *r,
						   int64_t *ret_id, vg_error *err);
/* Owned strings. Errors: VG_ENOENT. */
VG_EXPORT VG_MUST_CHECK int vg_store_report_get(vg_store *s, int64_t id, vg_store_report *ret,
						vg_error *err);
/* The earliest report with this Message-ID created at or after since. Errors: VG_ENOENT
 * (none). Cost: one index lookup (migration 0010). */
VG_EXPORT VG_MUST_CHECK int vg_store_report_find_message_id(vg_store *s, const char *message_id,
							    vg_usec since, int64_t *ret_id,
							    vg_error *err);
/* One canonical URL of a report: the zone it is on (0 and "" when none) and its case
 * (0: none). Errors: VG_EINVAL (an unknown report, zone or case; a URL twice). */
VG_EXPORT VG_MUST_CHECK int vg_store_report_add_url(vg_store *s, int64_t report_id,
						    const char *url, int64_t zone_id,
						    const char *zone, int64_t case_id,
						    vg_error *err);
/* type "pdq" | "md5" | "sha256", hex lower-case; a repeat is ignored. */
VG_EXPORT VG_MUST_CHECK int vg_store_report_add_evidence(vg_store *s, int64_t report_id,
							 const char *type, const char *hex,
							 vg_error *err);
typedef struct vg_store_report_url {
	const char *url, *zone; /* borrowed until fn returns */
	int64_t zone_id, case_id;
	const char *case_stage; /* NULL when no case */
} vg_store_report_url;
/* The report's URLs in order; nonzero from fn stops the walk and is returned. */
VG_EXPORT VG_MUST_CHECK int vg_store_report_urls(vg_store *s, int64_t report_id,
						 int (*fn)(const vg_store_report_url *u, void *ctx),
						 void *ctx, vg_error *err);
/* The report's evidence hashes, by type then hex; type and hex borrowed until fn returns,
 * whose nonzero return stops the walk and is returned. An unknown report has none. */
VG_EXPORT VG_MUST_CHECK int vg_store_report_evidence(vg_store *s, int64_t report_id,
						     int (*fn)(const char *type, const char *hex,
							       void *ctx),
						     void *ctx, vg_error *err);
/* The distinct evidence hashes of the reports attached to case_id before its last
 * block_url or notify decision, the ones a reviewer saw (none if nobody acted); type and
 * hex borrowed until fn returns. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_evidence(vg_store *s, int64_t case_id,
						   int (*fn)(const char *type, const char *hex,
							     void *ctx),
						   void *ctx, vg_error *err);
/* Erases the reporter personal data (name, email, client address) of every report
 * created before `before` and not erased yet, setting erased_at to now, and the
 * "reporter" member of the outbox payloads (pending, done or dead) of every erased
 * report; the ids erased into a new array (free(); NULL when none). */
VG_EXPORT VG_MUST_CHECK int vg_store_report_erase(vg_store *s, vg_usec before, vg_usec now,
						  int64_t **ret_ids, size_t *ret_n,
						  vg_error *err);

/* ---- the report lifecycle of cases -------------------------------------------------------- */
/* The open report case (new, triaged or actioned) for dedup_key ("<category> <canonical
 * url>") created at or after since, with "report_attached" (note "report N") in its
 * history; or, when there is none (a rejected or closed one is never joined), a new one
 * (kind report, stage new, status open, bank "") with "opened". Errors: VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_store_report_case_open_or_attach(
	vg_store *s, const char *dedup_key, const char *url, const char *category,
	const char *priority, vg_usec since, int64_t report_id, const char *actor,
	int64_t *ret_case_id, bool *ret_created, vg_error *err);

typedef struct vg_store_case_filter {
	const char *status;   /* "open", "closed" (coarse), or a stage; NULL: any */
	const char *category; /* NULL: any */
	const char *assignee; /* NULL: any */
} vg_store_case_filter;
/* Like vg_store_case_list, with the filter. Errors: VG_EINVAL (an unknown status). */
VG_EXPORT VG_MUST_CHECK int vg_store_case_query(vg_store *s, const vg_store_case_filter *f,
						int64_t after_id, size_t limit,
						vg_store_case **ret, size_t *ret_n, vg_error *err);
/* Assigns an open case (1 to VG_STORE_NAME_MAX bytes; a new case becomes triaged) and
 * records "assigned" with the assignee as note. Errors: VG_ENOENT, VG_EEXIST (closed). */
VG_EXPORT VG_MUST_CHECK int vg_store_case_assign(vg_store *s, int64_t id, const char *assignee,
						 const char *actor, vg_error *err);
/* Moves an open case to stage (triaged, actioned, rejected, closed) with decision (kept
 * as the case's decision and the history event's action) and note; priority (NULL:
 * unchanged) raises or lowers it. actioned sets first_action_at once; rejected and
 * closed close the case (status closed, closed_at). Reports attached to the case get
 * first_action_at and closed_at the same way. The lifecycle is checked in the same
 * statement as the update, so two concurrent decisions cannot both pass it: only a case
 * not actioned can be rejected, only an actioned one closed. Errors: VG_ENOENT,
 * VG_EEXIST (closed, or the lifecycle refuses the move), VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_transition(vg_store *s, int64_t id, const char *stage,
						     const char *decision, const char *priority,
						     const char *note, const char *actor,
						     vg_error *err);

/* ---- reports of a case, and the transparency figures -------------------------------------- */
/* The reports attached to case_id (by any of their URLs), each once, in id order, with
 * their strings borrowed until fn returns; nonzero from fn stops the walk and is
 * returned. Unknown cases have none. */
VG_EXPORT VG_MUST_CHECK int vg_store_case_reports(vg_store *s, int64_t case_id,
						  int (*fn)(const vg_store_report *r, void *ctx),
						  void *ctx, vg_error *err);

typedef struct vg_store_count {
	char a[VG_STORE_WORD_MAX + 1], b[VG_STORE_WORD_MAX + 1]; /* the group's words */
	int64_t n;
} vg_store_count;

/* What a transparency report counts over [from, to). Owned arrays; free with
 * vg_store_figures_done. */
typedef struct vg_store_figures {
	vg_store_count *reports; /* a: category, b: source ("rest" | "email"), by created_at */
	size_t n_reports;
	vg_store_count *actions; /* a: a report case's decision (block_url, notify, ...) or
				  * "assigned", b: "", by the time it was taken */
	size_t n_actions;
	int64_t blocks_placed, blocks_lifted; /* by created_at, by lifted_at */
	vg_usec *first_action_delays; /* of reports received in the range that were acted on:
				       * first_action_at - created_at, ascending */
	size_t n_delays;
} vg_store_figures;

VG_EXPORT void vg_store_figures_done(vg_store_figures *f);
/* Errors: VG_EINVAL (from > to), VG_EIO. Cost: a scan of the range's reports, case events
 * and blocks. */
VG_EXPORT VG_MUST_CHECK int vg_store_figures_get(vg_store *s, vg_usec from, vg_usec to,
						 vg_store_figures *ret, vg_error *err);

#endif
