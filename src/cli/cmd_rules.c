/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil rules check DIR` compiles a rules folder the way the engine will and lists its
 * rules; `vigil rules test DIR` runs each rules file's fixtures: next to x.lua, the events
 * of x.test.ndjson, each with an "expect" field naming the verdicts it must produce
 * (["block"], ["too-many-logins:block"], or [] for none). Each file is tested alone, on
 * one fresh state, with the fixture's events in order, so counters and labels carry from
 * one fixture line to the next; "ts" fields make time move.
 *
 * A fixture passes when the verdicts equal the expectations as a multiset: each expected
 * item takes one verdict of that action (from that rule, for rule:action), and no verdict
 * is left over. Any mismatch is reported with file, line, wanted and got; exit 1.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rules/rules.h"

#define FIXTURE_MAX ((size_t)64 << 20)
#define GOT_MAX 64

typedef struct got {
	char rule[VG_RULES_NAME_MAX + 1];
	vg_action action;
	bool used;
} got;

typedef struct gotv {
	got v[GOT_MAX];
	size_t n;
	bool overflow;
} gotv;

static void collect(const vg_verdict *v, void *ctx)
{
	gotv *g = ctx;
	if (g->n == GOT_MAX) {
		g->overflow = true;
		return;
	}
	got *x = &g->v[g->n++];
	snprintf(x->rule, sizeof(x->rule), "%s", v->rule);
	x->action = v->action;
	x->used = false;
}

static int cmd_check(const char *dir)
{
	vg_ruleset *rs;
	vg_error err;
	if (vg_ruleset_load_dir(dir, &rs, &err) != 0) {
		fprintf(stderr, "vigil rules check: %s\n", err.msg);
		return VG_EXIT_FAIL;
	}
	size_t n = vg_ruleset_count(rs);
	for (size_t i = 0; i < n; i++) {
		bool shadow;
		fputs(vg_ruleset_rule_name(rs, i, &shadow), stdout);
		/* "name (on login, signup; shadow)": what the engine will do with it. */
		const char *type;
		bool open = false;
		for (size_t k = 0; (type = vg_ruleset_rule_on(rs, i, k)); k++) {
			fputs(k ? ", " : " (on ", stdout);
			fputs(type, stdout);
			open = true;
		}
		if (shadow)
			fputs(open ? "; shadow" : " (shadow", stdout);
		puts(open || shadow ? ")" : "");
	}
	printf("ok: %zu rule%s in %s\n", n, n == 1 ? "" : "s", dir);
	vg_ruleset_free(rs);
	return VG_EXIT_OK;
}

/* Appends "a, b, c" of the got list to out. */
static void describe_got(const gotv *g, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < g->n && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s:%s", i ? ", " : "", g->v[i].rule,
				      vg_action_name(g->v[i].action));
	if (g->n == 0)
		snprintf(out, cap, "nothing");
}

/* Checks one fixture line's expectations against g. Returns true when they match. */
static bool check_expect(json_t *expect, gotv *g, char *why, size_t cap)
{
	size_t n = json_array_size(expect);
	for (size_t i = 0; i < n; i++) {
		const char *want = json_string_value(json_array_get(expect, i));
		char rule[VG_RULES_NAME_MAX + 1] = "";
		const char *act = want;
		const char *colon = strrchr(want, ':');
		if (colon) {
			snprintf(rule, sizeof(rule), "%.*s", (int)(colon - want), want);
			act = colon + 1;
		}
		int a = vg_action_parse(act);
		bool found = false;
		for (size_t k = 0; k < g->n && !found; k++) {
			got *x = &g->v[k];
			if (!x->used && (int)x->action == a && (!colon || strcmp(x->rule, rule) == 0))
				x->used = found = true;
		}
		if (!found) {
			snprintf(why, cap, "expected %s", want);
			return false;
		}
	}
	for (size_t k = 0; k < g->n; k++)
		if (!g->v[k].used) {
			snprintf(why, cap, "unexpected %s:%s", g->v[k].rule,
				 vg_action_name(g->v[k].action));
			return false;
		}
	return true;
}

/* Normalises an "expect" value to an array of valid strings; NULL with why on error. */
static json_t *expect_list(json_t *ev, char *why, size_t cap)
{
	json_t *e = json_object_get(ev, "expect");
	if (!e) {
		snprintf(why, cap, "no \"expect\" field");
		return NULL;
	}
	json_t *arr = json_is_string(e) ? json_pack("[O]", e) : json_incref(e);
	if (!json_is_array(arr)) {
		json_decref(arr);
		snprintf(why, cap, "\"expect\" must be a string or an array of strings");
		return NULL;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		const char *colon = s ? strrchr(s, ':') : NULL;
		if (!s || vg_action_parse(colon ? colon + 1 : s) < 0) {
			snprintf(why, cap, "\"expect\" item %zu is not an action or rule:action", i + 1);
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* Runs one x.lua with its x.test.ndjson. Adds to *ret_events and *ret_failures. */
static int test_file(const char *dir, const char *lua, const vg_rules_banks *banks,
		     size_t *ret_events, size_t *ret_failures)
{
	char path[4096], fixture[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, lua);
	snprintf(fixture, sizeof(fixture), "%s/%.*s.test.ndjson", dir, (int)(strlen(lua) - 4), lua);
	uint8_t *src, *fx;
	size_t srclen, fxlen;
	vg_error err;
	if (vg_file_read(fixture, FIXTURE_MAX, &fx, &fxlen, &err) != 0)
		return 0; /* no fixture: nothing to test */
	if (vg_file_read(path, FIXTURE_MAX, &src, &srclen, &err) != 0) {
		free(fx);
		fprintf(stderr, "%s: %s\n", path, err.msg);
		(*ret_failures)++;
		return -1;
	}
	vg_ruleset *rs = NULL;
	vg_rules_runner *r = NULL;
	vg_rules_opts opts = {.workers = 1, .banks = banks};
	int rc = vg_ruleset_load_string(lua, (const char *)src, srclen, &rs, &err);
	if (rc == 0)
		rc = vg_rules_runner_new(rs, &opts, &r, &err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		(*ret_failures)++;
		goto out;
	}
	size_t failures = 0, events = 0;
	const char *p = (const char *)fx, *end = p + fxlen;
	p += vg_utf8_bom(p, fxlen);
	for (size_t lineno = 1; p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *line = p;
		p = nl ? nl + 1 : end;
		size_t k = 0;
		while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
			k++;
		if (k == len)
			continue;
		char why[512];
		json_error_t jerr;
		json_t *ev = json_loadb(line, len, 0, &jerr);
		json_t *expect = ev ? expect_list(ev, why, sizeof(why)) : NULL;
		if (!ev)
			snprintf(why, sizeof(why), "not JSON: %s", jerr.text);
		if (!expect) {
			fprintf(stderr, "FAIL %s:%zu: %s\n", fixture, lineno, why);
			failures++;
			json_decref(ev);
			continue;
		}
		gotv g = {0};
		events++;
		if (vg_rules_runner_eval(r, line, len, collect, &g, &err) != 0) {
			fprintf(stderr, "FAIL %s:%zu: bad event: %s\n", fixture, lineno, err.msg);
			failures++;
		} else if (g.overflow || !check_expect(expect, &g, why, sizeof(why))) {
			char desc[1024];
			describe_got(&g, desc, sizeof(desc));
			char *want = json_dumps(expect, JSON_COMPACT);
			fprintf(stderr, "FAIL %s:%zu: %s: wanted %s, got %s\n", fixture, lineno,
				g.overflow ? "too many verdicts" : why, want ? want : "?", desc);
			free(want);
			failures++;
		}
		json_decref(expect);
		json_decref(ev);
	}
	vg_rules_stats st;
	vg_rules_runner_stats(r, &st);
	if (st.rule_errors || st.budget_stops) {
		fprintf(stderr, "FAIL %s: %llu rule errors, %llu budget stops\n", fixture,
			(unsigned long long)st.rule_errors, (unsigned long long)st.budget_stops);
		failures++;
	}
	printf("%s %s: %zu events\n", failures ? "FAIL" : "ok  ", lua, events);
	*ret_events += events;
	*ret_failures += failures;
out:
	vg_rules_runner_free(r);
	vg_ruleset_free(rs);
	free(src);
	free(fx);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The banks of the database at db for match(), or NULL without one. */
static int open_banks(const char *db, vg_rules_banks **ret)
{
	*ret = NULL;
	if (!db)
		return 0;
	vg_store *s;
	vg_error err;
	int rc = vg_store_open(db, &s, &err);
	if (rc == 0) {
		rc = vg_rules_banks_open(s, 31, ret, &err); /* as vigil replay */
		vg_store_close(s);
	}
	if (rc)
		fprintf(stderr, "vigil rules test: %s\n", err.msg);
	return rc;
}

static int cmd_test(const char *dir, const char *db)
{
	/* The whole folder must compile first: a fixture run of a broken folder would
	 * pass files that cannot load together. */
	vg_ruleset *rs;
	vg_error err;
	if (vg_ruleset_load_dir(dir, &rs, &err) != 0) {
		fprintf(stderr, "vigil rules test: %s\n", err.msg);
		return VG_EXIT_FAIL;
	}
	vg_ruleset_free(rs);
	vg_rules_banks *banks;
	if (open_banks(db, &banks) != 0)
		return VG_EXIT_FAIL;
	vg_strv files = {0};
	char *args[] = {(char *)dir};
	if (vg_cli_collect_files(args, 1, &files) != 0) {
		vg_strv_free(&files);
		return VG_EXIT_FAIL;
	}
	char **luas = vg_xcalloc(files.n ? files.n : 1, sizeof(char *));
	size_t nl = 0, dl = strlen(dir);
	for (size_t i = 0; i < files.n; i++) {
		const char *f = files.items[i];
		size_t l = strlen(f);
		/* Files directly in dir only, as the engine loads them. */
		const char *base = f + dl + (f[dl] == '/');
		if (l > 4 && strcmp(f + l - 4, ".lua") == 0 && !strchr(base, '/') && base[0] != '.')
			luas[nl++] = vg_xstrdup(base);
	}
	qsort(luas, nl, sizeof(*luas), cmp_str);
	size_t events = 0, failures = 0, tested = 0;
	for (size_t i = 0; i < nl; i++) {
		size_t before = events + failures;
		(void)test_file(dir, luas[i], banks, &events, &failures);
		if (events + failures != before)
			tested++;
		free(luas[i]);
	}
	free(luas);
	vg_strv_free(&files);
	vg_rules_banks_free(banks);
	printf("%zu file%s with fixtures, %zu events, %zu failure%s\n", tested,
	       tested == 1 ? "" : "s", events, failures, failures == 1 ? "" : "s");
	if (tested == 0)
		fprintf(stderr, "vigil rules test: no x.test.ndjson next to any x.lua in %s\n", dir);
	return failures ? VG_EXIT_FAIL : VG_EXIT_OK;
}

static int run(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(vg_cmd_rules.help, stdout);
		return VG_EXIT_OK;
	}
	const char *db = NULL;
	if (argc == 5 && strcmp(argv[1], "test") == 0 && strcmp(argv[3], "--db") == 0)
		db = argv[4];
	else if (argc != 3)
		return vg_cli_usage_error("rules", "use `vigil rules check DIR` or "
						   "`vigil rules test DIR [--db PATH]`");
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argv[2]);
	if (strcmp(argv[1], "test") == 0)
		return cmd_test(argv[2], db);
	return vg_cli_usage_error("rules", "unknown subcommand '%s'", argv[1]);
}

const vg_cmd vg_cmd_rules = {
	.name = "rules",
	.summary = "check a rules folder and run its fixtures",
	.help =
		"usage: vigil rules check DIR\n"
		"       vigil rules test DIR [--db PATH]\n"
		"\n"
		"check  compiles every *.lua in DIR in the sandbox the engine uses and lists\n"
		"       the rules it defines, with the event types each is for (`on`) and\n"
		"       whether it is shadow.\n"
		"test   for each x.lua with an x.test.ndjson beside it, runs the fixture's\n"
		"       events in order through x.lua alone. Each event carries \"expect\": an\n"
		"       action (\"block\"), a rule's action (\"too-many-logins:block\"), a list\n"
		"       of them, or [] for no verdict. The verdicts must equal the list.\n"
		"       Rule errors and budget stops fail the file too. With --db, match()\n"
		"       looks in that database's banks (read once; labels are not written).\n"
		"\n"
		"See docs/rules.md for the rule language.\n"
		"\n"
		"Exit status: 0 valid / all fixtures pass, 1 an error or a mismatch, 2 usage.\n",
	.run = run,
};
