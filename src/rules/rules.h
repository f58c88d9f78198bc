/* SPDX-License-Identifier: Apache-2.0
 *
 * rules: the event intake. Decodes NDJSON events with a bounded decoder of our own, runs
 * each event through Lua rules (LuaJIT) on worker threads, and reports what the rules
 * decided (verdicts). Counters, distinct counts and labels live in each worker, so the
 * hot path takes no lock; labels are also written to the store so they survive a restart.
 *
 * Invariants:
 * - Every event line is bounded (max_event_bytes, nesting depth, node count); a bad line
 *   is an error for that line only, with a reason, never a crash.
 * - Rule code runs in a sandbox: no io, os, require, ffi, debug, no bytecode, no file
 *   loading. A rule that raises an error or runs past its budget of CPU time is stopped
 *   and counted; the other rules still see the event.
 * - Events with the same partition key go to the same worker in input order, so
 *   per-key counters see every event of their key, in order.
 * - No LuaJIT type appears in this header (STYLE.md 5).
 */
#ifndef VG_RULES_H
#define VG_RULES_H

#include "bank/bank.h"
#include "store/store.h"
#include "util/util.h"

#define VG_RULES_EVENT_MAX ((size_t)64 << 10) /* default bytes per event line */
#define VG_RULES_DEPTH_MAX 32                  /* nesting of objects and arrays */
#define VG_RULES_NAME_MAX 128                  /* bytes in a rule name */
#define VG_RULES_REASON_MAX 512                /* bytes of a verdict's reason kept */

/* ---- event documents: the bounded JSON decoder ------------------------------------------
 * A decoded event is a flat array of nodes in document order. An object's node is followed
 * by its members as (key string node, value subtree) pairs; an array's by its elements.
 * `next` is the index just past a node's subtree, so a reader skips a member in O(1).
 * Accepts exactly what jansson's json_loadb(..., 0) accepts for an object (RFC 8259,
 * valid UTF-8, no \u0000, no lone surrogates, finite reals), checked by a differential
 * test and a fuzz target, but for one thing by design: an integer past int64, which
 * jansson refuses, is read as a real (as JSON_DECODE_INT_AS_REAL would, and as Lua holds
 * it anyway). Duplicate keys are kept in order; a reader takes the last, as jansson does. */
typedef enum {
	VG_JSON_NULL,
	VG_JSON_FALSE,
	VG_JSON_TRUE,
	VG_JSON_INT,
	VG_JSON_REAL,
	VG_JSON_STRING,
	VG_JSON_ARRAY,
	VG_JSON_OBJECT,
} vg_json_type;

typedef struct vg_json_node {
	uint8_t type;  /* vg_json_type */
	uint32_t len;  /* bytes of a string; members of an object; elements of an array */
	uint32_t next; /* index past this subtree */
	union {
		const char *str; /* decoded UTF-8, NUL-terminated, in the doc's string buffer */
		int64_t i;
		double d;
	} v;
} vg_json_node;

typedef struct vg_json_doc {
	vg_json_node *nodes;
	size_t n, cap; /* cap bounds the nodes of one event */
	char *strbuf;  /* decoded strings (never more than the input line + n NULs), then
			* the decoder's NUL-padded copy of the line */
	size_t strcap; /* bytes at strbuf */
	size_t strused; /* bytes at strbuf the decoded strings take, their NULs included */
} vg_json_doc;

/* max_nodes 0: 4096. Allocates the buffers once; a doc is reused line after line. */
VG_EXPORT void vg_json_doc_init(vg_json_doc *doc, size_t max_nodes);
VG_EXPORT void vg_json_doc_done(vg_json_doc *doc);

/* Decodes one JSON object from text (len bytes; need not be NUL-terminated; surrounding
 * whitespace allowed, nothing else after the object). Errors: VG_EMALFORMED with the
 * byte offset and reason in err, VG_ETOOBIG (more nodes than the doc's cap, or nesting
 * past VG_RULES_DEPTH_MAX), VG_ENOMEM. Cost: one pass, no allocation once the buffers
 * have grown to the longest line. */
VG_EXPORT VG_MUST_CHECK int vg_json_decode(vg_json_doc *doc, const char *text, size_t len,
					   vg_error *err);

/* The value of member key in the object at node index obj (the last one when repeated),
 * or -1. */
VG_EXPORT long vg_json_get(const vg_json_doc *doc, size_t obj, const char *key);
/* The same for a key of klen bytes. */
VG_EXPORT long vg_json_getn(const vg_json_doc *doc, size_t obj, const char *key, size_t klen);

/* A decoded doc kept past the next decode: vg_json_doc_copy writes doc's nodes and
 * strings into mem (vg_json_doc_copy_size bytes, 8-byte aligned) and makes *ret read
 * the same values from there. *ret owns nothing: it is for reading and evaluating only,
 * never for decoding into or for vg_json_doc_done. */
VG_EXPORT size_t vg_json_doc_copy_size(const vg_json_doc *doc);
VG_EXPORT void vg_json_doc_copy(const vg_json_doc *doc, void *mem, vg_json_doc *ret);

/* ---- durations ------------------------------------------------------------------------ */
/* "250ms", "10s", "5m", "24h", "7d" (a whole number from 1 to 1,000,000,000, then a unit)
 * -> microseconds. Errors: VG_EINVAL, also when the microseconds would pass INT64_MAX / 2. */
VG_EXPORT VG_MUST_CHECK int vg_rules_duration_parse(const char *s, size_t len, vg_usec *ret);

/* ---- sliding-window counters --------------------------------------------------------------
 * count(key, window): each (key, window) pair is a ring of VG_RULES_COUNTER_SLOTS buckets
 * of window/SLOTS each; the count is the sum of the buckets that overlap the last window,
 * so it may include events up to window/SLOTS older than the window (at most 1/16 too
 * generous, never too small). At most max_keys pairs are kept; past that a pair not
 * used lately is forgotten (CLOCK: a pair used since the hand last passed survives a
 * flood of one-off keys; its next count starts again from 1). Not thread-safe: one table
 * per worker. */
#define VG_RULES_COUNTER_SLOTS 16

typedef struct vg_counters vg_counters;
VG_EXPORT vg_counters *vg_counters_new(size_t max_keys);
VG_EXPORT void vg_counters_free(vg_counters *c);
/* Adds add at time now and returns the count for the last window (including this one). */
VG_EXPORT uint64_t vg_counters_add(vg_counters *c, const char *key, size_t key_len,
				   vg_usec window, vg_usec now, uint64_t add);
VG_EXPORT size_t vg_counters_size(const vg_counters *c);
/* What add of nothing would return, without adding a key or counting anything. */
VG_EXPORT uint64_t vg_counters_get(const vg_counters *c, const char *key, size_t key_len,
				   vg_usec window, vg_usec now);

/* ---- distinct counts (HyperLogLog) ----------------------------------------------------------
 * distinct(key, value, window): an estimate of how many distinct values were seen for key.
 * Up to 256 distinct values are counted exactly; past that a HyperLogLog of 2^12 registers
 * takes over (at most ~2.1% rms measured, near 12,000 values; tests hold every estimate
 * within 8%, the mean in 2.5%), until both windows have gone by. Windows are tumbling
 * pairs: the estimate covers the current window and the one before it, so it spans
 * between one and two windows; an older event counts in neither. max_keys bounds the
 * (key, window) pairs as for counters; each costs up to 4 KiB past 16 values and 8 KiB
 * past the exact range.
 * The value hash is keyed at random per table. Not thread-safe. */
/* Sliding-window sums of amounts, as counters (the same ring of buckets): add returns the
 * total over the window, at least the true one and at most one bucket more. amount is
 * finite and >= 0 (the caller checks). Bounded as counters. */
typedef struct vg_sums vg_sums;
VG_EXPORT vg_sums *vg_sums_new(size_t max_keys);
VG_EXPORT void vg_sums_free(vg_sums *m);
VG_EXPORT double vg_sums_add(vg_sums *m, const char *key, size_t key_len, vg_usec window,
			     vg_usec now, double amount);
VG_EXPORT size_t vg_sums_size(const vg_sums *m);
VG_EXPORT double vg_sums_get(const vg_sums *m, const char *key, size_t key_len, vg_usec window,
			     vg_usec now);

typedef struct vg_distinct vg_distinct;
VG_EXPORT vg_distinct *vg_distinct_new(size_t max_keys);
VG_EXPORT void vg_distinct_free(vg_distinct *d);
VG_EXPORT uint64_t vg_distinct_add(vg_distinct *d, const char *key, size_t key_len,
				   const char *value, size_t value_len, vg_usec window, vg_usec now);

/* ---- labels -----------------------------------------------------------------------------
 * (kind, id, name) with an expiry time. At most max_labels are kept in one table; past
 * that a label not set lately is dropped (CLOCK, as for counters). Not thread-safe for
 * set; has only reads, so a table no one sets may be read from many threads. */
typedef struct vg_labels vg_labels;
VG_EXPORT vg_labels *vg_labels_new(size_t max_labels);
VG_EXPORT void vg_labels_free(vg_labels *l);
/* expires_at 0 means never. */
VG_EXPORT void vg_labels_set(vg_labels *l, const char *kind, const char *id, const char *name,
			     vg_usec expires_at);
/* As set, and the entry is never dropped for room: for an operator's change, which must
 * go on overriding the table loaded from the store (a removal must not come back when
 * the entry would have been evicted). Pins stop at half of max_labels; past that, set. */
VG_EXPORT void vg_labels_pin(vg_labels *l, const char *kind, const char *id, const char *name,
			     vg_usec expires_at);
VG_EXPORT bool vg_labels_has(const vg_labels *l, const char *kind, const char *id,
			     const char *name, vg_usec now);
/* Whether l has an entry for the label, live or expired, and its expiry. A state's own
 * entry is newer than the table loaded from the store, so it decides has_label even when
 * expired: that is how a removal (an expiry of VG_LABEL_REMOVED, long past) reaches a
 * state whose loaded table still has the label. */
VG_EXPORT bool vg_labels_get(const vg_labels *l, const char *kind, const char *id,
			     const char *name, vg_usec *ret_expires_at);
#define VG_LABEL_REMOVED ((vg_usec)1)
VG_EXPORT size_t vg_labels_size(const vg_labels *l);

/* ---- labels across states ----------------------------------------------------------------
 * Every worker or server lane keeps its own labels; a bus hands a label one of them sets
 * to all the others, which see it from their next event on (rules_bus.c). The engine
 * makes its own; a server gives its lanes' runners one (vg_rules_opts.bus). */
typedef struct vg_label_bus vg_label_bus;
VG_EXPORT vg_label_bus *vg_label_bus_new(int states);
VG_EXPORT void vg_label_bus_free(vg_label_bus *b);
/* While held, labels are posted but no state takes them in: a server holds its bus from
 * flushing labels before a reload to the swap, so a label that reaches neither the store
 * the new states read nor their own hand-over waits for them in their inboxes. */
VG_EXPORT void vg_label_bus_hold(vg_label_bus *b, bool hold);
/* Drops every label (kind, id, name) waiting in any inbox: a change made to it elsewhere
 * is newer. */
VG_EXPORT void vg_label_bus_forget(vg_label_bus *b, const char *kind, const char *id,
				   const char *name);
/* Labels not delivered because an inbox was full. */
VG_EXPORT uint64_t vg_label_bus_dropped(const vg_label_bus *b);

/* ---- address and domain sets (the bank signal types ip and domain) --------------------- */
typedef struct vg_ipset vg_ipset;
VG_EXPORT vg_ipset *vg_ipset_new(void);
VG_EXPORT void vg_ipset_free(vg_ipset *s);
/* "192.0.2.1", "192.0.2.0/24", "2001:db8::/32". Errors: VG_EINVAL. */
VG_EXPORT VG_MUST_CHECK int vg_ipset_add(vg_ipset *s, const char *cidr, vg_error *err);
/* Call once after the adds and before lookups; lookups may then run in parallel. */
VG_EXPORT void vg_ipset_seal(vg_ipset *s);
/* True when addr (an address, no prefix) lies in any added range; false for non-addresses. */
VG_EXPORT bool vg_ipset_contains(const vg_ipset *s, const char *addr, size_t len);
/* True when vg_ipset_contains answers false to everything: nothing added, or an add
 * since the last seal. Lets a caller skip parsing values it would look up. */
VG_EXPORT bool vg_ipset_empty(const vg_ipset *s);

typedef struct vg_strset vg_strset;
VG_EXPORT vg_strset *vg_strset_new(void);
VG_EXPORT void vg_strset_free(vg_strset *s);
VG_EXPORT void vg_strset_add(vg_strset *s, const char *v, size_t len);
VG_EXPORT bool vg_strset_contains(const vg_strset *s, const char *v, size_t len);
VG_EXPORT size_t vg_strset_size(const vg_strset *s);
/* True when host (case-insensitive, a trailing dot ignored) or any parent domain of it is
 * in the set (the set holds lower-case domains). */
VG_EXPORT bool vg_strset_contains_domain(const vg_strset *s, const char *host, size_t len);

/* ---- rule sets ----------------------------------------------------------------------------
 * The sources of a rules folder (every *.lua, in name order), checked by compiling them
 * once. Immutable once loaded; shared by the workers, which each compile their own copy
 * into their own Lua state. */
typedef struct vg_ruleset vg_ruleset;

/* Errors: VG_ENOENT (no folder), VG_EINVAL (a file that does not compile or run, a rule
 * defined twice, a bad rule name, no rule at all), with the file and line in err. */
VG_EXPORT VG_MUST_CHECK int vg_ruleset_load_dir(const char *dir, vg_ruleset **ret, vg_error *err);
/* One source, as if it were a file named name. */
VG_EXPORT VG_MUST_CHECK int vg_ruleset_load_string(const char *name, const char *src,
						   size_t len, vg_ruleset **ret, vg_error *err);
VG_EXPORT void vg_ruleset_free(vg_ruleset *rs);
VG_EXPORT size_t vg_ruleset_count(const vg_ruleset *rs);
/* The name of rule i (in definition order) and whether it is shadow. */
VG_EXPORT const char *vg_ruleset_rule_name(const vg_ruleset *rs, size_t i, bool *ret_shadow);
/* The k-th event type rule i is for (its `on`), NULL past the last; NULL at k = 0 when
 * it is for every type. */
VG_EXPORT const char *vg_ruleset_rule_on(const vg_ruleset *rs, size_t i, size_t k);

/* ---- banks for match() --------------------------------------------------------------------
 * Every enabled bank's live signals, read from the store once: PDQ through a vg_bank_index
 * per bank, md5/sha256/text/url exact, domain with subdomains, ip with CIDR ranges.
 * Immutable; shared by the workers. */
typedef struct vg_rules_banks vg_rules_banks;
VG_EXPORT VG_MUST_CHECK int vg_rules_banks_open(vg_store *s, int pdq_threshold,
						vg_rules_banks **ret, vg_error *err);
/* A set reflecting the store now, reading again only the banks changed since old was
 * read (by updated_at); the rest it takes over from old, which stays valid, and must
 * stay alive, while anyone may still read it: free old once every user has moved to the
 * new set. Refreshes and frees of related sets are made by one thread at a time. */
VG_EXPORT VG_MUST_CHECK int vg_rules_banks_refresh(vg_rules_banks *old, vg_store *s,
						   vg_rules_banks **ret, vg_error *err);
VG_EXPORT void vg_rules_banks_free(vg_rules_banks *b);
/* Whether value is in the bank named bank (false for an unknown bank). Thread-safe. */
VG_EXPORT bool vg_rules_banks_match(const vg_rules_banks *b, const char *bank,
				    const char *value, size_t len);

/* ---- the engine ----------------------------------------------------------------------------- */
typedef enum {
	VG_ACTION_ALLOW,
	VG_ACTION_BLOCK,
	VG_ACTION_CHALLENGE,
	VG_ACTION_REVIEW,
	VG_ACTION_REPORT,
	VG_ACTION_COUNT
} vg_action;

VG_EXPORT const char *vg_action_name(vg_action a);
/* -1 for an unknown name. */
VG_EXPORT int vg_action_parse(const char *name);

/* One verdict, borrowed until the callback returns. */
typedef struct vg_verdict {
	const char *rule;
	vg_action action;
	bool shadow;
	const char *reason;
	const char *event; /* the event's line as it came in */
	size_t event_len;
	uint64_t seq; /* the caller's number for the event (vg_rules_engine_push) */
	int worker;
} vg_verdict;

/* Called from worker threads, possibly at the same time: the callee serialises. */
typedef void vg_verdict_fn(const vg_verdict *v, void *ctx);

/* A rule run that failed: it raised an error (msg, borrowed for the call) or, budget
 * true, the budget stopped it. rule is NULL when the event failed before any rule ran
 * (making its table ran out of memory). Called as vg_verdict_fn is, while the event is
 * evaluated. */
typedef void vg_rule_error_fn(const char *rule, bool budget, const char *msg, void *ctx);

typedef struct vg_rules_opts {
	int workers;                /* 1..64; 0: 1 */
	const char *partition_key;  /* top-level field; NULL: "ip", else "user" (its "id"
				     * when an object), else round robin */
	size_t max_event_bytes;     /* 0: VG_RULES_EVENT_MAX */
	uint64_t budget_ms;         /* CPU time per rule per event; 0: 50 */
	size_t max_counter_keys;    /* per worker, and as many sum keys; 0: 1 << 20 */
	size_t max_distinct_keys;   /* per worker; 0: 1 << 16 */
	size_t max_labels;          /* per worker; 0: 1 << 20 */
	const vg_rules_banks *banks; /* NULL: match() is always false */
	const char *store_path;     /* labels persisted here and loaded at start; NULL: none */
	vg_label_bus *bus;          /* runners only: the bus of this one's lane, and its */
	int bus_index;              /* index there; NULL: labels stay in the runner */
	vg_verdict_fn *on_verdict;  /* may be NULL */
	void *ctx;
	vg_rule_error_fn *on_rule_error; /* each rule error and budget stop, in place of
					  * its log line (the first 100 per state); NULL:
					  * logged */
	void *error_ctx;
	int match_ahead;            /* the engine's producer does learnt match() lookups
				     * (rules_engine.c): 0 when it has a core to spare and
				     * the worker is behind, 1 always, -1 never */
} vg_rules_opts;

typedef struct vg_rules_stats {
	uint64_t events;     /* decoded and evaluated */
	uint64_t bad_events; /* lines that did not decode */
	uint64_t rule_errors; /* rule runs that raised an error */
	uint64_t budget_stops; /* rule runs stopped by the budget */
	uint64_t verdicts[VG_ACTION_COUNT];        /* live */
	uint64_t shadow_verdicts[VG_ACTION_COUNT]; /* from shadow rules */
} vg_rules_stats;

typedef struct vg_rules_engine vg_rules_engine;

/* Starts the workers, each with its own Lua state running rs (borrowed; must outlive the
 * engine). Errors: VG_EINVAL (options), VG_EIO (the label store), the ruleset's. */
VG_EXPORT VG_MUST_CHECK int vg_rules_engine_new(const vg_ruleset *rs, const vg_rules_opts *opts,
						vg_rules_engine **ret, vg_error *err);
/* Queues one event line (copied; a line over max_event_bytes is neither copied nor read,
 * only reported). seq is the caller's number for it (a line number), passed back in
 * verdicts and errors. A line that does not decode is counted and reported to on_error
 * (may be NULL) from the worker; it never stops the stream. Blocks while the worker's
 * queue is full. Call from one thread. */
typedef void vg_event_error_fn(uint64_t seq, const char *reason, void *ctx);
VG_EXPORT void vg_rules_engine_push(vg_rules_engine *e, const char *line, size_t len,
				    uint64_t seq);
VG_EXPORT void vg_rules_engine_set_error_fn(vg_rules_engine *e, vg_event_error_fn *fn,
					    void *ctx);
/* Waits until every queued event has been evaluated and labels are written, then sums
 * the workers' statistics. */
VG_EXPORT VG_MUST_CHECK int vg_rules_engine_drain(vg_rules_engine *e, vg_rules_stats *ret,
						  vg_error *err);
/* Drains, stops the workers and frees; NULL is fine. */
VG_EXPORT void vg_rules_engine_free(vg_rules_engine *e);

/* The worker an event with this partition key value goes to (tests use it). */
VG_EXPORT int vg_rules_partition(const char *key, size_t len, int workers);
/* The partition key of a decoded event, as its rules read it (the last of repeated
 * members): the string at top-level member key (else at the path its dots spell, as in
 * "user.id"), or its "id" when that is an object; a number there counts as its decimal
 * text, written to num. key NULL: "ip", else "user" (or its "id"). false when the event
 * has none (it then goes round robin). */
VG_EXPORT bool vg_rules_partition_key(const vg_json_doc *doc, const char *key, char num[32],
				      const char **ret, size_t *ret_len);
/* Logs, once per process, that an event lacked the configured partition key. */
VG_EXPORT void vg_rules_partition_key_missing(const char *key);

/* Runs one event synchronously on a single Lua state (no threads): how `vigil rules test`
 * checks fixtures. Each verdict goes to fn. The state keeps its counters and labels
 * between calls, so a fixture file is one stream. */
typedef struct vg_rules_runner vg_rules_runner;
VG_EXPORT VG_MUST_CHECK int vg_rules_runner_new(const vg_ruleset *rs, const vg_rules_opts *opts,
						vg_rules_runner **ret, vg_error *err);
VG_EXPORT void vg_rules_runner_free(vg_rules_runner *r);
/* Errors: the decoder's for a bad line (nothing ran). Rule errors are counted in stats. */
VG_EXPORT VG_MUST_CHECK int vg_rules_runner_eval(vg_rules_runner *r, const char *line,
						 size_t len, vg_verdict_fn *fn, void *ctx,
						 vg_error *err);
/* Evaluates a line its caller decoded already (into doc, with a string "type"), so a
 * server that decodes to validate and partition does not decode twice. */
VG_EXPORT void vg_rules_runner_eval_doc(vg_rules_runner *r, const vg_json_doc *doc,
					const char *line, size_t len, vg_verdict_fn *fn, void *ctx);
VG_EXPORT void vg_rules_runner_stats(const vg_rules_runner *r, vg_rules_stats *ret);
/* Labels the runner's rules set since the last take (or since it started), moved out of
 * the runner so they can be written to the store without holding whatever lock guards
 * the runner: a server takes them under its lane lock every few seconds and persists
 * them outside it, so a kill -9 loses at most that interval. NULL when there are none or
 * the runner has no store_path. Cost: O(1) under the lock. */
typedef struct vg_rules_label_batch vg_rules_label_batch;
VG_EXPORT vg_rules_label_batch *vg_rules_runner_take_labels(vg_rules_runner *r);
/* A change to one label made elsewhere and already stored (an expiry of VG_LABEL_REMOVED
 * removes it): r's rules see it from their next event, and no label write r kept from
 * before can undo it. */
VG_EXPORT void vg_rules_runner_put_label(vg_rules_runner *r, const char *kind, const char *id,
					 const char *name, vg_usec expires_at);
/* match() reads banks from r's next event on (borrowed: keep it alive while r may use
 * it). Not while r evaluates: the caller's lock that guards r guards this too. */
VG_EXPORT void vg_rules_runner_set_banks(vg_rules_runner *r, const vg_rules_banks *banks);
/* Hands r the labels in b (taken from the runner r replaces), so r's rules see them and
 * r writes them with its own: labels a retired state set since the last write would
 * otherwise reach the store only after the new state had read it. Takes b. */
VG_EXPORT void vg_rules_runner_give_labels(vg_rules_runner *r, vg_rules_label_batch *b);
/* Writes b's labels through s, the calling thread's store (b stays the caller's).
 * Errors: the store's. */
VG_EXPORT VG_MUST_CHECK int vg_rules_label_batch_persist(const vg_rules_label_batch *b,
							 vg_store *s, vg_error *err);
VG_EXPORT size_t vg_rules_label_batch_count(const vg_rules_label_batch *b);
VG_EXPORT void vg_rules_label_batch_free(vg_rules_label_batch *b);
/* Rule i's name (in definition order) with the errors it raised and the times the budget
 * stopped it, so a server can show them per rule; NULL past the last rule. */
VG_EXPORT const char *vg_rules_runner_rule_errors(const vg_rules_runner *r, size_t i,
						  uint64_t *ret_errors, uint64_t *ret_budget_stops);

/* ---- fixtures ------------------------------------------------------------------------------
 * x.test.ndjson beside x.lua: events in order, each with "expect" naming the verdicts it
 * must produce: an action ("block"), a rule's action ("too-many-logins:block"), a list
 * of them, or [] for none; the verdicts must equal the list as a multiset (rules_fixture.c).
 * `vigil rules test` and PUT /v1/rules/{name} both run fixtures here. */
typedef struct vg_rules_fixture_opts {
	const vg_rules_banks *banks; /* borrowed; NULL: match() finds nothing */
	uint64_t budget_ms;          /* as vg_rules_opts */
	size_t max_event_bytes;      /* as vg_rules_opts */
} vg_rules_fixture_opts;

typedef struct vg_rules_fixture_result {
	size_t events;   /* lines run as events */
	size_t failures; /* failures reported */
} vg_rules_fixture_result;

/* One failure: line is the fixture's line number (1-based, blank lines counted; 0 for
 * the fixture as a whole), msg what went wrong, borrowed for the call. Return false to
 * stop at it. */
typedef bool vg_rules_fixture_fail_fn(size_t line, const char *msg, void *ctx);

/* Runs the fixture text (len bytes; a UTF-8 byte order mark at its start is skipped)
 * through rs on one fresh state of its own, with no store and no label bus: nothing a
 * fixture does reaches anything else. Each failure (a line that is not a JSON object, has
 * no valid "expect", does not decode as an event, or gets other verdicts; rule errors
 * and budget stops) goes to fail (may be NULL). Errors, with nothing run: the state's (a
 * file of rs that does not load). */
VG_EXPORT VG_MUST_CHECK int vg_rules_fixture_run(const vg_ruleset *rs, const char *text, size_t len,
						 const vg_rules_fixture_opts *opts,
						 vg_rules_fixture_fail_fn *fail, void *ctx,
						 vg_rules_fixture_result *ret, vg_error *err);

#endif
