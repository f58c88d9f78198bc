/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of trusted_proxies (src/http/proxy.c): the list's syntax, and which
 * X-Forwarded-For entry is believed: the rightmost one that is not a trusted proxy, never
 * one left of it that a client could have written.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "http/internal.h"

static vg__proxies list(const char *s)
{
	vg__proxies p;
	vg_error err;
	cr_assert_eq(vg__http_proxies_parse(s, &p, &err), 0, "%s: %s", s, err.msg);
	return p;
}

static const char *real(const vg__proxies *p, const char *peer, const char *xff)
{
	static char ip[46];
	strcpy(ip, peer);
	vg__http_real_ip(p, xff, strlen(xff), ip);
	return ip;
}

Test(proxy, the_list_takes_addresses_and_ranges_of_both_families)
{
	vg__proxies p = list(" 10.0.0.1, 192.168.0.0/16,2001:db8::/32 ,, ::1 ");
	cr_assert_eq(p.n, 4);
	cr_assert(vg__http_proxies_has(&p, "10.0.0.1"));
	cr_assert_not(vg__http_proxies_has(&p, "10.0.0.2"));
	cr_assert(vg__http_proxies_has(&p, "192.168.200.7"));
	cr_assert(vg__http_proxies_has(&p, "::ffff:192.168.1.1"), "a mapped peer is its IPv4");
	cr_assert(vg__http_proxies_has(&p, "2001:db8:ffff::1"));
	cr_assert_not(vg__http_proxies_has(&p, "2001:db9::1"));
	cr_assert(vg__http_proxies_has(&p, "::1"));
	cr_assert_eq(list("").n, 0);
	vg__proxies none = list("");
	cr_assert_not(vg__http_proxies_has(&none, "10.0.0.1"));
	p = list("0.0.0.0/0");
	cr_assert(vg__http_proxies_has(&p, "203.0.113.9"));
	cr_assert_not(vg__http_proxies_has(&p, "2001:db8::1"), "/0 of IPv4 is IPv4 only");
}

Test(proxy, a_bad_entry_is_refused_by_name)
{
	const char *bad[] = {"10.0.0.1/33", "10.0.0.1/", "10.0.0.1/x", "proxy.local",
			     "2001:db8::/129", "10.0.0.1:80", "1.2.3"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vg__proxies p;
		vg_error err;
		cr_assert_eq(vg__http_proxies_parse(bad[i], &p, &err), VG_EINVAL, "%s", bad[i]);
		cr_assert(strstr(err.msg, "trusted_proxies"), "%s", err.msg);
	}
}

Test(proxy, the_client_is_the_rightmost_untrusted_hop)
{
	vg__proxies p = list("127.0.0.1, 10.0.0.0/8");
	cr_assert_str_eq(real(&p, "127.0.0.1", "203.0.113.5"), "203.0.113.5");
	/* A client's own header is left of what the proxy added: never read. */
	cr_assert_str_eq(real(&p, "127.0.0.1", "1.1.1.1, 203.0.113.5"), "203.0.113.5");
	/* Through two trusted proxies. */
	cr_assert_str_eq(real(&p, "127.0.0.1", "1.1.1.1,203.0.113.5 ,10.1.2.3"), "203.0.113.5");
	/* Spellings of one address are one address. */
	cr_assert_str_eq(real(&p, "127.0.0.1", "2001:DB8:0::1"), "2001:db8::1");
	cr_assert_str_eq(real(&p, "127.0.0.1", "::ffff:203.0.113.5"), "203.0.113.5");
	/* Not an address, or with a port: the hop before it is the last one vouched for. */
	cr_assert_str_eq(real(&p, "127.0.0.1", "203.0.113.5, junk"), "127.0.0.1");
	cr_assert_str_eq(real(&p, "127.0.0.1", "203.0.113.5:4711"), "127.0.0.1");
	cr_assert_str_eq(real(&p, "127.0.0.1", "junk, 10.0.0.9"), "10.0.0.9");
	cr_assert_str_eq(real(&p, "127.0.0.1", ""), "127.0.0.1");
	cr_assert_str_eq(real(&p, "127.0.0.1", ","), "127.0.0.1");
	/* Every hop trusted: the leftmost. */
	cr_assert_str_eq(real(&p, "127.0.0.1", "10.0.0.1, 10.0.0.2"), "10.0.0.1");
}
