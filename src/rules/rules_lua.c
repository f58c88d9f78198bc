/* SPDX-License-Identifier: Apache-2.0
 *
 * One sandboxed LuaJIT state with its rules: how a rules folder becomes functions, how a
 * decoded event becomes the table `e` they read, and the functions a rule may call
 * (count, counted, sum, summed, distinct, label, has_label, match, verdict). The engine
 * runs one of these per worker thread; `vigil rules test` runs one alone.
 *
 * Invariants (the sandbox, tested in tests/unit/rules/test_sandbox.c):
 * - Only base (without dofile, loadfile, loadstring, getfenv, setfenv, collectgarbage,
 *   newproxy, print), string (without dump), table, math and bit are opened: no io, os,
 *   package/require, debug, ffi or jit. `load` accepts only source text ("t" mode) and
 *   runs it in the environment of the file that calls it.
 * - Each rules file has globals of its own (push_file_env): nothing one file does to its
 *   globals or libraries reaches another file's rules.
 * - Every event's rules are bounded: the watchdog (rules_watchdog.c) stops the rule
 *   running when the event's rules have used their budget of CPU time (and the stop
 *   raises at every instruction after that, so a pcall inside the rule cannot swallow
 *   it); the rules after it start a fresh budget. xpcall is pcall's: LuaJIT runs a
 *   message handler inside the hook that raised the stop, where no hook fires, so a
 *   handler that loops was never stopped; here it runs after the call has unwound, under
 *   the budget, and not at all for a stop. The JIT is never opened: compiled code would
 *   not see the stop.
 * - Memory: past STATE_MEMORY_SOFT the hook collects at the rule's next instruction, and
 *   raises "memory cap reached" there if the state still holds more than that (a rule
 *   may catch it, once, to let go); allocations are refused only past STATE_MEMORY_MAX.
 *   (Refusing at the cap made LuaJIT unwind out of memory, which could crash it.) Memory
 *   a rules file keeps in its globals counts for every rule of the state.
 * - A rule that fails leaves its verdicts unsent and the other rules still run.
 * - The vm pointer that C functions receive as an upvalue carries a magic number that is
 *   checked on every call.
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "util/util.h"

#define VM_MAGIC 0x7669676c72756c65ull /* "viglrule" */
#define DEFAULT_BUDGET_MS 50
#define STATE_MEMORY_SOFT ((size_t)512 << 20) /* the cap rules see */
#define STATE_MEMORY_MAX (STATE_MEMORY_SOFT + ((size_t)64 << 20)) /* refused past this */
#define MAX_VERDICTS_PER_RULE 8
#define KEY_MAX 1024 /* bytes of a counter, distinct or label key */
#define MISSING_BANKS_LOGGED 16 /* names; a rule pack naming more has other troubles */
#define TS_AHEAD_MAX ((vg_usec)5 * 60 * 1000000) /* see believable */
#define TS_SLACK ((vg_usec)1000000)              /* see believable */

typedef struct rule {
	char name[VG_RULES_NAME_MAX + 1];
	bool shadow;
	uint64_t errors, budget_stops; /* this rule's share of the state's counts */
} rule;

typedef struct pending {
	uint32_t rule; /* index in rules */
	vg_action action;
	char reason[VG_RULES_REASON_MAX + 1];
} pending;

struct vg__rules_vm {
	uint64_t magic;
	lua_State *L;
	size_t mem_used;
	vg__rules_vm_opts o;
	rule *rules;
	size_t n_rules, cap_rules;
	bool loading;
	bool watched;
	int rules_ref; /* Lua array of the rule functions, in definition order */
	int on_ref;    /* Lua array: rule i's event types (its `on`), nil for every type */
	/* {the position of the rule running in the event's list, 1-based (0: none, -1:
	 * making the event's table); the event's table; its list (rules_dispatch.c)} */
	int cur_ref;
	int run_ref;   /* runner_src's function: the rules from one index on */
	int rawset_ref; /* Lua's own rawset, for the runner (rules get one that refuses events) */
	vg__events *events;
	vg__url_memo *urls;
	vg__watch watch;
	/* The run in progress. */
	const vg_json_doc *doc;
	const vg__event_head *head;
	long type_node; /* its "type" string's node, or -1 */
	uint64_t seq, serial; /* the caller's number; runs (events, files) so far */
	vg_usec now;
	pending *verdicts; /* MAX_VERDICTS_PER_RULE per rule */
	size_t n_verdicts;
	bool stopped; /* the budget ran out: every instruction raises until the run ends */
	bool mem_stop;    /* past STATE_MEMORY_SOFT: the hook collects, then maybe fails it */
	bool mem_failed;  /* the hook failed a rule on the cap during this run */
	vg_usec gc_after; /* monotonic: no collection by the cap before then */
	vg_counters *counters;
	vg_sums *sums;
	vg_distinct *distinct;
	vg_labels *labels;
	vg__label_write *writes;
	size_t n_writes, cap_writes;
	vg_rules_stats stats;
	uint64_t error_logs; /* how many rule errors were logged, for the rate limit */
	/* Bank names match() was given that are not in the banks, each logged once. */
	char missing_banks[MISSING_BANKS_LOGGED][64];
	int n_missing_banks;
	/* The allocator's small blocks (vm_alloc). */
	struct free_block *free_lists[256 / 16];
	struct lchunk *chunks;
	char *carve; /* the unused tail of the newest chunk */
	size_t carve_left;
};

static const char *const action_names[VG_ACTION_COUNT] = {
	"allow", "block", "challenge", "review", "report",
};

const char *vg_action_name(vg_action a)
{
	return (unsigned)a < VG_ACTION_COUNT ? action_names[a] : "?";
}

int vg_action_parse(const char *name)
{
	for (int i = 0; i < VG_ACTION_COUNT; i++)
		if (strcmp(name, action_names[i]) == 0)
			return i;
	return -1;
}

/* ---- the state: memory cap, small-block free lists, budget hook -----------------------
 * Building the event table and the strings a rule makes (key .. ip) allocates and frees
 * many small blocks per event. Blocks up to SMALL_MAX bytes come from per-size-class free
 * lists carved out of CHUNK_BYTES chunks, so the hot path does not reach malloc. Chunks
 * are returned when the state closes. The cap counts what Lua asked for, as before. */
#define SMALL_STEP 16
#define SMALL_MAX 256
#define SMALL_CLASSES (SMALL_MAX / SMALL_STEP)
#define CHUNK_BYTES ((size_t)64 << 10)
_Static_assert(SMALL_CLASSES == 256 / 16, "free_lists in vg__rules_vm has one list per class");

typedef struct free_block {
	struct free_block *next;
} free_block;

typedef struct lchunk {
	struct lchunk *next;
	max_align_t data[];
} lchunk;

static size_t size_class(size_t n)
{
	return (n + SMALL_STEP - 1) / SMALL_STEP - 1; /* n in 1..SMALL_MAX */
}

static void *small_get(vg__rules_vm *vm, size_t cls)
{
	free_block *b = vm->free_lists[cls];
	if (b) {
		vm->free_lists[cls] = b->next;
		return b;
	}
	size_t sz = (cls + 1) * SMALL_STEP;
	if (vm->carve_left < sz) {
		lchunk *c = malloc(sizeof(lchunk) + CHUNK_BYTES);
		if (!c)
			return NULL;
		c->next = vm->chunks;
		vm->chunks = c;
		vm->carve = (char *)c->data;
		vm->carve_left = CHUNK_BYTES;
	}
	void *p = vm->carve;
	vm->carve += sz;
	vm->carve_left -= sz;
	return p;
}

static void small_put(vg__rules_vm *vm, void *p, size_t cls)
{
	free_block *b = p;
	b->next = vm->free_lists[cls];
	vm->free_lists[cls] = b;
}

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	vg__rules_vm *vm = ud;
	if (!ptr)
		osize = 0; /* for a new block Lua passes a type tag, not a size */
	if (nsize == 0) {
		if (ptr) {
			if (osize <= SMALL_MAX)
				small_put(vm, ptr, size_class(osize));
			else
				free(ptr);
			vm->mem_used -= osize;
		}
		return NULL;
	}
	if (nsize > osize && vm->mem_used + (nsize - osize) > STATE_MEMORY_SOFT) {
		if (vm->mem_used + (nsize - osize) > STATE_MEMORY_MAX)
			return NULL; /* Lua raises "not enough memory" in the rule */
		if (!vm->mem_stop && vg__watch_stop_now(&vm->watch))
			vm->mem_stop = true;
	}
	void *p;
	if (ptr && osize <= SMALL_MAX && nsize <= SMALL_MAX &&
	    size_class(osize) == size_class(nsize)) {
		p = ptr;
	} else if (nsize <= SMALL_MAX) {
		p = small_get(vm, size_class(nsize));
		if (p && ptr) {
			memcpy(p, ptr, osize < nsize ? osize : nsize);
			if (osize <= SMALL_MAX)
				small_put(vm, ptr, size_class(osize));
			else
				free(ptr);
		}
	} else if (ptr && osize > SMALL_MAX) {
		p = realloc(ptr, nsize);
	} else {
		p = malloc(nsize);
		if (p && ptr) {
			memcpy(p, ptr, osize);
			small_put(vm, ptr, size_class(osize));
		}
	}
	if (p)
		vm->mem_used = vm->mem_used - osize + nsize;
	return p;
}

/* Whether the hook's instruction is a rule's own code, rather than the driver around
 * the rules ("=runner") or a C function's: where an allocation the rule made can fail in
 * a way the rule's own pcall sees. */
static bool in_rule_code(lua_State *L, lua_Debug *ar)
{
	return lua_getinfo(L, "S", ar) && ar->source && ar->source[0] == '@';
}

/* Set on the state by the watchdog when a run is over budget. Once it has raised, it
 * raises at every instruction (the hook count is 1) until the run's pcall returns. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
	void *ud;
	lua_getallocf(L, &ud); /* the allocator's ud is the vm */
	vg__rules_vm *vm = ud;
	if (!vm->stopped && !vg__watch_hook(&vm->watch))
		return;
	if (vm->mem_stop && !vm->stopped) {
		/* Past the soft cap, and now at a point where unwinding is safe. The next
		 * allocation past it asks again. */
		vm->mem_stop = false;
		vg__watch_cancel(&vm->watch); /* a budget stop comes again at the next look */
		if (!in_rule_code(L, ar))
			return; /* the plumbing's: a rule fails at its own next allocation */
		/* Much of it may be garbage: only what is still held after a full collection
		 * fails the rule, with an error it may catch, as LuaJIT's "not enough memory",
		 * to let go of what it holds. A collection of 512 MiB takes seconds, so while
		 * a rules file holds on to its memory they are spaced to take at most a tenth
		 * of the time. */
		vg_usec now = vg_time_mono();
		if (now >= vm->gc_after) {
			lua_gc(L, LUA_GCCOLLECT, 0);
			vg__watch_restart(&vm->watch); /* the collection is not the rule's time */
			vg_usec done = vg_time_mono();
			vm->gc_after = done + 9 * (done - now);
			if (vm->mem_used <= STATE_MEMORY_SOFT)
				return;
		}
		vm->mem_failed = true;
		luaL_error(L, "memory cap of %d MiB reached", (int)(STATE_MEMORY_SOFT >> 20));
	}
	vm->stopped = true;
	luaL_error(L, "budget of %d ms of CPU time exceeded", (int)vm->o.budget_ms);
}

/* After a run in which a rule failed on the cap, outside any budget: what the rule built
 * is garbage once its run has unwound, but the hook collected while the rule still held
 * it, and its spacing would have failed every other rule past the cap, with no
 * collection, for the next ~9 collection times (thousands of events). Collected now;
 * the spacing stays only when the memory is still held (a rules file's globals). */
static void collect_failed(vg__rules_vm *vm)
{
	vm->mem_failed = false;
	vg_usec now = vg_time_mono();
	lua_gc(vm->L, LUA_GCCOLLECT, 0);
	vg_usec done = vg_time_mono();
	vm->gc_after = vm->mem_used <= STATE_MEMORY_SOFT ? 0 : done + 9 * (done - now);
}

/* Runs the function (with nargs arguments) on the stack as run number position of the
 * state, under the budget. Returns lua_pcall's result; *ret_stopped says whether the
 * budget stopped it. */
static int run(vg__rules_vm *vm, int nargs, uint64_t position, bool *ret_stopped)
{
	vg__watch_begin(&vm->watch, position);
	int rc = lua_pcall(vm->L, nargs, 0, 0);
	vg__watch_end(&vm->watch);
	*ret_stopped = rc != 0 && vm->stopped;
	vm->stopped = false;
	vm->mem_stop = false; /* a crossing the run outlived: the next one asks again */
	if (vm->mem_failed)
		collect_failed(vm);
	return rc;
}

/* ---- argument helpers ------------------------------------------------------------------- */
/* The state's vm is its allocator's user data: reading it costs a few loads, an upvalue
 * read through the C API ten times that, and the functions rules call read it on every
 * call. */
static vg__rules_vm *self(lua_State *L)
{
	void *ud = NULL;
	lua_getallocf(L, &ud);
	vg__rules_vm *vm = ud;
	if (!vm || vm->magic != VM_MAGIC)
		luaL_error(L, "vigil: internal error (bad rules state)");
	return vm;
}

/* A string or number argument. A number becomes the text vg__rules_number_text gives
 * it, as the partition key's does: with Lua's own "%.14g", user ids 100000000000001 and
 * 100000000000002 were one text, so one user's counters and labels were the other's. */
__attribute__((noinline)) static void number_to_text(lua_State *L, int i)
{
	char num[32];
	lua_pushlstring(L, num, vg__rules_number_text(lua_tonumber(L, i), num));
	lua_replace(L, i);
}

static inline const char *arg_str(lua_State *L, int i, const char *what, size_t *len)
{
	if (lua_type(L, i) == LUA_TNUMBER)
		number_to_text(L, i);
	/* lua_tolstring answers NULL for every other type: one API call, not two. */
	const char *s = lua_tolstring(L, i, len);
	if (!s)
		luaL_error(L, "%s must be a string or a number, not %s", what, luaL_typename(L, i));
	return s;
}

static vg_usec arg_window(lua_State *L, int i, const char *what)
{
	vg_usec w = 0; /* luaL_error does not return, but the compiler cannot know */
	if (lua_type(L, i) == LUA_TNUMBER) {
		double s = lua_tonumber(L, i);
		if (!(s > 0 && s < 1e9))
			luaL_error(L, "%s must be a positive number of seconds or \"10s\", \"5m\", \"24h\"", what);
		return (vg_usec)(s * 1e6);
	}
	size_t n;
	const char *s = lua_tolstring(L, i, &n);
	if (!s || vg_rules_duration_parse(s, n, &w) != 0)
		luaL_error(L, "%s must be a duration such as \"10s\", \"5m\", \"24h\"", what);
	return w;
}

/* The rule (0-based) at position j of the running event's list; cur at stack index c. */
static int rule_at(lua_State *L, int c, int j)
{
	lua_rawgeti(L, c, 3);
	lua_rawgeti(L, -1, 2);
	lua_rawgeti(L, -1, j);
	int r = (int)lua_tointeger(L, -1) - 1;
	lua_pop(L, 3);
	return r;
}

/* ---- the functions rules call -------------------------------------------------------------- */
static int l_rule(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	if (!vm->loading)
		return luaL_error(L, "rule() may only be called when the rules file loads");
	size_t n;
	const char *name = luaL_checklstring(L, 1, &n);
	lua_settop(L, 3);
	/* rule(NAME, OPTIONS, fn) reads better with `on` than options after the body. */
	if (lua_istable(L, 2) && lua_isfunction(L, 3))
		lua_insert(L, 2);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	if (n == 0 || n > VG_RULES_NAME_MAX)
		return luaL_error(L, "a rule name has 1 to %d bytes", VG_RULES_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return luaL_error(L, "rule name '%s': use letters, digits, _ - and .", name);
	}
	for (size_t i = 0; i < vm->n_rules; i++)
		if (strcmp(vm->rules[i].name, name) == 0)
			return luaL_error(L, "rule '%s' is defined twice", name);
	bool shadow = false;
	if (!lua_isnil(L, 3)) {
		luaL_checktype(L, 3, LUA_TTABLE);
		/* A misspelt option (shaddow = true) would make a live rule, or one that runs
		 * on every type, of one its author meant to measure or to narrow. */
		for (lua_pushnil(L); lua_next(L, 3); lua_pop(L, 1)) {
			size_t kl = 0;
			const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &kl) : NULL;
			if (!k || !((kl == 2 && memcmp(k, "on", 2) == 0) ||
				    (kl == 6 && memcmp(k, "shadow", 6) == 0)))
				return luaL_error(L, "rule '%s': unknown option %s%s%s (the options are on and shadow)",
						  name, k ? "'" : "a ", k ? k : luaL_typename(L, -2), k ? "'" : " key");
		}
		lua_getfield(L, 3, "shadow");
		if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
			return luaL_error(L, "rule '%s': shadow is true or false, not %s", name,
					  luaL_typename(L, -1));
		shadow = lua_toboolean(L, -1);
		lua_pop(L, 1);
		vg__rules_on_parse(L, 3);
	}
	if (vm->n_rules == vm->cap_rules) {
		vm->cap_rules = vm->cap_rules ? vm->cap_rules * 2 : 16;
		rule *r = realloc(vm->rules, vm->cap_rules * sizeof(*r));
		if (!r)
			return luaL_error(L, "out of memory");
		vm->rules = r;
	}
	rule *r = &vm->rules[vm->n_rules++];
	memcpy(r->name, name, n + 1);
	r->shadow = shadow;
	r->errors = r->budget_stops = 0;
	if (lua_gettop(L) > 3) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, vm->on_ref);
		lua_pushvalue(L, 4);
		lua_rawseti(L, -2, (int)vm->n_rules);
	}
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->rules_ref);
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, (int)vm->n_rules);
	return 0;
}

/* The key of count or distinct: argument 1, or arguments 1 .. last joined with ':' in
 * buf (KEY_MAX + 1 bytes) exactly as `a .. ":" .. b` would join them. The parts form
 * makes no Lua string: a concatenation costs ~800 instructions with the garbage it
 * leaves, most of a count(). */
static const char *arg_key(lua_State *L, int last, const char *what, char *buf, size_t *len)
{
	const char *key = arg_str(L, 1, what, len);
	for (int i = 2; i <= last && *len <= KEY_MAX; i++) {
		size_t n;
		const char *part = arg_str(L, i, what, &n);
		if (key != buf) {
			memcpy(buf, key, *len);
			key = buf;
		}
		if (*len + 1 + n > KEY_MAX) {
			*len = KEY_MAX + 1;
			break;
		}
		buf[(*len)++] = ':';
		memcpy(buf + *len, part, n);
		*len += n;
	}
	if (*len > KEY_MAX)
		luaL_error(L, "%s is over %d bytes", what, KEY_MAX);
	return key;
}

/* The key (in parts or whole) and the window of count(), counted() and summed(), which all
 * take fn(key, window) or fn(part, part, ..., window). The names are literals, as errors
 * are rare and count() is the hottest call rules make. */
static const char *key_and_window(lua_State *L, const char *fn, const char *key_what,
				  const char *window_what, char buf[KEY_MAX + 1], size_t *ret_len,
				  vg_usec *ret_window)
{
	int top = lua_gettop(L);
	if (top < 2)
		luaL_error(L, "%s takes a key and a window: %s(key, window)", fn, fn);
	const char *key = arg_key(L, top - 1, key_what, buf, ret_len);
	*ret_window = arg_window(L, top, window_what);
	return key;
}

static int l_count(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	char buf[KEY_MAX + 1];
	size_t n;
	vg_usec w;
	const char *key =
		key_and_window(L, "count", "count's key", "count's window", buf, &n, &w);
	lua_pushnumber(L, (lua_Number)vg_counters_add(vm->counters, key, n, w, vm->now, 1));
	return 1;
}

/* counted() and summed(): count's and sum's answers without counting or adding anything,
 * and without making a key. */
static int l_counted(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	char buf[KEY_MAX + 1];
	size_t n;
	vg_usec w;
	const char *key =
		key_and_window(L, "counted", "counted's key", "counted's window", buf, &n, &w);
	lua_pushnumber(L, (lua_Number)vg_counters_get(vm->counters, key, n, w, vm->now));
	return 1;
}

static int l_summed(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	char buf[KEY_MAX + 1];
	size_t n;
	vg_usec w;
	const char *key =
		key_and_window(L, "summed", "summed's key", "summed's window", buf, &n, &w);
	lua_pushnumber(L, vg_sums_get(vm->sums, key, n, w, vm->now));
	return 1;
}

/* sum(key, amount, window) or sum(part, part, ..., amount, window). */
static int l_sum(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	char buf[KEY_MAX + 1];
	size_t n;
	int top = lua_gettop(L);
	if (top < 3)
		return luaL_error(L, "sum takes a key, an amount and a window: "
				  "sum(key, amount, window)");
	const char *key = arg_key(L, top - 2, "sum's key", buf, &n);
	if (lua_type(L, top - 1) != LUA_TNUMBER)
		return luaL_error(L, "sum's amount must be a number");
	double amount = lua_tonumber(L, top - 1);
	/* Not negative, so a total is never below the truth (a refund is not an undo). */
	if (!(amount >= 0 && amount <= 1e300))
		return luaL_error(L, "sum's amount must be a finite number of 0 or more");
	vg_usec w = arg_window(L, top, "sum's window");
	lua_pushnumber(L, vg_sums_add(vm->sums, key, n, w, vm->now, amount));
	return 1;
}

/* distinct(key, value, window) or distinct(part, part, ..., value, window). */
static int l_distinct(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	char buf[KEY_MAX + 1];
	size_t n, vn;
	int top = lua_gettop(L);
	if (top < 3)
		return luaL_error(L, "distinct takes a key, a value and a window: "
				  "distinct(key, value, window)");
	const char *key = arg_key(L, top - 2, "distinct's key", buf, &n);
	const char *val = arg_str(L, top - 1, "distinct's value", &vn);
	vg_usec w = arg_window(L, top, "distinct's window");
	lua_pushnumber(L, (lua_Number)vg_distinct_add(vm->distinct, key, n, val, vn, w, vm->now));
	return 1;
}

static void label_args(lua_State *L, const char **kind, const char **id, const char **name)
{
	size_t a, b, c;
	*kind = arg_str(L, 1, "a label's kind", &a);
	*id = arg_str(L, 2, "a label's id", &b);
	*name = arg_str(L, 3, "a label's name", &c);
	if (a + b + c + 2 > KEY_MAX)
		luaL_error(L, "a label's kind, id and name are over %d bytes together", KEY_MAX);
	if (strlen(*kind) != a || strlen(*id) != b || strlen(*name) != c)
		luaL_error(L, "a label may not hold a NUL byte");
}

static char *dup(const char *s)
{
	return vg_xstrdup(s);
}

/* Keeps w (taking its strings) for the next vg__rules_vm_take_labels. */
static void record_write(vg__rules_vm *vm, vg__label_write w)
{
	if (vm->n_writes == vm->cap_writes) {
		vm->cap_writes = vm->cap_writes ? vm->cap_writes * 2 : 64;
		vm->writes = realloc(vm->writes, vm->cap_writes * sizeof(*vm->writes));
		if (!vm->writes)
			abort();
	}
	vm->writes[vm->n_writes++] = w;
}

static int l_label(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	const char *kind, *id, *name;
	label_args(L, &kind, &id, &name);
	vg_usec exp = 0;
	if (!lua_isnoneornil(L, 4))
		exp = vm->now + arg_window(L, 4, "a label's ttl");
	vg_labels_set(vm->labels, kind, id, name, exp);
	if (vm->o.record_label_writes)
		record_write(vm, (vg__label_write){dup(kind), dup(id), dup(name), exp});
	if (vm->o.bus)
		vg__label_bus_post(vm->o.bus, vm->o.bus_index, kind, id, name, exp);
	return 0;
}

static int l_has_label(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	const char *kind, *id, *name;
	label_args(L, &kind, &id, &name);
	vg_usec exp;
	bool has = vg_labels_get(vm->labels, kind, id, name, &exp)
			   ? exp == 0 || exp > vm->now /* newer than the loaded table's */
			   : vm->o.shared_labels &&
				     vg_labels_has(vm->o.shared_labels, kind, id, name, vm->now);
	lua_pushboolean(L, has);
	return 1;
}

/* Logs, once per state, a bank name that is in no bank: match() on it is false, which
 * leaves a misspelt name's rule silent unless someone is told. */
static void note_missing_bank(vg__rules_vm *vm, const char *bank, size_t len)
{
	char name[sizeof(vm->missing_banks[0])];
	snprintf(name, sizeof(name), "%.*s", (int)len, bank);
	for (int i = 0; i < vm->n_missing_banks; i++)
		if (strcmp(vm->missing_banks[i], name) == 0)
			return;
	if (vm->n_missing_banks == MISSING_BANKS_LOGGED)
		return;
	memcpy(vm->missing_banks[vm->n_missing_banks++], name, sizeof(name));
	char quoted[sizeof(name) * 6 + 3];
	vg_json_quote(bank, len < sizeof(name) ? len : sizeof(name) - 1, quoted, sizeof(quoted));
	vg_log(VG_LOG_WARN, "rules.no_bank", "bank=%s worker=%d msg=\"match() on it is false: "
						    "no bank of that name is loaded\"", quoted, vm->o.worker);
}

static int l_match(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	size_t bank_len;
	const char *bank = luaL_checklstring(L, 1, &bank_len);
	size_t n;
	const char *v = lua_tolstring(L, 2, &n);
	if (!v) {
		/* match(bank, e.missing) is false, so rules need not test fields first. */
		if (lua_isnoneornil(L, 2)) {
			lua_pushboolean(L, 0);
			return 1;
		}
		arg_str(L, 2, "match's value", &n); /* raises */
	}
	int b = vm->o.banks ? vg__rules_banks_find(vm->o.banks, bank, bank_len) : -1;
	if (b < 0)
		note_missing_bank(vm, bank, bank_len);
	if (!vm->o.banks) {
		lua_pushboolean(L, 0);
		return 1;
	}
	/* NULL while a rules file loads: match() may run then too, with no event. */
	const vg__event_head *h = vm->head;
	/* Before the answers ahead: learning must see the calls they answer. */
	if (h)
		vg__events_note_match(vm->events, b, v, n);
	for (uint32_t k = 0; h && k < h->n_ahead; k++) {
		const vg_json_node *nd = &vm->doc->nodes[h->ahead[k].node];
		if (h->ahead[k].bank == b && nd->len == n && memcmp(nd->v.str, v, n) == 0) {
			lua_pushboolean(L, h->ahead[k].hit);
			return 1;
		}
	}
	lua_pushboolean(L, vg__rules_banks_match_at(vm->o.banks, b, v, n, vm->urls));
	return 1;
}

static int l_verdict(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	const char *a = luaL_checkstring(L, 1);
	int act = vg_action_parse(a);
	if (act < 0)
		return luaL_error(L, "unknown action '%s': use allow, block, challenge, review or report", a);
	size_t n = 0;
	const char *reason = lua_isnoneornil(L, 2) ? "" : arg_str(L, 2, "a verdict's reason", &n);
	lua_rawgeti(L, lua_upvalueindex(1), 1);
	int j = (int)lua_tointeger(L, -1);
	lua_pop(L, 1);
	if (j <= 0)
		return luaL_error(L, "verdict() may only be called while a rule runs");
	int r = rule_at(L, lua_upvalueindex(1), j);
	/* This rule's verdicts are the last ones pending: rules run one after another. */
	size_t mine = 0;
	while (mine < vm->n_verdicts && vm->verdicts[vm->n_verdicts - 1 - mine].rule == (uint32_t)r)
		mine++;
	if (mine >= MAX_VERDICTS_PER_RULE)
		return luaL_error(L, "more than %d verdicts from one rule for one event",
				  MAX_VERDICTS_PER_RULE);
	pending *p = &vm->verdicts[vm->n_verdicts++];
	p->rule = (uint32_t)r;
	p->action = (vg_action)act;
	if (n > VG_RULES_REASON_MAX)
		n = VG_RULES_REASON_MAX;
	memcpy(p->reason, reason, n);
	p->reason[n] = '\0';
	return 0;
}

/* The runner's begin(): the event's table, the list and count of the tables the last
 * event used, which the runner empties, and the event's type, which it then stores in
 * the table: a field every event has and nearly every rule reads, so reading it need
 * not go through load(). Making tables may raise (memory). */
static int l_begin(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	bool hot;
	int n = vg__events_begin(vm->events, vm->doc, vm->type_node, &hot);
	lua_pushinteger(L, n);
	lua_insert(L, -2);
	lua_pushboolean(L, hot);
	return 5;
}

/* The runner's prefill(), when begin() asks for it: after the tables are emptied. */
static int l_prefill(lua_State *L)
{
	vg__events_prefill(self(L)->events);
	return 0;
}

/* Runs the rules of the event's list from position `from` on, calling each directly: a
 * pcall per rule cost ~200 instructions, from C or from Lua alike (callgrind), ~2,000
 * per event for a pack of ten. From the first position it makes the event's table
 * (cur[1] is -1 meanwhile), stores its type in it, picks the list of rules for that
 * type (rules_dispatch.c) and keeps table and list in cur for later calls. When a rule
 * raises, the error unwinds this function too; vg__rules_vm_eval then blames the rule
 * at the position cur[1] names and calls again from the next one. Trusted code: rules
 * cannot reach it, the lists or cur. */
static const char runner_src[] =
	"local cur, lists, all, begin, clear, rawset, prefill = ...\n"
	"return function(from)\n"
	"	local e, l\n"
	"	if from == 1 then\n"
	"		cur[1] = -1\n"
	"		local used, m, type, hot\n"
	"		e, used, m, type, hot = begin()\n"
	"		for i = 1, m do clear(used[i]) end\n"
	"		l = all\n"
	"		if type then\n"
	"			rawset(e, 'type', type)\n"
	"			l = lists[type] or all\n"
	"		end\n"
	"		if hot then prefill() end\n"
	"		cur[2] = e\n"
	"		cur[3] = l\n"
	"	else\n"
	"		e = cur[2]\n"
	"		l = cur[3]\n"
	"	end\n"
	"	local fns = l[1]\n"
	"	for j = from, #fns do\n"
	"		cur[1] = j\n"
	"		fns[j](e)\n"
	"	end\n"
	"	cur[1] = 0\n"
	"end\n";

/* Builds the runner once the rules are loaded (it counts them then). */
static int make_runner(vg__rules_vm *vm, vg_error *err)
{
	lua_State *L = vm->L;
	if (luaL_loadbuffer(L, runner_src, sizeof(runner_src) - 1, "=runner") != 0)
		return vg_error_set(err, VG_EINTERNAL, "runner: %s", lua_tostring(L, -1));
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cur_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->rules_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->on_ref);
	vg__rules_dispatch_build(L, -2, -1, (int)vm->n_rules);
	lua_remove(L, -3);
	lua_remove(L, -3);
	lua_pushcfunction(L, l_begin);
	/* LuaJIT's table.clear, from the registry's preload table (no require here). */
	lua_getfield(L, LUA_REGISTRYINDEX, "_PRELOAD");
	lua_getfield(L, -1, "table.clear");
	lua_remove(L, -2);
	if (!lua_isfunction(L, -1))
		return vg_error_set(err, VG_EINTERNAL, "this LuaJIT has no table.clear");
	lua_call(L, 0, 1);
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->rawset_ref);
	lua_pushcfunction(L, l_prefill);
	if (lua_pcall(L, 7, 1, 0) != 0)
		return vg_error_set(err, VG_ENOMEM, "runner: %s", lua_tostring(L, -1));
	vm->run_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* cur[1] = i. */
static void set_cur(vg__rules_vm *vm, int i)
{
	lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->cur_ref);
	lua_pushinteger(vm->L, i);
	lua_rawseti(vm->L, -2, 1);
	lua_pop(vm->L, 1);
}

static int get_cur(vg__rules_vm *vm)
{
	lua_rawgeti(vm->L, LUA_REGISTRYINDEX, vm->cur_ref);
	lua_rawgeti(vm->L, -1, 1);
	int i = (int)lua_tointeger(vm->L, -1);
	lua_pop(vm->L, 2);
	return i;
}

/* The number of rules in the running event's list. */
static int list_len(vg__rules_vm *vm)
{
	lua_State *L = vm->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cur_ref);
	lua_rawgeti(L, -1, 3);
	lua_rawgeti(L, -1, 1);
	int n = (int)lua_objlen(L, -1);
	lua_pop(L, 3);
	return n;
}

/* load(text [, name]): source text only, in the environment of the file whose load it is
 * (its upvalue; see push_file_env). */
static int l_load(lua_State *L)
{
	size_t n;
	const char *src = luaL_checklstring(L, 1, &n);
	const char *name = luaL_optstring(L, 2, "=load");
	if (luaL_loadbufferx(L, src, n, name, "t") != 0) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_setfenv(L, -2);
	return 1;
}

/* Pushes the globals of one rules file: the sandbox's functions, its own copy of each
 * library table, _G as itself and a load() of its own. A global a file sets, or a library
 * function it replaces (count = 5, string.format = nil), then reaches no other file's
 * rules: names like count and label are also natural variable names, and one file's
 * forgotten `local` must not break every other file. The shared tables stay out of reach:
 * the sandbox's globals are no file's environment, and the strings' metatable, which
 * points at the real string library, is hidden (build_sandbox). */
static void push_file_env(lua_State *L)
{
	lua_newtable(L);
	int env = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, LUA_GLOBALSINDEX)) {
		if (lua_istable(L, -1) && lua_rawequal(L, -1, LUA_GLOBALSINDEX)) {
			lua_pop(L, 1);
			lua_pushvalue(L, env); /* _G */
		} else if (lua_istable(L, -1)) {
			lua_newtable(L);
			lua_pushnil(L);
			while (lua_next(L, -3)) {
				lua_pushvalue(L, -2);
				lua_insert(L, -2);
				lua_rawset(L, -4);
			}
			lua_remove(L, -2);
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, env);
	}
	lua_pushvalue(L, env);
	lua_pushcclosure(L, l_load, 1);
	lua_setfield(L, env, "load");
}

/* xpcall(f, handler, ...) as pcall and a call: LuaJIT would run the handler inside the
 * hook that raised a budget stop, where no hook fires, so a handler that loops would
 * never stop (see the invariants at the top). Here f's error unwinds first; a stop is
 * passed on without the handler, and any other error goes to the handler as a plain
 * call, under the budget. The handler sees the message, not f's stack, which nothing in
 * the sandbox could read anyway (no debug library). */
static int l_xpcall(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	int n = lua_gettop(L);
	if (n < 2)
		return luaL_error(L, "bad argument #2 to 'xpcall' (value expected)");
	lua_pushvalue(L, 1);
	for (int i = 3; i <= n; i++)
		lua_pushvalue(L, i);
	if (lua_pcall(L, n - 2, LUA_MULTRET, 0) == 0) {
		lua_pushboolean(L, 1);
		lua_insert(L, n + 1);
		return lua_gettop(L) - n;
	}
	if (vm->stopped)
		return lua_error(L);
	lua_pushvalue(L, 2);
	lua_insert(L, -2);
	int rc = lua_pcall(L, 1, 1, 0);
	if (rc != 0 && vm->stopped)
		return lua_error(L);
	lua_pushboolean(L, 0);
	lua_insert(L, -2);
	return 2;
}

/* The pattern functions' poll (rules_pattern.c): a budget stop raises here, inside a
 * long match that the hook cannot enter. A memory stop waiting for the hook gives way,
 * as the watchdog stops nothing while one is pending; the next allocation past the cap
 * asks again. */
static void pattern_poll(lua_State *L)
{
	vg__rules_vm *vm = self(L);
	if (vm->mem_stop) {
		vm->mem_stop = false;
		vg__watch_cancel(&vm->watch);
	}
	if (!vm->stopped && !vg__watch_due(&vm->watch))
		return;
	vm->stopped = true;
	luaL_error(L, "budget of %d ms of CPU time exceeded", (int)vm->o.budget_ms);
}

/* ---- building the sandbox ------------------------------------------------------------------ */
static void open_lib(lua_State *L, const char *name, lua_CFunction fn)
{
	lua_pushcfunction(L, fn);
	lua_pushstring(L, name);
	lua_call(L, 1, 0);
}

static void set_fn(lua_State *L, const char *name, lua_CFunction fn)
{
	lua_pushcfunction(L, fn);
	lua_setglobal(L, name);
}

static int build_sandbox(vg__rules_vm *vm, vg_error *err)
{
	lua_State *L = vm->L;
	open_lib(L, "", luaopen_base);
	open_lib(L, LUA_TABLIBNAME, luaopen_table);
	open_lib(L, LUA_STRLIBNAME, luaopen_string);
	open_lib(L, LUA_MATHLIBNAME, luaopen_math);
	open_lib(L, LUA_BITLIBNAME, luaopen_bit);
	static const char *const removed[] = {
		"dofile", "loadfile", "loadstring", "load", "getfenv", "setfenv",
		"collectgarbage", "newproxy", "print", "gcinfo", "module", "require",
	};
	for (size_t i = 0; i < VG_ARRAY_LEN(removed); i++) {
		lua_pushnil(L);
		lua_setglobal(L, removed[i]);
	}
	lua_getglobal(L, "string");
	lua_pushnil(L);
	lua_setfield(L, -2, "dump");
	static const vg__pattern_poll poll = {pattern_poll};
	vg__pattern_open(L, -1, &poll);
	lua_pop(L, 1);
	/* package.loaded would reach every library opened so far; it is not opened, but the
	 * registry's _LOADED table is reachable from nothing a rule can call. */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushliteral(L, "string");
	lua_setfield(L, -2, "__metatable"); /* getmetatable("") answers this */
	lua_pop(L, 2);
	set_fn(L, "xpcall", l_xpcall);
	set_fn(L, "rule", l_rule);
	set_fn(L, "count", l_count);
	set_fn(L, "sum", l_sum);
	set_fn(L, "counted", l_counted);
	set_fn(L, "summed", l_summed);
	set_fn(L, "distinct", l_distinct);
	set_fn(L, "label", l_label);
	set_fn(L, "has_label", l_has_label);
	set_fn(L, "match", l_match);
	lua_createtable(L, 3, 0);
	lua_pushinteger(L, 0);
	lua_rawseti(L, -2, 1);
	lua_pushvalue(L, -1);
	vm->cur_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcclosure(L, l_verdict, 1); /* the table naming the rule running */
	lua_setglobal(L, "verdict");
	lua_newtable(L);
	vm->rules_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L);
	vm->on_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getglobal(L, "rawset");
	vm->rawset_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	vm->events = vg__events_new(L);
	vg__events_set_learning(vm->events, vm->o.relearn_events, vm->o.on_plan, vm->o.plan_ctx);
	return 0;
}

static const char *lua_msg(lua_State *L)
{
	const char *m = lua_tostring(L, -1);
	return m ? m : "(an error that is not a string)";
}

int vg__rules_vm_new(const vg_ruleset *rs, const vg__rules_vm_opts *opts, vg__rules_vm **ret,
		     vg_error *err)
{
	vg__rules_vm *vm = vg_xcalloc(1, sizeof(*vm));
	vm->magic = VM_MAGIC;
	vm->o = *opts;
	if (!vm->o.budget_ms)
		vm->o.budget_ms = DEFAULT_BUDGET_MS;
	vm->urls = vg__url_memo_new();
	vm->counters = vg_counters_new(opts->max_counter_keys ? opts->max_counter_keys : 1 << 20);
	vm->sums = vg_sums_new(opts->max_counter_keys ? opts->max_counter_keys : 1 << 20);
	vm->distinct = vg_distinct_new(opts->max_distinct_keys ? opts->max_distinct_keys : 1 << 16);
	vm->labels = vg_labels_new(opts->max_labels ? opts->max_labels : 1 << 20);
	vm->L = lua_newstate(vm_alloc, vm);
	int rc = 0;
	if (!vm->L) {
		rc = vg_error_set(err, VG_ENOMEM, "cannot create a Lua state");
		goto out;
	}
	if ((rc = build_sandbox(vm, err)))
		goto out;
	vg__watch_add(&vm->watch, vm->L, budget_hook, vm->o.budget_ms);
	vm->watched = true;
	vm->loading = true;
	vm->now = vg_time_now();
	for (size_t i = 0; i < rs->n_files; i++) {
		const vg__rules_file *f = &rs->files[i];
		char chunkname[300];
		snprintf(chunkname, sizeof(chunkname), "@%s", f->name);
		bool stopped;
		int loaded = luaL_loadbufferx(vm->L, f->src, f->len, chunkname, "t");
		if (loaded == 0) {
			push_file_env(vm->L);
			lua_setfenv(vm->L, -2);
		}
		if (loaded != 0 || run(vm, 0, ++vm->serial << 16 | 1, &stopped) != 0) {
			/* A budget stop, or error(msg, 0), has no "file:line:" of its own. */
			const char *m = lua_msg(vm->L);
			size_t fl = strlen(f->name);
			bool named = strncmp(m, f->name, fl) == 0 && m[fl] == ':';
			rc = vg_error_set(err, VG_EINVAL, "%s%s%s", named ? "" : f->name,
					  named ? "" : ": ", m);
			lua_pop(vm->L, 1);
			goto out;
		}
	}
	vm->loading = false;
	if ((rc = make_runner(vm, err)))
		goto out;
	vm->verdicts = vg_xcalloc(vm->n_rules ? vm->n_rules : 1, MAX_VERDICTS_PER_RULE * sizeof(pending));
out:
	if (rc) {
		vg__rules_vm_free(vm);
		return rc;
	}
	*ret = vm;
	return 0;
}

void vg__label_write_free(vg__label_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(w[i].kind);
		free(w[i].id);
		free(w[i].name);
	}
	free(w);
}

void vg__rules_vm_free(vg__rules_vm *vm)
{
	if (!vm)
		return;
	if (vm->watched)
		vg__watch_remove(&vm->watch);
	if (vm->L)
		lua_close(vm->L);
	vg__events_free(vm->events);
	vg__url_memo_free(vm->urls);
	free(vm->verdicts);
	for (struct lchunk *c = vm->chunks, *nx; c; c = nx) {
		nx = c->next;
		free(c);
	}
	vg_counters_free(vm->counters);
	vg_sums_free(vm->sums);
	vg_distinct_free(vm->distinct);
	vg_labels_free(vm->labels);
	vg__label_write_free(vm->writes, vm->n_writes);
	free(vm->rules);
	vm->magic = 0;
	free(vm);
}

/* ---- evaluation --------------------------------------------------------------------------- */

/* A numeric "ts" in the units loggers write: its size tells which, since for times from
 * 1973 to the year 5138 the four ranges do not overlap. Seconds reach back to 1970-01-12. */
static const struct {
	double min, end;
	int64_t mul, div; /* microseconds = ts * mul / div */
} ts_units[] = {
	{1e6, 1e11, 1000000, 1}, /* seconds */
	{1e11, 1e14, 1000, 1},   /* milliseconds */
	{1e14, 1e17, 1, 1},      /* microseconds */
	{1e17, 1e20, 1, 1000},   /* nanoseconds */
};

/* An event's "ts" as microseconds since the epoch, or 0 when it is no time vigil can use:
 * a number (ts_units) or an RFC 3339 string in the same years as seconds. */
static vg_usec event_time(const vg_json_node *nd)
{
	vg_usec t;
	if (nd->type == VG_JSON_STRING)
		return vg_time_parse_rfc3339(nd->v.str, nd->len, &t) &&
		       t >= (vg_usec)(ts_units[0].min * 1e6) && t < (vg_usec)(ts_units[0].end * 1e6)
			       ? t
			       : 0;
	if (nd->type != VG_JSON_INT && nd->type != VG_JSON_REAL)
		return 0;
	double v = nd->type == VG_JSON_INT ? (double)nd->v.i : nd->v.d;
	for (size_t u = 0; u < VG_ARRAY_LEN(ts_units); u++)
		if (v >= ts_units[u].min && v < ts_units[u].end)
			return nd->type == VG_JSON_INT ? nd->v.i * ts_units[u].mul / ts_units[u].div
						       : (vg_usec)(v * (double)ts_units[u].mul /
								   (double)ts_units[u].div);
	return 0;
}

/* The time to use for an event's ts t: t itself up to TS_SLACK past the wall clock; the
 * clock's time up to TS_AHEAD_MAX past it; 0 (not believed) beyond. A time ahead of the
 * clock, from a client's broken clock or forged, would move its keys' counter rings into
 * the future, and the real events after it, behind the ring, would count for nothing
 * until the clock got there (one ts 290 s ahead switched off every 1-minute threshold of
 * its key); taken as the clock's time it counts where it belongs. TS_SLACK bounds what a
 * forged ts can shift a window by, and lets the clock be read only when t passes the
 * last reading by more than that: about once a second on a live stream, never on a
 * replay of past events. */
static vg_usec believable(vg_usec t)
{
	static _Thread_local vg_usec read_at; /* the last reading of the clock */
	if (t <= read_at + TS_SLACK)
		return t;
	read_at = vg_time_now();
	if (t <= read_at + TS_SLACK)
		return t;
	return t <= read_at + TS_AHEAD_MAX ? read_at : 0;
}

void vg__rules_event_head(const vg_json_doc *doc, vg_usec wall, vg__event_head *ret)
{
	long type = -1, ts = -1;
	size_t j = 1;
	/* Repeated keys: the last one counts, as everywhere else. */
	for (uint32_t k = 0; doc->n && k < doc->nodes[0].len; k++) {
		const vg_json_node *kn = &doc->nodes[j];
		if (kn->len == 4 && memcmp(kn->v.str, "type", 4) == 0)
			type = (long)j + 1;
		else if (kn->len == 2 && memcmp(kn->v.str, "ts", 2) == 0)
			ts = (long)j + 1;
		j = doc->nodes[j + 1].next;
	}
	ret->type = type >= 0 && doc->nodes[type].type == VG_JSON_STRING ? type : -1;
	ret->time = wall;
	ret->n_ahead = 0;
	vg_usec t = ts >= 0 ? event_time(&doc->nodes[ts]) : 0;
	if (t && (t = believable(t)))
		ret->time = t;
}

/* Counts and logs rule r's failure (at most 100 messages per state, so a broken rule
 * cannot flood the log; the counts keep counting). */
static void rule_failed(vg__rules_vm *vm, rule *ru, bool budget)
{
	lua_State *L = vm->L;
	if (budget) {
		vm->stats.budget_stops++;
		ru->budget_stops++;
	} else {
		vm->stats.rule_errors++;
		ru->errors++;
	}
	if (vm->o.on_error) {
		vm->o.on_error(ru->name, budget, lua_msg(L), vm->o.error_ctx);
	} else if (vm->error_logs++ < 100) {
		/* Quoted: the message may carry event data, which must not forge log lines. */
		char msg[256 * 6 + 3];
		const char *m = lua_msg(L);
		vg_json_quote(m, strnlen(m, 255), msg, sizeof(msg));
		vg_log(VG_LOG_WARN, budget ? "rules.budget" : "rules.error",
		       "rule=%s worker=%d seq=%llu msg=%s", ru->name, vm->o.worker,
		       (unsigned long long)vm->seq, msg);
	}
	lua_pop(L, 1);
}

static void deliver(vg__rules_vm *vm, const char *line, size_t len, vg_verdict_fn *fn,
		    void *ctx)
{
	for (size_t k = 0; k < vm->n_verdicts; k++) {
		const pending *p = &vm->verdicts[k];
		const rule *ru = &vm->rules[p->rule];
		if (ru->shadow)
			vm->stats.shadow_verdicts[p->action]++;
		else
			vm->stats.verdicts[p->action]++;
		if (fn) {
			vg_verdict v = {
				.rule = ru->name,
				.action = p->action,
				.shadow = ru->shadow,
				.reason = p->reason,
				.event = line,
				.event_len = len,
				.seq = vm->seq,
				.worker = vm->o.worker,
			};
			fn(&v, ctx);
		}
	}
}

void vg__rules_vm_eval(vg__rules_vm *vm, const vg_json_doc *doc, const vg__event_head *h,
		       const char *line, size_t len, uint64_t seq, vg_verdict_fn *fn, void *ctx)
{
	lua_State *L = vm->L;
	int base = lua_gettop(L);
	if (vm->o.bus)
		vg__label_bus_poll(vm->o.bus, vm->o.bus_index, vm->labels);
	vm->now = h->time;
	vm->seq = seq;
	vm->doc = doc;
	vm->head = h;
	vm->type_node = h->type;
	vm->n_verdicts = 0;
	vm->stats.events++;
	uint64_t serial = ++vm->serial;
	/* The rules from `from` on; after a failure, again from the rule after it. Each call
	 * is a new position for the watchdog, so the rules after a stopped one get a fresh
	 * budget. */
	int from = 1;
	for (;;) {
		lua_rawgeti(L, LUA_REGISTRYINDEX, vm->run_ref);
		lua_pushinteger(L, from);
		bool stopped;
		if (run(vm, 1, serial << 16 | ((uint64_t)from & 0xffff), &stopped) == 0)
			break;
		int k = get_cur(vm);
		if (k < 0) {
			/* Making the event's tables failed: only memory can. */
			vm->n_verdicts = 0;
			vm->stats.rule_errors++;
			if (vm->o.on_error) {
				vm->o.on_error(NULL, false, lua_msg(L), vm->o.error_ctx);
			} else if (vm->error_logs++ < 100) {
				char msg[256 * 6 + 3];
				vg_json_quote(lua_msg(L), strnlen(lua_msg(L), 255), msg, sizeof(msg));
				vg_log(VG_LOG_WARN, "rules.error", "worker=%d seq=%llu msg=%s",
				       vm->o.worker, (unsigned long long)seq, msg);
			}
			set_cur(vm, 0);
			break;
		}
		/* cur is below from when the stop came before the runner set it: the stop is
		 * then for the rule it was about to call. */
		k = k < from ? from : k;
		lua_rawgeti(L, LUA_REGISTRYINDEX, vm->cur_ref);
		int r = rule_at(L, lua_gettop(L), k);
		lua_pop(L, 1);
		/* A rule that fails sends none of its verdicts. */
		while (vm->n_verdicts && vm->verdicts[vm->n_verdicts - 1].rule == (uint32_t)r)
			vm->n_verdicts--;
		rule_failed(vm, &vm->rules[r], stopped);
		from = k + 1;
		if (from > list_len(vm)) {
			set_cur(vm, 0);
			break;
		}
	}
	lua_settop(L, base);
	vm->head = NULL;
	deliver(vm, line, len, fn, ctx);
}

vg_rules_stats *vg__rules_vm_stats(vg__rules_vm *vm)
{
	return &vm->stats;
}

const char *vg__rules_vm_rule_errors(const vg__rules_vm *vm, size_t i, uint64_t *ret_errors,
				     uint64_t *ret_budget_stops)
{
	if (i >= vm->n_rules)
		return NULL;
	*ret_errors = vm->rules[i].errors;
	*ret_budget_stops = vm->rules[i].budget_stops;
	return vm->rules[i].name;
}

vg__label_write *vg__rules_vm_take_labels(vg__rules_vm *vm, size_t *ret_n)
{
	vg__label_write *w = vm->writes;
	*ret_n = vm->n_writes;
	vm->writes = NULL;
	vm->n_writes = vm->cap_writes = 0;
	return w;
}

void vg__rules_vm_give_labels(vg__rules_vm *vm, vg__label_write *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		vg_labels_set(vm->labels, w[i].kind, w[i].id, w[i].name, w[i].expires_at);
		if (vm->o.record_label_writes) {
			record_write(vm, w[i]);
		} else {
			free(w[i].kind);
			free(w[i].id);
			free(w[i].name);
		}
	}
	free(w);
}

static bool same_label(const vg__label_write *w, const char *kind, const char *id,
		       const char *name)
{
	return strcmp(w->kind, kind) == 0 && strcmp(w->id, id) == 0 && strcmp(w->name, name) == 0;
}

void vg__rules_vm_put_label(vg__rules_vm *vm, const char *kind, const char *id, const char *name,
			    vg_usec expires_at)
{
	vg_labels_pin(vm->labels, kind, id, name, expires_at);
	size_t k = 0;
	for (size_t i = 0; i < vm->n_writes; i++) {
		if (same_label(&vm->writes[i], kind, id, name)) {
			free(vm->writes[i].kind);
			free(vm->writes[i].id);
			free(vm->writes[i].name);
		} else {
			vm->writes[k++] = vm->writes[i];
		}
	}
	vm->n_writes = k;
}

void vg__rules_vm_set_banks(vg__rules_vm *vm, const vg_rules_banks *banks)
{
	vm->o.banks = banks;
	vm->n_missing_banks = 0;
}

/* ---- rulesets ------------------------------------------------------------------------------ */
static int ruleset_finish(vg_ruleset *rs, vg_ruleset **ret, vg_error *err)
{
	/* Compile once now, so a broken folder is refused before any worker starts, and
	 * keep the rule names for listings. */
	vg__rules_vm_opts o = {.budget_ms = DEFAULT_BUDGET_MS, .max_counter_keys = 16,
			       .max_distinct_keys = 16, .max_labels = 16};
	vg__rules_vm *vm;
	int rc = vg__rules_vm_new(rs, &o, &vm, err);
	if (rc) {
		vg_ruleset_free(rs);
		return rc;
	}
	if (vm->n_rules == 0) {
		vg__rules_vm_free(vm);
		vg_ruleset_free(rs);
		return vg_error_set(err, VG_EINVAL, "no rule defined (call rule(NAME, function(e) ... end))");
	}
	rs->n_rules = vm->n_rules;
	rs->rule_names = vg_xcalloc(vm->n_rules, sizeof(char *));
	rs->shadow = vg_xcalloc(vm->n_rules, sizeof(bool));
	rs->on = vg_xcalloc(vm->n_rules, sizeof(char **));
	lua_State *L = vm->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, vm->on_ref);
	for (size_t i = 0; i < vm->n_rules; i++) {
		rs->rule_names[i] = vg_xstrdup(vm->rules[i].name);
		rs->shadow[i] = vm->rules[i].shadow;
		lua_rawgeti(L, -1, (int)i + 1);
		if (lua_istable(L, -1)) {
			size_t n = lua_objlen(L, -1);
			rs->on[i] = vg_xcalloc(n + 1, sizeof(char *));
			for (size_t k = 0; k < n; k++) {
				lua_rawgeti(L, -1, (int)k + 1);
				rs->on[i][k] = vg_xstrdup(lua_tostring(L, -1));
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	vg__rules_vm_free(vm);
	*ret = rs;
	return 0;
}

int vg_ruleset_load_string(const char *name, const char *src, size_t len, vg_ruleset **ret,
			   vg_error *err)
{
	vg_ruleset *rs = vg_xcalloc(1, sizeof(*rs));
	rs->files = vg_xcalloc(1, sizeof(*rs->files));
	rs->n_files = 1;
	rs->files[0].name = vg_xstrdup(name);
	rs->files[0].src = vg_xmalloc(len + 1);
	memcpy(rs->files[0].src, src, len);
	rs->files[0].src[len] = '\0';
	rs->files[0].len = len;
	return ruleset_finish(rs, ret, err);
}

void vg_ruleset_free(vg_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n_files; i++) {
		free(rs->files[i].name);
		free(rs->files[i].src);
	}
	free(rs->files);
	for (size_t i = 0; i < rs->n_rules; i++) {
		free(rs->rule_names[i]);
		for (size_t k = 0; rs->on && rs->on[i] && rs->on[i][k]; k++)
			free(rs->on[i][k]);
		free(rs->on ? rs->on[i] : NULL);
	}
	free(rs->rule_names);
	free(rs->shadow);
	free(rs->on);
	free(rs);
}

size_t vg_ruleset_count(const vg_ruleset *rs)
{
	return rs->n_rules;
}

const char *vg_ruleset_rule_name(const vg_ruleset *rs, size_t i, bool *ret_shadow)
{
	if (i >= rs->n_rules)
		return NULL;
	if (ret_shadow)
		*ret_shadow = rs->shadow[i];
	return rs->rule_names[i];
}

const char *vg_ruleset_rule_on(const vg_ruleset *rs, size_t i, size_t k)
{
	if (i >= rs->n_rules || !rs->on[i])
		return NULL;
	for (size_t j = 0; j < k; j++)
		if (!rs->on[i][j])
			return NULL;
	return rs->on[i][k];
}

/* Directory loading lives here too, so the file list and the compile check are one
 * step. */
#include <dirent.h>

#define RULE_FILE_MAX ((size_t)1 << 20)
#define RULE_FILES_MAX 1024

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vg_ruleset_load_dir(const char *dir, vg_ruleset **ret, vg_error *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return vg_error_set(err, VG_ENOENT, "cannot open rules folder %s", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".lua") != 0)
			continue;
		if (n == RULE_FILES_MAX) {
			rc = vg_error_set(err, VG_ETOOBIG, "over %d rules files in %s", RULE_FILES_MAX, dir);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = vg_xstrdup(de->d_name);
	}
	closedir(d);
	vg_ruleset *rs = vg_xcalloc(1, sizeof(*rs));
	if (rc)
		goto out;
	qsort(names, n, sizeof(*names), cmp_str);
	rs->files = vg_xcalloc(n ? n : 1, sizeof(*rs->files));
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		uint8_t *data;
		size_t len;
		if ((rc = vg_file_read(path, RULE_FILE_MAX, &data, &len, err)))
			goto out;
		vg__rules_file *f = &rs->files[rs->n_files++];
		f->name = vg_xstrdup(names[i]);
		f->src = vg_xmalloc(len + 1);
		memcpy(f->src, data, len);
		f->src[len] = '\0';
		f->len = len;
		free(data);
	}
	if (n == 0)
		rc = vg_error_set(err, VG_EINVAL, "no *.lua file in %s", dir);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc) {
		vg_ruleset_free(rs);
		return rc;
	}
	return ruleset_finish(rs, ret, err);
}
