/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_bank_parse(), the bank import parsers (plain, CSV, NDJSON) that
 * read hash lists from outside. The first input byte picks the format, the default type
 * and a small or default line cap; the rest is the file. Beyond not crashing, each
 * result must keep the parser's contract (bank.h): every record has a known type and a
 * value in normal form (lower-case hex of the type's length), metadata that is NULL or
 * a JSON object within VG_BANK_METADATA_MAX, line numbers that never go backwards and
 * lie within the input's line count, and every reject carries a reason.
 */
#include <jansson.h>
#include <string.h>

#include "bank/bank.h"
#include "fuzz.h"

typedef struct state {
	size_t lines;     /* lines in the input (newlines + 1) */
	size_t last_line; /* records only: they arrive in input order */
	size_t records, rejects;
} state;

static int on_record(const vg_bank_record *r, void *ctx)
{
	state *s = ctx;
	VG_FUZZ_CHECK(vg_bank_type_known(r->type));
	size_t want = strcmp(r->type, "md5") == 0 ? 32 : 64;
	VG_FUZZ_CHECK(strlen(r->value) == want);
	for (size_t i = 0; i < want; i++)
		VG_FUZZ_CHECK((r->value[i] >= '0' && r->value[i] <= '9') ||
			      (r->value[i] >= 'a' && r->value[i] <= 'f'));
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
	static const char *const types[] = {NULL, "pdq", "md5", "sha256"};
	uint8_t sel = data[0];
	vg_bank_parse_opts o = {
		.format = (vg_bank_format)(sel % 3),
		.type = types[(sel / 3) % 4],
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
