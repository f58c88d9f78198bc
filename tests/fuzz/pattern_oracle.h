/* SPDX-License-Identifier: Apache-2.0
 *
 * The differential oracle for the rules' pattern functions (src/rules/rules_pattern.c):
 * LuaJIT's own string.find, match, gmatch and gsub on the same arguments. Shared by the
 * fuzz target and the unit tests. Two states run one harness; "mine" has our functions,
 * "theirs" LuaJIT's. Each call's outcome becomes text (ok or err, then each value's type
 * and text, or the error message), and the two texts must be equal.
 *
 * LuaJIT's own cannot be stopped, so ours runs first with a step cap (its poll raises
 * after max_polls polls): a case over the cap is not run in LuaJIT's at all. Both do the
 * same steps, so what ours does under the cap theirs does quickly too.
 */
#ifndef VG_PATTERN_ORACLE_H
#define VG_PATTERN_ORACLE_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/internal.h"

#define VG_PATTERN_CAPPED 1

/* One call: op is find, match, gmatch or gsub; a3 and a4 are its third and fourth
 * arguments: "" is nil (none), "#n" the number n, "T" a table, "F" a function, "N" a
 * function that answers false; anything else that string. */
typedef struct vg_pattern_case {
	const char *op;
	const char *s, *p;
	size_t slen, plen;
	const char *a3, *a4;
} vg_pattern_case;

typedef struct vg_pattern_oracle {
	lua_State *mine, *theirs;
	int polls, max_polls;
} vg_pattern_oracle;

static const char vg__pattern_harness[] =
	"local function pack(ok, ...)\n"
	"  local t = {ok and 'ok' or 'err'}\n"
	"  for i = 1, select('#', ...) do\n"
	"    local v = select(i, ...)\n"
	"    t[#t + 1] = type(v) .. ':' .. tostring(v)\n"
	"  end\n"
	"  return table.concat(t, '|')\n"
	"end\n"
	"local kinds = {\n"
	"  T = {a = 'A', ab = 7, b = false, ['('] = {}, [' '] = '_'},\n"
	"  F = function(...)\n"
	"    local a, b = ...\n"
	"    if a == 'a' then return nil end\n"
	"    if a == 'b' then return {} end\n"
	"    return tostring(a) .. '<' .. tostring(b) .. '>' .. select('#', ...)\n"
	"  end,\n"
	"  N = function() return false end,\n"
	"}\n"
	"local function arg(x)\n"
	"  if x == '' then return nil end\n"
	"  if x:sub(1, 1) == '#' then return tonumber(x:sub(2)) end\n"
	"  return kinds[x] or x\n"
	"end\n"
	"function run(op, s, p, x3, x4)\n"
	"  local a3, a4 = arg(x3), arg(x4)\n"
	"  if op == 'find' then\n"
	"    return pack(pcall(function() return string.find(s, p, a3, a4) end))\n"
	"  elseif op == 'match' then\n"
	"    return pack(pcall(function() return s:match(p, a3) end))\n"
	"  elseif op == 'gsub' then\n"
	"    return pack(pcall(function() return string.gsub(s, p, a3, a4) end))\n"
	"  end\n"
	"  local out = {}\n"
	"  local ok, err = pcall(function()\n"
	"    for a, b, c in s:gmatch(p) do\n"
	"      out[#out + 1] = pack(true, a, b, c)\n"
	"      if #out == 40 then break end\n"
	"    end\n"
	"  end)\n"
	"  out[#out + 1] = pack(ok, err)\n"
	"  return table.concat(out, '\\n')\n"
	"end\n";

static vg_pattern_oracle *vg__pattern_current;

static void vg__pattern_poll_cap(lua_State *L)
{
	vg_pattern_oracle *o = vg__pattern_current;
	if (++o->polls > o->max_polls)
		luaL_error(L, "step cap");
}

static lua_State *vg__pattern_state(bool mine)
{
	static const vg__pattern_poll poll = {vg__pattern_poll_cap};
	lua_State *L = luaL_newstate();
	if (!L)
		abort();
	luaL_openlibs(L);
	if (mine) {
		lua_getglobal(L, "string");
		vg__pattern_open(L, -1, &poll);
		lua_pop(L, 1);
	}
	if (luaL_loadbuffer(L, vg__pattern_harness, sizeof(vg__pattern_harness) - 1, "=harness") ||
	    lua_pcall(L, 0, 0, 0)) {
		fprintf(stderr, "pattern oracle: %s\n", lua_tostring(L, -1));
		abort();
	}
	return L;
}

static inline vg_pattern_oracle *vg_pattern_oracle_new(int max_polls)
{
	vg_pattern_oracle *o = calloc(1, sizeof(*o));
	if (!o)
		abort();
	o->mine = vg__pattern_state(true);
	o->theirs = vg__pattern_state(false);
	o->max_polls = max_polls;
	return o;
}

static inline void vg_pattern_oracle_free(vg_pattern_oracle *o)
{
	lua_close(o->mine);
	lua_close(o->theirs);
	free(o);
}

/* Runs c in L into out; false when the harness itself failed (the step cap: its
 * error escapes the harness's pcall only as a message, checked by the caller). */
static void vg__pattern_call(lua_State *L, const vg_pattern_case *c, char *out, size_t cap)
{
	lua_getglobal(L, "run");
	lua_pushstring(L, c->op);
	lua_pushlstring(L, c->s, c->slen);
	lua_pushlstring(L, c->p, c->plen);
	lua_pushstring(L, c->a3);
	lua_pushstring(L, c->a4);
	if (lua_pcall(L, 5, 1, 0) != 0) {
		snprintf(out, cap, "harness: %s", lua_tostring(L, -1));
	} else {
		size_t n;
		const char *r = lua_tolstring(L, -1, &n);
		n = n < cap - 1 ? n : cap - 1;
		memcpy(out, r, n);
		out[n] = '\0';
	}
	lua_settop(L, 0);
}

/* 0 when both ran (compare mine and theirs), VG_PATTERN_CAPPED when ours hit the cap
 * (theirs was not run). */
static inline int vg_pattern_oracle_run(vg_pattern_oracle *o, const vg_pattern_case *c, char *mine,
				 char *theirs, size_t cap)
{
	vg__pattern_current = o;
	o->polls = 0;
	vg__pattern_call(o->mine, c, mine, cap);
	if (o->polls > o->max_polls)
		return VG_PATTERN_CAPPED;
	vg__pattern_call(o->theirs, c, theirs, cap);
	return 0;
}

#endif
