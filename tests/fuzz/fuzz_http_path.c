/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: what the HTTP server makes of a request's path and query, held to
 * an oracle written apart from it.
 * - vg__http_decode (path parameters and query arguments): a '%' takes exactly two hex
 *   digits and never encodes NUL; with plus_is_space '+' is a space; everything else is
 *   itself. Anything else is refused (NULL).
 * - vg__http_match over a table of representative routes: the first route, in table
 *   order, whose pattern has as many '/'-separated segments as the path, with each
 *   literal segment equal and each {param} segment non-empty and decodable, and whose
 *   method is the request's; its parameters decoded. On a miss, the Allow list names the
 *   methods of the routes whose pattern the path matches, in table order.
 * Input: the first byte picks the method, the rest (up to a NUL) is the path, and also
 * the text decoded.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http/internal.h"

static const char *const methods[] = {"GET", "POST", "PUT", "DELETE"};

static const vg_http_route routes[] = {
	{.method = "GET", .pattern = "/"},
	{.method = "GET", .pattern = "/v1/banks"},
	{.method = "POST", .pattern = "/v1/banks"},
	{.method = "GET", .pattern = "/v1/banks/{name}"},
	{.method = "DELETE", .pattern = "/v1/banks/{name}"},
	{.method = "GET", .pattern = "/v1/banks/{name}/signals/{id}"},
	{.method = "PUT", .pattern = "/v1/rules/{name}"},
	{.method = "GET", .pattern = "/v1/{kind}/{id}"},
	{.method = "POST", .pattern = "/v1/events"},
	{.method = "GET", .pattern = "/v1//x"},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))
#define MAXP 8

/* The oracle's decoding into out (n + 1 bytes); false when refused. */
static bool decode(const char *s, size_t n, bool plus, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || !isxdigit((unsigned char)s[i + 1]) ||
			    !isxdigit((unsigned char)s[i + 2]))
				return false;
			char hex[3] = {s[i + 1], s[i + 2], '\0'};
			long v = strtol(hex, NULL, 16);
			if (v == 0)
				return false;
			out[o++] = (char)v;
			i += 2;
		} else {
			out[o++] = plus && s[i] == '+' ? ' ' : s[i];
		}
	}
	out[o] = '\0';
	return true;
}

/* Splits s (which starts with '/') into its segments, pointers into s; -1 when s does not
 * start with '/' or has more than max. */
static int segments(const char *s, const char **seg, size_t *len, int max)
{
	if (s[0] != '/')
		return -1;
	int n = 0;
	for (const char *p = s + 1;; n++) {
		if (n == max)
			return -1;
		const char *e = strchr(p, '/');
		seg[n] = p;
		len[n] = e ? (size_t)(e - p) : strlen(p);
		if (!e)
			return n + 1;
		p = e + 1;
	}
}

/* Whether pattern matches path; its parameters' decoded values into vals. */
static bool matches(const char *pattern, const char *path, char vals[MAXP][512], int *nvals)
{
	const char *ps[64], *us[64];
	size_t pl[64], ul[64];
	int np = segments(pattern, ps, pl, 64), nu = segments(path, us, ul, 64);
	if (np < 0 || nu != np)
		return false;
	*nvals = 0;
	for (int i = 0; i < np; i++) {
		if (pl[i] >= 2 && ps[i][0] == '{' && ps[i][pl[i] - 1] == '}') {
			if (ul[i] == 0 || !decode(us[i], ul[i], false, vals[(*nvals)++]))
				return false;
		} else if (pl[i] != ul[i] || memcmp(ps[i], us[i], pl[i]) != 0) {
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[512];
	if (size < 1 || !vg_fuzz_cstr(data + 1, size - 1, path, sizeof(path)))
		return 0;
	const char *method = methods[data[0] % 4];
	size_t n = strlen(path);
	vg_arena *arena = vg_arena_new(1 << 20);
	VG_FUZZ_CHECK(arena != NULL);

	char want[512];
	for (int plus = 0; plus <= 1; plus++) {
		const char *got = vg__http_decode(path, n, plus, arena);
		bool ok = decode(path, n, plus, want);
		VG_FUZZ_CHECK((got != NULL) == ok);
		VG_FUZZ_CHECK(!ok || strcmp(got, want) == 0);
	}

	/* The oracle: the first route that matches with this method, and the Allow list. */
	static char vals[MAXP][512];
	int want_route = -1, want_n = 0;
	char allow[256] = "";
	for (size_t i = 0; i < NROUTES && want_route < 0; i++) {
		int nv;
		if (!matches(routes[i].pattern, path, vals, &nv))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			want_route = (int)i;
			want_n = nv;
		} else {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, routes[i].method);
		}
	}
	const char *names[MAXP], *values[MAXP];
	int np = -1;
	char got_allow[256];
	int r = vg__http_match(routes, NROUTES, method, path, arena, names, values, MAXP, &np,
			       got_allow, sizeof(got_allow));
	VG_FUZZ_CHECK(r == want_route);
	if (r >= 0) {
		VG_FUZZ_CHECK(np == want_n);
		for (int i = 0; i < np; i++)
			VG_FUZZ_CHECK(strcmp(values[i], vals[i]) == 0);
	} else {
		VG_FUZZ_CHECK(np == 0);
		VG_FUZZ_CHECK(strcmp(got_allow, allow) == 0);
	}
	vg_arena_free(arena);
	return 0;
}
