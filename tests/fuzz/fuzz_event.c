/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the event decoder (vg_json_decode), the parser every NDJSON event
 * line meets first, run differentially against jansson (event_oracle.h): the same
 * accept/reject and the same values. Also checks what a reader relies on: every node's
 * `next` points forward and within the document, and strings are NUL-terminated.
 */
#include <stdlib.h>

#include "event_oracle.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static vg_json_doc doc;
	static bool init;
	if (!init) {
		vg_json_doc_init(&doc, 0);
		init = true;
	}
	int bad = oracle_check(&doc, (const char *)data, size);
	if (bad)
		fprintf(stderr, "oracle disagreement %d\n", bad);
	VG_FUZZ_CHECK(bad == 0);
	for (size_t i = 0; i < doc.n; i++) {
		VG_FUZZ_CHECK(doc.nodes[i].next > i && doc.nodes[i].next <= doc.n);
		if (doc.nodes[i].type == VG_JSON_STRING)
			VG_FUZZ_CHECK(doc.nodes[i].v.str[doc.nodes[i].len] == '\0');
	}
	return 0;
}
