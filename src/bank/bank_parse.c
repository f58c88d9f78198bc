/* SPDX-License-Identifier: Apache-2.0
 *
 * The bank import parsers: plain lines, CSV (RFC 4180) and NDJSON, all from one buffer
 * to a stream of normalised records (formats described in bank.h). Bank files come from
 * outside (hash-sharing programmes, partners, scripts), so every byte is hostile.
 *
 * Invariants:
 * - Nothing reads past data + len; the input need not be NUL-terminated.
 * - A line (a CSV record, which may span lines inside quotes) longer than max_line_bytes
 *   is rejected, never buffered whole; memory is bounded by max_line_bytes.
 * - A bad line is reported with the 1-based number of the line it starts on and the
 *   parse resumes at the next line, so one bad line never loses the lines after it. A
 *   CSV record that cannot be closed (an unterminated quote) is rejected and the parse
 *   resumes on the line after the one it started on.
 * - Blank lines count as lines (line numbers match what an editor shows).
 * - A text value reaches its normaliser exactly as the format holds it (a CSV cell, a JSON
 *   string); only plain lines, being lines, are trimmed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CSV_MAX_FIELDS 256

typedef struct parser {
	const vg_bank_parse_opts *opts;
	size_t max_line;
	vg_bank_record_fn *on_record;
	vg_bank_reject_fn *on_reject;
	void *ctx;
	bool whole_line; /* plain: a line is all value (url and text values hold commas) */
} parser;

static void reject(parser *p, size_t line, const char *reason)
{
	if (p->on_reject)
		p->on_reject(line, reason, p->ctx);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static void trim(const char **s, size_t *len)
{
	while (*len && (is_blank(**s) || **s == '\n'))
		(*s)++, (*len)--;
	while (*len && (is_blank((*s)[*len - 1]) || (*s)[*len - 1] == '\n'))
		(*len)--;
}

/* The type a record is read as: its own, else the caller's default, else inferred from
 * the (trimmed) value. NULL after a reject. */
static const vg__bank_type *record_type(parser *p, size_t line, const char *type,
					size_t type_len, const char *value, size_t value_len)
{
	char reason[120];
	const char *name = p->opts->type;
	if (type_len) {
		const vg__bank_type *t = vg__bank_type_find(type, type_len);
		if (!t) {
			snprintf(reason, sizeof(reason), "unknown type '%.*s'",
				 (int)(type_len > 20 ? 20 : type_len), type);
			reject(p, line, reason);
		}
		return t;
	}
	if (!name && !(name = vg_bank_type_infer(value, value_len))) {
		snprintf(reason, sizeof(reason),
			 "cannot tell the type of a %zu-character value (give a type)", value_len);
		reject(p, line, reason);
		return NULL;
	}
	return vg__bank_type_find(name, strlen(name));
}

/* Resolves the record's type, normalises the value and hands the record on. A text value
 * is passed as it is (exact is exact: a CSV cell or JSON string keeps its spaces); every
 * other value is trimmed. 0 (including after a reject), or the callback's nonzero. */
static int emit(parser *p, size_t line, const char *type, size_t type_len, const char *value,
		size_t value_len, const char *metadata)
{
	vg_error err;
	const char *trimmed = value;
	size_t trimmed_len = value_len;
	trim(&type, &type_len);
	trim(&trimmed, &trimmed_len);
	if (trimmed_len == 0) {
		reject(p, line, "no value");
		return 0;
	}
	const vg__bank_type *t = record_type(p, line, type, type_len, trimmed, trimmed_len);
	if (!t)
		return 0;
	if (t->kind != VG__BANK_KIND_TEXT)
		value = trimmed, value_len = trimmed_len;
	char norm[VG_BANK_VALUE_BUF];
	if (vg_bank_value_normalize(t->name, value, value_len, norm, &err) != 0) {
		reject(p, line, err.msg);
		return 0;
	}
	vg_bank_record rec = {.line = line, .type = t->name, .value = norm, .metadata = metadata};
	return p->on_record(&rec, p->ctx);
}

/* Finds the end of the line starting at pos: sets *ret_len (without the \n) and returns
 * the position after the \n (or len). */
static size_t line_end(const char *data, size_t len, size_t pos, size_t *ret_len)
{
	const char *nl = memchr(data + pos, '\n', len - pos);
	size_t end = nl ? (size_t)(nl - data) : len;
	*ret_len = end - pos;
	return nl ? end + 1 : len;
}

static bool line_too_long(parser *p, size_t line, size_t n)
{
	if (n <= p->max_line)
		return false;
	char reason[120];
	snprintf(reason, sizeof(reason), "line of %zu bytes is over the %zu-byte limit", n,
		 p->max_line);
	reject(p, line, reason);
	return true;
}

/* ---- plain ------------------------------------------------------------------------- */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A note as {"note": text}. jansson refuses bytes that are not UTF-8, and a NUL would not
 * survive a round trip through the metadata's JSON. With unescape, text is a file name as
 * md5sum escapes it: \\ is a backslash, \n a newline, \r a carriage return. */
static int plain_note(const char *text, size_t len, bool unescape, char **ret, vg_error *err)
{
	char *buf = NULL;
	if (unescape) {
		buf = vg_xmalloc(len ? len : 1);
		size_t o = 0;
		for (size_t i = 0; i < len; i++) {
			char c = text[i];
			if (c == '\\' && i + 1 < len && text[i + 1] &&
			    strchr("\\nr", text[i + 1])) {
				i++;
				c = text[i] == 'n' ? '\n' : text[i] == 'r' ? '\r' : '\\';
			}
			buf[o++] = c;
		}
		text = buf;
		len = o;
	}
	int rc;
	json_t *obj = json_object();
	json_t *note = memchr(text, '\0', len) ? NULL : json_stringn(text, len);
	if (!note) {
		rc = vg_error_set(err, VG_EINVAL, "note is not valid UTF-8 text");
	} else {
		json_object_set_new(obj, "note", note);
		rc = vg__bank_metadata_dump(obj, ret, err);
	}
	json_decref(obj);
	free(buf);
	return rc;
}

static int plain_line(parser *p, size_t lineno, const char *s, size_t n)
{
	trim(&s, &n);
	if (n == 0 || s[0] == '#')
		return 0;
	/* GNU md5sum and sha256sum start the line of a file whose name holds a backslash or
	 * a newline with a backslash, and escape those in the name: the hash follows it. */
	bool md5sum_escaped = !p->whole_line && n > 1 && s[0] == '\\' && is_hex(s[1]);
	if (md5sum_escaped)
		s++, n--;
	/* The value ends at a comma or, in types whose values hold no blanks (all but url
	 * and text), at a blank: `md5sum` and `sha256sum` write "HASH  FILE" (binary mode:
	 * "HASH *FILE"), and the file's name becomes the note. */
	size_t vlen = p->whole_line ? n : 0;
	while (vlen < n && s[vlen] != ',' && !is_blank(s[vlen]))
		vlen++;
	const char *rest = s + vlen;
	size_t rlen = n - vlen;
	trim(&rest, &rlen);
	bool comma = rlen && rest[0] == ',';
	if (comma)
		rest++, rlen--;
	else if (rlen && rest[0] == '*')
		rest++, rlen--;
	trim(&rest, &rlen);
	char *meta = NULL;
	if (rlen) {
		vg_error err;
		int rc;
		/* After a comma, `{` starts metadata and must be a JSON object. After blanks it
		 * may also be a file name ("{x}.jpg" in md5sum's output): metadata only when it
		 * is a JSON object, a note otherwise. An escaped md5sum line is always a name. */
		if (rest[0] == '{' && !md5sum_escaped) {
			rc = vg_bank_metadata_normalize(rest, rlen, &meta, &err);
			if (rc == VG_EINVAL && !comma)
				rc = plain_note(rest, rlen, false, &meta, &err);
		} else {
			rc = plain_note(rest, rlen, md5sum_escaped, &meta, &err);
		}
		if (rc) {
			reject(p, lineno, err.msg);
			return 0;
		}
	}
	int rc = emit(p, lineno, "", 0, s, vlen, meta);
	free(meta);
	return rc;
}

static int parse_plain(parser *p, const char *data, size_t len)
{
	size_t pos = 0, lineno = 0;
	while (pos < len) {
		size_t n, next = line_end(data, len, pos, &n);
		lineno++;
		if (!line_too_long(p, lineno, n)) {
			int rc = plain_line(p, lineno, data + pos, n);
			if (rc)
				return rc;
		}
		pos = next;
	}
	return 0;
}

/* ---- NDJSON ------------------------------------------------------------------------ */

static int ndjson_line(parser *p, size_t lineno, const char *s, size_t n)
{
	trim(&s, &n);
	if (n == 0)
		return 0;
	json_error_t jerr;
	char reason[300];
	json_t *obj = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		snprintf(reason, sizeof(reason), "not JSON: %s", jerr.text);
		reject(p, lineno, reason);
		return 0;
	}
	int rc = 0;
	char *meta = NULL;
	json_t *value = json_object_get(obj, "value");
	json_t *type = json_object_get(obj, "type");
	json_t *metadata = json_object_get(obj, "metadata");
	vg_error err;
	if (!json_is_object(obj)) {
		reject(p, lineno, "not a JSON object");
	} else if (!json_is_string(value)) {
		reject(p, lineno, "\"value\" is missing or not a string");
	} else if (type && !json_is_null(type) && !json_is_string(type)) {
		reject(p, lineno, "\"type\" is not a string");
	} else if (metadata && !json_is_null(metadata) &&
		   vg__bank_metadata_dump(metadata, &meta, &err) != 0) {
		reject(p, lineno, err.msg);
	} else {
		const char *t = json_is_string(type) ? json_string_value(type) : "";
		size_t tlen = json_is_string(type) ? json_string_length(type) : 0;
		rc = emit(p, lineno, t, tlen, json_string_value(value), json_string_length(value),
			  meta);
	}
	free(meta);
	json_decref(obj);
	return rc;
}

static int parse_ndjson(parser *p, const char *data, size_t len)
{
	size_t pos = 0, lineno = 0;
	while (pos < len) {
		size_t n, next = line_end(data, len, pos, &n);
		lineno++;
		if (!line_too_long(p, lineno, n)) {
			int rc = ndjson_line(p, lineno, data + pos, n);
			if (rc)
				return rc;
		}
		pos = next;
	}
	return 0;
}

/* ---- CSV (RFC 4180) ---------------------------------------------------------------- */

typedef struct csv_field {
	size_t off, len; /* in the parser's scratch buffer */
} csv_field;

typedef struct csv {
	char *buf; /* unquoted field bytes of the current record, max_line bytes */
	csv_field fields[CSV_MAX_FIELDS];
	size_t n_fields;
} csv;

typedef enum { REC_OK, REC_BLANK, REC_BAD, REC_END } rec_status;

/* Reads one record starting at *pos (on line *lineno). On return *pos is after the
 * record (or, for REC_BAD, after the line the record started on) and *lineno is the
 * number of the next line. *reason explains REC_BAD. */
static rec_status csv_record(parser *p, csv *c, const char *data, size_t len, size_t *pos,
			     size_t *lineno, const char **reason)
{
	size_t start = *pos, i = start, used = 0, newlines = 0;
	c->n_fields = 0;
	if (i >= len)
		return REC_END;
	size_t first_len, after_first = line_end(data, len, start, &first_len);

	bool in_quotes = false, quoted = false, at_field_start = true;
	size_t field_off = 0;
	while (true) {
		if (i - start > p->max_line) {
			*reason = "record over the line length limit";
			goto bad;
		}
		if (i >= len) {
			if (in_quotes) {
				*reason = "unterminated quoted field";
				goto bad;
			}
			break;
		}
		char ch = data[i];
		if (in_quotes) {
			if (ch == '"') {
				if (i + 1 < len && data[i + 1] == '"') {
					c->buf[used++] = '"';
					i += 2;
					continue;
				}
				in_quotes = false;
				i++;
				/* After a closing quote only a separator or the end may follow. */
				if (i < len && data[i] != ',' && data[i] != '\n' &&
				    !(data[i] == '\r' && (i + 1 >= len || data[i + 1] == '\n'))) {
					*reason = "text after a closing quote";
					goto bad;
				}
				continue;
			}
			if (ch == '\n')
				newlines++;
			c->buf[used++] = ch;
			i++;
			continue;
		}
		if (ch == '"') {
			if (!at_field_start) {
				*reason = "quote inside an unquoted field";
				goto bad;
			}
			in_quotes = quoted = true;
			at_field_start = false;
			i++;
			continue;
		}
		if (ch == ',' || ch == '\n' || ch == '\r') {
			if (ch == '\r' && !(i + 1 >= len || data[i + 1] == '\n')) {
				*reason = "carriage return inside a field";
				goto bad;
			}
			if (c->n_fields == CSV_MAX_FIELDS) {
				*reason = "more than 256 fields";
				goto bad;
			}
			c->fields[c->n_fields++] = (csv_field){field_off, used - field_off};
			field_off = used;
			at_field_start = true;
			quoted = false;
			if (ch == ',') {
				i++;
				continue;
			}
			i += ch == '\r' ? 2 : 1;
			if (i > len)
				i = len;
			*pos = i;
			*lineno += newlines + 1;
			return (c->n_fields == 1 && c->fields[0].len == 0 && !quoted) ? REC_BLANK
										     : REC_OK;
		}
		at_field_start = false;
		c->buf[used++] = ch;
		i++;
	}
	/* The input ended without a final newline. */
	if (c->n_fields == CSV_MAX_FIELDS) {
		*reason = "more than 256 fields";
		goto bad;
	}
	c->fields[c->n_fields++] = (csv_field){field_off, used - field_off};
	*pos = len;
	*lineno += newlines + 1;
	return (c->n_fields == 1 && c->fields[0].len == 0) ? REC_BLANK : REC_OK;
bad:
	*pos = after_first;
	*lineno += 1;
	return REC_BAD;
}

static bool utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0, step; i < n; i += step)
		if (!(step = vg_utf8_next((const unsigned char *)s + i, n - i, NULL)))
			return false;
	return true;
}

static bool name_is(const char *s, size_t n, const char *want)
{
	trim(&s, &n);
	return n == strlen(want) && strncasecmp(s, want, n) == 0;
}

static int csv_row(parser *p, csv *c, size_t lineno, csv_field *header, char *header_buf,
		   size_t n_header, long col_value, long col_type, long col_meta)
{
	char reason[120];
	if (c->n_fields > n_header) {
		snprintf(reason, sizeof(reason), "%zu fields, the header has %zu", c->n_fields,
			 n_header);
		reject(p, lineno, reason);
		return 0;
	}
	json_t *obj = json_object();
	vg_error err;
	int rc = 0;
	char *meta = NULL;
	bool bad = false;
	if (col_meta >= 0 && (size_t)col_meta < c->n_fields && c->fields[col_meta].len) {
		csv_field f = c->fields[col_meta];
		json_error_t jerr;
		json_t *m = f.len > VG_BANK_METADATA_MAX
				    ? NULL
				    : json_loadb(c->buf + f.off, f.len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(m)) {
			reject(p, lineno, "metadata column is not a JSON object");
			bad = true;
		} else {
			json_object_update(obj, m);
		}
		json_decref(m);
	}
	for (size_t k = 0; !bad && k < c->n_fields; k++) {
		if ((long)k == col_value || (long)k == col_type || (long)k == col_meta ||
		    c->fields[k].len == 0)
			continue;
		const char *key = header_buf + header[k].off;
		const char *cell = c->buf + c->fields[k].off;
		/* A NUL would not survive the metadata's JSON: refuse it like bad UTF-8. */
		json_t *v = memchr(cell, '\0', c->fields[k].len) ? NULL : json_stringn(cell, c->fields[k].len);
		if (!v) {
			reject(p, lineno, "a field is not valid UTF-8 text");
			bad = true;
			break;
		}
		if (json_object_set_new(obj, key, v) != 0) {
			reject(p, lineno, "a field could not be kept as metadata");
			bad = true;
			break;
		}
	}
	if (!bad && vg__bank_metadata_dump(obj, &meta, &err) != 0) {
		reject(p, lineno, err.msg);
		bad = true;
	}
	json_decref(obj);
	if (!bad) {
		csv_field fv = (size_t)col_value < c->n_fields ? c->fields[col_value]
							       : (csv_field){0, 0};
		csv_field ft = col_type >= 0 && (size_t)col_type < c->n_fields
				       ? c->fields[col_type]
				       : (csv_field){0, 0};
		rc = emit(p, lineno, c->buf + ft.off, ft.len, c->buf + fv.off, fv.len, meta);
	}
	free(meta);
	return rc;
}

static int parse_csv(parser *p, const char *data, size_t len, vg_error *err)
{
	csv c;
	c.buf = malloc(p->max_line + 1);
	char *header_buf = malloc(p->max_line + CSV_MAX_FIELDS + 1);
	csv_field header[CSV_MAX_FIELDS];
	size_t n_header = 0;
	long col_value = -1, col_type = -1, col_meta = -1;
	int rc = 0;
	if (!c.buf || !header_buf) {
		rc = vg_error_set(err, VG_ENOMEM, "out of memory");
		goto out;
	}
	size_t pos = 0, lineno = 1;
	bool have_header = false;
	while (true) {
		size_t at = lineno;
		const char *reason = NULL;
		rec_status st = csv_record(p, &c, data, len, &pos, &lineno, &reason);
		if (st == REC_END)
			break;
		if (st == REC_BLANK)
			continue;
		if (st == REC_BAD) {
			if (!have_header) {
				rc = vg_error_set(err, VG_EMALFORMED, "CSV header (line %zu): %s", at,
						  reason);
				goto out;
			}
			reject(p, at, reason);
			continue;
		}
		if (have_header) {
			if ((rc = csv_row(p, &c, at, header, header_buf, n_header, col_value,
					  col_type, col_meta)))
				goto out;
			continue;
		}
		/* The header: names copied NUL-terminated, so they can be JSON keys. */
		size_t used = 0;
		for (size_t k = 0; k < c.n_fields; k++) {
			const char *name = c.buf + c.fields[k].off;
			size_t n = c.fields[k].len;
			trim(&name, &n);
			if (n == 0 || memchr(name, '\0', n)) {
				rc = vg_error_set(err, VG_EMALFORMED,
						  "CSV header (line %zu): column %zu has no name", at,
						  k + 1);
				goto out;
			}
			/* A name becomes a metadata key, which jansson refuses unless it is
			 * UTF-8: the column's cells would vanish without a word. */
			if (!utf8_valid(name, n)) {
				rc = vg_error_set(
					err, VG_EMALFORMED,
					"CSV header (line %zu): column %zu is not valid UTF-8", at,
					k + 1);
				goto out;
			}
			memcpy(header_buf + used, name, n);
			header_buf[used + n] = '\0';
			header[k] = (csv_field){used, n};
			for (size_t j = 0; j < k; j++)
				if (header[j].len == n && memcmp(header_buf + header[j].off, name, n) == 0) {
					rc = vg_error_set(err, VG_EMALFORMED,
							  "CSV header (line %zu): column '%.40s' twice",
							  at, header_buf + used);
					goto out;
				}
			if (name_is(name, n, "value"))
				col_value = (long)k;
			else if (name_is(name, n, "type"))
				col_type = (long)k;
			else if (name_is(name, n, "metadata"))
				col_meta = (long)k;
			used += n + 1;
		}
		n_header = c.n_fields;
		if (col_value < 0) {
			rc = vg_error_set(err, VG_EMALFORMED,
					  "CSV header (line %zu) has no 'value' column", at);
			goto out;
		}
		have_header = true;
	}
	if (!have_header)
		rc = vg_error_set(err, VG_EMALFORMED, "CSV input has no header row");
out:
	free(c.buf);
	free(header_buf);
	return rc;
}

int vg_bank_parse(const char *data, size_t len, const vg_bank_parse_opts *opts,
		  vg_bank_record_fn *on_record, vg_bank_reject_fn *on_reject, void *ctx,
		  vg_error *err)
{
	if (opts->type && !vg_bank_type_known(opts->type))
		return vg_error_set(err, VG_EINVAL, "unknown signal type '%.20s'", opts->type);
	parser p = {
		.opts = opts,
		.max_line = opts->max_line_bytes ? opts->max_line_bytes : VG_BANK_LINE_MAX,
		.on_record = on_record,
		.on_reject = on_reject,
		.ctx = ctx,
	};
	const vg__bank_type *t =
		opts->type ? vg__bank_type_find(opts->type, strlen(opts->type)) : NULL;
	p.whole_line = t && (t->kind == VG__BANK_KIND_URL || t->kind == VG__BANK_KIND_TEXT);
	size_t bom = vg_utf8_bom(data, len); /* not part of line 1 */
	data += bom, len -= bom;
	switch (opts->format) {
	case VG_BANK_PLAIN: return parse_plain(&p, data, len);
	case VG_BANK_NDJSON: return parse_ndjson(&p, data, len);
	case VG_BANK_CSV: return parse_csv(&p, data, len, err);
	}
	return vg_error_set(err, VG_EINVAL, "unknown format");
}

bool vg_bank_format_parse(const char *name, vg_bank_format *ret)
{
	static const struct {
		const char *name;
		vg_bank_format f;
	} names[] = {{"plain", VG_BANK_PLAIN}, {"csv", VG_BANK_CSV}, {"ndjson", VG_BANK_NDJSON}};
	for (size_t i = 0; name && i < VG_ARRAY_LEN(names); i++)
		if (strcmp(names[i].name, name) == 0) {
			*ret = names[i].f;
			return true;
		}
	return false;
}
