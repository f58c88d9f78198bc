/* SPDX-License-Identifier: Apache-2.0
 *
 * The host of a URL in one form (report.h): what url.c writes into a canonical URL, and
 * what vg_url_host_lenient() reads from a URL that does not canonicalise, so that a rule's
 * domain check sees the host a browser would connect to either way. The reference for
 * what a browser accepts is the WHATWG URL standard's host parser, for the schemes http
 * and https:
 *
 * - a name is percent-decoded, mapped by UTS #46 (non-transitional) and converted to
 *   punycode; an emoji or symbol that IDNA 2008 disallows but UTS #46 keeps (💩.la) is
 *   converted too, as browsers do;
 * - a name whose last label is a number is an IPv4 address in any of the spellings
 *   browsers read (3221225985, 0xc0.0.2.1, 0300.0.2.1, 192.0.2.1), written as four
 *   decimal parts, or no host at all;
 * - an IPv6 literal is read by inet_pton and written by inet_ntop (RFC 5952).
 *
 * Invariant: the output is lower-case printable ASCII and a fixed point.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include <idn2.h>

#include "internal.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ---- IPv4, as WHATWG reads it ------------------------------------------------------ */

/* One part of an IPv4 address: decimal, 0x hex (an empty "0x" is 0) or octal after a
 * leading 0. false when it is no number; a value past 2^32 - 1 is held at 2^32, which
 * every caller refuses. */
static bool ipv4_number(const char *s, size_t n, uint64_t *ret)
{
	if (n == 0)
		return false;
	unsigned radix = 10;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2, n -= 2, radix = 16;
	} else if (n >= 2 && s[0] == '0') {
		s += 1, n -= 1, radix = 8;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		int d = hexval((unsigned char)s[i]);
		if (d < 0 || (unsigned)d >= radix)
			return false;
		v = v * radix + (unsigned)d;
		if (v > 0xffffffffu)
			v = 0x100000000u;
	}
	*ret = v;
	return true;
}

/* WHATWG's "ends in a number": the last label is all digits, or a 0x hex number. Such a
 * host is an IPv4 address or nothing, never a name. */
static bool ends_in_number(const char *h, size_t n)
{
	const char *dot = memrchr(h, '.', n);
	const char *last = dot ? dot + 1 : h;
	size_t ln = (size_t)(h + n - last);
	if (ln == 0)
		return false;
	bool digits = true;
	for (size_t i = 0; i < ln; i++)
		digits &= last[i] >= '0' && last[i] <= '9';
	uint64_t v;
	return digits || (ln >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
			  ipv4_number(last, ln, &v));
}

/* Reads h[0..n) (no trailing dot) as 1 to 4 parts, the last filling the bytes the others
 * leave, and writes it as dotted decimal into out[16]. */
static bool ipv4_parse(const char *h, size_t n, char out[16])
{
	uint64_t part[4];
	size_t np = 0;
	for (const char *p = h, *end = h + n; p <= end;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		const char *stop = dot ? dot : end;
		if (np == 4 || !ipv4_number(p, (size_t)(stop - p), &part[np]))
			return false;
		np++;
		p = stop + 1;
	}
	uint64_t addr = part[np - 1];
	if (addr >= (uint64_t)1 << (8 * (5 - np)))
		return false;
	for (size_t i = 0; i + 1 < np; i++) {
		if (part[i] > 255)
			return false;
		addr |= part[i] << (8 * (3 - i));
	}
	struct in_addr a = {.s_addr = htonl((uint32_t)addr)};
	return inet_ntop(AF_INET, &a, out, 16) != NULL;
}

/* ---- names --------------------------------------------------------------------------- */

/* UTS #46's deviation characters (ß, ς, ZWNJ, ZWJ): the only ones its transitional
 * processing maps differently from the non-transitional processing browsers use. */
static bool has_deviation(const char *s)
{
	return strstr(s, "\xc3\x9f") || strstr(s, "\xcf\x82") || strstr(s, "\xe2\x80\x8c") ||
	       strstr(s, "\xe2\x80\x8d");
}

/* Non-ASCII name to punycode, lower-case, into out (cap bytes). libidn2's
 * non-transitional mode also applies IDNA 2008's list of disallowed code points, which
 * refuses emoji and symbols that browsers (UTS #46 alone) convert. Its transitional mode
 * does not, and maps exactly as the non-transitional one does for a name without a
 * deviation character: so that is the second try, and only for such a name. */
static int to_ascii(const char *raw, char *out, size_t cap, vg_error *err)
{
	char *conv = NULL;
	int rc = idn2_to_ascii_8z(raw, &conv, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK && !has_deviation(raw)) {
		int again = idn2_to_ascii_8z(raw, &conv, IDN2_NFC_INPUT | IDN2_TRANSITIONAL);
		if (again == IDN2_OK)
			rc = again;
	}
	if (rc != IDN2_OK)
		return vg_error_set(err, VG_EINVAL, "bad international host: %s",
				    idn2_strerror(rc));
	size_t n = strlen(conv);
	if (n >= cap) {
		idn2_free(conv);
		return vg_error_set(err, VG_EINVAL, "host too long");
	}
	memcpy(out, conv, n + 1);
	idn2_free(conv);
	return 0;
}

/* Host name raw (decoded, NUL-terminated, no root dot) in canonical form into out: IDNA,
 * lower case, [a-z0-9_-] labels; with ip, an IPv4 address when it ends in a number. */
static int name_host(const char *raw, size_t n, bool ip, char *out, size_t cap, vg_error *err)
{
	char conv[VG__URL_HOST_MAX + 1];
	const char *host = raw;
	bool ascii = true;
	for (size_t i = 0; i < n; i++)
		ascii &= (unsigned char)raw[i] < 0x80;
	if (!ascii) {
		int rc = to_ascii(raw, conv, sizeof(conv), err);
		if (rc)
			return rc;
		/* Characters IDNA maps to nothing can hide a root dot ("example.\uFEFF" becomes
		 * "example."): drop it here too, so the canonical form canonicalises to itself. */
		n = strlen(conv);
		if (n && conv[n - 1] == '.')
			conv[--n] = '\0';
		host = conv;
	}
	if (!n || host[n - 1] == '.')
		return vg_error_set(err, VG_EINVAL, "empty host or label");
	if (n >= cap)
		return vg_error_set(err, VG_EINVAL, "host too long");
	for (size_t i = 0; i < n; i++) {
		char c = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] | 0x20) : host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		      c == '_'))
			return vg_error_set(err, VG_EINVAL, "character '%c' not allowed in a host",
					    c > 0x20 && c < 0x7f ? c : '?');
		if (c == '.' && (i == 0 || host[i + 1] == '.'))
			return vg_error_set(err, VG_EINVAL, "empty label in host");
		out[i] = c;
	}
	out[n] = '\0';
	if (ip && ends_in_number(out, n) && !ipv4_parse(out, n, out))
		return vg_error_set(err, VG_EINVAL, "host ends in a number but is no IPv4 address");
	return 0;
}

/* Percent-decodes [s, e) into raw (VG__URL_HOST_MAX bytes at most) and drops the root
 * label's dot; VG_EINVAL for a NUL, an empty host or one too long. */
static int decode_host(const char *s, const char *e, char raw[VG__URL_HOST_MAX + 1], size_t *ret_n,
		       vg_error *err)
{
	size_t n = 0;
	for (; s < e; s++) {
		if (n + 1 > VG__URL_HOST_MAX)
			return vg_error_set(err, VG_EINVAL, "host too long");
		if (*s == '%' && e - s >= 3 && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
			raw[n++] = (char)(hexval(s[1]) << 4 | hexval(s[2]));
			s += 2;
		} else {
			raw[n++] = *s;
		}
	}
	raw[n] = '\0';
	if (memchr(raw, '\0', n))
		return vg_error_set(err, VG_EINVAL, "NUL in host");
	if (n && raw[n - 1] == '.')
		raw[--n] = '\0'; /* the root label: "example.com." is "example.com" */
	if (!n)
		return vg_error_set(err, VG_EINVAL, "empty host or label");
	*ret_n = n;
	return 0;
}

int vg__url_name_host(const char *s, const char *e, char *out, size_t cap, vg_error *err)
{
	char raw[VG__URL_HOST_MAX + 1];
	size_t n;
	int rc = decode_host(s, e, raw, &n, err);
	return rc ? rc : name_host(raw, n, true, out, cap, err);
}

int vg__url_ipv6_host(const char *s, const char *e, char *out, size_t cap, vg_error *err)
{
	char text[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	size_t n = (size_t)(e - s);
	if (n >= sizeof(text))
		return vg_error_set(err, VG_EINVAL, "bad IPv6 address");
	memcpy(text, s, n);
	text[n] = '\0';
	/* No zone ("%25eth0"): it names an interface of the machine that reads the URL. */
	if (inet_pton(AF_INET6, text, a) != 1)
		return vg_error_set(err, VG_EINVAL, "bad IPv6 address");
	if (!inet_ntop(AF_INET6, a, text, sizeof(text)) || strlen(text) + 3 > cap)
		return vg_error_set(err, VG_EINVAL, "bad IPv6 address");
	out[0] = '[';
	memcpy(out + 1, text, strlen(text));
	memcpy(out + 1 + strlen(text), "]", 2);
	return 0;
}

/* ---- the host of a URL that does not canonicalise ------------------------------------ */

/* The length of the label separator at s (UTS #46 maps the ideographic and full-width
 * full stops to '.'), or 0. */
static size_t separator(const char *s, const char *e)
{
	if (*s == '.')
		return 1;
	if (e - s >= 3 && (!memcmp(s, "\xe3\x80\x82", 3) || !memcmp(s, "\xef\xbc\x8e", 3) ||
			   !memcmp(s, "\xef\xbd\xa1", 3)))
		return 3;
	return 0;
}

/* One label [s, e) of a name in canonical form into conv; false when it has none (or
 * IDNA maps it to more than one label). */
static bool label_host(const char *s, const char *e, char *conv, size_t cap)
{
	char label[VG__URL_HOST_MAX + 1];
	size_t n = (size_t)(e - s);
	memcpy(label, s, n);
	label[n] = '\0';
	return n > 0 && name_host(label, n, false, conv, cap, NULL) == 0 && !strchr(conv, '.');
}

/* The longest run of raw's last labels that converts, when the whole name does not: a
 * browser connects to a subdomain of that run whatever the labels before it are (an
 * emoji IDNA refuses, a '{' a wildcard DNS record answers for), so those must not hide
 * the domain from a domain bank. Labels are converted one at a time. */
static int suffix_host(const char *raw, size_t n, char *out, size_t cap, vg_error *err)
{
	/* A separator per byte at most: n + 1 labels. */
	const char *start[VG__URL_HOST_MAX + 1], *end[VG__URL_HOST_MAX + 1];
	size_t nl = 0;
	const char *s = raw, *e = raw + n;
	for (const char *p = raw; p < e;) {
		size_t k = separator(p, e);
		if (!k) {
			p++;
			continue;
		}
		start[nl] = s, end[nl++] = p;
		p += k;
		s = p;
	}
	start[nl] = s, end[nl++] = e;
	/* The run, from the right; then its labels converted again and joined. One at a time,
	 * as a rule across labels (IDNA's bidi rule) might refuse the run as one name. */
	char conv[VG__URL_HOST_MAX + 1];
	size_t from = nl;
	while (from > 0 && label_host(start[from - 1], end[from - 1], conv, sizeof(conv)))
		from--;
	if (from == nl)
		return vg_error_set(err, VG_EINVAL, "no label of the host converts");
	size_t on = 0;
	for (size_t i = from; i < nl; i++) {
		label_host(start[i], end[i], conv, sizeof(conv));
		size_t cn = strlen(conv);
		if (on + cn + 2 > cap)
			return vg_error_set(err, VG_EINVAL, "host too long");
		if (on)
			out[on++] = '.';
		memcpy(out + on, conv, cn + 1);
		on += cn;
	}
	if (ends_in_number(out, on))
		return vg_error_set(err, VG_EINVAL, "host ends in a number but is no IPv4 address");
	return 0;
}

/* WHATWG's forbidden domain code points: a host holding one is no host to a browser. */
static bool forbidden(const char *raw, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)raw[i];
		if (c <= 0x20 || c == 0x7f || strchr("#%/:<>?@[\\]^|", c))
			return true;
	}
	return false;
}

int vg_url_host_lenient(const char *url, size_t len, char *out, size_t out_size, vg_error *err)
{
	vg__url_cut c;
	int rc = vg__url_cut_read(url, len, false, &c, err);
	if (rc)
		return rc;
	/* Tabs and newlines out, then the port off (after ']' for an IPv6 literal). */
	char hp[3 * VG__URL_HOST_MAX + 8];
	size_t n = 0;
	for (const char *p = c.host; p < c.host_end; p++) {
		if (*p == '\t' || *p == '\n' || *p == '\r')
			continue;
		if (n + 1 >= sizeof(hp))
			return vg_error_set(err, VG_EINVAL, "host too long");
		hp[n++] = *p;
	}
	char host[VG__URL_HOST_MAX + 3];
	if (n && hp[0] == '[') {
		const char *close = memchr(hp, ']', n);
		if (!close)
			return vg_error_set(err, VG_EINVAL, "bad IPv6 address");
		rc = vg__url_ipv6_host(hp + 1, close, host, sizeof(host), err);
	} else {
		const char *colon = memchr(hp, ':', n);
		const char *end = colon ? colon : hp + n;
		char raw[VG__URL_HOST_MAX + 1];
		size_t rn;
		rc = decode_host(hp, end, raw, &rn, err);
		if (!rc) {
			rc = name_host(raw, rn, true, host, sizeof(host), err);
			/* A number is an address or nothing, and a browser opens no host with a
			 * forbidden code point; a name may have labels to skip. */
			if (rc && !ends_in_number(raw, rn) && !forbidden(raw, rn))
				rc = suffix_host(raw, rn, host, sizeof(host), err);
		}
	}
	if (rc)
		return rc;
	size_t hn = strlen(host);
	if (hn + 1 > out_size)
		return vg_error_set(err, VG_EINVAL, "host too long");
	memcpy(out, host, hn + 1);
	return 0;
}
