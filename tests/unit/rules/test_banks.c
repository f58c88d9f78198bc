/* SPDX-License-Identifier: Apache-2.0
 *
 * match() against url and domain signals (src/rules/rules_banks.c), through
 * vg_rules_banks_match on banks read from a real store: every spelling a browser reads
 * as one URL finds it, and a URL that does not canonicalise still meets the domain
 * signals of the host a browser would open.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "bank/bank.h"
#include "report/report.h"
#include "rules/rules.h"

#include "../common/tmpdb.h"

TestSuite(rules_banks, .init = tmpdb_setup, .fini = tmpdb_teardown);

/* Adds signals (type, value, type, value, ..., NULL) to bank `name`, normalised as the
 * bank layer does, and returns the banks as match() reads them. */
static vg_rules_banks *banks_with(const char *name, ...)
{
	vg_store *st = tmpdb_open();
	vg_error err;
	vg_store_bank b;
	if (vg_store_bank_get(st, name, &b, &err) != 0) {
		cr_assert_eq(vg_store_bank_create(st, name, NULL, &err), 0, "%s", err.msg);
		cr_assert_eq(vg_store_bank_get(st, name, &b, &err), 0, "%s", err.msg);
	}
	va_list ap;
	va_start(ap, name);
	for (const char *type; (type = va_arg(ap, const char *));) {
		const char *value = va_arg(ap, const char *);
		char norm[VG_BANK_VALUE_BUF];
		cr_assert_eq(vg_bank_value_normalize(type, value, strlen(value), norm, &err), 0,
			     "%s %s: %s", type, value, err.msg);
		int64_t id;
		vg_store_add_result res;
		cr_assert_eq(vg_store_signal_add(st, b.id, type, norm, NULL, &id, &res, &err), 0,
			     "%s", err.msg);
	}
	va_end(ap);
	vg_store_bank_done(&b);
	vg_rules_banks *banks;
	cr_assert_eq(vg_rules_banks_open(st, 31, &banks, &err), 0, "%s", err.msg);
	vg_store_close(st);
	return banks;
}

static bool match(const vg_rules_banks *b, const char *bank, const char *v)
{
	return vg_rules_banks_match(b, bank, v, strlen(v));
}

/* Found by review: a URL that uriparser refused ("?q={x}", a stray '%', a second '#', an
 * emoji host) made match() answer false at once, before the domain set was asked, so
 * appending "?{" to a link got it past a domain ban. */
Test(rules_banks, a_url_browsers_open_meets_the_domain_ban_of_its_host)
{
	vg_rules_banks *b =
		banks_with("d", "domain", "evil.example", "domain", "\xf0\x9f\x92\xa9.la", NULL);
	static const char *const yes[] = {
		"https://evil.example/login",
		"https://evil.example/login?q={x}",
		"https://evil.example/a|b",
		"https://evil.example/a^b",
		"https://evil.example/100%",
		"https://evil.example/#a#b",
		"https://cdn.evil.example/x?cb=`1`",
		"http://xn--ls8h.la/",
		"http://\xf0\x9f\x92\xa9.la/",
		"http://www.\xf0\x9f\x92\xa9.la/x",
		/* What a browser drops or reads as '/' */
		" https://evil.example/ ",
		"https://evil.exa\tmple/",
		"HTTPS:\\\\evil.example\\x",
		"ht\ntps://evil.example/",
		"https:///evil.example/",
		/* Not canonical for us, still that host to a browser */
		"https://evil.example:99999/",
		"https://evil.example:port/",
		"https://x{y.evil.example/",
		"https://-\xf0\x9f\x92\xa9.evil.example/",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(match(b, "d", yes[i]), "%s", yes[i]);
	/* Over VG_URL_MAX bytes: canonicalisation refuses it, a browser does not. */
	char long_url[VG_URL_MAX + 100];
	memset(long_url, 'a', sizeof(long_url) - 1);
	memcpy(long_url, "https://evil.example/", 21);
	long_url[sizeof(long_url) - 1] = '\0';
	cr_assert(match(b, "d", long_url));
	static const char *const no[] = {
		"https://notevil.example/?q={x}",
		"https://evil.example.org/a|b",
		"https://good.example/?u=https://evil.example/",
		"https://good.example/#@evil.example",
		"https://evil.example@good.example/",
		"http:/evil.example/",
		"ftp://evil.example/",
		"https://ev%il.example/",
		"https://evil.example<x/",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(match(b, "d", no[i]), "%s", no[i]);
	vg_rules_banks_free(b);
}

Test(rules_banks, a_url_browsers_open_meets_the_url_signal_it_spells)
{
	vg_rules_banks *b = banks_with("u", "url", "https://evil.example/login?q={x}", "url",
				       "https://evil.example/100%", NULL);
	static const char *const yes[] = {
		"https://evil.example/login?q={x}",
		"https://evil.example/login?q=%7Bx%7D#frag",
		"https://EVIL.example/a/../login?q={x}#a#b",
		"https://evil.example/100%25",
		"https://evil.example/100%",
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(match(b, "u", yes[i]), "%s", yes[i]);
	cr_assert_not(match(b, "u", "https://evil.example/login?q={y}"));
	cr_assert_not(match(b, "u", "https://evil.example/"));
	vg_rules_banks_free(b);
}

/* Found by review: texts and canonical urls shared one set, so a text signal that looked
 * like a url matched every spelling of that url, though a text is compared byte for byte;
 * and a url signal matched a raw text of its canonical form only by accident. */
Test(rules_banks, a_text_signal_matches_only_its_own_bytes)
{
	vg_rules_banks *b = banks_with("t", "text", "http://example.com/", NULL);
	cr_assert(match(b, "t", "http://example.com/"));
	static const char *const no[] = {"HTTP://EXAMPLE.COM:80",
					 "http://user:pw@Example.com./#frag", "http://example.com",
					 "http://example.com/#x"};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(match(b, "t", no[i]), "%s", no[i]);
	vg_rules_banks_free(b);
	/* Beside a url signal of the same bank, each keeps its own rule. */
	b = banks_with("m", "text", "http://a.example/", "url", "http://B.example:80", NULL);
	cr_assert(match(b, "m", "http://a.example/"));
	cr_assert_not(match(b, "m", "HTTP://a.example"));
	cr_assert(match(b, "m", "http://b.example/"));
	cr_assert(match(b, "m", "HTTP://B.EXAMPLE#x"));
	vg_rules_banks_free(b);
}
