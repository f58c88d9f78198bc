/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil audit`: check and read the hash-chained audit log (DESIGN.md invariant 4:
 * every action is auditable). `verify` recomputes the whole chain and fails loudly on any
 * edit, deletion, reordering or cut tail, naming the first entry that breaks; `list`
 * pages through the entries; `head` prints the last entry's id and hash.
 *
 * What the chain alone cannot show: the hash is unkeyed and its recipe is public, so
 * whoever can write the database can edit an entry and recompute every later hash (and
 * the recorded head), and verify then holds. Only a hash kept outside the database
 * anchors it: `head` prints one to keep elsewhere (a ticket, another host, a printout),
 * and `verify --expect ID:HASH` fails unless entry ID still has that hash, which no
 * rewrite of ID or anything before it can keep. Entries after the last anchor are only
 * as safe as the database.
 *
 * Read-only: no subcommand writes to the log, and none creates a database where none is
 * (a mistyped path must not read "ok: 0 entries"); an older vigil database is migrated,
 * as every command does.
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
	long long expect_id; /* verify --expect: 0 none */
	char expect_hash[65];
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

/* The anchor: the chain holds already, so entry id's stored hash is its recomputed one;
 * it must be the hash kept outside the database. */
static int check_anchor(vg_store *s, const opts *o, vg_error *err)
{
	vg_store_audit *a = NULL;
	size_t n = 0;
	int rc = vg_store_audit_list(s, o->expect_id - 1, 1, &a, &n, err);
	if (rc)
		return rc;
	if (n == 0 || a[0].id != o->expect_id)
		rc = vg_error_set(err, VG_ECORRUPT, "entry %lld is gone, but --expect names it",
				  o->expect_id);
	else if (strcmp(a[0].hash, o->expect_hash) != 0)
		rc = vg_error_set(err, VG_ECORRUPT,
				  "entry %lld has hash %s, not the %s expected: the log was "
				  "rewritten up to there",
				  o->expect_id, a[0].hash, o->expect_hash);
	vg_store_audit_list_free(a, n);
	return rc;
}

static int do_verify(vg_store *s, const opts *o)
{
	vg_error err = {0};
	size_t count = 0;
	int64_t bad = 0;
	int rc = vg_store_audit_verify(s, &count, &bad, &err);
	if (rc == 0 && o->expect_id && (rc = check_anchor(s, o, &err)) == VG_ECORRUPT)
		bad = o->expect_id;
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

/* Length of the UTF-8 sequence at p (at most n bytes) and its code point, or 0 when the
 * bytes are not one (bad lead, short, overlong, surrogate, past U+10FFFF). */
static size_t utf8_at(const unsigned char *p, size_t n, unsigned *ret)
{
	unsigned c = p[0];
	size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
	if (!len || len > n)
		return 0;
	unsigned cp = len == 1 ? c : c & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret = cp;
	return len;
}

/* A field of the text listing, which people read in a terminal. The fields are anyone's
 * words (an analyst's label entity, a token name): a newline in one would print a forged
 * entry, an escape sequence would move the cursor or erase lines. So control characters
 * (C0, DEL, C1), bidirectional overrides and bytes that are not UTF-8 print as \xNN or
 * \u{N}; everything else as it is (a backslash too, so a JSON detail stays readable:
 * "\x0a" typed by someone reads as what it is, never as a line break). */
static void put_field(const char *s, int width)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	int shown = 0;
	for (size_t i = 0; i < n;) {
		unsigned cp = 0;
		size_t len = utf8_at(p + i, n - i, &cp);
		if (!len) {
			shown += printf("\\x%02x", p[i]);
			i++;
			continue;
		}
		if (cp < 0x20 || cp == 0x7f)
			shown += printf("\\x%02x", cp);
		else if ((cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
			 (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200e || cp == 0x200f ||
			 cp == 0x061c)
			shown += printf("\\u{%x}", cp);
		else {
			fwrite(p + i, 1, len, stdout);
			shown++;
		}
		i += len;
	}
	for (; shown < width; shown++)
		putchar(' ');
}

static void print_entry(const vg_store_audit *a, bool json)
{
	char at[ISO_MAX];
	iso_time(a->at, at);
	if (!json) {
		printf("%-6lld %s  ", (long long)a->id, at);
		put_field(a->actor, 16);
		putchar(' ');
		put_field(a->action, 20);
		putchar(' ');
		put_field(*a->object_type ? a->object_type : "-", 0);
		putchar(' ');
		put_field(*a->object_id ? a->object_id : "-", 0);
		putchar(' ');
		put_field(a->detail, 0);
		putchar('\n');
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

/* The last entry, to keep somewhere the database's writers cannot reach. */
static int do_head(vg_store *s, const opts *o)
{
	vg_error err;
	size_t count = 0;
	int64_t bad = 0;
	/* Only a head of a chain that holds is worth keeping. */
	int rc = vg_store_audit_verify(s, &count, &bad, &err);
	if (rc) {
		fprintf(stderr, "vigil audit head: %s%s\n",
			rc == VG_ECORRUPT ? "chain broken: " : "", err.msg);
		return VG_EXIT_FAIL;
	}
	vg_store_audit *a = NULL;
	size_t n = 0;
	int64_t after = 0, last = 0;
	char hash[65] = "";
	/* The last page; the log has no "last entry" query and verify just read it all. */
	do {
		if (vg_store_audit_list(s, after, PAGE, &a, &n, &err) != 0) {
			fprintf(stderr, "vigil audit head: %s\n", err.msg);
			return VG_EXIT_FAIL;
		}
		if (n) {
			last = a[n - 1].id;
			memcpy(hash, a[n - 1].hash, sizeof(hash));
			after = last;
		}
		vg_store_audit_list_free(a, n);
	} while (n == PAGE);
	if (!last) {
		fprintf(stderr, "vigil audit head: the log is empty\n");
		return VG_EXIT_FAIL;
	}
	if (o->json)
		vg_cli_print_json(json_pack("{s:I, s:s}", "id", (json_int_t)last, "hash", hash));
	else
		printf("%lld:%s\n", (long long)last, hash);
	return VG_EXIT_OK;
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

/* ID:HASH, as do_head prints it: a positive id, 64 lower-case hex digits. */
static bool parse_anchor(const char *arg, opts *o)
{
	const char *colon = strchr(arg, ':');
	if (!colon || colon == arg || colon - arg > 20 || strlen(colon + 1) != 64)
		return false;
	char id[21];
	memcpy(id, arg, (size_t)(colon - arg));
	id[colon - arg] = 0;
	if (!vg_cli_parse_int(id, 1, INT64_MAX, &o->expect_id))
		return false;
	for (const char *p = colon + 1; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	memcpy(o->expect_hash, colon + 1, 65);
	return true;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"after", required_argument, NULL, 'a'},
		{"limit", required_argument, NULL, 'l'},
		{"expect", required_argument, NULL, 'e'},
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
		case 'e':
			if (!parse_anchor(optarg, &o))
				return vg_cli_usage_error("audit",
							  "--expect takes ID:HASH, as `vigil "
							  "audit head` prints it");
			break;
		case 'h': fputs(vg_cmd_audit.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("audit", c, argv);
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error("audit", "no subcommand given");
	const char *sub = argv[optind];
	bool verify = strcmp(sub, "verify") == 0, head = strcmp(sub, "head") == 0;
	if (!verify && !head && strcmp(sub, "list") != 0)
		return vg_cli_usage_error("audit", "unknown subcommand '%s'", sub);
	if (argc - optind - 1 > 0)
		return vg_cli_usage_error("audit", "%s takes no arguments", sub);
	if ((verify || head) && paged)
		return vg_cli_usage_error("audit", "%s always walks the whole log", sub);
	if (!verify && o.expect_id)
		return vg_cli_usage_error("audit", "--expect is for verify");

	vg_store *s;
	int status = vg_cli_store_open("audit", sub, o.db, false, &s);
	if (status)
		return status;
	status = verify ? do_verify(s, &o) : head ? do_head(s, &o) : do_list(s, &o);
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
		"The hash has no key and its recipe is public: whoever can write the database\n"
		"can edit an entry, recompute every hash after it, and verify holds. Keep the\n"
		"output of `head` somewhere else (each day, say) and pass it to verify with\n"
		"--expect: then no rewrite of that entry or any before it goes unseen.\n"
		"\n"
		"subcommands:\n"
		"  verify    recompute the whole chain; prints `ok: N entries`, or names the\n"
		"            first entry that was edited, removed, reordered or cut off without\n"
		"            the chain being recomputed (on standard error) and exits 1\n"
		"  head      verify, then print the last entry as ID:HASH, to keep elsewhere\n"
		"  list      the entries in order: id, time (UTC), actor, action, object, detail;\n"
		"            control characters and bytes that are not UTF-8 print as \\xNN,\n"
		"            bidirectional marks as \\u{N} (--json has the exact text)\n"
		"\n"
		"options:\n"
		"  --db PATH     the database (default: $VIGIL_DB, else the db of the file\n"
		"                $VIGIL_CONFIG names, else ./vigil.db); a missing file, or one\n"
		"                without vigil's schema, is an error (exit 1): nothing is created\n"
		"  --json        one JSON object per line, with at_usec and detail_text: what\n"
		"                each entry's hash covers, as stored (docs/openapi.yaml,\n"
		"                GET /v1/audit, says how to recompute it)\n"
		"  --expect ID:HASH\n"
		"                verify: also fail unless entry ID has HASH (from `head`)\n"
		"  --after ID    list: only entries after entry ID\n"
		"  --limit N     list: at most N entries\n"
		"\n"
		"Exit status: 0 the chain holds (verify) or listed (list), 1 the chain is\n"
		"broken or the database failed, 2 usage.\n",
	.run = run,
};
