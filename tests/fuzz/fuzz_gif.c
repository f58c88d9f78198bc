/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: GIF through vg_image_hash() into giflib (decode_gif.c) and PDQ. The
 * checks live in fuzz_image.h, the seeds in corpus/gif/ (see make-corpus).
 */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_image(data, size, VG_IMAGE_GIF);
}
