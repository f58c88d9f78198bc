/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: trusted_proxies and X-Forwarded-For (src/http/proxy.c). The input is
 * a proxy list, a NUL, and a header value. A list either parses or is refused; a parsed
 * one decides the client as proxy.c promises: the answer is the peer (127.0.0.1, always
 * listed) or an address written as inet_ntop writes it that is one of the header's
 * entries; and it is never a trusted proxy unless every hop right of the peer was one.
 */
#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"
#include "http/internal.h"

/* Whether entry [s, s+n), trimmed, reads as the address ip (canonical text). */
static bool entry_is(const char *s, size_t n, const char *ip)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	char text[64];
	if (n >= sizeof(text))
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	unsigned char a[16], b[16];
	if (inet_pton(AF_INET, text, a) == 1)
		return inet_pton(AF_INET, ip, b) == 1 && memcmp(a, b, 4) == 0;
	if (inet_pton(AF_INET6, text, a) != 1)
		return false;
	if (inet_pton(AF_INET6, ip, b) == 1)
		return memcmp(a, b, 16) == 0;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, mapped, 12) == 0 && inet_pton(AF_INET, ip, b) == 1 &&
	       memcmp(a + 12, b, 4) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nul = memchr(in, '\0', size);
	if (!nul || nul - in > 1000)
		return 0;
	char list[1100];
	snprintf(list, sizeof(list), "127.0.0.1,%s", in);
	const char *xff = nul + 1;
	size_t xlen = size - (size_t)(xff - in);
	if (memchr(xff, '\0', xlen))
		return 0; /* a header value holds no NUL */
	vg__proxies p;
	vg_error err;
	if (vg__http_proxies_parse(list, &p, &err) != 0) {
		VG_FUZZ_CHECK(err.code == VG_EINVAL && strstr(err.msg, "trusted_proxies"));
		return 0;
	}
	VG_FUZZ_CHECK(vg__http_proxies_has(&p, "127.0.0.1"));
	char ip[46] = "127.0.0.1";
	vg__http_real_ip(&p, xff, xlen, ip);
	VG_FUZZ_CHECK(memchr(ip, '\0', sizeof(ip)) != NULL);
	if (strcmp(ip, "127.0.0.1") == 0)
		return 0;
	bool found = false;
	for (size_t i = 0, start = 0; i <= xlen; i++)
		if (i == xlen || xff[i] == ',') {
			found = found || entry_is(xff + start, i - start, ip);
			start = i + 1;
		}
	VG_FUZZ_CHECK(found);
	return 0;
}
