/* SPDX-License-Identifier: Apache-2.0
 *
 * The decoder library versions, for `vigil version`: a hash is only as reproducible as
 * the decoder that produced its pixels.
 */
#include <stdio.h>

#include <gif_lib.h>
#include <jpeglib.h>
#include <png.h>
#include <webp/decode.h>

#include "hash.h"

#define STR_(x) #x
#define STR(x) STR_(x)

void vg_hash_decoder_versions(char *out, size_t size)
{
	int wv = WebPGetDecoderVersion();
	snprintf(out, size, "libjpeg-turbo %s, libpng %s, libwebp %d.%d.%d, giflib %d.%d.%d",
		 STR(LIBJPEG_TURBO_VERSION), png_get_libpng_ver(NULL), wv >> 16, (wv >> 8) & 255,
		 wv & 255, GIFLIB_MAJOR, GIFLIB_MINOR, GIFLIB_RELEASE);
}
