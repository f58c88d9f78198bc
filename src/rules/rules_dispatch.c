/* SPDX-License-Identifier: Apache-2.0
 *
 * Which rules an event meets: a rule declared with `on` (rule(NAME, fn, {on = "login"}),
 * or a list of types) runs only for events of those types; the others run for every
 * event. Calling a rule costs the interpreter ~160 instructions before its first line
 * (callgrind, an empty rule), and a pack's rules are mostly about one type each, so
 * skipping them by type saves more than the test a rule would make itself.
 *
 * The runner (rules_lua.c) gets a table from each type some rule names to the list of
 * rules for it, and the list for every other type. A list is a pair {fns, idx}: the
 * rule functions in declaration order, and their indexes in the state's rule array
 * (1-based), which C reads to blame a rule or give it its verdict.
 *
 * Invariants: a list holds each rule at most once, in declaration order, and exactly
 * the rules that would not return at once on a type test of their own.
 */
#include <lauxlib.h>
#include <lua.h>

#include "internal.h"

#define ON_MAX 64       /* types one rule may name */
#define TYPE_MAX 128    /* bytes of one type */

static int absindex(lua_State *L, int i)
{
	return i > 0 || i <= LUA_REGISTRYINDEX ? i : lua_gettop(L) + i + 1;
}

/* The first index from 1 with no item in the table at t, which holds n items. */
static int first_hole(lua_State *L, int t, size_t n)
{
	t = absindex(L, t);
	int i = 1;
	for (; (size_t)i <= n; i++) {
		lua_rawgeti(L, t, i);
		bool none = lua_isnil(L, -1);
		lua_pop(L, 1);
		if (none)
			break;
	}
	return i;
}

void vg__rules_on_parse(lua_State *L, int opts)
{
	lua_getfield(L, opts, "on");
	int t = lua_type(L, -1);
	if (t == LUA_TNIL)
		return;
	lua_createtable(L, 1, 0);
	size_t n = 1;
	if (t == LUA_TTABLE) {
		/* Every key, not the length: a nil in the list (a misspelt constant, as in
		 * {"upload", TYPES.signup, "login"}) or a set-style entry ({login = true})
		 * would silently narrow the rule to the types before it. Only a trailing nil
		 * leaves no trace to find. */
		size_t keys = 0;
		lua_Number top = 0;
		lua_pushnil(L);
		while (lua_next(L, -3) != 0) {
			lua_Number k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
			lua_pop(L, 1);
			if (!(k >= 1 && k <= 1e9 && k == (lua_Number)(long)k))
				luaL_error(L, "a rule's `on` is a list of event types, with no "
					      "other keys");
			keys++;
			top = k > top ? k : top;
		}
		n = keys;
		if (n == 0 || n > ON_MAX)
			luaL_error(L, "a rule's `on` lists 1 to %d event types", ON_MAX);
		if ((lua_Number)n != top)
			luaL_error(L, "a rule's `on` has a nil at item %d (a misspelt name?)",
				   first_hole(L, -2, n));
	} else if (t != LUA_TSTRING) {
		luaL_error(L, "a rule's `on` is an event type or a list of them, not %s",
			   lua_typename(L, t));
	}
	for (size_t i = 1; i <= n; i++) {
		if (t == LUA_TTABLE)
			lua_rawgeti(L, -2, (int)i);
		else
			lua_pushvalue(L, -2);
		size_t len;
		if (lua_type(L, -1) != LUA_TSTRING || (lua_tolstring(L, -1, &len), len == 0) ||
		    len > TYPE_MAX)
			luaL_error(L, "a rule's `on` names event types: strings of 1 to %d bytes",
				   TYPE_MAX);
		lua_rawseti(L, -2, (int)i);
	}
	lua_remove(L, -2);
}

/* Appends rule i (function at stack index fn) to the list pair at stack index pair,
 * unless it is its last rule already (a type named twice). */
static void append(lua_State *L, int pair, int fn, int i)
{
	lua_rawgeti(L, pair, 2);
	int n = (int)lua_objlen(L, -1);
	lua_rawgeti(L, -1, n);
	bool again = lua_tointeger(L, -1) == i;
	lua_pop(L, 1);
	if (!again) {
		lua_pushinteger(L, i);
		lua_rawseti(L, -2, n + 1);
		lua_rawgeti(L, pair, 1);
		lua_pushvalue(L, fn);
		lua_rawseti(L, -2, n + 1);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void new_pair(lua_State *L)
{
	lua_createtable(L, 2, 0);
	lua_newtable(L);
	lua_rawseti(L, -2, 1);
	lua_newtable(L);
	lua_rawseti(L, -2, 2);
}

void vg__rules_dispatch_build(lua_State *L, int rules, int on, int n)
{
	rules = absindex(L, rules);
	on = absindex(L, on);
	lua_newtable(L); /* type -> pair */
	int lists = lua_gettop(L);
	new_pair(L);
	int all = lua_gettop(L);
	/* Every type named gets its pair first, so a rule for all types, wherever it is
	 * declared, joins every list. */
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, on, i);
		for (int k = 1; lua_istable(L, -1) && k <= (int)lua_objlen(L, -1); k++) {
			lua_rawgeti(L, -1, k);
			lua_pushvalue(L, -1);
			lua_rawget(L, lists);
			if (lua_isnil(L, -1)) {
				lua_pop(L, 1);
				new_pair(L);
				lua_rawset(L, lists);
			} else {
				lua_pop(L, 2);
			}
		}
		lua_pop(L, 1);
	}
	for (int i = 1; i <= n; i++) {
		lua_rawgeti(L, rules, i);
		int fn = lua_gettop(L);
		lua_rawgeti(L, on, i);
		if (lua_istable(L, -1)) {
			for (int k = 1; k <= (int)lua_objlen(L, -1); k++) {
				lua_rawgeti(L, -1, k);
				lua_rawget(L, lists);
				append(L, lua_gettop(L), fn, i);
				lua_pop(L, 1);
			}
		} else {
			append(L, all, fn, i);
			lua_pushnil(L);
			while (lua_next(L, lists)) {
				append(L, lua_gettop(L), fn, i);
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 2);
	}
}
