/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_report_parse_json() on arbitrary bytes, the parser behind the
 * public, unauthenticated POST /v1/reports. It must return one of its documented codes;
 * a field error list goes with VG_EINVAL only; an accepted report keeps the model's
 * invariants (1..250 canonical, distinct URLs; lower-case evidence hex of its type's
 * length) and survives the round trip through vg_report_to_json() unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "report/report.h"

static void check_report(const vg_report *r)
{
	VG_FUZZ_CHECK(r->n_urls >= 1 && r->n_urls <= VG_REPORT_URLS_MAX);
	for (size_t i = 0; i < r->n_urls; i++) {
		char again[VG_URL_MAX + 1];
		VG_FUZZ_CHECK(vg_url_canonicalize(r->urls[i], strlen(r->urls[i]), again, sizeof(again),
						  NULL) == 0);
		VG_FUZZ_CHECK(strcmp(again, r->urls[i]) == 0);
		for (size_t k = 0; k < i; k++)
			VG_FUZZ_CHECK(strcmp(r->urls[i], r->urls[k]) != 0);
	}
	VG_FUZZ_CHECK(r->n_evidence <= VG_REPORT_EVIDENCE_MAX);
	for (size_t i = 0; i < r->n_evidence; i++) {
		size_t n = strlen(r->evidence[i].hex);
		VG_FUZZ_CHECK(n == (r->evidence[i].type == VG_REPORT_HASH_MD5 ? 32u : 64u));
		VG_FUZZ_CHECK(strspn(r->evidence[i].hex, "0123456789abcdef") == n);
	}
	VG_FUZZ_CHECK(!r->description || strlen(r->description) <= VG_REPORT_DESCRIPTION_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vg_report *r = NULL;
	vg_report_fields fields;
	vg_error err;
	vg_report_fields_init(&fields);
	int rc = vg_report_parse_json((const char *)data, size, &r, &fields, &err);
	if (rc != 0) {
		VG_FUZZ_CHECK(rc == VG_EINVAL || rc == VG_EMALFORMED || rc == VG_ETOOBIG);
		VG_FUZZ_CHECK(r == NULL);
		VG_FUZZ_CHECK(rc == VG_EINVAL ? fields.n > 0 : fields.n == 0);
		char *json = vg_report_fields_json(&fields);
		VG_FUZZ_CHECK(json != NULL);
		free(json);
		vg_report_fields_done(&fields);
		return 0;
	}
	VG_FUZZ_CHECK(fields.n == 0);
	check_report(r);
	char *json = vg_report_to_json(r, true);
	VG_FUZZ_CHECK(json != NULL);
	vg_report *again = NULL;
	VG_FUZZ_CHECK(vg_report_parse_json(json, strlen(json), &again, NULL, &err) == 0);
	char *json2 = vg_report_to_json(again, true);
	VG_FUZZ_CHECK(json2 && strcmp(json, json2) == 0);
	free(json);
	free(json2);
	vg_report_free(again);
	vg_report_free(r);
	return 0;
}
