/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the event decoder (vg_json_decode), the parser every NDJSON event
 * line meets first, run differentially against jansson (event_oracle.h): the same
 * accept/reject and the same values. Also checks what a reader relies on: every node's
 * `next` points forward and within the document, strings are NUL-terminated, and a kept
 * copy (vg_json_doc_copy, which the engine hands to its workers) reads the same values
 * from inside its own bytes.
 */
#include <stdlib.h>
#include <string.h>

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
	if (bad == 0 && doc.n) {
		size_t bytes = vg_json_doc_copy_size(&doc);
		char *mem = malloc(bytes); /* exact: ASan sees a copy that writes or reads past it */
		vg_json_doc copy;
		vg_json_doc_copy(&doc, mem, &copy);
		VG_FUZZ_CHECK(copy.n == doc.n);
		for (size_t i = 0; i < doc.n; i++) {
			const vg_json_node *a = &doc.nodes[i], *b = &copy.nodes[i];
			VG_FUZZ_CHECK(a->type == b->type && a->len == b->len && a->next == b->next);
			if (a->type == VG_JSON_STRING) {
				VG_FUZZ_CHECK(b->v.str >= mem && b->v.str + b->len < mem + bytes);
				VG_FUZZ_CHECK(memcmp(a->v.str, b->v.str, a->len + 1) == 0);
			}
		}
		free(mem);
	}
	return 0;
}
