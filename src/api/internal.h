/* SPDX-License-Identifier: Apache-2.0
 *
 * Shared between the files of src/api only: the api's state, the route wrapper that
 * authenticates before a resource runs, and JSON helpers. One file per resource declares
 * its routes with VG__API_ROUTE entries collected in api.c.
 */
#ifndef VG_API_INTERNAL_H
#define VG_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "action/action.h"
#include "api.h"
#include "report/report.h"
#include "bank/bank.h"
#include "store/store.h"

/* Every URL the API canonicalises (/v1/scan, /v1/decision, an event's "url", a report's
 * URLs) fits the store's scan, block, case and report columns: otherwise one long URL
 * that passed intake would fail its whole transaction (a scan that matched would block
 * nothing, one event would fail its whole batch). */
_Static_assert(VG_URL_MAX <= VG_STORE_URL_MAX, "canonical URLs must fit the store");

/* Roles, as a bit mask so that a route lists who may call it. */
enum {
	VG__ROLE_ADMIN = 1 << 0,
	VG__ROLE_ANALYST = 1 << 1,
	VG__ROLE_SCANNER = 1 << 2,
	VG__ROLE_INTAKE = 1 << 3,
	VG__ROLE_INGEST = 1 << 4,
	VG__ROLE_PUBLIC = 1 << 15, /* no token needed */
};
#define VG__ROLES_ALL (VG__ROLE_ADMIN | VG__ROLE_ANALYST | VG__ROLE_SCANNER | VG__ROLE_INTAKE | VG__ROLE_INGEST)

/* Who is calling: the token's name and role (or "anonymous" on public routes). */
typedef struct vg__actor {
	char name[65];
	int role;
} vg__actor;

typedef void vg__api_fn(vg_api *api, vg_http_req *req, const vg__actor *who);

typedef struct vg__api_route {
	const char *method, *pattern;
	int roles;       /* who may call; admin always may */
	bool image_body; /* max body is max_image_bytes rather than max_json_bytes */
	vg__api_fn *fn;
} vg__api_route;

/* Active blocks by canonical URL, in memory (api_blocklist.c). */
typedef struct vg__blocklist vg__blocklist;
vg__blocklist *vg__blocklist_new(void);
void vg__blocklist_free(vg__blocklist *b);
int vg__blocklist_load(vg__blocklist *b, vg_store *s, vg_error *err);
void vg__blocklist_put(vg__blocklist *b, const char *url, int64_t id, const char *reason, vg_usec since);
void vg__blocklist_remove_id(vg__blocklist *b, int64_t id);
bool vg__blocklist_get(vg__blocklist *b, const char *url, int64_t *ret_id, char *reason,
		       size_t reason_size, vg_usec *ret_since);
size_t vg__blocklist_count(vg__blocklist *b);
/* A thread that applies to the table what another process changed in the blocks. */
typedef struct vg__block_sync vg__block_sync;
vg__block_sync *vg__block_sync_start(vg_api *api);
void vg__block_sync_stop(vg__block_sync *y);

/* A cached token: the SHA-256 of its secret, whom it names, until when we trust it. */
struct vg__token_cache;

struct vg_api {
	/* The options. Those SIGHUP may change (reload: yes in api_config.c) are written by
	 * vg_api_reconfigure while requests run: read a number with VG__CFG, a string with
	 * vg__api_cfg_str. The others never change after vg_api_open. */
	vg_api_config cfg;
	pthread_mutex_t cfg_lock; /* the reloadable strings of cfg */
	vg_report_policy routing; /* the defaults and report_routing_file, loaded once */
	char snapshot[VG_OPT_STRING_MAX + 16];
	pthread_key_t store_key; /* each HTTP thread's own store connection */
	vg_store *main_store;    /* for start-up and shutdown, on the opening thread */

	pthread_rwlock_t index_lock; /* readers query; bank edits write */
	vg_bank_index *index;
	int64_t index_seq; /* the store's change seq the index is known to reflect */
	/* Serialises vg__api_reindex and vg__api_index_follow, which both bring the index
	 * up to the store; and, under it, the banks as the index last read them (id,
	 * enabled, updated_at), so a follow reads again only the banks that changed. */
	pthread_mutex_t follow_lock;
	struct vg__followed_bank *followed;
	size_t n_followed;

	struct vg__token_cache *tokens;
	vg__blocklist *blocks;
	vg__block_sync *block_sync;
	vg_outbox_worker *outbox;
	vg_http_server *srv;
	bool ready;

	struct vg__match_counts *match_counts;

	vg_http_route *routes; /* built from the resources' tables */
	struct vg__route_ctx *route_ctx;
	size_t nroutes;

	struct vg__rules_state *rules; /* NULL without --rules (api_rules.c) */
	struct vg__verdict_log *verdicts; /* each rule's latest verdicts (api_verdicts.c) */

	struct vg__rate *report_rate; /* POST /v1/reports per client address (api_reports.c) */
};

/* A reloadable number of api->cfg (int64_t): written with an atomic store by
 * vg_api_reconfigure, so a reader sees the old value or the new, never a torn one. */
#define VG__CFG(api, field) __atomic_load_n(&(api)->cfg.field, __ATOMIC_RELAXED)
/* A reloadable string of api->cfg (field: its offsetof), copied into out under cfg_lock. */
void vg__api_cfg_str(vg_api *api, size_t field, char out[VG_OPT_STRING_MAX]);

/* The calling thread's store connection, opened on first use. NULL (and a 500 already
 * answered) when it cannot be opened. */
vg_store *vg__api_store(vg_api *api, vg_http_req *req);

/* Authenticates req for a route allowing `roles`. On failure answers 401/403 and
 * returns false. */
bool vg__api_auth(vg_api *api, vg_http_req *req, int roles, vg__actor *ret);
void vg__api_tokens_init(vg_api *api);
void vg__api_tokens_done(vg_api *api);
/* Forgets cached tokens (after a revoke through the API). */
void vg__api_tokens_flush(vg_api *api);
int vg__api_role_parse(const char *name);
const char *vg__api_role_name(int role);

/* ---- JSON ---------------------------------------------------------------------------- */
/* Answers with obj (stolen: decref'd here). */
void vg__json_respond(vg_http_req *req, int status, json_t *obj);
/* Parses the body as one JSON object; on failure answers 400/415 and returns NULL. */
/* Whether the request's Content-Type is application/json (or absent, unless required);
 * answers 415 and returns false when not. */
bool vg__json_content_type(vg_http_req *req, bool required);
json_t *vg__json_body(vg_http_req *req);
/* Answers an error from a vg_error (status from its code). */
void vg__respond_err(vg_http_req *req, const vg_error *err);
/* A string for a possibly invalid UTF-8 value: jansson refuses invalid UTF-8. */
json_t *vg__json_str(const char *s);
/* ISO-8601 UTC with milliseconds: "2026-11-27T10:00:00.123Z". */
json_t *vg__json_time(vg_usec t);

/* ---- images and matches, shared by /v1/hash, /v1/match, /v1/scan and HMA's routes ---- */
#include "hash/hash.h"
bool vg__api_hash_body(vg_http_req *req, bool dihedral, vg_image_result *img, vg_digests *dig);
json_t *vg__api_hashes_json(const vg_image_result *img, const vg_digests *dig);
/* Matches an image's PDQ (when its quality reaches the floor), MD5 and SHA-256. */
int vg__api_match_image(vg_api *api, vg_store *s, const vg_image_result *img, const vg_digests *dig,
			int threshold, bool dihedral, const int64_t *banks, size_t nbanks,
			vg_bank_matches *m, vg_error *err);

/* ---- metrics beyond HTTP --------------------------------------------------------------- */
void vg__api_count_match(vg_api *api, const char *bank);
void vg__api_metrics_extra(vg_api *api, vg_http_req *req, char *out, size_t cap, size_t *len);
void vg__api_metrics_done(vg_api *api);

/* ---- small shared pieces --------------------------------------------------------------- */
/* Pagination: ?after=ID&limit=N (1..1000, default 100). Answers 422 and returns false on
 * bad values. The answer is {"items": [...], "next_after": last id or null}. */
typedef struct vg__page {
	int64_t after;
	size_t limit;
} vg__page;
bool vg__api_page(vg_http_req *req, vg__page *ret);
void vg__api_page_respond(vg_http_req *req, json_t *items, size_t limit);
/* A positive integer path parameter; answers 404 and returns false otherwise. */
bool vg__api_id_param(vg_http_req *req, const char *name, int64_t *ret);
/* A canonical URL from a query argument; answers 422 when bad or (if required) missing. */
bool vg__api_url_arg(vg_http_req *req, const char *name, char *out, size_t size, bool required);
/* A bank's actions array (JSON text) as a mask; VG_EINVAL for an unknown action. */
int vg__api_actions_parse(const char *json, int *ret);
json_t *vg__api_block_json(const vg_store_block *b);
/* Rebuilds the bank index from the store and swaps it in, after a bank is enabled,
 * disabled or deleted (signal changes update the index in place instead), or when
 * another process changed the banks (vg__api_index_follow). */
int vg__api_reindex(vg_api *api, vg_store *s, vg_error *err);
/* After this server's own signal change to bank, applied to the index in place: marks
 * the bank as read at its new row, so vg__api_index_follow does not read it again. Only
 * when the store's last commit is this connection's and the index reflects it (a commit
 * in between, or a follow running, leaves the bank to be read again: slower, never
 * wrong). */
void vg__api_followed_update(vg_api *api, vg_store *s, const char *bank);
/* vg__api_finish for a transaction that may change banks or signals: once it commits,
 * the index is known to reflect it when it reflected everything before it (this
 * commit's seq is one past index_seq). The caller then brings the index in step with
 * the commit (in place, or by vg__api_reindex). */
int vg__api_finish_banks(vg_api *api, vg_store *s, int rc, vg_error *err);
/* Brings the index up to the store when the store's change seq is not the one the index
 * reflects (a bank or signal changed by another process: the CLI's add, import, remove,
 * enable, disable, delete): reads again only the banks whose updated_at or enabled flag
 * moved, applying their signals in place; a deleted bank (its signals are gone, so
 * their ids cannot be read) rebuilds the whole index. Then brings the rules' banks up
 * to it (vg__api_rules_follow_banks). */
void vg__api_index_follow(vg_api *api, vg_store *s);
/* Wakes the outbox worker after a commit that enqueued something. */
void vg__api_outbox_kick(vg_api *api);
/* Ends a transaction begun with vg_store_begin: commits when rc is 0, else rolls back
 * and returns rc unchanged. */
int vg__api_finish(vg_store *s, int rc, vg_error *err);
/* Writes one audit entry in its own transaction (for changes made outside one). */
int vg__api_audit(vg_api *api, vg_store *s, const char *actor, const char *action,
		  const char *object_type, const char *object_id, json_t *detail, vg_error *err);

/* The bytes of the multipart/form-data field named field, pointing into body. Errors:
 * VG_EUNSUPPORTED (not multipart), VG_ENOENT (no such field), VG_EMALFORMED. */
int vg__multipart_field(const char *content_type, const uint8_t *body, size_t len,
			const char *field, const uint8_t **ret, size_t *ret_len);

/* ---- resources ------------------------------------------------------------------------ */
extern const vg__api_route vg__health_routes[], vg__hash_routes[], vg__scan_routes[],
	vg__case_routes[], vg__bank_routes[], vg__log_routes[], vg__hma_routes[];
extern const size_t vg__health_route_count, vg__hash_route_count, vg__scan_route_count,
	vg__case_route_count, vg__bank_route_count, vg__log_route_count, vg__hma_route_count;

/* ---- event rules (api_rules.c, api_events.c) ---------------------------------------------- */
#include "rules/rules.h"
int vg__api_rules_open(vg_api *api, vg_error *err);
void vg__api_rules_close(vg_api *api);
/* Evaluates lines[0..n) (each already checked to decode and have a "type") in lanes by
 * partition key; verdicts go to fn (called with the lane held, so fn must be quick). */
typedef struct vg__event_line {
	const char *text;
	size_t len;
	uint64_t line; /* 1-based line number in the request body */
	int lane;
	const vg_json_doc *doc; /* the line decoded, or NULL: the lane decodes it again */
} vg__event_line;
void vg__api_rules_eval(vg_api *api, vg__event_line *lines, size_t n, vg_verdict_fn *fn, void *ctx);
int vg__api_rules_lanes(vg_api *api);
/* One request's verdicts of one rule. modes sets acts: live or shadow, by the rule's
 * API override when set, else its own shadow flag. merge, once the request's actions
 * are committed, adds the counts to the rule's live or shadow column as acts says. */
typedef struct vg__rule_tally {
	char rule[VG_RULES_NAME_MAX + 1];
	bool declared_shadow;
	uint64_t n[VG_ACTION_COUNT];
	bool acts; /* out */
} vg__rule_tally;
void vg__api_rules_modes(vg_api *api, vg__rule_tally *t, size_t n);
void vg__api_rules_merge(vg_api *api, const vg__rule_tally *t, size_t n);
/* Counts lines of POST /v1/events, and appends the rules' metrics (events, verdicts by
 * rule, action and mode, rule errors, budget stops, reloads, label flushes) to out. */
void vg__api_rules_count_events(vg_api *api, size_t accepted, size_t rejected);
/* True with rules loaded; else answers 409 and returns false. */
bool vg__api_rules_need(vg_api *api, vg_http_req *req);
/* Whether a rule of that name has been loaded since the server started. */
bool vg__api_rules_known(vg_api *api, const char *name);
/* Each rule's latest verdicts other than allow, with their events (api_verdicts.c). */
typedef struct vg__verdict_log vg__verdict_log;
typedef struct vg__verdict_note {
	const char *rule;
	vg_action action;
	bool shadow; /* counted as shadow: declared so, or by an API override */
	const char *reason;
	const char *event; /* the line as it came */
	size_t event_len;
	uint64_t line;
} vg__verdict_note;
vg__verdict_log *vg__verdict_log_new(void);
void vg__verdict_log_free(vg__verdict_log *l);
void vg__verdict_log_add(vg__verdict_log *l, const char *request_id, const vg__verdict_note *v,
			 size_t n);
/* GET /v1/labels' page token (api_labels.c): the hex (lower case) of an entity, '-', the
 * hex of a name. make returns a malloc'd token; read splits one into buf (of
 * VG__LABEL_TOKEN_BUF bytes), false unless the entity is not empty, both halves are hex
 * of whole bytes with no NUL, and the two fit what label() takes together. */
#define VG__LABEL_MAX (VG_STORE_LABEL_MAX - 2) /* kind, id and name; two separators */
#define VG__LABEL_TOKEN_BUF (2 * VG__LABEL_MAX + 2)
char *vg__label_token_make(const char *entity, const char *name);
bool vg__label_token_read(const char *t, char *buf, const char **entity, const char **name);
/* Writes every lane's labels not yet in the store (nothing without rules). */
void vg__api_rules_labels_flush(vg_api *api);
/* Brings match()'s banks up to the store's change seq, read before this call (nothing
 * without rules, or when they are there already): the banks changed since are read
 * again and every lane moves to the new set between two of its events. s is the calling
 * thread's store. */
void vg__api_rules_follow_banks(vg_api *api, vg_store *s, int64_t seq);
/* A change to one label through the API: fn makes it in the store while no lane runs,
 * and when fn returns 0 every lane takes l (an expiry of VG_LABEL_REMOVED for a
 * removal) and drops its pending writes of the label, and the inboxes drop theirs, so
 * nothing set before the change undoes it. Serialised with flushes and reloads. */
typedef int vg__label_edit_fn(void *ctx, vg_error *err);
int vg__api_rules_label_edit(vg_api *api, const vg_store_label *l, vg__label_edit_fn *fn,
			     void *ctx, vg_error *err);
void vg__api_rules_metrics(vg_api *api, char *out, size_t cap, size_t *len);
extern const vg__api_route vg__events_routes[], vg__rules_routes[], vg__label_routes[],
	vg__verdict_routes[];
extern const size_t vg__events_route_count, vg__rules_route_count, vg__label_route_count,
	vg__verdict_route_count;

/* ---- abuse reports (api_reports.c, api_zones.c) -------------------------------------------- */
extern const vg__api_route vg__report_routes[], vg__zone_routes[];
extern const size_t vg__report_route_count, vg__zone_route_count;
/* The per-address limit of POST /v1/reports (api_rate.c). */
struct vg__rate *vg__rate_new(void);
void vg__rate_free(struct vg__rate *r);
/* Takes one report for addr: 0 when allowed, else the seconds until one is. Thread-safe. */
int vg__rate_take(struct vg__rate *r, const char *addr, double per_min, double burst);
/* The most specific zone of a canonical URL: its host, then each parent domain up to the
 * registrable domain. Owned strings in *ret. Errors: VG_ENOENT (on no zone). */
int vg__api_zone_resolve(vg_store *s, const char *canonical_url, vg_store_zone *ret,
			 vg_error *err);

/* Whether party ("owner" | "host") was sent a notification of case_id: a "notified" event
 * in its history, whose note is the party, then for a reviewer's notify " review " and
 * the target's tag (vg__api_target_tag). review_tag NULL: any notification counts; "":
 * any reviewer's; else only the reviewer's to that target. */
int vg__api_case_told(vg_store *s, int64_t case_id, const char *party, const char *review_tag,
		      bool *ret, vg_error *err);
/* A short tag of a notification target (webhook URL or address): 16 hex digits. */
void vg__api_target_tag(const char *target, char ret[17]);

/* POST /v1/admin/retention/run (api_retention.c; routed from api_reports.c's table). */
void vg__api_retention_run(vg_api *api, vg_http_req *req, const vg__actor *who);

#endif
