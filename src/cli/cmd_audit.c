/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil audit`: check and read the hash-chained audit log (DESIGN.md invariant 4:
 * every action is auditable). `verify` recomputes the whole chain and fails loudly on any
 * edit, deletion, reordering or cut tail, naming the first entry that breaks; `list`
 * pages through the entries. Read-only: neither subcommand writes to the log, and
 * neither creates a database where none is (a mistyped path must not read "ok: 0
 * entries"); an older vigil database is migrated, as every command does.
 *
 * Exit status: 0 the chain holds / listed; 1 the chain is broken or the database failed;
 * 2 a usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "store/store.h"

#define PAGE 1000 /* entries read per query while listing */

typedef struct opts {
	const char *db;
	long long after, limit; /* limit 0: all */
	bool json;
} opts;

/* Microseconds kept: two entries of one second stay in order for people too. */
#define ISO_MAX 48

static void iso_time(vg_usec t, char out[ISO_MAX])
{
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char base[32];
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, ISO_MAX, "%s.%06dZ", base, (int)(t % 1000000));
}

static int do_verify(vg_store *s, const opts *o)
{
	vg_error err = {0};
	size_t count = 0;
	int64_t bad = 0;
	int rc = vg_store_audit_verify(s, &count, &bad, &err);
	if (rc == 0) {
		if (o->json)
			vg_cli_print_json(
				json_pack("{s:b, s:I}", "ok", 1, "entries", (json_int_t)count));
		else
			printf("ok: %zu entries\n", count);
		return VG_EXIT_OK;
	}
	if (rc == VG_ECORRUPT) {
		/* Loud on purpose: someone changed the record of what vigil did. */
		fprintf(stderr, "vigil audit verify: chain broken: %s\n", err.msg);
		if (o->json)
			vg_cli_print_json(json_pack("{s:b, s:I, s:s}", "ok", 0, "bad_id",
						    (json_int_t)bad, "error", err.msg));
		return VG_EXIT_FAIL;
	}
	fprintf(stderr, "vigil audit verify: %s\n", err.msg);
	return VG_EXIT_FAIL;
}

/* A JSON string of s even when s is not valid UTF-8 (an entry written by an older
 * version or by hand): bad bytes become U+FFFD rather than the whole line going
 * missing, since json_pack gives NULL for such a string. */
static json_t *text(const char *s)
{
	json_t *j = json_string(s ? s : "");
	if (j)
		return j;
	size_t n = strlen(s), cap = 6 * n + 3;
	char *q = malloc(cap);
	if (q) {
		vg_json_quote(s, n, q, cap);
		j = json_loads(q, JSON_DECODE_ANY, NULL);
		free(q);
	}
	return j ? j : json_string("");
}

static void print_entry(const vg_store_audit *a, bool json)
{
	char at[ISO_MAX];
	iso_time(a->at, at);
	if (!json) {
		printf("%-6lld %s  %-16s %-20s %s %s %s\n", (long long)a->id, at, a->actor, a->action,
		       *a->object_type ? a->object_type : "-", *a->object_id ? a->object_id : "-",
		       a->detail);
		return;
	}
	/* The detail goes out as the object it is; text that does not parse (an entry
	 * written by hand) goes out as a string rather than breaking the line. */
	json_t *detail = json_loads(a->detail, JSON_REJECT_DUPLICATES, NULL);
	if (!detail)
		detail = text(a->detail);
	/* detail_text is the text the hash covers, as stored: the object above is parsed
	 * and written again, which need not give the same bytes back. */
	vg_cli_print_json(json_pack("{s:I, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
				    "id", (json_int_t)a->id, "at", at, "at_usec", (json_int_t)a->at,
				    "actor", text(a->actor), "action", text(a->action),
				    "object_type", text(a->object_type), "object_id",
				    text(a->object_id), "detail", detail, "detail_text",
				    text(a->detail), "prev_hash", text(a->prev_hash), "hash",
				    text(a->hash)));
}

static int do_list(vg_store *s, const opts *o)
{
	vg_error err;
	int64_t after = o->after;
	size_t left = (size_t)o->limit; /* 0: no limit */
	bool header = !o->json;
	for (;;) {
		size_t want = left && left < PAGE ? left : PAGE;
		vg_store_audit *a;
		size_t n;
		if (vg_store_audit_list(s, after, want, &a, &n, &err) != 0) {
			fprintf(stderr, "vigil audit list: %s\n", err.msg);
			return VG_EXIT_FAIL;
		}
		if (header && n) {
			printf("%-6s %-27s  %-16s %-20s %s\n", "ID", "AT", "ACTOR", "ACTION",
			       "OBJECT DETAIL");
			header = false;
		}
		for (size_t i = 0; i < n; i++)
			print_entry(&a[i], o->json);
		if (n)
			after = a[n - 1].id;
		vg_store_audit_list_free(a, n);
		if (left) {
			left -= n;
			if (left == 0)
				break;
		}
		if (n < want)
			break;
	}
	return VG_EXIT_OK;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	opts o = {0};
	bool paged = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': o.db = optarg; break;
		case 'J': o.json = true; break;
		case 'a':
			if (!vg_cli_parse_int(optarg, 0, INT64_MAX, &o.after))
				return vg_cli_usage_error("audit", "--after takes an entry id (0 or more)");
			paged = true;
			break;
		case 'l':
			if (!vg_cli_parse_int(optarg, 1, INT64_MAX, &o.limit))
				return vg_cli_usage_error("audit", "--limit takes a positive number");
			paged = true;
			break;
		case 'h': fputs(vg_cmd_audit.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("audit", c, argv);
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error("audit", "no subcommand given");
	const char *sub = argv[optind];
	bool verify = strcmp(sub, "verify") == 0;
	if (!verify && strcmp(sub, "list") != 0)
		return vg_cli_usage_error("audit", "unknown subcommand '%s'", sub);
	if (argc - optind - 1 > 0)
		return vg_cli_usage_error("audit", "%s takes no arguments", sub);
	if (verify && paged)
		return vg_cli_usage_error("audit", "verify always walks the whole log");

	vg_store *s;
	int status = vg_cli_store_open("audit", sub, o.db, false, &s);
	if (status)
		return status;
	status = verify ? do_verify(s, &o) : do_list(s, &o);
	return vg_cli_store_done("audit", sub, s, status);
}

const vg_cmd vg_cmd_audit = {
	.name = "audit",
	.summary = "verify and read the audit log",
	.help = "usage: vigil audit SUBCOMMAND [OPTIONS]\n"
		"\n"
		"Every decision and action vigil takes appends an entry to a hash-chained log:\n"
		"each entry's SHA-256 covers its fields and the entry before it.\n"
		"\n"
		"subcommands:\n"
		"  verify    recompute the whole chain; prints `ok: N entries`, or names the\n"
		"            first entry that was edited, removed, reordered or cut off (on\n"
		"            standard error) and exits 1\n"
		"  list      the entries in order: id, time (UTC), actor, action, object, detail\n"
		"\n"
		"options:\n"
		"  --db PATH     the database (default: $VIGIL_DB, else the db of the file\n"
		"                $VIGIL_CONFIG names, else ./vigil.db); a missing file, or one\n"
		"                without vigil's schema, is an error (exit 1): nothing is created\n"
		"  --json        one JSON object per line, with at_usec and detail_text: what\n"
		"                each entry's hash covers, as stored (docs/openapi.yaml,\n"
		"                GET /v1/audit, says how to recompute it)\n"
		"  --after ID    list: only entries after entry ID\n"
		"  --limit N     list: at most N entries\n"
		"\n"
		"Exit status: 0 the chain holds (verify) or listed (list), 1 the chain is\n"
		"broken or the database failed, 2 usage.\n",
	.run = run,
};
