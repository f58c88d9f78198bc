/* SPDX-License-Identifier: Apache-2.0
 *
 * vigil's one time type, vg_usec: int64 microseconds, wall clock or monotonic; and
 * RFC 3339 timestamps read into it. They are converted here rather than by timegm, which
 * would quietly carry an April 31st into May where a timestamp with one is wrong.
 */
#include <time.h>

#include "util.h"

static vg_usec read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (vg_usec)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

vg_usec vg_time_now(void)
{
	return read_clock(CLOCK_REALTIME);
}

vg_usec vg_time_mono(void)
{
	return read_clock(CLOCK_MONOTONIC);
}

/* Exactly n decimal digits (n <= 4). */
static bool fixed_digits(const char *s, size_t n, int *ret)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return days[m - 1] + (m == 2 && is_leap(y));
}

/* Days from 1970-01-01 to y-m-d (y >= 1): whole years, the leap days among them (counted
 * from year 1, both ways), then the months before m. */
static int64_t days_since_epoch(int y, int m, int d)
{
	static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
	int64_t leaps = (int64_t)(y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
	int64_t leaps_1970 = 1969 / 4 - 1969 / 100 + 1969 / 400;
	return (int64_t)365 * (y - 1970) + leaps - leaps_1970 + before[m - 1] +
	       (m > 2 && is_leap(y)) + d - 1;
}

bool vg_time_parse_rfc3339(const char *s, size_t len, vg_usec *ret)
{
	int y, mo, d, h, mi, se;
	if (len < 20 || !fixed_digits(s, 4, &y) || s[4] != '-' ||
	    !fixed_digits(s + 5, 2, &mo) || s[7] != '-' || !fixed_digits(s + 8, 2, &d) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !fixed_digits(s + 11, 2, &h) ||
	    s[13] != ':' || !fixed_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !fixed_digits(s + 17, 2, &se))
		return false;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
	    se > 60)
		return false;
	size_t i = 19;
	int64_t frac = 0;
	if (s[i] == '.') {
		size_t first = ++i;
		/* Digits past the sixth are read and dropped: scale reaches 0 there. */
		for (int64_t scale = 100000; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
			frac += (s[i] - '0') * scale;
		if (i == first)
			return false;
	}
	int64_t offset = 0;
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (len - i == 6 && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
		int oh, om;
		if (!fixed_digits(s + i + 1, 2, &oh) || !fixed_digits(s + i + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return false;
		offset = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 60 + om) * 60;
		i += 6;
	} else {
		return false;
	}
	if (i != len)
		return false;
	int64_t secs = days_since_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset;
	*ret = secs * 1000000 + frac;
	return true;
}
