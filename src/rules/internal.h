/* SPDX-License-Identifier: Apache-2.0
 *
 * rules' private helpers, shared by its files only: hashing, the per-worker Lua state
 * (rules_lua.c) that the engine (rules_engine.c) and the synchronous runner drive, and
 * the ruleset's layout. Only src/rules/ includes this header.
 */
#ifndef VG__RULES_INTERNAL_H
#define VG__RULES_INTERNAL_H

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "rules.h"

/* MurmurHash3's 64-bit finaliser: every input bit reaches every output bit. */
static inline uint64_t vg__rules_fmix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* 64-bit FNV-1a followed by a murmur finaliser: fast on short keys, well mixed. */
static inline uint64_t vg__rules_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return vg__rules_fmix(h);
}

/* The string sets' hash: MurmurHash64A's loop (8 bytes per step, the last step
 * overlapping the one before it rather than a byte loop) with MurmurHash3's finaliser,
 * which vg__rules_hash also ends with. Fast but floodable (see vg__siphash), which the
 * sets can afford: their values come from banks, and events only look them up. vg__rules_hash goes byte by byte, one dependent multiply
 * per byte: as fast on an 11-byte key, 3.5x slower on 40 bytes (about a cache miss) and
 * 5x on 1 KiB. The length is mixed in first, so the overlapping reads keep keys of one
 * length apart. */
#define VG__MURMUR_M 0xc6a4a7935bd1e995ull

static inline uint64_t vg__load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t vg__load32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t vg__murmur_step(uint64_t h, uint64_t k)
{
	k *= VG__MURMUR_M;
	k ^= k >> 47;
	k *= VG__MURMUR_M;
	return (h ^ k) * VG__MURMUR_M;
}

/* 1..7 bytes as one word, every byte read at least once. */
static inline uint64_t vg__short_word(const unsigned char *p, size_t len)
{
	if (len >= 4)
		return vg__load32(p) | vg__load32(p + len - 4) << 32;
	return p[0] | (uint64_t)p[len / 2] << 8 | (uint64_t)p[len - 1] << 16;
}

static inline uint64_t vg__rules_key_hash(const char *key, size_t len, uint64_t seed)
{
	const unsigned char *p = (const unsigned char *)key;
	uint64_t h = seed ^ (len * VG__MURMUR_M);
	if (len >= 8) {
		const unsigned char *last = p + len - 8;
		for (; p < last; p += 8)
			h = vg__murmur_step(h, vg__load64(p));
		h = vg__murmur_step(h, vg__load64(last));
	} else if (len > 0) {
		h = vg__murmur_step(h, vg__short_word(p, len));
	}
	return vg__rules_fmix(h);
}

/* SipHash (Aumasson and Bernstein) with c compression and d finalisation rounds, keyed by
 * (k0, k1): the hash of the keys rules choose (counters, distinct counts, labels), which
 * come from event fields an attacker controls. A keyed PRF, so without the key nobody
 * can pick keys that share a slot; MurmurHash has collisions whatever the seed
 * ("hash-flooding DoS reloaded", 2012), enough to turn a table's lookups linear. 1-3
 * rounds for the tables (as Rust's and Python's hash tables use); the tests check 2-4
 * against the paper's vector. */
static inline uint64_t vg__rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

#define VG__SIPROUND(v0, v1, v2, v3)                                                        \
	do {                                                                                 \
		v0 += v1, v1 = vg__rotl(v1, 13), v1 ^= v0, v0 = vg__rotl(v0, 32);            \
		v2 += v3, v3 = vg__rotl(v3, 16), v3 ^= v2;                                   \
		v0 += v3, v3 = vg__rotl(v3, 21), v3 ^= v0;                                   \
		v2 += v1, v1 = vg__rotl(v1, 17), v1 ^= v2, v2 = vg__rotl(v2, 32);            \
	} while (0)

static inline uint64_t vg__siphash(const void *data, size_t len, uint64_t k0, uint64_t k1,
				   int c, int d)
{
	const unsigned char *p = data, *end = p + (len & ~(size_t)7);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	for (; p < end; p += 8) {
		uint64_t m = 0;
		for (int i = 0; i < 8; i++) /* little-endian, whatever the host */
			m |= (uint64_t)p[i] << 8 * i;
		v3 ^= m;
		for (int r = 0; r < c; r++)
			VG__SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)p[i] << 8 * i;
	v3 ^= b;
	for (int r = 0; r < c; r++)
		VG__SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int r = 0; r < d; r++)
		VG__SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* 16 bytes from the kernel's random source for a table's SipHash key. */
void vg__rules_random_key(uint64_t key[2]);

/* Finishes a growth of the slots in progress, for a table that gets no more inserts, so
 * its lookups probe one array (rules_state.c). */
void vg__labels_settle(vg_labels *l);
/* Tests: every label's record has exactly one slot (rules_state.c). */
bool vg__labels_consistent(const vg_labels *l);

typedef struct vg__rules_file {
	char *name; /* "x.lua" */
	char *src;
	size_t len;
} vg__rules_file;

struct vg_ruleset {
	vg__rules_file *files;
	size_t n_files;
	char **rule_names; /* in definition order, as the check run found them */
	bool *shadow;
	char ***on; /* each rule's `on` types, NULL-terminated; NULL for every type */
	size_t n_rules;
};

/* A label write waiting to be persisted. */
typedef struct vg__label_write {
	char *kind, *id, *name;
	vg_usec expires_at;
} vg__label_write;

/* One Lua state with its rules, counters, distinct counts and labels. */
typedef struct vg__rules_vm vg__rules_vm;

/* A match() that rules make on a top-level field in most events of a type, learnt by a
 * state (rules_event.c) and handed to the engine's producer, which then looks it up as it
 * decodes the event, when it has a core to spare (rules_engine.c, "answers ahead"). */
#define VG__AHEAD_MAX 4
#define VG__AHEAD_KEY_MAX 32
typedef struct vg__match_plan {
	int bank; /* vg__rules_banks_find's index */
	char key[VG__AHEAD_KEY_MAX];
	uint32_t len;
} vg__match_plan;
/* A type's plan, when it is learnt (again): n may be 0. From the state's thread. */
typedef void vg__plan_fn(void *ctx, const char *type, size_t len, const vg__match_plan *m,
			 size_t n);

typedef struct vg__rules_vm_opts {
	uint64_t budget_ms;
	size_t max_counter_keys, max_distinct_keys, max_labels;
	const vg_rules_banks *banks;
	const vg_labels *shared_labels; /* labels loaded from the store; read-only, may be NULL */
	bool record_label_writes;       /* keep each label() for persisting */
	vg_label_bus *bus;              /* label() posts to it; each event first polls it */
	int bus_index;
	int worker;
	vg__plan_fn *on_plan; /* may be NULL */
	void *plan_ctx;
	vg_rule_error_fn *on_error; /* may be NULL: failures are logged */
	void *error_ctx;
	uint32_t relearn_events; /* 0: 2^20 (rules_event.c); tests set fewer */
} vg__rules_vm_opts;

/* Compiles every file of rs into a fresh sandboxed state. Errors: VG_EINVAL with the file
 * and reason. */
int vg__rules_vm_new(const vg_ruleset *rs, const vg__rules_vm_opts *opts, vg__rules_vm **ret,
		     vg_error *err);
void vg__rules_vm_free(vg__rules_vm *vm);
/* A match() answered before the event reached its state. */
typedef struct vg__ahead {
	int bank;
	uint32_t node; /* the string node of the doc that was looked up */
	bool hit;
} vg__ahead;

/* What the engine itself reads of an event, found in one pass over its top level, and
 * the match() answers its producer found ahead (n_ahead 0 elsewhere). */
typedef struct vg__event_head {
	long type;    /* the node of its "type" when that is a string, else -1 */
	vg_usec time; /* see vg__rules_event_head */
	uint32_t n_ahead;
	vg__ahead ahead[VG__AHEAD_MAX];
} vg__event_head;

/* Runs every rule on the decoded doc, whose head is h; verdicts go to fn. */
void vg__rules_vm_eval(vg__rules_vm *vm, const vg_json_doc *doc, const vg__event_head *h,
		       const char *line, size_t len, uint64_t seq, vg_verdict_fn *fn, void *ctx);
vg_rules_stats *vg__rules_vm_stats(vg__rules_vm *vm);
/* Rule i's name and its own error and budget-stop counts; NULL past the last rule. */
const char *vg__rules_vm_rule_errors(const vg__rules_vm *vm, size_t i, uint64_t *ret_errors,
				     uint64_t *ret_budget_stops);
/* Takes the label writes recorded since the last call (caller frees each and the array). */
vg__label_write *vg__rules_vm_take_labels(vg__rules_vm *vm, size_t *ret_n);
void vg__label_write_free(vg__label_write *w, size_t n);
/* Hands a label to every state but from (rules_bus.c). */
void vg__label_bus_post(vg_label_bus *b, int from, const char *kind, const char *id,
			const char *name, vg_usec expires_at);
/* Sets the labels in self's inbox in labels and empties it, unless the bus is held. */
void vg__label_bus_poll(vg_label_bus *b, int self, vg_labels *labels);
/* Sets a label in the state's own labels as a change made elsewhere (the API, already in
 * the store): not kept as a write, and any write of the same label the state kept is
 * dropped, so it cannot undo the change when it is flushed. */
void vg__rules_vm_put_label(vg__rules_vm *vm, const char *kind, const char *id, const char *name,
			    vg_usec expires_at);
/* Points match() at banks from the next event on; a bank missing from them is logged
 * again. */
void vg__rules_vm_set_banks(vg__rules_vm *vm, const vg_rules_banks *banks);
/* Sets w[0 .. n-1] in the state's own labels and keeps them as its own writes, as if its
 * rules had set them; takes w. */
void vg__rules_vm_give_labels(vg__rules_vm *vm, vg__label_write *w, size_t n);

/* match() for a state: as vg_rules_banks_match, remembering the last url it parsed. */
typedef struct vg__url_memo vg__url_memo;
vg__url_memo *vg__url_memo_new(void);
void vg__url_memo_free(vg__url_memo *m);
bool vg__rules_banks_match(const vg_rules_banks *b, const char *bank, const char *value,
			   size_t len, vg__url_memo *memo);
/* The same in two steps: a bank's index by name (-1: no such bank), then a lookup in the
 * bank at that index (false for -1). Indexes hold while the banks do. */
int vg__rules_banks_find(const vg_rules_banks *b, const char *bank, size_t len);
bool vg__rules_banks_match_at(const vg_rules_banks *b, int bank, const char *value, size_t len,
			      vg__url_memo *memo);

/* Events as Lua tables, loaded on demand and reused (rules_event.c). new() also
 * replaces the sandbox's pairs, next, rawget and rawset with versions that know them. */
struct lua_State;
typedef struct vg__events vg__events;
vg__events *vg__events_new(struct lua_State *L);
void vg__events_free(vg__events *ev);
/* Starts the event doc: pushes its table, the array of the tables the last event used
 * and its `type` string (nil when it has none), and returns how many tables the array
 * holds: the caller empties them (table.clear) before any rule runs, then stores the
 * type in the event's table (every rule pack reads it, most rules first thing). *ret_hot
 * says whether the caller should then call vg__events_prefill, which puts the fields
 * rules read in most events of its type in the table (rules_event.c, "hot fields"). */
int vg__events_begin(vg__events *ev, const vg_json_doc *doc, long type_node, bool *ret_hot);
void vg__events_prefill(vg__events *ev);
/* While the event's type is learning: a match() in bank of value, counted against the
 * top-level field that holds it, if one does. */
void vg__events_note_match(vg__events *ev, int bank, const char *value, size_t len);
/* Every relearn events (0: 2^20) the types learn anew; plans go to fn (may be NULL). */
void vg__events_set_learning(vg__events *ev, uint32_t relearn, vg__plan_fn *fn, void *ctx);

/* Dispatch by event type (rules_dispatch.c). on_parse reads a rule's options table (at
 * stack index opts) and pushes the list of the types its `on` names, or nil; raises on a
 * bad one. dispatch_build reads the rule functions (array at rules) and those lists (at
 * on, nil for a rule of every type) of n rules and pushes the runner's table from type
 * to list, then the list for the other types. */
void vg__rules_on_parse(struct lua_State *L, int opts);
void vg__rules_dispatch_build(struct lua_State *L, int rules, int on, int n);

/* Populating memory ahead of use (rules_prefault.c): prefault asks a thread of its own to
 * fault [addr, addr + len) in, as writes would, without touching its contents; a hint
 * that may be dropped. fence drops the requests on a range and waits out a running one:
 * call it before unmapping or moving the range. */
void vg__prefault(void *addr, size_t len);
void vg__prefault_fence(const void *addr, size_t len);

/* The rule budget (rules_watchdog.c): a state publishes what it runs, a watchdog thread
 * stops a run that has used more than budget_ms of CPU time. */
struct lua_Debug;
typedef void (*vg__hook)(struct lua_State *L, struct lua_Debug *ar);
typedef struct vg__watch {
	_Atomic uint64_t position; /* what runs (nonzero, changes per run); 0: idle */
	_Atomic uint64_t stop;     /* the position the watchdog stops, or 0 */
	_Atomic clockid_t clock;   /* CPU clock of the thread running it */
	struct lua_State *L;
	vg__hook hook;
	int64_t budget_ns;
	uint64_t seen; /* the watchdog's own: the position at its last look, and when */
	int64_t seen_cpu;
	struct vg__watch *next, *prev;
} vg__watch;
void vg__watch_add(vg__watch *w, struct lua_State *L, vg__hook hook, uint64_t budget_ms);
void vg__watch_remove(vg__watch *w);
/* Before and after each run; end() says whether a stop was asked for (and takes the
 * hook off). */
void vg__watch_begin(vg__watch *w, uint64_t position);
bool vg__watch_end(vg__watch *w);
/* In the hook: true when the running position is the one to stop (raise), false when
 * the stop came too late (the hook is taken off; go on). */
bool vg__watch_hook(vg__watch *w);
/* Whether a stop for the running position is waiting; changes nothing. */
bool vg__watch_due(vg__watch *w);
/* From the state's own thread, during a run: stops the run at its next instruction, as
 * the watchdog would (the memory cap asks so, rather than fail an allocation deep in
 * LuaJIT). False, and nothing done, when idle. */
bool vg__watch_stop_now(vg__watch *w);
/* In the hook: takes back a stop (and the hook) that turned out not to be needed. A
 * budget stop the watchdog makes meanwhile comes again at its next look. */
void vg__watch_cancel(vg__watch *w);
/* In the hook: the run's CPU time so far does not count (it went to work done for the
 * state, such as a collection the memory cap asked for). */
void vg__watch_restart(vg__watch *w);

/* The text of a number in keys, labels and the partition key: a whole number (below
 * 2^63) in full, "100000000000001", else the shortest of 15 to 17 significant digits
 * that reads back as the same double, "0.1". Returns its length (under 32). */
size_t vg__rules_number_text(double d, char buf[32]);

/* Lua's pattern functions under the budget (rules_pattern.c): sets find, match, gmatch
 * and gsub in the table at index table. Every few thousand steps of matching they call
 * poll->fn, which may raise: they hold nothing but Lua values, so the longjmp is safe. */
typedef struct vg__pattern_poll {
	void (*fn)(struct lua_State *L);
} vg__pattern_poll;
void vg__pattern_open(struct lua_State *L, int table, const vg__pattern_poll *poll);

/* The event's head. Its time is a top-level numeric "ts" (seconds since the epoch)
 * when present and sane, else wall (the clock; 0 lets a caller read the clock only for
 * events without a time): replays of old logs see their own windows. */
void vg__rules_event_head(const vg_json_doc *doc, vg_usec wall, vg__event_head *ret);

/* Labels from the store that are live at live_at (0: every stored label) into l; and
 * writes to the store. */
int vg__rules_labels_load(const char *store_path, vg_usec live_at, vg_labels *l, vg_error *err);
/* Writes w[0 .. n-1] through s, in transactions of a few hundred (see rules_labels.c). */
int vg__rules_labels_write(vg_store *s, const vg__label_write *w, size_t n, vg_error *err);
int vg__rules_labels_persist(const char *store_path, const vg__label_write *w, size_t n,
			     vg_error *err);

#endif
