/* SPDX-License-Identifier: Apache-2.0
 *
 * HMA 2.0 compatibility: the core routes of Meta's Hasher-Matcher-Actioner with its
 * request and response shapes, so that its clients can point at vigil unchanged (adding
 * only a bearer token: HMA has no authentication, vigil does not drop its own). They use
 * the same banks and indexes as /v1. Differences an HMA user should know:
 * - /h/hash hashes as HMA does (no 512x512 pre-resize: `--compat hma`), and like HMA
 *   answers "" for a hash of quality under 50, so clients never look one up.
 * - a bank's "bank_content_id" is vigil's signal id; each signal is its own content.
 * - bank names are vigil's lower-case slugs; HMA's upper-case names are lower-cased.
 * - HMA's per-bank enabled_ratio coin flip is 0 or 1 here: a bank is on or off.
 * - /m/raw_lookup answers from enabled banks only, as /m/lookup does, even for a bank its
 *   banks= names; HMA's ignores enable/disable. The match index holds enabled banks only
 *   (a disabled bank costs no memory), and a PDQ search of the disabled ones would read
 *   their every signal. /v1/match with "banks" does the same.
 * Changes are audited as /v1's are (bank.create, bank.update, bank.delete, signal.add,
 * with the same details), so an auditor finds them whichever API made them.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HMA_THRESHOLD 31
#define HMA_QUALITY_MIN 50 /* signal_type/pdq: QUALITY_THRESHOLD */

static void status(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	if (!api->ready)
		vg_http_respond(req, 503, "text/plain", "INDEX-NOT-LOADED", 16);
	else
		vg_http_respond(req, 200, "text/plain", "I-AM-ALIVE", 10);
}

static void hash_photo(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	size_t len;
	const uint8_t *body = vg_http_body(req, &len), *photo;
	size_t plen;
	int rc = vg__multipart_field(vg_http_header(req, "Content-Type"), body, len, "photo", &photo, &plen);
	if (rc) {
		vg_http_respond_error(req, rc == VG_ENOENT ? VG_EINVAL : rc,
				      "send one multipart/form-data file in a field named photo");
		return;
	}
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	o.hma = true;
	vg_image_result img;
	vg_error err;
	if (vg_image_hash(photo, plen, &o, &img, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	char hex[VG_PDQ_HEX_LEN + 1] = "";
	if (img.quality >= HMA_QUALITY_MIN)
		vg_pdq_to_hex(&img.pdq[0], hex);
	vg__json_respond(req, 200, json_pack("{s:s}", "pdq", hex));
}

/* Runs the query named by signal_type and signal into m. Answers 400 and returns false
 * on a bad type or value, as HMA does. */
static bool lookup(vg_api *api, vg_http_req *req, vg_store *s, const int64_t *banks, size_t nbanks,
		   vg_bank_matches *m)
{
	const char *type = vg_http_query(req, "signal_type"), *sig = vg_http_query(req, "signal");
	if (!type || !sig) {
		vg_http_respond_error(req, VG_EMALFORMED, "signal_type and signal are required");
		return false;
	}
	vg_error err;
	int rc;
	pthread_rwlock_rdlock(&api->index_lock);
	if (!strcmp(type, "pdq")) {
		vg_pdq q;
		rc = vg_pdq_from_hex(sig, strlen(sig), &q) ? vg_error_set(&err, VG_EMALFORMED, "invalid signal: "
											 "pdq needs 64 hex digits")
							   : vg_bank_match_pdq(api->index, s, &q, HMA_THRESHOLD,
									       banks, nbanks, m, &err);
	} else if (!strcmp(type, "md5") || !strcmp(type, "video_md5")) {
		uint8_t d[16];
		rc = vg_hex_decode(sig, strlen(sig), d, 16)
			     ? vg_error_set(&err, VG_EMALFORMED, "invalid signal: md5 needs 32 hex digits")
			     : vg_bank_match_digest(api->index, s, "md5", d, banks, nbanks, m, &err);
	} else {
		rc = vg_error_set(&err, VG_EMALFORMED, "No such SignalType '%.64s'", type);
	}
	pthread_rwlock_unlock(&api->index_lock);
	if (rc) {
		vg__respond_err(req, &err);
		return false;
	}
	vg_bank_matches_sort(m);
	return true;
}

static json_t *match_json(const vg_bank_match *x)
{
	char d[16];
	snprintf(d, sizeof(d), "%d", x->distance); /* HMA sends distances as strings */
	return json_pack("{s:I,s:s}", "bank_content_id", (json_int_t)x->signal_id, "distance", d);
}

static void m_lookup(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	vg_bank_matches m;
	vg_bank_matches_init(&m);
	if (lookup(api, req, s, NULL, 0, &m)) {
		json_t *out = json_object();
		for (size_t i = 0; i < m.n; i++) {
			json_t *arr = json_object_get(out, m.v[i].bank);
			if (!arr) {
				arr = json_array();
				json_object_set_new(out, m.v[i].bank, arr);
			}
			json_array_append_new(arr, match_json(&m.v[i]));
		}
		vg__json_respond(req, 200, out);
	}
	vg_bank_matches_done(&m);
}

static void m_raw_lookup(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	int64_t banks[64];
	size_t nbanks = 0;
	const char *bl = vg_http_query(req, "banks");
	if (bl && *bl) {
		char copy[4096];
		snprintf(copy, sizeof(copy), "%s", bl);
		for (char *save, *t = strtok_r(copy, ",", &save); t && nbanks < 64; t = strtok_r(NULL, ",", &save)) {
			vg_store_bank b;
			vg_error err;
			for (char *c = t; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			if (vg_store_bank_get(s, t, &b, &err) == 0) {
				banks[nbanks++] = b.id;
				vg_store_bank_done(&b);
			}
		}
		if (nbanks == 0) {
			vg__json_respond(req, 200, json_pack("{s:[]}", "matches"));
			return;
		}
	}
	const char *inc = vg_http_query(req, "include_distance");
	bool with_distance = inc && (!strcmp(inc, "true") || !strcmp(inc, "1"));
	vg_bank_matches m;
	vg_bank_matches_init(&m);
	if (lookup(api, req, s, banks, nbanks, &m)) {
		json_t *arr = json_array();
		for (size_t i = 0; i < m.n; i++)
			json_array_append_new(arr, with_distance ? match_json(&m.v[i])
								 : json_integer(m.v[i].signal_id));
		vg__json_respond(req, 200, json_pack("{s:o}", "matches", arr));
	}
	vg_bank_matches_done(&m);
}

static void m_compare(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	json_t *out = json_object();
	const char *key;
	json_t *pair;
	json_object_foreach(body, key, pair)
	{
		if (!json_is_array(pair) || json_array_size(pair) != 2) {
			vg_http_respond_error(req, VG_EMALFORMED, "Comparison hash list length must be exactly 2");
			goto out;
		}
		const char *a = json_string_value(json_array_get(pair, 0)), *b = json_string_value(json_array_get(pair, 1));
		int d;
		bool match;
		if (!strcmp(key, "pdq")) {
			vg_pdq x, y;
			if (!a || !b || vg_pdq_from_hex(a, strlen(a), &x) || vg_pdq_from_hex(b, strlen(b), &y)) {
				vg_http_respond_error(req, VG_EMALFORMED, "Invalid pdq hash");
				goto out;
			}
			d = vg_pdq_distance(&x, &y);
			match = d <= HMA_THRESHOLD;
		} else if (!strcmp(key, "md5") || !strcmp(key, "video_md5")) {
			uint8_t x[16], y[16];
			if (!a || !b || vg_hex_decode(a, strlen(a), x, 16) || vg_hex_decode(b, strlen(b), y, 16)) {
				vg_http_respond_error(req, VG_EMALFORMED, "Invalid %s hash", key);
				goto out;
			}
			d = memcmp(x, y, 16) != 0;
			match = d == 0;
		} else {
			vg_http_respond_error(req, VG_EMALFORMED, "No such SignalType '%.64s'", key);
			goto out;
		}
		json_object_set_new(out, key, json_pack("[b,{s:i}]", match, "distance", d));
	}
	vg__json_respond(req, 200, out);
	out = NULL;
out:
	json_decref(out);
	json_decref(body);
}

static json_t *hma_bank(const vg_store_bank *b)
{
	return json_pack("{s:s,s:f}", "name", b->name, "matching_enabled_ratio", b->enabled ? 1.0 : 0.0);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void c_banks(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	vg_store_bank *banks;
	size_t n;
	vg_error err;
	if (vg_store_bank_list(s, &banks, &n, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, hma_bank(&banks[i]));
	vg_store_bank_list_free(banks, n);
	vg__json_respond(req, 200, arr);
}

/* enabled / enabled_ratio of a body, as HMA reads them; -1 when absent. */
static int enabled_of(json_t *body)
{
	json_t *r = json_object_get(body, "enabled_ratio"), *e = json_object_get(body, "enabled");
	if (json_is_number(r))
		return json_number_value(r) > 0;
	if (json_is_boolean(e))
		return json_is_true(e);
	return -1;
}

static void c_bank_create(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	json_t *body = s ? vg__json_body(req) : NULL;
	if (!body)
		return;
	char name[VG_STORE_NAME_MAX + 1];
	const char *n = json_string_value(json_object_get(body, "name"));
	vg_error err;
	int rc;
	snprintf(name, sizeof(name), "%s", n ? n : "");
	lower(name);
	if (!n || strlen(n) > VG_STORE_NAME_MAX || !vg_bank_name_valid(name)) {
		vg_http_respond_error(req, VG_EMALFORMED, "Bank names must be letters, digits, _ or -");
		goto out;
	}
	int en = enabled_of(body);
	rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_bank_create(s, name, "", &err);
	if (!rc && en == 0) {
		bool f = false;
		vg_store_bank_patch p = {.enabled = &f};
		rc = vg_store_bank_update(s, name, &p, &err);
	}
	if (!rc) {
		/* As /v1's, and a bank created disabled says so. */
		json_t *d = en == 0 ? json_pack("{s:s,s:b}", "description", "", "enabled", 0)
				    : json_pack("{s:s}", "description", "");
		rc = vg__api_audit(api, s, who->name, "bank.create", "bank", name, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (rc) {
		vg__respond_err(req, &err);
		goto out;
	}
	vg_store_bank b;
	if (vg_store_bank_get(s, name, &b, &err) == 0) {
		vg__json_respond(req, 201, hma_bank(&b));
		vg_store_bank_done(&b);
	} else {
		vg__respond_err(req, &err);
	}
out:
	json_decref(body);
}

static bool bank_param(vg_http_req *req, char name[VG_STORE_NAME_MAX + 1])
{
	const char *p = vg_http_param(req, "name");
	if (!p || strlen(p) > VG_STORE_NAME_MAX) {
		vg_http_respond_error(req, VG_ENOENT, "Bank not found");
		return false;
	}
	snprintf(name, VG_STORE_NAME_MAX + 1, "%s", p);
	lower(name);
	return true;
}

static void c_bank_get(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	char name[VG_STORE_NAME_MAX + 1];
	if (!s || !bank_param(req, name))
		return;
	vg_store_bank b;
	vg_error err;
	if (vg_store_bank_get(s, name, &b, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	vg__json_respond(req, 200, hma_bank(&b));
	vg_store_bank_done(&b);
}

static void c_bank_put(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	char name[VG_STORE_NAME_MAX + 1];
	if (!s || !bank_param(req, name))
		return;
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	const char *rename = json_string_value(json_object_get(body, "name"));
	int en = enabled_of(body);
	vg_error err;
	int rc = 0;
	if (rename && strcasecmp(rename, name) != 0) {
		vg_http_respond_error(req, VG_EINVAL, "renaming banks is not supported");
		goto out;
	}
	if (en >= 0) {
		bool e = en;
		vg_store_bank_patch p = {.enabled = &e};
		rc = vg_store_begin(s, &err);
		if (!rc)
			rc = vg_store_bank_update(s, name, &p, &err);
		if (!rc) {
			json_t *d = json_pack("{s:b}", "enabled", e);
			rc = vg__api_audit(api, s, who->name, "bank.update", "bank", name, d, &err);
			json_decref(d);
		}
		rc = vg__api_finish_banks(api, s, rc, &err);
		if (!rc)
			rc = vg__api_reindex(api, s, &err);
	}
	if (rc)
		vg__respond_err(req, &err);
	else
		c_bank_get(api, req, who);
out:
	json_decref(body);
}

static void c_bank_delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	char name[VG_STORE_NAME_MAX + 1];
	if (!s || !bank_param(req, name))
		return;
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_bank_delete(s, name, &err);
	if (!rc)
		rc = vg__api_audit(api, s, who->name, "bank.delete", "bank", name, NULL, &err);
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (!rc)
		rc = vg__api_reindex(api, s, &err);
	if (rc && rc != VG_ENOENT) /* HMA answers Done for a missing bank too */
		vg__respond_err(req, &err);
	else
		vg__json_respond(req, 200, json_pack("{s:s}", "message", "Done"));
}

static void c_bank_signal(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	char name[VG_STORE_NAME_MAX + 1];
	if (!s || !bank_param(req, name))
		return;
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	vg_store_bank b = {0};
	vg_error err;
	json_t *signals = json_object();
	int64_t first = 0;
	int rc = vg_store_bank_get(s, name, &b, &err);
	if (rc) {
		vg__respond_err(req, &err);
		goto out;
	}
	json_t *note = json_object_get(body, "note");
	char *meta = NULL;
	if (json_is_string(note)) {
		json_t *m = json_pack("{s:O}", "note", note);
		meta = json_dumps(m, JSON_COMPACT);
		json_decref(m);
	}
	struct {
		int64_t id;
		char type[16], value[VG_BANK_VALUE_BUF];
	} added[8];
	size_t nadded = 0, revived = 0, dup = 0;
	rc = vg_store_begin(s, &err);
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val)
	{
		if (rc || !strcmp(key, "note"))
			continue;
		const char *type = !strcmp(key, "video_md5") ? "md5" : key;
		const char *v = json_string_value(val);
		if (!v || !vg_bank_type_known(type) || nadded >= 8) {
			rc = vg_error_set(&err, VG_EMALFORMED, "No such signal type %.64s", key);
			break;
		}
		int64_t id;
		vg_store_add_result res;
		rc = vg_bank_signal_add(s, b.id, type, v, meta, &id, &res, &err);
		if (rc)
			break;
		if (!first)
			first = id;
		revived += res == VG_STORE_REVIVED;
		dup += res == VG_STORE_DUPLICATE;
		char norm[VG_BANK_VALUE_BUF];
		if (vg_bank_value_normalize(type, v, strlen(v), norm, &err) == 0) {
			json_object_set_new(signals, key, json_string(norm));
			added[nadded].id = id;
			snprintf(added[nadded].type, sizeof(added[0].type), "%s", type);
			snprintf(added[nadded].value, sizeof(added[0].value), "%s", norm);
			nadded++;
		}
	}
	free(meta);
	if (!rc && nadded == 0)
		rc = vg_error_set(&err, VG_EMALFORMED, "No signals given");
	if (!rc) {
		json_t *d = json_pack("{s:i,s:i,s:i}", "added", (int)(nadded - revived - dup),
				      "revived", (int)revived, "duplicates", (int)dup);
		rc = vg__api_audit(api, s, who->name, "signal.add", "bank", name, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (rc) {
		vg__respond_err(req, &err);
		goto out;
	}
	if (b.enabled) {
		pthread_rwlock_wrlock(&api->index_lock);
		for (size_t i = 0; i < nadded; i++)
			if (vg_bank_index_add(api->index, added[i].id, added[i].type, added[i].value, &err) != 0)
				vg_log(VG_LOG_WARN, "index.add_failed", "signal=%lld", (long long)added[i].id);
		pthread_rwlock_unlock(&api->index_lock);
	}
	vg__api_followed_update(api, s, name);
	vg__json_respond(req, 200, json_pack("{s:I,s:O}", "id", (json_int_t)first, "signals", signals));
out:
	vg_store_bank_done(&b);
	json_decref(signals);
	json_decref(body);
}

const vg__api_route vg__hma_routes[] = {
	{"GET", "/status", VG__ROLE_PUBLIC, false, status},
	{"POST", "/h/hash", VG__ROLE_SCANNER | VG__ROLE_ANALYST, true, hash_photo},
	{"GET", "/m/lookup", VG__ROLE_SCANNER | VG__ROLE_ANALYST, false, m_lookup},
	{"GET", "/m/raw_lookup", VG__ROLE_SCANNER | VG__ROLE_ANALYST, false, m_raw_lookup},
	{"POST", "/m/compare", VG__ROLE_SCANNER | VG__ROLE_ANALYST, false, m_compare},
	{"GET", "/c/banks", VG__ROLE_ANALYST, false, c_banks},
	{"POST", "/c/banks", VG__ROLE_ADMIN, false, c_bank_create},
	{"GET", "/c/bank/{name}", VG__ROLE_ANALYST, false, c_bank_get},
	{"PUT", "/c/bank/{name}", VG__ROLE_ADMIN, false, c_bank_put},
	{"DELETE", "/c/bank/{name}", VG__ROLE_ADMIN, false, c_bank_delete},
	{"POST", "/c/bank/{name}/signal", VG__ROLE_ANALYST, false, c_bank_signal},
};
const size_t vg__hma_route_count = VG_ARRAY_LEN(vg__hma_routes);
