/* SPDX-License-Identifier: Apache-2.0
 *
 * GET /healthz (the process answers), GET /readyz (the store answers and the indexes are
 * loaded) and GET /metrics (Prometheus text: HTTP counters and latencies from http/,
 * index sizes, outbox depth by state). /healthz and /readyz need no token; /metrics is
 * for admins, since its labels name banks.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void healthz(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg__json_respond(req, 200, json_pack("{s:s}", "status", "ok"));
}

static void readyz(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	int version = 0;
	vg_error err;
	if (vg_store_schema_version(s, &version, &err) != 0 || !api->ready) {
		vg__json_respond(req, 503, json_pack("{s:s,s:s}", "status", "unavailable", "reason",
						      api->ready ? err.msg : "indexes loading"));
		return;
	}
	pthread_rwlock_rdlock(&api->index_lock);
	json_t *idx = json_pack("{s:I,s:I,s:I}", "pdq",
				(json_int_t)vg_bank_index_count(api->index, "pdq"), "md5",
				(json_int_t)vg_bank_index_count(api->index, "md5"), "sha256",
				(json_int_t)vg_bank_index_count(api->index, "sha256"));
	pthread_rwlock_unlock(&api->index_lock);
	vg__json_respond(req, 200, json_pack("{s:s,s:i,s:o}", "status", "ready", "schema_version",
					      version, "index", idx));
}

static void metrics(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	/* The HTTP counters first (sized by asking), then room for the rest: banks, rules
	 * and outbox add at most a few hundred kilobytes, and EMIT drops what would not fit
	 * rather than overflow, so the room must be generous. */
	size_t n = api->srv ? vg_http_metrics(api->srv, NULL, 0) : 0;
	size_t cap = n + (4u << 20);
	char *out = vg_arena_alloc(vg_http_arena(req), cap);
	if (!out) {
		vg_http_respond_error(req, VG_ENOMEM, "metrics too large");
		return;
	}
	n = api->srv ? vg_http_metrics(api->srv, out, cap) : 0;
	size_t m = n;
#define EMIT(...)                                                                      \
	do {                                                                           \
		int k_ = snprintf(out + m, m < cap ? cap - m : 0, __VA_ARGS__);        \
		if (k_ > 0 && m + (size_t)k_ < cap)                                    \
			m += (size_t)k_;                                               \
	} while (0)
	pthread_rwlock_rdlock(&api->index_lock);
	size_t pdq = vg_bank_index_count(api->index, "pdq"), md5 = vg_bank_index_count(api->index, "md5"),
	       sha = vg_bank_index_count(api->index, "sha256");
	pthread_rwlock_unlock(&api->index_lock);
	EMIT("# HELP vigil_index_signals Live signals in the match indexes, by type.\n"
	     "# TYPE vigil_index_signals gauge\n"
	     "vigil_index_signals{type=\"pdq\"} %zu\nvigil_index_signals{type=\"md5\"} %zu\n"
	     "vigil_index_signals{type=\"sha256\"} %zu\n",
	     pdq, md5, sha);
	vg__api_metrics_extra(api, req, out, cap, &m);
#undef EMIT
	vg_http_respond(req, 200, "text/plain; version=0.0.4", out, m);
}

const vg__api_route vg__health_routes[] = {
	{"GET", "/healthz", VG__ROLE_PUBLIC, false, healthz},
	{"GET", "/readyz", VG__ROLE_PUBLIC, false, readyz},
	{"GET", "/metrics", VG__ROLE_ADMIN, false, metrics},
};
const size_t vg__health_route_count = VG_ARRAY_LEN(vg__health_routes);
