/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the multipart/form-data reader behind HMA's POST /h/hash. The input's
 * first line is the Content-Type header, the rest the body. Whatever it finds must lie
 * wholly inside the body; every failure is one of its documented codes.
 */
#include <string.h>

#include "api/internal.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl || nl - data > 512)
		return 0;
	char ct[513];
	memcpy(ct, data, (size_t)(nl - data));
	ct[nl - data] = '\0';
	const uint8_t *body = nl + 1;
	size_t len = size - (size_t)(body - data);
	const uint8_t *part;
	size_t plen;
	int rc = vg__multipart_field(ct, body, len, "photo", &part, &plen);
	if (rc) {
		VG_FUZZ_CHECK(rc == VG_EUNSUPPORTED || rc == VG_ENOENT || rc == VG_EMALFORMED);
		return 0;
	}
	VG_FUZZ_CHECK(part >= body && part + plen <= body + len);
	return 0;
}
