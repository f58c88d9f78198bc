/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil bank`: create, list, show, delete, enable and disable banks, and add, remove,
 * import and export their signals (image hashes for `vigil match`; urls, domains, IP
 * ranges and texts for rules' match()). A thin front over src/bank/ and src/store/: the
 * rules (names, types, normalisation, formats) live there; this file parses arguments and
 * prints. Every write has reached the disk when the command reports it (store.h). Values
 * and reasons quoted on stderr have their control characters shown as '?'.
 *
 * What a bank's match does (its actions and webhook) is set here as PATCH /v1/banks sets
 * it, so a bank made from a shell need not wait for an HTTP call to act; the webhook
 * secret comes from a file, as a command line is seen by ps and kept by the shell.
 *
 * Every change (create, set, delete, enable, disable, add, remove, import) appends its audit
 * entry, actor "cli", in the same transaction as the change, with the action names and
 * details the API's bank routes use (api_banks.c): a change made from a shell is as
 * accountable as one made over HTTP (DESIGN.md invariant 4).
 *
 * Exit status: 0 success; 1 a failure in the work (no such bank, a rejected value or
 * import line: the rest still goes in); 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "bank/bank.h"
#include "cli.h"
#include "store/store.h"

#define MAX_REJECTS_IN_JSON 1000
#define AUDIT_ACTOR "cli" /* as `vigil token` records its changes */

typedef struct opts {
	const char *db;
	const char *description;
	const char *type;
	const char *format;
	const char *metadata;
	const char *actions; /* a JSON array in actions_buf, from --actions */
	char actions_buf[256];
	const char *webhook_url, *secret_file;
	bool json;
	long long max_bytes;
} opts;

static void iso_time(vg_usec t, char out[32])
{
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *bank_json(const vg_store_bank *b)
{
	char created[32], updated[32];
	iso_time(b->created_at, created);
	iso_time(b->updated_at, updated);
	json_t *actions = b->actions ? json_loads(b->actions, 0, NULL) : NULL;
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:s, s:s, s:o, s:s?, s:b}", "name", b->name,
			 "description", b->description, "enabled", b->enabled, "signals",
			 (json_int_t)b->live_signals, "removed_signals",
			 (json_int_t)b->removed_signals, "created_at", created, "updated_at",
			 updated, "actions", actions ? actions : json_array(), "webhook_url",
			 b->webhook_url, "webhook_secret_set",
			 b->webhook_secret && b->webhook_secret[0]);
}

/* s cut to at most max bytes (on a character boundary) with control characters shown
 * as '?': values and reasons quote input from bank files and arguments, and a terminal
 * must not act on an escape sequence hidden in them. out holds max + 1 bytes. */
static const char *printable(const char *s, size_t max, char *out)
{
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[n] = '\0';
	return out;
}

#define SHOW(s, buf) printable((s), sizeof(buf) - 1, (buf))

static int fail(const char *sub, const vg_error *err)
{
	char msg[sizeof(err->msg)];
	fprintf(stderr, "vigil bank %s: %s\n", sub, SHOW(err->msg, msg));
	return VG_EXIT_FAIL;
}

/* Appends the audit entry of a change to bank in the open transaction; takes detail (a
 * JSON object, or NULL for none). */
static int audit(vg_store *s, const char *action, const char *bank, json_t *detail,
		 vg_error *err)
{
	char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(detail);
	int rc = vg_store_audit_append(s, AUDIT_ACTOR, action, "bank", bank, text, NULL, err);
	free(text);
	return rc;
}

/* Ends the transaction: commits when rc is 0, else rolls back; returns rc or the
 * commit's error. */
static int finish(vg_store *s, int rc, vg_error *err)
{
	if (rc) {
		vg_store_rollback(s);
		return rc;
	}
	return vg_store_commit(s, err);
}

/* --actions block_url,open_case as the JSON array the store keeps ("none" is []) in
 * out. false when a name is not an action. */
static bool actions_json(const char *list, char out[256])
{
	json_t *a = json_array();
	for (const char *p = list; strcmp(list, "none") != 0 && *p;) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n + (p[n] == ',');
	}
	char *text = json_dumps(a, JSON_COMPACT);
	json_decref(a);
	bool ok = text && strlen(text) < 256 && vg_api_bank_actions_valid(text);
	if (ok)
		strcpy(out, text);
	free(text);
	return ok;
}

/* The first line of --webhook-secret-file into buf (257 bytes). */
static int read_secret(const char *path, char buf[257], vg_error *err)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return vg_error_set(err, VG_EIO, "%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, 256, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	buf[n] = '\0';
	size_t line = strcspn(buf, "\r\n");
	if (more && line == n)
		return vg_error_set(err, VG_EINVAL, "%s: a webhook secret is at most 256 bytes", path);
	buf[line] = '\0';
	if (!line)
		return vg_error_set(err, VG_EINVAL, "%s: the first line is empty", path);
	return 0;
}

/* Applies --description (with set), --actions, --webhook-url and --webhook-secret-file
 * to bank name, and audits them as action (bank.create or bank.update, as the API does)
 * in the open transaction. The secret is recorded as set or changed, never as itself. */
static int apply_settings(vg_store *s, const opts *o, const char *name, const char *action,
			  vg_error *err)
{
	char secret[257];
	if (o->secret_file && read_secret(o->secret_file, secret, err) != 0)
		return err->code;
	bool create = strcmp(action, "bank.create") == 0;
	vg_store_bank_patch p = {.description = create ? NULL : o->description,
				 .actions = o->actions,
				 .webhook_url = o->webhook_url,
				 .webhook_secret = o->secret_file ? secret : NULL};
	int rc = 0;
	if (p.description || p.actions || p.webhook_url || p.webhook_secret)
		rc = vg_store_bank_update(s, name, &p, err);
	explicit_bzero(secret, sizeof(secret));
	if (rc)
		return rc;
	json_t *d = json_object();
	if (create || o->description)
		json_object_set_new(d, "description", json_string(o->description ? o->description : ""));
	if (o->actions)
		json_object_set_new(d, "actions", json_loads(o->actions, 0, NULL));
	if (o->webhook_url)
		json_object_set_new(d, "webhook_url", json_string(o->webhook_url));
	if (o->secret_file)
		json_object_set_new(d, "webhook_secret", json_string(create ? "(set)" : "(changed)"));
	return audit(s, action, name, d, err);
}

static int print_bank(vg_store *s, const opts *o, const char *sub, const char *name,
		      const char *done)
{
	vg_error err;
	vg_store_bank b;
	if (!o->json) {
		printf("%s bank %s\n", done, name);
		return VG_EXIT_OK;
	}
	if (vg_store_bank_get(s, name, &b, &err) != 0)
		return fail(sub, &err);
	vg_cli_print_json(bank_json(&b));
	vg_store_bank_done(&b);
	return VG_EXIT_OK;
}

/* ---- banks ------------------------------------------------------------------------- */

static int do_create(vg_store *s, const opts *o, const char *name)
{
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_bank_create(s, name, o->description, &err);
	if (!rc)
		rc = apply_settings(s, o, name, "bank.create", &err);
	if (finish(s, rc, &err) != 0)
		return fail("create", &err);
	return print_bank(s, o, "create", name, "created");
}

static int do_set(vg_store *s, const opts *o, const char *name)
{
	if (!o->description && !o->actions && !o->webhook_url && !o->secret_file)
		return vg_cli_usage_error("bank", "set needs --description, --actions, "
						  "--webhook-url or --webhook-secret-file");
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = apply_settings(s, o, name, "bank.update", &err);
	if (finish(s, rc, &err) != 0)
		return fail("set", &err);
	return print_bank(s, o, "set", name, "updated");
}

static int do_list(vg_store *s, const opts *o)
{
	vg_error err;
	vg_store_bank *banks;
	size_t n;
	if (vg_store_bank_list(s, &banks, &n, &err) != 0)
		return fail("list", &err);
	if (!o->json && n)
		printf("%-24s %-8s %10s  %s\n", "NAME", "ENABLED", "SIGNALS", "DESCRIPTION");
	for (size_t i = 0; i < n; i++) {
		if (o->json)
			vg_cli_print_json(bank_json(&banks[i]));
		else
			printf("%-24s %-8s %10llu  %s\n", banks[i].name,
			       banks[i].enabled ? "yes" : "no",
			       (unsigned long long)banks[i].live_signals, banks[i].description);
	}
	vg_store_bank_list_free(banks, n);
	return VG_EXIT_OK;
}

static int do_show(vg_store *s, const opts *o, const char *name)
{
	vg_error err;
	vg_store_bank b;
	if (vg_store_bank_get(s, name, &b, &err) != 0)
		return fail("show", &err);
	if (o->json) {
		vg_cli_print_json(bank_json(&b));
	} else {
		char created[32], updated[32];
		iso_time(b.created_at, created);
		iso_time(b.updated_at, updated);
		char url[512];
		bool acts = b.actions && strcmp(b.actions, "[]") != 0;
		printf("name:        %s\ndescription: %s\nenabled:     %s\nsignals:     %llu\n"
		       "removed:     %llu\nactions:     %s\nwebhook:     %s%s\ncreated:     %s\n"
		       "updated:     %s\n",
		       b.name, b.description, b.enabled ? "yes" : "no",
		       (unsigned long long)b.live_signals, (unsigned long long)b.removed_signals,
		       acts ? b.actions : "none (a match is reported, nothing is done)",
		       b.webhook_url && b.webhook_url[0] ? SHOW(b.webhook_url, url) : "none",
		       b.webhook_secret && b.webhook_secret[0] ? " (signed)" : "", created,
		       updated);
	}
	vg_store_bank_done(&b);
	return VG_EXIT_OK;
}

static int do_delete(vg_store *s, const opts *o, const char *name)
{
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_bank_delete(s, name, &err);
	if (!rc)
		rc = audit(s, "bank.delete", name, NULL, &err);
	if (finish(s, rc, &err) != 0)
		return fail("delete", &err);
	if (o->json)
		vg_cli_print_json(json_pack("{s:s, s:b}", "name", name, "deleted", 1));
	else
		printf("deleted bank %s\n", name);
	return VG_EXIT_OK;
}

static int do_enable(vg_store *s, const opts *o, const char *name, bool enabled)
{
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_bank_set_enabled(s, name, enabled, &err);
	if (!rc)
		rc = audit(s, "bank.update", name, json_pack("{s:b}", "enabled", enabled), &err);
	if (finish(s, rc, &err) != 0)
		return fail(enabled ? "enable" : "disable", &err);
	if (o->json)
		vg_cli_print_json(json_pack("{s:s, s:b}", "name", name, "enabled", enabled));
	else
		printf("%s bank %s\n", enabled ? "enabled" : "disabled", name);
	return VG_EXIT_OK;
}

/* ---- signals ----------------------------------------------------------------------- */

static const char *const result_names[] = {
	[VG_STORE_ADDED] = "added",
	[VG_STORE_DUPLICATE] = "duplicate",
	[VG_STORE_REVIVED] = "revived",
};

/* Prints what add or remove did, once it is durable: results holds one object per
 * line ({"signal_id", "type", "value", "result"} for add; {"value", "removed", "forms"}
 * for remove). */
static void print_results(json_t *results, bool json, bool add)
{
	size_t i;
	json_t *r;
	json_array_foreach(results, i, r)
	{
		if (json) {
			json_t *line = json_deep_copy(r);
			json_object_del(line, "forms");
			vg_cli_print_json(line);
		} else if (add) {
			printf("%s %lld %s %s\n", json_string_value(json_object_get(r, "result")),
			       (long long)json_integer_value(json_object_get(r, "signal_id")),
			       json_string_value(json_object_get(r, "type")),
			       json_string_value(json_object_get(r, "value")));
		} else {
			size_t k;
			json_t *form;
			json_array_foreach(json_object_get(r, "forms"), k, form)
				printf("removed %s\n", json_string_value(form));
		}
	}
}

static int do_add(vg_store *s, const opts *o, const char *name, char **values, int n)
{
	vg_error err;
	vg_store_bank b;
	if (vg_store_bank_get(s, name, &b, &err) != 0)
		return fail("add", &err);
	int64_t bank_id = b.id;
	vg_store_bank_done(&b);

	/* One transaction with its audit entry; a rejected value is skipped (it wrote
	 * nothing), a store failure takes everything back. */
	if (vg_store_begin(s, &err) != 0)
		return fail("add", &err);
	int status = VG_EXIT_OK;
	size_t count[3] = {0};
	json_t *results = json_array();
	for (int i = 0; i < n; i++) {
		const char *type = o->type ? o->type : vg_bank_type_infer(values[i], strlen(values[i]));
		char shown[81];
		SHOW(values[i], shown);
		if (!type) {
			fprintf(stderr,
				"vigil bank add: %s: cannot tell its type; give --type (only 32 "
				"and 64 hex digits are guessed)\n",
				shown);
			status = VG_EXIT_FAIL;
			continue;
		}
		int64_t id;
		vg_store_add_result res;
		if (vg_bank_signal_add(s, bank_id, type, values[i], o->metadata, &id, &res, &err) !=
		    0) {
			char msg[sizeof(err.msg)];
			fprintf(stderr, "vigil bank add: %s: %s\n", shown, SHOW(err.msg, msg));
			if (err.code != VG_EINVAL) { /* the store itself failed: stop */
				vg_store_rollback(s);
				json_decref(results);
				return VG_EXIT_FAIL;
			}
			status = VG_EXIT_FAIL;
			continue;
		}
		count[res]++;
		char norm[VG_BANK_VALUE_BUF];
		if (vg_bank_value_normalize(type, values[i], strlen(values[i]), norm, &err) != 0)
			snprintf(norm, sizeof(norm), "?");
		json_array_append_new(results, json_pack("{s:I, s:s, s:s, s:s}", "signal_id",
							 (json_int_t)id, "type", type, "value", norm,
							 "result", result_names[res]));
	}
	int rc = 0;
	if (json_array_size(results))
		rc = audit(s, "signal.add", name,
			   json_pack("{s:I, s:I, s:I}", "added", (json_int_t)count[VG_STORE_ADDED],
				     "revived", (json_int_t)count[VG_STORE_REVIVED], "duplicates",
				     (json_int_t)count[VG_STORE_DUPLICATE]),
			   &err);
	if (finish(s, rc, &err) != 0) {
		json_decref(results);
		return fail("add", &err);
	}
	print_results(results, o->json, true);
	json_decref(results);
	return status;
}

#define MAX_FORMS 8 /* one per signal type, at most */

/* The stored signals a `bank remove VALUE` stands for: its normal form under --type, else
 * under every type it is a valid value of (" Example.COM" is the domain "example.com"
 * and the text " Example.COM"), each with its type, so a removal never takes a signal
 * of another type that happens to hold the same string. Returns how many, 0 with err
 * set when none. */
static size_t remove_forms(const opts *o, const char *value, char forms[][VG_BANK_VALUE_BUF],
			   const char **types_out, vg_error *err)
{
	const char *only[] = {o->type, NULL};
	const char *const *types = o->type ? only : vg_bank_types();
	size_t n = 0;
	for (; *types && n < MAX_FORMS; types++) {
		if (vg_bank_value_normalize(*types, value, strlen(value), forms[n], err) != 0)
			continue;
		types_out[n++] = *types;
	}
	if (n == 0 && !o->type)
		vg_error_set(err, VG_EINVAL, "not a value of any signal type");
	return n;
}

static int do_remove(vg_store *s, const opts *o, const char *name, char **values, int n)
{
	vg_error err;
	vg_store_bank b;
	if (vg_store_bank_get(s, name, &b, &err) != 0)
		return fail("remove", &err);
	int64_t bank_id = b.id;
	vg_store_bank_done(&b);

	/* One transaction, with an audit entry per signal removed (as the API's). */
	if (vg_store_begin(s, &err) != 0)
		return fail("remove", &err);
	int status = VG_EXIT_OK;
	json_t *results = json_array();
	for (int i = 0; i < n; i++) {
		char forms[MAX_FORMS][VG_BANK_VALUE_BUF];
		const char *types[MAX_FORMS];
		size_t nforms = remove_forms(o, values[i], forms, types, &err), removed = 0;
		const char *shown = nforms ? forms[0] : values[i];
		char arg[81], msg[sizeof(err.msg)];
		SHOW(values[i], arg);
		if (nforms == 0) {
			fprintf(stderr, "vigil bank remove: %s: %s\n", arg, SHOW(err.msg, msg));
			status = VG_EXIT_FAIL;
			continue;
		}
		json_t *done = json_array();
		for (size_t k = 0; k < nforms; k++) {
			size_t r;
			int rc = vg_store_signal_remove(s, bank_id, types[k], forms[k], &r, &err);
			if (!rc && r)
				rc = audit(s, "signal.remove", name,
					   json_pack("{s:s, s:s, s:I}", "type", types[k], "value",
						     forms[k], "removed", (json_int_t)r),
					   &err);
			if (rc) {
				vg_store_rollback(s);
				json_decref(done);
				json_decref(results);
				return fail("remove", &err);
			}
			if (r && !removed)
				shown = forms[k];
			removed += r;
			if (r)
				json_array_append_new(done, json_string(forms[k]));
		}
		if (removed == 0) {
			fprintf(stderr, "vigil bank remove: %s: not in bank %s\n", arg, name);
			status = VG_EXIT_FAIL;
		}
		json_array_append_new(results, json_pack("{s:s, s:I, s:o}", "value", shown, "removed",
							 (json_int_t)removed, "forms", done));
	}
	if (vg_store_commit(s, &err) != 0) {
		json_decref(results);
		return fail("remove", &err);
	}
	print_results(results, o->json, false);
	json_decref(results);
	return status;
}

typedef struct reject_ctx {
	const char *file;
	json_t *list; /* with --json: the first MAX_REJECTS_IN_JSON rejects */
} reject_ctx;

static void on_reject(size_t line, const char *reason, void *ctx)
{
	reject_ctx *r = ctx;
	char msg[256];
	fprintf(stderr, "vigil bank import: %s:%zu: %s\n", r->file, line, SHOW(reason, msg));
	if (r->list && json_array_size(r->list) < MAX_REJECTS_IN_JSON)
		json_array_append_new(r->list,
				      json_pack("{s:I, s:s}", "line", (json_int_t)line, "reason",
						reason));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int do_import(vg_store *s, const opts *o, const char *name, const char *file)
{
	vg_error err;
	vg_bank_parse_opts po = {.type = o->type};
	if (o->format)
		vg_bank_format_parse(o->format, &po.format); /* checked in run() */
	else if (ends_with(file, ".csv"))
		po.format = VG_BANK_CSV;
	else if (ends_with(file, ".ndjson") || ends_with(file, ".jsonl"))
		po.format = VG_BANK_NDJSON;
	else
		po.format = VG_BANK_PLAIN;

	vg_store_bank b;
	if (vg_store_bank_get(s, name, &b, &err) != 0)
		return fail("import", &err);
	int64_t bank_id = b.id;
	vg_store_bank_done(&b);

	char *data;
	size_t len;
	if (vg_bank_input_read(file, (size_t)o->max_bytes, &data, &len, &err) != 0) {
		fprintf(stderr, "vigil bank import: %s: %s\n", file, err.msg);
		return VG_EXIT_FAIL;
	}
	reject_ctx rc = {.file = strcmp(file, "-") == 0 ? "<stdin>" : file,
			 .list = o->json ? json_array() : NULL};
	vg_bank_import_stats st;
	vg_usec t0 = vg_time_mono();
	int r = vg_store_begin(s, &err);
	if (!r)
		r = vg_bank_import_tx(s, bank_id, data, len, &po, on_reject, &rc, &st, &err);
	if (!r)
		r = audit(s, "signal.import", name,
			  json_pack("{s:s, s:I, s:I, s:I, s:I}", "file", rc.file, "added",
				    (json_int_t)st.added, "duplicates", (json_int_t)st.duplicates,
				    "revived", (json_int_t)st.revived, "rejected",
				    (json_int_t)st.rejected),
			  &err);
	r = finish(s, r, &err);
	double secs = (double)(vg_time_mono() - t0) / 1e6;
	free(data);
	if (r != 0) {
		json_decref(rc.list);
		fprintf(stderr, "vigil bank import: %s: %s (nothing imported)\n", rc.file, err.msg);
		return VG_EXIT_FAIL;
	}
	if (o->json) {
		vg_cli_print_json(json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:f}", "bank",
					    name, "file", rc.file, "added", (json_int_t)st.added,
					    "duplicates", (json_int_t)st.duplicates, "revived",
					    (json_int_t)st.revived, "rejected",
					    (json_int_t)st.rejected, "rejected_lines", rc.list,
					    "seconds", secs));
	} else {
		printf("%s -> %s: %zu added, %zu duplicates, %zu revived, %zu rejected (%.2f s)\n",
		       rc.file, name, st.added, st.duplicates, st.revived, st.rejected, secs);
	}
	return st.rejected ? VG_EXIT_FAIL : VG_EXIT_OK;
}

static int do_export(vg_store *s, const opts *o, const char *name)
{
	vg_error err;
	vg_bank_format f = VG_BANK_PLAIN;
	if (o->format)
		vg_bank_format_parse(o->format, &f);
	else if (o->json)
		f = VG_BANK_NDJSON;
	vg_store_bank b;
	if (vg_store_bank_get(s, name, &b, &err) != 0)
		return fail("export", &err);
	int64_t bank_id = b.id;
	vg_store_bank_done(&b);
	if (vg_bank_export(s, bank_id, f, stdout, NULL, &err) != 0)
		return fail("export", &err);
	return VG_EXIT_OK;
}

/* ---- dispatch ---------------------------------------------------------------------- */

typedef struct sub {
	const char *name;
	int min_args, max_args; /* positional arguments after the subcommand; -1: no limit */
} sub;

static const sub subs[] = {
	{"create", 1, 1}, {"set", 1, 1},    {"list", 0, 0},   {"show", 1, 1},   {"delete", 1, 1},
	{"enable", 1, 1}, {"disable", 1, 1}, {"add", 2, -1},  {"remove", 2, -1},
	{"import", 2, 2}, {"export", 1, 1},
};

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"description", required_argument, NULL, 'd'},
		{"type", required_argument, NULL, 't'},
		{"format", required_argument, NULL, 'f'},
		{"metadata", required_argument, NULL, 'm'},
		{"max-bytes", required_argument, NULL, 'B'},
		{"actions", required_argument, NULL, 'a'},
		{"webhook-url", required_argument, NULL, 'w'},
		{"webhook-secret-file", required_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	opts o = {.max_bytes = (long long)VG_BANK_INPUT_MAX};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': o.db = optarg; break;
		case 'J': o.json = true; break;
		case 'd': o.description = optarg; break;
		case 't':
			if (!vg_bank_type_known(optarg))
				return vg_cli_usage_error(
					"bank", "--type takes pdq, md5, sha256, url, domain, ip or text");
			o.type = optarg;
			break;
		case 'f': {
			vg_bank_format f;
			if (!vg_bank_format_parse(optarg, &f))
				return vg_cli_usage_error("bank", "--format takes plain, csv or ndjson");
			o.format = optarg;
			break;
		}
		case 'm': o.metadata = optarg; break;
		case 'a':
			if (!actions_json(optarg, o.actions_buf))
				return vg_cli_usage_error("bank", "--actions takes none or a comma-separated "
								  "list of block_url, open_case, "
								  "webhook, authority_report");
			o.actions = o.actions_buf;
			break;
		case 'w':
			if (optarg[0] && strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				return vg_cli_usage_error("bank", "--webhook-url takes an http or https "
								  "URL, or \"\" for none");
			o.webhook_url = optarg;
			break;
		case 'S': o.secret_file = optarg; break;
		case 'B':
			if (!vg_cli_parse_int(optarg, 1, INT64_MAX, &o.max_bytes))
				return vg_cli_usage_error("bank", "--max-bytes takes a positive number");
			break;
		case 'h': fputs(vg_cmd_bank.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("bank", c, argv);
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error("bank", "no subcommand given");
	const char *name = argv[optind];
	const sub *sc = NULL;
	for (size_t i = 0; i < VG_ARRAY_LEN(subs); i++)
		if (strcmp(subs[i].name, name) == 0)
			sc = &subs[i];
	if (!sc)
		return vg_cli_usage_error("bank", "unknown subcommand '%s'", name);
	int nargs = argc - optind - 1;
	char **args = argv + optind + 1;
	if (nargs < sc->min_args || (sc->max_args >= 0 && nargs > sc->max_args))
		return vg_cli_usage_error("bank", "wrong number of arguments for 'bank %s'", name);

	vg_store *s;
	int status = vg_cli_store_open("bank", name, o.db, strcmp(name, "create") == 0, &s);
	if (status)
		return status;
	if (strcmp(name, "create") == 0)
		status = do_create(s, &o, args[0]);
	else if (strcmp(name, "set") == 0)
		status = do_set(s, &o, args[0]);
	else if (strcmp(name, "list") == 0)
		status = do_list(s, &o);
	else if (strcmp(name, "show") == 0)
		status = do_show(s, &o, args[0]);
	else if (strcmp(name, "delete") == 0)
		status = do_delete(s, &o, args[0]);
	else if (strcmp(name, "enable") == 0 || strcmp(name, "disable") == 0)
		status = do_enable(s, &o, args[0], name[0] == 'e');
	else if (strcmp(name, "add") == 0)
		status = do_add(s, &o, args[0], args + 1, nargs - 1);
	else if (strcmp(name, "remove") == 0)
		status = do_remove(s, &o, args[0], args + 1, nargs - 1);
	else if (strcmp(name, "import") == 0)
		status = do_import(s, &o, args[0], args[1]);
	else
		status = do_export(s, &o, args[0]);
	return vg_cli_store_done("bank", name, s, status);
}

const vg_cmd vg_cmd_bank = {
	.name = "bank",
	.summary = "manage banks of known-bad hashes, urls, domains, IPs and texts",
	.help =
		"usage: vigil bank SUBCOMMAND [OPTIONS] [ARGS]\n"
		"\n"
		"A bank is a named list of known-bad signals: image hashes that `vigil match`\n"
		"and the API look up, and urls, domains, IP ranges and texts that rules'\n"
		"match(bank, value) reads (docs/banks.md).\n"
		"\n"
		"subcommands:\n"
		"  create NAME [--description TEXT] [SETTINGS]\n"
		"                                    a new, enabled bank; NAME is 1 to 64 of\n"
		"                                    a-z 0-9 _ -, starting with a letter or digit\n"
		"  set NAME [--description TEXT] [SETTINGS]\n"
		"                                    change what a bank is and does\n"
		"  list                              every bank with its signal count\n"
		"  show NAME                         one bank's details\n"
		"  delete NAME                       the bank and all its signals, for good\n"
		"  enable NAME, disable NAME         whether `vigil match` and rules use the bank\n"
		"  add NAME [--type T] [--metadata JSON] VALUE...\n"
		"                                    add signals; without --type, 32 hex digits\n"
		"                                    are md5 and 64 are pdq\n"
		"  remove NAME [--type T] VALUE...   soft-remove signals (kept for audit, never\n"
		"                                    matched; adding the value again revives it);\n"
		"                                    without --type, VALUE as every type reads it\n"
		"  import NAME FILE|- [--type T] [--format F]\n"
		"                                    add every signal of a file in one\n"
		"                                    transaction; bad lines are reported with\n"
		"                                    their line numbers and skipped\n"
		"  export NAME [--format F]          the live signals, to standard output\n"
		"\n"
		"settings: what `vigil serve` does when a scan or report matches the bank (as\n"
		"PATCH /v1/banks sets them; a bank without actions only reports its matches):\n"
		"  --actions LIST                    none, or a comma-separated list of block_url\n"
		"                                    (the decision API answers 451 for the URL),\n"
		"                                    open_case, webhook, authority_report\n"
		"  --webhook-url URL                 where the webhook action posts (\"\": none)\n"
		"  --webhook-secret-file FILE        the HMAC key that signs it: FILE's first\n"
		"                                    line, at most 256 bytes (not an argument:\n"
		"                                    ps and shell history would show it)\n"
		"\n"
		"signal types (--type) and the form each value is stored in:\n"
		"  pdq     64 hex digits, lower-cased             matched within a distance\n"
		"  md5     32 hex digits, lower-cased\n"
		"  sha256  64 hex digits, lower-cased\n"
		"  url     http or https URL, canonicalised:\n"
		"          HTTP://Example.COM:80/a/../b#x -> http://example.com/b\n"
		"  domain  host name in lower-case ASCII, no trailing dot:\n"
		"          Bücher.example. -> xn--bcher-kva.example; matches the domain and\n"
		"          every subdomain; a single label (`zip`) is allowed\n"
		"  ip      address or CIDR range, v4 or v6, host bits zeroed, /N only when\n"
		"          shorter than the address: 10.1.2.3/8 -> 10.0.0.0/8, 2001:DB8::0/32 ->\n"
		"          2001:db8::/32, 192.0.2.1/32 -> 192.0.2.1\n"
		"  text    an exact string, kept as given (case and spaces count): UTF-8, 1 to\n"
		"          1024 bytes, no control characters but tab\n"
		"Two spellings of one value are one signal. Only hex digests are guessed without\n"
		"a type; urls, domains, ips and texts need --type or a type column.\n"
		"\n"
		"formats (--format; import guesses from .csv, .ndjson or .jsonl, else plain):\n"
		"  plain   one value per line, optionally `,` and metadata: a JSON object, or\n"
		"          free text kept as {\"note\": TEXT}; `#` comments and blank lines\n"
		"          skipped, lines trimmed. With --type url or text the whole line is\n"
		"          the value (commas included) and there is no metadata; export\n"
		"          refuses what plain cannot give back (such signals with metadata,\n"
		"          texts with surrounding spaces or a leading #, and types one\n"
		"          import cannot tell apart: md5 and pdq are told by length)\n"
		"  csv     RFC 4180 with a header naming `value`, optionally `type` and\n"
		"          `metadata` (a JSON object); other columns become metadata keys\n"
		"  ndjson  one {\"type\", \"value\", \"metadata\"} object per line (export adds\n"
		"          the signal's \"id\" and leaves out metadata when there is none)\n"
		"A line's own type wins over --type, which wins over inference from the length\n"
		"(32 hex digits: md5; 64: pdq; SHA-256 lists need --type sha256). The same\n"
		"(bank, type, value) twice is one signal.\n"
		"\n"
		"Every change (create, set, delete, enable, disable, add, remove, import) is\n"
		"recorded in the audit log as actor \"cli\", with the change itself.\n"
		"\n"
		"examples:\n"
		"  vigil bank add phish --type url 'https://login.example.net/verify?id=1'\n"
		"  vigil bank add bad-hosts --type domain evil.example\n"
		"  vigil bank add bad-nets --type ip 203.0.113.0/24 2001:db8:bad::/48\n"
		"  vigil bank import spam-phrases phrases.txt --type text\n"
		"\n"
		"options:\n"
		"  --db PATH         the database (default: $VIGIL_DB, else the db of the file\n"
		"                    $VIGIL_CONFIG names, else ./vigil.db); only create makes\n"
		"                    it when missing, the others need it\n"
		"  --json            one JSON object per line (export: ndjson)\n"
		"  --max-bytes N     refuse import files over N bytes (1073741824); lines over\n"
		"                    65536 bytes are rejected\n"
		"\n"
		"Exit status: 0 done, 1 a failure (no such bank, a rejected value or line;\n"
		"the other values and lines still go in), 2 usage.\n",
	.run = run,
};
