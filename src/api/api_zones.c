/* SPDX-License-Identifier: Apache-2.0
 *
 * Zones, whose site a reported URL is on: GET/POST /v1/zones and GET/PATCH/DELETE
 * /v1/zones/{id} (admin), and the lookup report intake uses. A zone is a lower-case
 * hostname or registrable domain with the owner's and the host's contacts (email,
 * webhook URL). The most specific zone wins: the URL's exact host, then each parent
 * domain up to the registrable domain (vg_url_registrable_domain), then each parent that
 * is a public suffix of the PSL's private section (a platform's own domain, "github.io":
 * one operator owns it, and its customers' sites are its sites). Never an ICANN public
 * suffix, so "co.uk" can never claim every site under it; such a zone is refused.
 *
 * Every change is audited in the transaction that makes it.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

/* The secret is write-only: whether one is set, never what it is. */
static json_t *contact_json(const char *email, const char *webhook, const char *secret)
{
	return json_pack("{s:o,s:o,s:b}", "email", vg__json_str(email), "webhook_url",
			 vg__json_str(webhook), "webhook_secret_set", secret && *secret);
}

static json_t *zone_json(const vg_store_zone *z)
{
	return json_pack("{s:I,s:s,s:o,s:o,s:o,s:o}", "id", (json_int_t)z->id, "name", z->name,
			 "owner_contact",
			 contact_json(z->owner_email, z->owner_webhook_url, z->owner_webhook_secret),
			 "host_contact",
			 contact_json(z->host_email, z->host_webhook_url, z->host_webhook_secret),
			 "created_at", vg__json_time(z->created_at), "updated_at",
			 vg__json_time(z->updated_at));
}

int vg__api_zone_resolve(vg_store *s, const char *canonical_url, vg_store_zone *ret,
			 vg_error *err)
{
	char host[256], reg[256];
	if (vg_url_host(canonical_url, host, sizeof(host)) != 0 ||
	    vg_url_registrable_domain(host, reg, sizeof(reg)) != 0)
		return vg_error_set(err, VG_ENOENT, "no zone");
	size_t rlen = strlen(reg);
	for (const char *h = host; h && *h;) {
		int rc = vg_store_zone_find(s, h, ret, err);
		if (rc != VG_ENOENT)
			return rc;
		/* At the registrable domain, go on only through private-section suffixes:
		 * without them a zone named "github.io" covered none of its users' sites. */
		bool past = strlen(h) <= rlen;
		h = strchr(h, '.');
		h = h ? h + 1 : NULL;
		if (past && h && vg_url_public_suffix(h) != VG_URL_SUFFIX_PRIVATE)
			break;
	}
	return vg_error_set(err, VG_ENOENT, "no zone");
}

/* A zone name: a lower-case DNS name of 1 to 253 bytes (letters, digits, '-', '.'). */
static bool name_ok(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	if (len < 1 || len > 253 || n[0] == '.' || n[len - 1] == '.' || strstr(n, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)n[i]) || isdigit((unsigned char)n[i]) || n[i] == '-' ||
		      n[i] == '.'))
			return false;
	return true;
}

/* Reads {"email"?, "webhook_url"?, "webhook_secret"?} into the three pointers (borrowed
 * from body); a missing member leaves NULL, null gives "" (clear). False with a 422
 * answered when bad. */
static bool contact_arg(vg_http_req *req, json_t *body, const char *key, const char **email,
			const char **webhook, const char **secret)
{
	json_t *c = json_object_get(body, key);
	if (!c)
		return true;
	if (!json_is_object(c)) {
		vg_http_respond_error(req, VG_EINVAL, "%s must be an object", key);
		return false;
	}
	const char *k;
	json_t *v;
	json_object_foreach(c, k, v)
	{
		const char **out = !strcmp(k, "email")		? email
				   : !strcmp(k, "webhook_url")	? webhook
				   : !strcmp(k, "webhook_secret") ? secret
								  : NULL;
		if (!out) {
			vg_http_respond_error(req, VG_EINVAL, "%s has an unknown member", key);
			return false;
		}
		if (json_is_null(v)) {
			*out = "";
			continue;
		}
		const char *sv = json_string_value(v);
		if (out == secret) {
			if (!sv || strlen(sv) > 256) {
				vg_http_respond_error(req, VG_EINVAL,
						      "%s: webhook_secret must be a string of at most "
						      "256 bytes",
						      key);
				return false;
			}
			*out = sv;
			continue;
		}
		if (!sv || strlen(sv) > 2048 ||
		    (out == webhook && *sv && strncmp(sv, "http://", 7) && strncmp(sv, "https://", 8))) {
			vg_http_respond_error(req, VG_EINVAL,
					      "%s: email must be an address, webhook_url an http(s) URL", key);
			return false;
		}
		/* The worker's own test: an address it would refuse ("Abuse <a@b>", "a@b,
		 * c@d") would make every notification to this zone dead at once. */
		if (out == email && *sv && !vg_email_address_ok(sv)) {
			vg_http_respond_error(req, VG_EINVAL,
					      "%s: email must be one plain address (local@domain, at "
					      "most 254 bytes): no name, no <>, no list",
					      key);
			return false;
		}
		*out = sv;
	}
	return true;
}

static void respond_zone(vg_http_req *req, vg_store *s, int64_t id, int status)
{
	vg_store_zone z;
	vg_error err;
	if (vg_store_zone_get(s, id, &z, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	vg__json_respond(req, status, zone_json(&z));
	vg_store_zone_done(&z);
}

/* The audit entry of a change to zone id, named name, in the caller's transaction; with
 * z (the change), whether it set or cleared a webhook secret, never the secret. */
static int audited(vg_api *api, vg_store *s, const vg__actor *who, const char *action,
		   int64_t id, const char *name, const vg_store_zone *z, vg_error *err)
{
	(void)api;
	char sid[24];
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	json_t *d = json_pack("{s:s}", "name", name);
	if (z && z->owner_webhook_secret)
		json_object_set_new(d, "owner_webhook_secret",
				    json_string(*z->owner_webhook_secret ? "(set)" : "(cleared)"));
	if (z && z->host_webhook_secret)
		json_object_set_new(d, "host_webhook_secret",
				    json_string(*z->host_webhook_secret ? "(set)" : "(cleared)"));
	char *dt = json_dumps(d, JSON_COMPACT);
	int rc = vg_store_audit_append(s, who->name, action, "zone", sid, dt, NULL, err);
	free(dt);
	json_decref(d);
	return rc;
}

static void create(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	json_t *body = s ? vg__json_body(req) : NULL;
	if (!body)
		return;
	vg_store_zone z = {0};
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "name") && strcmp(k, "owner_contact") && strcmp(k, "host_contact")) {
			vg_http_respond_error(req, VG_EINVAL, "unknown member '%.32s'", k);
			goto out;
		}
	}
	z.name = (char *)json_string_value(json_object_get(body, "name"));
	if (!name_ok(z.name)) {
		vg_http_respond_error(req, VG_EINVAL,
				      "name must be a lower-case hostname or registrable domain");
		goto out;
	}
	/* Accepted, it could only ever match the bare suffix ("http://co.uk/"): a zone that
	 * silently covers nothing, every report under it not_ours. */
	if (vg_url_public_suffix(z.name) == VG_URL_SUFFIX_ICANN) {
		vg_http_respond_error(
			req, VG_EINVAL,
			"name is a public suffix: it would claim every site under it; "
			"name a registrable domain or a host");
		goto out;
	}
	if (!contact_arg(req, body, "owner_contact", (const char **)&z.owner_email,
			 (const char **)&z.owner_webhook_url, (const char **)&z.owner_webhook_secret) ||
	    !contact_arg(req, body, "host_contact", (const char **)&z.host_email,
			 (const char **)&z.host_webhook_url, (const char **)&z.host_webhook_secret))
		goto out;
	vg_error err;
	int64_t id = 0;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_zone_create(s, &z, &id, &err);
	if (!rc)
		rc = audited(api, s, who, "zone.create", id, z.name, &z, &err);
	rc = vg__api_finish(s, rc, &err);
	if (rc)
		vg__respond_err(req, &err);
	else
		respond_zone(req, s, id, 201);
out:
	json_decref(body);
}

static void list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	vg_store *s = vg__api_store(api, req);
	vg__page page;
	if (!s || !vg__api_page(req, &page))
		return;
	vg_store_zone *zs;
	size_t n;
	vg_error err;
	if (vg_store_zone_list(s, page.after, page.limit, &zs, &n, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, zone_json(&zs[i]));
	vg_store_zone_list_free(zs, n);
	vg__api_page_respond(req, arr, page.limit);
}

static void get(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	(void)who;
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (s && vg__api_id_param(req, "id", &id))
		respond_zone(req, s, id, 200);
}

static void patch(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	vg_store_zone z = {.id = id};
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "owner_contact") && strcmp(k, "host_contact")) {
			vg_http_respond_error(req, VG_EINVAL,
					      "only owner_contact and host_contact can change");
			goto out;
		}
	}
	if (!contact_arg(req, body, "owner_contact", (const char **)&z.owner_email,
			 (const char **)&z.owner_webhook_url, (const char **)&z.owner_webhook_secret) ||
	    !contact_arg(req, body, "host_contact", (const char **)&z.host_email,
			 (const char **)&z.host_webhook_url, (const char **)&z.host_webhook_secret))
		goto out;
	vg_error err;
	/* The name for the audit entry, read in the transaction that changes the zone. */
	vg_store_zone was = {0};
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_zone_get(s, id, &was, &err);
	if (!rc)
		rc = vg_store_zone_update(s, &z, &err);
	if (!rc)
		rc = audited(api, s, who, "zone.update", id, was.name, &z, &err);
	vg_store_zone_done(&was);
	rc = vg__api_finish(s, rc, &err);
	if (rc)
		vg__respond_err(req, &err);
	else
		respond_zone(req, s, id, 200);
out:
	json_decref(body);
}

static void delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	int64_t id;
	vg_store *s = vg__api_store(api, req);
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	vg_error err;
	/* The name for the audit entry, read before the zone is gone. */
	vg_store_zone was = {0};
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_zone_get(s, id, &was, &err);
	if (!rc)
		rc = vg_store_zone_delete(s, id, &err);
	if (!rc)
		rc = audited(api, s, who, "zone.delete", id, was.name, NULL, &err);
	vg_store_zone_done(&was);
	rc = vg__api_finish(s, rc, &err);
	if (rc)
		vg__respond_err(req, &err);
	else
		vg__json_respond(req, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
}

const vg__api_route vg__zone_routes[] = {
	{"GET", "/v1/zones", VG__ROLE_ADMIN, false, list},
	{"POST", "/v1/zones", VG__ROLE_ADMIN, false, create},
	{"GET", "/v1/zones/{id}", VG__ROLE_ADMIN, false, get},
	{"PATCH", "/v1/zones/{id}", VG__ROLE_ADMIN, false, patch},
	{"DELETE", "/v1/zones/{id}", VG__ROLE_ADMIN, false, delete},
};
const size_t vg__zone_route_count = VG_ARRAY_LEN(vg__zone_routes);
