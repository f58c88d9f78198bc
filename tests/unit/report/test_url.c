/* SPDX-License-Identifier: Apache-2.0
 *
 * URL canonicalisation: equivalent spellings agree (those of RFC 3986 and those a browser
 * reads as one URL), canonical forms are fixed points (checked on every example and on
 * random mutations), bad URLs are refused, and the host of a URL that does not
 * canonicalise is still the host a browser would open.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

/* Results rotate through a few buffers, so that two results can be compared. */
static const char *canon(const char *u)
{
	static char ring[4][VG_URL_MAX + 1];
	static int next;
	char *out = ring[next++ % 4];
	vg_error e;
	int rc = vg_url_canonicalize(u, strlen(u), out, VG_URL_MAX + 1, &e);
	cr_assert_eq(rc, 0, "%s: %s", u, e.msg);
	return out;
}

static void assert_fixed_point(const char *c)
{
	char again[VG_URL_MAX + 1];
	vg_error e;
	cr_assert_eq(vg_url_canonicalize(c, strlen(c), again, sizeof(again), &e), 0, "%s: %s", c, e.msg);
	cr_assert_str_eq(again, c, "canonicalising %s twice changed it", c);
}

Test(url, equivalent_spellings_agree)
{
	static const char *const groups[][6] = {
		{"https://example.com/img.jpg", "https://Example.COM:443/a/../img.jpg",
		 "HTTPS://example.com./img.jpg#frag", "https://user:pw@example.com/./img.jpg",
		 "https://example.com/%69mg.jpg", NULL},
		/* A root dot hidden behind a character IDNA maps to nothing (U+FEFF): found by
		 * the bank import fuzz target, whose canonical form was not a fixed point. */
		{"https://example/login", "https://Example.\xef\xbb\xbf:443/a/../login",
		 "https://example.\xef\xbb\xbf./login", NULL},
		{"http://example.com/", "http://EXAMPLE.com", "http://example.com:80",
		 "http://example.com/a/..", "http://example.com/.", NULL},
		{"https://xn--bcher-kva.example/x", "https://b\xc3\xbc\x63her.example/x",
		 "https://B\xc3\x9c\x43HER.example/x", "https://b%C3%BCcher.example/x", NULL},
		{"https://example.com/a%2Fb?q=~foo", "https://example.com/a%2fb?q=%7Efoo",
		 "https://example.com/a%2Fb?q=%7efoo", NULL},
		{"http://[2001:db8::1]:8080/p", "http://[2001:DB8::1]:8080/p", NULL},
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		const char *first = canon(groups[g][0]);
		cr_assert_str_eq(first, groups[g][0], "the first of each group is canonical");
		for (int i = 1; groups[g][i]; i++)
			cr_assert_str_eq(canon(groups[g][i]), first, "%s", groups[g][i]);
		assert_fixed_point(first);
	}
}

Test(url, different_urls_stay_different)
{
	cr_assert_str_neq(canon("https://example.com/a"), canon("https://example.com/A"));
	cr_assert_str_neq(canon("https://example.com/a?x=1"), canon("https://example.com/a?x=2"));
	cr_assert_str_neq(canon("https://example.com:8443/"), canon("https://example.com/"));
	cr_assert_str_neq(canon("http://example.com/"), canon("https://example.com/"));
	/* %2F is data, not a separator: it must not become '/'. */
	cr_assert_str_neq(canon("https://example.com/a%2Fb"), canon("https://example.com/a/b"));
	/* The phishing trick: the host is what follows '@'. */
	cr_assert_str_eq(canon("https://paypal.com@evil.example/login"), "https://evil.example/login");
}

Test(url, bad_urls_are_refused)
{
	/* After "http:", one slash is a path on a page of the same scheme: two are needed. */
	static const char *const bad[] = {
		"", "example.com/x", "ftp://example.com/x", "javascript:alert(1)", "https://",
		"https://exa mple.com/", "https://example.com:99999/", "https://ex..ample.com/",
		"https://exa<mple.com/", "https://%00.example/", "mailto:a@b.c", "http:/example.com/",
		"http:example.com", "https://ex%zzample.com/", "https://a\x01b.example/",
		"https://x{y.example/", " \t "};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[VG_URL_MAX + 1];
		vg_error e;
		cr_assert_eq(vg_url_canonicalize(bad[i], strlen(bad[i]), out, sizeof(out), &e), VG_EINVAL,
			     "'%s' was accepted as %s", bad[i], out);
	}
	char *huge = malloc(VG_URL_MAX + 100);
	memset(huge, 'a', VG_URL_MAX + 99);
	memcpy(huge, "https://x.example/", 18);
	huge[VG_URL_MAX + 99] = '\0';
	char out[VG_URL_MAX + 1];
	cr_assert_eq(vg_url_canonicalize(huge, strlen(huge), out, sizeof(out), NULL), VG_EINVAL);
	free(huge);
}

/* Found by review: uriparser refused URLs that every browser opens, so they matched no url
 * or domain signal ("https://evil.example/?q={x}" got past a ban on evil.example). They
 * are read as WHATWG's URL parser reads them, and meet the spelling RFC 3986 allows. */
Test(url, a_url_browsers_open_canonicalises_like_its_escaped_spelling)
{
	static const char *const groups[][7] = {
		{"https://evil.example/login?q=%7Bx%7D", "https://evil.example/login?q={x}",
		 "https://evil.example/login?q={x}#a#b",
		 " \x01https://evil.example/login?q={x}\x1f ",
		 "https://evil.exa\tmple/login?q={\nx}\r", NULL},
		{"https://evil.example/a%7Cb%5E%60%22%3C%3E%20c%5B%5D",
		 "https://evil.example/a|b^`\"<> c[]", NULL},
		{"https://evil.example/100%25", "https://evil.example/100%",
		 "https://evil.example/100%25#%", NULL},
		/* A browser drops tabs and newlines before it reads an escape. */
		{"https://evil.example/A", "https://evil.example/%4\n1", NULL},
		/* Any run of two or more slashes opens the authority; '\' is '/' before the query. */
		{"https://evil.example/a/b?c%5Cd", "https:\\\\evil.example\\a\\b?c\\d",
		 "https:/\\evil.example/a\\b?c%5cd", "https:///evil.example/a/b?c%5Cd",
		 "HTTPS://evil.example\\x\\..\\a/b?c\\d", NULL},
		/* The user information ends at the last '@', whatever it holds. */
		{"http://evil.example/", "http://u{s@a@evil.example:80/",
		 "http://user:p%w@evil.example", NULL},
		/* UTS #46 converts an emoji, which IDNA 2008 refuses: browsers open it. */
		{"http://xn--ls8h.la/", "http://\xf0\x9f\x92\xa9.la/", "http://%F0%9F%92%A9.la/",
		 "http://\xf0\x9f\x92\xa9\xe3\x80\x82la/", NULL},
		{"https://example.com/%01%7F", "https://example.com/\x01\x7f", NULL},
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		const char *first = canon(groups[g][0]);
		cr_assert_str_eq(first, groups[g][0], "the first of each group is canonical");
		for (int i = 1; groups[g][i]; i++)
			cr_assert_str_eq(canon(groups[g][i]), first, "%s", groups[g][i]);
		assert_fixed_point(first);
	}
	/* Still different URLs: '\' is data in a query, an escaped '/' is no separator. */
	cr_assert_str_neq(canon("https://x.example/?a\\b"), canon("https://x.example/?a/b"));
	cr_assert_str_neq(canon("https://x.example/a%5Cb"), canon("https://x.example/a\\b"));
}

/* Found by review: an IPv6 host was only lower-cased, so the spellings of one address
 * were different signals; and an IPv4 host as browsers also read it (one number, hex,
 * octal, fewer parts) was taken for a name. Both are written in one form. */
Test(url, an_ip_host_is_written_in_one_form)
{
	static const char *const groups[][8] = {
		{"https://[2001:db8::1]/p", "https://[2001:0db8:0:0::1]/p",
		 "https://[2001:DB8:0::0:1]/p",
		 "https://[2001:0db8:0000:0000:0000:0000:0000:0001]:443/p", NULL},
		{"http://[::ffff:192.0.2.1]/", "http://[::ffff:c000:201]/",
		 "http://[::FFFF:C000:0201]/", NULL},
		{"http://[2001:db8:0:1:1:1:1:1]/", "http://[2001:db8::1:1:1:1:1]/", NULL},
		{"http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", NULL},
		{"http://192.0.2.1/", "http://3221225985/", "http://0xc0.0.2.1/",
		 "http://0XC0.0x0.0X2.0x1/", "http://0300.0.2.1/", "http://192.000.002.001/",
		 "http://192.0.513/", "http://192.0.2.1./"},
		{"http://127.0.0.1/", "http://127.1/", "http://0x7f000001/", "http://017700000001/",
		 NULL},
		{"http://0.0.0.0/", "http://0/", "http://0x/", "http://0.0x0/", NULL},
		{"http://255.255.255.255/", "http://4294967295/", "http://0xffffffff/", NULL},
	};
	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		const char *first = canon(groups[g][0]);
		cr_assert_str_eq(first, groups[g][0], "the first of each group is canonical");
		for (int i = 1; i < 8 && groups[g][i]; i++)
			cr_assert_str_eq(canon(groups[g][i]), first, "%s", groups[g][i]);
		assert_fixed_point(first);
	}
	/* A name whose last label is a number is an address or nothing, as to a browser. */
	static const char *const bad[] = {
		"http://1.2.3.4.5/",  "http://256.1.1.1/",        "http://1.2.3.256/",
		"http://4294967296/", "http://0x100000000/",      "http://09/",
		"http://1.2.3.08/",   "http://example.123/",      "http://example.0x1/",
		"http://1..2/",       "http://[2001:db8::1::2]/", "http://[fe80::1%25eth0]/",
		"http://[v1.x]/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char out[VG_URL_MAX + 1];
		vg_error e;
		cr_assert_eq(vg_url_canonicalize(bad[i], strlen(bad[i]), out, sizeof(out), &e),
			     VG_EINVAL, "'%s' was accepted as %s", bad[i], out);
	}
	/* A number as one label among names is a name; so is a label that only begins with
	 * digits. */
	cr_assert_str_eq(canon("http://1.example/"), "http://1.example/");
	cr_assert_str_eq(canon("http://example.1x/"), "http://example.1x/");
}

/* The host, from the authority alone, of what does not canonicalise; and of what does,
 * the canonical URL's host. */
Test(url, the_host_of_a_url_that_does_not_canonicalise)
{
	static const char *const cases[][2] = {
		{"https://evil.example:99999/", "evil.example"},
		{"https://evil.example:port/", "evil.example"},
		{"https://user@x{y.evil.example/", "evil.example"},
		{"https://-\xf0\x9f\x92\xa9.cdn.evil.example/", "cdn.evil.example"},
		{"https://a..evil.example/", "evil.example"},
		{" hTTps:\\\\Evil.Example.\\x", "evil.example"},
		{"http://\xf0\x9f\x92\xa9.la", "xn--ls8h.la"},
		{"http://[2001:0db8::1]:x/", "[2001:db8::1]"},
		{"https://3221225985:x/", "192.0.2.1"},
	};
	char host[600];
	vg_error e;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(vg_url_host_lenient(cases[i][0], strlen(cases[i][0]), host,
						 sizeof(host), &e),
			     0, "%s: %s", cases[i][0], e.msg);
		cr_assert_str_eq(host, cases[i][1], "%s", cases[i][0]);
	}
	/* Longer than a URL may be here, which a browser does not mind. */
	char *huge = malloc(VG_URL_MAX + 100);
	memset(huge, 'a', VG_URL_MAX + 99);
	memcpy(huge, "https://evil.example/", 21);
	cr_assert_eq(vg_url_host_lenient(huge, VG_URL_MAX + 99, host, sizeof(host), &e), 0);
	cr_assert_str_eq(host, "evil.example");
	/* As many labels as bytes in the host. */
	memset(huge, '.', 8 + 490);
	memcpy(huge, "https://", 8);
	memcpy(huge + 8 + 490, "evil.example/", 14);
	cr_assert_eq(vg_url_host_lenient(huge, strlen(huge), host, sizeof(host), &e), 0, "%s",
		     e.msg);
	cr_assert_str_eq(host, "evil.example");
	free(huge);
	/* No host a browser would open: a forbidden code point, an invalid escape, no "//". */
	static const char *const none[] = {"https://exa<mple.com/", "https://ev%il.example/",
					   "http:/evil.example/", "https://", "ftp://evil.example/",
					   "https://[::1/", "evil.example", "https://@/",
					   "https://x{y.1.2.3.4.5:x/", "https://x{y.evil.0x1/"};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		cr_assert_eq(vg_url_host_lenient(none[i], strlen(none[i]), host, sizeof(host), &e),
			     VG_EINVAL, "%s gave %s", none[i], host);
	cr_assert_eq(vg_url_host_lenient("https://evil.example/", 21, host, 5, &e), VG_EINVAL);
}

/* The shortcut for canonical URLs and the full parse agree on a host's length: up to
 * 511 bytes it is kept, past that refused (found by fuzz-url: the shortcut took any). */
Test(url, a_long_host_is_refused_by_both_paths)
{
	for (size_t host = 509; host <= 514; host++) {
		char url[600], out[VG_URL_MAX + 1], full[VG_URL_MAX + 1];
		size_t n = (size_t)snprintf(url, sizeof(url), "http://");
		for (size_t i = 0; i < host; i++)
			url[n++] = i % 50 == 49 ? '.' : 'a';
		memcpy(url + n, "/x", 3);
		n += 2;
		vg_error e;
		int fast = vg_url_canonicalize(url, n, out, sizeof(out), &e);
		int slow = vg_url_canonicalize_full(url, n, full, sizeof(full), &e);
		cr_assert_eq(fast, slow, "host of %zu bytes", host);
		cr_assert_eq(fast, host <= 511 ? 0 : VG_EINVAL, "host of %zu bytes", host);
		if (fast == 0)
			cr_assert_str_eq(out, full);
	}
}

/* Property: for random printable mutations of valid URLs, whatever is accepted is
 * canonicalised to a fixed point. */
Test(url, canonical_output_is_a_fixed_point_under_mutation)
{
	static const char *const seeds[] = {
		"https://Example.COM:443/a/../b/./c%7e?x=%41&y=z#f", "http://a.b.c/%2e%2E/x/",
		"https://[::1]:443/p?q", "http://xn--bcher-kva.example/a%2fb%2F",
	};
	static const char alphabet[] = "abcXYZ019%/.:?#@[]~-_!$&'()*+,;={}|^`\\\" \t";
	srand(7);
	int accepted = 0;
	for (int i = 0; i < 20000; i++) {
		char u[256];
		strcpy(u, seeds[i % 4]);
		size_t n = strlen(u);
		for (int k = 0; k < 1 + rand() % 4; k++) {
			size_t pos = 8 + (size_t)rand() % (n - 8);
			u[pos] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		}
		char out[VG_URL_MAX + 1], host[VG_URL_MAX + 1], lenient[VG_URL_MAX + 1];
		if (vg_url_canonicalize(u, n, out, sizeof(out), NULL) == 0) {
			accepted++;
			assert_fixed_point(out);
			/* The host read from the authority alone is the canonical URL's. */
			cr_assert_eq(vg_url_host(out, host, sizeof(host)), 0);
			cr_assert_eq(vg_url_host_lenient(u, n, lenient, sizeof(lenient), NULL), 0,
				     "%s", u);
			cr_assert_str_eq(lenient, host, "%s", u);
		}
	}
	cr_assert_gt(accepted, 1000);
}

Test(url, host_and_registrable_domain)
{
	char host[256], reg[256];
	cr_assert_eq(vg_url_host("https://www.example.co.uk:8443/x", host, sizeof(host)), 0);
	cr_assert_str_eq(host, "www.example.co.uk");
	cr_assert_eq(vg_url_registrable_domain(host, reg, sizeof(reg)), 0);
	cr_assert_str_eq(reg, "example.co.uk");
	cr_assert_eq(vg_url_registrable_domain("a.b.example.com", reg, sizeof(reg)), 0);
	cr_assert_str_eq(reg, "example.com");
	cr_assert_eq(vg_url_host("http://[2001:db8::1]:80/", host, sizeof(host)), 0);
	cr_assert_str_eq(host, "[2001:db8::1]");
}

Test(url, public_suffix_tells_the_icann_section_from_the_private_one)
{
	cr_assert_eq(vg_url_public_suffix("co.uk"), VG_URL_SUFFIX_ICANN);
	cr_assert_eq(vg_url_public_suffix("com"), VG_URL_SUFFIX_ICANN);
	cr_assert_eq(vg_url_public_suffix("github.io"), VG_URL_SUFFIX_PRIVATE);
	cr_assert_eq(vg_url_public_suffix("blogspot.com"), VG_URL_SUFFIX_PRIVATE);
	cr_assert_eq(vg_url_public_suffix("example.co.uk"), VG_URL_SUFFIX_NONE);
	cr_assert_eq(vg_url_public_suffix("evil-phish.github.io"), VG_URL_SUFFIX_NONE);
	/* An unlisted single label is no suffix (the PSL's default "*" rule is not used). */
	cr_assert_eq(vg_url_public_suffix("localhost"), VG_URL_SUFFIX_NONE);
	cr_assert_eq(vg_url_public_suffix("192.0.2.1"), VG_URL_SUFFIX_NONE);
}
