/* SPDX-License-Identifier: Apache-2.0
 *
 * POST /v1/hash (an image in, its hashes out) and POST /v1/match (a hash, or an image,
 * in; the matches out, as `vigil match --json` prints them). The image exists only in
 * the request body and the decoder's buffers; nothing of it is kept or logged.
 */
#include <stdlib.h>
#include <string.h>

#include "hash/hash.h"
#include "internal.h"

#define MAX_BANK_FILTER 64

/* Hashes the request body as an image. On failure answers (415 for what is not an
 * image, 422 for a corrupt one, 413 for one over the pixel limit) and returns false. */
bool vg__api_hash_body(vg_http_req *req, bool dihedral, vg_image_result *img, vg_digests *dig)
{
	size_t len;
	const uint8_t *body = vg_http_body(req, &len);
	if (len == 0) {
		vg_http_respond_error(req, VG_EMALFORMED, "the body must be an image");
		return false;
	}
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	o.dihedral = dihedral;
	vg_error err;
	if (vg_image_hash(body, len, &o, img, &err) != 0) {
		vg__respond_err(req, &err);
		return false;
	}
	vg_digests_compute(body, len, dig);
	return true;
}

json_t *vg__api_hashes_json(const vg_image_result *img, const vg_digests *dig)
{
	char pdq[VG_PDQ_HEX_LEN + 1], md5[33], sha[65];
	vg_pdq_to_hex(&img->pdq[0], pdq);
	vg_hex_encode(dig->md5, 16, md5);
	vg_hex_encode(dig->sha256, 32, sha);
	return json_pack("{s:s,s:i,s:s,s:s,s:i,s:i,s:s}", "pdq", pdq, "quality", img->quality, "md5",
			 md5, "sha256", sha, "width", (int)img->width, "height", (int)img->height,
			 "format", vg_image_format_name(img->format));
}

static void hash_image(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_image_result img;
	vg_digests dig;
	if (vg__api_hash_body(req, false, &img, &dig))
		vg__json_respond(req, 200, vg__api_hashes_json(&img, &dig));
}

/* Resolves bank names to ids; answers 404 for an unknown one. n_ret 0 means all. */
static bool bank_filter(vg_api *api, vg_http_req *req, vg_store *s, json_t *names,
			int64_t *ids, size_t *ret_n)
{
	*ret_n = 0;
	if (!names || json_is_null(names))
		return true;
	if (!json_is_array(names) || json_array_size(names) > MAX_BANK_FILTER) {
		vg_http_respond_error(req, VG_EINVAL, "banks must be an array of at most %d names",
				      MAX_BANK_FILTER);
		return false;
	}
	size_t i;
	json_t *v;
	json_array_foreach(names, i, v)
	{
		vg_store_bank b;
		vg_error err;
		if (!json_is_string(v)) {
			vg_http_respond_error(req, VG_EINVAL, "banks[%zu] must be a string", i);
			return false;
		}
		if (vg_store_bank_get(s, json_string_value(v), &b, &err) != 0) {
			vg__respond_err(req, &err);
			return false;
		}
		ids[(*ret_n)++] = b.id;
		vg_store_bank_done(&b);
	}
	return true;
}

int vg__api_match_image(vg_api *api, vg_store *s, const vg_image_result *img, const vg_digests *dig,
			int threshold, bool dihedral, const int64_t *banks, size_t nbanks,
			vg_bank_matches *m, vg_error *err)
{
	/* Exact digests first: they are few and certain, so a limit on m (the scan's) is
	 * spent on them before the PDQ hits, which come closest first. */
	int rc = 0;
	pthread_rwlock_rdlock(&api->index_lock);
	rc = vg_bank_match_digest(api->index, s, "md5", dig->md5, banks, nbanks, m, err);
	if (!rc)
		rc = vg_bank_match_digest(api->index, s, "sha256", dig->sha256, banks, nbanks, m, err);
	if (!rc && img->quality >= VG__CFG(api, quality_floor))
		for (int v = 0; v < (dihedral ? VG_DIH_COUNT : 1) && !rc; v++)
			rc = vg_bank_match_pdq(api->index, s, &img->pdq[v], threshold, banks,
					       nbanks, m, err);
	pthread_rwlock_unlock(&api->index_lock);
	vg_bank_matches_sort(m);
	for (size_t i = 0; i < m->n && !rc; i++)
		vg__api_count_match(api, m->v[i].bank);
	return rc;
}

static void match_json(vg_api *api, vg_http_req *req, vg_store *s)
{
	json_t *body = vg__json_body(req);
	if (!body)
		return;
	int64_t banks[MAX_BANK_FILTER];
	size_t nbanks = 0;
	vg_bank_matches m;
	vg_bank_matches_init(&m);
	vg_error err = {0};
	int rc = 0;
	json_t *th = json_object_get(body, "threshold");
	const char *pdq = json_string_value(json_object_get(body, "pdq"));
	const char *md5 = json_string_value(json_object_get(body, "md5"));
	const char *sha = json_string_value(json_object_get(body, "sha256"));
	int threshold = (int)VG__CFG(api, threshold);
	if (th && (!json_is_integer(th) || json_integer_value(th) < 0 || json_integer_value(th) > 63)) {
		vg_http_respond_error(req, VG_EINVAL, "threshold must be an integer from 0 to 63");
		goto out;
	}
	if (th)
		threshold = (int)json_integer_value(th);
	if (!!pdq + !!md5 + !!sha != 1) {
		vg_http_respond_error(req, VG_EINVAL, "give exactly one of pdq, md5, sha256 (a hex string)");
		goto out;
	}
	if (!bank_filter(api, req, s, json_object_get(body, "banks"), banks, &nbanks))
		goto out;
	pthread_rwlock_rdlock(&api->index_lock);
	if (pdq) {
		vg_pdq q;
		if (vg_pdq_from_hex(pdq, strlen(pdq), &q) != 0)
			rc = vg_error_set(&err, VG_EINVAL, "pdq must be 64 hex digits");
		else
			rc = vg_bank_match_pdq(api->index, s, &q, threshold, banks, nbanks, &m, &err);
	} else {
		uint8_t d[32];
		size_t dl = md5 ? 16 : 32;
		const char *hex = md5 ? md5 : sha;
		if (vg_hex_decode(hex, strlen(hex), d, dl) != 0)
			rc = vg_error_set(&err, VG_EINVAL, "%s must be %zu hex digits", md5 ? "md5" : "sha256", 2 * dl);
		else
			rc = vg_bank_match_digest(api->index, s, md5 ? "md5" : "sha256", d, banks, nbanks, &m, &err);
	}
	pthread_rwlock_unlock(&api->index_lock);
	if (rc) {
		vg__respond_err(req, &err);
		goto out;
	}
	vg_bank_matches_sort(&m);
	for (size_t i = 0; i < m.n; i++)
		vg__api_count_match(api, m.v[i].bank);
	json_t *query = json_pack("{s:s,s:s}", "type", pdq ? "pdq" : md5 ? "md5" : "sha256", "value",
				  pdq ? pdq : md5 ? md5 : sha);
	vg__json_respond(req, 200, json_pack("{s:o,s:o}", "query", query, "matches",
					      vg_bank_matches_json(&m)));
out:
	vg_bank_matches_done(&m);
	json_decref(body);
}

static void match(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	const char *ct = vg_http_header(req, "Content-Type");
	if (ct && !strncmp(ct, "application/json", 16)) {
		match_json(api, req, s);
		return;
	}
	/* An image: threshold and banks come from the query string. */
	int threshold = (int)VG__CFG(api, threshold);
	const char *th = vg_http_query(req, "threshold");
	if (th) {
		char *end;
		long v = strtol(th, &end, 10);
		if (*end || end == th || v < 0 || v > 63) {
			vg_http_respond_error(req, VG_EINVAL, "threshold must be an integer from 0 to 63");
			return;
		}
		threshold = (int)v;
	}
	vg_image_result img;
	vg_digests dig;
	if (!vg__api_hash_body(req, false, &img, &dig))
		return;
	vg_bank_matches m;
	vg_bank_matches_init(&m);
	vg_error err;
	if (vg__api_match_image(api, s, &img, &dig, threshold, false, NULL, 0, &m, &err) != 0) {
		vg__respond_err(req, &err);
	} else {
		json_t *out = vg__api_hashes_json(&img, &dig);
		json_object_set_new(out, "low_quality", json_boolean(img.quality < VG__CFG(api, quality_floor)));
		json_object_set_new(out, "matches", vg_bank_matches_json(&m));
		vg__json_respond(req, 200, out);
	}
	vg_bank_matches_done(&m);
}

const vg__api_route vg__hash_routes[] = {
	{"POST", "/v1/hash", VG__ROLE_SCANNER | VG__ROLE_ANALYST, true, hash_image},
	{"POST", "/v1/match", VG__ROLE_SCANNER | VG__ROLE_ANALYST, true, match},
};
const size_t vg__hash_route_count = VG_ARRAY_LEN(vg__hash_routes);
