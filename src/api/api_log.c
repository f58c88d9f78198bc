/* SPDX-License-Identifier: Apache-2.0
 *
 * What vigil did, for people to read: GET /v1/outbox (actions waiting, done or given
 * up) and GET /v1/audit (the hash-chained log of every change). Outbox secrets are never
 * shown; payloads are. An audit entry carries what its hash covers exactly as stored
 * (at_usec, detail_text) beside the readable forms (at in milliseconds, detail as an
 * object), so a client can recompute the chain (store.h has the layout).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void outbox(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	vg__page page;
	if (!s || !vg__api_page(req, &page))
		return;
	const char *state = vg_http_query(req, "state");
	if (state && strcmp(state, "pending") && strcmp(state, "dead") && strcmp(state, "done")) {
		vg_http_respond_error(req, VG_EINVAL, "state must be pending, done or dead");
		return;
	}
	vg_store_outbox *items;
	size_t n;
	vg_error err;
	if (vg_store_outbox_list(s, state, page.after, page.limit, &items, &n, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		const vg_store_outbox *o = &items[i];
		json_t *payload = o->payload ? json_loads(o->payload, 0, NULL) : NULL;
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:s,s:o}", "id",
						     (json_int_t)o->id, "kind", o->kind, "state", o->state,
						     "target", o->target ? o->target : "", "attempts",
						     o->attempts, "next_at", vg__json_time(o->next_at),
						     "created_at", vg__json_time(o->created_at), "updated_at",
						     vg__json_time(o->updated_at), "last_error",
						     vg__json_str(o->last_error), "idempotency_key",
						     o->idempotency_key, "payload",
						     payload ? payload : json_null()));
	}
	vg_store_outbox_list_free(items, n);
	vg__api_page_respond(req, arr, page.limit);
}

static void audit(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	vg__page page;
	if (!s || !vg__api_page(req, &page))
		return;
	vg_store_audit *a;
	size_t n;
	vg_error err;
	if (vg_store_audit_list(s, page.after, page.limit, &a, &n, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *detail = a[i].detail ? json_loads(a[i].detail, 0, NULL) : NULL;
		json_array_append_new(arr, json_pack("{s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:s}",
						     "id", (json_int_t)a[i].id, "at",
						     vg__json_time(a[i].at), "at_usec",
						     (json_int_t)a[i].at, "actor",
						     vg__json_str(a[i].actor), "action",
						     vg__json_str(a[i].action), "object_type",
						     vg__json_str(a[i].object_type), "object_id",
						     vg__json_str(a[i].object_id), "detail",
						     detail ? detail : json_object(), "detail_text",
						     vg__json_str(a[i].detail ? a[i].detail : ""),
						     "prev_hash", a[i].prev_hash, "hash", a[i].hash));
	}
	vg_store_audit_list_free(a, n);
	vg__api_page_respond(req, arr, page.limit);
}

const vg__api_route vg__log_routes[] = {
	{"GET", "/v1/outbox", VG__ROLE_ANALYST, false, outbox},
	{"GET", "/v1/audit", VG__ROLE_ANALYST, false, audit},
};
const size_t vg__log_route_count = VG_ARRAY_LEN(vg__log_routes);
