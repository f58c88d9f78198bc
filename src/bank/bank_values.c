/* SPDX-License-Identifier: Apache-2.0
 *
 * The normal forms of the signal types rules' match() reads: url, domain, ip and text
 * (bank.h lists them; docs/banks.md shows examples). A normal form is what the store
 * keeps and what dedupe compares, so each normaliser maps every spelling of one signal to
 * one string and is a fixed point (normalising a normal form returns it unchanged).
 *
 * They agree with src/rules/rules_banks.c, which builds its sets from these strings: a
 * url is vg_url_canonicalize()'s form (rules canonicalise the event's url the same way),
 * a domain is the lower-case punycode host a canonical url carries (so a url's host finds
 * it), an ip is a form inet_pton() reads back, and a text is the bytes as given.
 *
 * Every input is hostile: each normaliser bounds the input before it copies or converts
 * anything, and refuses a NUL or a control character.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

/* ---- url ------------------------------------------------------------------------------ */

int vg__bank_url_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			   vg_error *err)
{
	if (len == 0)
		return vg_error_set(err, VG_EINVAL, "empty url");
	if (len > VG_URL_MAX)
		return vg_error_set(err, VG_EINVAL, "url of %zu bytes is over %d", len, VG_URL_MAX);
	/* vg_url_canonicalize reads a URL as a browser does, and a browser takes a space in a
	 * path as %20. In a bank's value it is more likely a slip ("https://x/ , note" in a
	 * plain file), so a signal says it with %20. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)value[i] <= 0x20 || value[i] == 0x7f)
			return vg_error_set(err, VG_EINVAL,
					    "url holds a space or control character "
					    "(byte %zu; write a space as %%20)",
					    i + 1);
	char canon[VG_URL_MAX + 1];
	vg_error uerr;
	if (vg_url_canonicalize(value, len, canon, sizeof(canon), &uerr) != 0)
		return vg_error_set(err, VG_EINVAL, "bad url: %s", uerr.msg);
	size_t n = strlen(canon);
	/* Checked on the canonical form: percent-encoding an IRI can triple its length. */
	if (n > VG_BANK_URL_MAX)
		return vg_error_set(err, VG_EINVAL, "canonical url of %zu bytes is over %d", n,
				    VG_BANK_URL_MAX);
	memcpy(out, canon, n + 1);
	return 0;
}

/* ---- domain --------------------------------------------------------------------------- */

/* Labels of 1 to 63 bytes, 253 in all (RFC 1035 2.3.4), and a last label that is not all
 * digits: no top-level domain is, and "192.0.2.1" or "10.1" is an address. */
static int domain_shape(const char *host, vg_error *err)
{
	size_t n = strlen(host);
	if (n > VG_BANK_DOMAIN_MAX)
		return vg_error_set(err, VG_EINVAL, "domain of %zu bytes is over %d", n,
				    VG_BANK_DOMAIN_MAX);
	const char *label = host;
	bool digits = true;
	for (const char *p = host;; p++) {
		if (*p == '.' || *p == '\0') {
			size_t ln = (size_t)(p - label);
			if (ln == 0 || ln > 63)
				return vg_error_set(err, VG_EINVAL,
						    "a domain label must be 1 to 63 bytes, not %zu", ln);
			if (*p == '\0')
				break;
			label = p + 1;
			digits = true;
			continue;
		}
		digits &= *p >= '0' && *p <= '9';
	}
	if (digits)
		return vg_error_set(err, VG_EINVAL,
				    "'%.64s' looks like an IP address: use type ip", host);
	return 0;
}

int vg__bank_domain_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			      vg_error *err)
{
	/* Non-ASCII input may take up to 4 bytes per character of its 253-byte punycode. */
	if (len == 0)
		return vg_error_set(err, VG_EINVAL, "empty domain");
	if (len > 4 * VG_BANK_DOMAIN_MAX)
		return vg_error_set(err, VG_EINVAL, "domain of %zu bytes is too long", len);
	if (len >= 2 && value[0] == '*' && value[1] == '.')
		return vg_error_set(err, VG_EINVAL, "a domain covers its subdomains already: "
						    "drop the leading '*.'");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c <= 0x20 || c == 0x7f)
			return vg_error_set(err, VG_EINVAL, "domain holds a space or control character");
		/* Only a host name: these would make the URL below mean something else. */
		if (strchr("/:@?#[]%\\", c))
			return vg_error_set(err, VG_EINVAL,
					    "a domain is a host name alone, without scheme, port, "
					    "path or user ('%c' at %zu; for a URL use type url)",
					    c, i + 1);
	}
	/* A last label of digits makes the name an IPv4 address or nothing (as in a URL). */
	size_t end = len > 1 && value[len - 1] == '.' ? len - 1 : len, digits = 0;
	while (digits < end && value[end - 1 - digits] >= '0' && value[end - 1 - digits] <= '9')
		digits++;
	if (digits && (digits == end || value[end - 1 - digits] == '.'))
		return vg_error_set(err, VG_EINVAL,
				    "a domain ending in a number looks like an IP "
				    "address: use type ip");
	/* The URL canonicaliser already lower-cases a host, maps an international one to
	 * punycode (UTS #46, non-transitional) and drops the root label's dot: reusing it
	 * keeps domain signals and the hosts of canonical urls one and the same string. */
	char url[4 * VG_BANK_DOMAIN_MAX + 16], canon[VG_URL_MAX + 1], host[VG_URL_MAX + 1];
	int k = snprintf(url, sizeof(url), "http://%.*s/", (int)len, value);
	vg_error uerr;
	if (vg_url_canonicalize(url, (size_t)k, canon, sizeof(canon), &uerr) != 0)
		return vg_error_set(err, VG_EINVAL, "bad domain: %s", uerr.msg);
	if (vg_url_host(canon, host, sizeof(host)) != 0 || host[0] == '[')
		return vg_error_set(err, VG_EINVAL, "bad domain");
	int rc = domain_shape(host, err);
	if (rc)
		return rc;
	memcpy(out, host, strlen(host) + 1);
	return 0;
}

/* ---- ip ------------------------------------------------------------------------------- */

/* Reads "/N" (1 to 3 digits, at most max) into *ret. */
static bool parse_prefix(const char *s, size_t n, int max, int *ret)
{
	if (n == 0 || n > 3)
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*ret = v;
	return true;
}

/* Zeroes every bit of addr (nbytes long) past the first prefix bits. */
static void mask_host_bits(unsigned char *addr, size_t nbytes, int prefix)
{
	for (size_t i = 0; i < nbytes; i++) {
		int keep = prefix - (int)i * 8;
		if (keep >= 8)
			continue;
		addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
	}
}

/* True when a is in ::ffff:0:0/96, an IPv4 address written as IPv6 (RFC 4291 2.5.5.2). */
static bool v4_mapped(const unsigned char a[16])
{
	static const unsigned char head[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return memcmp(a, head, sizeof(head)) == 0;
}

int vg__bank_ip_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			  vg_error *err)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (len == 0)
		return vg_error_set(err, VG_EINVAL, "empty ip");
	if (len >= sizeof(buf))
		return vg_error_set(err, VG_EINVAL, "not an IP address or CIDR range");
	/* Only these characters spell an address, so the messages below may quote it. */
	for (size_t i = 0; i < len; i++)
		if (!strchr("0123456789abcdefABCDEF.:/", value[i]) || value[i] == '\0')
			return vg_error_set(err, VG_EINVAL,
					    "not an IP address or CIDR range (byte %zu)", i + 1);
	memcpy(buf, value, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	unsigned char a[16];
	bool v6 = strchr(buf, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, a) != 1)
		return vg_error_set(err, VG_EINVAL, "'%.48s' is not an IPv4 or IPv6 address", buf);
	int max = v6 ? 128 : 32, prefix = max;
	if (slash && !parse_prefix(slash + 1, strlen(slash + 1), max, &prefix))
		return vg_error_set(err, VG_EINVAL, "an IPv%d prefix length is 0 to %d", v6 ? 6 : 4,
				    max);
	mask_host_bits(a, v6 ? 16 : 4, prefix);
	/* One address, one spelling: ::ffff:192.0.2.1 is 192.0.2.1, which is also how rules
	 * look it up. A shorter prefix reaches past the mapped block and stays IPv6. */
	if (v6 && prefix >= 96 && v4_mapped(a)) {
		memmove(a, a + 12, 4);
		v6 = false;
		max = 32;
		prefix -= 96;
	}
	char text[INET6_ADDRSTRLEN];
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, text, sizeof(text)))
		return vg_error_set(err, VG_EINVAL, "not an IP address");
	if (prefix < max)
		snprintf(out, VG_BANK_VALUE_BUF, "%s/%d", text, prefix);
	else
		snprintf(out, VG_BANK_VALUE_BUF, "%s", text);
	return 0;
}

/* ---- text ----------------------------------------------------------------------------- */

int vg__bank_text_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			    vg_error *err)
{
	if (len == 0)
		return vg_error_set(err, VG_EINVAL, "empty text");
	if (len > VG_BANK_TEXT_MAX)
		return vg_error_set(err, VG_EINVAL, "text of %zu bytes is over %d", len,
				    VG_BANK_TEXT_MAX);
	const unsigned char *s = (const unsigned char *)value;
	bool blank = true;
	for (size_t i = 0; i < len;) {
		unsigned cp;
		size_t k = vg_utf8_next(s + i, len - i, &cp);
		if (k == 0)
			return vg_error_set(err, VG_EINVAL, "text is not valid UTF-8 (byte %zu)",
					    i + 1);
		/* C0 and C1 controls and DEL: a newline or NUL could not survive a line of a
		 * plain or CSV file, nor a C string. Tab is common in real text. */
		if ((cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f))
			return vg_error_set(err, VG_EINVAL,
					    "text holds a control character (byte %zu)", i + 1);
		blank &= cp == ' ' || cp == '\t';
		i += k;
	}
	if (blank)
		return vg_error_set(err, VG_EINVAL, "text is only spaces");
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}
