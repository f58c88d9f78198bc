/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_json_quote() on arbitrary bytes. Its contract (util.h) is total:
 * any input gives one RFC 8259 string literal in valid UTF-8, whose decoded value is
 * the input with each byte that is not part of a valid UTF-8 sequence replaced by
 * U+FFFD. The output is decoded here by a separate, table-driven reader and compared
 * with that expectation. The size protocol is checked too: the length returned is the
 * same whatever out_size is, and a short buffer gets a literal cut before the first
 * piece that does not fit, still closed and decoding to a prefix of the value, and not a
 * byte past its end (each buffer is malloc'd to its exact size so ASan sees overruns).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "util/util.h"

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), or 0. */
static size_t seq_len(const uint8_t *s, size_t avail)
{
	static const struct {
		uint8_t lead_lo, lead_hi, next_lo, next_hi, len;
	} forms[] = {
		{0x00, 0x7f, 0x00, 0x00, 1}, {0xc2, 0xdf, 0x80, 0xbf, 2},
		{0xe0, 0xe0, 0xa0, 0xbf, 3}, {0xe1, 0xec, 0x80, 0xbf, 3},
		{0xed, 0xed, 0x80, 0x9f, 3}, {0xee, 0xef, 0x80, 0xbf, 3},
		{0xf0, 0xf0, 0x90, 0xbf, 4}, {0xf1, 0xf3, 0x80, 0xbf, 4},
		{0xf4, 0xf4, 0x80, 0x8f, 4},
	};
	for (size_t f = 0; f < VG_ARRAY_LEN(forms); f++) {
		if (s[0] < forms[f].lead_lo || s[0] > forms[f].lead_hi)
			continue;
		size_t n = forms[f].len;
		if (avail < n)
			return 0;
		if (n > 1 && (s[1] < forms[f].next_lo || s[1] > forms[f].next_hi))
			return 0;
		for (size_t k = 2; k < n; k++)
			if (s[k] < 0x80 || s[k] > 0xbf)
				return 0;
		return n;
	}
	return 0;
}

static size_t put_utf8(uint8_t *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	size_t n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
	static const uint8_t lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
	for (size_t k = n - 1; k > 0; k--, cp >>= 6)
		out[k] = (uint8_t)(0x80 | (cp & 0x3f));
	out[0] = (uint8_t)(lead[n] | cp);
	return n;
}

/* Four hex digits at q (the caller checked they are in bounds) as a code unit. */
static uint32_t hex4(const uint8_t *q)
{
	uint32_t v = 0;
	for (int k = 0; k < 4; k++) {
		uint8_t c = q[k];
		int d = c >= '0' && c <= '9' ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		VG_FUZZ_CHECK(d >= 0);
		v = v << 4 | (uint32_t)d;
	}
	return v;
}

/* Checks that q[0..n) is exactly one JSON string literal in valid UTF-8 and writes
 * its decoded value to out (at most n bytes); returns the decoded length. */
static size_t decode(const uint8_t *q, size_t n, uint8_t *out)
{
	VG_FUZZ_CHECK(n >= 2 && q[0] == '"' && q[n - 1] == '"');
	size_t end = n - 1, o = 0;
	for (size_t i = 1; i < end;) {
		VG_FUZZ_CHECK(q[i] >= 0x20 && q[i] != '"');
		if (q[i] != '\\') {
			size_t k = seq_len(q + i, end - i);
			VG_FUZZ_CHECK(k > 0);
			memcpy(out + o, q + i, k);
			o += k, i += k;
			continue;
		}
		VG_FUZZ_CHECK(i + 1 < end);
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const char *e = q[i + 1] ? strchr(from, q[i + 1]) : NULL;
		if (e) {
			out[o++] = (uint8_t)to[e - from];
			i += 2;
			continue;
		}
		VG_FUZZ_CHECK(q[i + 1] == 'u' && i + 6 <= end);
		uint32_t cp = hex4(q + i + 2);
		i += 6;
		if (cp >= 0xd800 && cp <= 0xdbff) { /* a high surrogate needs its low half */
			VG_FUZZ_CHECK(i + 6 <= end && q[i] == '\\' && q[i + 1] == 'u');
			uint32_t low = hex4(q + i + 2);
			VG_FUZZ_CHECK(low >= 0xdc00 && low <= 0xdfff);
			cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			i += 6;
		} else {
			VG_FUZZ_CHECK(cp < 0xdc00 || cp > 0xdfff);
		}
		o += put_utf8(out + o, cp);
	}
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	/* The size of the output, asked with a zero-sized buffer that must stay untouched. */
	char none = 'x';
	size_t n = vg_json_quote(s, size, &none, 0);
	VG_FUZZ_CHECK(none == 'x');

	char *full = malloc(n + 1);
	uint8_t *got = malloc(n), *want = malloc(3 * size + 1);
	VG_FUZZ_CHECK(full && got && want);
	VG_FUZZ_CHECK(vg_json_quote(s, size, full, n + 1) == n);
	VG_FUZZ_CHECK(full[n] == '\0' && strlen(full) == n);

	size_t w = 0;
	for (size_t i = 0; i < size;) {
		size_t k = seq_len(data + i, size - i);
		if (k == 0) {
			memcpy(want + w, "\xef\xbf\xbd", 3), w += 3, i++;
		} else {
			memcpy(want + w, data + i, k), w += k, i += k;
		}
	}
	size_t g = decode((const uint8_t *)full, n, got);
	VG_FUZZ_CHECK(g == w && memcmp(got, want, w) == 0);

	/* Short buffers: one and two bytes (just the NUL), one byte short, and one picked
	 * by the input. Each gets the same return and, from 3 bytes, the full output's
	 * opening cut before a piece (escape or character) and closed again: one literal
	 * that decodes to a prefix of the value, longer than cap - 8 (a piece is at most 6
	 * bytes). */
	size_t shorts[] = {1, 2, n, 1 + (size ? data[0] : 0) % n};
	uint8_t *part = malloc(n);
	VG_FUZZ_CHECK(part);
	for (size_t t = 0; t < VG_ARRAY_LEN(shorts); t++) {
		size_t cap = shorts[t];
		char *buf = malloc(cap);
		VG_FUZZ_CHECK(buf);
		VG_FUZZ_CHECK(vg_json_quote(s, size, buf, cap) == n);
		size_t len = strlen(buf);
		VG_FUZZ_CHECK(len < cap);
		if (cap < 3) {
			VG_FUZZ_CHECK(len == 0);
		} else {
			VG_FUZZ_CHECK(len + 8 > cap && memcmp(buf, full, len - 1) == 0);
			size_t k = decode((const uint8_t *)buf, len, part);
			VG_FUZZ_CHECK(k <= w && memcmp(part, want, k) == 0);
			/* The cut is between pieces: the rest of the full output starts one. */
			const char *rest = full + len - 1;
			VG_FUZZ_CHECK(*rest == '\\' || *rest == '"' || ((uint8_t)*rest & 0xc0) != 0x80);
		}
		free(buf);
	}
	free(part);
	free(full);
	free(got);
	free(want);
	return 0;
}
