/* SPDX-License-Identifier: Apache-2.0
 *
 * Hex encoding for digests and hashes. Decoding is strict: exactly the expected number
 * of digits, nothing else, so a hostile value can never be half-parsed.
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

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vg_hex_decode(const char *s, size_t slen, uint8_t *out, size_t len)
{
	if (slen != 2 * len)
		return VG_EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return VG_EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
