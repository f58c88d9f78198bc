/* SPDX-License-Identifier: Apache-2.0
 *
 * The api's life: open the store and the indexes, build the route table from each
 * resource's table (wrapping every route in authentication), hand out one store
 * connection per HTTP thread, apply the options SIGHUP reloads, and close it all down in
 * reverse order.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct vg__route_ctx {
	vg_api *api;
	const vg__api_route *r;
};

/* Authentication is the routes' gate: a caller who may not post a body is answered
 * before sending it, rather than after the server has held up to max_events_bytes. */
static void admit(vg_http_req *req, void *ctx)
{
	const struct vg__route_ctx *rc = ctx;
	vg__actor *who = vg_arena_alloc(vg_http_arena(req), sizeof(*who));
	if (!who) {
		vg_http_respond_error(req, VG_ENOMEM, "out of memory");
		return;
	}
	if (vg__api_auth(rc->api, req, rc->r->roles, who))
		vg_http_set_data(req, who);
}

static void dispatch(vg_http_req *req, void *ctx)
{
	const struct vg__route_ctx *rc = ctx;
	rc->r->fn(rc->api, req, vg_http_data(req));
}

static void close_store(void *p)
{
	vg_store_close(p);
}

vg_store *vg__api_store(vg_api *api, vg_http_req *req)
{
	vg_store *s = pthread_getspecific(api->store_key);
	if (s)
		return s;
	vg_error err;
	if (vg_store_open(api->cfg.db, &s, &err) != 0) {
		vg_log(VG_LOG_ERROR, "store.open_failed", "error=%s", vg_error_name(err.code));
		if (req)
			vg__respond_err(req, &err);
		return NULL;
	}
	pthread_setspecific(api->store_key, s);
	return s;
}

static const struct {
	const vg__api_route *routes;
	const size_t *n;
} resources[] = {
	{vg__health_routes, &vg__health_route_count},
	{vg__hash_routes, &vg__hash_route_count},
	{vg__scan_routes, &vg__scan_route_count},
	{vg__case_routes, &vg__case_route_count},
	{vg__bank_routes, &vg__bank_route_count},
	{vg__log_routes, &vg__log_route_count},
	{vg__hma_routes, &vg__hma_route_count},
	{vg__events_routes, &vg__events_route_count},
	{vg__rules_routes, &vg__rules_route_count},
	{vg__report_routes, &vg__report_route_count},
	{vg__zone_routes, &vg__zone_route_count},
	{vg__label_routes, &vg__label_route_count},
	{vg__verdict_routes, &vg__verdict_route_count},
};

static void build_routes(vg_api *api)
{
	size_t n = 0;
	for (size_t i = 0; i < VG_ARRAY_LEN(resources); i++)
		n += *resources[i].n;
	api->routes = vg_xcalloc(n, sizeof(*api->routes));
	api->route_ctx = vg_xcalloc(n, sizeof(*api->route_ctx));
	size_t k = 0;
	for (size_t i = 0; i < VG_ARRAY_LEN(resources); i++)
		for (size_t j = 0; j < *resources[i].n; j++, k++) {
			const vg__api_route *r = &resources[i].routes[j];
			api->route_ctx[k] = (struct vg__route_ctx){api, r};
			api->routes[k] = (vg_http_route){
				.method = r->method,
				.pattern = r->pattern,
				.fn = dispatch,
				.gate = admit,
				.ctx = &api->route_ctx[k],
				.max_body_bytes = (size_t)(r->image_body ? api->cfg.max_image_bytes
									 : api->cfg.max_json_bytes),
			};
		}
	api->nroutes = n;
}

const vg_http_route *vg_api_routes(vg_api *api, size_t *ret_n)
{
	*ret_n = api->nroutes;
	return api->routes;
}

void vg__api_outbox_kick(vg_api *api)
{
	if (api->outbox)
		vg_outbox_worker_kick(api->outbox);
}

void vg_api_attach_server(vg_api *api, vg_http_server *srv)
{
	api->srv = srv;
}

/* The outbox worker's delivery policy from cfg's webhook_* options. */
static void outbox_policy(const vg_api_config *cfg, vg_outbox_config *oc)
{
	vg_outbox_config_init(oc);
	oc->max_attempts = (int)cfg->webhook_attempts;
	oc->first_backoff_us = cfg->webhook_backoff;
	oc->max_backoff_us = cfg->webhook_backoff_max;
	oc->timeout_us = cfg->webhook_timeout;
}

int vg_api_open(const vg_api_config *cfg, vg_api **ret, vg_error *err)
{
	vg_api *api = vg_xcalloc(1, sizeof(*api));
	api->cfg = *cfg;
	vg_hash_set_memory_limit((uint64_t)cfg->decode_memory);
	pthread_mutex_init(&api->cfg_lock, NULL);
	pthread_key_create(&api->store_key, close_store);
	pthread_rwlock_init(&api->index_lock, NULL);
	pthread_mutex_init(&api->follow_lock, NULL);
	vg__api_tokens_init(api);
	if (cfg->index_snapshot[0])
		snprintf(api->snapshot, sizeof(api->snapshot), "%s", cfg->index_snapshot);
	else
		snprintf(api->snapshot, sizeof(api->snapshot), "%s.pdq-index", cfg->db);

	int rc = vg_api_routing_load(cfg->report_routing_file, &api->routing, err);
	if (rc)
		goto fail;
	rc = vg_store_open(cfg->db, &api->main_store, err);
	if (rc)
		goto fail;
	rc = vg__api_reindex(api, api->main_store, err);
	if (rc)
		goto fail;
	api->blocks = vg__blocklist_new();
	api->verdicts = vg__verdict_log_new();
	rc = vg__blocklist_load(api->blocks, api->main_store, err);
	if (rc)
		goto fail;
	vg_outbox_config oc;
	outbox_policy(cfg, &oc);
	oc.db_path = cfg->db;
	/* Email notifications (docs/reports.md): without smtp_url they stay pending. */
	snprintf(oc.smtp_url, sizeof(oc.smtp_url), "%s", cfg->smtp_url);
	snprintf(oc.smtp_from, sizeof(oc.smtp_from), "%s", cfg->smtp_from);
	snprintf(oc.smtp_user, sizeof(oc.smtp_user), "%s", cfg->smtp_user);
	snprintf(oc.smtp_password, sizeof(oc.smtp_password), "%s", cfg->smtp_password);
	oc.smtp_plaintext_auth = cfg->smtp_plaintext_auth;
	rc = vg_outbox_worker_start(&oc, &api->outbox, err);
	if (rc)
		goto fail;
	rc = vg__api_rules_open(api, err);
	if (rc)
		goto fail;
	/* After the rules: the thread that follows other writers reloads their banks too. */
	api->block_sync = vg__block_sync_start(api);
	api->report_rate = vg__rate_new();
	build_routes(api);
	/* Event batches have their own bound (compressed or not), far above a JSON body's. */
	for (size_t i = 0; i < api->nroutes; i++)
		if (strcmp(api->routes[i].pattern, "/v1/events") == 0)
			api->routes[i].max_body_bytes = (size_t)cfg->max_events_bytes;
	api->ready = true;
	*ret = api;
	return 0;
fail:
	vg_api_close(api);
	return rc;
}

void vg__api_cfg_str(vg_api *api, size_t field, char out[VG_OPT_STRING_MAX])
{
	pthread_mutex_lock(&api->cfg_lock);
	memcpy(out, (const char *)&api->cfg + field, VG_OPT_STRING_MAX);
	pthread_mutex_unlock(&api->cfg_lock);
	out[VG_OPT_STRING_MAX - 1] = '\0';
}

int vg_api_reconfigure(vg_api *api, const vg_api_config *next, vg_error *err)
{
	/* The worker first: it is the one part that can refuse (a first backoff over the
	 * longest), and then nothing at all has changed. */
	vg_outbox_config oc;
	outbox_policy(next, &oc);
	int rc = vg_outbox_worker_set_policy(api->outbox, &oc, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < vg_api_option_count; i++) {
		const vg_opt *o = &vg_api_options[i];
		char *cur = (char *)&api->cfg + o->offset;
		const char *nx = (const char *)next + o->offset;
		/* Only this thread writes cfg, so its own plain reads race with nothing. */
		bool same = o->type == VG_OPT_STRING ? strcmp(cur, nx) == 0
			    : o->type == VG_OPT_BOOL ? *(const bool *)cur == *(const bool *)nx
						       : *(const int64_t *)cur == *(const int64_t *)nx;
		if (same)
			continue;
		if (!o->reloadable) {
			vg_log(VG_LOG_WARN, "config.reload_ignored", "option=%s why=\"takes a restart\"",
			       o->name);
			continue;
		}
		if (o->type == VG_OPT_STRING) {
			pthread_mutex_lock(&api->cfg_lock);
			memcpy(cur, nx, VG_OPT_STRING_MAX);
			pthread_mutex_unlock(&api->cfg_lock);
		} else {
			/* Every reloadable option but the strings is an int64_t (VG__CFG). */
			__atomic_store_n((int64_t *)cur, *(const int64_t *)nx, __ATOMIC_RELAXED);
		}
		vg_log(VG_LOG_INFO, "config.reloaded", "option=%s", o->name);
	}
	return 0;
}

void vg_api_close(vg_api *api)
{
	if (!api)
		return;
	vg__block_sync_stop(api->block_sync); /* first: it reaches the rules' banks */
	vg__api_rules_close(api); /* writes the rules' labels to the store */
	vg_outbox_worker_stop(api->outbox);
	vg__blocklist_free(api->blocks);
	vg__verdict_log_free(api->verdicts);
	vg_bank_index_free(api->index);
	vg_store_close(api->main_store);
	vg__api_tokens_done(api);
	vg__api_metrics_done(api);
	pthread_rwlock_destroy(&api->index_lock);
	pthread_mutex_destroy(&api->follow_lock);
	free(api->followed);
	pthread_mutex_destroy(&api->cfg_lock);
	/* Threads' own connections close through the key's destructor as they exit; the
	 * HTTP pool has exited before this is called. */
	pthread_key_delete(api->store_key);
	free(api->routes);
	free(api->route_ctx);
	vg__rate_free(api->report_rate);
	free(api);
}
