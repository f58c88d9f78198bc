/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: PNG through vg_image_hash() into libpng (decode_png.c) and PDQ. The
 * checks live in fuzz_image.h, the seeds in corpus/png/ (see make-corpus).
 */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_image(data, size, VG_IMAGE_PNG);
}
