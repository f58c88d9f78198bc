/* SPDX-License-Identifier: Apache-2.0
 *
 * api: vigil's REST API, one file per resource, on top of http/ (transport), bank/ and
 * store/ (data), hash/ (images), report/ (URLs) and action/ (what matches do). This
 * header is what `vigil serve` needs: the option table, and a vg_api to build routes
 * from and run.
 *
 * Invariants:
 * - Every route but /healthz, /readyz and the public ones named in docs/openapi.yaml
 *   needs a bearer token whose role allows it; tokens are compared as SHA-256 digests in
 *   constant time and never logged.
 * - A 2xx answer to a write means the write is durable (the store has committed).
 * - Nothing of a request's image is kept: it is hashed from the request body and dropped.
 */
#ifndef VG_API_H
#define VG_API_H

#include "http/http.h"
#include "util/util.h"

typedef struct vg_api_config {
	char listen[VG_OPT_STRING_MAX];
	char db[VG_OPT_STRING_MAX];
	char config[VG_OPT_STRING_MAX];
	char index_snapshot[VG_OPT_STRING_MAX];
	char log_level[VG_OPT_STRING_MAX];
	int64_t threads;
	int64_t max_image_bytes;
	int64_t max_json_bytes;
	int64_t max_header_bytes;
	int64_t max_connections;
	int64_t idle_timeout;    /* microseconds */
	int64_t quality_floor;   /* PDQ hashes under this quality are not matched */
	int64_t threshold;       /* default PDQ match distance */
	int64_t webhook_attempts;
	int64_t webhook_backoff; /* microseconds: first retry delay, doubled per attempt */
	int64_t webhook_backoff_max;
	int64_t webhook_timeout;
	bool print_config;
	/* the event rules (api_rules.c, api_events.c) */
	char rules[VG_OPT_STRING_MAX];  /* rules folder; empty: POST /v1/events answers 409 */
	int64_t rules_workers;          /* lanes (Lua states); 0: one per CPU */
	int64_t max_events_bytes;       /* body of POST /v1/events, after gunzip */
	int64_t max_event_bytes;        /* one event line */
	int64_t rules_budget;           /* VM instructions per rule per event */
	char rules_webhook_url[VG_OPT_STRING_MAX];
	char rules_webhook_secret[VG_OPT_STRING_MAX];
	/* abuse reports (api_reports.c) */
	int64_t report_rate;          /* reports per minute one client address may send */
	int64_t report_burst;         /* ... and how many at once */
	int64_t report_dedup_window;  /* microseconds: a report joins a case this recent */
} vg_api_config;

/* The table behind `vigil serve`'s flags, VIGIL_* variables, config file and docs. */
VG_EXPORT extern const vg_opt vg_api_options[];
VG_EXPORT extern const size_t vg_api_option_count;

typedef struct vg_api vg_api;

/* Opens the store (creating and migrating it), loads the bank indexes and the block list,
 * and starts the outbox worker. When the store has no live admin token, creates one and
 * writes its secret to *ret_new_admin_token (a new string the caller prints once and
 * frees; NULL otherwise). Errors: the store's, VG_ENOMEM. */
VG_EXPORT VG_MUST_CHECK int vg_api_open(const vg_api_config *cfg, vg_api **ret,
					char **ret_new_admin_token, vg_error *err);
/* The route table, borrowed for the api's life. */
VG_EXPORT const vg_http_route *vg_api_routes(vg_api *api, size_t *ret_n);
/* Lets /metrics include the server's request counters. */
VG_EXPORT void vg_api_attach_server(vg_api *api, vg_http_server *srv);
/* Creates a token with a role ("admin", "analyst", "scanner", "intake", "ingest") and
 * audits it as actor's; the secret (VG_API_TOKEN_LEN characters) is written to
 * ret_secret and exists nowhere else. Errors: VG_EINVAL (role), VG_EEXIST (a live token
 * has the name), the store's. */
#define VG_API_TOKEN_LEN 67
typedef struct vg_store vg_store;
VG_EXPORT VG_MUST_CHECK int vg_api_token_mint(vg_store *s, const char *name, const char *role,
					      const char *actor, char ret_secret[VG_API_TOKEN_LEN + 1],
					      vg_error *err);

/* What SIGHUP reloads: the rules folder (and the banks match() sees). Events in flight
 * finish on the old rules; the next batch of each lane runs on the new ones, so no event
 * is lost or evaluated twice. On error the old rules stay and the reason is logged and
 * returned. Thread-safe; a no-op without --rules. */
VG_EXPORT VG_MUST_CHECK int vg_api_reload(vg_api *api, vg_error *err);

/* Stops the workers, flushes, frees; NULL is fine. Call after vg_http_stop. */
VG_EXPORT void vg_api_close(vg_api *api);

#endif
