/* SPDX-License-Identifier: Apache-2.0
 *
 * The fixture runner `vigil rules test` and PUT /v1/rules/{name} share, through the
 * public header: "expect" as a multiset of actions and rule:actions, each failure with
 * its fixture line, a byte order mark skipped, a line that is not JSON told apart from
 * one without "expect", and a fixture's state its own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

typedef struct fails {
	size_t lines[16];
	char msgs[16][1024];
	int n;
	int stop_after; /* 0: never stop */
} fails;

static bool note(size_t line, const char *msg, void *ctx)
{
	fails *f = ctx;
	if (f->n < 16) {
		f->lines[f->n] = line;
		snprintf(f->msgs[f->n], sizeof(f->msgs[0]), "%s", msg);
	}
	f->n++;
	return f->stop_after == 0 || f->n < f->stop_after;
}

static vg_ruleset *load(const char *src)
{
	vg_ruleset *rs;
	vg_error err;
	int rc = vg_ruleset_load_string("t.lua", src, strlen(src), &rs, &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	return rs;
}

static vg_rules_fixture_result run(const vg_ruleset *rs, const char *text, fails *f)
{
	vg_rules_fixture_opts o = {.budget_ms = 20};
	vg_rules_fixture_result res;
	vg_error err;
	cr_assert_eq(vg_rules_fixture_run(rs, text, strlen(text), &o, note, f, &res, &err), 0, "%s",
		     err.msg);
	return res;
}

static const char *const RULES =
	"rule('a', function(e) if e.type == 'x' then verdict('block', 'a') end end)\n"
	"rule('b', function(e) if e.type == 'x' then verdict('block', 'b'); "
	"verdict('review', 'b') end end)\n";

Test(fixture, verdicts_equal_the_expect_list_as_a_multiset)
{
	vg_ruleset *rs = load(RULES);
	fails f = {0};
	vg_rules_fixture_result res =
		run(rs,
		    "{\"type\":\"y\",\"expect\":[]}\n"
		    "{\"type\":\"x\",\"expect\":[\"block\",\"b:review\",\"block\"]}\n"
		    "\n"
		    "{\"type\":\"x\",\"expect\":[\"a:block\",\"b:block\",\"review\"]}\n",
		    &f);
	cr_expect_eq(res.events, 3);
	cr_expect_eq(res.failures, 0, "%s", f.msgs[0]);
	cr_expect_eq(f.n, 0);

	fails g = {0};
	res = run(rs,
		  "{\"type\":\"x\",\"expect\":[\"block\",\"review\"]}\n" /* a block left over */
		  "{\"type\":\"x\",\"expect\":[\"a:block\",\"a:block\",\"review\"]}\n"
		  "{\"type\":\"y\",\"expect\":\"a:block\"}\n",
		  &g);
	cr_expect_eq(res.events, 3);
	cr_expect_eq(res.failures, 3);
	cr_assert_eq(g.n, 3);
	cr_expect_eq(g.lines[0], 1);
	cr_expect(strstr(g.msgs[0], "unexpected ") && strstr(g.msgs[0], ":block"), "%s", g.msgs[0]);
	cr_expect_eq(g.lines[1], 2);
	cr_expect(strstr(g.msgs[1],
			 "expected a:block: wanted [\"a:block\", \"a:block\", \"review\"], got "),
		  "%s", g.msgs[1]);
	cr_expect_eq(g.lines[2], 3);
	cr_expect_str_eq(g.msgs[2], "expected a:block: wanted [\"a:block\"], got nothing");
	vg_ruleset_free(rs);
}

Test(fixture, bad_lines_are_failures_with_their_number_and_the_rest_still_runs)
{
	vg_ruleset *rs = load(RULES);
	fails f = {0};
	vg_rules_fixture_result res = run(rs,
					  "\xef\xbb\xbf{\"type\":\"y\",\"expect\":[]}\n"
					  "not json\n"
					  "{\"type\":\"y\"}\n"
					  "{\"type\":\"y\",\"expect\":[\"blok\"]}\n"
					  "{\"type\":\"y\",\"expect\":{}}\n"
					  "{\"no_type\":1,\"expect\":[]}\n"
					  "  \r\n"
					  "{\"type\":\"y\",\"expect\":[]}\n",
					  &f);
	cr_expect_eq(res.events, 3); /* lines 1, 6 and 8 */
	cr_expect_eq(res.failures, 5);
	cr_assert_eq(f.n, 5);
	cr_expect_eq(f.lines[0], 2);
	cr_expect(strncmp(f.msgs[0], "not a JSON object: ", 19) == 0, "%s", f.msgs[0]);
	cr_expect_eq(f.lines[1], 3);
	cr_expect_str_eq(f.msgs[1], "no \"expect\" field");
	cr_expect_eq(f.lines[2], 4);
	cr_expect_str_eq(f.msgs[2], "\"expect\" item 1 is not an action or rule:action");
	cr_expect_eq(f.lines[3], 5);
	cr_expect_str_eq(f.msgs[3], "\"expect\" must be a string or an array of strings");
	cr_expect_eq(f.lines[4], 6);
	cr_expect(strncmp(f.msgs[4], "bad event: ", 11) == 0, "%s", f.msgs[4]);
	vg_ruleset_free(rs);
}

Test(fixture, a_false_from_the_callback_stops_the_run)
{
	vg_ruleset *rs = load(RULES);
	fails f = {.stop_after = 1};
	vg_rules_fixture_result res = run(rs,
					  "{\"type\":\"x\",\"expect\":[]}\n"
					  "{\"type\":\"x\",\"expect\":[]}\n",
					  &f);
	cr_expect_eq(f.n, 1);
	cr_expect_eq(res.events, 1);
	vg_ruleset_free(rs);
}

Test(fixture, each_run_starts_from_a_fresh_state)
{
	vg_ruleset *rs = load("rule('l', function(e)\n"
			      "  if e.type == 'mark' then label('user', 'u', 'bad') end\n"
			      "  if has_label('user', 'u', 'bad') then verdict('review', 'x') end\n"
			      "end)\n");
	fails f = {0};
	run(rs,
	    "{\"type\":\"mark\",\"expect\":\"review\"}\n{\"type\":\"y\",\"expect\":\"review\"}\n",
	    &f);
	cr_expect_eq(f.n, 0, "%s", f.msgs[0]);
	run(rs, "{\"type\":\"y\",\"expect\":[]}\n", &f);
	cr_expect_eq(f.n, 0, "%s", f.msgs[0]);
	vg_ruleset_free(rs);
}

Test(fixture, rule_errors_and_budget_stops_fail_their_line_with_the_rule, .timeout = 30)
{
	vg_ruleset *rs = load("rule('ok', function(e) verdict('allow', 'fine') end)\n"
			      "rule('a', function(e)\n"
			      "  if e.type == 'x' then error('kind ' .. e.kind) end\n"
			      "  if e.type == 'y' then while true do end end\n"
			      "end)\n");
	fails f = {0};
	vg_rules_fixture_result res = run(rs,
					  "{\"type\":\"z\",\"expect\":\"allow\"}\n"
					  "{\"type\":\"x\",\"kind\":\"k\",\"expect\":\"allow\"}\n"
					  "{\"type\":\"y\",\"expect\":\"allow\"}\n",
					  &f);
	cr_expect_eq(res.events, 3);
	cr_assert_eq(f.n, 2);
	cr_expect_eq(f.lines[0], 2);
	cr_expect_str_eq(f.msgs[0], "rule a: t.lua:3: kind k");
	cr_expect_eq(f.lines[1], 3);
	cr_expect_str_eq(f.msgs[1], "rule a: budget of 20 ms of CPU time exceeded");
	vg_ruleset_free(rs);
}

Test(fixture, a_file_that_does_not_load_is_an_error_naming_it, .timeout = 30)
{
	vg_ruleset *rs;
	vg_error err;
	const char *loops = "while true do end\nrule('x', function(e) end)\n";
	cr_assert_neq(vg_ruleset_load_string("loops.lua", loops, strlen(loops), &rs, &err), 0);
	cr_expect_str_eq(err.msg, "loops.lua: budget of 50 ms of CPU time exceeded");
	const char *raises = "error('no', 0)\n";
	cr_assert_neq(vg_ruleset_load_string("raises.lua", raises, strlen(raises), &rs, &err), 0);
	cr_expect_str_eq(err.msg, "raises.lua: no");
	const char *placed = "error('no')\n";
	cr_assert_neq(vg_ruleset_load_string("placed.lua", placed, strlen(placed), &rs, &err), 0);
	cr_expect_str_eq(err.msg, "placed.lua:1: no");
}

/* Regression: items were matched greedily in list order, so a bare "block" took the
 * verdict a later "a:block" needed and an equal multiset failed in that order. */
Test(fixture, an_equal_multiset_passes_in_any_order)
{
	vg_ruleset *rs = load(RULES);
	fails f = {0};
	vg_rules_fixture_result res =
		run(rs,
		    "{\"type\":\"x\",\"expect\":[\"a:block\",\"block\",\"review\"]}\n"
		    "{\"type\":\"x\",\"expect\":[\"block\",\"a:block\",\"review\"]}\n"
		    "{\"type\":\"x\",\"expect\":[\"review\",\"block\",\"b:block\"]}\n"
		    "{\"type\":\"x\",\"expect\":[\"block\",\"b:review\",\"a:block\"]}\n"
		    "{\"type\":\"x\",\"expect\":[\"block\",\"a:block\",\"a:review\"]}\n",
		    &f);
	cr_assert_eq(res.failures, 1, "%s", f.msgs[0]);
	cr_assert_eq(f.lines[0], 5, "the one that is wrong: a gave no review");
	vg_ruleset_free(rs);
}
