/* SPDX-License-Identifier: Apache-2.0
 *
 * JSON in and out for every resource (jansson): bodies are parsed with a size already
 * bounded by the route, must be one object, and fail with the API's error shape; answers
 * are compact JSON with a trailing newline.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

void vg__json_respond(vg_http_req *req, int status, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text) {
		vg_http_respond_error(req, VG_ENOMEM, "could not encode the answer");
		return;
	}
	size_t n = strlen(text);
	char *line = vg_arena_alloc(vg_http_arena(req), n + 2);
	if (!line) {
		free(text);
		vg_http_respond_error(req, VG_ENOMEM, "answer too large");
		return;
	}
	memcpy(line, text, n);
	line[n] = '\n';
	free(text);
	vg_http_respond(req, status, "application/json", line, n + 1);
}

bool vg__json_content_type(vg_http_req *req, bool required)
{
	const char *ct = vg_http_header(req, "Content-Type");
	if (!ct && required) {
		vg_http_respond_error(req, VG_EUNSUPPORTED, "send application/json");
		return false;
	}
	if (ct && strncmp(ct, "application/json", 16) != 0) {
		vg_http_respond_error(req, VG_EUNSUPPORTED, "send application/json, not %.64s", ct);
		return false;
	}
	return true;
}

json_t *vg__json_body(vg_http_req *req)
{
	if (!vg__json_content_type(req, false))
		return NULL;
	size_t len;
	const uint8_t *body = vg_http_body(req, &len);
	json_error_t jerr;
	/* Any JSON value parses, so that valid JSON of the wrong shape gets 422, not 400. */
	json_t *obj = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
				 &jerr);
	if (!obj) {
		vg_http_respond_error(req, VG_EMALFORMED, "malformed JSON at line %d column %d: %s",
				      jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		vg_http_respond_error(req, VG_EINVAL, "the body must be a JSON object");
		return NULL;
	}
	return obj;
}

void vg__respond_err(vg_http_req *req, const vg_error *err)
{
	vg_http_respond_error(req, err->code, "%s", err->msg[0] ? err->msg : vg_error_message(err->code));
}

json_t *vg__json_str(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	/* Not valid UTF-8: quote it the tolerant way and parse that back. */
	size_t n = strlen(s), cap = 6 * n + 3;
	char *q = malloc(cap);
	if (!q)
		return json_null();
	vg_json_quote(s, n, q, cap);
	j = json_loads(q, JSON_DECODE_ANY, NULL);
	free(q);
	return j ? j : json_null();
}

json_t *vg__json_time(vg_usec t)
{
	if (t <= 0)
		return json_null();
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char buf[64];
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(t / 1000 % 1000));
	return json_string(buf);
}
