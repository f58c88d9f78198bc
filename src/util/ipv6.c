/* SPDX-License-Identifier: Apache-2.0
 *
 * IPv6 addresses in their usual form, parsed by hand because inet_pton costs ~850
 * instructions for eight full groups (this ~580) and match(bank, ip) parses one per
 * event. Only a subset of
 * inet_pton's grammar: one to eight groups of one to four hex digits joined by single
 * colons, with at most one "::" standing for one or more zero groups. Anything else,
 * including forms inet_pton also takes (an IPv4 tail, "::ffff:192.0.2.1"), is refused
 * here and left to the caller's inet_pton. So the one rule that matters is that what is
 * accepted here, inet_pton accepts as the same address; the fuzz target ip_addr holds
 * it to that.
 */
#include "util.h"

int vg_ipv6_parse(const char *s, size_t len, uint8_t out[16])
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	uint16_t g[8];
	int n = 0, gap = -1; /* gap: the group index "::" stands before */
	if (len < 2 || len > 39)
		return VG_EINVAL;
	if (p[0] == ':') {
		if (p[1] != ':')
			return VG_EINVAL; /* one leading colon */
		gap = 0;
		p += 2;
	}
	while (p < end) {
		unsigned v = 0;
		int d = 0;
		for (unsigned x; p < end && d < 5 && (x = vg_hex_digit[*p]); p++, d++)
			v = v << 4 | (x & 15);
		if (d == 0 || d > 4 || n == 8)
			return VG_EINVAL;
		g[n++] = (uint16_t)v;
		if (p == end)
			break;
		if (*p++ != ':' || p == end)
			return VG_EINVAL; /* a dot, a zone, a trailing colon: not ours */
		if (*p == ':') {
			if (gap >= 0)
				return VG_EINVAL;
			gap = n;
			p++;
		}
	}
	/* Without "::", eight groups; with it, at most seven (it stands for one at least). */
	if (gap < 0 ? n != 8 : n > 7)
		return VG_EINVAL;
	int zeros = 8 - n, j = 0;
	for (int i = 0; i < n; i++) {
		if (i == gap)
			for (int z = 0; z < zeros; z++, j++)
				out[2 * j] = out[2 * j + 1] = 0;
		out[2 * j] = (uint8_t)(g[i] >> 8);
		out[2 * j + 1] = (uint8_t)g[i];
		j++;
	}
	for (; j < 8; j++) /* "::" last, or alone */
		out[2 * j] = out[2 * j + 1] = 0;
	return 0;
}
