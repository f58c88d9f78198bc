/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the address parsing behind match(bank, ip), held to inet_pton as a
 * differential oracle. vg_ipv4_parse must accept exactly what inet_pton(AF_INET) accepts
 * (a NUL byte is rejected), give the same address, and leave its out-parameter alone on
 * failure. What vg_ipv6_parse accepts, inet_pton(AF_INET6) must accept as the same
 * address (it refuses the rarer forms, which go to inet_pton). vg_ipset_contains, which
 * tries both and falls back to inet_pton, must still take for an address exactly what
 * it did when it only used inet_pton: the bytes up to a NUL, under 64 of them, read as
 * IPv6 when a ':' is anywhere in the value.
 */
#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"
#include "rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static vg_ipset *all; /* every address of both families */
	if (!all) {
		all = vg_ipset_new();
		VG_FUZZ_CHECK(vg_ipset_add(all, "0.0.0.0/0", NULL) == 0);
		VG_FUZZ_CHECK(vg_ipset_add(all, "::/0", NULL) == 0);
		vg_ipset_seal(all);
	}
	const char *s = (const char *)data;
	uint32_t got = 0x5a5a5a5a;
	int rc = vg_ipv4_parse(s, size, &got);
	if (size >= 64) {
		/* The longest dotted quad has 15 bytes, the longest IPv6 form 39 (45 with an
		 * IPv4 tail); the sets take no value this long. */
		uint8_t b6[16];
		VG_FUZZ_CHECK(rc == VG_EINVAL && got == 0x5a5a5a5a);
		VG_FUZZ_CHECK(vg_ipv6_parse(s, size, b6) == VG_EINVAL);
		VG_FUZZ_CHECK(!vg_ipset_contains(all, s, size));
		return 0;
	}
	char buf[64];
	memcpy(buf, data, size);
	buf[size] = '\0';
	unsigned char b[16];
	bool want4 = !memchr(data, 0, size) && inet_pton(AF_INET, buf, b) == 1;
	VG_FUZZ_CHECK(rc == (want4 ? 0 : VG_EINVAL));
	if (want4)
		VG_FUZZ_CHECK(got == ((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
				      (uint32_t)b[2] << 8 | b[3]));
	else
		VG_FUZZ_CHECK(got == 0x5a5a5a5a);

	uint8_t got6[16];
	if (vg_ipv6_parse(s, size, got6) == 0) {
		unsigned char want6[16];
		VG_FUZZ_CHECK(!memchr(data, 0, size) && inet_pton(AF_INET6, buf, want6) == 1);
		VG_FUZZ_CHECK(memcmp(got6, want6, 16) == 0);
	}

	bool addr = size > 0 &&
		    inet_pton(memchr(data, ':', size) ? AF_INET6 : AF_INET, buf, b) == 1;
	VG_FUZZ_CHECK(vg_ipset_contains(all, s, size) == addr);
	return 0;
}
