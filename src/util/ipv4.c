/* SPDX-License-Identifier: Apache-2.0
 *
 * IPv4 dotted quads, parsed by hand because inet_pton costs ~350 instructions an address
 * and match(bank, ip) parses one per event. The grammar is exactly glibc's inet_pton
 * (AF_INET): four decimal parts 0..255 joined by single dots, no sign, no space, no
 * leading zero ("0" is a part, "01" is not), nothing before or after. A differential
 * unit test and fuzz target (fuzz_ip_addr) hold it to inet_pton, since the ip sets fall back
 * to inet_pton for anything else and the two must never disagree.
 */
#include "util.h"

int vg_ipv4_parse(const char *s, size_t len, uint32_t *ret)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	uint32_t addr = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (p == end || *p != '.')
				return VG_EINVAL;
			p++;
		}
		if (p == end || (unsigned)(*p - '0') > 9)
			return VG_EINVAL;
		unsigned v = *p++ - '0';
		/* A leading 0 is the whole part: the next byte must be a dot or the end. */
		for (int k = 0; v && k < 2 && p < end && (unsigned)(*p - '0') <= 9; k++)
			v = v * 10 + (*p++ - '0');
		if (v > 255)
			return VG_EINVAL;
		addr = addr << 8 | v;
	}
	if (p != end)
		return VG_EINVAL;
	*ret = addr;
	return 0;
}
