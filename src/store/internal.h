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
	int (*bank_create)(vg_store *s, const char *name, const char *description,
			   vg_error *err);
	int (*bank_get)(vg_store *s, const char *name, vg_store_bank *ret, vg_error *err);
	int (*bank_list)(vg_store *s, vg_store_bank **ret_banks, size_t *ret_n, vg_error *err);
	int (*bank_delete)(vg_store *s, const char *name, vg_error *err);
	int (*bank_set_enabled)(vg_store *s, const char *name, bool enabled, vg_error *err);
	int (*signal_add)(vg_store *s, int64_t bank_id, const char *type, const char *value,
			  const char *metadata, int64_t *ret_id, vg_store_add_result *ret_result,
			  vg_error *err);
	int (*signal_remove)(vg_store *s, int64_t bank_id, const char *value,
			     size_t *ret_removed, vg_error *err);
	int (*signal_get)(vg_store *s, int64_t id, vg_store_signal *ret, vg_error *err);
	int (*signal_each)(vg_store *s, const vg_store_filter *filter, vg_store_signal_fn *fn,
			   void *ctx, vg_error *err);
} vg__store_ops;

struct vg_store {
	const vg__store_ops *ops;
};

int vg__store_sqlite_open(const char *path, vg_store **ret, vg_error *err);

#endif
