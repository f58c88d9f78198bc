/* SPDX-License-Identifier: Apache-2.0
 *
 * URL canonicalisation (report.h). liburiparser validates the grammar and splits the
 * URL into parts; each part is then normalised here by the rules of RFC 3986 section 6.2
 * (case, percent-encoding, dot segments) and scheme-based normalisation for http and
 * https (default port, empty path), with libidn2 turning an international host into
 * punycode. Building the output ourselves, part by part, keeps every rule in one place
 * and makes the result a fixed point: canonical input comes back unchanged.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>
#include <libpsl.h>
#include <uriparser/Uri.h>

#include "report.h"

struct buf {
	char *p;
	size_t n, cap;
	bool overflow;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->n + n >= b->cap) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void putc_(struct buf *b, char c)
{
	put(b, &c, 1);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool unreserved(unsigned c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters kept literally in a path segment or a query besides the unreserved ones:
 * sub-delims, ':' and '@' (RFC 3986 pchar), and '/' and '?' in a query. */
static bool keep_literal(unsigned c, bool query)
{
	return strchr("!$&'()*+,;=:@", (int)c) || (query && (c == '/' || c == '?'));
}

/* Appends [s, e) with percent-encoding normalised: %XX of an unreserved character is
 * decoded, other escapes get upper-case hex, anything outside the grammar is encoded. */
static void put_normalized(struct buf *b, const char *s, const char *e, bool query)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; s < e; s++) {
		unsigned c = (unsigned char)*s;
		if (c == '%' && e - s >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			unsigned v = (unsigned)(hexval(s[1]) << 4 | hexval(s[2]));
			if (unreserved(v)) {
				putc_(b, (char)v);
			} else {
				char esc[3] = {'%', hex[v >> 4], hex[v & 15]};
				put(b, esc, 3);
			}
			s += 2;
		} else if (unreserved(c) || keep_literal(c, query)) {
			putc_(b, (char)c);
		} else {
			char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
			put(b, esc, 3);
		}
	}
}

/* Removes "." and ".." segments from a normalised absolute path (RFC 3986 5.2.4), in
 * place. Segments are whole: "..a" stays. */
static void remove_dot_segments(char *path)
{
	char *out = path, *in = path;
	size_t o = 0; /* out[0..o) is the result so far; it never ends in '/' mid-walk */
	while (*in) {
		/* in points at '/' */
		char *seg = in + 1, *next = strchr(seg, '/');
		size_t len = next ? (size_t)(next - seg) : strlen(seg);
		if (len == 1 && seg[0] == '.') {
			if (!next)
				out[o++] = '/';
		} else if (len == 2 && seg[0] == '.' && seg[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* drop the slash too */
			if (!next)
				out[o++] = '/';
		} else {
			out[o++] = '/';
			memmove(out + o, seg, len);
			o += len;
		}
		in = next ? next : seg + len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
}

/* Bytes of a host, decoded; DNS allows 253, and past this nothing is a real host. */
#define HOST_MAX 511

static int canonical_host(const char *s, const char *e, struct buf *b, vg_error *err)
{
	char raw[HOST_MAX + 1];
	size_t n = 0;
	/* Percent-decode: an IDN host may arrive escaped. */
	for (; s < e; s++) {
		if (n + 1 >= sizeof(raw))
			return vg_error_set(err, VG_EINVAL, "host too long");
		if (*s == '%' && e - s >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			raw[n++] = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 2;
		} else {
			raw[n++] = *s;
		}
	}
	raw[n] = '\0';
	if (n && raw[n - 1] == '.')
		raw[--n] = '\0'; /* the root label: "example.com." is "example.com" */
	if (!n || raw[n - 1] == '.')
		return vg_error_set(err, VG_EINVAL, "empty host or label");
	bool ascii = true;
	for (size_t i = 0; i < n; i++) {
		if (raw[i] == 0)
			return vg_error_set(err, VG_EINVAL, "NUL in host");
		ascii &= (unsigned char)raw[i] < 0x80;
	}
	char *conv = NULL;
	const char *host = raw;
	if (!ascii) {
		int rc = idn2_to_ascii_8z(raw, &conv, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK)
			return vg_error_set(err, VG_EINVAL, "bad international host: %s",
					    idn2_strerror(rc));
		/* Characters IDNA maps to nothing can hide a root dot ("example.\uFEFF" becomes
		 * "example."): drop it here too, so the canonical form canonicalises to itself. */
		size_t cn = strlen(conv);
		if (cn && conv[cn - 1] == '.')
			conv[--cn] = '\0';
		if (!cn || conv[cn - 1] == '.') {
			idn2_free(conv);
			return vg_error_set(err, VG_EINVAL, "empty host or label");
		}
		host = conv;
	}
	int rc = 0;
	for (const char *p = host; *p; p++) {
		char c = (char)tolower((unsigned char)*p);
		if (!(isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_')) {
			rc = vg_error_set(err, VG_EINVAL, "character '%c' not allowed in a host", *p);
			break;
		}
		if (c == '.' && (p == host || p[1] == '.')) {
			rc = vg_error_set(err, VG_EINVAL, "empty label in host");
			break;
		}
		putc_(b, c);
	}
	idn2_free(conv);
	return rc;
}

/* Whether url is already canonical, proven by a scan that accepts only what the full
 * parse returns unchanged: "http" or "https", "://", a host of [a-z0-9_-] labels joined
 * by single dots (no user information, no port), then a path of "/"-separated segments
 * (none "." or "..") and an optional query, each of unreserved and sub-delimiter
 * characters only: no "%", no fragment, nothing to encode. Anything else takes the full
 * parse, so the shortcut can only be conservative. Events and reports mostly carry such
 * URLs, and uriparser, allocations included, costs ~20 times this scan. */
static bool already_canonical(const char *u, size_t len)
{
	size_t i;
	if (len > 7 && memcmp(u, "http://", 7) == 0)
		i = 7;
	else if (len > 8 && memcmp(u, "https://", 8) == 0)
		i = 8;
	else
		return false;
	size_t label = 0, host = i;
	for (; i < len && u[i] != '/'; i++) {
		char c = u[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
			label++;
		} else {
			return false;
		}
	}
	if (label == 0 || i == len || i - host > HOST_MAX)
		return false; /* empty host or last label, no path ("/" would be added), too long */
	bool query = false;
	size_t seg = i; /* index of the '/' that opened the current segment */
	for (; i <= len; i++) {
		bool end = i == len;
		char c = end ? '\0' : u[i];
		if (!end && c == '\0')
			return false;
		if (!query && (c == '/' || c == '?' || end)) {
			size_t n = i - seg - 1;
			if (i > seg && ((n == 1 && u[seg + 1] == '.') ||
					(n == 2 && u[seg + 1] == '.' && u[seg + 2] == '.')))
				return false;
			seg = i;
			query = c == '?';
			continue;
		}
		if (end)
			break;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  strchr("-._~!$&'()*+,;=:@", c) || (query && (c == '/' || c == '?'));
		if (!ok)
			return false;
	}
	return true;
}

int vg_url_canonicalize(const char *url, size_t len, char *out, size_t out_size, vg_error *err)
{
	if (len < out_size && len <= VG_URL_MAX && already_canonical(url, len)) {
		memcpy(out, url, len);
		out[len] = '\0';
		return 0;
	}
	return vg_url_canonicalize_full(url, len, out, out_size, err);
}

int vg_url_canonicalize_full(const char *url, size_t len, char *out, size_t out_size,
			     vg_error *err)
{
	if (len > VG_URL_MAX)
		return vg_error_set(err, VG_EINVAL, "URL over %d bytes", VG_URL_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] == 0x7f)
			return vg_error_set(err, VG_EINVAL, "URL holds a space or control character");

	/* People paste IRIs ("https://bücher.example/straße"); uriparser reads URIs. Encode
	 * every non-ASCII byte first: that is the URI the IRI stands for (RFC 3987 3.1). */
	char *ascii = malloc(3 * len + 1);
	if (!ascii)
		return vg_error_set(err, VG_ENOMEM, "out of memory");
	size_t alen = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c < 0x80) {
			ascii[alen++] = (char)c;
		} else {
			static const char hex[] = "0123456789ABCDEF";
			ascii[alen++] = '%';
			ascii[alen++] = hex[c >> 4];
			ascii[alen++] = hex[c & 15];
		}
	}
	ascii[alen] = '\0';

	UriUriA uri;
	const char *errpos;
	if (uriParseSingleUriExA(&uri, ascii, ascii + alen, &errpos) != URI_SUCCESS) {
		size_t at = (size_t)(errpos - ascii);
		free(ascii);
		return vg_error_set(err, VG_EINVAL, "not a URL (error near byte %zu)", at);
	}
	int rc = 0;
	char *tmp = malloc(out_size + 1);
	struct buf b = {.p = tmp, .cap = out_size};
	if (!tmp) {
		rc = vg_error_set(err, VG_ENOMEM, "out of memory");
		goto out;
	}
	tmp[0] = '\0';

	size_t slen = (size_t)(uri.scheme.afterLast - uri.scheme.first);
	char scheme[8] = "";
	if (!uri.scheme.first || slen >= sizeof(scheme)) {
		rc = vg_error_set(err, VG_EINVAL, "URL needs an http or https scheme");
		goto out;
	}
	for (size_t i = 0; i < slen; i++)
		scheme[i] = (char)tolower((unsigned char)uri.scheme.first[i]);
	scheme[slen] = '\0';
	int default_port = !strcmp(scheme, "http") ? 80 : !strcmp(scheme, "https") ? 443 : 0;
	if (!default_port) {
		rc = vg_error_set(err, VG_EINVAL, "scheme '%s' is not http or https", scheme);
		goto out;
	}
	put(&b, scheme, slen);
	put(&b, "://", 3);

	if (!uri.hostText.first || uri.hostText.first == uri.hostText.afterLast) {
		rc = vg_error_set(err, VG_EINVAL, "URL has no host");
		goto out;
	}
	if (uri.hostData.ip6 || uri.hostData.ipFuture.first) {
		putc_(&b, '[');
		for (const char *p = uri.hostText.first; p < uri.hostText.afterLast; p++)
			putc_(&b, (char)tolower((unsigned char)*p));
		putc_(&b, ']');
	} else {
		rc = canonical_host(uri.hostText.first, uri.hostText.afterLast, &b, err);
		if (rc)
			goto out;
	}

	if (uri.portText.first && uri.portText.first < uri.portText.afterLast) {
		long port = 0;
		for (const char *p = uri.portText.first; p < uri.portText.afterLast; p++) {
			port = port * 10 + (*p - '0');
			if (port > 65535) {
				rc = vg_error_set(err, VG_EINVAL, "port over 65535");
				goto out;
			}
		}
		if (port != default_port) {
			char ps[8];
			int k = snprintf(ps, sizeof(ps), ":%ld", port);
			put(&b, ps, (size_t)k);
		}
	}

	size_t path_start = b.n;
	if (!uri.pathHead)
		putc_(&b, '/');
	for (const UriPathSegmentA *seg = uri.pathHead; seg; seg = seg->next) {
		putc_(&b, '/');
		put_normalized(&b, seg->text.first, seg->text.afterLast, false);
	}
	if (!b.overflow)
		remove_dot_segments(b.p + path_start);
	b.n = strlen(b.p);

	if (uri.query.first) {
		putc_(&b, '?');
		put_normalized(&b, uri.query.first, uri.query.afterLast, true);
	}
	if (b.overflow || b.n > VG_URL_MAX) {
		rc = vg_error_set(err, VG_EINVAL, "canonical URL too long");
		goto out;
	}
	memcpy(out, b.p, b.n + 1);
out:
	free(tmp);
	uriFreeUriMembersA(&uri);
	free(ascii);
	return rc;
}

int vg_url_host(const char *canonical, char *out, size_t out_size)
{
	const char *h = strstr(canonical, "://");
	if (!h)
		return VG_EINVAL;
	h += 3;
	size_t n = strcspn(h, h[0] == '[' ? "]" : ":/?");
	if (h[0] == '[')
		n++;
	if (n + 1 > out_size)
		return VG_EINVAL;
	memcpy(out, h, n);
	out[n] = '\0';
	return 0;
}

int vg_url_registrable_domain(const char *host, char *out, size_t out_size)
{
	const char *reg = psl_registrable_domain(psl_builtin(), host);
	const char *r = reg ? reg : host;
	size_t n = strlen(r);
	if (n + 1 > out_size)
		return VG_EINVAL;
	memcpy(out, r, n + 1);
	return 0;
}
