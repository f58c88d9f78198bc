/* SPDX-License-Identifier: Apache-2.0
 *
 * URL canonicalisation (report.h). A URL is first read as a browser reads it (the WHATWG
 * URL standard, for http and https): blanks around it and tabs and newlines in it are
 * dropped, the fragment goes from the first '#', any run of two or more '/' and '\'
 * opens the authority, the user information ends at its last '@', a '\' in the path is
 * a '/', and a byte a browser tolerates in a path or query but RFC 3986 does not (a
 * space, '"', '{', '|', a '%' without two hex digits after it, ...) is percent-encoded.
 * Otherwise a URL every browser opens, "https://evil.example/?q={x}", would be no URL
 * here, and slip past every url and domain bank. liburiparser then validates the
 * grammar and splits the URL into parts; each part is normalised here by the rules of
 * RFC 3986 section 6.2 (case, percent-encoding, dot segments) and scheme-based
 * normalisation for http and https (default port, empty path); url_host.c puts the host
 * in one form. Building the output ourselves, part by part, keeps every rule in one
 * place and makes the result a fixed point: canonical input comes back unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpsl.h>
#include <uriparser/Uri.h>

#include "internal.h"

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

/* The byte classes below are spelt out in ASCII rather than asked of <ctype.h> and
 * strchr: they run on every byte of every URL that takes the full parse. */
static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static bool alpha(unsigned c)
{
	return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

static bool unreserved(unsigned c)
{
	return alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters kept literally in a path segment or a query besides the unreserved ones:
 * sub-delims, ':' and '@' (RFC 3986 pchar), and '/' and '?' in a query. */
static bool keep_literal(unsigned c, bool query)
{
	switch (c) {
	case '!':
	case '$':
	case '&':
	case '\'':
	case '(':
	case ')':
	case '*':
	case '+':
	case ',':
	case ';':
	case '=':
	case ':':
	case '@': return true;
	case '/':
	case '?': return query;
	default: return false;
	}
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

static bool tab_or_newline(char c)
{
	return c == '\t' || c == '\n' || c == '\r';
}

int vg__url_cut_read(const char *url, size_t len, bool whole, vg__url_cut *ret, vg_error *err)
{
	const char *p = url, *e = url + len;
	while (p < e && (unsigned char)*p <= 0x20)
		p++;
	while (e > p && (unsigned char)e[-1] <= 0x20)
		e--;
	char scheme[8];
	size_t sn = 0;
	for (;; p++) {
		if (p == e)
			return vg_error_set(err, VG_EINVAL, "URL needs an http or https scheme");
		if (tab_or_newline(*p))
			continue;
		if (*p == ':')
			break;
		unsigned char c = (unsigned char)*p;
		bool ok = alpha(c) ||
			  (sn && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
		if (!ok || sn + 1 == sizeof(scheme))
			return vg_error_set(err, VG_EINVAL, "URL needs an http or https scheme");
		scheme[sn++] = (char)(alpha(c) ? c | 0x20 : c);
	}
	scheme[sn] = '\0';
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
		return vg_error_set(err, VG_EINVAL, "scheme '%s' is not http or https", scheme);
	/* "http:/x" is a path on an http page, so one slash is not enough; two or more, of
	 * either kind, open the authority whatever page the link is on. */
	size_t slashes = 0;
	for (p++; p < e && (*p == '/' || *p == '\\' || tab_or_newline(*p)); p++)
		slashes += !tab_or_newline(*p);
	if (slashes < 2)
		return vg_error_set(err, VG_EINVAL, "URL needs '//' after '%s:'", scheme);
	const char *host = p;
	for (; p < e && *p != '/' && *p != '\\' && *p != '?' && *p != '#'; p++)
		if (*p == '@')
			host = p + 1;
	vg__url_cut c = {.host = host, .host_end = p};
	memcpy(c.scheme, scheme, sn + 1);
	if (whole) {
		c.path = p;
		while (p < e && *p != '?' && *p != '#')
			p++;
		c.path_end = p;
		if (p < e && *p == '?') {
			c.query = ++p;
			while (p < e && *p != '#')
				p++;
			c.query_end = p;
		}
	}
	*ret = c;
	return 0;
}

/* Appends [s, e) of a path (or a query) with every byte outside RFC 3986's grammar
 * percent-encoded, as a browser sends it (it sends some of them raw, which servers read
 * as the same); a '\' in a path is a '/'. */
static size_t put_tolerant(char *out, const char *s, const char *e, bool query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (; s < e; s++) {
		unsigned c = (unsigned char)*s;
		if (!query && c == '\\')
			c = '/';
		if (c == '%' && e - s >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			memcpy(out + n, s, 3);
			n += 3;
			s += 2;
		} else if (unreserved(c) || keep_literal(c, query) || c == '/') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	return n;
}

/* The URI a browser would read url[0..len) as, for uriparser: scheme, "//", host and
 * port (non-ASCII bytes encoded, as RFC 3987 maps an IRI), path and query encoded. A
 * new string into *ret. */
static int browser_uri(const char *url, size_t len, char **ret, size_t *ret_len, vg_error *err)
{
	/* Tabs and newlines out first: "%4\n1" is "%41" to a browser. */
	char *buf = malloc(4 * len + 16);
	if (!buf)
		return vg_error_set(err, VG_ENOMEM, "out of memory");
	char *clean = buf + 3 * len + 15, *out = buf;
	size_t cn = 0;
	for (size_t i = 0; i < len; i++)
		if (!tab_or_newline(url[i]))
			clean[cn++] = url[i];
	vg__url_cut c;
	int rc = vg__url_cut_read(clean, cn, true, &c, err);
	if (rc) {
		free(buf);
		return rc;
	}
	size_t n = strlen(c.scheme);
	memcpy(out, c.scheme, n);
	memcpy(out + n, "://", 3);
	n += 3;
	for (const char *p = c.host; p < c.host_end; p++) {
		unsigned char h = (unsigned char)*p;
		if (h < 0x80) {
			out[n++] = (char)h;
		} else {
			static const char hex[] = "0123456789ABCDEF";
			out[n++] = '%';
			out[n++] = hex[h >> 4];
			out[n++] = hex[h & 15];
		}
	}
	n += put_tolerant(out + n, c.path, c.path_end, false);
	if (c.query) {
		out[n++] = '?';
		n += put_tolerant(out + n, c.query, c.query_end, true);
	}
	out[n] = '\0';
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* Whether url is already canonical, proven by a scan that accepts only what the full
 * parse returns unchanged: "http" or "https", "://", a host of [a-z0-9_-] labels joined
 * by single dots (no user information, no port), then a path of "/"-separated segments
 * (none "." or "..") and an optional query, each of unreserved and sub-delimiter
 * characters only: no "%", no fragment, nothing to encode. A last label that starts with
 * a digit may make the host an IPv4 address to rewrite ("3221225985"), so it takes the
 * full parse too. Anything else takes the full parse, so the shortcut can only be
 * conservative. Events and reports mostly carry such URLs, and uriparser, allocations
 * included, costs ~20 times this scan. */
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
	/* An empty host or last label, an address maybe, no path ("/" would be added), too long */
	if (label == 0 || (u[i - label] >= '0' && u[i - label] <= '9') || i == len ||
	    i - host > VG__URL_HOST_MAX)
		return false;
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
	char *ascii = NULL;
	size_t alen = 0;
	int rc = browser_uri(url, len, &ascii, &alen, err);
	if (rc)
		return rc;

	UriUriA uri;
	const char *errpos;
	if (uriParseSingleUriExA(&uri, ascii, ascii + alen, &errpos) != URI_SUCCESS) {
		size_t at = (size_t)(errpos - ascii);
		free(ascii);
		return vg_error_set(err, VG_EINVAL,
				    "not a URL (error near byte %zu of its URI form)", at);
	}
	char *tmp = malloc(out_size + 1);
	struct buf b = {.p = tmp, .cap = out_size};
	if (!tmp) {
		rc = vg_error_set(err, VG_ENOMEM, "out of memory");
		goto out;
	}
	tmp[0] = '\0';

	/* browser_uri wrote the scheme in lower case, and only http or https. */
	size_t slen = (size_t)(uri.scheme.afterLast - uri.scheme.first);
	int default_port = slen == 4 ? 80 : 443;
	put(&b, uri.scheme.first, slen);
	put(&b, "://", 3);

	if (!uri.hostText.first || uri.hostText.first == uri.hostText.afterLast) {
		rc = vg_error_set(err, VG_EINVAL, "URL has no host");
		goto out;
	}
	char host[VG__URL_HOST_MAX + 3];
	if (uri.hostData.ipFuture.first)
		rc = vg_error_set(err, VG_EINVAL,
				  "an IPvFuture host is no address a browser reads");
	else if (uri.hostData.ip6)
		rc = vg__url_ipv6_host(uri.hostText.first, uri.hostText.afterLast, host,
				       sizeof(host), err);
	else
		rc = vg__url_name_host(uri.hostText.first, uri.hostText.afterLast, host,
				       sizeof(host), err);
	if (rc)
		goto out;
	put(&b, host, strlen(host));

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

vg_url_suffix vg_url_public_suffix(const char *host)
{
	if (psl_is_public_suffix2(psl_builtin(), host, PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE))
		return VG_URL_SUFFIX_ICANN;
	if (psl_is_public_suffix2(psl_builtin(), host, PSL_TYPE_PRIVATE | PSL_TYPE_NO_STAR_RULE))
		return VG_URL_SUFFIX_PRIVATE;
	return VG_URL_SUFFIX_NONE;
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
