/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil token`: create, list and revoke the bearer tokens of `vigil serve`'s API. A
 * thin front over the store and vg_api_token_mint (which draws the secret and keeps only
 * its SHA-256); every change is audited as actor "cli" in the transaction that makes it.
 *
 * Invariants: the secret is printed once, alone on the first line of stdout (so scripts
 * can take it with `head -1`), and is wiped from memory after; it is never written to
 * stderr, and no listing shows a token's hash.
 *
 * Exit status: 0 done; 1 a failure (a live token has the name, no such token, the
 * database); 2 a usage error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cli.h"
#include "store/store.h"

#define AUDIT_ACTOR "cli"

typedef struct opts {
	const char *db;
	const char *role;
	const char *name;
	bool json;
} opts;

static const char *const roles[] = {"admin", "analyst", "scanner", "intake", "ingest"};

static bool role_ok(const char *role)
{
	for (size_t i = 0; i < VG_ARRAY_LEN(roles); i++)
		if (strcmp(roles[i], role) == 0)
			return true;
	return false;
}

/* Names show up in logs, audit entries and tables: keep them to one printable word. */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > VG_STORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == '@' || c == ':'))
			return false;
	}
	return true;
}

static void iso_time(vg_usec t, char out[32])
{
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int fail(const char *sub, const vg_error *err)
{
	fprintf(stderr, "vigil token %s: %s\n", sub, err->msg);
	return VG_EXIT_FAIL;
}

static int do_create(vg_store *s, const opts *o)
{
	vg_error err;
	char secret[VG_API_TOKEN_LEN + 1];
	if (vg_api_token_mint(s, o->name, o->role, AUDIT_ACTOR, secret, &err) != 0)
		return fail("create", &err);
	/* The secret alone on stdout; what happened goes to stderr for the person. */
	puts(secret);
	explicit_bzero(secret, sizeof(secret));
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vigil token create: cannot write the token; revoke '%s'\n",
			o->name);
		return VG_EXIT_FAIL;
	}
	fprintf(stderr, "created token '%s' with role %s; it is shown only this once\n", o->name,
		o->role);
	return VG_EXIT_OK;
}

static int do_list(vg_store *s, const opts *o)
{
	vg_error err;
	vg_store_token *t;
	size_t n;
	if (vg_store_token_list(s, &t, &n, &err) != 0)
		return fail("list", &err);
	if (!o->json && n)
		printf("%-24s %-8s %-20s %s\n", "NAME", "ROLE", "CREATED", "REVOKED");
	for (size_t i = 0; i < n; i++) {
		char created[32], revoked[32] = "-";
		iso_time(t[i].created_at, created);
		if (t[i].revoked_at)
			iso_time(t[i].revoked_at, revoked);
		if (o->json) {
			json_t *at = t[i].revoked_at ? json_string(revoked) : json_null();
			vg_cli_print_json(json_pack("{s:s, s:s, s:s, s:b, s:o}", "name", t[i].name,
						    "role", t[i].role, "created_at", created,
						    "revoked", t[i].revoked_at != 0, "revoked_at",
						    at));
		} else {
			printf("%-24s %-8s %-20s %s\n", t[i].name, t[i].role, created, revoked);
		}
	}
	free(t);
	return VG_EXIT_OK;
}

static int do_revoke(vg_store *s, const opts *o, const char *name)
{
	vg_error err;
	/* The revocation and its audit entry commit together or not at all. */
	if (vg_store_begin(s, &err) != 0)
		return fail("revoke", &err);
	if (vg_store_token_revoke(s, name, &err) != 0 ||
	    vg_store_audit_append(s, AUDIT_ACTOR, "token.revoke", "token", name, NULL, NULL,
				  &err) != 0 ||
	    vg_store_commit(s, &err) != 0) {
		vg_store_rollback(s);
		return fail("revoke", &err);
	}
	if (o->json)
		vg_cli_print_json(json_pack("{s:s, s:b}", "name", name, "revoked", 1));
	else
		printf("revoked token %s\n", name);
	return VG_EXIT_OK;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"role", required_argument, NULL, 'r'},
		{"name", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	opts o = {0};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': o.db = optarg; break;
		case 'J': o.json = true; break;
		case 'r':
			if (!role_ok(optarg))
				return vg_cli_usage_error(
					"token", "--role takes admin, analyst, scanner, intake or ingest");
			o.role = optarg;
			break;
		case 'n':
			if (!name_ok(optarg))
				return vg_cli_usage_error("token",
							  "--name takes 1 to 64 of A-Z a-z 0-9 - _ . @ :");
			o.name = optarg;
			break;
		case 'h': fputs(vg_cmd_token.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("token", c, argv);
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error("token", "no subcommand given");
	const char *sub = argv[optind];
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	if (strcmp(sub, "create") == 0) {
		if (nargs)
			return vg_cli_usage_error("token", "create takes --role and --name, no arguments");
		if (!o.role || !o.name)
			return vg_cli_usage_error("token", "create needs --role ROLE and --name NAME");
	} else if (strcmp(sub, "list") == 0) {
		if (nargs)
			return vg_cli_usage_error("token", "list takes no arguments");
	} else if (strcmp(sub, "revoke") == 0) {
		if (nargs != 1)
			return vg_cli_usage_error("token", "revoke takes one token name");
	} else {
		return vg_cli_usage_error("token", "unknown subcommand '%s'", sub);
	}
	if ((o.role || o.name) && strcmp(sub, "create") != 0)
		return vg_cli_usage_error("token", "--role and --name are for create");

	vg_store *s;
	int status = vg_cli_store_open("token", sub, o.db, strcmp(sub, "create") == 0, &s);
	if (status)
		return status;
	if (strcmp(sub, "create") == 0)
		status = do_create(s, &o);
	else if (strcmp(sub, "list") == 0)
		status = do_list(s, &o);
	else
		status = do_revoke(s, &o, args[0]);
	return vg_cli_store_done("token", sub, s, status);
}

const vg_cmd vg_cmd_token = {
	.name = "token",
	.summary = "create, list and revoke API tokens",
	.help = "usage: vigil token SUBCOMMAND [OPTIONS] [ARGS]\n"
		"\n"
		"Bearer tokens for `vigil serve`'s API. The store keeps only a token's SHA-256;\n"
		"the token itself is shown once, when it is created.\n"
		"\n"
		"subcommands:\n"
		"  create --role ROLE --name NAME  a new token, printed alone on the first line\n"
		"                                  of standard output (vg_ and 64 hex digits)\n"
		"  list                            every token: name, role, created, revoked\n"
		"  revoke NAME                     the live token NAME stops working (the API\n"
		"                                  may trust a cached lookup for a few seconds)\n"
		"\n"
		"ROLE is admin (every route), analyst, scanner, intake or ingest; the API\n"
		"documentation lists the routes each may call.\n"
		"NAME is 1 to 64 of A-Z a-z 0-9 - _ . @ :; a revoked name may be used again.\n"
		"Creating and revoking are recorded in the audit log as actor \"cli\".\n"
		"\n"
		"options:\n"
		"  --db PATH   the database (default: $VIGIL_DB, else the db of the file\n"
		"              $VIGIL_CONFIG names, else ./vigil.db); only create makes it\n"
		"              when missing, list and revoke need it\n"
		"  --json      list and revoke: one JSON object per line\n"
		"\n"
		"Exit status: 0 done, 1 a failure (a live token has the name, no live token\n"
		"NAME, the database), 2 usage.\n",
	.run = run,
};
