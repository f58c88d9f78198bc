/* SPDX-License-Identifier: Apache-2.0
 *
 * Events as Lua tables (src/rules/rules_event.c): fields load on demand and the tables
 * are reused, so these tests run streams of events of different shapes through one
 * state and check that every event reads exactly its own fields, that events are
 * read-only, that pairs/next/rawget see every field, that a nested table kept past its
 * event raises, and that hostile shapes (many keys, many nested objects) stay correct.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rules/rules.h"

typedef struct got {
	char reasons[16][256];
	int n;
} got;

static void collect(const vg_verdict *v, void *ctx)
{
	got *g = ctx;
	if (g->n < 16)
		snprintf(g->reasons[g->n++], 256, "%s", v->reason);
}

static vg_rules_runner *start(const char *src, vg_ruleset **rs)
{
	vg_error err;
	cr_assert_eq(vg_ruleset_load_string("t.lua", src, strlen(src), rs, &err), 0, "%s", err.msg);
	vg_rules_runner *r;
	vg_rules_opts o = {.budget_ms = 200};
	cr_assert_eq(vg_rules_runner_new(*rs, &o, &r, &err), 0, "%s", err.msg);
	return r;
}

/* Runs one event and returns the reason of its single verdict ("" when none). */
static const char *one(vg_rules_runner *r, const char *line, got *g)
{
	vg_error err;
	g->n = 0;
	cr_assert_eq(vg_rules_runner_eval(r, line, strlen(line), collect, g, &err), 0, "%s", err.msg);
	cr_assert_leq(g->n, 1);
	return g->n ? g->reasons[0] : "";
}

static uint64_t errors(vg_rules_runner *r)
{
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	return st.rule_errors;
}

Test(event, each_event_reads_its_own_fields)
{
	vg_ruleset *rs;
	vg_rules_runner *r = start(
		"rule('show', function(e)\n"
		"  local u = e.user and (tostring(e.user.id) .. '/' .. tostring(e.user.name)) or '-'\n"
		"  verdict('allow', table.concat({tostring(e.a), tostring(e.b), u,\n"
		"    tostring(e.tags and e.tags[2]), tostring(e.n)}, ' '))\n"
		"end)", &rs);
	got g;
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"a\":1,\"user\":{\"id\":\"u1\"},\"tags\":[\"p\",\"q\"]}", &g),
			 "1 nil u1/nil q nil");
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"b\":2}", &g), "nil 2 - nil nil");
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"user\":{\"name\":\"n\"},\"a\":null}", &g),
			 "nil nil nil/n nil nil");
	/* Repeated keys: the last one, as jansson reads them. */
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"a\":1,\"a\":3,\"n\":-2.5}", &g), "3 nil - nil -2.5");
	/* A string's fields are the string library's: ("plain").id is nil, as in any Lua. */
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"user\":\"plain\"}", &g), "nil nil nil/nil nil nil");
	cr_assert_eq(errors(r), 0);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(event, events_are_read_only)
{
	vg_ruleset *rs;
	vg_rules_runner *r = start(
		"rule('assign', function(e) e.flag = true end)\n"
		"rule('raw', function(e) rawset(e, 'flag', true) end)\n"
		"rule('nested', function(e) e.user.flag = true end)\n"
		"rule('meta', function(e) setmetatable(e, {}) end)\n"
		"rule('check', function(e)\n"
		"  verdict('allow', tostring(e.flag) .. ' ' .. tostring(e.user.flag) .. ' ' ..\n"
		"          tostring(getmetatable(e)))\n"
		"end)", &rs);
	got g;
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"user\":{\"id\":\"u\"}}", &g), "nil nil vigil event");
	cr_assert_eq(errors(r), 4);
	/* A rule's own tables are its to change. */
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	r = start("rule('own', function(e) local t = {} rawset(t, 'k', e.type) t.x = 1\n"
		  "  verdict('allow', t.k .. t.x) end)", &rs);
	cr_assert_str_eq(one(r, "{\"type\":\"x\"}", &g), "x1");
	cr_assert_eq(errors(r), 0);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(event, pairs_next_and_rawget_see_every_field)
{
	vg_ruleset *rs;
	vg_rules_runner *r = start(
		"rule('walk', function(e)\n"
		"  local a = e.a -- loaded first: pairs must not list it twice\n"
		"  local keys = {}\n"
		"  for k, v in pairs(e) do keys[#keys + 1] = k .. '=' .. (type(v) == 'table' and 'T' or tostring(v)) end\n"
		"  table.sort(keys)\n"
		"  local sub = {}\n"
		"  for k, v in pairs(e.user) do sub[#sub + 1] = k .. '=' .. v end\n"
		"  table.sort(sub)\n"
		"  verdict('allow', table.concat(keys, ',') .. ' ' .. table.concat(sub, ',') .. ' ' ..\n"
		"          tostring(rawget(e, 'type')) .. ' ' .. tostring(next(e) ~= nil))\n"
		"end)", &rs);
	got g;
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"a\":1,\"z\":null,\"user\":{\"id\":\"u\",\"r\":\"m\"}}", &g),
			 "a=1,type=x,user=T id=u,r=m x true");
	cr_assert_str_eq(one(r, "{\"type\":\"y\",\"user\":{\"q\":\"1\"}}", &g), "type=y,user=T q=1 y true");
	cr_assert_eq(errors(r), 0);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(event, a_nested_table_kept_past_its_event_raises)
{
	vg_ruleset *rs;
	vg_rules_runner *r = start(
		"local kept\n"
		"rule('keep', function(e)\n"
		"  if kept then verdict('allow', tostring(kept.id)) end\n"
		"  kept = e.user\n"
		"end)", &rs);
	got g;
	cr_assert_str_eq(one(r, "{\"type\":\"x\",\"user\":{\"id\":\"u1\"}}", &g), "");
	cr_assert_str_eq(one(r, "{\"type\":\"x\"}", &g), "");
	cr_assert_eq(errors(r), 1, "kept.id read in the next event raises");
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

Test(event, many_keys_and_nested_objects_stay_correct)
{
	/* 100 members, each an object: past the reused tables' bounds. */
	char line[8192];
	size_t n = (size_t)snprintf(line, sizeof(line), "{\"type\":\"x\"");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"k%d\":{\"v\":%d}", i, i);
	snprintf(line + n, sizeof(line) - n, "}");
	vg_ruleset *rs;
	vg_rules_runner *r = start(
		"rule('sum', function(e)\n"
		"  local s = 0\n"
		"  for i = 0, 99 do local o = e['k' .. i]; if o then s = s + o.v end end\n"
		"  verdict('allow', tostring(s) .. ' ' .. tostring(e.user and e.user.id))\n"
		"end)", &rs);
	got g;
	for (int round = 0; round < 3; round++) {
		cr_assert_str_eq(one(r, line, &g), "4950 nil");
		cr_assert_str_eq(one(r, "{\"type\":\"x\",\"k3\":{\"v\":7},\"user\":{\"id\":\"u\"}}", &g), "7 u");
	}
	/* Ever-new nested keys: the tables start over and reads stay right. */
	for (int i = 0; i < 200; i++) {
		char ev[128], want[32];
		snprintf(ev, sizeof(ev), "{\"type\":\"x\",\"k%d\":{\"v\":1},\"n%d\":{\"w\":2}}", i % 100, i);
		snprintf(want, sizeof(want), "1 nil");
		cr_assert_str_eq(one(r, ev, &g), want);
	}
	cr_assert_eq(errors(r), 0);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}

/* After 256 events of a type, the fields read in most of them are put in the table as
 * each event begins, and after 256 objects under a key (e.user) those read in most of
 * them as the object is handed out (rules_event.c, "hot fields"). The same events before
 * and after must read the same: objects, nulls, absent fields, non-objects where objects
 * were learnt, repeated keys, and pairs() listing each field once; a field read in few
 * events stays on demand; another type learns on its own. */
Test(event, hot_fields_read_as_loaded_on_demand)
{
	static const struct {
		const char *line, *want;
	} ev[] = {
		{"{\"type\":\"x\",\"a\":1,\"user\":{\"id\":\"u1\"},\"r\":\"y\"}", "1 u1 - nil"},
		{"{\"type\":\"x\",\"a\":null,\"user\":{\"id\":\"u2\",\"k\":[1,2]}}", "nil u2 - nil"},
		{"{\"type\":\"x\",\"user\":\"plain\",\"a\":\"s\"}", "s nil - nil"},
		{"{\"type\":\"x\",\"a\":2,\"a\":5}", "5 - 2 nil"},
		{"{\"type\":\"x\",\"a\":true,\"user\":{},\"rare\":\"r\"}", "true nil 4 r"},
		{"{\"type\":\"y\",\"a\":[7],\"user\":{\"id\":9}}", "T 9 - nil"},
	};
	vg_ruleset *rs;
	vg_rules_runner *r = start(
		"rule('hot', function(e)\n"
		"  local a = e.a\n"
		"  local u = e.user\n"
		"  local id = type(u) == 'table' and tostring(u.id) or (u and 'nil' or '-')\n"
		"  local n = '-'\n"
		"  if a == 5 or a == true then n = 0; for _ in pairs(e) do n = n + 1 end end\n"
		"  local rare = e.rare and e.rare or 'nil'\n"
		"  verdict('allow', (type(a) == 'table' and 'T' or tostring(a)) .. ' ' .. id .. ' ' ..\n"
		"          n .. ' ' .. rare)\n"
		"end)", &rs);
	got g;
	for (int i = 0; i < 2000; i++) {
		/* Mostly the first four shapes; "rare" is in one event of 20. */
		size_t k = i % 20 == 19 ? 4 : i % 50 == 49 ? 5 : (size_t)i % 4;
		cr_assert_str_eq(one(r, ev[k].line, &g), ev[k].want, "event %d (shape %zu)", i, k);
	}
	cr_assert_eq(errors(r), 0);
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
}
