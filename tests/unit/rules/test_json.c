/* SPDX-License-Identifier: Apache-2.0
 *
 * The event decoder against jansson, its differential oracle: hand-picked edge cases
 * (numbers, escapes, surrogates, UTF-8, duplicates, trailing text, depth) and a few
 * hundred thousand random documents and mutations of them. Both must accept and refuse
 * alike and agree on every value. Reals are checked bit for bit against strtod (what
 * jansson calls) over a few hundred thousand numbers, since the decoder computes most of
 * them itself. And the decoder's portable string scanner, built a second time below, must
 * agree with the SSE2 one on everything, including input that ends at a page boundary.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "event_oracle.h"

/* The decoder once more, with VG_JSON_SCALAR (no SSE2) and renamed so that it can live
 * beside the library's: the only way to run the scalar path on an x86-64 machine, where
 * the library always takes the SSE2 one. On other machines both are scalar. */
#define VG_JSON_SCALAR 1
#define vg_json_doc_init scalar_doc_init
#define vg_json_doc_done scalar_doc_done
#define vg_json_decode scalar_decode
#define vg_json_get scalar_get
#define vg_json_getn scalar_getn
void scalar_doc_init(vg_json_doc *doc, size_t max_nodes);
void scalar_doc_done(vg_json_doc *doc);
int scalar_decode(vg_json_doc *doc, const char *text, size_t len, vg_error *err);
long scalar_get(const vg_json_doc *doc, size_t obj, const char *key);
long scalar_getn(const vg_json_doc *doc, size_t obj, const char *key, size_t klen);
#include "rules/rules_json.c"
#undef vg_json_doc_init
#undef vg_json_doc_done
#undef vg_json_decode
#undef vg_json_get
#undef vg_json_getn

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

/* ---- reals against strtod ------------------------------------------------------------ */

/* num as the value of a one-member object must decode to strtod's double, bit for bit, or
 * be refused when strtod overflows (as jansson refuses it). */
static void real_matches_strtod(vg_json_doc *doc, const char *num)
{
	static char buf[120000];
	int w = snprintf(buf, sizeof(buf), "{\"a\":%s}", num);
	cr_assert(w > 0 && (size_t)w < sizeof(buf));
	errno = 0;
	double want = strtod(num, NULL);
	bool overflow = errno == ERANGE && isinf(want);
	vg_error err;
	int rc = vg_json_decode(doc, buf, (size_t)w, &err);
	if (overflow) {
		if (rc != VG_EMALFORMED)
			cr_assert_fail("%s overflows strtod but decoded (%d)", num, rc);
		return;
	}
	if (rc != 0 || doc->nodes[2].type != VG_JSON_REAL)
		cr_assert_fail("%s did not decode as a real: %d %s", num, rc, rc ? err.msg : "");
	double got = doc->nodes[2].v.d;
	if (memcmp(&got, &want, sizeof(got)) != 0)
		cr_assert_fail("%s decoded to %a, strtod gives %a", num, got, want);
}

Test(json, edge_reals_match_strtod)
{
	static const char *const cases[] = {
		"1700000000.123", "0.1", "0.2", "0.3", "0.30000000000000004", "1e22", "1e23",
		"1e-22", "1e-23", "9007199254740992.0", "9007199254740993.0", "9007199254740994.0",
		"9007199254740995.0", "9007199254740993e0", "9007199254740992e22", "9007199254740992e23",
		"9007199254740992e-22", "9007199254740993e-22", "123456789012345678.0",
		"123456789012345678e0", "1234567890123456789.0", "12345678901234567890.0",
		"9999999999999999999e0", "99999999999999999999e0", "-0.0", "0.0", "-0e10", "0e-999",
		"0e999", "-0.000", "0.0000000000000000000000000000001", "5e-324", "-5e-324",
		"4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324",
		"1e-400", "-1e-400", "2.2250738585072011e-308", "2.2250738585072014e-308",
		"1.7976931348623157e308", "-1.7976931348623157e308", "1.7976931348623158e308",
		"1.7976931348623159e308", "1e309", "-1e309", "1e99999999999999999999", "12e30",
		"1e37", "1e38", "9e37", "900719925474099e23", "900719925474099e24", "1E+0", "1e-0",
		"1.0", "3.14159", "2.718281828459045", "7.038531e-26", "1448997445238699.0",
		"0.1000000000000000055511151231257827021181583404541015625",
		"1.00000000000000011102230246251565404236316680908203125",
		"1.00000000000000011102230246251565404236316680908203124",
		"1.00000000000000011102230246251565404236316680908203126",
		"4503599627370496.5", "4503599627370497.5", "9007199254740991.5",
		"1.000000000000000000000000000000000000000000000000000000000000000000000000000000000"
		"000000000000000000000000000000000000000000000000000000000000000000000000000000001",
		"123456789012345678901234567890123456789e-30",
		"0.00000000000000000000000000000000000000000000000000000000000000000000000000000000"
		"0000000000000000000000000000000000000000000000000000000000000000000000000001e150",
	};
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		real_matches_strtod(&doc, cases[i]);
	/* A long fraction's zeros against a long exponent: 1e-99991 times 1e100000 is 1e9,
	 * times 1e1000000 an overflow, which once came out 1e9 too (the exponent was cut
	 * at 100,000). */
	static char num[100100];
	memcpy(num, "0.", 2);
	memset(num + 2, '0', 99990);
	strcpy(num + 99992, "1e100000");
	real_matches_strtod(&doc, num);
	strcpy(num + 99992, "1e1000000");
	real_matches_strtod(&doc, num);
	strcpy(num + 99992, "1e99999999999999");
	real_matches_strtod(&doc, num);
	vg_json_doc_done(&doc);
}

Test(json, integers_past_int64_are_reals)
{
	static const char *const cases[] = {
		"9223372036854775808", "-9223372036854775809", "12345678901234567890",
		"99999999999999999999", "18446744073709551616", "-18446744073709551617",
		"123456789012345678901234567890",
	};
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		real_matches_strtod(&doc, cases[i]);
	char big[400];
	memset(big, '9', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	real_matches_strtod(&doc, big); /* past any double: refused, as a real would be */
	/* The bounds themselves stay integers. */
	vg_error err;
	cr_assert_eq(vg_json_decode(&doc, "{\"a\":9223372036854775807}", 25, &err), 0);
	cr_assert_eq(doc.nodes[2].type, VG_JSON_INT);
	cr_assert_eq(doc.nodes[2].v.i, INT64_MAX);
	cr_assert_eq(vg_json_decode(&doc, "{\"a\":-9223372036854775808}", 26, &err), 0);
	cr_assert_eq(doc.nodes[2].type, VG_JSON_INT);
	cr_assert_eq(doc.nodes[2].v.i, INT64_MIN);
	vg_json_doc_done(&doc);
}

/* n random digits, the first not a zero unless it is the only one. */
static size_t put_digits(char *o, int n)
{
	for (int i = 0; i < n; i++)
		o[i] = (char)('0' + (i == 0 && n > 1 ? 1 + rnd(9) : rnd(10)));
	return (size_t)n;
}

Test(json, random_reals_match_strtod)
{
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	char num[128];
	for (int iter = 0; iter < 400000; iter++) {
		size_t o = 0;
		if (rnd(2))
			num[o++] = '-';
		switch (iter % 4) {
		case 0: {
			/* Digit strings around the fast path's limits: 19 digits, 2^53, 10^22. */
			o += put_digits(num + o, 1 + (int)rnd(22));
			bool frac = rnd(4);
			if (frac) {
				num[o++] = '.';
				o += put_digits(num + o, 1 + (int)rnd(22));
			}
			if (!frac || rnd(2))
				o += (size_t)sprintf(num + o, "e%d", (int)rnd(81) - 40);
			num[o] = '\0';
			break;
		}
		case 1: {
			/* Any finite double, printed short or exact. */
			uint64_t bits = (uint64_t)rnd(1u << 31) << 33 ^ (uint64_t)rnd(1u << 31) << 2 ^ rnd(4);
			double d;
			memcpy(&d, &bits, sizeof(d));
			if (!isfinite(d))
				d = 1.5;
			sprintf(num + o, "%.*e", (int)rnd(20), fabs(d));
			break;
		}
		case 2:
			/* Timestamps with milliseconds, what events carry most. */
			sprintf(num + o, "%u.%03u", 1600000000u + rnd(200000000), rnd(1000));
			break;
		default: {
			/* Integers near 2^53 with exponents: the exact-integer widening. */
			uint64_t m = ((uint64_t)1 << 53) - 64 + rnd(128);
			m /= (uint64_t)pow(10, rnd(16));
			sprintf(num + o, "%llue%d", (unsigned long long)m, (int)rnd(50) - 25);
			break;
		}
		}
		real_matches_strtod(&doc, num);
	}
	vg_json_doc_done(&doc);
}

Test(json, reals_ignore_the_locale)
{
	static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
					    "ru_RU.UTF-8", "de_DE", "fr_FR"};
	static const char *const nums[] = {"1.5", "1700000000.123", "2.5e-300",
					   "1.00000000000000011102230246251565404236316680908203125"};
	double want[4];
	for (size_t i = 0; i < 4; i++)
		want[i] = strtod(nums[i], NULL);
	bool comma = false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !comma; i++)
		comma = setlocale(LC_NUMERIC, names[i]) && strcmp(localeconv()->decimal_point, ",") == 0;
	if (!comma)
		cr_skip_test("no locale with a decimal comma is installed");
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	for (size_t i = 0; i < 4; i++) {
		char buf[128];
		int w = snprintf(buf, sizeof(buf), "{\"a\":%s}", nums[i]);
		vg_error err;
		cr_assert_eq(vg_json_decode(&doc, buf, (size_t)w, &err), 0, "%s", err.msg);
		cr_assert(memcmp(&doc.nodes[2].v.d, &want[i], sizeof(double)) == 0,
			  "%s decoded to %a under a decimal comma", nums[i], doc.nodes[2].v.d);
	}
	setlocale(LC_NUMERIC, "C");
	vg_json_doc_done(&doc);
}

/* ---- the scalar string scanner against SSE2 ------------------------------------------ */

/* x and y hold the same nodes and strings (text is what they decoded, for the message). */
static void same_nodes(const vg_json_doc *x, const vg_json_doc *y, const char *text, size_t len)
{
	cr_assert_eq(x->n, y->n);
	for (size_t i = 0; i < x->n; i++) {
		const vg_json_node *a = &x->nodes[i], *b = &y->nodes[i];
		bool same = a->type == b->type && a->len == b->len && a->next == b->next;
		if (same && a->type == VG_JSON_STRING)
			same = memcmp(a->v.str, b->v.str, a->len + 1) == 0;
		else if (same && (a->type == VG_JSON_INT || a->type == VG_JSON_REAL))
			same = memcmp(&a->v, &b->v, sizeof(a->v)) == 0;
		if (!same)
			cr_assert_fail("node %zu differs on %.*s", i, (int)len, text);
	}
}

/* Both decoders give the same result on text: code, message and every node. */
static void scanners_agree(vg_json_doc *simd, vg_json_doc *scalar, const char *text,
			   size_t len)
{
	vg_error e1 = {0}, e2 = {0};
	int r1 = vg_json_decode(simd, text, len, &e1);
	int r2 = scalar_decode(scalar, text, len, &e2);
	if (r1 != r2 || (r1 && strcmp(e1.msg, e2.msg) != 0))
		cr_assert_fail("SSE2 %d (%s), scalar %d (%s) on %.*s", r1, e1.msg, r2, e2.msg,
			       (int)len, text);
	same_nodes(simd, scalar, text, len);
}

/* A string body of n bytes mixing plain runs with every kind of byte that stops one. */
static size_t gen_string(char *o, size_t n)
{
	static const char *const stops[] = {
		"\\\"", "\\\\", "\\/", "\\n", "\\u00e9", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac",
		"\xf0\x9f\x98\x80", "\x7f", "\\u0041", "\\x", "\x01", "\xc0\xaf", "\xed\xa0\x80", "\xff",
		"\\ud800", "\xe2\x82", "\\u12",
	};
	size_t i = 0;
	while (i < n) {
		if (rnd(24) == 0) {
			/* Mostly valid: the invalid ones come last in the table. */
			const char *s = stops[rnd(rnd(8) ? 10 : sizeof(stops) / sizeof(stops[0]))];
			size_t k = strlen(s);
			if (i + k > n)
				break;
			memcpy(o + i, s, k);
			i += k;
		} else {
			char c = (char)(' ' + rnd(95)); /* printable ASCII */
			o[i++] = c == '"' || c == '\\' ? 'q' : c;
		}
	}
	return i;
}

Test(json, scalar_and_sse2_scanners_agree)
{
	vg_json_doc simd, scalar;
	vg_json_doc_init(&simd, 0);
	scalar_doc_init(&scalar, 0);
	char buf[2048];
	for (int iter = 0; iter < 100000; iter++) {
		size_t o = 0;
		o += (size_t)sprintf(buf, "{\"k\":\"");
		o += gen_string(buf + o, rnd(4) ? rnd(40) : rnd(600));
		o += (size_t)sprintf(buf + o, "\",\"%s\":\"", rnd(2) ? "url" : "ua\\u00e9");
		o += gen_string(buf + o, rnd(300));
		o += (size_t)sprintf(buf + o, "\",\"n\":[1,2.5,\"x\"],\"ts\":1700000000.123}");
		/* Half the time cut it short: strings then run into the end of the input. */
		size_t len = rnd(2) ? o : rnd((uint32_t)o + 1);
		scanners_agree(&simd, &scalar, buf, len);
		if ((iter & 7) == 0) {
			int bad = oracle_check(&simd, buf, len);
			cr_assert_eq(bad, 0, "disagreement %d with jansson on %.*s", bad, (int)len, buf);
		}
	}
	scalar_doc_done(&scalar);
	vg_json_doc_done(&simd);
}

Test(json, never_reads_past_the_end_at_a_page_boundary)
{
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	cr_assert(map != MAP_FAILED);
	cr_assert_eq(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	vg_json_doc simd, scalar;
	vg_json_doc_init(&simd, 0);
	scalar_doc_init(&scalar, 0);
	char doc[600];
	for (size_t n = 0; n < 300; n++) {
		/* A document with an n-byte string, cut at every length so that the input ends
		 * at the guard page inside the string, at its quote, in the number, anywhere;
		 * then the same string with a backslash as the last byte of the input. */
		size_t o = (size_t)sprintf(doc, "{\"a\":1,\"u\":\"");
		memset(doc + o, 'x', n);
		o += n;
		o += (size_t)sprintf(doc + o, "\",\"t\":1.5e3}");
		for (size_t cut = 0; cut <= o; cut++) {
			char *text = map + page - cut;
			memcpy(text, doc, cut);
			scanners_agree(&simd, &scalar, text, cut);
		}
		size_t cut = 12 + n + 1;
		doc[cut - 1] = '\\';
		memcpy(map + page - cut, doc, cut);
		scanners_agree(&simd, &scalar, map + page - cut, cut);
	}
	scalar_doc_done(&scalar);
	vg_json_doc_done(&simd);
	munmap(map, (size_t)page * 2);
}

/* ---- keeping a decoded doc --------------------------------------------------------------- */

Test(json, a_copied_doc_reads_the_same_after_the_next_decode)
{
	vg_json_doc doc, again;
	vg_json_doc_init(&doc, 0);
	vg_json_doc_init(&again, 0);
	char buf[4096], other[64];
	vg_error err;
	size_t kept = 0;
	for (int iter = 0; iter < 20000; iter++) {
		size_t o = (size_t)sprintf(buf, "{\"type\":\"");
		o += gen_string(buf + o, rnd(64));
		o += (size_t)sprintf(buf + o, "\",\"x\":");
		gen(buf, &o, sizeof(buf) - 8, 1);
		buf[o++] = '}';
		if (vg_json_decode(&doc, buf, o, &err) != 0)
			continue;
		/* Exactly the size asked for, so ASan sees any write past it. */
		size_t size = vg_json_doc_copy_size(&doc);
		void *mem = aligned_alloc(16, (size + 15) & ~(size_t)15);
		cr_assert(mem);
		vg_json_doc copy;
		vg_json_doc_copy(&doc, mem, &copy);
		/* Reusing the doc overwrites its buffers; the copy must not care. */
		int n = snprintf(other, sizeof(other), "{\"type\":\"zzzzzzzz\",\"k\":[%d,true]}", iter);
		cr_assert_eq(vg_json_decode(&doc, other, (size_t)n, &err), 0);
		cr_assert_eq(vg_json_decode(&again, buf, o, &err), 0);
		same_nodes(&copy, &again, buf, o);
		cr_assert_eq(vg_json_get(&copy, 0, "type"), vg_json_get(&again, 0, "type"));
		free(mem);
		kept++;
	}
	cr_assert_gt(kept, 10000u, "only %zu documents decoded", kept);
	vg_json_doc_done(&again);
	vg_json_doc_done(&doc);
}
