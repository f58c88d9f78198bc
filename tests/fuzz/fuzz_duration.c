/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the durations rules pass to count(), distinct() and label()
 * (vg_rules_duration_parse), held to rules.h's contract by an oracle that reads the same
 * grammar another way: the unit from the end, the digits with 128-bit arithmetic. A
 * duration is 1 or more decimal digits whose value is 1 to 1,000,000,000, then exactly
 * one of ms, s, m, h, d; it is accepted exactly then, and when its microseconds are at
 * most INT64_MAX / 2, and it gives those microseconds. A rejected input leaves the
 * result alone.
 */
#include <string.h>

#include "fuzz.h"
#include "rules/rules.h"

static const struct {
	const char *unit;
	long long usec;
} units[] = {{"ms", 1000}, {"s", 1000000}, {"m", 60000000}, {"h", 3600000000ll},
	     {"d", 86400000000ll}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	bool ok = false;
	__int128 want = 0;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]) && !ok; u++) {
		size_t ul = strlen(units[u].unit);
		if (size <= ul || memcmp(s + size - ul, units[u].unit, ul) != 0)
			continue;
		size_t digits = size - ul;
		if (units[u].unit[0] == 's' && digits && s[digits - 1] == 'm')
			continue; /* "5ms" read as "5m" then "s": not this unit */
		__int128 v = 0;
		bool all = true;
		for (size_t i = 0; i < digits && all; i++) {
			all = s[i] >= '0' && s[i] <= '9';
			if (v <= 1000000000) /* past it, the input is refused anyway */
				v = v * 10 + (s[i] - '0');
		}
		ok = all && v >= 1 && v <= 1000000000 && v * units[u].usec <= INT64_MAX / 2;
		want = v * units[u].usec;
	}
	vg_usec got = -7;
	int rc = vg_rules_duration_parse(s, size, &got);
	VG_FUZZ_CHECK((rc == 0) == ok);
	VG_FUZZ_CHECK(ok ? got == (vg_usec)want : got == -7);
	return 0;
}
