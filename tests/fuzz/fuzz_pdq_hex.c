/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_pdq_from_hex() on arbitrary bytes, the parser every hash from a
 * request or a bank file goes through. It must accept exactly 64 hex digits of either
 * case and nothing else, leave its out-parameter alone on failure (STYLE.md 3), and
 * agree with vg_pdq_to_hex(): parse, print, parse gives the same hash and the input's
 * digits in lower case. The bit layout is checked against hash.h's definition: the last
 * digit holds bits 0..3 (w[0]'s low nibble), the first bits 252..255.
 */
#include <string.h>

#include "fuzz.h"
#include "hash/hash.h"

static int nibble(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool valid = size == VG_PDQ_HEX_LEN;
	for (size_t i = 0; valid && i < size; i++)
		valid = nibble(data[i]) >= 0;

	vg_pdq h, before;
	memset(&h, 0xa5, sizeof(h));
	before = h;
	int rc = vg_pdq_from_hex((const char *)data, size, &h);
	if (!valid) {
		VG_FUZZ_CHECK(rc == VG_EINVAL);
		VG_FUZZ_CHECK(memcmp(&h, &before, sizeof(h)) == 0);
		return 0;
	}
	VG_FUZZ_CHECK(rc == 0);

	char hex[VG_PDQ_HEX_LEN + 1];
	vg_pdq_to_hex(&h, hex);
	VG_FUZZ_CHECK(hex[VG_PDQ_HEX_LEN] == '\0');
	int bits = 0;
	for (size_t i = 0; i < VG_PDQ_HEX_LEN; i++) {
		int v = nibble(data[i]);
		VG_FUZZ_CHECK(hex[i] == "0123456789abcdef"[v]);
		/* Digit i, from the most significant end, is bits 4*(63-i) up. */
		size_t bit = 4 * (VG_PDQ_HEX_LEN - 1 - i);
		VG_FUZZ_CHECK((int)((h.w[bit / 64] >> (bit % 64)) & 15) == v);
		bits += __builtin_popcount((unsigned)v);
	}
	VG_FUZZ_CHECK(vg_pdq_norm(&h) == bits);

	vg_pdq back;
	VG_FUZZ_CHECK(vg_pdq_from_hex(hex, VG_PDQ_HEX_LEN, &back) == 0);
	VG_FUZZ_CHECK(memcmp(&back, &h, sizeof(h)) == 0 && vg_pdq_distance(&back, &h) == 0);
	return 0;
}
