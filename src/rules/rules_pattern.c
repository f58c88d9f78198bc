/* SPDX-License-Identifier: Apache-2.0
 *
 * string.find, string.match, string.gmatch and string.gsub for rules: Lua 5.1's
 * patterns as LuaJIT 2.1 runs them, result for result and error for error, with one
 * addition: every POLL_STEPS steps of matching they call the sandbox's poll function,
 * which raises when the rule's budget is used up.
 *
 * Why not LuaJIT's own: a pattern backtracks, and a call of LuaJIT's is C code that the
 * budget's hook (rules_watchdog.c) cannot enter. The trim idiom s:match("^%s*(.-)%s*$")
 * took 17 s on 60,000 spaces between two letters, and with three `.-` the time grows as
 * the cube of the length. Whoever sends events chooses the fields, so one event could hold a worker, and
 * every event queued behind it, for as long as the sender liked.
 *
 * A step is one attempt of a pattern item at a subject position, or one byte scanned, so
 * the steps bound the work whatever the pattern. tests/unit/rules/test_pattern.c and
 * fuzz-pattern run these and LuaJIT's on the same arguments and compare every value and
 * every error message; the stop is the one intended difference.
 *
 * Lazy errors, as in LuaJIT: a malformed part of a pattern is reported only when matching
 * reaches it, so string.find("b", "a%") is nil, not an error.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

#define MAX_CAPTURES 32 /* LUA_MAXCAPTURES */
#define MAX_DEPTH 200   /* LuaJIT's LJ_MAX_XLEVEL: past it, "pattern too complex" */
#define POLL_STEPS 4096
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)
#define ESC '%'
#define SPECIALS "^$*+?.([%-"

typedef struct pm { /* one match in progress */
	lua_State *L;
	const char *s0, *end; /* the subject; *end is its terminating NUL */
	int level;            /* captures begun */
	int depth;            /* nested item calls */
	uint32_t steps;       /* left before the next poll */
	const vg__pattern_poll *poll;
	struct {
		const char *at;
		ptrdiff_t len; /* or CAP_OPEN, CAP_POSITION */
	} cap[MAX_CAPTURES];
} pm;

static inline void step(pm *m, uint32_t n)
{
	if (m->steps > n) {
		m->steps -= n;
		return;
	}
	m->steps = POLL_STEPS;
	m->poll->fn(m->L);
}

/* ---- single characters ---------------------------------------------------------------
 * The classes are ASCII's, whatever the locale, as LuaJIT's are. */
static bool in_class(int c, int cl)
{
	bool alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z', digit = c >= '0' && c <= '9', r;
	switch (cl | 0x20) { /* only a letter is a letter with the 0x20 bit set */
	case 'a': r = alpha; break;
	case 'c': r = c < 32 || c == 127; break;
	case 'd': r = digit; break;
	case 'g': r = c > 32 && c < 127; break;
	case 'l': r = c >= 'a' && c <= 'z'; break;
	case 'p': r = c > 32 && c < 127 && !alpha && !digit; break;
	case 's': r = c == ' ' || (c >= '\t' && c <= '\r'); break;
	case 'u': r = c >= 'A' && c <= 'Z'; break;
	case 'w': r = alpha || digit; break;
	case 'x': r = digit || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); break;
	case 'z': r = c == 0; break;
	default: return cl == c; /* %. %% %( ...: the character itself */
	}
	return cl >= 'a' ? r : !r; /* %A is the complement of %a */
}

/* Whether c is in the set [...] from p (its '[') to close (its ']'). */
static bool in_set(int c, const char *p, const char *close)
{
	bool in = true;
	if (p[1] == '^') {
		in = false;
		p++;
	}
	while (++p < close) {
		if (*p == ESC) {
			p++;
			if (in_class(c, (unsigned char)*p))
				return in;
		} else if (p[1] == '-' && p + 2 < close) {
			p += 2;
			if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p)
				return in;
		} else if ((unsigned char)*p == c) {
			return in;
		}
	}
	return !in;
}

/* The end of the single-character item at p: past a %x, a [set] or one character. */
static const char *item_end(pm *m, const char *p)
{
	char c = *p++;
	if (c == ESC) {
		if (*p == '\0')
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 1;
	}
	if (c == '[') {
		if (*p == '^')
			p++;
		do { /* the first character is never the closing one: "[]]" is a set of ']' */
			if (*p == '\0')
				luaL_error(m->L, "malformed pattern (missing ']')");
			if (*p++ == ESC && *p != '\0')
				p++;
		} while (*p != ']');
		return p + 1;
	}
	return p;
}

static bool item_has(int c, const char *p, const char *ep)
{
	switch (*p) {
	case '.': return true;
	case ESC: return in_class(c, (unsigned char)p[1]);
	case '[': return in_set(c, p, ep - 1);
	default: return (unsigned char)*p == c;
	}
}

/* Whether the subject at s has the item p..ep. */
static inline bool at_item(const pm *m, const char *s, const char *p, const char *ep)
{
	return s < m->end && item_has((unsigned char)*s, p, ep);
}

/* ---- matching ------------------------------------------------------------------------------ */
static const char *match(pm *m, const char *s, const char *p);

/* item* : as many as there are, then fewer until the rest matches. */
static const char *longest(pm *m, const char *s, const char *p, const char *ep)
{
	ptrdiff_t n = 0;
	while (at_item(m, s + n, p, ep)) {
		n++;
		step(m, 1);
	}
	for (; n >= 0; n--) {
		const char *r = match(m, s + n, ep + 1);
		if (r)
			return r;
	}
	return NULL;
}

/* item- : as few as will do. */
static const char *shortest(pm *m, const char *s, const char *p, const char *ep)
{
	for (;;) {
		const char *r = match(m, s, ep + 1);
		if (r)
			return r;
		if (!at_item(m, s, p, ep))
			return NULL;
		s++;
	}
}

static const char *open_capture(pm *m, const char *s, const char *p, ptrdiff_t what)
{
	if (m->level >= MAX_CAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->level].at = s;
	m->cap[m->level].len = what;
	m->level++;
	const char *r = match(m, s, p);
	if (!r)
		m->level--;
	return r;
}

static const char *close_capture(pm *m, const char *s, const char *p)
{
	int l = m->level - 1;
	while (l >= 0 && m->cap[l].len != CAP_OPEN)
		l--;
	if (l < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[l].len = s - m->cap[l].at;
	const char *r = match(m, s, p);
	if (!r)
		m->cap[l].len = CAP_OPEN;
	return r;
}

/* %b xy: from an x to its balancing y. */
static const char *balanced(pm *m, const char *s, const char *p)
{
	if (p[0] == '\0' || p[1] == '\0')
		luaL_error(m->L, "unbalanced pattern");
	if (s >= m->end || *s != p[0])
		return NULL;
	int open = 1;
	while (++s < m->end) {
		step(m, 1);
		if (*s == p[1]) {
			if (--open == 0)
				return s + 1;
		} else if (*s == p[0]) {
			open++;
		}
	}
	return NULL;
}

/* %1..%9: the text of an earlier capture again. */
static const char *same_as(pm *m, const char *s, int digit)
{
	int l = digit - '1';
	if (l < 0 || l >= m->level || m->cap[l].len == CAP_OPEN)
		luaL_error(m->L, "invalid capture index");
	size_t len = (size_t)m->cap[l].len; /* a position capture's is huge: never fits */
	step(m, (uint32_t)((m->end - s) >> 6));
	if ((size_t)(m->end - s) >= len && memcmp(m->cap[l].at, s, len) == 0)
		return s + len;
	return NULL;
}

/* The end of the match of pattern p at s, or NULL. Items that leave nothing to try
 * later loop here rather than recurse, so the depth is the pattern's, not the subject's. */
static const char *match(pm *m, const char *s, const char *p)
{
	if (++m->depth > MAX_DEPTH)
		luaL_error(m->L, "pattern too complex");
	for (;;) {
		step(m, 1);
		if (*p == '\0')
			break;
		if (*p == '(') {
			s = p[1] == ')' ? open_capture(m, s, p + 2, CAP_POSITION)
					: open_capture(m, s, p + 1, CAP_OPEN);
			break;
		}
		if (*p == ')') {
			s = close_capture(m, s, p + 1);
			break;
		}
		if (*p == '$' && p[1] == '\0') {
			if (s != m->end)
				s = NULL;
			break;
		}
		if (*p == ESC && p[1] == 'b') {
			s = balanced(m, s, p + 2);
			if (!s)
				break;
			p += 4;
			continue;
		}
		if (*p == ESC && p[1] == 'f') { /* frontier: not in the set before s, in it at s */
			p += 2;
			if (*p != '[')
				luaL_error(m->L, "missing '[' after '%%f' in pattern");
			const char *ep = item_end(m, p);
			int before = s == m->s0 ? 0 : (unsigned char)s[-1];
			int here = s < m->end ? (unsigned char)*s : 0;
			if (in_set(before, p, ep - 1) || !in_set(here, p, ep - 1)) {
				s = NULL;
				break;
			}
			p = ep;
			continue;
		}
		if (*p == ESC && p[1] >= '0' && p[1] <= '9') {
			s = same_as(m, s, (unsigned char)p[1]);
			if (!s)
				break;
			p += 2;
			continue;
		}
		const char *ep = item_end(m, p);
		bool here = at_item(m, s, p, ep);
		if (*ep == '?') {
			const char *r;
			if (here && (r = match(m, s + 1, ep + 1))) {
				s = r;
				break;
			}
			p = ep + 1;
			continue;
		}
		if (*ep == '*') {
			s = longest(m, s, p, ep);
			break;
		}
		if (*ep == '+') {
			s = here ? longest(m, s + 1, p, ep) : NULL;
			break;
		}
		if (*ep == '-') {
			s = shortest(m, s, p, ep);
			break;
		}
		if (!here) {
			s = NULL;
			break;
		}
		s++;
		p = ep;
	}
	m->depth--;
	return s;
}

/* ---- results --------------------------------------------------------------------------- */
/* Pushes capture i of a match from s to e: the whole match when there are none. */
static void push_capture(pm *m, int i, const char *s, const char *e)
{
	if (i >= m->level) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index");
		lua_pushlstring(m->L, s, (size_t)(e - s));
		return;
	}
	ptrdiff_t len = m->cap[i].len;
	if (len == CAP_OPEN)
		luaL_error(m->L, "unfinished capture");
	if (len == CAP_POSITION)
		lua_pushinteger(m->L, m->cap[i].at - m->s0 + 1);
	else
		lua_pushlstring(m->L, m->cap[i].at, (size_t)len);
}

/* Pushes every capture, or with s the whole match when there are none. */
static int push_captures(pm *m, const char *s, const char *e)
{
	int n = m->level == 0 && s ? 1 : m->level;
	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

static void pm_init(pm *m, lua_State *L, const char *s, size_t len)
{
	m->L = L;
	m->s0 = s;
	m->end = s + len;
	m->steps = POLL_STEPS;
	m->poll = lua_touserdata(L, lua_upvalueindex(1));
}

static const char *match_at(pm *m, const char *s, const char *p)
{
	m->level = m->depth = 0;
	return match(m, s, p);
}

/* ---- the functions ----------------------------------------------------------------------- */
/* A number argument as LuaJIT's lj_lib_optint reads it: truncated to 32 bits, and what
 * does not fit (or NaN) as INT32_MIN, the x86 conversion's answer. */
static int32_t opt_int32(lua_State *L, int i, int32_t def)
{
	if (lua_isnoneornil(L, i))
		return def;
	lua_Number d = luaL_checknumber(L, i);
	if (!(d > -2147483649.0 && d < 2147483648.0))
		return INT32_MIN;
	return (int32_t)d;
}

static bool has_specials(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] && strchr(SPECIALS, p[i]))
			return true;
	return false;
}

static int find_or_match(lua_State *L, bool find)
{
	size_t len, plen;
	const char *s = luaL_checklstring(L, 1, &len);
	const char *p = luaL_checklstring(L, 2, &plen);
	int32_t start = opt_int32(L, 3, 1);
	start = start < 0 ? start + (int32_t)len : start - 1;
	size_t at = start < 0 ? 0 : (size_t)start > len ? len : (size_t)start;
	if (find && (lua_toboolean(L, 4) || !has_specials(p, plen))) {
		const char *q = plen == 0 ? s + at : memmem(s + at, len - at, p, plen);
		if (!q) {
			lua_pushnil(L);
			return 1;
		}
		lua_pushinteger(L, q - s + 1);
		lua_pushinteger(L, q - s + (ptrdiff_t)plen);
		return 2;
	}
	pm m;
	pm_init(&m, L, s, len);
	bool anchored = *p == '^';
	p += anchored;
	const char *from = s + at;
	do {
		const char *e = match_at(&m, from, p);
		if (e) {
			if (!find)
				return push_captures(&m, from, e);
			lua_pushinteger(L, from - s + 1);
			lua_pushinteger(L, e - s);
			return push_captures(&m, NULL, NULL) + 2;
		}
	} while (from++ < m.end && !anchored);
	lua_pushnil(L);
	return 1;
}

static int l_find(lua_State *L)
{
	return find_or_match(L, true);
}

static int l_match(lua_State *L)
{
	return find_or_match(L, false);
}

/* The iterator gmatch returns; upvalues: poll, subject, pattern, next position. A '^'
 * is an ordinary character here, as in LuaJIT. */
static int gmatch_next(lua_State *L)
{
	size_t len;
	const char *s = lua_tolstring(L, lua_upvalueindex(2), &len);
	const char *p = lua_tostring(L, lua_upvalueindex(3));
	pm m;
	pm_init(&m, L, s, len);
	for (const char *from = s + lua_tointeger(L, lua_upvalueindex(4)); from <= m.end;
	     from++) {
		const char *e = match_at(&m, from, p);
		if (e) {
			lua_pushinteger(L, e - s + (e == from)); /* an empty match moves on by one */
			lua_replace(L, lua_upvalueindex(4));
			return push_captures(&m, from, e);
		}
	}
	return 0;
}

static int l_gmatch(lua_State *L)
{
	luaL_checkstring(L, 1);
	luaL_checkstring(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushvalue(L, 2);
	lua_pushinteger(L, 0);
	lua_pushcclosure(L, gmatch_next, 4);
	return 1;
}

/* Appends the replacement string (argument 3) for a match from s to e: %0 the match,
 * %1..%9 its captures, % and any other character that character. */
static void add_template(pm *m, luaL_Buffer *b, const char *s, const char *e)
{
	size_t len;
	const char *r = lua_tolstring(m->L, 3, &len);
	for (size_t i = 0; i < len; i++) {
		if (r[i] != ESC) {
			luaL_addchar(b, r[i]);
			continue;
		}
		char c = r[++i]; /* a trailing % reads the string's NUL, and adds it */
		if (c == '0')
			luaL_addlstring(b, s, (size_t)(e - s));
		else if (c >= '1' && c <= '9') {
			push_capture(m, c - '1', s, e);
			luaL_addvalue(b);
		} else
			luaL_addchar(b, c);
	}
}

static void add_replacement(pm *m, luaL_Buffer *b, const char *s, const char *e)
{
	lua_State *L = m->L;
	int t = lua_type(L, 3);
	if (t == LUA_TNUMBER || t == LUA_TSTRING) {
		add_template(m, b, s, e);
		return;
	}
	if (t == LUA_TFUNCTION) {
		lua_pushvalue(L, 3);
		lua_call(L, push_captures(m, s, e), 1);
	} else {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	}
	if (!lua_toboolean(L, -1)) { /* nil or false: the match stays */
		lua_pop(L, 1);
		lua_pushlstring(L, s, (size_t)(e - s));
	} else if (!lua_isstring(L, -1)) {
		luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	}
	luaL_addvalue(b);
}

static int l_gsub(lua_State *L)
{
	size_t len;
	const char *src = luaL_checklstring(L, 1, &len);
	const char *p = luaL_checkstring(L, 2);
	int t = lua_type(L, 3);
	int max = (int)luaL_optinteger(L, 4, (lua_Integer)len + 1);
	if (t != LUA_TNUMBER && t != LUA_TSTRING && t != LUA_TFUNCTION && t != LUA_TTABLE)
		luaL_argerror(L, 3, "string/function/table expected");
	bool anchored = *p == '^';
	p += anchored;
	pm m;
	pm_init(&m, L, src, len);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	int n = 0;
	while (n < max) {
		const char *e = match_at(&m, src, p);
		if (e) {
			n++;
			add_replacement(&m, &b, src, e);
		}
		if (e && e > src)
			src = e;
		else if (src < m.end)
			luaL_addchar(&b, *src++);
		else
			break;
		if (anchored)
			break;
	}
	luaL_addlstring(&b, src, (size_t)(m.end - src));
	luaL_pushresult(&b);
	lua_pushinteger(L, n);
	return 2;
}

void vg__pattern_open(lua_State *L, int table, const vg__pattern_poll *poll)
{
	static const luaL_Reg fns[] = {
		{"find", l_find}, {"match", l_match}, {"gmatch", l_gmatch}, {"gsub", l_gsub},
	};
	table = table < 0 ? lua_gettop(L) + table + 1 : table;
	for (size_t i = 0; i < VG_ARRAY_LEN(fns); i++) {
		lua_pushlightuserdata(L, (void *)poll); /* read only */
		lua_pushcclosure(L, fns[i].func, 1);
		lua_setfield(L, table, fns[i].name);
	}
}
