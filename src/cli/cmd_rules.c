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
 * is left over. Any mismatch is reported with file, line, wanted and got; exit 1. The
 * runner is the rules folder's (vg_rules_fixture_run), the one PUT /v1/rules/{name} uses,
 * so a fixture passes here exactly when it passes there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rules/rules.h"

#define FIXTURE_MAX ((size_t)64 << 20)

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

static bool print_failure(size_t line, const char *msg, void *ctx)
{
	const char *fixture = ctx;
	if (line)
		fprintf(stderr, "FAIL %s:%zu: %s\n", fixture, line, msg);
	else
		fprintf(stderr, "FAIL %s: %s\n", fixture, msg);
	return true;
}

/* Runs one x.lua with its x.test.ndjson. Adds to *ret_events and *ret_failures; answers
 * whether there was a fixture to run (one that cannot be read is a failure, not none). */
static bool test_file(const char *dir, const char *lua, const vg_rules_banks *banks,
		      size_t *ret_events, size_t *ret_failures)
{
	char path[4096], fixture[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, lua);
	snprintf(fixture, sizeof(fixture), "%s/%.*s.test.ndjson", dir, (int)(strlen(lua) - 4), lua);
	uint8_t *src = NULL, *fx;
	size_t srclen, fxlen;
	vg_error err;
	if (vg_file_read(fixture, FIXTURE_MAX, &fx, &fxlen, &err) != 0) {
		if (err.code == VG_ENOENT)
			return false; /* no fixture: nothing to test */
		fprintf(stderr, "FAIL %s: %s\n", fixture, err.msg);
		(*ret_failures)++;
		return true;
	}
	vg_ruleset *rs = NULL;
	vg_rules_fixture_result res;
	vg_rules_fixture_opts opts = {.banks = banks};
	int rc = vg_file_read(path, FIXTURE_MAX, &src, &srclen, &err);
	if (rc == 0)
		rc = vg_ruleset_load_string(lua, (const char *)src, srclen, &rs, &err);
	if (rc == 0)
		rc = vg_rules_fixture_run(rs, (const char *)fx, fxlen, &opts, print_failure, fixture,
					  &res, &err);
	if (rc) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		(*ret_failures)++;
	} else {
		printf("%s %s: %zu events\n", res.failures ? "FAIL" : "ok  ", lua, res.events);
		*ret_events += res.events;
		*ret_failures += res.failures;
	}
	vg_ruleset_free(rs);
	free(src);
	free(fx);
	return true;
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
	int rc = vg_store_open_existing(db, &s, &err);
	if (rc) {
		fprintf(stderr, "vigil rules test: %s: %s\n", db, err.msg);
		return rc;
	}
	rc = vg_rules_banks_open(s, 31, ret, &err); /* as vigil replay */
	vg_store_close(s);
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
	if (vg_cli_collect_files(args, 1, false, &files) != 0) {
		vg_strv_free(&files);
		return VG_EXIT_FAIL;
	}
	char **luas = vg_xcalloc(files.n ? files.n : 1, sizeof(char *));
	size_t nl = 0, dl = strlen(dir), events = 0, failures = 0, tested = 0;
	for (size_t i = 0; i < files.n; i++) {
		const char *f = files.items[i];
		size_t l = strlen(f);
		/* Files directly in dir only, as the engine loads them. */
		const char *base = f + dl + (f[dl] == '/');
		if (l > 4 && strcmp(f + l - 4, ".lua") == 0 && !strchr(base, '/') && base[0] != '.')
			luas[nl++] = vg_xstrdup(base);
	}
	qsort(luas, nl, sizeof(*luas), cmp_str);
	/* A fixture no x.lua is beside tests nothing, however it fails: a misnamed one
	 * (login.test.ndjson beside logins.lua) would otherwise pass unseen. */
	for (size_t i = 0; i < files.n; i++) {
		const char *f = files.items[i], *base = f + dl + (f[dl] == '/');
		size_t bl = strlen(base), sl = strlen(".test.ndjson");
		if (strchr(base, '/') || bl <= sl || strcmp(base + bl - sl, ".test.ndjson") != 0)
			continue;
		char lua[4096];
		snprintf(lua, sizeof(lua), "%.*s.lua", (int)(bl - sl), base);
		const char *key = lua;
		if (!bsearch(&key, luas, nl, sizeof(*luas), cmp_str)) {
			fprintf(stderr, "FAIL %s: no %s beside it to test\n", f, lua);
			failures++;
		}
	}
	for (size_t i = 0; i < nl; i++) {
		tested += test_file(dir, luas[i], banks, &events, &failures);
		free(luas[i]);
	}
	free(luas);
	vg_strv_free(&files);
	vg_rules_banks_free(banks);
	printf("%zu file%s with fixtures, %zu events, %zu failure%s\n", tested,
	       tested == 1 ? "" : "s", events, failures, failures == 1 ? "" : "s");
	if (tested == 0 || (events == 0 && failures == 0)) {
		fprintf(stderr, "vigil rules test: %s in %s: nothing was tested\n",
			tested ? "the fixtures hold no events" : "no x.test.ndjson next to any x.lua", dir);
		return VG_EXIT_FAIL;
	}
	return failures ? VG_EXIT_FAIL : VG_EXIT_OK;
}

static int run(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(vg_cmd_rules.help, stdout);
		return VG_EXIT_OK;
	}
	const char *db = NULL;
	/* `test --db PATH DIR` as well as `test DIR --db PATH`, as getopt would take it. */
	bool test = argc == 5 && strcmp(argv[1], "test") == 0;
	if (test && strcmp(argv[2], "--db") == 0) {
		db = argv[3];
		argv[2] = argv[4];
	} else if (test && strcmp(argv[3], "--db") == 0) {
		db = argv[4];
	} else if (argc != 3) {
		return vg_cli_usage_error("rules", "use `vigil rules check DIR` or "
						   "`vigil rules test DIR [--db PATH]`");
	}
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
		"       A rule error or budget stop fails its line too. With --db, match()\n"
		"       looks in that database's banks (read once; labels are not written;\n"
		"       it must exist). A fixture with no .lua beside it, or one that cannot\n"
		"       be read, fails; so does a folder where no fixture ran an event.\n"
		"\n"
		"See docs/rules.md for the rule language.\n"
		"\n"
		"Exit status: 0 valid / all fixtures pass, 1 an error, a failure or nothing\n"
		"tested, 2 usage.\n",
	.run = run,
};
