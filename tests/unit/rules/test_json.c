/* SPDX-License-Identifier: Apache-2.0
 *
 * The event decoder against jansson, its differential oracle: hand-picked edge cases
 * (numbers, escapes, surrogates, UTF-8, duplicates, trailing text, depth) and a few
 * hundred thousand random documents and mutations of them. Both must accept and refuse
 * alike and agree on every value.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "event_oracle.h"

static void agree(const char *s)
{
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	int bad = oracle_check(&doc, s, strlen(s));
	cr_assert_eq(bad, 0, "decoder and jansson disagree (%d) on %s", bad, s);
	vg_json_doc_done(&doc);
}

Test(json, edge_cases_agree_with_jansson)
{
	static const char *const cases[] = {
		"{}", " {\"type\":\"x\"} \n", "{\"a\":1,\"a\":2}", "{\"a\":-0}", "{\"a\":0.5e-3}",
		"{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":1E+2}",
		"{\"a\":9223372036854775807}", "{\"a\":9223372036854775808}",
		"{\"a\":-9223372036854775808}", "{\"a\":-9223372036854775809}", "{\"a\":1e309}",
		"{\"a\":1e-400}", "{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\ud83d\\u0041\"}", "{\"a\":\"\xc3\xa9\"}",
		"{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
		"{\"a\":\"\xe2\x82\"}", "{\"a\":\"\t\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\/\\b\\f\"}",
		"{\"a\":tru}", "{\"a\":true}", "{\"a\":nul}", "{\"a\":[1,2,]}", "{\"a\":1,}",
		"{\"a\" 1}", "{a:1}", "[1]", "\"x\"", "1", "", "   ", "{\"a\":1}x", "{\"a\":1}{}",
		"{\"a\":[{\"b\":[null,false,true,{}]}]}", "{\"\":\"\"}", "{\"a\":\"\\uD834\\uDD1E\"}",
		"{\"a\":1\x00}", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		"{\"a\":123456789012345678901234567890.5}", "{\"a\":-0.0}", "{\"a\":\"\x7f\"}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		agree(cases[i]);
}

/* ---- random documents ---------------------------------------------------------------- */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const char *const atoms[] = {
	"0", "-1", "12", "3.25", "-0.5e7", "1E-3", "true", "false", "null", "\"\"", "\"ip\"",
	"\"10.0.0.1\"", "\"\\u00e9\\n\"", "\"\xc3\xa9\"", "\"\\ud83d\\ude00\"", "9223372036854775807",
	"18446744073709551616", "1e999", "\"\\\"\\\\\"",
};

static void gen(char *out, size_t *o, size_t cap, int depth)
{
	if (*o + 64 > cap)
		return;
	uint32_t k = depth > 5 ? 0 : rnd(4);
	if (k <= 1) {
		const char *a = atoms[rnd(sizeof(atoms) / sizeof(atoms[0]))];
		memcpy(out + *o, a, strlen(a));
		*o += strlen(a);
		return;
	}
	bool obj = k == 2;
	out[(*o)++] = obj ? '{' : '[';
	uint32_t n = rnd(5);
	for (uint32_t i = 0; i < n && *o + 64 < cap; i++) {
		if (i)
			out[(*o)++] = ',';
		if (obj)
			*o += (size_t)sprintf(out + *o, "\"k%u\":", rnd(4));
		gen(out, o, cap, depth + 1);
	}
	out[(*o)++] = obj ? '}' : ']';
}

Test(json, random_documents_and_mutations_agree_with_jansson)
{
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	char buf[4096];
	static const char mut[] = "{}[]\",:\\0123456789eE.-+ tfnu\x80\xc3\xff";
	for (int iter = 0; iter < 200000; iter++) {
		size_t o = 0;
		buf[o++] = '{';
		buf[o++] = '"';
		buf[o++] = 't';
		buf[o++] = '"';
		buf[o++] = ':';
		gen(buf, &o, sizeof(buf) - 8, 1);
		buf[o++] = '}';
		/* Half the time, break it a little. */
		if (iter & 1) {
			int m = 1 + (int)rnd(3);
			for (int j = 0; j < m; j++) {
				size_t at = o ? rnd((uint32_t)o) : 0;
				switch (rnd(3)) {
				case 0: buf[at] = mut[rnd(sizeof(mut) - 1)]; break;
				case 1: o = at; break;
				default:
					if (o + 1 < sizeof(buf)) {
						memmove(buf + at + 1, buf + at, o - at);
						buf[at] = mut[rnd(sizeof(mut) - 1)];
						o++;
					}
				}
			}
		}
		int bad = oracle_check(&doc, buf, o);
		cr_assert_eq(bad, 0, "disagreement %d on %.*s", bad, (int)o, buf);
	}
	vg_json_doc_done(&doc);
}

Test(json, bounds_and_lookups)
{
	vg_json_doc doc;
	vg_json_doc_init(&doc, 8);
	vg_error err;
	cr_assert_eq(vg_json_decode(&doc, "{\"a\":[1,2,3,4,5,6,7,8]}", 22, &err), VG_ETOOBIG);
	vg_json_doc_done(&doc);
	vg_json_doc_init(&doc, 0);
	const char *s = "{\"type\":\"login\",\"user\":{\"id\":\"u1\"},\"type\":\"x\"}";
	cr_assert_eq(vg_json_decode(&doc, s, strlen(s), &err), 0, "%s", err.msg);
	long t = vg_json_get(&doc, 0, "type");
	cr_assert_str_eq(doc.nodes[t].v.str, "x", "the last of a repeated key wins");
	long u = vg_json_get(&doc, 0, "user");
	long id = vg_json_get(&doc, (size_t)u, "id");
	cr_assert_str_eq(doc.nodes[id].v.str, "u1");
	cr_assert_eq(vg_json_get(&doc, 0, "nope"), -1);
	cr_assert_eq(vg_json_decode(&doc, "{\"a\":\"x\" ", 9, &err), VG_EMALFORMED);
	cr_assert(strstr(err.msg, "byte"), "the error names the byte offset: %s", err.msg);
	vg_json_doc_done(&doc);
}
