/* SPDX-License-Identifier: Apache-2.0
 *
 * Route matching: a pattern is a path whose `{name}` segments match any one non-empty
 * segment. Routes are few, so a linear scan over them with a segment-by-segment compare
 * costs less than building a tree. Also the listen-address parser.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *vg__http_decode(const char *s, size_t n, bool plus_is_space, vg_arena *arena)
{
	char *out = vg_arena_alloc(arena, n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+' && plus_is_space) {
			out[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		int hi = i + 2 < n ? vg_hex_value(s[i + 1]) : -1;
		int lo = i + 2 < n ? vg_hex_value(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi | lo) == 0)
			return NULL;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}

/* Matches path against pattern, capturing params; returns true on a match. */
static bool match_one(const char *pattern, const char *path, vg_arena *arena, const char **names,
		      const char **values, int max, int *nparams)
{
	const char *p = pattern, *u = path;
	int n = 0;
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return false;
		p++, u++;
		const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
		size_t plen = pe ? (size_t)(pe - p) : strlen(p);
		size_t ulen = ue ? (size_t)(ue - u) : strlen(u);
		if (plen >= 2 && p[0] == '{' && p[plen - 1] == '}') {
			if (ulen == 0 || n >= max)
				return false;
			const char *v = vg__http_decode(u, ulen, false, arena);
			char *name = vg_arena_alloc(arena, plen - 1);
			if (!v || !name)
				return false;
			memcpy(name, p + 1, plen - 2);
			name[plen - 2] = '\0';
			names[n] = name;
			values[n] = v;
			n++;
		} else if (plen != ulen || memcmp(p, u, plen) != 0) {
			return false;
		}
		p += plen;
		u += ulen;
	}
	if (*p || *u)
		return false;
	*nparams = n;
	return true;
}

int vg__http_match(const vg_http_route *routes, size_t n, const char *method, const char *path,
		   vg_arena *arena, const char **names, const char **values, int max,
		   int *ret_nparams, char *ret_allow, size_t allow_size)
{
	size_t used = 0;
	ret_allow[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int np = 0;
		if (!match_one(routes[i].pattern, path, arena, names, values, max, &np))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			*ret_nparams = np;
			return (int)i;
		}
		int k = snprintf(ret_allow + used, allow_size - used, "%s%s", used ? ", " : "",
				 routes[i].method);
		if (k > 0 && used + (size_t)k < allow_size)
			used += (size_t)k;
	}
	*ret_nparams = 0;
	return -1;
}

int vg__http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
			  vg_error *err)
{
	char host[256];
	const char *colon;
	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		const char *close = strchr(listen, ']');
		if (!close || close[1] != ':')
			return vg_error_set(err, VG_EINVAL, "bad listen address '%s'", listen);
		size_t hl = (size_t)(close - listen - 1);
		if (hl >= sizeof(host))
			return vg_error_set(err, VG_EINVAL, "bad listen address '%s'", listen);
		memcpy(host, listen + 1, hl);
		host[hl] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || (size_t)(colon - listen) >= sizeof(host))
			return vg_error_set(err, VG_EINVAL, "listen address '%s' needs HOST:PORT",
					    listen);
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
	}
	/* 1 to 5 digits and nothing else: strtol would also take " 80", "+80" and "-0". */
	const char *ps = colon + 1;
	size_t digits = strspn(ps, "0123456789");
	long port = 0;
	for (size_t i = 0; i < digits && i < 5; i++)
		port = port * 10 + (ps[i] - '0');
	if (digits == 0 || digits > 5 || ps[digits] || port > 65535)
		return vg_error_set(err, VG_EINVAL, "bad port in listen address '%s'", listen);

	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (!host[0] || strcmp(host, "0.0.0.0") == 0 || inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		if (!host[0])
			v4->sin_addr.s_addr = htonl(INADDR_ANY);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
	if (strcmp(host, "localhost") == 0) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*v4);
		return 0;
	}
	return vg_error_set(err, VG_EINVAL, "listen host '%s' is not an IP address", host);
}
