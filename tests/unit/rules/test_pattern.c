/* SPDX-License-Identifier: Apache-2.0
 *
 * The rules' pattern functions (src/rules/rules_pattern.c) against LuaJIT's own: the
 * same harness runs in a state with LuaJIT's string library and in one with ours, on
 * hand-picked cases and on random patterns and subjects, and every result and error
 * message must be the same. Then the one intended difference: a runaway match stops.
 */
#include <criterion/criterion.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

#include "pattern_oracle.h"

Test(pattern, hand_picked_cases_agree)
{
	vg_pattern_oracle *o = vg_pattern_oracle_new(1000);
	static const char *const cases[][5] = {
		/* op, subject, pattern, arg3, arg4 ("" = nil; "#n" = the number n) */
		{"find", "hello world", "o w", "", ""},
		{"find", "hello world", "o", "#6", ""},
		{"find", "hello", "l+", "#-2", ""},
		{"find", "a.b", ".", "#1", "#1"},
		{"find", "abc", "", "#10", ""},
		{"find", "abc", "", "#-10", ""},
		{"find", "abc", "b", "#1e10", ""},
		{"find", "a+b", "+", "", ""},
		{"find", "x(y)z", "%((%a)%)", "", ""},
		{"find", "abc", "()b()", "", ""},
		{"match", "  trim me  ", "^%s*(.-)%s*$", "", ""},
		{"match", "key = value", "(%w+)%s*=%s*(%w+)", "", ""},
		{"match", "10.1.2.3", "^(%d+%.%d+%.%d+)%.%d+$", "", ""},
		{"match", "2001:db8:1::5", "^(%x*:%x*:%x*):", "", ""},
		{"match", "THE (quick) fox", "%f[%a]%a+", "", ""},
		{"match", "f(a(b)c)d", "%b()", "", ""},
		{"match", "abcabc", "(abc)%1", "", ""},
		{"match", "aaa", "a-b", "", ""},
		{"match", "[]", "[]]", "", ""},
		{"match", "a-z", "[a%-z]+", "", ""},
		{"match", "x\0y", "%z", "", ""},
		{"match", "x\0y", "[%Z]+", "", ""},
		{"match", "abc", "a%", "", ""},
		{"match", "b", "a%", "", ""},
		{"match", "abc", "[a", "", ""},
		{"match", "abc", "(a", "", ""},
		{"match", "abc", "a)", "", ""},
		{"match", "abc", "%1", "", ""},
		{"match", "abc", "%0", "", ""},
		{"match", "abc", "%b", "", ""},
		{"match", "abc", "%fa", "", ""},
		{"match", "$", "$$", "", ""},
		{"match", "a^", "a^", "", ""},
		{"match", "a", "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))", "", ""},
		{"gmatch", "one two  three", "%a+", "", ""},
		{"gmatch", "abc", "", "", ""},
		{"gmatch", "^a^a", "^a", "", ""},
		{"gmatch", "k1=v1, k2=v2", "(%w+)=(%w+)", "", ""},
		{"gmatch", "abc", "()", "", ""},
		{"gsub", "hello world", "o", "0", ""},
		{"gsub", "hello world", "(o)", "[%1%1]", ""},
		{"gsub", "hello world", "%w+", "<%0>", "#1"},
		{"gsub", "abc", "", "-", ""},
		{"gsub", "abc", "^", "-", ""},
		{"gsub", "abc", "b", "%", ""},
		{"gsub", "abc", "b", "%2", ""},
		{"gsub", "abc", "(b)", "%2", ""},
		{"gsub", "abc", "b", "%x", ""},
		{"gsub", "abc", "%w", "#7", ""},
		{"gsub", "a b c", "%w", "T", ""},
		{"gsub", "a b c", "%w", "F", ""},
		{"gsub", "a b c", "(%w)()", "F", "#2"},
		{"gsub", "abc", "b", "N", ""},
		{"gsub", "abc", "b", "x", "#-1"},
		{"gsub", "abc", "b", "x", "#0"},
		{"gsub", "abc", "b", "x", "#2.9"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *c = cases[i];
		size_t slen = strcmp(c[1], "x\0y") == 0 ? 3 : strlen(c[1]);
		vg_pattern_case pc = {.op = c[0], .s = c[1], .slen = slen, .p = c[2],
				      .plen = strlen(c[2]), .a3 = c[3], .a4 = c[4]};
		char mine[4096], theirs[4096];
		int r = vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine));
		cr_assert_neq(r, VG_PATTERN_CAPPED, "case %zu ran past the step cap", i);
		cr_expect_str_eq(mine, theirs, "case %zu: %s(%s, %s)", i, c[0], c[1], c[2]);
	}
	/* Nesting: 200 items deep is LuaJIT's limit, "pattern too complex" past it. */
	char deep[512] = "", as[300];
	memset(as, 'a', sizeof(as));
	for (int depth = 195; depth <= 205; depth += 10) {
		for (int i = 0; i < depth; i++)
			strcat(deep, "a?");
		vg_pattern_case pc = {.op = "match", .s = as, .slen = sizeof(as), .p = deep,
				      .plen = strlen(deep), .a3 = "", .a4 = ""};
		char mine[256], theirs[256];
		cr_assert_eq(vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine)), 0);
		cr_expect_str_eq(mine, theirs, "%d deep", depth);
		cr_expect_eq(strstr(mine, "pattern too complex") != NULL, depth > 200, "%s", mine);
		deep[0] = '\0';
	}
	vg_pattern_oracle_free(o);
}

/* A small xorshift: the cases are the same on every run. */
static uint32_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 11);
}

static size_t pick(uint64_t *seed, char *out, size_t cap, const char *const *parts,
		   size_t nparts, size_t max)
{
	size_t n = 0, k = rnd(seed) % (max + 1);
	for (size_t i = 0; i < k; i++) {
		const char *t = parts[rnd(seed) % nparts];
		size_t l = t[0] == '\0' ? 1 : strlen(t); /* "" stands for a NUL byte */
		if (n + l >= cap)
			break;
		memcpy(out + n, t, l);
		n += l;
	}
	out[n] = '\0';
	return n;
}

Test(pattern, random_cases_agree, .timeout = 120)
{
	static const char *const items[] = {
		"a", "b", ".", "%a", "%d", "%s", "%w", "%p", "%x", "%l", "%u", "%c", "%g", "%z",
		"%A", "%S", "%W", "%Z", "%%", "%.", "[ab]", "[^a]", "[a-c]", "[%a-]", "[]]", "[^]",
		"(", ")", "()", "%1", "%2", "%b()", "%bab", "%f[%w]", "%f[^a]", "*", "+", "-", "?",
		"^", "$", "%", "[", "]", "-", "1", " ", "", "x",
	};
	static const char *const chars[] = {
		"a", "b", "c", "(", ")", " ", "1", "-", "%", "]", "[", "^", "$", "x", "A", "", "\xe9",
	};
	static const char *const ops[] = {"find", "match", "gmatch", "gsub"};
	static const char *const thirds[] = {"", "#1", "#2", "#-1", "#-3", "#0", "#9", "%1-%0",
					     "[%%]", "T", "F", "N"};
	static const char *const fourths[] = {"", "", "#1", "#2", "#0", "1"};
	vg_pattern_oracle *o = vg_pattern_oracle_new(200);
	uint64_t seed = 0x9e3779b97f4a7c15;
	size_t ran = 0, capped = 0;
	for (int i = 0; i < 40000; i++) {
		char p[128], s[128];
		size_t plen = pick(&seed, p, sizeof(p), items, sizeof(items) / sizeof(items[0]), 8);
		size_t slen = pick(&seed, s, sizeof(s), chars, sizeof(chars) / sizeof(chars[0]), 20);
		const char *op = ops[rnd(&seed) % 4];
		vg_pattern_case pc = {.op = op, .s = s, .slen = slen, .p = p, .plen = plen,
				      .a3 = thirds[rnd(&seed) % (sizeof(thirds) / sizeof(thirds[0]))],
				      .a4 = fourths[rnd(&seed) % (sizeof(fourths) / sizeof(fourths[0]))]};
		char mine[4096], theirs[4096];
		if (vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine)) == VG_PATTERN_CAPPED) {
			capped++;
			continue;
		}
		ran++;
		cr_assert_str_eq(mine, theirs, "case %d: %s(%.*s, %.*s, %s, %s)", i, op, (int)slen,
				 s, (int)plen, p, pc.a3, pc.a4);
	}
	cr_assert_gt(ran, 39000, "only %zu of 40000 ran (%zu capped)", ran, capped);
	vg_pattern_oracle_free(o);
}

/* The trim idiom on a hostile field: LuaJIT's own took 17 s on 60,000 spaces between two
 * letters and could not be stopped; ours asks the poll every few thousand steps, which stops it. */
Test(pattern, a_runaway_match_is_stopped)
{
	vg_pattern_oracle *o = vg_pattern_oracle_new(100);
	static char s[60003];
	memset(s, ' ', sizeof(s) - 1);
	s[0] = 'a';
	s[sizeof(s) - 2] = 'a';
	vg_pattern_case pc = {.op = "match", .s = s, .slen = sizeof(s) - 1, .p = "^%s*(.-)%s*$",
			      .plen = 12, .a3 = "", .a4 = ""};
	char mine[256], theirs[256];
	cr_assert_eq(vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine)), VG_PATTERN_CAPPED);
	/* The state is sound after the longjmp: the same call on a short field works. */
	pc.s = "  ok  ";
	pc.slen = 6;
	cr_assert_eq(vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine)), 0);
	cr_assert_str_eq(mine, "ok|string:ok");
	cr_assert_str_eq(mine, theirs);
	/* gsub, interrupted with its buffer on the stack, then run again. */
	pc.op = "gsub";
	pc.s = s;
	pc.slen = sizeof(s) - 1;
	pc.p = "%s*.-%s*$";
	pc.plen = 9;
	pc.a3 = "x";
	cr_assert_eq(vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine)), VG_PATTERN_CAPPED);
	pc.s = "a b";
	pc.slen = 3;
	pc.p = "%s";
	pc.plen = 2;
	cr_assert_eq(vg_pattern_oracle_run(o, &pc, mine, theirs, sizeof(mine)), 0);
	cr_assert_str_eq(mine, "ok|string:axb|number:1");
	vg_pattern_oracle_free(o);
}
