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
	int64_t decode_memory; /* bytes all image decodes in flight may hold together */
	int64_t max_json_bytes;
	int64_t max_header_bytes;
	int64_t max_connections;
	int64_t max_connections_per_address; /* 0: no limit */
	char trusted_proxies[VG_OPT_STRING_MAX]; /* see vg_http_config */
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
	char rules_partition_key[VG_OPT_STRING_MAX]; /* picks the lane; empty: the default */
	int64_t max_events_bytes;       /* body of POST /v1/events, after gunzip */
	int64_t max_event_bytes;        /* one event line */
	int64_t rules_budget_ms;        /* CPU time per rule per event */
	char rules_webhook_url[VG_OPT_STRING_MAX];
	char rules_webhook_secret[VG_OPT_STRING_MAX];
	/* abuse reports (api_reports.c) */
	int64_t report_rate;          /* reports per minute one client address may send */
	int64_t report_burst;         /* ... and how many at once */
	int64_t report_dedup_window;  /* microseconds: a report joins a case this recent */
	char report_routing_file[VG_OPT_STRING_MAX]; /* routing overrides; empty: defaults */
	/* authority reports, retention and SMTP (api_cases.c, api_retention.c, action/) */
	char report_org_name[VG_OPT_STRING_MAX];  /* the reporting organisation */
	char report_org_email[VG_OPT_STRING_MAX]; /* its contact; empty: none */
	int64_t report_retention;     /* microseconds: reporter personal data kept this long */
	int64_t retention_interval;   /* microseconds between two runs of the retention job */
	char smtp_url[VG_OPT_STRING_MAX];      /* smtp:// or smtps:// relay; empty: no email */
	char smtp_from[VG_OPT_STRING_MAX];     /* envelope sender and From */
	char smtp_user[VG_OPT_STRING_MAX];     /* empty: no authentication */
	char smtp_password[VG_OPT_STRING_MAX]; /* secret: never printed */
	bool smtp_plaintext_auth; /* send smtp_user's password without TLS if the relay has none */
} vg_api_config;

/* The table behind `vigil serve`'s flags, VIGIL_* variables, config file and docs. */
VG_EXPORT extern const vg_opt vg_api_options[];
VG_EXPORT extern const size_t vg_api_option_count;

typedef struct vg_api vg_api;

/* Opens the store (creating and migrating it), loads the bank indexes and the block list,
 * and starts the outbox worker. Errors: the store's, VG_ENOMEM. */
VG_EXPORT VG_MUST_CHECK int vg_api_open(const vg_api_config *cfg, vg_api **ret, vg_error *err);
/* When the store has never had a token (none live, none revoked), creates an admin one
 * and writes its secret to *ret (a new string the caller prints once and frees; NULL otherwise). Call it last, once the
 * server is listening: a token made by a start that then fails would never be shown,
 * and the next start, finding it, would make none. */
VG_EXPORT VG_MUST_CHECK int vg_api_bootstrap_admin(vg_api *api, char **ret, vg_error *err);
/* Revokes (and audits) the token bootstrap_admin made, given its secret, when it could
 * not be shown: a live admin token nobody has seen must not outlive the failed write.
 * Errors: the store's. */
VG_EXPORT VG_MUST_CHECK int vg_api_bootstrap_revoke(vg_api *api, const char *secret, vg_error *err);
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

/* Whether json is a bank's actions as PATCH /v1/banks takes them: an array of
 * block_url, open_case, webhook and authority_report (for `vigil bank`, which sets them
 * from a shell). */
VG_EXPORT bool vg_api_bank_actions_valid(const char *json);

/* What SIGHUP applies of a configuration read again (the file, the environment and the
 * flags, as at start): every option the table marks reloadable takes effect for the
 * requests, reports, retention runs and deliveries that start afterwards (webhook_*: see
 * vg_outbox_worker_set_policy; log_level is the caller's, vg_log_set_level). Another
 * option that changed is logged (config.reload_ignored) and keeps its value until a
 * restart. Errors: VG_EINVAL (the webhook settings do not fit together); then nothing
 * changes. Call from one thread at a time (vigil serve's main thread). */
VG_EXPORT VG_MUST_CHECK int vg_api_reconfigure(vg_api *api, const vg_api_config *next,
					       vg_error *err);

/* What SIGHUP reloads: the rules folder (and the banks match() sees). Events in flight
 * finish on the old rules; the next batch of each lane runs on the new ones, so no event
 * is lost or evaluated twice. On error the old rules stay and the reason is logged and
 * returned. Thread-safe; a no-op without --rules. */
VG_EXPORT VG_MUST_CHECK int vg_api_reload(vg_api *api, vg_error *err);

/* Stops the workers, flushes, frees; NULL is fine. Call after vg_http_stop. */
VG_EXPORT void vg_api_close(vg_api *api);

/* ---- abuse-report intake outside HTTP -------------------------------------------------
 * The one pipeline every report goes through, whichever door it came in by (POST
 * /v1/reports, POST /v1/reports/email, `vigil report ingest-mail`): the report row, its
 * URLs and zones, one case per (category, URL) opened or joined within the dedup window,
 * the routing policy's outbox items, evidence matched against the banks (a match blocks
 * the report's URLs), audit entries; all in one store transaction. */
struct vg_report;
typedef struct vg_bank_index vg_bank_index;

typedef struct vg_api_report_ctx {
	vg_store *store;
	vg_api *api;                 /* the server (its index, lock and metrics); NULL outside */
	const vg_bank_index *index;  /* when api is NULL: the banks to match; NULL: none */
	int threshold;               /* PDQ match distance (when api is NULL) */
	vg_usec dedup_window;        /* when api is NULL; the server uses its option */
	const struct vg_report_policy *policy; /* when api is NULL; NULL: the defaults */
	const char *source;          /* "rest" | "email" */
	const char *actor;           /* the audit actor: "public", a token name, "cli" */
	const char *client_addr;     /* personal data; NULL when none */
	const char *message_id;      /* mail intake; NULL otherwise */
} vg_api_report_ctx;

/* A block the intake placed, for the server's in-memory block list after the commit. */
typedef struct vg_api_report_block {
	int64_t id;
	char url[8193];
	char reason[160];
	vg_usec since;
} vg_api_report_block;

typedef struct vg_api_report_result {
	int64_t id;
	char *json;                  /* the 201 body (id, status, status_token, cases, ...) */
	vg_api_report_block *blocks; /* n_blocks new blocks */
	size_t n_blocks;
	bool queued;                 /* outbox items were queued: wake the worker */
	bool duplicate;              /* ctx->message_id was stored within the dedup window:
				      * id is that report, json {"id", "duplicate": true},
				      * nothing was written */
} vg_api_report_result;

VG_EXPORT void vg_api_report_result_done(vg_api_report_result *r);
/* Stores a parsed report (borrowed) as above. On 0, *ret is filled (free with
 * vg_api_report_result_done); on an error nothing was written. Errors: the store's. */
VG_EXPORT VG_MUST_CHECK int vg_api_report_store(const vg_api_report_ctx *ctx,
						const struct vg_report *r,
						vg_api_report_result *ret, vg_error *err);
/* Loads the routing policy: the defaults, then the file (when path is not empty). Errors
 * name the file and line. */
VG_EXPORT VG_MUST_CHECK int vg_api_routing_load(const char *path, struct vg_report_policy *ret,
					       vg_error *err);

/* Parses one raw RFC 5322 message (vg_report_mail_parse: ARF, X-ARF or plain) and stores
 * it with vg_api_report_store (source "email", its Message-ID). A message that is no
 * report is refused and recorded in the audit log (action "report.mail_rejected", detail
 * {"message_id", "reason", "kind"}; never the sender), in its own transaction. Errors:
 * VG_ETOOBIG, VG_EMALFORMED, VG_EINVAL (err says why), the store's. */
VG_EXPORT VG_MUST_CHECK int vg_api_report_ingest_mail(const vg_api_report_ctx *ctx,
						      const void *data, size_t len,
						      vg_api_report_result *ret, vg_error *err);

/* ---- retention of reporter personal data (api_retention.c) -----------------------------
 * A thread that erases reporter personal data older than report_retention at start and
 * every retention_interval, auditing each erasure. Start after vg_api_open; stop (NULL
 * is fine) before vg_api_close. NULL when the thread cannot start (logged). */
typedef struct vg_api_retention vg_api_retention;
VG_EXPORT vg_api_retention *vg_api_retention_start(vg_api *api);
VG_EXPORT void vg_api_retention_stop(vg_api_retention *r);

#endif
