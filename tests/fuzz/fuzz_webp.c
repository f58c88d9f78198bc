/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: still and animated WebP through vg_image_hash() into libwebp and
 * libwebpdemux (decode_webp.c) and PDQ. Checks: fuzz_image.h; seeds: corpus/webp/.
 */
#include "fuzz_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_image(data, size, VG_IMAGE_WEBP);
}
