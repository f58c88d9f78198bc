/* SPDX-License-Identifier: Apache-2.0
 *
 * GIF through giflib: the first frame, drawn on the logical screen (filled with the
 * background colour; grown to the frame when the screen is smaller, as browsers do) and
 * mapped through its colour table. Transparency is ignored, as alpha is for the other
 * formats. Only the first image is read, so a hostile animation
 * with thousands of frames costs nothing extra.
 */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "internal.h"

struct src {
	const uint8_t *data;
	size_t len, pos;
};

static int on_read(GifFileType *gif, GifByteType *out, int n)
{
	struct src *s = gif->UserData;
	size_t k = (size_t)n < s->len - s->pos ? (size_t)n : s->len - s->pos;
	memcpy(out, s->data + s->pos, k);
	s->pos += k;
	return (int)k;
}

/* Reads the first image's descriptor; skips extensions before it. */
static int read_first_desc(GifFileType *gif, vg_error *err)
{
	GifRecordType rec;
	do {
		if (DGifGetRecordType(gif, &rec) == GIF_ERROR)
			return vg_error_set(err, VG_ECORRUPT, "corrupt GIF: %s",
					    GifErrorString(gif->Error));
		if (rec == EXTENSION_RECORD_TYPE) {
			int code;
			GifByteType *ext;
			if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR)
				return vg_error_set(err, VG_ECORRUPT, "corrupt GIF extension");
			while (ext)
				if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
					return vg_error_set(err, VG_ECORRUPT, "corrupt GIF extension");
		} else if (rec == TERMINATE_RECORD_TYPE) {
			return vg_error_set(err, VG_ECORRUPT, "GIF has no image");
		}
	} while (rec != IMAGE_DESC_RECORD_TYPE);

	if (DGifGetImageDesc(gif) == GIF_ERROR)
		return vg_error_set(err, VG_ECORRUPT, "corrupt GIF image descriptor");
	GifImageDesc *d = &gif->Image;
	if (d->Width <= 0 || d->Height <= 0 || d->Left < 0 || d->Top < 0)
		return vg_error_set(err, VG_ECORRUPT, "GIF frame has no size");
	return 0;
}

/* Reads the first image's indices, the descriptor read. */
static int read_first_image(GifFileType *gif, GifByteType **ret_idx, vg_error *err)
{
	const GifImageDesc *d = &gif->Image;
	GifByteType *idx = malloc((size_t)d->Width * d->Height);
	if (!idx)
		return vg_error_set(err, VG_ENOMEM, "no memory for a GIF frame");
	/* Interlaced frames store rows in four passes: every 8th from 0, every 8th
	 * from 4, every 4th from 2, every 2nd from 1. */
	static const int start[] = {0, 4, 2, 1}, step[] = {8, 8, 4, 2};
	int npass = d->Interlace ? 4 : 1;
	for (int p = 0; p < npass; p++) {
		int y0 = d->Interlace ? start[p] : 0, dy = d->Interlace ? step[p] : 1;
		for (int y = y0; y < d->Height; y += dy)
			if (DGifGetLine(gif, idx + (size_t)y * d->Width, d->Width) == GIF_ERROR) {
				free(idx);
				return vg_error_set(err, VG_ECORRUPT, "truncated GIF");
			}
	}
	*ret_idx = idx;
	return 0;
}

int vg__decode_gif(const uint8_t *data, size_t len, const vg_hash_opts *opts, vg__sink *sink,
		   uint32_t *ret_w, uint32_t *ret_h, vg_error *err)
{
	struct src src = {data, len, 0};
	int gerr = 0;
	GifFileType *gif = DGifOpen(&src, on_read, &gerr);
	if (!gif)
		return vg_error_set(err, VG_ECORRUPT, "corrupt GIF: %s", GifErrorString(gerr));

	GifByteType *idx = NULL;
	uint8_t *row = NULL;
	/* The canvas is at least the screen: one over the limits is refused unread. */
	int rc = 0;
	if (gif->SWidth > 0 && gif->SHeight > 0)
		rc = vg__check_dims((uint64_t)gif->SWidth, (uint64_t)gif->SHeight, opts, err);
	if (rc == 0)
		rc = read_first_desc(gif, err);
	if (rc)
		goto out;
	/* A logical screen smaller than the first frame, or 0x0, is a quirk of real
	 * encoders: browsers and ImageMagick grow the canvas to the frame and show the
	 * image. Refusing it let anyone patch four header bytes of a banked GIF so that it
	 * still displays everywhere but is never hashed, so never matched. */
	const GifImageDesc *d = &gif->Image;
	int sw = gif->SWidth > 0 ? gif->SWidth : 0, sh = gif->SHeight > 0 ? gif->SHeight : 0;
	if (sw < d->Left + d->Width)
		sw = d->Left + d->Width;
	if (sh < d->Top + d->Height)
		sh = d->Top + d->Height;
	rc = vg__check_dims((uint64_t)sw, (uint64_t)sh, opts, err);
	if (rc)
		goto out;

	const ColorMapObject *map = d->ColorMap ? d->ColorMap : gif->SColorMap;
	if (!map || map->ColorCount <= 0) {
		rc = vg_error_set(err, VG_ECORRUPT, "GIF has no colour table");
		goto out;
	}
	GifColorType bg = {0, 0, 0};
	if (gif->SColorMap && gif->SBackGroundColor < gif->SColorMap->ColorCount)
		bg = gif->SColorMap->Colors[gif->SBackGroundColor];

	bool resize = !opts->hma && (sw > VG__RESIZE_DIM || sh > VG__RESIZE_DIM);
	/* The frame's indices and one screen row. */
	rc = vg__sink_begin(sink, sw, sh, resize, (uint64_t)d->Width * d->Height + (uint64_t)sw * 3,
			    err);
	if (rc)
		goto out;
	rc = read_first_image(gif, &idx, err);
	if (rc)
		goto out;
	row = malloc((size_t)sw * 3);
	if (!row) {
		rc = vg_error_set(err, VG_ENOMEM, "no memory for a GIF row");
		goto out;
	}
	/* Only the rows the sink samples are painted: a screen declared far larger than
	 * its frame costs 512 rows, not all of them. */
	int y;
	while ((y = vg__sink_next_row(sink)) >= 0) {
		for (int x = 0; x < sw; x++) {
			GifColorType c = bg;
			if (y >= d->Top && y < d->Top + d->Height && x >= d->Left &&
			    x < d->Left + d->Width) {
				int i = idx[(size_t)(y - d->Top) * d->Width + (x - d->Left)];
				if (i < map->ColorCount)
					c = map->Colors[i];
			}
			row[3 * x] = c.Red;
			row[3 * x + 1] = c.Green;
			row[3 * x + 2] = c.Blue;
		}
		vg__sink_put_row(sink, y, row, 3, false);
	}
	*ret_w = (uint32_t)sw;
	*ret_h = (uint32_t)sh;
out:
	free(idx);
	free(row);
	DGifCloseFile(gif, &gerr);
	return rc;
}
