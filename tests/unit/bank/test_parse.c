/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the import parsers (vg_bank_parse): what each format accepts, how values
 * are normalised and types resolved, and that bad lines are reported with the right line
 * numbers without losing the lines after them, including over-long lines and broken
 * CSV quoting.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank/bank.h"

#define PDQ "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
#define MD5 "d35c785545392755e7e4164457657269"

typedef struct got {
	char rec[32][200]; /* "line type value metadata" */
	size_t n;
	size_t rejects[32];
	size_t n_rejects;
} got;

static int on_rec(const vg_bank_record *r, void *ctx)
{
	got *g = ctx;
	if (g->n < 32)
		snprintf(g->rec[g->n], sizeof(g->rec[0]), "%zu %s %s %s", r->line, r->type, r->value,
			 r->metadata ? r->metadata : "-");
	g->n++;
	return 0;
}

static void on_rej(size_t line, const char *reason, void *ctx)
{
	got *g = ctx;
	cr_assert(reason && *reason);
	if (g->n_rejects < 32)
		g->rejects[g->n_rejects] = line;
	g->n_rejects++;
}

static int parse(vg_bank_format f, const char *type, size_t max_line, const char *text, got *g)
{
	memset(g, 0, sizeof(*g));
	vg_bank_parse_opts o = {.format = f, .type = type, .max_line_bytes = max_line};
	vg_error err;
	/* An exact-size copy, so a read past the end is caught under ASan. */
	size_t len = strlen(text);
	char *copy = malloc(len ? len : 1);
	memcpy(copy, text, len);
	int rc = vg_bank_parse(copy, len, &o, on_rec, on_rej, g, &err);
	free(copy);
	return rc;
}

Test(parse, plain)
{
	got g;
	cr_assert_eq(parse(VG_BANK_PLAIN, NULL, 0,
			   "\xef\xbb\xbf# comment\n"
			   "\n"
			   "  " PDQ "  \n"
			   MD5 ", free text \r\n"
			   "xyz\n" PDQ ",{\"b\": 1, \"a\": \"x\"}\n" PDQ ",{bad json\n"
			   "0123456789\n" MD5,
			   &g),
		     0);
	cr_assert_eq(g.n, 4);
	cr_assert_str_eq(g.rec[0], "3 pdq " PDQ " -");
	cr_assert_str_eq(g.rec[1], "4 md5 " MD5 " {\"note\":\"free text\"}");
	cr_assert_str_eq(g.rec[2], "6 pdq " PDQ " {\"a\":\"x\",\"b\":1}");
	cr_assert_str_eq(g.rec[3], "9 md5 " MD5 " -");
	cr_assert_eq(g.n_rejects, 3);
	cr_assert_eq(g.rejects[0], 5);
	cr_assert_eq(g.rejects[1], 7);
	cr_assert_eq(g.rejects[2], 8);
}

Test(parse, plain_blank_separated_notes)
{
	got g;
	cr_assert_eq(parse(VG_BANK_PLAIN, NULL, 0,
			   MD5 "  dir/a file.jpg\n"          /* md5sum */
			   PDQ " *b.png\n"                   /* sha256sum -b */
			   MD5 "\t{\"k\": 2}\n"             /* a tab, then metadata */
			   PDQ " ,  x\n"                     /* blanks before the comma */
			   MD5 "*c\n",                       /* no blank: not a separator */
			   &g),
		     0);
	cr_assert_eq(g.n, 4);
	cr_assert_str_eq(g.rec[0], "1 md5 " MD5 " {\"note\":\"dir/a file.jpg\"}");
	cr_assert_str_eq(g.rec[1], "2 pdq " PDQ " {\"note\":\"b.png\"}");
	cr_assert_str_eq(g.rec[2], "3 md5 " MD5 " {\"k\":2}");
	cr_assert_str_eq(g.rec[3], "4 pdq " PDQ " {\"note\":\"x\"}");
	cr_assert_eq(g.n_rejects, 1);
	cr_assert_eq(g.rejects[0], 5);
	/* Urls and texts keep the whole line, blanks and commas included. */
	cr_assert_eq(parse(VG_BANK_PLAIN, "text", 0, "two  words, and *more\n", &g), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.rec[0], "1 text two  words, and *more -");
}

/* Found in review: md5sum marks a file name holding a backslash or a newline with a
 * backslash before the hash ("\HASH  we\\ird.jpg"), and a name may start with `{`; both
 * lines were rejected and their hashes not imported. */
Test(parse, plain_md5sum_escaped_and_brace_names)
{
	got g;
	cr_assert_eq(parse(VG_BANK_PLAIN, NULL, 0,
			   "\\" MD5 "  we\\\\ird.jpg\n"      /* name we\ird.jpg */
			   "\\" PDQ "  two\\nlines\\r.png\n" /* a newline, a CR */
			   MD5 "  {x}.jpg\n"                 /* a name, not JSON */
			   "\\" MD5 "  {\"k\": 1}\n"         /* escaped: always a name */
			   MD5 ",{x}\n"                      /* after a comma: metadata */
			   "\\xyz\n",                        /* no hash after the mark */
			   &g),
		     0);
	cr_assert_eq(g.n, 4);
	cr_assert_str_eq(g.rec[0], "1 md5 " MD5 " {\"note\":\"we\\\\ird.jpg\"}");
	cr_assert_str_eq(g.rec[1], "2 pdq " PDQ " {\"note\":\"two\\nlines\\r.png\"}");
	cr_assert_str_eq(g.rec[2], "3 md5 " MD5 " {\"note\":\"{x}.jpg\"}");
	cr_assert_str_eq(g.rec[3], "4 md5 " MD5 " {\"note\":\"{\\\"k\\\": 1}\"}");
	cr_assert_eq(g.n_rejects, 2);
	cr_assert_eq(g.rejects[0], 5, "bad JSON after a comma is still an error");
	cr_assert_eq(g.rejects[1], 6);
}

Test(parse, default_type_and_case)
{
	got g;
	char upper[] = PDQ;
	for (char *p = upper; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	char text[200];
	snprintf(text, sizeof(text), "%s\n%s\n", upper, MD5);
	cr_assert_eq(parse(VG_BANK_PLAIN, "sha256", 0, text, &g), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.rec[0], "1 sha256 " PDQ " -");
	cr_assert_eq(g.n_rejects, 1, "a 32-digit value is no sha256");
	cr_assert_eq(parse(VG_BANK_PLAIN, "sha1", 0, text, &g), VG_EINVAL);
}

Test(parse, over_long_lines)
{
	got g;
	size_t n = 5000;
	char *text = malloc(n + 200);
	memset(text, 'x', n);
	text[0] = '\n';
	snprintf(text + n, 200, "\n" PDQ "\n");
	memcpy(text + 1, PDQ ",", 65);
	cr_assert_eq(parse(VG_BANK_PLAIN, NULL, 1000, text, &g), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(g.n_rejects, 1);
	cr_assert_eq(g.rejects[0], 2);
	cr_assert_eq(parse(VG_BANK_NDJSON, NULL, 1000, text, &g), 0);
	cr_assert_eq(g.n_rejects, 2); /* the long line, and the bare PDQ (not an object) */
	cr_assert_eq(g.rejects[0], 2);
	free(text);
}

Test(parse, csv_quoting_and_columns)
{
	got g;
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0,
			   "Value, Type ,source,metadata\r\n"
			   PDQ ",pdq,\"a, \"\"b\"\"\",\"{\"\"x\"\": [1]}\"\r\n"
			   "\"" MD5 "\",,,\n"
			   "\n"
			   MD5 ",sha256,,\n"
			   MD5 ",md5,s,{not json}\n"
			   MD5 "\"x,md5,,\n"
			   MD5 ",md5,,,extra\n"
			   "\"" PDQ "\"junk,,,\n"
			   PDQ ",,\"multi\nline\",\n"
			   "\"" MD5 ",,,\n"
			   PDQ ",pdq,last,",
			   &g),
		     0);
	cr_assert_eq(g.n, 4, "%zu", g.n);
	cr_assert_str_eq(g.rec[0], "2 pdq " PDQ " {\"source\":\"a, \\\"b\\\"\",\"x\":[1]}");
	cr_assert_str_eq(g.rec[1], "3 md5 " MD5 " -");
	cr_assert_str_eq(g.rec[2], "10 pdq " PDQ " {\"source\":\"multi\\nline\"}");
	cr_assert_str_eq(g.rec[3], "13 pdq " PDQ " {\"source\":\"last\"}");
	size_t want[] = {5, 6, 7, 8, 9, 12};
	cr_assert_eq(g.n_rejects, VG_ARRAY_LEN(want), "%zu", g.n_rejects);
	for (size_t i = 0; i < VG_ARRAY_LEN(want); i++)
		cr_assert_eq(g.rejects[i], want[i], "reject %zu: line %zu", i, g.rejects[i]);
}

Test(parse, csv_header_errors)
{
	got g;
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "hash,type\n" PDQ ",pdq\n", &g), VG_EMALFORMED);
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "value,value\n", &g), VG_EMALFORMED);
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "value,\n", &g), VG_EMALFORMED);
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "", &g), VG_EMALFORMED);
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "\"value\n", &g), VG_EMALFORMED);
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "value\n", &g), 0);
	cr_assert_eq(g.n, 0);
}

/* Found in review: a header name that is not UTF-8 (a Latin-1 "Cat\xe9gorie") made that
 * column's metadata vanish: jansson refused the key and nothing said so. Cells that are
 * not UTF-8 reject their line; such a header refuses the file. */
Test(parse, csv_header_that_is_not_utf8_is_refused)
{
	got g;
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0,
			   "value,n\xff"
			   "ame,ok\n" MD5 ",secret-note,yes\n",
			   &g),
		     VG_EMALFORMED);
	cr_assert_eq(g.n, 0, "nothing imported with a column lost");
	cr_assert_eq(parse(VG_BANK_CSV, NULL, 0, "value,Cat\xc3\xa9gorie\n" MD5 ",x\n", &g), 0);
	cr_assert_eq(g.n, 1);
	cr_assert_str_eq(g.rec[0], "2 md5 " MD5 " {\"Cat\xc3\xa9gorie\":\"x\"}");
}

Test(parse, ndjson)
{
	got g;
	cr_assert_eq(parse(VG_BANK_NDJSON, NULL, 0,
			   "{\"value\": \"" PDQ "\"}\n"
			   "{\"value\": \"" PDQ "\", \"type\": \"sha256\", \"metadata\": {\"z\":1,\"a\":null}}\n"
			   "[1]\n"
			   "{\"value\": 5}\n"
			   "{\"value\": \"" MD5 "\", \"metadata\": \"x\"}\n"
			   "{\"value\": \"" MD5 "\", \"type\": 3}\n"
			   "{\"value\": \"" MD5 "\", \"value\": \"" MD5 "\"}\n"
			   "\n"
			   "{\"value\": \"" MD5 "\", \"metadata\": null, \"id\": 7}",
			   &g),
		     0);
	cr_assert_eq(g.n, 3);
	cr_assert_str_eq(g.rec[0], "1 pdq " PDQ " -");
	cr_assert_str_eq(g.rec[1], "2 sha256 " PDQ " {\"a\":null,\"z\":1}");
	cr_assert_str_eq(g.rec[2], "9 md5 " MD5 " -");
	cr_assert_eq(g.n_rejects, 5);
	cr_assert_eq(g.rejects[0], 3);
	cr_assert_eq(g.rejects[4], 7);
}

Test(parse, values_and_names)
{
	char out[VG_BANK_VALUE_BUF];
	vg_error err;
	cr_assert_eq(vg_bank_value_normalize("md5", " D35C785545392755E7E4164457657269\t", 34, out,
					     &err),
		     0);
	cr_assert_str_eq(out, MD5);
	cr_assert_eq(vg_bank_value_normalize("md5", PDQ, 64, out, &err), VG_EINVAL);
	cr_assert_eq(vg_bank_value_normalize("pdq", "g" PDQ, 64, out, &err), VG_EINVAL);
	cr_assert_eq(vg_bank_value_normalize("nope", MD5, 32, out, &err), VG_EINVAL);
	cr_assert_str_eq(vg_bank_type_infer(MD5, 32), "md5");
	cr_assert_str_eq(vg_bank_type_infer(PDQ, 64), "pdq");
	cr_assert_null(vg_bank_type_infer("abc", 3));
	cr_assert(vg_bank_name_valid("a"));
	cr_assert(vg_bank_name_valid("ncmec-2024_v1"));
	cr_assert_not(vg_bank_name_valid(""));
	cr_assert_not(vg_bank_name_valid("-a"));
	cr_assert_not(vg_bank_name_valid("A"));
	cr_assert_not(vg_bank_name_valid("a b"));
	char long_name[70];
	memset(long_name, 'a', 65);
	long_name[65] = '\0';
	cr_assert_not(vg_bank_name_valid(long_name));
	long_name[64] = '\0';
	cr_assert(vg_bank_name_valid(long_name));
	char *meta;
	cr_assert_eq(vg_bank_metadata_normalize("{ \"b\":1, \"a\":2 }", 16, &meta, &err), 0);
	cr_assert_str_eq(meta, "{\"a\":2,\"b\":1}");
	free(meta);
	cr_assert_eq(vg_bank_metadata_normalize("[1]", 3, &meta, &err), VG_EINVAL);
	cr_assert_eq(vg_bank_metadata_normalize("{\"a\":1,\"a\":2}", 13, &meta, &err), VG_EINVAL);
}
