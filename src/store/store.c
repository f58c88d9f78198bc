/* SPDX-License-Identifier: Apache-2.0
 *
 * The storage interface's front: picks the backend for a path and forwards each call to
 * it, so callers never know which database they talk to. The contracts are in store.h;
 * checks every backend would repeat (lengths, NULLs) are made once here.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *vg_store_resolve_path(const char *flag)
{
	if (flag && *flag)
		return flag;
	const char *env = getenv("VIGIL_DB");
	if (env && *env)
		return env;
	return VG_STORE_DEFAULT_PATH;
}

int vg_store_open(const char *path, vg_store **ret, vg_error *err)
{
	if (!path || !*path)
		return vg_error_set(err, VG_EINVAL, "empty database path");
	/* postgres:// URLs will pick the PostgreSQL backend here. */
	return vg__store_sqlite_open(path, ret, err);
}

void vg_store_close(vg_store *s)
{
	if (s)
		s->ops->close(s);
}

int vg_store_schema_version(vg_store *s, int *ret, vg_error *err)
{
	return s->ops->schema_version(s, ret, err);
}

int vg_store_begin(vg_store *s, vg_error *err)
{
	return s->ops->begin(s, err);
}

int vg_store_commit(vg_store *s, vg_error *err)
{
	return s->ops->commit(s, err);
}

void vg_store_rollback(vg_store *s)
{
	s->ops->rollback(s);
}

int vg_store_watermark_get(vg_store *s, vg_store_watermark *ret, vg_error *err)
{
	return s->ops->watermark_get(s, ret, err);
}

static int check_name(const char *name, vg_error *err)
{
	if (!name || !*name || strlen(name) > VG_STORE_NAME_MAX)
		return vg_error_set(err, VG_EINVAL, "bank name must be 1 to %d bytes",
				    VG_STORE_NAME_MAX);
	return 0;
}

void vg_store_bank_done(vg_store_bank *b)
{
	if (!b)
		return;
	free(b->description);
	b->description = NULL;
}

int vg_store_bank_create(vg_store *s, const char *name, const char *description, vg_error *err)
{
	int rc = check_name(name, err);
	if (rc)
		return rc;
	return s->ops->bank_create(s, name, description ? description : "", err);
}

int vg_store_bank_get(vg_store *s, const char *name, vg_store_bank *ret, vg_error *err)
{
	int rc = check_name(name, err);
	if (rc)
		return rc == VG_EINVAL ? vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name) : rc;
	return s->ops->bank_get(s, name, ret, err);
}

int vg_store_bank_list(vg_store *s, vg_store_bank **ret_banks, size_t *ret_n, vg_error *err)
{
	return s->ops->bank_list(s, ret_banks, ret_n, err);
}

void vg_store_bank_list_free(vg_store_bank *banks, size_t n)
{
	for (size_t i = 0; banks && i < n; i++)
		vg_store_bank_done(&banks[i]);
	free(banks);
}

int vg_store_bank_delete(vg_store *s, const char *name, vg_error *err)
{
	if (check_name(name, NULL))
		return vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name ? name : "");
	return s->ops->bank_delete(s, name, err);
}

int vg_store_bank_set_enabled(vg_store *s, const char *name, bool enabled, vg_error *err)
{
	if (check_name(name, NULL))
		return vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name ? name : "");
	return s->ops->bank_set_enabled(s, name, enabled, err);
}

int vg_store_signal_add(vg_store *s, int64_t bank_id, const char *type, const char *value,
			const char *metadata, int64_t *ret_id, vg_store_add_result *ret_result,
			vg_error *err)
{
	if (!type || strlen(type) > VG_STORE_TYPE_MAX || !value || !*value ||
	    strlen(value) > VG_STORE_VALUE_MAX)
		return vg_error_set(err, VG_EINVAL, "signal type or value out of bounds");
	return s->ops->signal_add(s, bank_id, type, value, metadata, ret_id, ret_result, err);
}

int vg_store_signal_remove(vg_store *s, int64_t bank_id, const char *value, size_t *ret_removed,
			   vg_error *err)
{
	if (!value || strlen(value) > VG_STORE_VALUE_MAX) {
		*ret_removed = 0;
		return 0;
	}
	return s->ops->signal_remove(s, bank_id, value, ret_removed, err);
}

int vg_store_signal_get(vg_store *s, int64_t id, vg_store_signal *ret, vg_error *err)
{
	return s->ops->signal_get(s, id, ret, err);
}

void vg_store_signal_done(vg_store_signal *sig)
{
	if (!sig)
		return;
	free(sig->value);
	free(sig->metadata);
	sig->value = sig->metadata = NULL;
}

int vg_store_signal_each(vg_store *s, const vg_store_filter *filter, vg_store_signal_fn *fn,
			 void *ctx, vg_error *err)
{
	static const vg_store_filter all_enabled = {0};
	return s->ops->signal_each(s, filter ? filter : &all_enabled, fn, ctx, err);
}
