/* SPDX-License-Identifier: Apache-2.0
 *
 * The sets behind match() for ip and domain signals: CIDR ranges of both families
 * (including /0, /32, /128, overlapping and adjacent ranges, IPv4-mapped IPv6) and
 * domains with their subdomains but not their look-alikes. Which strings count as
 * addresses is inet_pton's call, whatever path the parser takes.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "rules/rules.h"

static bool has(const vg_ipset *s, const char *a)
{
	return vg_ipset_contains(s, a, strlen(a));
}

Test(sets, ipv4_cidr)
{
	vg_ipset *s = vg_ipset_new();
	vg_error err;
	cr_assert_eq(vg_ipset_add(s, "192.0.2.0/24", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "198.51.100.7", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "10.0.0.0/9", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "10.128.0.0/9", &err), 0); /* adjacent: merged */
	cr_assert_eq(vg_ipset_add(s, "192.0.2.128/25", &err), 0); /* inside another */
	vg_ipset_seal(s);
	cr_assert(has(s, "192.0.2.0"));
	cr_assert(has(s, "192.0.2.255"));
	cr_assert_not(has(s, "192.0.3.0"));
	cr_assert_not(has(s, "192.0.1.255"));
	cr_assert(has(s, "198.51.100.7"));
	cr_assert_not(has(s, "198.51.100.8"));
	cr_assert(has(s, "10.0.0.1"));
	cr_assert(has(s, "10.255.255.255"));
	cr_assert_not(has(s, "11.0.0.0"));
	cr_assert(has(s, "::ffff:192.0.2.9"), "IPv4-mapped IPv6 is the IPv4 address");
	cr_assert_not(has(s, "not an ip"));
	cr_assert_not(has(s, ""));
	cr_assert_not(has(s, "192.0.2.1/32"));
	vg_ipset_free(s);
}

/* Lookups read ::ffff:a.b.c.d as a.b.c.d, so an IPv6 entry over mapped addresses must hold
 * the IPv4 addresses it maps, in both spellings, and no more. */
Test(sets, ipv6_entries_over_mapped_addresses_hold_their_ipv4_addresses)
{
	vg_ipset *s = vg_ipset_new();
	vg_error err;
	cr_assert_eq(vg_ipset_add(s, "::ffff:192.0.2.0/120", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "::ffff:198.51.100.7", &err), 0);
	vg_ipset_seal(s);
	cr_assert(has(s, "192.0.2.0"));
	cr_assert(has(s, "192.0.2.255"));
	cr_assert(has(s, "::ffff:192.0.2.77"));
	cr_assert(has(s, "198.51.100.7"));
	cr_assert(has(s, "::ffff:c633:6407"), "the same address in hex");
	cr_assert_not(has(s, "192.0.3.0"));
	cr_assert_not(has(s, "192.0.1.255"));
	cr_assert_not(has(s, "198.51.100.8"));
	vg_ipset_free(s);

	/* Blocks that hold all of the mapped range, or part of its edges. */
	s = vg_ipset_new();
	cr_assert_eq(vg_ipset_add(s, "::/0", &err), 0);
	vg_ipset_seal(s);
	cr_assert(has(s, "0.0.0.0") && has(s, "255.255.255.255") && has(s, "2001:db8::1"));
	vg_ipset_free(s);
	s = vg_ipset_new();
	cr_assert_eq(vg_ipset_add(s, "::fffe:0:0/95", &err), 0); /* ::fffe:0:0 to ::ffff:ffff:ffff */
	vg_ipset_seal(s);
	cr_assert(has(s, "0.0.0.0") && has(s, "255.255.255.255") && has(s, "::fffe:1:2"));
	cr_assert_not(has(s, "::1:0:0:0"));
	vg_ipset_free(s);
	s = vg_ipset_new();
	cr_assert_eq(vg_ipset_add(s, "::/96", &err), 0); /* ends just before the mapped range */
	vg_ipset_seal(s);
	cr_assert_not(has(s, "0.0.0.0"));
	cr_assert(has(s, "::1"));
	vg_ipset_free(s);
}

Test(sets, ipv6_cidr_and_edges)
{
	vg_ipset *s = vg_ipset_new();
	vg_error err;
	cr_assert_eq(vg_ipset_add(s, "2001:db8::/32", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "2001:db9::1/128", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "fe80::/65", &err), 0);
	vg_ipset_seal(s);
	cr_assert(has(s, "2001:db8::1"));
	cr_assert(has(s, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	cr_assert_not(has(s, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	cr_assert(has(s, "2001:db9::1"));
	cr_assert_not(has(s, "2001:db9::2"));
	cr_assert(has(s, "fe80::7fff:ffff:ffff:ffff"));
	cr_assert_not(has(s, "fe80::8000:0:0:0"));
	cr_assert_not(has(s, "192.0.2.1"), "no IPv4 range was added");
	vg_ipset_free(s);

	s = vg_ipset_new();
	cr_assert_eq(vg_ipset_add(s, "0.0.0.0/0", &err), 0);
	cr_assert_eq(vg_ipset_add(s, "::/0", &err), 0);
	vg_ipset_seal(s);
	cr_assert(has(s, "255.255.255.255"));
	cr_assert(has(s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	vg_ipset_free(s);

	s = vg_ipset_new();
	static const char *const bad[] = {"1.2.3.4/33", "::/129", "1.2.3", "1.2.3.4/", "1.2.3.4/x",
					  "x::y", "", "1.2.3.4/1234"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(vg_ipset_add(s, bad[i], &err), VG_EINVAL, "%s", bad[i]);
	vg_ipset_free(s);
}

/* What the sets took for an address when every lookup went through inet_pton: the bytes
 * up to a NUL, under 64 of them, IPv6 when a ':' is anywhere in the value. */
static bool pton_address(const char *s, size_t len)
{
	char buf[64];
	unsigned char b[16];
	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(memchr(s, ':', len) ? AF_INET6 : AF_INET, buf, b) == 1;
}

Test(sets, an_address_is_what_inet_pton_accepts)
{
	/* With every address in the set, contains() says exactly whether it parsed. */
	vg_ipset *s = vg_ipset_new();
	vg_error err;
	cr_assert(vg_ipset_empty(s));
	cr_assert_eq(vg_ipset_add(s, "0.0.0.0/0", &err), 0);
	cr_assert(vg_ipset_empty(s), "not sealed yet");
	cr_assert_eq(vg_ipset_add(s, "::/0", &err), 0);
	vg_ipset_seal(s);
	cr_assert_not(vg_ipset_empty(s));
	static const struct {
		const char *s;
		size_t len;
	} fixed[] = {
		{"192.0.2.1", 9}, {"192.0.2.01", 10}, {"192.0.2.1\0junk", 14}, {"192.0.2.1\0:", 11},
		{"::ffff:192.0.2.1", 16}, {"2001:db8::1", 11}, {"1.2.3.4:80", 10}, {"1.2.3", 5},
		{"1.2.3.4.", 8}, {"256.0.0.1", 9}, {"\0", 1},
		{"1.2.3.4                                                          ", 66},
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		cr_assert_eq(vg_ipset_contains(s, fixed[i].s, fixed[i].len),
			     pton_address(fixed[i].s, fixed[i].len), "case %zu", i);
	char v[40];
	uint64_t r = 0x2545f4914f6cdd1dull;
	static const char alphabet[] = "0123456789.......255:fF\0 ";
	for (int it = 0; it < 200000; it++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		size_t n = r % sizeof(v);
		for (size_t i = 0; i < n; i++) {
			r ^= r << 13, r ^= r >> 7, r ^= r << 17;
			v[i] = alphabet[r % (sizeof(alphabet) - 1)];
		}
		cr_assert_eq(vg_ipset_contains(s, v, n), pton_address(v, n), "'%.*s'", (int)n, v);
	}
	vg_ipset_free(s);
}

Test(sets, domains_and_subdomains)
{
	vg_strset *s = vg_strset_new();
	vg_strset_add(s, "example.com", 11);
	vg_strset_add(s, "evil.co.uk", 10);
	const char *yes[] = {"example.com", "www.example.com", "a.b.example.com", "EXAMPLE.com",
			     "example.com.", "x.evil.co.uk"};
	const char *no[] = {"notexample.com", "example.com.au", "com", "co.uk", "example.org",
			    "", "examplecom"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(vg_strset_contains_domain(s, yes[i], strlen(yes[i])), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(vg_strset_contains_domain(s, no[i], strlen(no[i])), "%s", no[i]);
	/* Exact string lookups. */
	cr_assert(vg_strset_contains(s, "example.com", 11));
	cr_assert_not(vg_strset_contains(s, "example.co", 10));
	for (int i = 0; i < 10000; i++) {
		char k[16];
		int n = snprintf(k, sizeof(k), "d%d.net", i);
		vg_strset_add(s, k, (size_t)n);
	}
	cr_assert(vg_strset_contains_domain(s, "x.d9999.net", 11));
	vg_strset_free(s);
}
