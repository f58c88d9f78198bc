/* SPDX-License-Identifier: Apache-2.0
 *
 * Events as Lua tables, loaded on demand and reused. Building a fresh table of every
 * field per event cost more than everything else a rule pack does (a table and a string
 * per field: allocations now, garbage to sweep later), while most rules read two or
 * three fields and return. So:
 *
 * - The table a rule gets starts empty. Its metatable's __index, load(), finds a field
 *   it lacks in the decoded document and stores it in the table, so later reads are
 *   plain table hits. The next event begins by emptying (LuaJIT's table.clear, which
 *   keeps the allocation) every table the last one used.
 * - The fields rules read in most events of a type, and in most objects under a key,
 *   are stored in the table as it is handed out, without a load() each ("hot fields"
 *   below).
 * - Tables are kept from one event to the next: the top-level object always uses etab 0,
 *   and an object under a given key (e.user) always the same etab. Arrays, and what
 *   they hold, become plain fresh tables when read.
 * - Assigning a field the table lacks raises. Assigning one it holds (read, or loaded up
 *   front) calls no metamethod and is not refused: values behind an __index table would
 *   catch every assignment, but cost each read a metatable hop, 13 ns measured in the
 *   interpreter, 5-10% of the bench's rule pack. docs/rules.md says not to assign.
 *
 * Invariants:
 * - Reads give exactly the document's values (the last of repeated keys, null as nil).
 * - A table kept past its event raises when read (its etab belongs to another event, or
 *   it is no longer its etab's table) until the same etab serves a later event: then it
 *   shows that event. docs/rules.md tells rule authors to copy fields, not tables.
 * - Bounded whatever the input: ETABS_MAX etabs of SLOTS_MAX object-valued keys each.
 *   An object met when they are used up becomes a plain fresh table (correct, slower),
 *   and the next event starts the etabs over.
 * - rawset, rawget, next and pairs are replaced in the sandbox by versions that know
 *   event tables (rawset refuses them; the others load the fields first).
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define ETABS_MAX 64 /* reused object tables per state */
#define SLOTS_MAX 64 /* object-valued keys one etab remembers */
#define EVENT_MT_NAME "vigil event"

/* Hot fields (see "hot fields" below). */
#define LEARN_EVENTS 256     /* events of a type watched before its hot fields are chosen */
#define RELEARN_EVENTS (1u << 20) /* events of all types after which every type learns anew */
#define HOT_TYPES 32         /* types learnt at once; later ones go without */
#define HOT_TYPE_MAX 64      /* bytes of a type learnt */
#define HOT_CANDIDATES 16    /* fields counted per type */
#define HOT_MAX 8            /* fields loaded up front per type */
#define HOT_KEY_MAX 32       /* bytes of a field name counted */

/* An object-valued key of an etab and the etab its objects use. */
typedef struct slot {
	char *key;
	uint32_t len;
	int child;
} slot;

/* A field name and how many objects of its kind had it read. */
typedef struct hotfield {
	char key[HOT_KEY_MAX];
	uint32_t len;
	uint32_t reads;
	uint64_t serial; /* the last event that counted it: once per event */
	int ref;         /* once chosen: the name as a Lua string, in the registry */
} hotfield;

/* The fields load() is asked for in one kind of object: a type's events, or the objects
 * under one key (e.user). Once learnt, f[0 .. n) are those read in at least half. */
typedef struct hotfields {
	hotfield f[HOT_CANDIDATES];
	uint32_t n;
	uint32_t seen; /* objects begun while learning */
	bool learnt;
} hotfields;

typedef struct etab {
	struct vg__events *ev; /* its owner, for load() */
	int index;             /* in ev->tabs */
	bool used;
	int ref;           /* the table, in the registry */
	const void *table; /* its address (LuaJIT's tables do not move) */
	size_t node;       /* the object's node in the event of `serial` */
	uint64_t serial;
	uint64_t complete; /* the serial for which every field has been loaded */
	slot slots[SLOTS_MAX];
	uint32_t n_slots;
	hotfields hot; /* of the objects it serves (etab 0's are its types') */
} etab;

/* A bank that match() was asked about the value of a top-level field. */
typedef struct hotmatch {
	vg__match_plan plan;
	uint32_t hits; /* events in which it was */
	uint64_t serial;
} hotmatch;

typedef struct hottype {
	char type[HOT_TYPE_MAX];
	uint32_t len;
	int ref; /* the type as a Lua string, in the registry: begin() pushes it every event */
	hotfields fields; /* its top level's */
	hotmatch m[HOT_CANDIDATES];
	uint32_t nm;
} hottype;

struct vg__events {
	lua_State *L;
	const vg_json_doc *doc;
	hottype *hot;       /* the event's type, when it is learnt or learning */
	hottype types[HOT_TYPES];
	uint32_t n_types;
	vg__plan_fn *on_plan;
	void *plan_ctx;
	uint32_t begun;     /* events since the types were last forgotten */
	uint32_t relearn;   /* RELEARN_EVENTS, or what a test set */
	uint64_t serial;
	bool overflow;   /* etabs or slots ran out: start them over before the next event */
	int used_ref;    /* the tables this event used (the top-level one first), 1-based */
	int n_used;
	char marker;     /* its address is the key under which event metatables hold their etab */
	etab tabs[ETABS_MAX];
};

static void push_plain(vg__events *ev, size_t i);
static void push_field(vg__events *ev, int t, const char *key, size_t len, size_t i);
static void fields_forget(vg__events *ev, hotfields *hf);

/* ---- etabs ----------------------------------------------------------------------------- */
static void etab_free(vg__events *ev, int t)
{
	etab *et = &ev->tabs[t];
	for (uint32_t i = 0; i < et->n_slots; i++)
		free(et->slots[i].key);
	luaL_unref(ev->L, LUA_REGISTRYINDEX, et->ref);
	fields_forget(ev, &et->hot);
	memset(et, 0, sizeof(*et));
	/* A rule may have kept the table: its load() still finds its etab, and raises. */
	et->ev = ev;
	et->index = t;
}

static int l_load(lua_State *L);
static int l_readonly(lua_State *L);

/* A free etab with a new table; -1 when all are in use. */
static int etab_take(vg__events *ev)
{
	int t = 0;
	while (t < ETABS_MAX && ev->tabs[t].used)
		t++;
	if (t == ETABS_MAX)
		return -1;
	lua_State *L = ev->L;
	etab *et = &ev->tabs[t];
	et->used = true;
	lua_createtable(L, 0, 8);
	lua_createtable(L, 0, 4);
	lua_pushlightuserdata(L, et);
	lua_pushcclosure(L, l_load, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_readonly);
	lua_setfield(L, -2, "__newindex");
	/* getmetatable(e) answers this string, and setmetatable(e, ...) is refused. */
	lua_pushstring(L, EVENT_MT_NAME);
	lua_setfield(L, -2, "__metatable");
	lua_pushlightuserdata(L, &ev->marker);
	lua_pushinteger(L, t);
	lua_rawset(L, -3);
	lua_setmetatable(L, -2);
	et->table = lua_topointer(L, -1);
	et->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return t;
}

/* Etab 0, the top-level object's, always first in the used list. */
static void top_take(vg__events *ev)
{
	lua_State *L = ev->L;
	etab_take(ev);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->used_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->tabs[0].ref);
	lua_rawseti(L, -2, 1);
	lua_pop(L, 1);
	ev->n_used = 1;
}

/* The etab of the event table at idx, or -1 when it is none. */
static int event_etab(vg__events *ev, lua_State *L, int idx)
{
	if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
		return -1;
	lua_pushlightuserdata(L, &ev->marker);
	lua_rawget(L, -2);
	int t = lua_isnumber(L, -1) ? (int)lua_tointeger(L, -1) : -1;
	lua_pop(L, 2);
	return t;
}

/* The etab for objects under the key of slot-owner et, made on first use; -1 when the
 * slots or etabs are used up. */
static int child_etab(vg__events *ev, etab *et, const char *key, uint32_t len)
{
	for (uint32_t i = 0; i < et->n_slots; i++)
		if (et->slots[i].len == len && memcmp(et->slots[i].key, key, len) == 0)
			return et->slots[i].child;
	int c = et->n_slots < SLOTS_MAX ? etab_take(ev) : -1;
	if (c < 0) {
		ev->overflow = true;
		return -1;
	}
	slot *s = &et->slots[et->n_slots++];
	s->key = vg_xmalloc(len + 1);
	memcpy(s->key, key, len);
	s->key[len] = '\0';
	s->len = len;
	s->child = c;
	return c;
}

/* ---- hot fields ----------------------------------------------------------------------------
 * Events of one type mostly have the same few fields read (e.ip, e.user, e.user.id), and
 * each first read goes through load(): the metamethod call, the key fetched through the
 * API, the API calls around the value: ~300 instructions (callgrind) besides making the
 * value. So each kind of object counts the fields load() is asked for over its first
 * LEARN_EVENTS objects, and from then on the fields asked for in at least half of them
 * are put in its table as it is made, in one call, where a rule reads them as plain table
 * hits. The kinds: the top level of each type's events (filled right after begin()), and
 * the objects under each key of a table (filled as that table is handed out: e.user's
 * id when e.user is read). A field put there and not read costs its value (~600), one
 * read saves ~300: half is a safe bar. Every RELEARN_EVENTS events everything starts
 * over, so a pack whose traffic shifts, or a stream that opened with junk types, is
 * learnt again. Learning changes no read's result: a field put in a table holds what
 * load() gives.
 *
 * The same watch counts the match() calls on the value of a top-level field, by bank and
 * field, and hands those made in at least half of a type's events to the engine
 * (on_plan), whose producer can then do the lookups ahead (rules_engine.c). */
static void fields_forget(vg__events *ev, hotfields *hf)
{
	for (uint32_t k = 0; hf->learnt && k < hf->n; k++)
		luaL_unref(ev->L, LUA_REGISTRYINDEX, hf->f[k].ref);
	memset(hf, 0, sizeof(*hf));
}

static void fields_count(vg__events *ev, hotfields *hf, const char *key, size_t len)
{
	hotfield *f = hf->f;
	uint32_t k = 0;
	while (k < hf->n && !(f[k].len == len && memcmp(f[k].key, key, len) == 0))
		k++;
	if (k == hf->n) {
		if (hf->n == HOT_CANDIDATES || len > HOT_KEY_MAX)
			return;
		memcpy(f[k].key, key, len);
		f[k].len = (uint32_t)len;
		hf->n++;
	}
	if (f[k].serial != ev->serial) {
		f[k].serial = ev->serial;
		f[k].reads++;
	}
}

/* Keeps the fields read in at least half of the objects seen, the most read first. */
static void fields_choose(vg__events *ev, hotfields *hf)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < hf->n; k++)
		if (2 * hf->f[k].reads >= hf->seen)
			hf->f[n++] = hf->f[k];
	for (uint32_t a = 1; a < n; a++)
		for (uint32_t b = a; b > 0 && hf->f[b].reads > hf->f[b - 1].reads; b--) {
			hotfield x = hf->f[b];
			hf->f[b] = hf->f[b - 1];
			hf->f[b - 1] = x;
		}
	hf->n = n < HOT_MAX ? n : HOT_MAX;
	for (uint32_t k = 0; k < hf->n; k++) {
		lua_pushlstring(ev->L, hf->f[k].key, hf->f[k].len);
		hf->f[k].ref = luaL_ref(ev->L, LUA_REGISTRYINDEX);
	}
	hf->learnt = true;
}

/* One more object of the kind: counted while learning. Whether it has hot fields. */
static bool fields_seen(vg__events *ev, hotfields *hf)
{
	if (!hf->learnt && hf->seen == LEARN_EVENTS)
		fields_choose(ev, hf);
	else if (!hf->learnt)
		hf->seen++;
	return hf->learnt && hf->n;
}

/* Puts the hot fields of the object at node, of etab t, in its table at stack index b. */
static void fields_fill(vg__events *ev, const hotfields *hf, int t, size_t node, int b)
{
	lua_State *L = ev->L;
	for (uint32_t k = 0; k < hf->n; k++) {
		const hotfield *f = &hf->f[k];
		long i = vg_json_getn(ev->doc, node, f->key, f->len);
		if (i < 0 || ev->doc->nodes[i].type == VG_JSON_NULL)
			continue;
		lua_rawgeti(L, LUA_REGISTRYINDEX, f->ref);
		push_field(ev, t, f->key, f->len, (size_t)i);
		lua_rawset(L, b);
	}
}

static void hot_forget(vg__events *ev)
{
	for (uint32_t i = 0; i < ev->n_types; i++) {
		fields_forget(ev, &ev->types[i].fields);
		luaL_unref(ev->L, LUA_REGISTRYINDEX, ev->types[i].ref);
	}
	for (int t = 0; t < ETABS_MAX; t++)
		fields_forget(ev, &ev->tabs[t].hot);
	ev->n_types = 0;
	ev->begun = 0;
}

/* The entry of type s, made when there is room; NULL when there is none. */
static hottype *hot_type(vg__events *ev, const char *s, uint32_t len)
{
	for (uint32_t i = 0; i < ev->n_types; i++)
		if (ev->types[i].len == len && memcmp(ev->types[i].type, s, len) == 0)
			return &ev->types[i];
	if (ev->n_types == HOT_TYPES || len > HOT_TYPE_MAX)
		return NULL;
	lua_pushlstring(ev->L, s, len); /* first: it may raise, leaving no half-made entry */
	int ref = luaL_ref(ev->L, LUA_REGISTRYINDEX);
	hottype *h = &ev->types[ev->n_types++];
	memset(h, 0, sizeof(*h));
	memcpy(h->type, s, len);
	h->len = len;
	h->ref = ref;
	return h;
}

/* Publishes the match() calls made in at least half of the events seen. */
static void hot_choose_matches(vg__events *ev, const hottype *h)
{
	if (!ev->on_plan)
		return;
	vg__match_plan m[VG__AHEAD_MAX];
	size_t n = 0;
	for (uint32_t k = 0; k < h->nm && n < VG__AHEAD_MAX; k++)
		if (2 * h->m[k].hits >= h->fields.seen)
			m[n++] = h->m[k].plan;
	ev->on_plan(ev->plan_ctx, h->type, h->len, m, n);
}

/* At begin(): picks the event's type entry, counting the event while the type learns.
 * Whether its top level has hot fields. */
static bool hot_begin(vg__events *ev, const vg_json_doc *doc, long type_node)
{
	if (++ev->begun == ev->relearn)
		hot_forget(ev);
	ev->hot = NULL;
	if (type_node < 0)
		return false;
	hottype *h = hot_type(ev, doc->nodes[type_node].v.str, doc->nodes[type_node].len);
	if (!h)
		return false;
	if (!h->fields.learnt && h->fields.seen == LEARN_EVENTS)
		hot_choose_matches(ev, h);
	ev->hot = h;
	return fields_seen(ev, &h->fields);
}

/* ---- loading fields ---------------------------------------------------------------------- */
/* Pushes the value at node i for the field key of etab t: an object through its own
 * etab when there is one free. */
static void push_field(vg__events *ev, int t, const char *key, size_t len, size_t i)
{
	const vg_json_node *nd = &ev->doc->nodes[i];
	if (nd->type == VG_JSON_OBJECT) {
		int c = child_etab(ev, &ev->tabs[t], key, (uint32_t)len);
		if (c >= 0) {
			lua_State *L = ev->L;
			ev->tabs[c].node = i;
			ev->tabs[c].serial = ev->serial;
			lua_rawgeti(L, LUA_REGISTRYINDEX, ev->used_ref);
			lua_rawgeti(L, LUA_REGISTRYINDEX, ev->tabs[c].ref);
			lua_pushvalue(L, -1);
			lua_rawseti(L, -3, ++ev->n_used);
			lua_remove(L, -2);
			if (fields_seen(ev, &ev->tabs[c].hot))
				fields_fill(ev, &ev->tabs[c].hot, c, i, lua_gettop(L));
			return;
		}
	}
	push_plain(ev, i);
}

/* Loads field key (the string at stack index k) of etab t into its table at stack
 * index b and pushes it (nil when absent). */
static void load_field(vg__events *ev, int t, int b, int k)
{
	lua_State *L = ev->L;
	size_t len;
	const char *key = lua_tolstring(L, k, &len);
	hotfields *hf = t ? &ev->tabs[t].hot : ev->hot ? &ev->hot->fields : NULL;
	if (hf && !hf->learnt)
		fields_count(ev, hf, key, len);
	long i = vg_json_getn(ev->doc, ev->tabs[t].node, key, len);
	if (i < 0 || ev->doc->nodes[i].type == VG_JSON_NULL) {
		lua_pushnil(L);
		return;
	}
	push_field(ev, t, key, len, (size_t)i);
	lua_pushvalue(L, k);
	lua_pushvalue(L, -2);
	lua_rawset(L, b);
}

/* Raises unless etab t belongs to this event and the table at idx is its table. */
static void check_live(vg__events *ev, int t, int idx)
{
	lua_State *L = ev->L;
	const etab *et = &ev->tabs[t];
	if (!et->used || et->serial != ev->serial || lua_topointer(L, idx) != et->table)
		luaL_error(L, "an event can be read only while its rules run: copy the fields "
			      "you want to keep");
}

/* __index of an event table: load(table, key). */
static int l_load(lua_State *L)
{
	const etab *et = lua_touserdata(L, lua_upvalueindex(1));
	vg__events *ev = et->ev;
	int t = et->index;
	check_live(ev, t, 1);
	if (lua_type(L, 2) != LUA_TSTRING) {
		lua_pushnil(L); /* JSON objects have string keys only */
		return 1;
	}
	load_field(ev, t, 1, 2);
	return 1;
}

static int l_readonly(lua_State *L)
{
	return luaL_error(L, "an event is read-only: copy it into a table of your own to change it");
}

/* Loads every field of the event table at idx, of etab t (for pairs and next). */
static void load_all(vg__events *ev, int t, int idx)
{
	lua_State *L = ev->L;
	etab *et = &ev->tabs[t];
	check_live(ev, t, idx);
	if (et->complete == ev->serial)
		return;
	const vg_json_doc *doc = ev->doc;
	size_t j = et->node + 1;
	for (uint32_t k = 0; k < doc->nodes[et->node].len; k++) {
		lua_pushlstring(L, doc->nodes[j].v.str, doc->nodes[j].len);
		lua_pushvalue(L, -1);
		lua_rawget(L, idx);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 1);
			load_field(ev, t, idx, lua_gettop(L));
		}
		lua_pop(L, 2);
		j = doc->nodes[j + 1].next;
	}
	et->complete = ev->serial;
}

/* ---- the sandbox's pairs, next, rawget and rawset ------------------------------------------- */
static vg__events *events_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* pairs(t): for an event table, with every field loaded first. */
static int l_pairs(lua_State *L)
{
	vg__events *ev = events_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	int t = event_etab(ev, L, 1);
	lua_pushvalue(L, lua_upvalueindex(2)); /* the original next */
	if (t >= 0)
		load_all(ev, t, 1);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

static int l_next(lua_State *L)
{
	vg__events *ev = events_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 2);
	int t = event_etab(ev, L, 1);
	if (t >= 0)
		load_all(ev, t, 1);
	if (lua_next(L, 1))
		return 2;
	lua_pushnil(L);
	return 1;
}

static int l_rawget(lua_State *L)
{
	vg__events *ev = events_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	lua_settop(L, 2);
	if (event_etab(ev, L, 1) >= 0) {
		lua_gettable(L, 1); /* through load() */
		return 1;
	}
	lua_rawget(L, 1);
	return 1;
}

static int l_rawset(lua_State *L)
{
	vg__events *ev = events_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checkany(L, 2);
	luaL_checkany(L, 3);
	if (event_etab(ev, L, 1) >= 0)
		return l_readonly(L);
	lua_settop(L, 3);
	lua_rawset(L, 1);
	return 1;
}

static void set_global(lua_State *L, vg__events *ev, const char *name, lua_CFunction fn,
		       bool with_next)
{
	lua_pushlightuserdata(L, ev);
	if (with_next)
		lua_getglobal(L, "next");
	lua_pushcclosure(L, fn, with_next ? 2 : 1);
	lua_setglobal(L, name);
}

/* ---- the state's side ------------------------------------------------------------------------ */
vg__events *vg__events_new(lua_State *L)
{
	vg__events *ev = vg_xcalloc(1, sizeof(*ev));
	ev->L = L;
	for (int t = 0; t < ETABS_MAX; t++) {
		ev->tabs[t].ev = ev;
		ev->tabs[t].index = t;
	}
	lua_newtable(L);
	ev->used_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	top_take(ev);
	set_global(L, ev, "pairs", l_pairs, true);
	set_global(L, ev, "next", l_next, false);
	set_global(L, ev, "rawget", l_rawget, false);
	set_global(L, ev, "rawset", l_rawset, false);
	return ev;
}

void vg__events_free(vg__events *ev)
{
	if (!ev)
		return;
	/* The Lua state goes with its owner; only the key copies are ours. */
	for (int t = 0; t < ETABS_MAX; t++)
		for (uint32_t i = 0; i < ev->tabs[t].n_slots; i++)
			free(ev->tabs[t].slots[i].key);
	free(ev);
}

int vg__events_begin(vg__events *ev, const vg_json_doc *doc, long type_node, bool *ret_hot)
{
	lua_State *L = ev->L;
	int n = ev->n_used;
	if (ev->overflow) {
		for (int t = 0; t < ETABS_MAX; t++)
			if (ev->tabs[t].used)
				etab_free(ev, t);
		top_take(ev);
		ev->overflow = false;
		n = 0; /* the old tables are nobody's now: nothing to empty */
	}
	ev->doc = doc;
	ev->serial++;
	ev->tabs[0].node = 0;
	ev->tabs[0].serial = ev->serial;
	ev->n_used = 1;
	*ret_hot = hot_begin(ev, doc, type_node);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->tabs[0].ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->used_ref);
	if (ev->hot)
		lua_rawgeti(L, LUA_REGISTRYINDEX, ev->hot->ref); /* no hashing, no interning */
	else if (type_node >= 0)
		lua_pushlstring(L, doc->nodes[type_node].v.str, doc->nodes[type_node].len);
	else
		lua_pushnil(L);
	return n;
}

void vg__events_note_match(vg__events *ev, int bank, const char *value, size_t len)
{
	hottype *h = ev->hot;
	if (!h || h->fields.learnt || bank < 0)
		return;
	/* The top-level field holding the value: the producer looks it up by that name. */
	const vg_json_doc *doc = ev->doc;
	const vg_json_node *key = NULL;
	size_t j = 1;
	for (uint32_t k = 0; k < doc->nodes[0].len; k++) {
		const vg_json_node *v = &doc->nodes[j + 1];
		if (v->type == VG_JSON_STRING && v->len == len && memcmp(v->v.str, value, len) == 0)
			key = &doc->nodes[j];
		j = v->next;
	}
	if (!key || key->len > VG__AHEAD_KEY_MAX)
		return;
	uint32_t k = 0;
	while (k < h->nm && !(h->m[k].plan.bank == bank && h->m[k].plan.len == key->len &&
			      memcmp(h->m[k].plan.key, key->v.str, key->len) == 0))
		k++;
	if (k == h->nm) {
		if (h->nm == HOT_CANDIDATES)
			return;
		hotmatch *m = &h->m[h->nm++];
		memset(m, 0, sizeof(*m));
		m->plan.bank = bank;
		memcpy(m->plan.key, key->v.str, key->len);
		m->plan.len = key->len;
	}
	if (h->m[k].serial != ev->serial) {
		h->m[k].serial = ev->serial;
		h->m[k].hits++;
	}
}

void vg__events_set_learning(vg__events *ev, uint32_t relearn, vg__plan_fn *fn, void *ctx)
{
	ev->relearn = relearn ? relearn : RELEARN_EVENTS;
	ev->on_plan = fn;
	ev->plan_ctx = ctx;
}

void vg__events_prefill(vg__events *ev)
{
	lua_State *L = ev->L;
	lua_rawgeti(L, LUA_REGISTRYINDEX, ev->tabs[0].ref);
	fields_fill(ev, &ev->hot->fields, 0, 0, lua_gettop(L));
	lua_pop(L, 1);
}

/* A fresh table (or a scalar) for the value at node i: arrays, what they hold, and
 * objects that found no etab. */
static void push_plain(vg__events *ev, size_t i)
{
	lua_State *L = ev->L;
	const vg_json_doc *doc = ev->doc;
	const vg_json_node *nd = &doc->nodes[i];
	switch (nd->type) {
	case VG_JSON_NULL:
		/* JSON null reads as nil, like a missing field: `if e.x then` treats both alike. */
		lua_pushnil(L);
		return;
	case VG_JSON_FALSE: lua_pushboolean(L, 0); return;
	case VG_JSON_TRUE: lua_pushboolean(L, 1); return;
	case VG_JSON_INT: lua_pushnumber(L, (lua_Number)nd->v.i); return;
	case VG_JSON_REAL: lua_pushnumber(L, nd->v.d); return;
	case VG_JSON_STRING: lua_pushlstring(L, nd->v.str, nd->len); return;
	case VG_JSON_ARRAY: {
		lua_createtable(L, (int)nd->len, 0);
		size_t j = i + 1;
		for (uint32_t k = 0; k < nd->len; k++) {
			push_plain(ev, j);
			lua_rawseti(L, -2, (int)k + 1);
			j = doc->nodes[j].next;
		}
		return;
	}
	default: {
		lua_createtable(L, 0, (int)nd->len);
		size_t j = i + 1;
		for (uint32_t k = 0; k < nd->len; k++) {
			lua_pushlstring(L, doc->nodes[j].v.str, doc->nodes[j].len);
			push_plain(ev, j + 1);
			/* Repeated keys: the last one wins, as in jansson. */
			lua_rawset(L, -3);
			j = doc->nodes[j + 1].next;
		}
		return;
	}
	}
}
