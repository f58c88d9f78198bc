/* SPDX-License-Identifier: Apache-2.0
 *
 * Labels for people: GET /v1/labels (what an entity carries, or who carries a label),
 * PUT and DELETE /v1/labels/{kind}/{entity}/{name} (analyst). Rules put labels on
 * entities; an analyst needs to see why a user keeps being challenged and to take back a
 * label a rule got wrong, or to set one by hand ("this address is a known proxy").
 *
 * A change is made in the store, audited in the same transaction, and given to every
 * lane before the answer, with no event running meanwhile (vg__api_rules_label_edit),
 * so the next event already sees it and no label a rule set before can undo it. A
 * listing first writes the lanes' pending labels, so it shows what rules set a moment
 * ago.
 *
 * The listing pages by (entity, name): next_after is an opaque token, the hex of the
 * last entity and name.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 1000

static json_t *label_json(const vg_store_label *l)
{
	return json_pack("{s:o,s:o,s:o,s:o}", "kind", vg__json_str(l->kind), "entity",
			 vg__json_str(l->entity), "name", vg__json_str(l->name), "expires_at",
			 l->expires_at ? vg__json_time(l->expires_at) : json_null());
}

/* ---- the page token ------------------------------------------------------------------- */
static void hex_append(char *out, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	for (; *s; s++) {
		*out++ = digits[(unsigned char)*s >> 4];
		*out++ = digits[(unsigned char)*s & 15];
	}
	*out = '\0';
}

char *vg__label_token_make(const char *entity, const char *name)
{
	size_t e = strlen(entity), n = strlen(name);
	char *t = vg_xmalloc(2 * (e + n) + 2);
	hex_append(t, entity);
	t[2 * e] = '-';
	hex_append(t + 2 * e + 1, name);
	return t;
}

static int hex_val(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes len hex digits of s into out (len / 2 bytes and a NUL); false when any is not
 * hex or the bytes hold a NUL. */
static bool hex_decode(const char *s, size_t len, char *out)
{
	if (len % 2)
		return false;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_val(s[i]), lo = hex_val(s[i + 1]);
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return false;
		*out++ = (char)(hi << 4 | lo);
	}
	*out = '\0';
	return true;
}

bool vg__label_token_read(const char *t, char *buf, const char **entity, const char **name)
{
	const char *dash = strchr(t, '-');
	size_t len = strlen(t);
	if (!dash || len > 2 * VG__LABEL_MAX + 1)
		return false;
	size_t e = (size_t)(dash - t);
	*entity = buf;
	*name = buf + e / 2 + 1;
	return e > 0 && hex_decode(t, e, buf) && hex_decode(dash + 1, len - e - 1, buf + e / 2 + 1);
}

/* ---- GET /v1/labels --------------------------------------------------------------------- */
typedef struct page {
	json_t *items;
	char *next; /* the last item's token */
} page;

static int add_item(const vg_store_label *l, void *ctx)
{
	page *p = ctx;
	json_array_append_new(p->items, label_json(l));
	free(p->next);
	p->next = vg__label_token_make(l->entity, l->name);
	return 0;
}

static bool limit_arg(vg_http_req *req, size_t *ret)
{
	const char *v = vg_http_query(req, "limit");
	*ret = LIMIT_DEFAULT;
	if (!v)
		return true;
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < 1 || n > LIMIT_MAX) {
		vg_http_respond_error(req, VG_EINVAL, "limit must be 1 to %d", LIMIT_MAX);
		return false;
	}
	*ret = (size_t)n;
	return true;
}

static void list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	vg_store_label_query q = {
		.kind = vg_http_query(req, "kind"),
		.entity = vg_http_query(req, "entity"),
		.name = vg_http_query(req, "name"),
	};
	if (!q.kind || !*q.kind) {
		vg_http_respond_error(req, VG_EINVAL,
				      "kind is required (with entity, name or both to narrow it)");
		return;
	}
	if (!limit_arg(req, &q.limit))
		return;
	const char *after = vg_http_query(req, "after");
	char *buf = NULL;
	if (after) {
		buf = vg_xmalloc(VG__LABEL_TOKEN_BUF);
		if (!vg__label_token_read(after, buf, &q.after_entity, &q.after_name)) {
			free(buf);
			vg_http_respond_error(req, VG_EINVAL, "after must be the next_after of a page");
			return;
		}
	}
	vg__api_rules_labels_flush(api);
	q.now = vg_time_now();
	page p = {json_array(), NULL};
	vg_error err;
	if (vg_store_label_find(s, &q, add_item, &p, &err) != 0) {
		vg__respond_err(req, &err);
		json_decref(p.items);
	} else {
		json_t *next = json_array_size(p.items) == q.limit ? json_string(p.next) : json_null();
		vg__json_respond(req, 200, json_pack("{s:o,s:o}", "items", p.items, "next_after", next));
	}
	free(p.next);
	free(buf);
}

/* ---- PUT and DELETE /v1/labels/{kind}/{entity}/{name} ------------------------------------ */
typedef struct edit {
	vg_api *api;
	vg_store *s;
	const vg__actor *who;
	vg_store_label l;
	bool remove;
} edit;

/* The label the path names, or false with a 4xx answered. */
static bool path_label(vg_http_req *req, vg_store_label *l)
{
	l->kind = vg_http_param(req, "kind");
	l->entity = vg_http_param(req, "entity");
	l->name = vg_http_param(req, "name");
	if (!l->kind || !l->entity || !l->name || !*l->kind || !*l->entity || !*l->name) {
		vg_http_respond_error(req, VG_EINVAL, "a label needs a kind, an entity and a name");
		return false;
	}
	if (strlen(l->kind) + strlen(l->entity) + strlen(l->name) > VG__LABEL_MAX) {
		vg_http_respond_error(req, VG_EINVAL,
				      "a label's kind, entity and name are over %d bytes together",
				      VG__LABEL_MAX);
		return false;
	}
	return true;
}

static int apply(void *ctx, vg_error *err)
{
	edit *e = ctx;
	int rc = vg_store_begin(e->s, err);
	if (rc)
		return rc;
	if (e->remove) {
		bool found = false;
		rc = vg_store_label_delete(e->s, e->l.kind, e->l.entity, e->l.name, &found, err);
		if (rc == 0 && !found)
			rc = vg_error_set(err, VG_ENOENT, "no such label");
	} else {
		rc = vg_store_label_set_many(e->s, &e->l, 1, err);
	}
	if (rc == 0) {
		json_t *d = json_pack("{s:o,s:o,s:o,s:o}", "kind", vg__json_str(e->l.kind), "entity",
				      vg__json_str(e->l.entity), "name", vg__json_str(e->l.name),
				      "expires_at",
				      e->l.expires_at && !e->remove ? vg__json_time(e->l.expires_at)
								    : json_null());
		rc = vg__api_audit(e->api, e->s, e->who->name, e->remove ? "label.delete" : "label.set",
				   "label", e->l.entity, d, err);
		json_decref(d);
	}
	return vg__api_finish(e->s, rc, err);
}

/* The body's ttl: absent, null or no body for a label that never expires; else a
 * duration ("24h") or a number of seconds. False with a 4xx answered. */
static bool ttl_arg(vg_http_req *req, vg_usec *ret)
{
	size_t len;
	vg_http_body(req, &len);
	*ret = 0;
	if (len == 0)
		return true;
	json_t *body = vg__json_body(req);
	if (!body)
		return false;
	bool ok = true;
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "ttl") != 0) {
			vg_http_respond_error(req, VG_EINVAL, "unknown member '%.32s' (only ttl)", k);
			ok = false;
			break;
		}
		const char *sv = json_string_value(v);
		double secs = json_is_number(v) ? json_number_value(v) : 0;
		if (json_is_null(v))
			continue;
		if (sv ? vg_rules_duration_parse(sv, strlen(sv), ret) != 0
		       : !json_is_number(v) || !(secs >= 0.001 && secs <= 1e12)) {
			vg_http_respond_error(req, VG_EINVAL,
					      "ttl must be a duration (\"24h\") or a number of seconds");
			ok = false;
			break;
		}
		if (!sv)
			*ret = (vg_usec)(secs * 1e6);
	}
	json_decref(body);
	return ok;
}

static void change(vg_api *api, vg_http_req *req, const vg__actor *who, bool remove)
{
	edit e = {.api = api, .s = vg__api_store(api, req), .who = who, .remove = remove};
	vg_usec ttl = 0;
	if (!e.s || !path_label(req, &e.l) || (!remove && !ttl_arg(req, &ttl)))
		return;
	e.l.expires_at = remove ? VG_LABEL_REMOVED : ttl ? vg_time_now() + ttl : 0;
	vg_error err;
	if (vg__api_rules_label_edit(api, &e.l, apply, &e, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	if (remove) {
		vg__json_respond(req, 200,
				 json_pack("{s:o,s:o,s:o,s:b}", "kind", vg__json_str(e.l.kind), "entity",
					   vg__json_str(e.l.entity), "name", vg__json_str(e.l.name),
					   "deleted", 1));
	} else {
		vg__json_respond(req, 200, label_json(&e.l));
	}
}

static void put(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	change(api, req, who, false);
}

static void delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	change(api, req, who, true);
}

const vg__api_route vg__label_routes[] = {
	{"GET", "/v1/labels", VG__ROLE_ANALYST, false, list},
	{"PUT", "/v1/labels/{kind}/{entity}/{name}", VG__ROLE_ANALYST, false, put},
	{"DELETE", "/v1/labels/{kind}/{entity}/{name}", VG__ROLE_ANALYST, false, delete},
};
const size_t vg__label_route_count = VG_ARRAY_LEN(vg__label_routes);
