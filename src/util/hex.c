/* SPDX-License-Identifier: Apache-2.0
 *
 * Hex encoding for digests and hashes. Decoding is strict: exactly the expected number
 * of digits, nothing else, so a hostile value can never be half-parsed. It sits on the
 * rules' hot path (every hash a rule matches is decoded), so with SSE2 (every x86-64)
 * sixteen digits are checked and decoded at once, about 25 instructions where a byte
 * table takes 120; the rest, and other machines, go through the table. On failure, bytes
 * before the first bad group may have been written, as they always could.
 */
#include "util.h"

void vg_hex_encode(const uint8_t *bytes, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

/* The flag bit lets one test of hi & lo reject either, and shifts out of the byte when
 * hi is moved up. */
#define D(c, v) [c] = 0x10 | (v)
const uint8_t vg_hex_digit[256] = {
	D('0', 0), D('1', 1), D('2', 2), D('3', 3), D('4', 4), D('5', 5), D('6', 6),
	D('7', 7), D('8', 8), D('9', 9), D('a', 10), D('b', 11), D('c', 12), D('d', 13),
	D('e', 14), D('f', 15), D('A', 10), D('B', 11), D('C', 12), D('D', 13), D('E', 14),
	D('F', 15),
};

#ifdef __SSE2__ /* every x86-64 */
#include <emmintrin.h>

/* Sixteen digits from s into eight bytes of out; false (out untouched) when any is no
 * digit. Signed byte compares suffice: bytes of 0x80 and up are negative, below '0'. */
static inline bool decode16(const unsigned char *s, uint8_t *out)
{
	__m128i x = _mm_loadu_si128((const __m128i *)s);
	__m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20)); /* 'A'..'F' as 'a'..'f' */
	__m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
				      _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
	__m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
				       _mm_cmplt_epi8(lower, _mm_set1_epi8('f' + 1)));
	if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff)
		return false;
	/* Each byte its digit's value: the low four bits, plus 9 for a letter. */
	__m128i n = _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)),
				 _mm_and_si128(letter, _mm_set1_epi8(9)));
	/* Each 16-bit lane holds a pair, first digit low: make it one byte, then pack. */
	__m128i pair = _mm_or_si128(_mm_and_si128(_mm_slli_epi16(n, 4), _mm_set1_epi16(0xf0)),
				    _mm_srli_epi16(n, 8));
	_mm_storel_epi64((__m128i *)out, _mm_packus_epi16(pair, pair));
	return true;
}
#endif

int vg_hex_decode(const char *s, size_t slen, uint8_t *out, size_t len)
{
	if (slen != 2 * len)
		return VG_EINVAL;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
#ifdef __SSE2__
	for (; i + 8 <= len; i += 8)
		if (!decode16(p + 2 * i, out + i))
			return VG_EINVAL;
#endif
	for (; i < len; i++) {
		unsigned hi = vg_hex_digit[p[2 * i]], lo = vg_hex_digit[p[2 * i + 1]];
		if (!(hi & lo & 0x10))
			return VG_EINVAL;
		out[i] = (uint8_t)(hi << 4 | (lo & 15));
	}
	return 0;
}
