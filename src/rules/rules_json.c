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
 * no encoded surrogates, nothing past U+10FFFF). Reals are the doubles strtod gives in
 * the C locale (jansson's), whatever the process locale.
 *
 * Why it is shaped this way (it is most of the engine's profile):
 * - The line is first copied into the doc's buffer with NUL bytes after it (PAD). The
 *   NUL stops every scan (whitespace, string runs, digits, literals), so the hot loops
 *   never compare with the end: only a stop at a NUL asks whether it is the end or a
 *   NUL inside the line, both errors. It also lets words and vectors be read across
 *   the line's end: they read the copy, never text past len.
 * - One function, a state machine (open, key, value, after, close) with an explicit
 *   stack of open containers instead of recursion, so the cursor, the node count and
 *   the string cursor stay in registers: every store of a string byte is a char store,
 *   which C lets alias anything reachable through memory. Each state looks for its
 *   usual byte first and skips whitespace only when it finds another.
 * - Runs of plain string bytes are found 16 at a time with SSE2 (the x86-64 baseline);
 *   elsewhere, or built with VG_JSON_SCALAR (the unit tests build both and compare
 *   them), a byte loop does the same. UTF-8 is validated only where a byte from 0x80
 *   up stops a run.
 * - Digits are read and converted 8 at a time in a 64-bit word on little-endian
 *   machines. Reals whose digits fit 53 bits and whose exponent is small are computed
 *   exactly (Clinger's fast path); the rest go to strtod.
 */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#if defined(__SSE2__) && !defined(VG_JSON_SCALAR)
#include <emmintrin.h>
#define USE_SSE2 1
#else
#define USE_SSE2 0
#endif

#define DEFAULT_MAX_NODES 4096

/* NUL bytes after the copy of the line that is parsed: at least 16 for a vector load
 * at its end. */
#define PAD 16

/* Why a decode stopped: the error code, its reason and where. */
typedef struct failure {
	const char *at;
	int code;
	const char *why;
} failure;

/* A cursor in the input and one in the string buffer, returned together in registers;
 * p is NULL after a failure. */
typedef struct span {
	const char *p;
	char *o;
} span;

/* One open object or array. */
typedef struct frame {
	uint32_t node;  /* its node index */
	uint32_t count; /* members or elements so far */
	bool object;
} frame;

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

/* Records the first failure; always returns NULL so callers can `return bad(...)`. */
__attribute__((cold)) static const char *bad(failure *f, const char *at, int code,
					     const char *why)
{
	f->at = at;
	f->code = code;
	f->why = why;
	return NULL;
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Whitespace ends at the NUL after the line's copy, so no end check is needed. */
static inline const char *skip_ws(const char *p)
{
	/* Most events hold no whitespace at all: one compare settles most calls. */
	if (__builtin_expect((unsigned char)*p > ' ', 1))
		return p;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* ---- strings -------------------------------------------------------------------------- */

#if !USE_SSE2
/* Bytes a string holds as they are: not '"', not '\\', not a control character, ASCII.
 * Everything else needs a look (an end, an escape, an error, UTF-8 to validate). */
static const bool plain[256] = {
	/* 0x00-0x1f: control characters */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* 0x20-0x7f: all but '"' (0x22) and '\\' (0x5c); 0x7f is fine, as in jansson */
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x80-0xff: UTF-8, validated sequence by sequence */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
#endif

/* Copies the run of plain bytes at p to o; stops at the first other byte, at the latest
 * at the NUL that follows the line's copy (so it needs no end).
 *
 * The SSE2 loop loads and stores 16 bytes before it knows how many are plain. The load
 * stays inside the copy, which has PAD bytes after the line. The store stays inside the
 * string area: it holds len + 16 bytes and a string's output never runs ahead of its
 * input (each escape or UTF-8 sequence decodes to at most as many bytes as it takes,
 * and the opening quote and the NUL pay for each other), so o <= strings + (p - line) - 1
 * with p <= line + len, and o + 16 <= strings + len + 15. The bytes past the run are
 * overwritten by what comes next, or never read. */
static inline span copy_plain(const char *p, char *o)
{
#if USE_SSE2
	/* Flipping bit 1 turns '"' (0x22) into 0x20 and keeps control characters below
	 * 0x20 and bytes from 0x80 up negative, so that one signed compare with 0x20 keeps
	 * all other bytes, and a second compare drops '\\'. The mask is of plain bytes. */
	const __m128i flip = _mm_set1_epi8(0x02), space = _mm_set1_epi8(0x20);
	const __m128i backslash = _mm_set1_epi8('\\');
	for (;;) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		_mm_storeu_si128((__m128i *)(void *)o, v);
		__m128i keep = _mm_andnot_si128(_mm_cmpeq_epi8(v, backslash),
						_mm_cmpgt_epi8(_mm_xor_si128(v, flip), space));
		unsigned mask = (unsigned)_mm_movemask_epi8(keep) ^ 0xFFFF;
		if (mask) {
			unsigned k = (unsigned)__builtin_ctz(mask);
			return (span){p + k, o + k};
		}
		p += 16;
		o += 16;
	}
#else
	while (plain[(unsigned char)*p])
		*o++ = *p++;
	return (span){p, o};
#endif
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

/* The escape at p (a backslash, with at least two bytes left) decoded to o. */
static span unescape(const char *p, const char *end, char *o, failure *f)
{
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
		if (v < 0)
			return (span){bad(f, p, VG_EMALFORMED, "bad \\u escape"), o};
		p += 4;
		uint32_t cp = (uint32_t)v;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return (span){bad(f, p, VG_EMALFORMED, "lone low surrogate"), o};
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
			if (lo < 0xDC00 || lo > 0xDFFF)
				return (span){bad(f, p, VG_EMALFORMED, "lone high surrogate"), o};
			p += 6;
			cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
		}
		if (cp == 0)
			return (span){bad(f, p, VG_EMALFORMED, "\\u0000 in a string"), o};
		o += put_utf8(o, cp);
		break;
	}
	default:
		return (span){bad(f, p - 1, VG_EMALFORMED, "bad escape in a string"), o};
	}
	return (span){p, o};
}

/* The rest of a string from p, its first byte that is not plain: escapes, UTF-8 and
 * further runs up to the closing quote. */
__attribute__((noinline)) static span string_rest(const char *p, const char *end, char *o,
						  failure *f)
{
	for (;;) {
		if (p >= end)
			return (span){bad(f, p, VG_EMALFORMED, "unterminated string"), o};
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return (span){p + 1, o};
		if (c == '\\') {
			if (end - p < 2)
				return (span){bad(f, p, VG_EMALFORMED, "unterminated string"), o};
			span r = unescape(p, end, o, f);
			if (!r.p)
				return r;
			p = r.p;
			o = r.o;
		} else if (c >= 0x80) {
			size_t n = utf8_seq((const unsigned char *)p, (size_t)(end - p));
			if (!n)
				return (span){bad(f, p, VG_EMALFORMED, "invalid UTF-8 in a string"), o};
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			return (span){bad(f, p, VG_EMALFORMED, "control character in a string"), o};
		}
		span r = copy_plain(p, o);
		p = r.p;
		o = r.o;
	}
}

/* Decodes the string whose body starts at p (just past the opening quote) to o; returns
 * the input just past the closing quote and the output's end (no NUL written). Inline for
 * the usual string, plain bytes and a quote; the rest out of the way. */
static inline span parse_string(const char *p, const char *end, char *o, failure *f)
{
	span r = copy_plain(p, o);
	if (*r.p == '"')
		return (span){r.p + 1, r.o};
	return string_rest(r.p, end, r.o, f);
}

/* ---- numbers -------------------------------------------------------------------------- */

/* strtod as jansson gets it: the C locale's '.' whatever setlocale() did. jansson swaps
 * the '.' for the locale's decimal point before its strtod; strtod_l in the C locale
 * gives the same doubles without touching the text. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* strtod of the n bytes at s (a valid JSON number) in the C locale. Errors: VG_EMALFORMED
 * on overflow to infinity, which jansson refuses (underflow to zero it accepts),
 * VG_ENOMEM. */
static int slow_real(const char *s, size_t n, double *ret)
{
	char buf[128], *t = buf;
	if (n >= sizeof(buf)) {
		/* strtod over the input itself would read past len; long reals are rare. */
		t = malloc(n + 1);
		if (!t)
			return VG_ENOMEM;
	}
	memcpy(t, s, n);
	t[n] = '\0';
	pthread_once(&c_locale_once, c_locale_init);
	errno = 0;
	double d = c_locale ? strtod_l(t, NULL, c_locale) : strtod(t, NULL);
	int e = errno;
	if (t != buf)
		free(t);
	if (e == ERANGE && isinf(d))
		return VG_EMALFORMED;
	*ret = d;
	return 0;
}

/* m * 10^e exactly rounded when Clinger's fast path applies: m and 10^e are both exact
 * doubles (m <= 2^53, 10^22 is the largest exact power of ten), so one IEEE multiply or
 * divide rounds once, to the double strtod picks. Needs arithmetic in double precision,
 * not x87 extended (FLT_EVAL_METHOD 0). */
static bool fast_real(uint64_t m, int64_t e, double *ret)
{
#if FLT_EVAL_METHOD == 0
	static const double pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
		1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
	};
	const uint64_t max_exact = (uint64_t)1 << 53;
	if (m > max_exact || e < -22)
		return false;
	/* 12e30 is 12000000000e22: move zeros into m while it stays exact. */
	for (; e > 22; e--) {
		if (m > max_exact / 10)
			return false;
		m *= 10;
	}
	*ret = e >= 0 ? (double)m * pow10[e] : (double)m / pow10[-e];
	return true;
#else
	(void)m, (void)e, (void)ret;
	return false;
#endif
}

/* Adds the digits at p to *m (modulo 2^64: callers use it only for up to 19 digits).
 * Eight bytes at a time where that is portable: the NUL after the line's copy ends a run
 * at the latest, and the copy has PAD bytes after the line for the load. */
static inline const char *digits(const char *p, uint64_t *m)
{
	uint64_t v = *m;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	static const uint32_t pow10u[] = {
		1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000,
	};
	const uint64_t ones = 0x0101010101010101u;
	for (;;) {
		uint64_t w;
		memcpy(&w, p, 8);
		/* d holds digit values where w holds digits. A byte of d is 10 or more when
		 * adding 0x76 sets its high bit, or when it wrapped below '0'. Borrows and
		 * carries leave a byte only from a non-digit, so they spoil only bytes past
		 * the run, which are not used. */
		uint64_t d = w - 0x30 * ones;
		uint64_t other = (d | (d + 0x76 * ones)) & 0x80 * ones;
		unsigned k = other ? (unsigned)__builtin_ctzll(other) >> 3 : 8;
		if (k == 0)
			break;
		/* The k digits to the top bytes, zeros below them as leading zeros, then
		 * pairs, fours and eights of digits folded into one number. */
		d <<= 8 * (8 - k);
		d = (d * 10 + (d >> 8)) & 0x00FF00FF00FF00FFu;
		d = (d * 100 + (d >> 16)) & 0x0000FFFF0000FFFFu;
		d = (d * 10000 + (d >> 32)) & 0xFFFFFFFFu;
		v = v * pow10u[k] + d;
		p += k;
		if (k < 8)
			break;
	}
#else
	for (; is_digit(*p); p++)
		v = v * 10 + (uint64_t)(*p - '0');
#endif
	*m = v;
	return p;
}

/* Parses the number at p (a '-' or a digit) into nd; returns the end of it. An integer
 * that fits int64 is one; a larger one is read as a real, as Lua will hold it anyway,
 * rather than losing its event (jansson refuses it unless JSON_DECODE_INT_AS_REAL). Reals
 * must be finite. */
static const char *parse_number(const char *p, vg_json_node *nd, failure *f)
{
	const char *s = p;
	bool neg = *p == '-', real = false;
	uint64_t m = 0;   /* the digits; exact while sig <= 19 */
	ptrdiff_t sig;    /* significant digits in m: leading zeros do not count */
	int64_t e = 0;    /* decimal exponent: the value is m * 10^e while sig <= 19 */
	if (neg)
		p++;
	if (*p == '0') {
		p++;
		if (is_digit(*p))
			return bad(f, p, VG_EMALFORMED, "leading zero in a number");
		sig = 0;
	} else if (is_digit(*p)) {
		const char *d = p;
		p = digits(p, &m);
		sig = p - d;
	} else {
		return bad(f, p, VG_EMALFORMED, "bad number");
	}
	if (*p == '.') {
		real = true;
		p++;
		if (!is_digit(*p))
			return bad(f, p, VG_EMALFORMED, "bad number");
		const char *frac = p;
		if (sig == 0)
			while (*p == '0') /* 0.000123: only 123 counts */
				p++;
		const char *d = p;
		p = digits(p, &m);
		sig += p - d;
		e = frac - p;
	}
	if (*p == 'e' || *p == 'E') {
		real = true;
		p++;
		bool eneg = false;
		if (*p == '+' || *p == '-')
			eneg = *p++ == '-';
		if (!is_digit(*p))
			return bad(f, p, VG_EMALFORMED, "bad number");
		/* Past a billion only the exponent's size matters: it outweighs any fraction's
		 * digits in a document under a gigabyte. (A cap of 100,000 did not:
		 * 0.<99,990 zeros>1e1000000 came out 1e9, not an overflow.) */
		int64_t x = 0;
		for (; is_digit(*p); p++)
			if (x < 100000000)
				x = x * 10 + (*p - '0');
		e += eneg ? -x : x;
	}
	nd->len = 0;
	/* No leading zeros, so more than 19 digits is at least 1e19 > 2^63. */
	uint64_t limit = neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX;
	if (!real && sig <= 19 && m <= limit) {
		nd->type = VG_JSON_INT;
		nd->v.i = neg ? (int64_t)(0 - m) : (int64_t)m;
		return p;
	}
	double d;
	int rc;
	if (sig <= 19 && m == 0)
		d = neg ? -0.0 : 0.0; /* 0.0e999 too: zero whatever the exponent */
	else if (sig <= 19 && fast_real(m, e, &d))
		d = neg ? -d : d;
	else if ((rc = slow_real(s, (size_t)(p - s), &d)))
		return bad(f, s, rc, rc == VG_ENOMEM ? "out of memory" : "real number overflow");
	nd->type = VG_JSON_REAL;
	nd->v.d = d;
	return p;
}

/* ---- documents ------------------------------------------------------------------------ */

/* A string decoded to [o, o_end) into nd, NUL-terminated; returns the buffer past it. */
static inline char *string_node(vg_json_node *nd, uint32_t next, char *o, char *o_end)
{
	*o_end = '\0';
	*nd = (vg_json_node){.type = VG_JSON_STRING, .len = (uint32_t)(o_end - o),
			     .next = next, .v.str = o};
	return o_end + 1;
}

/* The value at p, which is not an object or an array, into nd. */
static span parse_scalar(const char *p, const char *end, char *o, vg_json_node *nd,
			 uint32_t next, failure *f)
{
	uint8_t type;
	nd->next = next;
	/* The literals compare bytes past the line only with the copy's NUL padding. */
	switch (*p) {
	case '"': {
		span r = parse_string(p + 1, end, o, f);
		if (r.p)
			r.o = string_node(nd, next, o, r.o);
		return r;
	}
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return (span){parse_number(p, nd, f), o};
	case 't':
		if (memcmp(p, "true", 4) == 0) {
			type = VG_JSON_TRUE;
			p += 4;
			goto literal;
		}
		break;
	case 'f':
		if (memcmp(p, "false", 5) == 0) {
			type = VG_JSON_FALSE;
			p += 5;
			goto literal;
		}
		break;
	case 'n':
		if (memcmp(p, "null", 4) == 0) {
			type = VG_JSON_NULL;
			p += 4;
			goto literal;
		}
		break;
	}
	if (p == end)
		return (span){bad(f, p, VG_EMALFORMED, "unexpected end of input"), o};
	return (span){bad(f, p, VG_EMALFORMED, "unexpected character"), o};
literal:
	nd->type = type;
	nd->len = 0;
	nd->v.i = 0;
	return (span){p, o};
}

/* The object at p (past leading whitespace) and everything in it, decoding strings to o;
 * returns just past its closing brace and the node count in *ret_n. A state machine
 * whose innermost open container stays in registers (top) and the ones around it on
 * stack. The checks come in document order, so the first problem is the one reported. */
static const char *parse_doc(const char *p, const char *end, char *o, vg_json_doc *doc,
			     size_t *ret_n, failure *f)
{
	vg_json_node *nodes = doc->nodes;
	size_t n = 0, cap = doc->cap;
	frame stack[VG_RULES_DEPTH_MAX], top;
	int depth = 0; /* open containers, top included */
	span r;
open: /* at '{' or '[' */
	if (n >= cap)
		return bad(f, p, VG_ETOOBIG, "more keys and values than the event limit");
	if (depth >= VG_RULES_DEPTH_MAX)
		return bad(f, p, VG_ETOOBIG, "nesting deeper than the event limit");
	if (depth)
		stack[depth - 1] = top;
	depth++;
	top = (frame){.node = (uint32_t)n++, .object = *p == '{'};
	p = skip_ws(p + 1);
	if (*p == (top.object ? '}' : ']')) {
		p++;
		goto close;
	}
	if (!top.object)
		goto value;
	/* Each state below expects one byte most of the time and skips whitespace only when
	 * it finds another: skipping is idempotent, so the checks see what they would see
	 * after skipping first, and lines without whitespace pay one compare per state. */
key: /* at a member */
	if (*p != '"') {
		p = skip_ws(p);
		if (*p != '"')
			return bad(f, p, VG_EMALFORMED, "expected a string key");
	}
	if (n >= cap)
		return bad(f, p, VG_ETOOBIG, "more keys and values than the event limit");
	r = parse_string(p + 1, end, o, f);
	if (!r.p)
		return NULL;
	o = string_node(&nodes[n], (uint32_t)n + 1, o, r.o);
	n++;
	p = r.p;
	if (*p != ':') {
		p = skip_ws(p);
		if (*p != ':')
			return bad(f, p, VG_EMALFORMED, "expected ':'");
	}
	p++;
value: /* at a value */
	if (*p == '"') { /* the usual value, here rather than in parse_scalar's switch */
		if (n >= cap)
			return bad(f, p, VG_ETOOBIG, "more keys and values than the event limit");
		r = parse_string(p + 1, end, o, f);
		if (!r.p)
			return NULL;
		o = string_node(&nodes[n], (uint32_t)n + 1, o, r.o);
		n++;
		p = r.p;
		goto after;
	}
	p = skip_ws(p);
	if (*p == '{' || *p == '[')
		goto open;
	if (n >= cap)
		return p == end ? bad(f, p, VG_EMALFORMED, "unexpected end of input")
				: bad(f, p, VG_ETOOBIG, "more keys and values than the event limit");
	r = parse_scalar(p, end, o, &nodes[n], (uint32_t)n + 1, f);
	if (!r.p)
		return NULL;
	p = r.p;
	o = r.o;
	n++;
after: /* a value ended: count it, then on to the next or close its container */
	top.count++;
	if (*p != ',') {
		p = skip_ws(p);
		if (*p != ',') {
			if (*p != (top.object ? '}' : ']'))
				return bad(f, p, VG_EMALFORMED, top.object ? "expected ',' or '}'"
									   : "expected ',' or ']'");
			p++;
			goto close;
		}
	}
	p++;
	if (top.object)
		goto key;
	goto value;
close: /* past the end of top */
	nodes[top.node] = (vg_json_node){.type = top.object ? VG_JSON_OBJECT : VG_JSON_ARRAY,
					 .len = top.count, .next = (uint32_t)n};
	if (--depth == 0) {
		*ret_n = n;
		doc->strused = (size_t)(o - doc->strbuf);
		return p;
	}
	top = stack[depth - 1];
	goto after;
}

int vg_json_decode(vg_json_doc *doc, const char *text, size_t len, vg_error *err)
{
	if (!doc->nodes) {
		doc->nodes = malloc(doc->cap * sizeof(*doc->nodes));
		if (!doc->nodes)
			return vg_error_set(err, VG_ENOMEM, "out of memory");
	}
	/* The string buffer holds the decoded strings (len + 16 bytes: see copy_plain), then
	 * the copy of the line that is parsed, with PAD NULs after it: they end every scan,
	 * so the hot loops need no end checks, and nothing reads past text + len. */
	if (len > (SIZE_MAX - 16 - PAD) / 2)
		return vg_error_set(err, VG_ENOMEM, "out of memory");
	size_t strings = len + 16, need = strings + len + PAD;
	if (doc->strcap < need) {
		size_t cap = need < 512 ? 512 : need;
		char *b = realloc(doc->strbuf, cap);
		if (!b)
			return vg_error_set(err, VG_ENOMEM, "out of memory");
		doc->strbuf = b;
		doc->strcap = cap;
	}
	char *line = doc->strbuf + strings;
	if (len) /* text may be NULL then */
		memcpy(line, text, len);
	memset(line + len, 0, PAD);
	const char *end = line + len, *p = skip_ws(line);
	failure f = {0};
	size_t n = 0;
	doc->n = 0;
	if (*p == '[') /* a batch sent as one array, the usual slip */
		bad(&f, p, VG_EMALFORMED,
		    "an event must be a JSON object, one per line (NDJSON), not an array");
	else if (*p != '{')
		bad(&f, p, VG_EMALFORMED, "an event must be a JSON object");
	else if ((p = parse_doc(p, end, doc->strbuf, doc, &n, &f)) && (p = skip_ws(p)) != end)
		bad(&f, p, VG_EMALFORMED, "text after the object");
	if (f.code)
		return vg_error_set(err, f.code, "%s at byte %zu", f.why,
				    (size_t)(f.at - line) + 1);
	doc->n = n;
	return 0;
}

long vg_json_get(const vg_json_doc *doc, size_t obj, const char *key)
{
	return vg_json_getn(doc, obj, key, strlen(key));
}

long vg_json_getn(const vg_json_doc *doc, size_t obj, const char *key, size_t klen)
{
	if (obj >= doc->n || doc->nodes[obj].type != VG_JSON_OBJECT)
		return -1;
	long found = -1;
	size_t i = obj + 1;
	for (uint32_t m = 0; m < doc->nodes[obj].len; m++) {
		const vg_json_node *k = &doc->nodes[i];
		/* The first byte inline: most keys differ there, and a memcmp call costs more
		 * than the rest of the loop. Strings end in a NUL, so an empty key has one. */
		if (k->len == klen && k->v.str[0] == key[0] && memcmp(k->v.str, key, klen) == 0)
			found = (long)(i + 1);
		i = doc->nodes[i + 1].next;
	}
	return found;
}
