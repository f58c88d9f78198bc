/* SPDX-License-Identifier: Apache-2.0
 *
 * The differential oracle for the event decoder (src/rules/rules_json.c): jansson's
 * json_loadb(..., 0) on the same bytes. Shared by the fuzz target and the unit tests.
 * Both must accept and reject alike (within our depth and node bounds), and what both
 * accept must hold the same values: same types (integer or real), same numbers, same
 * strings byte for byte, and for repeated keys the last value, as jansson keeps it.
 * One difference is by design: an integer past int64, which jansson refuses, the decoder
 * reads as a real. For a document jansson refuses for a numeric overflow, the oracle is
 * jansson with JSON_DECODE_INT_AS_REAL, every integer then compared as a real.
 */
#ifndef VG_EVENT_ORACLE_H
#define VG_EVENT_ORACLE_H

#include <jansson.h>
#include <string.h>

#include "rules/rules.h"

static int oracle_depth(json_t *j)
{
	int d = 0;
	if (json_is_object(j)) {
		const char *k;
		json_t *v;
		json_object_foreach(j, k, v) {
			int c = oracle_depth(v);
			d = c > d ? c : d;
		}
		return d + 1;
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *v;
		json_array_foreach(j, i, v) {
			int c = oracle_depth(v);
			d = c > d ? c : d;
		}
		return d + 1;
	}
	return 0;
}

/* True when node i of doc holds the same value as j; with reals, j was decoded with
 * JSON_DECODE_INT_AS_REAL. */
static bool oracle_same(const vg_json_doc *doc, size_t i, json_t *j, bool reals)
{
	const vg_json_node *n = &doc->nodes[i];
	switch (n->type) {
	case VG_JSON_NULL: return json_is_null(j);
	case VG_JSON_TRUE: return json_is_true(j);
	case VG_JSON_FALSE: return json_is_false(j);
	case VG_JSON_INT:
		/* Both round the same exact integer to the nearest double. */
		return reals ? json_is_real(j) && json_real_value(j) == (double)n->v.i
			     : json_is_integer(j) && json_integer_value(j) == n->v.i;
	case VG_JSON_REAL: return json_is_real(j) && json_real_value(j) == n->v.d;
	case VG_JSON_STRING:
		return json_is_string(j) && json_string_length(j) == n->len &&
		       memcmp(json_string_value(j), n->v.str, n->len) == 0;
	case VG_JSON_ARRAY: {
		if (!json_is_array(j) || json_array_size(j) != n->len)
			return false;
		size_t k = i + 1;
		for (uint32_t e = 0; e < n->len; e++) {
			if (!oracle_same(doc, k, json_array_get(j, e), reals))
				return false;
			k = doc->nodes[k].next;
		}
		return true;
	}
	case VG_JSON_OBJECT: {
		if (!json_is_object(j))
			return false;
		size_t k = i + 1, unique = 0;
		for (uint32_t m = 0; m < n->len; m++) {
			const vg_json_node *key = &doc->nodes[k];
			/* Only the last occurrence of a key counts; it is what jansson kept. */
			long last = vg_json_get(doc, i, key->v.str);
			if (last == (long)(k + 1)) {
				unique++;
				json_t *v = json_object_getn(j, key->v.str, key->len);
				if (!v || !oracle_same(doc, k + 1, v, reals))
					return false;
			}
			k = doc->nodes[k + 1].next;
		}
		return unique == json_object_size(j);
	}
	}
	return false;
}

/* 0 when the decoder and jansson agree on data; otherwise which check failed. Keys with
 * embedded NULs cannot occur: both refuse \u0000. */
static int oracle_check(vg_json_doc *doc, const char *data, size_t size)
{
	vg_error err;
	int rc = vg_json_decode(doc, data, size, &err);
	/* A raw NUL is never valid JSON (RFC 8259), but jansson's json_loadb may stop at one
	 * and accept what came before it: the oracle is wrong there, so check refusal only. */
	if (memchr(data, '\0', size))
		return rc == 0 ? 1 : 0;
	json_error_t jerr;
	json_t *j = json_loadb(data, size, 0, &jerr);
	bool reals = !j && json_error_code(&jerr) == json_error_numeric_overflow;
	if (reals)
		j = json_loadb(data, size, JSON_DECODE_INT_AS_REAL, &jerr);
	int bad = 0;
	if (rc == 0) {
		if (!j || !json_is_object(j))
			bad = 1; /* we accepted what jansson refuses */
		else if (!oracle_same(doc, 0, j, reals))
			bad = 2; /* different values */
	} else if (rc == VG_EMALFORMED) {
		if (j && json_is_object(j))
			bad = 3; /* we refused what jansson accepts */
	} else if (rc == VG_ETOOBIG) {
		/* Our bounds: fine when jansson's document is deep or large. */
		if (j && json_is_object(j) && oracle_depth(j) <= VG_RULES_DEPTH_MAX && size < 1000)
			bad = 4;
	} else {
		bad = 5;
	}
	json_decref(j);
	return bad;
}

#endif
