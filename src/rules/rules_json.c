/* SPDX-License-Identifier: Apache-2.0
 *
 * The hot-path event decoder: one JSON object per NDJSON line into a flat node array,
 * which rules_lua.c turns into a Lua table. Ours rather than jansson's DOM because the
 * DOM allocates per value and costs more than the rules themselves at a million events a
 * second (bench/bench_rules.c prints both).
 *
 * Invariants: accepts exactly what jansson's json_loadb(text, len, 0, ...) accepts when
 * that is an object (tests/unit/rules and tests/fuzz/fuzz_event.c compare the two);
 * never reads past len; never writes past its buffers; bounded by the doc's node cap and
 * VG_RULES_DEPTH_MAX. Strings are validated as UTF-8 the way jansson does (no overlongs,
 * no encoded surrogates, nothing past U+10FFFF).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_MAX_NODES 4096

typedef struct parser {
	const char *p, *start, *end;
	vg_json_doc *doc;
	size_t strpos;
	vg_error *err;
} parser;

void vg_json_doc_init(vg_json_doc *doc, size_t max_nodes)
{
	memset(doc, 0, sizeof(*doc));
	doc->cap = max_nodes ? max_nodes : DEFAULT_MAX_NODES;
}

void vg_json_doc_done(vg_json_doc *doc)
{
	if (!doc)
		return;
	free(doc->nodes);
	free(doc->strbuf);
	memset(doc, 0, sizeof(*doc));
}

static int fail(parser *ps, int code, const char *why)
{
	return vg_error_set(ps->err, code, "%s at byte %zu", why, (size_t)(ps->p - ps->start) + 1);
}

static void skip_ws(parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int new_node(parser *ps, vg_json_type type, size_t *ret)
{
	vg_json_doc *d = ps->doc;
	if (d->n >= d->cap)
		return fail(ps, VG_ETOOBIG, "more values than the event limit");
	d->nodes[d->n].type = (uint8_t)type;
	d->nodes[d->n].len = 0;
	*ret = d->n++;
	return 0;
}

static int hex4(const char *s)
{
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		int h = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Length of the valid UTF-8 sequence at s (at most avail bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
	unsigned c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c < 0xC2 || c > 0xF4)
		return 0;
	if (c < 0xE0)
		n = 2, cp = c & 0x1F;
	else if (c < 0xF0)
		n = 3, cp = c & 0x0F;
	else
		n = 4, cp = c & 0x07;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static int parse_string(parser *ps, size_t node)
{
	/* ps->p is just past the opening quote. */
	char *out = ps->doc->strbuf + ps->strpos, *o = out;
	const char *p = ps->p, *end = ps->end;
	for (;;) {
		/* The common case: a run of plain ASCII. */
		const char *run = p;
		while (p < end && (unsigned char)*p >= 0x20 && *p != '"' && *p != '\\' &&
		       (unsigned char)*p < 0x80)
			p++;
		memcpy(o, run, (size_t)(p - run));
		o += p - run;
		if (p >= end) {
			ps->p = p;
			return fail(ps, VG_EMALFORMED, "unterminated string");
		}
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			p++;
			break;
		}
		if (c < 0x20) {
			ps->p = p;
			return fail(ps, VG_EMALFORMED, "control character in a string");
		}
		if (c >= 0x80) {
			size_t n = utf8_seq((const unsigned char *)p, (size_t)(end - p));
			if (!n) {
				ps->p = p;
				return fail(ps, VG_EMALFORMED, "invalid UTF-8 in a string");
			}
			memcpy(o, p, n);
			o += n, p += n;
			continue;
		}
		/* A backslash escape. */
		if (end - p < 2) {
			ps->p = p;
			return fail(ps, VG_EMALFORMED, "unterminated string");
		}
		char e = p[1];
		p += 2;
		switch (e) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			int v = end - p >= 4 ? hex4(p) : -1;
			if (v < 0) {
				ps->p = p;
				return fail(ps, VG_EMALFORMED, "bad \\u escape");
			}
			p += 4;
			uint32_t cp = (uint32_t)v;
			if (cp >= 0xDC00 && cp <= 0xDFFF) {
				ps->p = p;
				return fail(ps, VG_EMALFORMED, "lone low surrogate");
			}
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
				if (lo < 0xDC00 || lo > 0xDFFF) {
					ps->p = p;
					return fail(ps, VG_EMALFORMED, "lone high surrogate");
				}
				p += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
			}
			if (cp == 0) {
				ps->p = p;
				return fail(ps, VG_EMALFORMED, "\\u0000 in a string");
			}
			o += put_utf8(o, cp);
			break;
		}
		default:
			ps->p = p - 1;
			return fail(ps, VG_EMALFORMED, "bad escape in a string");
		}
	}
	*o = '\0';
	vg_json_node *nd = &ps->doc->nodes[node];
	nd->type = VG_JSON_STRING;
	nd->v.str = out;
	nd->len = (uint32_t)(o - out);
	ps->strpos += (size_t)(o - out) + 1;
	ps->p = p;
	return 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(parser *ps, size_t node)
{
	const char *p = ps->p, *end = ps->end, *s = p;
	bool real = false;
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0') {
		p++;
		if (p < end && is_digit(*p)) {
			ps->p = p;
			return fail(ps, VG_EMALFORMED, "leading zero in a number");
		}
	} else if (p < end && is_digit(*p)) {
		while (p < end && is_digit(*p))
			p++;
	} else {
		ps->p = p;
		return fail(ps, VG_EMALFORMED, "bad number");
	}
	if (p < end && *p == '.') {
		real = true;
		p++;
		if (p >= end || !is_digit(*p)) {
			ps->p = p;
			return fail(ps, VG_EMALFORMED, "bad number");
		}
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !is_digit(*p)) {
			ps->p = p;
			return fail(ps, VG_EMALFORMED, "bad number");
		}
		while (p < end && is_digit(*p))
			p++;
	}
	/* strtoll/strtod need a terminated copy; numbers are short or refused. */
	char buf[128];
	size_t n = (size_t)(p - s);
	vg_json_node *nd = &ps->doc->nodes[node];
	if (!real && n <= 20) {
		/* Fast path for what events mostly hold: small non-negative integers. */
		int64_t v = 0;
		const char *q = s;
		bool neg = *q == '-';
		if (neg)
			q++;
		if (n - neg <= 18) {
			while (q < p)
				v = v * 10 + (*q++ - '0');
			nd->type = VG_JSON_INT;
			nd->v.i = neg ? -v : v;
			ps->p = p;
			return 0;
		}
	}
	if (n >= sizeof(buf)) {
		if (!real) {
			ps->p = s;
			return fail(ps, VG_EMALFORMED, "integer out of range");
		}
		/* A long real: strtod over the input itself would read past len, so copy to
		 * the heap once; rare enough not to matter. */
		char *h = malloc(n + 1);
		if (!h)
			return fail(ps, VG_ENOMEM, "out of memory");
		memcpy(h, s, n);
		h[n] = '\0';
		errno = 0;
		double d = strtod(h, NULL);
		int e = errno;
		free(h);
		if (e == ERANGE && isinf(d)) {
			ps->p = s;
			return fail(ps, VG_EMALFORMED, "real number overflow");
		}
		nd->type = VG_JSON_REAL;
		nd->v.d = d;
		ps->p = p;
		return 0;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	if (!real) {
		long long v = strtoll(buf, NULL, 10);
		if (errno == ERANGE) {
			ps->p = s;
			return fail(ps, VG_EMALFORMED, "integer out of range");
		}
		nd->type = VG_JSON_INT;
		nd->v.i = v;
	} else {
		double d = strtod(buf, NULL);
		if (errno == ERANGE && isinf(d)) {
			ps->p = s;
			return fail(ps, VG_EMALFORMED, "real number overflow");
		}
		nd->type = VG_JSON_REAL;
		nd->v.d = d;
	}
	ps->p = p;
	return 0;
}

static bool literal(parser *ps, const char *word, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static int parse_value(parser *ps, int depth);

static int parse_container(parser *ps, int depth, bool object)
{
	size_t node = 0;
	int rc = new_node(ps, object ? VG_JSON_OBJECT : VG_JSON_ARRAY, &node);
	if (rc)
		return rc;
	if (depth >= VG_RULES_DEPTH_MAX)
		return fail(ps, VG_ETOOBIG, "nesting deeper than the event limit");
	ps->p++; /* '{' or '[' */
	uint32_t count = 0;
	skip_ws(ps);
	char close = object ? '}' : ']';
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		goto done;
	}
	for (;;) {
		skip_ws(ps);
		if (object) {
			if (ps->p >= ps->end || *ps->p != '"')
				return fail(ps, VG_EMALFORMED, "expected a string key");
			size_t key = 0;
			if ((rc = new_node(ps, VG_JSON_STRING, &key)))
				return rc;
			ps->p++;
			if ((rc = parse_string(ps, key)))
				return rc;
			ps->doc->nodes[key].next = (uint32_t)ps->doc->n;
			skip_ws(ps);
			if (ps->p >= ps->end || *ps->p != ':')
				return fail(ps, VG_EMALFORMED, "expected ':'");
			ps->p++;
			skip_ws(ps);
		}
		if ((rc = parse_value(ps, depth + 1)))
			return rc;
		count++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		return fail(ps, VG_EMALFORMED, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
done:
	ps->doc->nodes[node].len = count;
	ps->doc->nodes[node].next = (uint32_t)ps->doc->n;
	return 0;
}

static int parse_value(parser *ps, int depth)
{
	if (ps->p >= ps->end)
		return fail(ps, VG_EMALFORMED, "unexpected end of input");
	char c = *ps->p;
	if (c == '{' || c == '[')
		return parse_container(ps, depth, c == '{');
	size_t node = 0;
	int rc = new_node(ps, VG_JSON_NULL, &node);
	if (rc)
		return rc;
	vg_json_node *nd = &ps->doc->nodes[node];
	if (c == '"') {
		ps->p++;
		rc = parse_string(ps, node);
	} else if (c == '-' || is_digit(c)) {
		rc = parse_number(ps, node);
	} else if (literal(ps, "true", 4)) {
		nd->type = VG_JSON_TRUE;
	} else if (literal(ps, "false", 5)) {
		nd->type = VG_JSON_FALSE;
	} else if (literal(ps, "null", 4)) {
		nd->type = VG_JSON_NULL;
	} else {
		return fail(ps, VG_EMALFORMED, "unexpected character");
	}
	ps->doc->nodes[node].next = (uint32_t)ps->doc->n;
	return rc;
}

int vg_json_decode(vg_json_doc *doc, const char *text, size_t len, vg_error *err)
{
	if (!doc->nodes) {
		doc->nodes = malloc(doc->cap * sizeof(*doc->nodes));
		if (!doc->nodes)
			return vg_error_set(err, VG_ENOMEM, "out of memory");
	}
	if (doc->strcap < len + 1) {
		size_t cap = len + 1 < 256 ? 256 : len + 1;
		char *b = realloc(doc->strbuf, cap);
		if (!b)
			return vg_error_set(err, VG_ENOMEM, "out of memory");
		doc->strbuf = b;
		doc->strcap = cap;
	}
	parser ps = {.p = text, .start = text, .end = text + len, .doc = doc, .err = err};
	doc->n = 0;
	skip_ws(&ps);
	if (ps.p >= ps.end || *ps.p != '{') {
		doc->n = 0;
		return fail(&ps, VG_EMALFORMED, "an event must be a JSON object");
	}
	int rc = parse_container(&ps, 0, true);
	if (rc == 0) {
		skip_ws(&ps);
		if (ps.p != ps.end)
			rc = fail(&ps, VG_EMALFORMED, "text after the object");
	}
	if (rc)
		doc->n = 0;
	return rc;
}

long vg_json_get(const vg_json_doc *doc, size_t obj, const char *key)
{
	if (obj >= doc->n || doc->nodes[obj].type != VG_JSON_OBJECT)
		return -1;
	size_t klen = strlen(key);
	long found = -1;
	size_t i = obj + 1;
	for (uint32_t m = 0; m < doc->nodes[obj].len; m++) {
		const vg_json_node *k = &doc->nodes[i];
		if (k->len == klen && memcmp(k->v.str, key, klen) == 0)
			found = (long)(i + 1);
		i = doc->nodes[i + 1].next;
	}
	return found;
}
