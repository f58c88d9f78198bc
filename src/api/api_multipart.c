/* SPDX-License-Identifier: Apache-2.0
 *
 * Just enough multipart/form-data (RFC 7578) to take one file field out of an upload, as
 * HMA's clients send images to /h/hash. The body is already in memory and bounded by the
 * route's limit; this only finds the part's bytes in it, copying nothing. Hostile input
 * gets VG_EMALFORMED, never a read outside the body (tests/fuzz/fuzz_multipart.c).
 */
#include <string.h>
#include <strings.h>

#include "internal.h"

#define BOUNDARY_MAX 70 /* RFC 2046 */

static const uint8_t *find(const uint8_t *hay, size_t n, const char *needle, size_t m)
{
	if (m == 0 || m > n)
		return NULL;
	return memmem(hay, n, needle, m);
}

/* The boundary parameter of a Content-Type, unquoted, into out. */
static bool boundary_of(const char *ct, char out[BOUNDARY_MAX + 1])
{
	if (!ct || strncasecmp(ct, "multipart/form-data", 19) != 0)
		return false;
	const char *p = strcasestr(ct, "boundary=");
	if (!p)
		return false;
	p += 9;
	bool quoted = *p == '"';
	p += quoted;
	size_t n = 0;
	while (p[n] && n <= BOUNDARY_MAX && (quoted ? p[n] != '"' : (p[n] != ';' && p[n] != ' ')))
		n++;
	if (n == 0 || n > BOUNDARY_MAX)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Whether a part's headers (n bytes) name the field: Content-Disposition: form-data;
 * name="field". */
static bool names_field(const uint8_t *h, size_t n, const char *field)
{
	char want[160];
	int k = snprintf(want, sizeof(want), "name=\"%s\"", field);
	if (k <= 0 || (size_t)k >= sizeof(want))
		return false;
	const uint8_t *cd = find(h, n, "Content-Disposition:", 20);
	if (!cd)
		cd = find(h, n, "content-disposition:", 20);
	if (!cd)
		return false;
	size_t rest = n - (size_t)(cd - h);
	const uint8_t *eol = find(cd, rest, "\r\n", 2);
	size_t line = eol ? (size_t)(eol - cd) : rest;
	return find(cd, line, want, (size_t)k) != NULL;
}

int vg__multipart_field(const char *content_type, const uint8_t *body, size_t len,
			const char *field, const uint8_t **ret, size_t *ret_len)
{
	char b[BOUNDARY_MAX + 1], delim[BOUNDARY_MAX + 5];
	if (!boundary_of(content_type, b))
		return VG_EUNSUPPORTED;
	int dl = snprintf(delim, sizeof(delim), "--%s", b);
	const uint8_t *end = body + len;
	const uint8_t *p = find(body, len, delim, (size_t)dl);
	while (p) {
		p += dl;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return VG_ENOENT; /* the closing delimiter: no such field */
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return VG_EMALFORMED;
		p += 2;
		const uint8_t *hend = find(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!hend)
			return VG_EMALFORMED;
		const uint8_t *data = hend + 4;
		/* The part ends at CRLF + delimiter. */
		char next[BOUNDARY_MAX + 7];
		int nl = snprintf(next, sizeof(next), "\r\n--%s", b);
		const uint8_t *stop = find(data, (size_t)(end - data), next, (size_t)nl);
		if (!stop)
			return VG_EMALFORMED;
		if (names_field(p, (size_t)(hend - p), field)) {
			*ret = data;
			*ret_len = (size_t)(stop - data);
			return 0;
		}
		p = stop + 2; /* at the next delimiter */
	}
	return VG_EMALFORMED;
}
