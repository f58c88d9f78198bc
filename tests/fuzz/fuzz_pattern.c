/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the rules' pattern functions (src/rules/rules_pattern.c) against
 * LuaJIT's own, through the oracle the unit tests use: the same results and the same
 * error messages for every call under the step cap. The first byte picks the function
 * and its third and fourth arguments; the rest is the pattern, a newline, the subject.
 */
#include "fuzz.h"
#include "pattern_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ops[] = {"find", "match", "gmatch", "gsub"};
	static const char *const thirds[] = {"", "#1", "#-2", "#3", "%1%0%", "T", "F", "N"};
	static const char *const fourths[] = {"", "#1", "#0", "1"};
	static vg_pattern_oracle *o;
	if (size < 1 || size > 512)
		return 0;
	if (!o)
		o = vg_pattern_oracle_new(50);
	const char *rest = (const char *)data + 1, *end = (const char *)data + size;
	const char *nl = memchr(rest, '\n', (size_t)(end - rest));
	if (!nl)
		nl = end;
	vg_pattern_case c = {
		.op = ops[data[0] & 3],
		.a3 = thirds[(data[0] >> 2) & 7],
		.a4 = fourths[data[0] >> 5 & 3],
		.p = rest,
		.plen = (size_t)(nl - rest),
		.s = nl < end ? nl + 1 : nl,
	};
	c.slen = (size_t)(end - c.s);
	static char mine[8192], theirs[8192];
	if (vg_pattern_oracle_run(o, &c, mine, theirs, sizeof(mine)) == 0) {
		if (strcmp(mine, theirs) != 0)
			fprintf(stderr, "mine:   %s\ntheirs: %s\n", mine, theirs);
		VG_FUZZ_CHECK(strcmp(mine, theirs) == 0);
	}
	return 0;
}
