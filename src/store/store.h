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
#define VG_STORE_VALUE_MAX 2048 /* bytes in a signal value (URLs later) */

/* The database to use: flag when not NULL, else $VIGIL_DB when set and not empty, else
 * VG_STORE_DEFAULT_PATH. Returns a borrowed string. */
VG_EXPORT const char *vg_store_resolve_path(const char *flag);

/* Opens (creating when missing) the database at path and applies pending migrations.
 * Errors: VG_EIO (cannot open or write; the reason in err), VG_ECORRUPT (not a
 * database, or a schema newer than this build knows). */
VG_EXPORT VG_MUST_CHECK int vg_store_open(const char *path, vg_store **ret, vg_error *err);
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
 * forward on every committed change to banks or signals. Two equal watermarks of the
 * same path mean the same content, which is how derived files (index snapshots) know
 * whether they are stale. */
typedef struct vg_store_watermark {
	int64_t birth;
	int64_t seq;
} vg_store_watermark;

VG_EXPORT VG_MUST_CHECK int vg_store_watermark_get(vg_store *s, vg_store_watermark *ret,
						   vg_error *err);

/* ---- banks ----------------------------------------------------------------------------- */
typedef struct vg_store_bank {
	int64_t id;
	char name[VG_STORE_NAME_MAX + 1];
	char *description; /* owned; vg_store_bank_done() frees */
	bool enabled;
	vg_usec created_at, updated_at;
	uint64_t live_signals;    /* not removed */
	uint64_t removed_signals; /* soft-removed */
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

/* Soft-removes the live signals of bank_id holding value (of any type); *ret_removed
 * says how many (0 when none was live, which is not an error). */
VG_EXPORT VG_MUST_CHECK int vg_store_signal_remove(vg_store *s, int64_t bank_id,
						   const char *value, size_t *ret_removed,
						   vg_error *err);

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
} vg_store_filter;

/* Walks the signals the filter selects in id order. */
VG_EXPORT VG_MUST_CHECK int vg_store_signal_each(vg_store *s, const vg_store_filter *filter,
						 vg_store_signal_fn *fn, void *ctx, vg_error *err);

#endif
