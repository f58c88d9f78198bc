/* SPDX-License-Identifier: Apache-2.0
 *
 * Moving signals in and out of banks in bulk: import (parse, then add every record in
 * one store transaction) and export (the live signals in any import format, so export
 * then import round-trips), and reading an import source with a size cap.
 *
 * Invariants: an import is all or nothing at the store level (one transaction; bad
 * lines are skipped and reported, not failures); standard input is never read past its
 * cap; export writes only live signals, each value quoted as its format needs (CSV
 * quotes, JSON strings), and a plain export that could not be read back the same is
 * refused before its first byte.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

typedef struct import_ctx {
	vg_store *s;
	int64_t bank_id;
	vg_bank_import_stats stats;
	vg_bank_reject_fn *on_reject;
	void *reject_ctx;
	vg_error *err;
} import_ctx;

static int import_record(const vg_bank_record *rec, void *ctx)
{
	import_ctx *c = ctx;
	int64_t id;
	vg_store_add_result res;
	int rc = vg_store_signal_add(c->s, c->bank_id, rec->type, rec->value, rec->metadata, &id,
				     &res, c->err);
	if (rc)
		return rc;
	switch (res) {
	case VG_STORE_ADDED: c->stats.added++; break;
	case VG_STORE_DUPLICATE: c->stats.duplicates++; break;
	case VG_STORE_REVIVED: c->stats.revived++; break;
	}
	return 0;
}

static void import_reject(size_t line, const char *reason, void *ctx)
{
	import_ctx *c = ctx;
	c->stats.rejected++;
	if (c->on_reject)
		c->on_reject(line, reason, c->reject_ctx);
}

int vg_bank_import_tx(vg_store *s, int64_t bank_id, const char *data, size_t len,
		      const vg_bank_parse_opts *opts, vg_bank_reject_fn *on_reject, void *ctx,
		      vg_bank_import_stats *ret, vg_error *err)
{
	import_ctx c = {
		.s = s, .bank_id = bank_id, .on_reject = on_reject, .reject_ctx = ctx, .err = err};
	int rc = vg_bank_parse(data, len, opts, import_record, import_reject, &c, err);
	if (rc == 0)
		*ret = c.stats;
	return rc;
}

int vg_bank_import(vg_store *s, int64_t bank_id, const char *data, size_t len,
		   const vg_bank_parse_opts *opts, vg_bank_reject_fn *on_reject, void *ctx,
		   vg_bank_import_stats *ret, vg_error *err)
{
	vg_bank_import_stats st;
	int rc = vg_store_begin(s, err);
	if (rc)
		return rc;
	rc = vg_bank_import_tx(s, bank_id, data, len, opts, on_reject, ctx, &st, err);
	if (rc == 0)
		rc = vg_store_commit(s, err);
	else
		vg_store_rollback(s);
	if (rc == 0)
		*ret = st;
	return rc;
}

int vg_bank_input_read(const char *path, size_t max_bytes, char **ret_data, size_t *ret_len,
		       vg_error *err)
{
	if (strcmp(path, "-") != 0) {
		uint8_t *data;
		size_t len;
		int rc = vg_file_read(path, max_bytes, &data, &len, err);
		if (rc == 0) {
			*ret_data = (char *)data;
			*ret_len = len;
		}
		return rc;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return vg_error_set(err, VG_ENOMEM, "out of memory");
	while (true) {
		if (len == cap) {
			if (cap > max_bytes) {
				free(buf);
				return vg_error_set(err, VG_ETOOBIG,
						    "standard input is over the %zu-byte limit",
						    max_bytes);
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return vg_error_set(err, VG_ENOMEM, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			return vg_error_set(err, VG_EIO, "reading standard input: %s", strerror(e));
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max_bytes) {
			free(buf);
			return vg_error_set(err, VG_ETOOBIG, "standard input is over the %zu-byte limit",
					    max_bytes);
		}
	}
	*ret_data = buf;
	*ret_len = len;
	return 0;
}

/* ---- export ------------------------------------------------------------------------ */

typedef struct export_ctx {
	FILE *out;
	vg_bank_format format;
	size_t n;
	bool write_failed;
} export_ctx;

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Quoted when RFC 4180 needs it, and when a space at either end would be trimmed by a
 * less careful reader: a text signal keeps its spaces. */
static void csv_cell(FILE *out, const char *s)
{
	size_t n = strlen(s);
	if (!strpbrk(s, ",\"\r\n") && !(n && (is_blank(s[0]) || is_blank(s[n - 1])))) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static void ndjson_row(FILE *out, const vg_store_signal *sig)
{
	/* Texts and urls may hold quotes, backslashes, tabs and non-ASCII: quote the value
	 * as JSON. Types are known names and metadata is already a compact JSON object. */
	char value[6 * VG_BANK_VALUE_MAX + 3];
	size_t n = strlen(sig->value);
	if (n > VG_BANK_VALUE_MAX)
		n = VG_BANK_VALUE_MAX; /* never: the store holds normalised values */
	vg_json_quote(sig->value, n, value, sizeof(value));
	fprintf(out, "{\"id\":%lld,\"type\":\"%s\",\"value\":%s", (long long)sig->id, sig->type,
		value);
	if (sig->metadata)
		fprintf(out, ",\"metadata\":%s", sig->metadata);
	fputs("}\n", out);
}

static int export_one(const vg_store_signal *sig, void *ctx)
{
	export_ctx *c = ctx;
	switch (c->format) {
	case VG_BANK_PLAIN:
		/* A JSON object after the comma reads back as the same metadata. */
		fprintf(c->out, "%s%s%s\n", sig->value, sig->metadata ? "," : "",
			sig->metadata ? sig->metadata : "");
		break;
	case VG_BANK_CSV:
		fprintf(c->out, "%s,", sig->type);
		csv_cell(c->out, sig->value);
		fputc(',', c->out);
		csv_cell(c->out, sig->metadata ? sig->metadata : "");
		fputc('\n', c->out);
		break;
	case VG_BANK_NDJSON: ndjson_row(c->out, sig); break;
	}
	c->n++;
	if (ferror(c->out)) {
		c->write_failed = true;
		return VG_EIO;
	}
	return 0;
}

/* Why a plain line could not give this signal back, or NULL when it can. A plain line of
 * a url or text is all value (no metadata), lines are trimmed and may be comments, and an
 * import drops a byte order mark at the start of the file, which the first line's text
 * could be. */
static const char *plain_unfit(const vg_store_signal *sig)
{
	const vg__bank_type *t = vg__bank_type_find(sig->type, strlen(sig->type));
	if (!t || (t->kind != VG__BANK_KIND_URL && t->kind != VG__BANK_KIND_TEXT))
		return NULL;
	if (sig->metadata)
		return "has metadata";
	size_t n = strlen(sig->value);
	if (t->kind == VG__BANK_KIND_TEXT && n && (is_blank(sig->value[0]) || is_blank(sig->value[n - 1])))
		return "begins or ends with a space";
	if (t->kind == VG__BANK_KIND_TEXT && sig->value[0] == '#')
		return "begins with '#'";
	if (t->kind == VG__BANK_KIND_TEXT && vg_utf8_bom(sig->value, n))
		return "begins with U+FEFF (an import reads it as a byte order mark)";
	return NULL;
}

static int plain_check_one(const vg_store_signal *sig, void *ctx)
{
	const char *why = plain_unfit(sig);
	if (!why)
		return 0;
	return vg_error_set(ctx, VG_EINVAL,
			    "%s signal %lld %s, which the plain format cannot carry: use csv or "
			    "ndjson",
			    sig->type, (long long)sig->id, why);
}

/* The types of a bank's signals other than md5 and pdq (which a plain import tells
 * apart by length): two, or one beside md5 or pdq, cannot come back from one plain
 * import, whose lines are all of its --type or all guessed. */
typedef struct plain_types {
	char first[VG_STORE_TYPE_MAX + 1];
	char second[VG_STORE_TYPE_MAX + 1];
} plain_types;

static int plain_type_one(const vg_store_signal *sig, void *ctx)
{
	plain_types *t = ctx;
	if (!t->first[0])
		snprintf(t->first, sizeof(t->first), "%s", sig->type);
	else if (strcmp(t->first, sig->type) != 0)
		snprintf(t->second, sizeof(t->second), "%s", sig->type);
	return 0;
}

static int found_one(const vg_store_signal *sig, void *ctx)
{
	(void)sig, (void)ctx;
	return VG_EEXIST; /* enough: stop the walk */
}

/* VG_EINVAL when one plain import could not give the bank's signals their types back. */
static int plain_check_types(vg_store *s, int64_t bank_id, vg_error *err)
{
	static const char *const guessed[] = {"md5", "pdq"};
	static const char *const others[] = {"sha256", "url", "domain", "ip", "text"};
	plain_types t = {{0}, {0}};
	vg_store_filter f = {.bank_ids = &bank_id, .n_bank_ids = 1, .types = others,
			     .n_types = VG_ARRAY_LEN(others)};
	int rc = vg_store_signal_each(s, &f, plain_type_one, &t, err);
	if (rc || !t.first[0])
		return rc;
	if (t.second[0])
		return vg_error_set(err, VG_EINVAL, "the bank holds %s and %s signals, which one plain "
				    "import cannot tell apart: use csv or ndjson", t.first, t.second);
	f.types = guessed;
	f.n_types = VG_ARRAY_LEN(guessed);
	rc = vg_store_signal_each(s, &f, found_one, NULL, err);
	if (rc == VG_EEXIST)
		return vg_error_set(err, VG_EINVAL, "the bank holds %s signals beside md5 or pdq, which "
				    "one plain import cannot tell apart: use csv or ndjson", t.first);
	return rc;
}

int vg_bank_export(vg_store *s, int64_t bank_id, vg_bank_format format, FILE *out,
		   size_t *ret_n, vg_error *err)
{
	export_ctx c = {.out = out, .format = format};
	vg_store_filter f = {.bank_ids = &bank_id, .n_bank_ids = 1};
	int rc;
	if (format == VG_BANK_PLAIN) {
		/* Checked before the first byte, so a refused export writes nothing. Only the
		 * types that can be unfit are walked: hex-only banks pay nothing. */
		static const char *const unfit_types[] = {"url", "text"};
		vg_store_filter uf = {.bank_ids = &bank_id, .n_bank_ids = 1, .types = unfit_types,
				      .n_types = VG_ARRAY_LEN(unfit_types)};
		if ((rc = vg_store_signal_each(s, &uf, plain_check_one, err, err)) ||
		    (rc = plain_check_types(s, bank_id, err)))
			return rc;
	}
	if (format == VG_BANK_CSV)
		fputs("type,value,metadata\n", out);
	rc = vg_store_signal_each(s, &f, export_one, &c, err);
	if (c.write_failed)
		rc = vg_error_set(err, VG_EIO, "write error: %s", strerror(errno));
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		rc = vg_error_set(err, VG_EIO, "write error: %s", strerror(errno));
	if (rc == 0 && ret_n)
		*ret_n = c.n;
	return rc;
}
