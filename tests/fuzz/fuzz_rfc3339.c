/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: RFC 3339 timestamps (vg_time_parse_rfc3339), which events' "ts"
 * strings go through. The oracle checks the grammar position by position, leaves the
 * calendar to the C library (timegm, with gmtime_r to catch a day the month lacks) and
 * applies the offset and the fraction itself. The parser accepts exactly what the oracle
 * does and gives the same microseconds; a rejected input leaves the result alone.
 */
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "util/util.h"

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* The oracle: the microseconds s means, or false. */
static bool oracle(const char *s, size_t len, long long *ret)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	if (len < 20)
		return false;
	for (size_t i = 0; i < 19; i++) {
		bool ok = shape[i] == 'd'   ? digit(s[i])
			  : shape[i] == 'T' ? s[i] == 'T' || s[i] == 't' || s[i] == ' '
					    : s[i] == shape[i];
		if (!ok)
			return false;
	}
	size_t i = 19;
	long long frac = 0;
	if (s[i] == '.') {
		size_t first = ++i;
		while (i < len && digit(s[i]))
			i++;
		if (i == first)
			return false;
		char six[7] = "000000";
		memcpy(six, s + first, i - first < 6 ? i - first : 6);
		frac = num(six, 6);
	}
	long long offset;
	if (len - i == 1 && (s[i] == 'Z' || s[i] == 'z')) {
		offset = 0;
	} else if (len - i == 6 && (s[i] == '+' || s[i] == '-') && digit(s[i + 1]) &&
		   digit(s[i + 2]) && s[i + 3] == ':' && digit(s[i + 4]) && digit(s[i + 5])) {
		int oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
		if (oh > 23 || om > 59)
			return false;
		offset = (s[i] == '-' ? -60LL : 60LL) * (oh * 60 + om);
	} else {
		return false;
	}
	int y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
	int h = num(s + 11, 2), mi = num(s + 14, 2), se = num(s + 17, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 60)
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_sec = se == 60 ? 59 : se};
	time_t t = timegm(&tm);
	struct tm back;
	if (!gmtime_r(&t, &back) || back.tm_mday != d || back.tm_mon != mo - 1)
		return false; /* the month has no such day */
	*ret = ((long long)t + (se == 60) - offset) * 1000000 + frac;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	long long want = 0;
	bool ok = oracle(s, size, &want);
	vg_usec got = -7;
	bool parsed = vg_time_parse_rfc3339(s, size, &got);
	VG_FUZZ_CHECK(parsed == ok);
	VG_FUZZ_CHECK(parsed ? got == want : got == -7);
	return 0;
}
