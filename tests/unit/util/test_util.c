/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for src/util: the error table, hex, IPv4 parsing, JSON quoting, the arena,
 * file reads.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/util.h"

Test(error, table_gives_name_status_and_message)
{
	cr_assert_str_eq(vg_error_name(VG_ETOOBIG), "too_large");
	cr_assert_eq(vg_error_http_status(VG_ETOOBIG), 413);
	cr_assert_eq(vg_error_http_status(VG_EUNSUPPORTED), 415);
	cr_assert_eq(vg_error_http_status(VG_EMALFORMED), 400);
	cr_assert_eq(vg_error_http_status(0), 200);
	cr_assert_str_eq(vg_error_name(0), "ok");
	/* Out-of-range codes map to internal, never out of the table. */
	cr_assert_str_eq(vg_error_name(-1), "internal");
	cr_assert_str_eq(vg_error_name(12345), "internal");
}

Test(error, set_formats_and_returns_code)
{
	vg_error e;
	cr_assert_eq(vg_error_set(&e, VG_EINVAL, "bad %s %d", "thing", 7), VG_EINVAL);
	cr_assert_eq(e.code, VG_EINVAL);
	cr_assert_str_eq(e.msg, "bad thing 7");
	cr_assert_eq(vg_error_set(NULL, VG_EIO, "ignored"), VG_EIO);
}

Test(hex, round_trip_and_strictness)
{
	uint8_t in[4] = {0x00, 0xab, 0x7f, 0xff}, out[4];
	char s[9];
	vg_hex_encode(in, 4, s);
	cr_assert_str_eq(s, "00ab7fff");
	cr_assert_eq(vg_hex_decode("00AB7fff", 8, out, 4), 0);
	cr_assert_arr_eq(in, out, 4);
	cr_assert_eq(vg_hex_decode("00ab7ff", 7, out, 4), VG_EINVAL);
	cr_assert_eq(vg_hex_decode("00ab7ffg", 8, out, 4), VG_EINVAL);
	cr_assert_eq(vg_hex_decode("00ab7ff ", 8, out, 4), VG_EINVAL);
}

/* The decoder before it went sixteen digits at a time: the oracle for the fast one. */
static int digit_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool oracle_hex(const unsigned char *s, size_t len, uint8_t *out)
{
	for (size_t i = 0; i < len; i++) {
		int hi = digit_value(s[2 * i]), lo = digit_value(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

Test(hex, decode_agrees_with_digit_by_digit_oracle)
{
	/* Every byte value at every position of every length up to 40 bytes: the vector
	 * groups, the tail after them, and digits at group edges. */
	static const char digits[] = "0123456789abcdefABCDEF";
	unsigned char s[80];
	uint8_t want[40], got[40];
	for (size_t len = 0; len <= 40; len++) {
		for (size_t i = 0; i < 2 * len; i++)
			s[i] = (unsigned char)digits[(i * 7 + len) % 22];
		for (size_t pos = 0; pos < 2 * len; pos++) {
			unsigned char keep = s[pos];
			for (int c = 0; c < 256; c++) {
				s[pos] = (unsigned char)c;
				bool ok = oracle_hex(s, len, want);
				int rc = vg_hex_decode((const char *)s, 2 * len, got, len);
				cr_assert_eq(rc, ok ? 0 : VG_EINVAL, "len %zu pos %zu byte %d", len, pos, c);
				if (ok)
					cr_assert_arr_eq(got, want, len, "len %zu pos %zu byte %d", len, pos, c);
			}
			s[pos] = keep;
		}
		cr_assert_eq(vg_hex_decode((const char *)s, 2 * len + 1, got, len), VG_EINVAL);
	}
}

/* Up to max bytes of alphabet (a string literal) into s, from the xorshift state *r;
 * returns how many. */
static size_t random_string(uint64_t *r, const char *alphabet, size_t max, char *s)
{
	size_t k = strlen(alphabet);
	*r ^= *r << 13, *r ^= *r >> 7, *r ^= *r << 17;
	size_t n = *r % (max + 1);
	for (size_t i = 0; i < n; i++) {
		*r ^= *r << 13, *r ^= *r >> 7, *r ^= *r << 17;
		s[i] = alphabet[*r % k];
	}
	return n;
}

/* inet_pton(AF_INET) on s[0..len), NUL-terminated, as the oracle. */
static void check_ipv4(const char *s, size_t len)
{
	char buf[64];
	cr_assert_lt(len, sizeof(buf));
	memcpy(buf, s, len);
	buf[len] = '\0';
	unsigned char b[4];
	bool want = inet_pton(AF_INET, buf, b) == 1;
	uint32_t got = 0xdeadbeef;
	int rc = vg_ipv4_parse(s, len, &got);
	cr_assert_eq(rc, want ? 0 : VG_EINVAL, "'%s': inet_pton says %d", buf, want);
	if (want)
		cr_assert_eq(got, (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3],
			     "'%s'", buf);
	else
		cr_assert_eq(got, 0xdeadbeef, "'%s': written on failure", buf);
}

Test(ipv4, parse_agrees_with_inet_pton)
{
	static const char *const fixed[] = {
		"1.2.3.4", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3.04", "00.0.0.0",
		"256.1.1.1", "1.2.3.256", "1.2.3", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4.5",
		" 1.2.3.4", "1.2.3.4 ", "+1.2.3.4", "1.2.3.-4", "1.2.3.0x4", "0x1.2.3.4", "1.2.3.4/24",
		"1234.1.1.1", "999.1.1.1", "1.2.3.4\n", "", ".", "...", "1", "::1", "::ffff:1.2.3.4",
		"\xc2\xb9.2.3.4", "1.2.3.\xd9\xa4",
	};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		check_ipv4(fixed[i], strlen(fixed[i]));

	/* Every part value 0..999 written with 0 to 2 leading zeros, in each position. */
	char s[64];
	for (int pos = 0; pos < 4; pos++)
		for (int v = 0; v < 1000; v++)
			for (int z = 0; z < 3; z++) {
				int parts[4] = {10, 20, 30, 40};
				char p[4][8];
				for (int k = 0; k < 4; k++)
					snprintf(p[k], sizeof(p[k]), "%d", parts[k]);
				snprintf(p[pos], sizeof(p[pos]), "%.*s%d", z, "00", v);
				int n = snprintf(s, sizeof(s), "%s.%s.%s.%s", p[0], p[1], p[2], p[3]);
				check_ipv4(s, (size_t)n);
			}

	/* Random strings over digits and dots (plus an odd other byte), up to 20 long. */
	uint64_t r = 0x9e3779b97f4a7c15ull;
	static const char alphabet[] = "0123456789.....12502x :-";
	for (int it = 0; it < 300000; it++) {
		size_t n = random_string(&r, alphabet, 20, s);
		check_ipv4(s, n);
	}

	/* A NUL is rejected (inet_pton would stop there; the ip sets fall back to it). */
	uint32_t a;
	cr_assert_eq(vg_ipv4_parse("1.2.3.4\0", 8, &a), VG_EINVAL);
	cr_assert_eq(vg_ipv4_parse("1.2\0.3.4", 8, &a), VG_EINVAL);
}

/* inet_pton(AF_INET6) on s[0..len) as the oracle: what vg_ipv6_parse accepts it must
 * accept alike; returns whether vg_ipv6_parse took it. */
static bool check_ipv6(const char *s, size_t len)
{
	char buf[64];
	cr_assert_lt(len, sizeof(buf));
	memcpy(buf, s, len);
	buf[len] = '\0';
	unsigned char want[16], got[16];
	memset(got, 0xa5, sizeof(got));
	bool ok = inet_pton(AF_INET6, buf, want) == 1;
	if (vg_ipv6_parse(s, len, got) != 0) {
		for (size_t i = 0; i < sizeof(got); i++)
			cr_assert_eq(got[i], 0xa5, "'%s': written on failure", buf);
		return false;
	}
	cr_assert(ok, "'%s': accepted, and inet_pton refuses it", buf);
	cr_assert_arr_eq(got, want, 16, "'%s'", buf);
	return true;
}

Test(ipv6, parse_agrees_with_inet_pton)
{
	/* The usual forms are taken here (not left to inet_pton)... */
	static const char *const taken[] = {
		"2001:db8::5", "::1", "::", "1::", "fe80::1:2", "2001:DB8:0:0:8:800:200C:417A",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8",
		"0001:02:3::00ff", "a::b:c",
	};
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
		cr_assert(check_ipv6(taken[i], strlen(taken[i])), "%s", taken[i]);
	/* ...the rest is refused, whatever inet_pton makes of it. */
	static const char *const left[] = {
		"::ffff:1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "fe80::1%eth0", ":::", "1:::2", "1::2::3",
		":1::2", "1::2:", "12345::", "1:2:3:4:5:6:7:8:9", "::1:2:3:4:5:6:7:8", "1:2",
		"1:2:3:4:5:6:7:8::", "g::1", "", ":", "1.2.3.4", " ::1", "::1 ",
	};
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
		cr_assert_not(check_ipv6(left[i], strlen(left[i])), "%s", left[i]);

	/* Random strings over hex digits and colons (an odd other byte too), up to 40 long. */
	char s[64];
	uint64_t r = 0x243f6a8885a308d3ull;
	static const char alphabet[] = "0123456789abcdefABCDEF::::::::0000.g% ";
	size_t taken_n = 0;
	for (int it = 0; it < 300000; it++) {
		size_t n = random_string(&r, alphabet, 40, s);
		taken_n += check_ipv6(s, n);
	}
	cr_assert_gt(taken_n, 100, "the random forms reach the accepting path (%zu)", taken_n);
	uint8_t b[16];
	cr_assert_eq(vg_ipv6_parse("::1\0", 4, b), VG_EINVAL, "a NUL is not ours");
}

static const char *quote(const char *s, size_t len)
{
	static char buf[256];
	vg_json_quote(s, len, buf, sizeof(buf));
	return buf;
}

Test(json_quote, escapes_and_replaces_invalid_utf8)
{
	cr_assert_str_eq(quote("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	cr_assert_str_eq(quote("\n\x01", 2), "\"\\u000a\\u0001\"");
	cr_assert_str_eq(quote("caf\xc3\xa9", 5), "\"caf\xc3\xa9\"");
	/* A lone continuation byte, an overlong form and a surrogate become U+FFFD. */
	cr_assert_str_eq(quote("\x80", 1), "\"\xef\xbf\xbd\"");
	cr_assert_str_eq(quote("\xc0\xaf", 2), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	cr_assert_str_eq(quote("\xed\xa0\x80", 3), "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	cr_assert_str_eq(quote("a\0b", 3), "\"a\\u0000b\"");
}

Test(json_quote, a_cut_quote_is_still_one_json_string)
{
	char small[5];
	cr_assert_eq(vg_json_quote("hello", 5, small, sizeof(small)), 7);
	cr_assert_str_eq(small, "\"he\"");
	/* An escape or a character that does not fit whole is left out whole. */
	char b[9];
	cr_assert_eq(vg_json_quote("ab\tc", 4, b, sizeof(b)), 11);
	cr_assert_str_eq(b, "\"ab\"");
	cr_assert_eq(vg_json_quote("a\xc3\xa9" "b", 4, b, 5), 6);
	cr_assert_str_eq(b, "\"a\"");
	/* Under 3 bytes there is no room for "": just the NUL. */
	cr_assert_eq(vg_json_quote("x", 1, b, 2), 3);
	cr_assert_str_eq(b, "");
	cr_assert_eq(vg_json_quote("x", 1, b, 3), 3);
	cr_assert_str_eq(b, "\"\"");
}

Test(utf8_bom, is_three_bytes_at_the_start_only)
{
	cr_assert_eq(vg_utf8_bom("\xef\xbb\xbf{}", 5), 3);
	cr_assert_eq(vg_utf8_bom("\xef\xbb\xbf", 3), 3);
	cr_assert_eq(vg_utf8_bom("\xef\xbb\xbf", 2), 0); /* cut short */
	cr_assert_eq(vg_utf8_bom("\xef\xbb\xbe", 3), 0);
	cr_assert_eq(vg_utf8_bom(" \xef\xbb\xbf", 4), 0);
	cr_assert_eq(vg_utf8_bom("", 0), 0);
}

static vg_usec rfc3339(const char *s)
{
	vg_usec t = -42;
	return vg_time_parse_rfc3339(s, strlen(s), &t) ? t : -1;
}

Test(time, parses_rfc3339)
{
	cr_assert_eq(rfc3339("1970-01-01T00:00:00Z"), 0);
	cr_assert_eq(rfc3339("2023-11-14T22:13:20Z"), 1700000000000000);
	cr_assert_eq(rfc3339("2023-11-14t22:13:20z"), 1700000000000000);
	cr_assert_eq(rfc3339("2023-11-14 22:13:20.5Z"), 1700000000500000);
	cr_assert_eq(rfc3339("2023-11-14T22:13:20.1234569Z"), 1700000000123456); /* cut, not rounded */
	cr_assert_eq(rfc3339("2023-11-15T00:13:20+02:00"), 1700000000000000);
	cr_assert_eq(rfc3339("2023-11-14T12:43:20-09:30"), 1700000000000000);
	cr_assert_eq(rfc3339("2024-02-29T00:00:00Z"), 1709164800000000);
	cr_assert_eq(rfc3339("2000-03-01T00:00:00Z"), 951868800000000);
	cr_assert_eq(rfc3339("2100-03-01T00:00:00Z"), 4107542400000000);
	cr_assert_eq(rfc3339("1900-01-01T00:00:00Z"), -2208988800000000);
	cr_assert_eq(rfc3339("0001-01-01T00:00:00Z"), -62135596800000000);
	cr_assert_eq(rfc3339("9999-12-31T23:59:59Z"), 253402300799000000);
	cr_assert_eq(rfc3339("2016-12-31T23:59:60Z"), 1483228800000000); /* leap second */
	static const char *bad[] = {
		"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14T22:13:20.Z",
		"2023-11-14T22:13Z", "2023-11-14X22:13:20Z", "2023-11-14T22:13:20ZZ",
		"2023-11-14T22:13:20+0200", "2023-11-14T22:13:20+02:00 ", " 2023-11-14T22:13:20Z",
		"2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2023-04-31T00:00:00Z",
		"2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z", "2023-01-00T00:00:00Z",
		"2023-01-01T24:00:00Z", "2023-01-01T00:60:00Z", "2023-01-01T00:00:61Z",
		"2023-01-01T00:00:00+24:00", "2023-01-01T00:00:00+00:60", "0000-01-01T00:00:00Z",
		"+2023-01-01T00:00:00Z", "2023-1-01T00:00:00Z", "2023-01-01T00:00:00.+01:00",
		"2023-01-01T0a:00:00Z",
	};
	for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++)
		cr_assert_eq(rfc3339(bad[i]), -1, "%s", bad[i]);
	vg_usec t = 7;
	cr_assert_not(vg_time_parse_rfc3339("2023-11-14T22:13:20Z", 19, &t)); /* len is exact */
	cr_assert_eq(t, 7);
}

Test(arena, allocates_aligned_and_respects_cap)
{
	vg_arena *a = vg_arena_new(256 * 1024);
	void *p = vg_arena_alloc(a, 3), *q = vg_arena_alloc(a, 5);
	cr_assert_not_null(p);
	cr_assert_eq((uintptr_t)q % 16, 0);
	cr_assert_neq(p, q);
	cr_assert_null(vg_arena_alloc(a, 1024 * 1024), "over the cap must fail");
	cr_assert_not_null(vg_arena_alloc(a, 100 * 1024));
	vg_arena_reset(a);
	cr_assert_eq(vg_arena_used(a), 0);
	cr_assert_not_null(vg_arena_alloc(a, 100 * 1024));
	vg_arena_free(a);
	vg_arena_free(NULL);
}

Test(file, reads_and_enforces_limit)
{
	char path[] = "/tmp/vigil-test-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "0123456789", 10), 10);
	close(fd);

	uint8_t *data;
	size_t len;
	vg_error e;
	cr_assert_eq(vg_file_read(path, 10, &data, &len, &e), 0);
	cr_assert_eq(len, 10);
	cr_assert_eq(memcmp(data, "0123456789", 10), 0);
	free(data);
	cr_assert_eq(vg_file_read(path, 9, &data, &len, &e), VG_ETOOBIG);
	unlink(path);
	cr_assert_eq(vg_file_read(path, 9, &data, &len, &e), VG_ENOENT);
	cr_assert_eq(vg_file_read("/tmp", 9, &data, &len, &e), VG_EINVAL);
}

struct cfg {
	char listen[VG_OPT_STRING_MAX];
	int64_t threads;
	bool verbose;
	int64_t max_body;
	int64_t timeout;
};

static const vg_opt opts[] = {
	{"listen", VG_OPT_STRING, "127.0.0.1:8080", 0, 0, NULL, false, false, "address", offsetof(struct cfg, listen)},
	{"threads", VG_OPT_INT, "4", 1, 64, "threads", false, false, "pool", offsetof(struct cfg, threads)},
	{"verbose", VG_OPT_BOOL, "false", 0, 0, NULL, true, false, "chatty", offsetof(struct cfg, verbose)},
	{"max_body", VG_OPT_BYTES, "1MB", 1024, 1 << 30, "bytes", false, false, "limit", offsetof(struct cfg, max_body)},
	{"timeout", VG_OPT_DURATION, "30s", 1000, 3600000000LL, "us", false, false, "idle", offsetof(struct cfg, timeout)},
};

Test(config, layers_override_in_order)
{
	struct cfg c;
	vg_error e;
	cr_assert_eq(vg_config_defaults(opts, 5, &c, &e), 0, "%s", e.msg);
	cr_assert_str_eq(c.listen, "127.0.0.1:8080");
	cr_assert_eq(c.threads, 4);
	cr_assert_eq(c.max_body, 1 << 20);
	cr_assert_eq(c.timeout, 30000000);

	char path[] = "/tmp/vigil-cfg-XXXXXX";
	int fd = mkstemp(path);
	const char *text = "# comment\nthreads = 8\nmax-body = \"20MB\"\n\ntimeout = 250ms\n";
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cr_assert_eq(vg_config_file(opts, 5, &c, path, &e), 0, "%s", e.msg);
	cr_assert_eq(c.threads, 8);
	cr_assert_eq(c.max_body, 20 << 20);
	cr_assert_eq(c.timeout, 250000);

	setenv("VIGIL_THREADS", "16", 1);
	cr_assert_eq(vg_config_env(opts, 5, &c, &e), 0, "%s", e.msg);
	unsetenv("VIGIL_THREADS");
	cr_assert_eq(c.threads, 16);

	char *argv[] = {"serve", "--threads=2", "--listen", "[::1]:9", "--verbose", NULL};
	cr_assert_eq(vg_config_flags(opts, 5, &c, 5, argv, &e), 0, "%s", e.msg);
	cr_assert_eq(c.threads, 2);
	cr_assert_str_eq(c.listen, "[::1]:9");
	cr_assert(c.verbose);
	char *argv2[] = {"serve", "--no-verbose", NULL};
	cr_assert_eq(vg_config_flags(opts, 5, &c, 2, argv2, &e), 0, "%s", e.msg);
	cr_assert(!c.verbose);
	unlink(path);
}

Test(config, bad_values_name_their_origin)
{
	struct cfg c;
	vg_error e;
	cr_assert_eq(vg_config_defaults(opts, 5, &c, &e), 0);
	char *a1[] = {"serve", "--threads", "65", NULL};
	cr_assert_eq(vg_config_flags(opts, 5, &c, 3, a1, &e), VG_EINVAL);
	cr_assert(strstr(e.msg, "--threads") && strstr(e.msg, "1..64"), "%s", e.msg);
	char *a2[] = {"serve", "--bogus", NULL};
	cr_assert_eq(vg_config_flags(opts, 5, &c, 2, a2, &e), VG_EINVAL);
	char *a3[] = {"serve", "--max-body", "lots", NULL};
	cr_assert_eq(vg_config_flags(opts, 5, &c, 3, a3, &e), VG_EINVAL);
	char *a4[] = {"serve", "--threads", NULL};
	cr_assert_eq(vg_config_flags(opts, 5, &c, 2, a4, &e), VG_EINVAL);
	setenv("VIGIL_VERBOSE", "maybe", 1);
	cr_assert_eq(vg_config_env(opts, 5, &c, &e), VG_EINVAL);
	cr_assert(strstr(e.msg, "VIGIL_VERBOSE"), "%s", e.msg);
	unsetenv("VIGIL_VERBOSE");
	cr_assert_eq(vg_config_file(opts, 5, &c, "/nonexistent/vigil.conf", &e), VG_ENOENT);
}
