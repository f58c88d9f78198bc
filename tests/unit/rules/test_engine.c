/* SPDX-License-Identifier: Apache-2.0
 *
 * The engine through its public header: rules see events as tables, verdicts come out
 * with their rule, the sandbox refuses every escape hatch, a failing or looping rule is
 * counted and the others still run, partitioning keeps a key on one worker, workers
 * count exactly, labels survive a restart through the store, match() finds bank
 * signals of every type, and its answers found ahead by the producer are its own, learnt
 * again and again.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/internal.h"
#include "rules/rules.h"

typedef struct seen {
	pthread_mutex_t mu;
	char rules[64][64];
	int actions[64];
	char reasons[64][128];
	int n;
	uint64_t by_worker_key[4]; /* bit set per worker that saw key k */
} seen;

static void collect(const vg_verdict *v, void *ctx)
{
	seen *s = ctx;
	pthread_mutex_lock(&s->mu);
	if (s->n < 64) {
		snprintf(s->rules[s->n], 64, "%s", v->rule);
		snprintf(s->reasons[s->n], 128, "%s", v->reason);
		s->actions[s->n] = v->action;
		s->n++;
	}
	pthread_mutex_unlock(&s->mu);
}

static vg_ruleset *load(const char *src)
{
	vg_ruleset *rs;
	vg_error err;
	int rc = vg_ruleset_load_string("t.lua", src, strlen(src), &rs, &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	return rs;
}

static vg_rules_runner *runner(const vg_ruleset *rs)
{
	vg_rules_runner *r;
	vg_error err;
	vg_rules_opts o = {.budget_ms = 20};
	cr_assert_eq(vg_rules_runner_new(rs, &o, &r, &err), 0, "%s", err.msg);
	return r;
}

static void eval(vg_rules_runner *r, const char *line, seen *s)
{
	vg_error err;
	cr_assert_eq(vg_rules_runner_eval(r, line, strlen(line), collect, s, &err), 0, "%s", err.msg);
}

Test(engine, events_as_tables_and_verdicts)
{
	vg_ruleset *rs = load(
		"rule('r1', function(e)\n"
		"  if e.type == 'login' and e.user.id == 'u1' and e.n == 3 and e.tags[2] == 'b'\n"
		"     and e.missing == nil and e.nul == nil and e.ok == false then\n"
		"    verdict('block', 'ip ' .. e.ip)\n"
		"  end\n"
		"end)\n"
		"rule('r2', function(e) verdict('review') end, {shadow = true})\n");
	cr_assert_eq(vg_ruleset_count(rs), 2);
	bool shadow;
	cr_assert_str_eq(vg_ruleset_rule_name(rs, 1, &shadow), "r2");
	cr_assert(shadow);
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"login\",\"ip\":\"10.0.0.1\",\"user\":{\"id\":\"u1\"},\"n\":3,"
		"\"tags\":[\"a\",\"b\"],\"nul\":null,\"ok\":false}", &s);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.rules[0], "r1");
	cr_assert_eq(s.actions[0], VG_ACTION_BLOCK);
	cr_assert_str_eq(s.reasons[0], "ip 10.0.0.1");
	cr_assert_eq(s.actions[1], VG_ACTION_REVIEW);
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.verdicts[VG_ACTION_BLOCK], 1);
	cr_assert_eq(st.shadow_verdicts[VG_ACTION_REVIEW], 1);
	cr_assert_eq(st.verdicts[VG_ACTION_REVIEW], 0, "shadow verdicts are counted apart");
	/* Bad lines are errors for that line only. */
	vg_error err;
	cr_assert_neq(vg_rules_runner_eval(r, "{", 1, collect, &s, &err), 0);
	cr_assert_neq(vg_rules_runner_eval(r, "{\"a\":1}", 7, collect, &s, &err), 0, "no type");
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(engine, count_distinct_label_from_rules)
{
	vg_ruleset *rs = load(
		"rule('fails', function(e)\n"
		"  if count('f:' .. e.ip, '1m') == 3 then verdict('challenge', 'three') end\n"
		"  if e.type ~= 'post' and distinct('u:' .. e.ip, e.user, '1h') == 2 then verdict('review', 'two users') end\n"
		"  if e.type == 'flag' then label('ip', e.ip, 'bad', '10s') end\n"
		"  if e.type == 'post' and has_label('ip', e.ip, 'bad') then verdict('block', 'lab') end\n"
		"end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"login\",\"ip\":\"1.1.1.1\",\"user\":\"a\",\"ts\":1700000000}", &s);
	eval(r, "{\"type\":\"login\",\"ip\":\"1.1.1.1\",\"user\":\"a\",\"ts\":1700000001}", &s);
	cr_assert_eq(s.n, 0);
	eval(r, "{\"type\":\"flag\",\"ip\":\"1.1.1.1\",\"user\":\"b\",\"ts\":1700000002}", &s);
	cr_assert_eq(s.n, 2, "third count and second distinct user");
	eval(r, "{\"type\":\"post\",\"ip\":\"1.1.1.1\",\"user\":\"b\",\"ts\":1700000005}", &s);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.actions[2], VG_ACTION_BLOCK);
	/* The label has expired 10 s after it was set. */
	eval(r, "{\"type\":\"post\",\"ip\":\"1.1.1.1\",\"user\":\"b\",\"ts\":1700000013}", &s);
	cr_assert_eq(s.n, 3);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

/* count and distinct take their key in parts too, joined with ':' as a concatenation
 * would join them: both forms reach the same counter and the same set. */
Test(engine, keys_in_parts_are_the_joined_key)
{
	vg_ruleset *rs = load(
		"rule('parts', function(e)\n"
		"  local a = count('f', e.ip, '1m')\n"
		"  local b = count('f:' .. e.ip, '1m')\n"
		"  local c = count('n', 5, e.ip, '1m')\n"
		"  local d = count('n:5:' .. e.ip, '1m')\n"
		"  local x = distinct('u', e.ip, e.user, '1h')\n"
		"  local y = distinct('u:' .. e.ip, e.user .. '!', '1h')\n"
		"  verdict('allow', a .. ' ' .. b .. ' ' .. c .. ' ' .. d .. ' ' .. x .. ' ' .. y)\n"
		"end)\n"
		"rule('errors', function(e)\n"
		"  if e.bad == 1 then count('only-a-key') end\n"
		"  if e.bad == 2 then count('k', nil, '1m') end\n"
		"  if e.bad == 3 then count(string.rep('x', 1000), string.rep('y', 100), '1m') end\n"
		"  if e.bad == 4 then distinct('k', '1h') end\n"
		"  verdict('block', 'not reached when bad')\n"
		"end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"t\",\"ip\":\"1.1.1.1\",\"user\":\"a\",\"bad\":0}", &s);
	cr_assert_str_eq(s.reasons[0], "1 2 1 2 1 2");
	cr_assert_str_eq(s.rules[1], "errors");
	for (int bad = 1; bad <= 4; bad++) {
		char line[96];
		snprintf(line, sizeof(line),
			 "{\"type\":\"t\",\"ip\":\"1.1.1.1\",\"user\":\"b\",\"bad\":%d}", bad);
		eval(r, line, &s);
	}
	cr_assert_str_eq(s.reasons[2], "3 4 3 4 3 4", "one more each; b and b! are new values");
	cr_assert_eq(s.n, 2 + 4, "the errors rule spoke only on the good event");
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 4);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

/* Writes name in dir with src. */
static void write_file(const char *dir, const char *name, const char *src)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs(src, f);
	fclose(f);
}

Test(engine, files_do_not_share_globals_or_libraries)
{
	char dir[] = "/tmp/vigil-test-env-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	/* a.lua forgets its locals, replaces library functions, reaches for the strings'
	 * metatable and loads code that does the same; b.lua, loaded after it, must not see
	 * any of it. */
	write_file(dir, "a.lua",
		   "rule('a', function(e)\n"
		   "  count = 5; label = 'suspect'; shared = 'from a'\n"
		   "  string.format = nil; table.concat = nil; math.floor = nil\n"
		   "  load('match = nil; string.upper = nil; has_label = nil')()\n"
		   "  local ok = pcall(function() getmetatable('').__index.rep = nil end)\n"
		   "  verdict('allow', tostring(count) .. ' ' .. tostring(ok) .. ' ' ..\n"
		   "          tostring(getmetatable('')))\n"
		   "end)\n");
	write_file(dir, "b.lua",
		   "rule('b', function(e)\n"
		   "  local n = count('k', '1m') + (has_label('u', 'x', 'y') and 10 or 0)\n"
		   "  if match('no-such-bank', 'x') then n = n + 100 end\n"
		   "  verdict('allow', string.format('%d %s %s %s %s %s', n, tostring(shared),\n"
		   "          table.concat({'x', 'y'}), ('s'):upper(), ('r'):rep(2),\n"
		   "          tostring(math.floor(2.5))))\n"
		   "end)\n");
	vg_ruleset *rs;
	vg_error err;
	cr_assert_eq(vg_ruleset_load_dir(dir, &rs, &err), 0, "%s", err.msg);
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"x\"}", &s);
	eval(r, "{\"type\":\"x\"}", &s);
	cr_assert_eq(s.n, 4, "both rules spoke on both events");
	cr_assert_str_eq(s.reasons[0], "5 false string", "a's globals are its own; no metatable");
	cr_assert_str_eq(s.reasons[1], "1 nil xy S rr 2");
	cr_assert_str_eq(s.reasons[3], "2 nil xy S rr 2", "b is untouched after a ran");
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 0);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	char path[512];
	snprintf(path, sizeof(path), "%s/a.lua", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/b.lua", dir);
	unlink(path);
	rmdir(dir);
}

Test(engine, sandbox_refuses_escapes)
{
	/* Each expression must be nil (or fail): every way out of the sandbox. */
	static const char *const probes[] = {
		"io", "os", "require", "package", "debug", "ffi", "jit", "dofile", "loadfile",
		"loadstring", "string.dump", "getfenv", "setfenv", "collectgarbage", "newproxy",
		"print", "module", "gcinfo",
	};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		char src[512];
		snprintf(src, sizeof(src),
			 "rule('p', function(e) if %s ~= nil then verdict('block', '%s') end end)",
			 probes[i], probes[i]);
		vg_ruleset *rs = load(src);
		vg_rules_runner *r = runner(rs);
		seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
		eval(r, "{\"type\":\"x\"}", &s);
		cr_assert_eq(s.n, 0, "%s is reachable from a rule", probes[i]);
		vg_rules_runner_free(r);
		vg_ruleset_free(rs);
	}
	/* Bytecode is refused by load, even when built by hand; source text works. */
	vg_ruleset *rs = load(
		"rule('p', function(e)\n"
		"  local f, err = load('\\27LJ\\2\\0')\n"
		"  if f == nil then verdict('allow', 'bytecode refused') end\n"
		"  local g = load('return 1 + 1')\n"
		"  if g and g() == 2 then verdict('allow', 'text ok') end\n"
		"  local h = load('return os')\n"
		"  if h and h() == nil then verdict('allow', 'no os inside load') end\n"
		"end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"x\"}", &s);
	cr_assert_eq(s.n, 3, "bytecode refused, text chunks run in the sandbox");
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	/* A rules file cannot load bytecode either, nor call rule() at run time. */
	vg_error err;
	cr_assert_neq(vg_ruleset_load_string("b.lua", "\x1bLJ\x02\x00", 5, &rs, &err), 0);
	rs = load("rule('late', function(e) rule('x', function() end) end)");
	r = runner(rs);
	eval(r, "{\"type\":\"x\"}", &s);
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 1);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(engine, errors_and_budget_are_isolated)
{
	vg_ruleset *rs = load(
		"rule('boom', function(e) error('kaboom') end)\n"
		"rule('loop', function(e) while true do end end)\n"
		"rule('sneaky', function(e) while true do pcall(function() while true do end end) end end)\n"
		"rule('bad-call', function(e) count() end)\n"
		"rule('bad-action', function(e) verdict('nuke') end)\n"
		"rule('partial', function(e) verdict('block', 'x'); error('after') end)\n"
		"rule('fine', function(e) verdict('allow', 'still here') end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	for (int i = 0; i < 3; i++)
		eval(r, "{\"type\":\"x\"}", &s);
	cr_assert_eq(s.n, 3, "only 'fine' speaks; 'partial' failed so its verdict is dropped");
	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(s.rules[i], "fine");
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.budget_stops, 6, "loop and sneaky stopped on each of 3 events");
	cr_assert_eq(st.rule_errors, 12);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	/* A file that loops at load time is refused, not hung. */
	vg_error err;
	const char *src = "while true do end";
	cr_assert_eq(vg_ruleset_load_string("l.lua", src, strlen(src), &rs, &err), VG_EINVAL);
	cr_assert(strstr(err.msg, "budget"), "%s", err.msg);
	/* And broken files name themselves. */
	src = "rule('a', function(e) end)\nrule('a', function(e) end)";
	cr_assert_eq(vg_ruleset_load_string("d.lua", src, strlen(src), &rs, &err), VG_EINVAL);
	cr_assert(strstr(err.msg, "twice"), "%s", err.msg);
	src = "rule('a', function(e) end";
	cr_assert_eq(vg_ruleset_load_string("s.lua", src, strlen(src), &rs, &err), VG_EINVAL);
	cr_assert(strstr(err.msg, "s.lua"), "%s", err.msg);
	src = "local x = 1";
	cr_assert_eq(vg_ruleset_load_string("n.lua", src, strlen(src), &rs, &err), VG_EINVAL);
}

/* Rules run one after another in one call, resumed after the one that failed: every
 * verdict goes to the rule that made it (from a helper function too), a failure drops
 * only its own rule's, and the rules after it still run, event after event. */
Test(engine, verdicts_belong_to_their_rule_around_failures)
{
	vg_ruleset *rs = load(
		"local function say(why) verdict('review', why) end\n"
		"rule('first', function(e) say('first') end)\n"
		"rule('second', function(e) verdict('block', 'second'); if e.n == 2 then error('x') end end)\n"
		"rule('third', function(e) if e.n == 3 then while true do end end say('third') end)\n"
		"rule('fourth', function(e) verdict('challenge', 'fourth') end)\n");
	vg_rules_runner *r = runner(rs);
	for (int n = 1; n <= 3; n++) {
		seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
		char line[64];
		snprintf(line, sizeof(line), "{\"type\":\"x\",\"n\":%d}", n);
		eval(r, line, &s);
		/* n = 2: second fails; n = 3: third is stopped by the budget. */
		const char *want[3][4] = {{"first", "second", "third", "fourth"},
					  {"first", "third", "fourth"},
					  {"first", "second", "fourth"}};
		size_t nwant = n == 1 ? 4 : 3;
		cr_assert_eq((size_t)s.n, nwant, "event %d: %d verdicts", n, s.n);
		for (size_t i = 0; i < nwant; i++)
			cr_assert_str_eq(s.rules[i], want[n - 1][i], "event %d verdict %zu", n, i);
	}
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 1);
	cr_assert_eq(st.budget_stops, 1);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	/* Outside a rule, verdict() is refused: a file that calls it does not load. */
	vg_error err;
	const char *src = "verdict('block', 'at load')\nrule('a', function(e) end)";
	cr_assert_eq(vg_ruleset_load_string("v.lua", src, strlen(src), &rs, &err), VG_EINVAL);
	cr_assert(strstr(err.msg, "while a rule runs"), "%s", err.msg);
}

/* A rule declared `on` some types meets only events of those types, in declaration
 * order among the rules for every type; failures inside a type's list are blamed on the
 * right rule and the rules after them still run; options may come before the function;
 * a bad `on` stops the file from loading. */
Test(engine, rules_on_types_see_only_their_events)
{
	vg_ruleset *rs = load(
		"rule('any-first', function(e) verdict('allow', 'any-first ' .. e.type) end)\n"
		"rule('login', {on = 'login'}, function(e)\n"
		"  verdict('challenge', 'login'); if e.fail then error('x') end end)\n"
		"rule('pay-or-login', function(e) verdict('review', 'pay-or-login ' .. e.type) end,\n"
		"  {on = {'payment', 'login', 'payment'}})\n"
		"rule('upload', {on = 'upload', shadow = true}, function(e) verdict('block', 'upload') end)\n"
		"rule('any-last', function(e) verdict('allow', 'any-last') end)\n");
	vg_rules_runner *r = runner(rs);
	struct {
		const char *line;
		const char *want[5];
	} cases[] = {
		{"{\"type\":\"login\"}", {"any-first", "login", "pay-or-login", "any-last"}},
		{"{\"type\":\"login\",\"fail\":true}", {"any-first", "pay-or-login", "any-last"}},
		{"{\"type\":\"payment\"}", {"any-first", "pay-or-login", "any-last"}},
		{"{\"type\":\"upload\"}", {"any-first", "upload", "any-last"}},
		{"{\"type\":\"other\"}", {"any-first", "any-last"}},
		{"{\"type\":\"Login\"}", {"any-first", "any-last"}},
	};
	for (size_t c = 0; c < VG_ARRAY_LEN(cases); c++) {
		seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
		eval(r, cases[c].line, &s);
		size_t n = 0;
		while (n < 5 && cases[c].want[n])
			n++;
		cr_assert_eq((size_t)s.n, n, "%s: %d verdicts", cases[c].line, s.n);
		for (size_t i = 0; i < n; i++)
			cr_assert_str_eq(s.rules[i], cases[c].want[i], "%s: verdict %zu", cases[c].line, i);
	}
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 1);
	cr_assert_eq(st.shadow_verdicts[VG_ACTION_BLOCK], 1, "upload keeps its shadow option");
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);

	const char *bad[] = {
		"rule('a', function(e) end, {on = 5})",
		"rule('a', function(e) end, {on = {}})",
		"rule('a', function(e) end, {on = ''})",
		"rule('a', function(e) end, {on = {'login', 7}})",
		"rule('a', {on = 'login'}, {on = 'login'})",
	};
	for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
		vg_error err;
		cr_assert_eq(vg_ruleset_load_string("o.lua", bad[i], strlen(bad[i]), &rs, &err),
			     VG_EINVAL, "%s", bad[i]);
		cr_assert(strstr(err.msg, "o.lua"), "%s", err.msg);
	}
}

/* Regression: only items 1..#on were read, so a nil inside the list (a misspelt
 * constant) or a set-style key silently narrowed the rule to the types before it. */
Test(engine, an_on_list_with_a_hole_or_other_keys_is_refused)
{
	const char *bad[] = {
		"local T = {} rule('a', {on = {'upload', T.signup, 'login'}}, function(e) end)",
		"rule('a', {on = {'upload', login = true}}, function(e) end)",
		"rule('a', {on = {'upload', [3] = 'login'}}, function(e) end)",
		"rule('a', {on = {'upload', [1.5] = 'login'}}, function(e) end)",
		"rule('a', {on = {[0] = 'upload', 'login'}}, function(e) end)",
	};
	for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
		vg_ruleset *rs = NULL;
		vg_error err;
		cr_assert_eq(vg_ruleset_load_string("o.lua", bad[i], strlen(bad[i]), &rs, &err),
			     VG_EINVAL, "%s", bad[i]);
		cr_assert(strstr(err.msg, "o.lua:"), "%s", err.msg);
	}
	vg_ruleset *rs = load("rule('a', {on = {'upload', [2] = 'login'}}, function(e) end)");
	cr_assert_str_eq(vg_ruleset_rule_on(rs, 0, 1), "login");
	vg_ruleset_free(rs);
}

Test(engine, memory_is_capped)
{
	vg_ruleset *rs = load("rule('hog', function(e) local t = {} for i = 1, 1e9 do t[i] = "
			      "string.rep('x', 1e6) .. i end end)\n"
			      "rule('fine', function(e) verdict('allow') end)");
	vg_rules_opts o = {.budget_ms = 60000};
	vg_rules_runner *r;
	vg_error err;
	cr_assert_eq(vg_rules_runner_new(rs, &o, &r, &err), 0);
	/* Event after event: what the failed rule built is collected, so the rule after it
	 * never fails for it. */
	for (int i = 1; i <= 3; i++) {
		seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
		eval(r, "{\"type\":\"x\"}", &s);
		cr_assert_eq(s.n, 1, "event %d", i);
		vg_rules_stats st;
		vg_rules_runner_stats(r, &st);
		cr_assert_eq(st.rule_errors, (uint64_t)i, "out of memory is a rule error");
	}
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

/* Regression: the rule that hit the cap left its garbage behind, and the collection
 * spacing then failed every other rule's allocations past the cap, with no collection,
 * for thousands of events. Its memory is collected once its run has failed. */
Test(engine, a_rule_failed_on_the_memory_cap_costs_the_others_nothing, .timeout = 60)
{
	vg_ruleset *rs =
		load("rule('hog', {on = 'hog'}, function(e) local t = {} for i = 1, 1e9 do "
		     "t[i] = string.rep('x', 64 * 1024) .. i end end)\n"
		     "rule('after', function(e) local t = {} for i = 1, 1000 do t[i] = {i} end "
		     "verdict('allow', 'after') end)");
	vg_rules_opts o = {.budget_ms = 60000};
	vg_rules_runner *r;
	vg_error err;
	cr_assert_eq(vg_rules_runner_new(rs, &o, &r, &err), 0);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"hog\"}", &s);
	cr_assert_eq(s.n, 1, "the rule after the hog, in the hog's event");
	for (int i = 0; i < 50; i++)
		eval(r, "{\"type\":\"x\"}", &s);
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 1, "only the hog fails: %llu errors",
		     (unsigned long long)st.rule_errors);
	cr_assert_eq(s.n, 51);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

/* A message handler used to run inside the hook that raised the budget stop, where no
 * hook fires: a handler that looped was never stopped. xpcall is pcall's now: the
 * handler runs after the call unwound, under the budget, and not at all for a stop. */
Test(engine, xpcall_handlers_run_under_the_budget, .timeout = 30)
{
	vg_ruleset *rs = load(
		"rule('spin', function(e)\n"
		"  xpcall(function() while true do end end, function(m) while true do end end)\n"
		"end)\n"
		"rule('handled', function(e)\n"
		"  local ok, v = xpcall(function(a, b) error('boom ' .. a .. b, 0) end,\n"
		"    function(m) return 'handled: ' .. m end, 'x', 'y')\n"
		"  local ok2, r1, r2 = xpcall(function(a) return a, 2 end, print, 1)\n"
		"  local ok3, v3 = xpcall(function() error('x') end, function(m) error('again', 0) end)\n"
		"  verdict('allow', tostring(ok) .. ' ' .. v .. ' ' .. tostring(ok2) .. r1 .. r2 ..\n"
		"    ' ' .. tostring(ok3) .. ' ' .. v3)\n"
		"end)\n");
	vg_rules_opts o = {.budget_ms = 50};
	vg_rules_runner *r;
	vg_error err;
	cr_assert_eq(vg_rules_runner_new(rs, &o, &r, &err), 0);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"x\"}", &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.reasons[0], "false handled: boom xy true12 false again");
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.budget_stops, 1);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	/* At load time too: `vigil rules check` and PUT /v1/rules compile the file. */
	const char *src = "xpcall(function() while true do end end, function() while true do end end)\n"
			  "rule('a', function(e) end)";
	cr_assert_eq(vg_ruleset_load_string("x.lua", src, strlen(src), &rs, &err), VG_EINVAL);
	cr_assert(strstr(err.msg, "budget"), "%s", err.msg);
}

/* A pattern that backtracks on a hostile field is one C call: LuaJIT's own took 17 s
 * on this event and nothing could stop it. The rules' own patterns poll the budget. A
 * pcall around the match cannot keep the rule alive, and the next rule and the next
 * event are evaluated as usual. */
Test(engine, a_backtracking_pattern_is_stopped_by_the_budget, .timeout = 30)
{
	vg_ruleset *rs = load(
		"rule('trim', function(e)\n"
		"  local ok, t = pcall(string.match, e.s, '^%s*(.-)%s*$')\n"
		"  verdict('allow', 'trimmed ' .. tostring(t))\n"
		"end)\n"
		"rule('gsub', function(e) verdict('allow', (e.s:gsub('%s+', ' '))) end)\n");
	vg_rules_opts o = {.budget_ms = 20};
	vg_rules_runner *r;
	vg_error err;
	cr_assert_eq(vg_rules_runner_new(rs, &o, &r, &err), 0);
	size_t n = 60000;
	char *line = malloc(n + 64);
	int at = sprintf(line, "{\"type\":\"x\",\"s\":\"a");
	memset(line + at, ' ', n);
	strcpy(line + at + n, "a\"}");
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	vg_usec t0 = vg_time_mono();
	eval(r, line, &s);
	cr_assert_lt(vg_time_mono() - t0, 5000000, "stopped near the budget, not after the match");
	cr_assert_eq(s.n, 1, "only gsub spoke");
	cr_assert_str_eq(s.reasons[0], "a a");
	eval(r, "{\"type\":\"x\",\"s\":\"  b  \"}", &s);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.reasons[1], "trimmed b");
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.budget_stops, 1);
	free(line);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

/* ---- the threaded engine ----------------------------------------------------------------- */
typedef struct wmap {
	pthread_mutex_t mu;
	int worker_of[1000]; /* -1 unseen */
	bool split;
	uint64_t verdicts;
} wmap;

static void by_worker(const vg_verdict *v, void *ctx)
{
	wmap *m = ctx;
	int k = atoi(v->reason);
	pthread_mutex_lock(&m->mu);
	if (m->worker_of[k] == -1)
		m->worker_of[k] = v->worker;
	else if (m->worker_of[k] != v->worker)
		m->split = true;
	m->verdicts++;
	pthread_mutex_unlock(&m->mu);
}

/* The partition key text of line under key (NULL: the default), or "-" without one. */
static const char *key_of(const char *line, const char *key)
{
	static char out[64];
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	vg_error err;
	cr_assert_eq(vg_json_decode(&doc, line, strlen(line), &err), 0, "%s", err.msg);
	char num[32];
	const char *v;
	size_t n;
	if (vg_rules_partition_key(&doc, key, num, &v, &n))
		snprintf(out, sizeof(out), "%.*s", (int)n, v);
	else
		snprintf(out, sizeof(out), "-");
	vg_json_doc_done(&doc);
	return out;
}

Test(engine, partition_keys_by_name_path_and_default)
{
	const char *ev = "{\"type\":\"t\",\"ip\":\"192.0.2.1\",\"user\":{\"id\":\"u1\","
			 "\"org\":{\"id\":7}},\"n\":42,\"a.b\":\"lit\",\"a\":{\"b\":\"deep\"}}";
	cr_assert_str_eq(key_of(ev, NULL), "192.0.2.1");
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"user\":{\"id\":\"u1\"}}", NULL), "u1");
	cr_assert_str_eq(key_of("{\"type\":\"t\"}", NULL), "-");
	cr_assert_str_eq(key_of(ev, "user"), "u1"); /* an object gives its id */
	cr_assert_str_eq(key_of(ev, "user.id"), "u1");
	cr_assert_str_eq(key_of(ev, "user.org"), "7");
	cr_assert_str_eq(key_of(ev, "user.org.id"), "7");
	cr_assert_str_eq(key_of(ev, "n"), "42");
	cr_assert_str_eq(key_of(ev, "a.b"), "lit"); /* a field of that very name comes first */
	cr_assert_str_eq(key_of(ev, "user.nope"), "-");
	cr_assert_str_eq(key_of(ev, "ip.x"), "-"); /* not an object on the way */
	cr_assert_str_eq(key_of(ev, "user..id"), "-");
	cr_assert_str_eq(key_of(ev, "nope"), "-");
	/* Numbers as the rules see them: doubles, in full, the shortest text that reads back. */
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"ip\":100000000000001}", NULL),
			 "100000000000001");
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"ip\":9007199254740993}", NULL),
			 "9007199254740992");
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"ip\":3.0}", NULL), "3");
	/* An empty ip is a value the rules count like any other, not a missing one. */
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"ip\":\"\",\"user\":\"u\"}", NULL), "");
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"ip\":0.1}", NULL), "0.1");
	cr_assert_str_eq(key_of("{\"type\":\"t\",\"ip\":1e300}", NULL), "1e+300");
}

/* Lua writes numbers with 14 digits, so ids 100000000000001 and 100000000000002 were one
 * key: one user's counters and labels were the other's. Keys write numbers in full, as
 * the partition key does. */
Test(engine, numeric_ids_keep_their_own_counters_and_labels)
{
	vg_ruleset *rs = load(
		"rule('c', function(e)\n"
		"  if e.mark then label('user', e.id, 'suspect') end\n"
		"  verdict('allow', count('u', e.id, '1h') .. ' ' .. distinct('d', e.id, e.id, '1h')\n"
		"    .. ' ' .. tostring(has_label('user', e.id, 'suspect')))\n"
		"end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"x\",\"id\":100000000000001,\"mark\":true}", &s);
	eval(r, "{\"type\":\"x\",\"id\":100000000000002}", &s);
	eval(r, "{\"type\":\"x\",\"id\":100000000000001}", &s);
	cr_assert_eq(s.n, 3);
	cr_assert_str_eq(s.reasons[0], "1 1 true");
	cr_assert_str_eq(s.reasons[1], "1 1 false");
	cr_assert_str_eq(s.reasons[2], "2 1 true");
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(engine, partitioning_keeps_a_key_on_one_worker_and_counts_exactly)
{
	vg_ruleset *rs = load("rule('c', function(e)\n"
			      "  local n = count(e.ip, '1h')\n"
			      "  if n == 100 then verdict('block', e.k) end\n"
			      "end)\n");
	wmap m = {.mu = PTHREAD_MUTEX_INITIALIZER};
	for (int i = 0; i < 1000; i++)
		m.worker_of[i] = -1;
	vg_rules_opts o = {.workers = 4, .on_verdict = by_worker, .ctx = &m};
	vg_rules_engine *e;
	vg_error err;
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	char line[160];
	uint64_t seq = 0;
	for (int round = 0; round < 100; round++)
		for (int k = 0; k < 1000; k++) {
			/* ip first or last, nested decoys, strings holding "ip" and an earlier
			 * "ip" the rules never see (they read the last) must not change where
			 * the event goes. */
			int n = (k + round) % 3 == 0
				? snprintf(line, sizeof(line),
					   "{\"type\":\"t\",\"ip\":\"10.%d.%d.1\",\"k\":\"%d\"}", k / 256,
					   k % 256, k)
				: (k + round) % 3 == 1
				? snprintf(line, sizeof(line),
					   "{\"type\":\"t\",\"x\":{\"ip\":\"%d\"},\"s\":\"\\\"ip\\\":\","
					   "\"k\":\"%d\",\"ip\" : \"10.%d.%d.1\"}",
					   round, k, k / 256, k % 256)
				: snprintf(line, sizeof(line),
					   "{\"type\":\"t\",\"ip\":\"decoy-%d\",\"k\":\"%d\","
					   "\"ip\":\"10.%d.%d.1\"}",
					   round, k, k / 256, k % 256);
			vg_rules_engine_push(e, line, (size_t)n, seq++);
		}
	vg_rules_stats st;
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0);
	cr_assert_eq(st.events, 100000);
	cr_assert_eq(st.verdicts[VG_ACTION_BLOCK], 1000, "every key reached exactly 100 on one worker");
	cr_assert_not(m.split);
	int used[4] = {0};
	for (int k = 0; k < 1000; k++)
		used[m.worker_of[k]]++;
	for (int w = 0; w < 4; w++)
		cr_assert_gt(used[w], 150, "worker %d got %d keys of 1000", w, used[w]);
	/* The documented mapping is what the engine used. */
	for (int k = 0; k < 1000; k++) {
		char ip[32];
		int n = snprintf(ip, sizeof(ip), "10.%d.%d.1", k / 256, k % 256);
		cr_assert_eq(vg_rules_partition(ip, (size_t)n, 4), m.worker_of[k]);
	}
	vg_rules_engine_free(e);
	vg_ruleset_free(rs);
}

/* Lines as long as max_event_bytes allows (one fills a batch) go through whole between
 * ordinary ones, and lines the producer refuses are counted, not lost. */
Test(engine, long_and_bad_lines_between_ordinary_ones)
{
	vg_ruleset *rs = load("rule('len', function(e) verdict('allow', tostring(#(e.blob or ''))) end)\n");
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	vg_rules_opts o = {.workers = 2, .max_event_bytes = 256 << 10, .on_verdict = collect, .ctx = &s};
	vg_rules_engine *e;
	vg_error err;
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	size_t big = (size_t)200 << 10;
	char *line = malloc(big + 64);
	int n = snprintf(line, 64, "{\"type\":\"t\",\"ip\":\"1.2.3.4\",\"blob\":\"");
	memset(line + n, 'x', big);
	memcpy(line + n + big, "\"}", 3);
	const char *small = "{\"type\":\"t\",\"ip\":\"1.2.3.4\",\"blob\":\"abc\"}";
	uint64_t seq = 0;
	for (int round = 0; round < 3; round++) {
		vg_rules_engine_push(e, small, strlen(small), seq++);
		vg_rules_engine_push(e, line, strlen(line), seq++);
		vg_rules_engine_push(e, "{\"type\":", 8, seq++);        /* does not decode */
		vg_rules_engine_push(e, "{\"ip\":\"1.2.3.4\"}", 15, seq++); /* no type */
	}
	vg_rules_stats st;
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0);
	cr_assert_eq(st.events, 6);
	cr_assert_eq(st.bad_events, 6);
	cr_assert_eq(s.n, 6);
	/* One key, so one worker, in input order. */
	for (int i = 0; i < 6; i++)
		cr_assert_str_eq(s.reasons[i], i % 2 ? "204800" : "3", "verdict %d", i);
	free(line);
	vg_rules_engine_free(e);
	vg_ruleset_free(rs);
}

static void tmp_db(char *path, size_t cap)
{
	snprintf(path, cap, "/tmp/vigil-rules-test-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	unlink(path);
}

static void rm_db(const char *path)
{
	char p[300];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* A 'flag' event labels its user; a labelled user's posts are blocked. */
static const char SPAM_LABEL_RULE[] = "rule('l', function(e)\n"
				      "  if e.type == 'flag' then label('user', e.u, 'spam', '1h') end\n"
				      "  if e.type == 'post' and has_label('user', e.u, 'spam') then\n"
				      "    verdict('block', e.u) end\n"
				      "end)\n";

Test(engine, labels_survive_a_restart)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_ruleset *rs = load(SPAM_LABEL_RULE);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	vg_rules_opts o = {.workers = 2, .store_path = db, .on_verdict = collect, .ctx = &s};
	vg_rules_engine *e;
	vg_error err;
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	const char *flag = "{\"type\":\"flag\",\"u\":\"alice\"}";
	vg_rules_engine_push(e, flag, strlen(flag), 1);
	vg_rules_stats st;
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0, "%s", err.msg);
	vg_rules_engine_free(e);
	/* A new engine (a restart) on the same store knows alice, on any worker. */
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	for (int i = 0; i < 4; i++) {
		const char *post = "{\"type\":\"post\",\"u\":\"alice\"}";
		vg_rules_engine_push(e, post, strlen(post), (uint64_t)i);
	}
	const char *bob = "{\"type\":\"post\",\"u\":\"bob\"}";
	vg_rules_engine_push(e, bob, strlen(bob), 9);
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0);
	cr_assert_eq(st.verdicts[VG_ACTION_BLOCK], 4);
	vg_rules_engine_free(e);
	vg_ruleset_free(rs);
	rm_db(db);
}

/* Regression: a replay read back only the labels live by the wall clock, so a label an
 * old log set (its expiry in the log's time) was lost at each file boundary of a replay
 * split by day, and a stream gave other verdicts replayed whole or in parts. */
Test(engine, a_replay_in_parts_keeps_the_labels_of_old_logs)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_ruleset *rs = load("rule('l', function(e)\n"
			      "  if e.type == 'flag' then label('user', e.u, 'spam', '7d') end\n"
			      "  if e.type == 'post' and has_label('user', e.u, 'spam') then\n"
			      "    verdict('block', e.u) end\n"
			      "end)\n");
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	vg_rules_opts o = {.workers = 2, .store_path = db, .on_verdict = collect, .ctx = &s};
	vg_rules_engine *e;
	vg_error err;
	vg_rules_stats st;
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	const char *flag = "{\"type\":\"flag\",\"u\":\"old\",\"ts\":1700000000}";
	vg_rules_engine_push(e, flag, strlen(flag), 1);
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0, "%s", err.msg);
	vg_rules_engine_free(e);
	/* The next day's file: the label is live at its events' time. */
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	const char *post = "{\"type\":\"post\",\"u\":\"old\",\"ts\":1700086400}";
	vg_rules_engine_push(e, post, strlen(post), 1);
	/* Eight days on, it has expired. */
	const char *late = "{\"type\":\"post\",\"u\":\"old\",\"ts\":1700691200}";
	vg_rules_engine_push(e, late, strlen(late), 2);
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(st.verdicts[VG_ACTION_BLOCK], 1);
	vg_rules_engine_free(e);
	vg_ruleset_free(rs);
	rm_db(db);
}

Test(engine, sum_totals_amounts_and_refuses_bad_ones)
{
	vg_ruleset *rs = load(
		"rule('spend', {on = 'payment'}, function(e)\n"
		"  local total = sum('spend', e.card, e.huge and math.huge or e.amount, '24h')\n"
		"  if total >= 1000 then verdict('review', string.format('%.2f in 24h', total)) end\n"
		"end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"payment\",\"card\":\"c1\",\"amount\":400.5,\"ts\":1700000000}", &s);
	eval(r, "{\"type\":\"payment\",\"card\":\"c2\",\"amount\":900,\"ts\":1700000001}", &s);
	eval(r, "{\"type\":\"payment\",\"card\":\"c1\",\"amount\":599.5,\"ts\":1700003600}", &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.reasons[0], "1000.00 in 24h");
	/* A day and a bucket later the first payment has left the window. */
	eval(r, "{\"type\":\"payment\",\"card\":\"c1\",\"amount\":1,\"ts\":1700095000}", &s);
	cr_assert_eq(s.n, 1);
	/* Amounts that are not finite numbers of 0 or more are rule errors. */
	static const char *const bad[] = {"-1", "\"12\"", "null", "1,\"huge\":true"};
	vg_rules_stats st;
	for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++) {
		char line[128];
		snprintf(line, sizeof(line), "{\"type\":\"payment\",\"card\":\"c3\",\"amount\":%s}", bad[i]);
		eval(r, line, &s);
	}
	vg_rules_runner_stats(r, &st);
	cr_assert_eq(st.rule_errors, 4);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(engine, counted_and_summed_read_without_counting)
{
	vg_ruleset *rs = load(
		"rule('takeover', {on = {'fail', 'ok'}}, function(e)\n"
		"  if e.type == 'fail' then count('fail', e.user, '1h'); sum('tried', e.user, 2, '1h')\n"
		"  elseif counted('fail', e.user, '1h') >= 3 then\n"
		"    verdict('challenge', counted('fail', e.user, '1h') .. ' ' .. summed('tried', e.user, '1h'))\n"
		"  end\n"
		"end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	for (int i = 0; i < 3; i++)
		eval(r, "{\"type\":\"fail\",\"user\":\"a\",\"ts\":1700000000}", &s);
	/* Reading twice counts nothing: the verdict says 3, not 4 or 5. */
	eval(r, "{\"type\":\"ok\",\"user\":\"a\",\"ts\":1700000001}", &s);
	eval(r, "{\"type\":\"ok\",\"user\":\"a\",\"ts\":1700000002}", &s);
	cr_assert_eq(s.n, 2);
	cr_assert_str_eq(s.reasons[0], "3 6");
	cr_assert_str_eq(s.reasons[1], "3 6");
	/* A user never counted reads 0. */
	eval(r, "{\"type\":\"ok\",\"user\":\"b\",\"ts\":1700000003}", &s);
	cr_assert_eq(s.n, 2);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(engine, a_runner_handed_labels_sees_them_and_writes_them)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_ruleset *rs = load(SPAM_LABEL_RULE);
	vg_rules_opts o = {.store_path = db};
	vg_rules_runner *old, *fresh;
	vg_error err;
	cr_assert_eq(vg_rules_runner_new(rs, &o, &old, &err), 0, "%s", err.msg);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(old, "{\"type\":\"flag\",\"u\":\"alice\"}", &s);
	/* The new state reads the store before the old one has written alice's label. */
	cr_assert_eq(vg_rules_runner_new(rs, &o, &fresh, &err), 0, "%s", err.msg);
	vg_rules_runner_give_labels(fresh, vg_rules_runner_take_labels(old));
	cr_assert_null(vg_rules_runner_take_labels(old), "the old state has none left to write");
	vg_rules_runner_free(old);
	eval(fresh, "{\"type\":\"post\",\"u\":\"alice\"}", &s);
	eval(fresh, "{\"type\":\"post\",\"u\":\"bob\"}", &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.reasons[0], "alice");
	/* The new state writes the label as its own: a third state reads it from the store. */
	vg_rules_label_batch *b = vg_rules_runner_take_labels(fresh);
	cr_assert_eq(vg_rules_label_batch_count(b), 1);
	vg_store *st;
	cr_assert_eq(vg_store_open(db, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(vg_rules_label_batch_persist(b, st, &err), 0, "%s", err.msg);
	vg_store_close(st);
	vg_rules_label_batch_free(b);
	vg_rules_runner_free(fresh);
	cr_assert_eq(vg_rules_runner_new(rs, &o, &fresh, &err), 0, "%s", err.msg);
	eval(fresh, "{\"type\":\"post\",\"u\":\"alice\"}", &s);
	cr_assert_eq(s.n, 2);
	vg_rules_runner_free(fresh);
	vg_rules_runner_give_labels(NULL, NULL);
	vg_ruleset_free(rs);
	rm_db(db);
}

Test(engine, a_label_put_from_outside_beats_the_runners_pending_write)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_ruleset *rs = load(SPAM_LABEL_RULE);
	vg_rules_opts o = {.store_path = db};
	vg_rules_runner *r;
	vg_error err;
	cr_assert_eq(vg_rules_runner_new(rs, &o, &r, &err), 0, "%s", err.msg);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	eval(r, "{\"type\":\"flag\",\"u\":\"alice\"}", &s);
	eval(r, "{\"type\":\"flag\",\"u\":\"bob\"}", &s);
	/* Taken back elsewhere before the flush: alice's pending write goes, bob's stays. */
	vg_rules_runner_put_label(r, "user", "alice", "spam", VG_LABEL_REMOVED);
	vg_rules_label_batch *b = vg_rules_runner_take_labels(r);
	cr_assert_eq(vg_rules_label_batch_count(b), 1);
	vg_rules_label_batch_free(b);
	eval(r, "{\"type\":\"post\",\"u\":\"alice\"}", &s);
	eval(r, "{\"type\":\"post\",\"u\":\"bob\"}", &s);
	cr_assert_eq(s.n, 1);
	cr_assert_str_eq(s.reasons[0], "bob");
	/* Set elsewhere: seen, and not written again by the runner. */
	vg_rules_runner_put_label(r, "user", "carol", "spam", 0);
	eval(r, "{\"type\":\"post\",\"u\":\"carol\"}", &s);
	cr_assert_eq(s.n, 2);
	cr_assert_null(vg_rules_runner_take_labels(r));
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	rm_db(db);
}

/* Two addresses whose events go to different workers of two. */
static void two_workers_ips(char a[32], char b[32])
{
	snprintf(a, 32, "10.0.0.1");
	for (int i = 2;; i++) {
		snprintf(b, 32, "10.0.0.%d", i);
		if (vg_rules_partition(a, strlen(a), 2) != vg_rules_partition(b, strlen(b), 2))
			return;
	}
}

Test(engine, a_label_set_on_one_worker_is_seen_on_the_others)
{
	vg_ruleset *rs = load(SPAM_LABEL_RULE);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	vg_rules_opts o = {.workers = 2, .on_verdict = collect, .ctx = &s};
	vg_rules_engine *e;
	vg_error err;
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	char a[32], b[32], line[128];
	two_workers_ips(a, b);
	/* alice is labelled on a's worker; her posts from b go to the other one. */
	int n = snprintf(line, sizeof(line), "{\"type\":\"flag\",\"u\":\"alice\",\"ip\":\"%s\"}", a);
	vg_rules_engine_push(e, line, (size_t)n, 1);
	vg_rules_stats st;
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0, "%s", err.msg);
	n = snprintf(line, sizeof(line), "{\"type\":\"post\",\"u\":\"alice\",\"ip\":\"%s\"}", b);
	vg_rules_engine_push(e, line, (size_t)n, 2);
	n = snprintf(line, sizeof(line), "{\"type\":\"post\",\"u\":\"alice\",\"ip\":\"%s\"}", a);
	vg_rules_engine_push(e, line, (size_t)n, 3);
	n = snprintf(line, sizeof(line), "{\"type\":\"post\",\"u\":\"bob\",\"ip\":\"%s\"}", b);
	vg_rules_engine_push(e, line, (size_t)n, 4);
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(st.verdicts[VG_ACTION_BLOCK], 2, "alice from both addresses, not bob");
	vg_rules_engine_free(e);
	vg_ruleset_free(rs);
}

Test(engine, a_held_bus_keeps_labels_until_it_is_released)
{
	vg_label_bus *bus = vg_label_bus_new(3);
	vg_labels *l1 = vg_labels_new(16), *l2 = vg_labels_new(16);
	vg__label_bus_post(bus, 0, "user", "alice", "spam", 0);
	vg_label_bus_hold(bus, true);
	vg__label_bus_poll(bus, 1, l1);
	cr_assert_not(vg_labels_has(l1, "user", "alice", "spam", 1));
	vg_label_bus_hold(bus, false);
	vg__label_bus_poll(bus, 1, l1);
	vg__label_bus_poll(bus, 2, l2);
	vg__label_bus_poll(bus, 2, l2); /* an empty inbox */
	cr_assert(vg_labels_has(l1, "user", "alice", "spam", 1));
	cr_assert(vg_labels_has(l2, "user", "alice", "spam", 1));
	/* Never to its own poster. */
	vg_labels *l0 = vg_labels_new(16);
	vg__label_bus_poll(bus, 0, l0);
	cr_assert_eq(vg_labels_size(l0), 0);
	cr_assert_eq(vg_label_bus_dropped(bus), 0);
	/* A state that never polls holds 65,536; the rest are counted, not kept. */
	char id[32];
	for (int i = 0; i < 65536 + 5; i++) {
		snprintf(id, sizeof(id), "u%d", i);
		vg__label_bus_post(bus, 0, "user", id, "n", 0);
	}
	cr_assert_eq(vg_label_bus_dropped(bus), 2 * 5, "5 for each of states 1 and 2");
	/* A label forgotten leaves every inbox; the others stay. */
	vg_label_bus_forget(bus, "user", "u7", "n");
	vg_labels *big = vg_labels_new(1 << 17);
	vg__label_bus_poll(bus, 1, big);
	cr_assert_eq(vg_labels_size(big), 65535);
	cr_assert_not(vg_labels_has(big, "user", "u7", "n", 1));
	cr_assert(vg_labels_has(big, "user", "u65535", "n", 1));
	cr_assert_not(vg_labels_has(big, "user", "u65536", "n", 1));
	vg_labels_free(big);
	vg_labels_free(l0);
	vg_labels_free(l1);
	vg_labels_free(l2);
	vg_label_bus_free(bus);
}

/* Adds a signal to bank (made when missing). */
static void add_signal(vg_store *st, const char *bank, const char *type, const char *value)
{
	vg_error err;
	vg_store_bank b;
	if (vg_store_bank_get(st, bank, &b, &err) != 0) {
		cr_assert_eq(vg_store_bank_create(st, bank, NULL, &err), 0);
		cr_assert_eq(vg_store_bank_get(st, bank, &b, &err), 0);
	}
	int64_t id;
	vg_store_add_result res;
	cr_assert_eq(vg_store_signal_add(st, b.id, type, value, NULL, &id, &res, &err), 0, "%s: %s",
		     type, err.msg);
	vg_store_bank_done(&b);
}

Test(engine, match_finds_every_signal_type)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_store *st;
	vg_error err;
	cr_assert_eq(vg_store_open(db, &st, &err), 0, "%s", err.msg);
	struct { const char *type, *value; } sigs[] = {
		{"ip", "192.0.2.0/24"}, {"ip", "2001:db8::/32"}, {"domain", "evil.example"},
		{"text", "buy cheap pills"}, {"url", "https://phish.test/login"},
		{"md5", "d35c785545392755e7e4164457657269"},
		{"pdq", "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"},
	};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		add_signal(st, "bad", sigs[i].type, sigs[i].value);
	vg_rules_banks *banks;
	cr_assert_eq(vg_rules_banks_open(st, 31, &banks, &err), 0, "%s", err.msg);
	vg_store_close(st);
	const char *yes[] = {
		"192.0.2.77", "2001:db8::5", "evil.example", "cdn.evil.example", "buy cheap pills",
		"HTTPS://PHISH.test:443/login#x", "https://www.evil.example/any",
		"d35c785545392755e7e4164457657269",
		/* one bit away from the PDQ signal */
		"d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b23",
	};
	const char *no[] = {"192.0.3.1", "notevil.example", "buy cheap pill", "https://phish.test/",
			    "d35c785545392755e7e4164457657268", "", "2001:db9::1"};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_assert(vg_rules_banks_match(banks, "bad", yes[i], strlen(yes[i])), "%s", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_assert_not(vg_rules_banks_match(banks, "bad", no[i], strlen(no[i])), "%s", no[i]);
	cr_assert_not(vg_rules_banks_match(banks, "other", "192.0.2.77", 10), "unknown bank");
	vg_rules_banks_free(banks);
	rm_db(db);
}

/* A refresh reads again only the banks that changed and takes the rest over: each part
 * is freed once (LeakSanitizer and ASan check, in the ASan run), the old set answers as
 * before until it is freed, and the new one as the store now is. */
Test(engine, banks_refresh_reads_only_what_changed)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_store *st;
	vg_error err;
	cr_assert_eq(vg_store_open(db, &st, &err), 0, "%s", err.msg);
	add_signal(st, "kept", "domain", "evil.example");
	add_signal(st, "changed", "text", "old text");
	add_signal(st, "dropped", "text", "gone soon");
	vg_rules_banks *a, *b, *c;
	cr_assert_eq(vg_rules_banks_open(st, 31, &a, &err), 0, "%s", err.msg);
	usleep(2000); /* updated_at is in microseconds */
	add_signal(st, "changed", "text", "new text");
	cr_assert_eq(vg_store_bank_set_enabled(st, "dropped", false, &err), 0, "%s", err.msg);
	add_signal(st, "added", "ip", "192.0.2.0/24");
	cr_assert_eq(vg_rules_banks_refresh(a, st, &b, &err), 0, "%s", err.msg);
	/* The old set is as it was. */
	cr_assert(vg_rules_banks_match(a, "kept", "x.evil.example", 14));
	cr_assert_not(vg_rules_banks_match(a, "changed", "new text", 8));
	cr_assert(vg_rules_banks_match(a, "dropped", "gone soon", 9));
	vg_rules_banks_free(a);
	/* The new one is the store's, the part it took over outliving the old set. */
	cr_assert(vg_rules_banks_match(b, "kept", "x.evil.example", 14));
	cr_assert(vg_rules_banks_match(b, "changed", "new text", 8));
	cr_assert(vg_rules_banks_match(b, "changed", "old text", 8));
	cr_assert_not(vg_rules_banks_match(b, "dropped", "gone soon", 9));
	cr_assert(vg_rules_banks_match(b, "added", "192.0.2.9", 9));
	/* And again, with nothing changed: everything taken over. */
	cr_assert_eq(vg_rules_banks_refresh(b, st, &c, &err), 0, "%s", err.msg);
	vg_rules_banks_free(b);
	cr_assert(vg_rules_banks_match(c, "kept", "x.evil.example", 14));
	cr_assert(vg_rules_banks_match(c, "added", "192.0.2.9", 9));
	vg_rules_banks_free(c);
	vg_store_close(st);
	rm_db(db);
}

/* A lookup skips the parts a bank does not hold; every value of every shape must still
 * get the answer it got when each lookup tried them all. */
Test(engine, match_in_one_type_banks_answers_as_before)
{
	char db[256];
	tmp_db(db, sizeof(db));
	vg_store *st;
	vg_error err;
	cr_assert_eq(vg_store_open(db, &st, &err), 0, "%s", err.msg);
	static const char *const pdq = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
	static const char *const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	static const struct {
		const char *bank, *type, *value;
	} sigs[] = {
		{"ips", "ip", "192.0.2.0/24"}, {"ips", "ip", "2001:db8::/32"},
		{"urls", "url", "https://phish.test/login"}, {"doms", "domain", "evil.example"},
		{"texts", "text", "buy cheap pills"}, {"md5s", "md5", "d35c785545392755e7e4164457657269"},
		{"pdqs", "pdq", pdq}, {"shas", "sha256", sha},
		{"both", "sha256", sha}, {"both", "pdq", pdq},
	};
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		add_signal(st, sigs[i].bank, sigs[i].type, sigs[i].value);
	vg_rules_banks *banks;
	cr_assert_eq(vg_rules_banks_open(st, 31, &banks, &err), 0, "%s", err.msg);
	vg_store_close(st);
	static const char *const near_pdq =
		"d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b23";
	static const struct {
		const char *bank, *value;
		bool want;
	} cases[] = {
		{"ips", "192.0.2.9", true}, {"ips", "2001:db8::5", true}, {"ips", "::ffff:192.0.2.9", true},
		{"ips", "192.0.3.9", false}, {"ips", "http://192.0.2.9/", false},
		{"ips", "evil.example", false}, {"ips", near_pdq, false},
		{"urls", "HTTPS://PHISH.test:443/login#x", true}, {"urls", "https://phish.test/", false},
		{"urls", "https://evil.example/", false}, {"urls", "192.0.2.9", false},
		{"urls", "hTtP://phish.test/login", false}, {"urls", "https:/phish.test/login", false},
		{"doms", "https://www.evil.example/any", true}, {"doms", "Cdn.Evil.Example.", true},
		{"doms", "notevil.example", false}, {"doms", "https://phish.test/login", false},
		{"doms", "192.0.2.9", false},
		{"texts", "buy cheap pills", true}, {"texts", "buy cheap pill", false},
		{"md5s", "D35C785545392755E7E4164457657269", true},
		{"md5s", "d35c785545392755e7e4164457657268", false}, {"md5s", pdq, false},
		{"pdqs", near_pdq, true}, {"pdqs", sha, false},
		{"pdqs", "d35c785545392755e7e4164457657269", false},
		{"pdqs", "x8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22", false},
		{"shas", sha, true}, {"shas", near_pdq, false},
		{"both", sha, true}, {"both", near_pdq, true},
		/* Bank names compare whole: neither a prefix nor a longer name finds a bank. */
		{"ip", "192.0.2.9", false}, {"ipsx", "192.0.2.9", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(vg_rules_banks_match(banks, cases[i].bank, cases[i].value,
						  strlen(cases[i].value)),
			     cases[i].want, "%s in %s", cases[i].value, cases[i].bank);
	vg_rules_banks_free(banks);
	rm_db(db);
}

/* Answers ahead (rules_engine.c): once worker 0 has learnt which banks its rules match
 * which top-level fields against, the producer looks them up as it decodes, and match()
 * takes those answers. Every answer must be what the worker's own lookup gives, so the
 * same stream, answered ahead always and never, must give the same verdict for every
 * event: values in and out of banks, absent and non-string fields, a repeated key whose
 * first value is a decoy, a url matched in two banks, and a field the plan lacks. */
enum { AHEAD_EVENTS = 3000 };

static void by_seq(const vg_verdict *v, void *ctx)
{
	char (*r)[64] = ctx;
	if (v->seq < AHEAD_EVENTS)
		snprintf(r[v->seq], 64, "%s", v->reason);
}

static void run_ahead(const vg_ruleset *rs, const vg_rules_banks *banks, int mode,
		      char (*reasons)[64])
{
	vg_rules_opts o = {.workers = 1, .banks = banks, .match_ahead = mode, .on_verdict = by_seq,
			   .ctx = reasons};
	vg_rules_engine *e;
	vg_error err;
	cr_assert_eq(vg_rules_engine_new(rs, &o, &e, &err), 0, "%s", err.msg);
	static const char *const ips[] = {"\"192.0.2.7\"", "\"198.51.100.7\"", "17", NULL};
	static const char *const urls[] = {"https://phish.test/login", "https://www.evil.example/x",
					   "https://fine.example/", "not a url"};
	char line[300];
	for (int i = 0; i < AHEAD_EVENTS; i++) {
		const char *ip = ips[i % 4], *url = urls[(i / 4) % 4];
		int n = snprintf(line, sizeof(line), "{\"type\":\"t\",\"k\":\"%d\"", i);
		if (i % 7 == 3) /* a decoy first: rules read the last "ip" */
			n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"ip\":\"192.0.2.1\"");
		if (ip)
			n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"ip\":%s", ip);
		if (i % 5 != 4)
			n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"url\":\"%s\"", url);
		if (i % 10 == 0) /* out of the bank where the ip is in it */
			n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"other\":\"%s\"",
				      i % 20 ? "192.0.2.1" : "203.0.113.1");
		n += snprintf(line + n, sizeof(line) - (size_t)n, "}");
		vg_rules_engine_push(e, line, (size_t)n, (uint64_t)i);
	}
	vg_rules_stats st;
	cr_assert_eq(vg_rules_engine_drain(e, &st, &err), 0, "%s", err.msg);
	cr_assert_eq(st.events, AHEAD_EVENTS);
	cr_assert_eq(st.rule_errors, 0);
	vg_rules_engine_free(e);
}

typedef struct sig {
	const char *bank, *type, *value;
} sig;

/* Banks holding the n signals, read from a fresh store at db (rm_db removes it). */
static vg_rules_banks *banks_of(char *db, size_t cap, const sig *sigs, size_t n)
{
	tmp_db(db, cap);
	vg_store *st;
	vg_error err;
	cr_assert_eq(vg_store_open(db, &st, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		add_signal(st, sigs[i].bank, sigs[i].type, sigs[i].value);
	vg_rules_banks *banks;
	cr_assert_eq(vg_rules_banks_open(st, 31, &banks, &err), 0, "%s", err.msg);
	vg_store_close(st);
	return banks;
}

Test(engine, match_answers_ahead_are_the_workers_own)
{
	static const sig sigs[] = {{"ips", "ip", "192.0.2.0/25"},
				   {"urls", "url", "https://phish.test/login"},
				   {"doms", "domain", "evil.example"}};
	char db[256];
	vg_rules_banks *banks = banks_of(db, sizeof(db), sigs, 3);
	vg_ruleset *rs = load("rule('m', function(e)\n"
			      "  local r = (match('ips', e.ip) and 'I' or 'i') ..\n"
			      "            (match('urls', e.url) and 'U' or 'u') ..\n"
			      "            (match('doms', e.url) and 'D' or 'd')\n"
			      "  if e.other then r = r .. (match('ips', e.other) and 'O' or 'o') end\n"
			      "  verdict('allow', r)\n"
			      "end)\n");
	static char ahead[AHEAD_EVENTS][64], own[AHEAD_EVENTS][64];
	run_ahead(rs, banks, 1, ahead);
	run_ahead(rs, banks, -1, own);
	for (int i = 0; i < AHEAD_EVENTS; i++)
		cr_assert_str_eq(ahead[i], own[i], "event %d", i);
	/* The stream has every answer: not all false by some mistake. */
	cr_assert_str_eq(own[0], "IUdo");
	cr_assert_str_eq(own[5], "iuD");
	cr_assert_str_eq(own[10], "iudO");
	vg_ruleset_free(rs);
	vg_rules_banks_free(banks);
	rm_db(db);
}

/* Learning goes on after the producer answers: every relearn_events the types start over,
 * and the calls an answer saves must still be seen, or the relearnt plan comes out empty
 * and the answers stop (a first cut did exactly that). Driven here as the engine drives a
 * state, with answers filled in from the plan the state hands over. */
typedef struct plan_seen {
	int plans, last_n, bank;
	char key[32];
} plan_seen;

static void on_plan(void *ctx, const char *type, size_t len, const vg__match_plan *m, size_t n)
{
	plan_seen *p = ctx;
	cr_assert_eq(len, 1);
	cr_assert_eq(type[0], 't');
	p->plans++;
	p->last_n = (int)n;
	if (n) {
		p->bank = m[0].bank;
		snprintf(p->key, sizeof(p->key), "%.*s", (int)m[0].len, m[0].key);
	}
}

static void count_verdicts(const vg_verdict *v, void *ctx)
{
	(void)v;
	++*(int *)ctx;
}

Test(engine, learning_goes_on_while_answers_come_ahead)
{
	static const sig sigs[] = {{"ips", "ip", "192.0.2.0/24"}};
	char db[256];
	vg_rules_banks *banks = banks_of(db, sizeof(db), sigs, 1);
	vg_error err;
	vg_ruleset *rs = load("rule('m', function(e)\n"
			      "  if match('ips', e.ip) then verdict('block', 'in') end\n"
			      "end)\n");
	plan_seen p = {0};
	vg__rules_vm_opts o = {.budget_ms = 200, .banks = banks, .on_plan = on_plan, .plan_ctx = &p,
			       .relearn_events = 1000};
	vg__rules_vm *vm;
	cr_assert_eq(vg__rules_vm_new(rs, &o, &vm, &err), 0, "%s", err.msg);
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	int verdicts = 0, answered = 0;
	for (int i = 0; i < 3500; i++) {
		char line[96];
		int n = snprintf(line, sizeof(line), "{\"type\":\"t\",\"ip\":\"192.0.%d.1\"}", 2 + i % 2);
		cr_assert_eq(vg_json_decode(&doc, line, (size_t)n, &err), 0);
		vg__event_head h;
		vg__rules_event_head(&doc, 1700000000000000, &h);
		if (p.last_n == 1) { /* as the producer: the plan's lookup, answered */
			long k = vg_json_getn(&doc, 0, p.key, strlen(p.key));
			cr_assert_geq(k, 0);
			h.ahead[h.n_ahead++] = (vg__ahead){.bank = p.bank, .node = (uint32_t)k,
							   .hit = i % 2 == 0};
			answered++;
		}
		vg__rules_vm_eval(vm, &doc, &h, line, (size_t)n, (uint64_t)i, count_verdicts, &verdicts);
	}
	/* Learnt at 257, then again after each of the relearns at 1000, 2000 and 3000. */
	cr_assert_eq(p.plans, 4);
	cr_assert_eq(p.last_n, 1, "the relearnt plan kept the match");
	cr_assert_str_eq(p.key, "ip");
	cr_assert_gt(answered, 3000);
	cr_assert_eq(verdicts, 1750);
	vg_json_doc_done(&doc);
	vg__rules_vm_free(vm);
	vg_ruleset_free(rs);
	vg_rules_banks_free(banks);
	rm_db(db);
}

/* The time vg__rules_event_head gives an event with this "ts" (JSON text), when the
 * wall clock says 1. */
static vg_usec ts_of(const char *ts)
{
	char line[160];
	int n = snprintf(line, sizeof(line), "{\"type\":\"t\",\"ts\":%s}", ts);
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	vg_error err;
	cr_assert_eq(vg_json_decode(&doc, line, (size_t)n, &err), 0, "%s: %s", line, err.msg);
	vg__event_head h;
	vg__rules_event_head(&doc, 1, &h);
	vg_json_doc_done(&doc);
	return h.time;
}

Test(engine, event_time_from_ts_in_any_unit_or_rfc3339)
{
	const vg_usec t = 1700000000123456; /* 2023-11-14T22:13:20.123456Z */
	cr_assert_eq(ts_of("1700000000"), 1700000000000000);
	cr_assert_eq(ts_of("1700000000.123456"), t);
	cr_assert_eq(ts_of("1700000000123"), 1700000000123000);     /* milliseconds */
	cr_assert_eq(ts_of("1700000000123456"), t);                 /* microseconds */
	cr_assert_eq(ts_of("1700000000123456789"), t);              /* nanoseconds */
	cr_assert_eq(ts_of("1.700000000123456e9"), t);
	cr_assert_eq(ts_of("\"2023-11-14T22:13:20.123456Z\""), t);
	cr_assert_eq(ts_of("\"2023-11-14 23:43:20.123456789+01:30\""), t);
	cr_assert_eq(ts_of("1000000"), 1000000000000); /* 1970-01-12, the first time taken */
	/* Not a time vigil can use: the wall clock stands. */
	cr_assert_eq(ts_of("999999"), 1);
	cr_assert_eq(ts_of("-1700000000"), 1);
	cr_assert_eq(ts_of("1e20"), 1);
	cr_assert_eq(ts_of("\"1700000000\""), 1);
	cr_assert_eq(ts_of("\"1969-12-31T23:59:59Z\""), 1);
	cr_assert_eq(ts_of("\"2023-02-29T00:00:00Z\""), 1);
	cr_assert_eq(ts_of("true"), 1);
	cr_assert_eq(ts_of("null"), 1);
	cr_assert_eq(ts_of("{\"s\":1700000000}"), 1);
	/* More than 5 minutes ahead of the clock is not believed; a minute ahead counts as
	 * the clock's time, a second ahead as itself. */
	char ts[32];
	vg_usec now = vg_time_now() / 1000000 * 1000000;
	snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000000 + 60));
	vg_usec got = ts_of(ts);
	cr_assert(got >= now && got <= vg_time_now(), "%lld", (long long)(got - now));
	vg_usec soon = vg_time_now() + 500000;
	snprintf(ts, sizeof(ts), "%lld", (long long)soon);
	cr_assert_eq(ts_of(ts), soon);
	snprintf(ts, sizeof(ts), "%lld", (long long)(now / 1000000 + 400));
	cr_assert_eq(ts_of(ts), 1);
	cr_assert_eq(ts_of("90000000000"), 1); /* the year 4822 */
}

/* Regression: one event with a ts minutes ahead moved its key's ring into the future, and
 * the real events after it fell behind the ring and counted for nothing: twenty failed
 * logins in a second were never blocked. A ts ahead of the clock now counts as the
 * clock's time. */
Test(engine, a_ts_ahead_of_the_clock_does_not_switch_off_a_count)
{
	vg_ruleset *rs = load("rule('fails', function(e)\n"
			      "  if count('f', e.ip, '1m') >= 5 then verdict('block', 'five') end\n"
			      "end)\n");
	vg_rules_runner *r = runner(rs);
	seen s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	char line[128];
	long long now = (long long)(vg_time_now() / 1000000);
	snprintf(line, sizeof(line), "{\"type\":\"login\",\"ip\":\"a\",\"ts\":%lld}", now + 290);
	eval(r, line, &s);
	for (int i = 0; i < 20; i++)
		eval(r, "{\"type\":\"login\",\"ip\":\"a\"}", &s);
	cr_assert_eq(s.n, 17, "without ts: %d blocks of 17", s.n);
	/* Times of their own a little ahead, as replayed logs of the present may have. */
	s.n = 0;
	snprintf(line, sizeof(line), "{\"type\":\"login\",\"ip\":\"b\",\"ts\":%lld}", now + 290);
	eval(r, line, &s);
	for (int i = 1; i <= 20; i++) {
		snprintf(line, sizeof(line), "{\"type\":\"login\",\"ip\":\"b\",\"ts\":%lld}",
			 now + 2 + i);
		eval(r, line, &s);
	}
	cr_assert_eq(s.n, 17, "with ts: %d blocks of 17", s.n);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}
