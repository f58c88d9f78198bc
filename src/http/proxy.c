/* SPDX-License-Identifier: Apache-2.0
 *
 * The client's address behind reverse proxies the operator trusts (option trusted_proxies).
 * Behind a proxy every request comes from the proxy's address: every reporter then shared
 * one rate-limit bucket of the public intake, and one client could keep it answering 429
 * for everyone, and a report recorded the proxy as its sender.
 *
 * Only a peer in the trusted list is believed, and only as far as the list goes: the
 * X-Forwarded-For entries are read from the right (the hop nearest to us) and the first
 * that is not itself a trusted proxy is the client. Entries left of it are whatever the
 * client wrote and are never read, so a client cannot choose its own address by sending
 * the header. An entry that is not an address stops the walk at the hop before it, the
 * last one a trusted proxy vouched for; so does one with a port (1.2.3.4:80), which
 * the proxy should not send. The address is written as inet_ntop writes it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One address or range: IPv4 as its IPv4-mapped IPv6 form, so one compare serves both. */
static bool parse_addr(const char *s, size_t n, uint8_t out[16])
{
	uint32_t v4;
	if (vg_ipv4_parse(s, n, &v4) == 0) {
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		out[12] = (uint8_t)(v4 >> 24);
		out[13] = (uint8_t)(v4 >> 16);
		out[14] = (uint8_t)(v4 >> 8);
		out[15] = (uint8_t)v4;
		return true;
	}
	if (vg_ipv6_parse(s, n, out) == 0)
		return true;
	/* An IPv4 tail (::ffff:192.0.2.1), which vg_ipv6_parse leaves to inet_pton. */
	char text[INET6_ADDRSTRLEN];
	if (n >= sizeof(text) || memchr(s, '\0', n))
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, out) == 1;
}

static bool parse_range(const char *s, size_t n, vg__proxy *ret)
{
	const char *slash = memchr(s, '/', n);
	size_t an = slash ? (size_t)(slash - s) : n;
	if (!parse_addr(s, an, ret->addr))
		return false;
	bool v4 = memchr(s, ':', an) == NULL;
	int max = v4 ? 32 : 128;
	ret->bits = 128;
	if (slash) {
		long long bits;
		char num[8];
		size_t nn = n - an - 1;
		if (nn == 0 || nn >= sizeof(num))
			return false;
		memcpy(num, slash + 1, nn);
		num[nn] = '\0';
		for (size_t i = 0; i < nn; i++)
			if (num[i] < '0' || num[i] > '9')
				return false;
		bits = atoll(num);
		if (bits > max)
			return false;
		ret->bits = (int)bits + (v4 ? 96 : 0);
	}
	return true;
}

int vg__http_proxies_parse(const char *list, vg__proxies *ret, vg_error *err)
{
	ret->n = 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		const char *s = p;
		size_t len = n;
		while (len && (*s == ' ' || *s == '\t'))
			s++, len--;
		while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len) {
			if (ret->n == VG__PROXIES_MAX)
				return vg_error_set(err, VG_EINVAL, "trusted_proxies: at most %d entries",
						    VG__PROXIES_MAX);
			if (!parse_range(s, len, &ret->v[ret->n]))
				return vg_error_set(err, VG_EINVAL,
						    "trusted_proxies: '%.*s' is not an address or CIDR range",
						    (int)(len > 64 ? 64 : len), s);
			ret->n++;
		}
		p += n + (p[n] == ',');
	}
	return 0;
}

int vg_http_trusted_proxies_check(const char *list, vg_error *err)
{
	vg__proxies p;
	return vg__http_proxies_parse(list, &p, err);
}

static bool in_range(const vg__proxy *r, const uint8_t a[16])
{
	int full = r->bits / 8, rest = r->bits % 8;
	if (memcmp(r->addr, a, (size_t)full) != 0)
		return false;
	if (!rest)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (r->addr[full] & mask) == (a[full] & mask);
}

static bool trusted(const vg__proxies *p, const uint8_t a[16])
{
	for (int i = 0; i < p->n; i++)
		if (in_range(&p->v[i], a))
			return true;
	return false;
}

/* a in the form inet_ntop gives (IPv4 for a mapped address), so that two spellings of
 * one client are one rate-limit bucket. */
static void write_addr(const uint8_t a[16], char ip[46])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a, mapped, 12) == 0)
		inet_ntop(AF_INET, a + 12, ip, 46);
	else
		inet_ntop(AF_INET6, a, ip, 46);
}

bool vg__http_proxies_has(const vg__proxies *p, const char *ip)
{
	uint8_t a[16];
	return p->n && parse_addr(ip, strlen(ip), a) && trusted(p, a);
}

void vg__http_real_ip(const vg__proxies *p, const char *xff, size_t len, char ip[46])
{
	size_t end = len;
	while (end > 0) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		const char *s = xff + start;
		size_t n = end - start;
		while (n && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		uint8_t a[16];
		if (!n || n >= 46 || !parse_addr(s, n, a))
			return; /* the hop before it is the last one vouched for */
		write_addr(a, ip);
		if (!trusted(p, a))
			return;
		end = start ? start - 1 : 0;
	}
}
