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

/* Whether the parameters of a Content-Disposition value (v, n bytes: `form-data;
 * name="photo"; filename="a.jpg"`) have name equal to field. Parameter names are
 * case-insensitive and a value is a quoted string (backslash escapes one byte) or a
 * token: .NET sends name=photo unquoted. Only the parameter named exactly `name`
 * counts: filename="photo" names a file, not the field. */
static bool disposition_names(const uint8_t *v, size_t n, const char *field)
{
	size_t i = 0, flen = strlen(field);
	while (i < n && v[i] != ';') /* the disposition type */
		i++;
	while (i < n) {
		i++; /* the ';' */
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		size_t k = i;
		while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ' ' && v[i] != '\t')
			i++;
		bool is_name = i - k == 4 && strncasecmp((const char *)v + k, "name", 4) == 0;
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i >= n || v[i] != '=')
			continue; /* a parameter without a value: at the next ';' */
		i++;
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		/* The value compared byte by byte as it is read. */
		size_t got = 0;
		bool same = true;
		if (i < n && v[i] == '"') {
			for (i++; i < n && v[i] != '"'; i++) {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				same = same && got < flen && v[i] == (uint8_t)field[got];
				got++;
			}
			if (i >= n)
				return false; /* unterminated */
			i++;
		} else {
			for (; i < n && v[i] != ';' && v[i] != ' ' && v[i] != '\t'; i++) {
				same = same && got < flen && v[i] == (uint8_t)field[got];
				got++;
			}
		}
		if (is_name)
			return same && got == flen;
		while (i < n && v[i] != ';')
			i++;
	}
	return false;
}

/* Whether a part's headers (n bytes, CRLF-separated lines) name the field. The header
 * name is case-insensitive (RFC 7578 4.8, RFC 9110): Content-disposition and
 * CONTENT-DISPOSITION are as good as Content-Disposition. */
static bool names_field(const uint8_t *h, size_t n, const char *field)
{
	static const char cd[] = "content-disposition";
	const size_t cdl = sizeof(cd) - 1;
	size_t i = 0;
	while (i < n) {
		const uint8_t *eol = find(h + i, n - i, "\r\n", 2);
		size_t line = eol ? (size_t)(eol - (h + i)) : n - i;
		const uint8_t *l = h + i;
		if (line > cdl && strncasecmp((const char *)l, cd, cdl) == 0) {
			size_t k = cdl;
			while (k < line && (l[k] == ' ' || l[k] == '\t'))
				k++;
			if (k < line && l[k] == ':')
				return disposition_names(l + k + 1, line - k - 1, field);
		}
		i += line + 2;
	}
	return false;
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
