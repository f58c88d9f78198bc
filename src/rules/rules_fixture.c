/* SPDX-License-Identifier: Apache-2.0
 *
 * Fixtures: how a rules file is tested, by `vigil rules test` and by PUT /v1/rules/{name}
 * alike, so the two never disagree on what passes. x.test.ndjson holds events in order,
 * each with "expect": an action ("block"), a rule's action ("too-many-logins:block"), a
 * list of them, or [] for none. An event's verdicts must equal its list as a multiset:
 * each item takes one verdict of its action (from its rule, for rule:action), and no
 * verdict is left over.
 *
 * Invariants: a fixture runs on one fresh state of its own with no store and no label
 * bus, so nothing it does (its labels above all) reaches a live state or a database; it
 * only reads the banks it is given. Each line is bounded as a live event is (the
 * decoder's caps, max_event_bytes); a bad line is a failure with its number, never a
 * crash, and the lines after it still run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define GOT_MAX 64 /* verdicts one event may give: 8 per rule, so a few rules' worth */

typedef struct got {
	char rule[VG_RULES_NAME_MAX + 1];
	vg_action action;
	bool used;
} got;

typedef struct fixture {
	vg_rules_fixture_fail_fn *fail;
	void *ctx;
	size_t line;
	bool stop;
	size_t failures;
	got v[GOT_MAX];
	size_t n;
	bool overflow;
} fixture;

static void failed(fixture *f, const char *fmt, ...) VG_PRINTF(2, 3);
static void failed(fixture *f, const char *fmt, ...)
{
	if (f->stop)
		return; /* a rule failing after the caller said stop */
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	f->failures++;
	if (f->fail && !f->fail(f->line, msg, f->ctx))
		f->stop = true;
}

/* A rule error or budget stop fails the line it came on, with what the rule hit: a count
 * of them for the whole file would leave the author to find the line. */
static void rule_failed(const char *rule, bool budget, const char *msg, void *ctx)
{
	/* A stop raises wherever the rule was ("runner:24: budget of ..."): that place
	 * means nothing to the author, the rule's name does. */
	const char *b = budget ? strstr(msg, "budget of") : NULL;
	failed(ctx, "rule %s: %s", rule ? rule : "(none ran)", b ? b : msg);
}

static void collect(const vg_verdict *v, void *ctx)
{
	fixture *f = ctx;
	if (f->n == GOT_MAX) {
		f->overflow = true;
		return;
	}
	got *g = &f->v[f->n++];
	snprintf(g->rule, sizeof(g->rule), "%s", v->rule);
	g->action = v->action;
	g->used = false;
}

/* The node of the event's "expect" (the last, when repeated), or 0 for none. */
static uint32_t find_expect(const vg_json_doc *doc)
{
	uint32_t found = 0, j = 1;
	for (uint32_t k = 0; k < doc->nodes[0].len; k++) {
		const vg_json_node *key = &doc->nodes[j];
		if (key->len == 6 && memcmp(key->v.str, "expect", 6) == 0)
			found = j + 1;
		j = doc->nodes[j + 1].next;
	}
	return found;
}

/* The expect list's items, [*ret_first, *ret_end) stepping by each node's next: the
 * value itself when it is a string, else its elements. */
static void items(const vg_json_doc *doc, uint32_t e, uint32_t *ret_first, uint32_t *ret_end)
{
	bool one = doc->nodes[e].type == VG_JSON_STRING;
	*ret_first = one ? e : e + 1;
	*ret_end = doc->nodes[e].next;
}

/* Checks the shape of the expect value at e; false with why when it is wrong. */
static bool expect_ok(const vg_json_doc *doc, uint32_t e, char *why, size_t cap)
{
	if (!e) {
		snprintf(why, cap, "no \"expect\" field");
		return false;
	}
	if (doc->nodes[e].type != VG_JSON_STRING && doc->nodes[e].type != VG_JSON_ARRAY) {
		snprintf(why, cap, "\"expect\" must be a string or an array of strings");
		return false;
	}
	uint32_t n = 1, i, end;
	for (items(doc, e, &i, &end); i < end; i = doc->nodes[i].next, n++) {
		const vg_json_node *s = &doc->nodes[i];
		const char *colon = s->type == VG_JSON_STRING ? strrchr(s->v.str, ':') : NULL;
		if (s->type != VG_JSON_STRING ||
		    vg_action_parse(colon ? colon + 1 : s->v.str) < 0) {
			snprintf(why, cap, "\"expect\" item %u is not an action or rule:action", n);
			return false;
		}
	}
	return true;
}

/* Whether the verdicts in f equal the expect list at e as a multiset; why otherwise. */
static bool expect_met(const vg_json_doc *doc, uint32_t e, fixture *f, char *why, size_t cap)
{
	if (f->overflow) {
		snprintf(why, cap, "over %d verdicts", GOT_MAX);
		return false;
	}
	/* The rule:action items first, then the bare actions: a bare "block" taking the
	 * x:block verdict that a later "x:block" item needs failed ["block", "x:block"]
	 * against x:block, y:block while ["x:block", "block"] passed. A bare item fits any
	 * verdict of its action, so once every qualified item has its own, any order works. */
	uint32_t i, end;
	for (int pass = 0; pass < 2; pass++)
		for (items(doc, e, &i, &end); i < end; i = doc->nodes[i].next) {
			const char *want = doc->nodes[i].v.str;
			const char *colon = strrchr(want, ':');
			if ((colon != NULL) != (pass == 0))
				continue;
			int a = vg_action_parse(colon ? colon + 1 : want);
			size_t rl = colon ? (size_t)(colon - want) : 0;
			bool found = false;
			for (size_t k = 0; k < f->n && !found; k++) {
				got *g = &f->v[k];
				if (!g->used && (int)g->action == a &&
				    (!colon ||
				     (strlen(g->rule) == rl && memcmp(g->rule, want, rl) == 0)))
					g->used = found = true;
			}
			if (!found) {
				snprintf(why, cap, "expected %s", want);
				return false;
			}
		}
	for (size_t k = 0; k < f->n; k++)
		if (!f->v[k].used) {
			snprintf(why, cap, "unexpected %s:%s", f->v[k].rule,
				 vg_action_name(f->v[k].action));
			return false;
		}
	return true;
}

/* "wanted [\"a\", \"r:b\"], got r:a, x:b" (or "got nothing"), cut to fit. */
static void describe(const vg_json_doc *doc, uint32_t e, const fixture *f, char *out, size_t cap)
{
	size_t o = (size_t)snprintf(out, cap, "wanted [");
	uint32_t first, i, end;
	items(doc, e, &first, &end);
	for (i = first; i < end && o < cap; i = doc->nodes[i].next) {
		char q[VG_RULES_NAME_MAX * 2];
		vg_json_quote(doc->nodes[i].v.str, doc->nodes[i].len, q, sizeof(q));
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i == first ? "" : ", ", q);
	}
	if (o < cap)
		o += (size_t)snprintf(out + o, cap - o, "], got %s", f->n ? "" : "nothing");
	for (size_t k = 0; k < f->n && o < cap; k++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s:%s", k ? ", " : "", f->v[k].rule,
				      vg_action_name(f->v[k].action));
}

int vg_rules_fixture_run(const vg_ruleset *rs, const char *text, size_t len,
			 const vg_rules_fixture_opts *opts, vg_rules_fixture_fail_fn *fail,
			 void *ctx, vg_rules_fixture_result *ret, vg_error *err)
{
	/* Spelt out rather than copied from a caller's options: a fixture shares nothing
	 * live but the banks. */
	fixture *f = vg_xcalloc(1, sizeof(*f));
	f->fail = fail;
	f->ctx = ctx;
	vg_rules_opts o = {
		.workers = 1,
		.max_event_bytes = opts->max_event_bytes,
		.budget_ms = opts->budget_ms,
		.banks = opts->banks,
		.on_rule_error = rule_failed,
		.error_ctx = f,
	};
	vg_rules_runner *r = NULL;
	int rc = vg_rules_runner_new(rs, &o, &r, err);
	if (rc) {
		free(f);
		return rc;
	}
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	size_t events = 0;
	const char *p = text, *end = text + len;
	p += vg_utf8_bom(p, len);
	for (size_t lineno = 1; p < end && !f->stop; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		size_t k = 0;
		while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
			k++;
		if (k == n)
			continue; /* not an event, but its number counts */
		f->line = lineno;
		char why[300];
		vg_error lerr;
		if (vg_json_decode(&doc, line, n, &lerr) != 0) {
			failed(f, "not a JSON object: %s", lerr.msg);
			continue;
		}
		uint32_t e = find_expect(&doc);
		if (!expect_ok(&doc, e, why, sizeof(why))) {
			failed(f, "%s", why);
			continue;
		}
		f->n = 0;
		f->overflow = false;
		events++;
		if (vg_rules_runner_eval(r, line, n, collect, f, &lerr) != 0) {
			failed(f, "bad event: %s", lerr.msg);
			continue;
		}
		if (!expect_met(&doc, e, f, why, sizeof(why))) {
			char desc[700];
			describe(&doc, e, f, desc, sizeof(desc));
			failed(f, "%s: %s", why, desc);
		}
	}
	*ret = (vg_rules_fixture_result){.events = events, .failures = f->failures};
	vg_json_doc_done(&doc);
	vg_rules_runner_free(r);
	free(f);
	return 0;
}
