/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_bank_parse(), the bank import parsers (plain, CSV, NDJSON) that
 * read signal lists from outside, and through them every type's normaliser. The first
 * input byte picks the format (byte % 3), the default type (none, pdq, md5, sha256, or
 * with bit 0x40 url, domain, ip, text: (byte / 3) % 4 indexes the group) and a small or
 * default line cap (bit 0x80); the rest is the file. Beyond not crashing, each result
 * must keep the parser's contract (bank.h): every record has a known type and a value in
 * that type's normal form (hex digits of the type's length; an http(s) url; a lower-case
 * ASCII domain; an address inet_pton reads back; text free of control characters), which
 * normalises to itself; metadata that is NULL or a JSON object within
 * VG_BANK_METADATA_MAX; line numbers that never go backwards and lie within the input's
 * line count; and every reject carries a reason.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <string.h>

#include "bank/bank.h"
#include "fuzz.h"

typedef struct state {
	size_t lines;     /* lines in the input (newlines + 1) */
	size_t last_line; /* records only: they arrive in input order */
	size_t records, rejects;
} state;

static bool all_in(const char *s, const char *set)
{
	return s[strspn(s, set)] == '\0';
}

/* The shape of each type's normal form (bank.h, vg_bank_value_normalize). */
static void check_shape(const char *type, const char *v)
{
	size_t n = strlen(v);
	VG_FUZZ_CHECK(n >= 1 && n <= VG_BANK_VALUE_MAX);
	if (strcmp(type, "md5") == 0 || strcmp(type, "pdq") == 0 || strcmp(type, "sha256") == 0) {
		VG_FUZZ_CHECK(n == (strcmp(type, "md5") == 0 ? 32u : 64u));
		VG_FUZZ_CHECK(all_in(v, "0123456789abcdef"));
	} else if (strcmp(type, "url") == 0) {
		VG_FUZZ_CHECK(n <= VG_BANK_URL_MAX);
		VG_FUZZ_CHECK(strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0);
		for (size_t i = 0; i < n; i++)
			VG_FUZZ_CHECK((unsigned char)v[i] > 0x20 && (unsigned char)v[i] < 0x7f);
	} else if (strcmp(type, "domain") == 0) {
		VG_FUZZ_CHECK(n <= VG_BANK_DOMAIN_MAX);
		VG_FUZZ_CHECK(all_in(v, "abcdefghijklmnopqrstuvwxyz0123456789-_."));
		VG_FUZZ_CHECK(v[0] != '.' && v[n - 1] != '.' && !strstr(v, ".."));
	} else if (strcmp(type, "ip") == 0) {
		char addr[64];
		unsigned char bin[16];
		VG_FUZZ_CHECK(n < sizeof(addr));
		memcpy(addr, v, n + 1);
		char *slash = strchr(addr, '/');
		if (slash)
			*slash = '\0';
		int af = strchr(addr, ':') ? AF_INET6 : AF_INET;
		VG_FUZZ_CHECK(inet_pton(af, addr, bin) == 1);
	} else {
		VG_FUZZ_CHECK(strcmp(type, "text") == 0);
		VG_FUZZ_CHECK(n <= VG_BANK_TEXT_MAX);
		for (size_t i = 0; i < n; i++)
			VG_FUZZ_CHECK((unsigned char)v[i] >= 0x20 || v[i] == '\t');
	}
}

static int on_record(const vg_bank_record *r, void *ctx)
{
	state *s = ctx;
	VG_FUZZ_CHECK(vg_bank_type_known(r->type));
	check_shape(r->type, r->value);
	/* A normal form is a fixed point: the store's values normalise to themselves. */
	char again[VG_BANK_VALUE_BUF];
	vg_error err;
	VG_FUZZ_CHECK(vg_bank_value_normalize(r->type, r->value, strlen(r->value), again, &err) ==
		      0);
	VG_FUZZ_CHECK(strcmp(again, r->value) == 0);
	if (r->metadata) {
		size_t len = strlen(r->metadata);
		VG_FUZZ_CHECK(len <= VG_BANK_METADATA_MAX);
		json_t *obj = json_loads(r->metadata, JSON_DECODE_ANY, NULL);
		VG_FUZZ_CHECK(json_is_object(obj) && json_object_size(obj) > 0);
		json_decref(obj);
	}
	VG_FUZZ_CHECK(r->line >= 1 && r->line <= s->lines);
	VG_FUZZ_CHECK(r->line > s->last_line);
	s->last_line = r->line;
	s->records++;
	return 0;
}

static void on_reject(size_t line, const char *reason, void *ctx)
{
	state *s = ctx;
	VG_FUZZ_CHECK(reason && reason[0]);
	VG_FUZZ_CHECK(line >= 1 && line <= s->lines);
	s->rejects++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* The first group keeps the meaning of the seeds written before the second. */
	static const char *const types[] = {NULL,  "pdq",    "md5", "sha256",
					    "url", "domain", "ip",  "text"};
	uint8_t sel = data[0];
	vg_bank_parse_opts o = {
		.format = (vg_bank_format)(sel % 3),
		.type = types[(sel / 3) % 4 + ((sel & 0x40) ? 4 : 0)],
		.max_line_bytes = (sel & 0x80) ? 64 : 0,
	};
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	state s = {.lines = 1};
	for (size_t i = 0; i < len; i++)
		s.lines += text[i] == '\n';
	vg_error err;
	int rc = vg_bank_parse(text, len, &o, on_record, on_reject, &s, &err);
	VG_FUZZ_CHECK(rc == 0 || (o.format == VG_BANK_CSV && rc == VG_EMALFORMED));
	if (rc != 0)
		VG_FUZZ_CHECK(err.msg[0] != '\0');
	return 0;
}
