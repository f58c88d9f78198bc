/* SPDX-License-Identifier: Apache-2.0
 *
 * Small pieces every resource uses: pagination, integer path parameters, and audit
 * entries written in their own transaction.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000

static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

bool vg__api_page(vg_http_req *req, vg__page *ret)
{
	const char *after = vg_http_query(req, "after"), *limit = vg_http_query(req, "limit");
	int64_t a = 0, l = PAGE_DEFAULT;
	if (after && !parse_i64(after, 0, INT64_MAX, &a)) {
		vg_http_respond_error(req, VG_EINVAL, "after must be a non-negative integer");
		return false;
	}
	if (limit && !parse_i64(limit, 1, PAGE_MAX, &l)) {
		vg_http_respond_error(req, VG_EINVAL, "limit must be an integer from 1 to %d", PAGE_MAX);
		return false;
	}
	ret->after = a;
	ret->limit = (size_t)l;
	return true;
}

void vg__api_page_respond(vg_http_req *req, json_t *items, size_t limit)
{
	size_t n = json_array_size(items);
	json_t *last = n ? json_object_get(json_array_get(items, n - 1), "id") : NULL;
	json_t *next = n == limit && last ? json_copy(last) : json_null();
	vg__json_respond(req, 200, json_pack("{s:o,s:o}", "items", items, "next_after", next));
}

bool vg__api_id_param(vg_http_req *req, const char *name, int64_t *ret)
{
	const char *v = vg_http_param(req, name);
	if (!v || !parse_i64(v, 1, INT64_MAX, ret)) {
		vg_http_respond_error(req, VG_ENOENT, "no such %s", name);
		return false;
	}
	return true;
}

int vg__api_audit(vg_api *api, vg_store *s, const char *actor, const char *action,
		  const char *object_type, const char *object_id, json_t *detail, vg_error *err)
{
	char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int rc = vg_store_audit_append(s, actor, action, object_type, object_id, text, NULL, err);
	free(text);
	return rc;
}

int vg__api_finish(vg_store *s, int rc, vg_error *err)
{
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s, err);
}
