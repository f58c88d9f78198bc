/* SPDX-License-Identifier: Apache-2.0
 *
 * The latest verdicts of each rule, with their events: GET /v1/rules/{name}/verdicts
 * (analyst). Counts say how often a shadow rule would act; deciding whether it is right
 * takes its cases, so a person can read the events it would have blocked before it
 * blocks anything. Live verdicts are kept too, to see what a rule just did.
 *
 * Memory only, and bounded: the last RECENT_MAX verdicts other than allow per rule,
 * each with at most EVENT_KEPT bytes of its event (the events are metadata, never
 * content; still, only analysts may read them). A restart starts the lists empty.
 *
 * Invariant: every ring is touched under the log's mutex.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define RECENT_MAX 50
#define EVENT_KEPT 2048

typedef struct recent {
	vg_usec at;
	vg_action action;
	bool shadow, truncated;
	uint64_t line;
	char request_id[24];
	char *reason;
	char *event;
	size_t event_len;
} recent;

typedef struct ring {
	char rule[VG_RULES_NAME_MAX + 1];
	recent r[RECENT_MAX];
	size_t next, n; /* the slot written next; how many are in use */
} ring;

struct vg__verdict_log {
	pthread_mutex_t mu;
	ring **rings;
	size_t n, cap;
};

vg__verdict_log *vg__verdict_log_new(void)
{
	vg__verdict_log *l = vg_xcalloc(1, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	return l;
}

static void recent_done(recent *r)
{
	free(r->reason);
	free(r->event);
	memset(r, 0, sizeof(*r));
}

void vg__verdict_log_free(vg__verdict_log *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < RECENT_MAX; k++)
			recent_done(&l->rings[i]->r[k]);
		free(l->rings[i]);
	}
	free(l->rings);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* Under mu. */
static ring *ring_find(vg__verdict_log *l, const char *rule, bool create)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->rings[i]->rule, rule) == 0)
			return l->rings[i];
	if (!create)
		return NULL;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		ring **g = realloc(l->rings, l->cap * sizeof(*g));
		if (!g)
			abort(); /* one pointer per rule: STYLE.md 3 */
		l->rings = g;
	}
	ring *g = vg_xcalloc(1, sizeof(*g));
	snprintf(g->rule, sizeof(g->rule), "%s", rule);
	l->rings[l->n++] = g;
	return g;
}

void vg__verdict_log_add(vg__verdict_log *l, const char *request_id, const vg__verdict_note *v,
			 size_t n)
{
	vg_usec now = vg_time_now();
	pthread_mutex_lock(&l->mu);
	for (size_t i = 0; i < n; i++) {
		ring *g = ring_find(l, v[i].rule, true);
		recent *r = &g->r[g->next];
		recent_done(r);
		size_t keep = v[i].event_len < EVENT_KEPT ? v[i].event_len : EVENT_KEPT;
		*r = (recent){.at = now, .action = v[i].action, .shadow = v[i].shadow,
			      .truncated = keep < v[i].event_len, .line = v[i].line,
			      .reason = vg_xstrdup(v[i].reason), .event = vg_xmalloc(keep + 1),
			      .event_len = keep};
		memcpy(r->event, v[i].event, keep);
		r->event[keep] = '\0';
		snprintf(r->request_id, sizeof(r->request_id), "%s", request_id ? request_id : "");
		g->next = (g->next + 1) % RECENT_MAX;
		if (g->n < RECENT_MAX)
			g->n++;
	}
	pthread_mutex_unlock(&l->mu);
}

static json_t *recent_json(const recent *r)
{
	json_t *o = json_pack("{s:o,s:s,s:b,s:o,s:I,s:s}", "at", vg__json_time(r->at), "action",
			      vg_action_name(r->action), "shadow", r->shadow, "reason",
			      vg__json_str(r->reason), "line", (json_int_t)r->line, "request_id",
			      r->request_id);
	/* The event as the object it was; a cut one as the text that was kept. */
	json_t *ev = r->truncated ? NULL : json_loadb(r->event, r->event_len, 0, NULL);
	if (ev) {
		json_object_set_new(o, "event", ev);
	} else {
		json_object_set_new(o, "event", json_null());
		json_object_set_new(o, "event_text", vg__json_str(r->event));
	}
	json_object_set_new(o, "event_truncated", json_boolean(r->truncated));
	return o;
}

/* Newest first; NULL when the rule never gave such a verdict. */
static json_t *items_json(vg__verdict_log *l, const char *rule, size_t limit, int shadow)
{
	pthread_mutex_lock(&l->mu);
	ring *g = ring_find(l, rule, false);
	json_t *items = g ? json_array() : NULL;
	for (size_t k = 0; g && k < g->n && json_array_size(items) < limit; k++) {
		const recent *r = &g->r[(g->next + RECENT_MAX - 1 - k) % RECENT_MAX];
		if (shadow < 0 || r->shadow == (shadow == 1))
			json_array_append_new(items, recent_json(r));
	}
	pthread_mutex_unlock(&l->mu);
	return items;
}

static void verdicts(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	const char *name = vg_http_param(req, "name");
	if (!vg__api_rules_need(api, req))
		return;
	const char *lim = vg_http_query(req, "limit"), *sh = vg_http_query(req, "shadow");
	char *end = NULL;
	long limit = lim ? strtol(lim, &end, 10) : RECENT_MAX;
	if (lim && (!*lim || *end || limit < 1 || limit > RECENT_MAX)) {
		vg_http_respond_error(req, VG_EINVAL, "limit must be 1 to %d", RECENT_MAX);
		return;
	}
	int shadow = !sh ? -1 : !strcmp(sh, "true") ? 1 : !strcmp(sh, "false") ? 0 : -2;
	if (shadow == -2) {
		vg_http_respond_error(req, VG_EINVAL, "shadow must be true or false");
		return;
	}
	json_t *items = items_json(api->verdicts, name, (size_t)limit, shadow);
	if (!items) {
		if (!vg__api_rules_known(api, name)) {
			vg_http_respond_error(req, VG_ENOENT, "no rule named '%.64s'", name);
			return;
		}
		items = json_array();
	}
	vg__json_respond(req, 200, json_pack("{s:s,s:o,s:i}", "name", name, "items", items, "kept",
					      RECENT_MAX));
}

const vg__api_route vg__verdict_routes[] = {
	{"GET", "/v1/rules/{name}/verdicts", VG__ROLE_ANALYST, false, verdicts},
};
const size_t vg__verdict_route_count = VG_ARRAY_LEN(vg__verdict_routes);
