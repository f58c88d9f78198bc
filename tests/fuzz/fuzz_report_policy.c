/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the report routing file (vg_report_policy_parse), one `category =
 * action, ...` per line. Its contract, from report.h, checked on any text:
 * - a refused text leaves the policy as it was;
 * - an accepted one never lets a csam, ncii or terrorism report reach the site owner
 *   (no notify_owner, no forward_owner), whatever the lines say;
 * - lines are independent: applying the text's lines one at a time, each as a text of
 *   its own, is accepted exactly when the whole text is, and gives the same policy.
 */
#include <string.h>

#include "fuzz.h"
#include "report/report.h"

static bool owner_safe(const vg_report_policy *p)
{
	static const vg_report_category restricted[] = {VG_REPORT_CSAM, VG_REPORT_NCII,
							 VG_REPORT_TERRORISM};
	unsigned owner = VG_REPORT_ACT_NOTIFY_OWNER | VG_REPORT_ACT_FORWARD_OWNER;
	for (size_t i = 0; i < sizeof(restricted) / sizeof(restricted[0]); i++)
		if (p->rules[restricted[i]].actions & owner)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	vg_report_policy start, whole;
	vg_report_policy_default(&start);
	whole = start;
	vg_error err;
	int rc = vg_report_policy_parse(&whole, text, size, "fuzz", &err);
	if (rc != 0)
		VG_FUZZ_CHECK(memcmp(&whole, &start, sizeof(start)) == 0);
	else
		VG_FUZZ_CHECK(owner_safe(&whole));

	vg_report_policy each = start;
	bool all = true;
	for (size_t at = 0; at < size && all;) {
		const char *nl = memchr(text + at, '\n', size - at);
		size_t end = nl ? (size_t)(nl - text) : size;
		all = vg_report_policy_parse(&each, text + at, end - at, "fuzz", &err) == 0;
		at = end + 1;
	}
	VG_FUZZ_CHECK(all == (rc == 0));
	if (all)
		VG_FUZZ_CHECK(memcmp(&each, &whole, sizeof(whole)) == 0);
	return 0;
}
