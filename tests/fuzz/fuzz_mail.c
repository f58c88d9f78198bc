/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_report_mail_parse() on arbitrary bytes, the parser behind vigil
 * report ingest-mail and POST /v1/reports/email (GMime underneath). It must return one of
 * its documented codes, never leave a report behind on failure, and every report it
 * gives must keep the model's invariants: 1..250 canonical, distinct URLs, a known
 * category and source, a valid reporter email when one is set.
 */
#include <string.h>

#include "fuzz.h"
#include "report/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vg_report_mail m;
	vg_error err;
	vg_report_mail_init(&m);
	int rc = vg_report_mail_parse(data, size, &m, &err);
	if (rc != 0) {
		VG_FUZZ_CHECK(rc == VG_EMALFORMED || rc == VG_EINVAL || rc == VG_ETOOBIG);
		VG_FUZZ_CHECK(m.report == NULL);
		VG_FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
	} else {
		const vg_report *r = m.report;
		VG_FUZZ_CHECK(r != NULL);
		VG_FUZZ_CHECK(r->source == m.kind);
		VG_FUZZ_CHECK((unsigned)r->category < VG_REPORT_NCATEGORIES);
		VG_FUZZ_CHECK(r->n_urls >= 1 && r->n_urls <= VG_REPORT_URLS_MAX);
		for (size_t i = 0; i < r->n_urls; i++) {
			char again[VG_URL_MAX + 1];
			VG_FUZZ_CHECK(vg_url_canonicalize(r->urls[i], strlen(r->urls[i]), again,
							  sizeof(again), NULL) == 0);
			VG_FUZZ_CHECK(strcmp(again, r->urls[i]) == 0);
			for (size_t k = 0; k < i; k++)
				VG_FUZZ_CHECK(strcmp(r->urls[i], r->urls[k]) != 0);
		}
		VG_FUZZ_CHECK(!r->reporter_email || strlen(r->reporter_email) <= VG_REPORT_EMAIL_MAX);
		VG_FUZZ_CHECK(!r->reporter_name || strlen(r->reporter_name) <= VG_REPORT_NAME_MAX);
	}
	VG_FUZZ_CHECK(!m.subject || strlen(m.subject) <= 998);
	vg_report_mail_done(&m);
	return 0;
}
