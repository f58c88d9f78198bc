/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the listen address (vg__http_parse_listen), from the config file, the
 * environment or --listen, held to the grammar docs/config.md gives it: HOST:PORT or
 * [HOST]:PORT, split at the last ':' when unbracketed, a host under 256 bytes that is
 * empty or 0.0.0.0 (every IPv4 address), an address inet_pton reads (IPv4 first), or
 * localhost; a port of 1 to 5 digits up to 65535. Accepted exactly then, as that
 * address and port.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "http/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[512];
	if (!vg_fuzz_cstr(data, size, s, sizeof(s)))
		return 0;

	/* The oracle. */
	const char *host = NULL, *port = NULL;
	size_t hl = 0;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close && close[1] == ':') {
			host = s + 1, hl = (size_t)(close - s - 1), port = close + 2;
		}
	} else {
		const char *colon = strrchr(s, ':');
		if (colon)
			host = s, hl = (size_t)(colon - s), port = colon + 1;
	}
	bool ok = host && hl < 256;
	char h[256] = "";
	long p = 0;
	if (ok) {
		memcpy(h, host, hl);
		h[hl] = '\0';
		size_t n = strlen(port);
		ok = n >= 1 && n <= 5 && strspn(port, "0123456789") == n;
		for (size_t i = 0; ok && i < n; i++)
			p = p * 10 + (port[i] - '0');
		ok = ok && p <= 65535;
	}
	int family = 0;
	unsigned char addr[16] = {0};
	if (ok) {
		if (!h[0]) {
			family = AF_INET; /* INADDR_ANY */
		} else if (inet_pton(AF_INET, h, addr) == 1) {
			family = AF_INET;
		} else if (inet_pton(AF_INET6, h, addr) == 1) {
			family = AF_INET6;
		} else if (strcmp(h, "localhost") == 0) {
			family = AF_INET;
			addr[0] = 127, addr[3] = 1;
		} else {
			ok = false;
		}
	}

	struct sockaddr_storage ss;
	socklen_t len = 0;
	vg_error err;
	int rc = vg__http_parse_listen(s, &ss, &len, &err);
	VG_FUZZ_CHECK((rc == 0) == ok);
	if (!ok)
		return 0;
	VG_FUZZ_CHECK(ss.ss_family == family);
	if (family == AF_INET) {
		const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
		VG_FUZZ_CHECK(len == sizeof(*v4) && ntohs(v4->sin_port) == p);
		VG_FUZZ_CHECK(memcmp(&v4->sin_addr, addr, 4) == 0);
	} else {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
		VG_FUZZ_CHECK(len == sizeof(*v6) && ntohs(v6->sin6_port) == p);
		VG_FUZZ_CHECK(memcmp(&v6->sin6_addr, addr, 16) == 0);
	}
	return 0;
}
