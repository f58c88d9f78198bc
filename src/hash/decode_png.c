/* SPDX-License-Identifier: Apache-2.0
 *
 * PNG through libpng's low-level API: every colour type and bit depth. Palettes and low
 * bit depths expand to 8 bits, 16-bit samples keep their high byte, and alpha (an alpha
 * channel or tRNS) is dropped, never composited, so a transparent PNG hashes like its
 * colour planes. Interlaced images are read whole; others row by row.
 *
 * Hostile input: libpng errors longjmp back here; dimensions are checked against the
 * limits before any row is read; ancillary chunks the hash does not use (text, ICC
 * profiles, ...) are skipped without being inflated or kept.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "internal.h"

#define CHUNK_MAX (8 * 1024 * 1024)

struct src {
	const uint8_t *data;
	size_t len, pos;
	char msg[160];
};

static void on_read(png_structp png, png_bytep out, size_t n)
{
	struct src *s = png_get_io_ptr(png);
	if (n > s->len - s->pos)
		png_error(png, "truncated PNG");
	memcpy(out, s->data + s->pos, n);
	s->pos += n;
}

static void on_error(png_structp png, png_const_charp msg)
{
	struct src *s = png_get_error_ptr(png);
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
	png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
	(void)png, (void)msg;
}

int vg__decode_png(const uint8_t *data, size_t len, const vg_hash_opts *opts, vg__sink *sink,
		   uint32_t *ret_w, uint32_t *ret_h, vg_error *err)
{
	struct src src = {.data = data, .len = len};
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	uint8_t *volatile pixels = NULL;
	int volatile rc = 0;
	if (!info) {
		rc = vg_error_set(err, VG_ENOMEM, "no memory for libpng");
		goto out;
	}
	if (setjmp(png_jmpbuf(png))) {
		rc = vg_error_set(err, VG_ECORRUPT, "corrupt PNG: %s", src.msg);
		goto out;
	}
	png_set_read_fn(png, &src, on_read);
	/* libpng's own limits up to the format's, so vg__check_dims judges the size and says
	 * "too large" (413); libpng refusing it first said "corrupt" (422). Nothing is
	 * allocated for pixels before that check. */
	png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
	png_set_chunk_malloc_max(png, CHUNK_MAX);
	/* Nothing but IHDR, PLTE, tRNS and IDAT reaches the hash, and libpng inflates and
	 * keeps every text chunk before IDAT: 1000 zTXt chunks of 8 KB each inflating to
	 * 8 MB made one 8 MB file hold 8 GB. Every other chunk is skipped unread (its CRC
	 * is still checked), and the few libpng keeps are capped in number. */
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, NULL, 0);
	static const png_byte skip[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0hIST\0pCAL\0sCAL\0";
	png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, (int)(sizeof(skip) / 5));
	png_set_chunk_cache_max(png, 16);
	png_read_info(png, info);

	png_uint_32 w, h;
	int depth, ctype, interlace;
	png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
	rc = vg__check_dims(w, h, opts, err);
	if (rc)
		goto out;

	if (depth == 16)
		png_set_strip_16(png);
	if (ctype == PNG_COLOR_TYPE_PALETTE)
		png_set_palette_to_rgb(png);
	if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
		png_set_expand_gray_1_2_4_to_8(png);
	if (png_get_valid(png, info, PNG_INFO_tRNS))
		png_set_tRNS_to_alpha(png);
	png_set_strip_alpha(png);
	int passes = png_set_interlace_handling(png);
	png_read_update_info(png, info);

	int channels = png_get_channels(png, info);
	bool gray = channels < 3;
	size_t stride = png_get_rowbytes(png, info);
	if (stride != (size_t)w * channels) {
		rc = vg_error_set(err, VG_EINTERNAL, "unexpected PNG row layout");
		goto out;
	}
	bool resize = !opts->hma && (w > VG__RESIZE_DIM || h > VG__RESIZE_DIM);
	/* Interlaced images need every pass before any row is final. */
	size_t rows_held = passes > 1 ? h : 1;
	rc = vg__sink_begin(sink, (int)w, (int)h, resize, (uint64_t)stride * rows_held, err);
	if (rc)
		goto out;

	pixels = malloc(stride * rows_held);
	if (!pixels) {
		rc = vg_error_set(err, VG_ENOMEM, "no memory for PNG rows");
		goto out;
	}
	if (passes > 1) {
		for (int p = 0; p < passes; p++)
			for (png_uint_32 y = 0; y < h; y++)
				png_read_row(png, pixels + stride * y, NULL);
		for (png_uint_32 y = 0; y < h; y++)
			vg__sink_put_row(sink, (int)y, pixels + stride * y, channels, gray);
	} else {
		for (png_uint_32 y = 0; y < h && vg__sink_next_row(sink) >= 0; y++) {
			png_read_row(png, pixels, NULL);
			vg__sink_put_row(sink, (int)y, pixels, channels, gray);
		}
	}
	*ret_w = w;
	*ret_h = h;
out:
	png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
	free(pixels);
	return rc;
}
