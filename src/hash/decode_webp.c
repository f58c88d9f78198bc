/* SPDX-License-Identifier: Apache-2.0
 *
 * WebP through libwebp: lossy, lossless, with or without alpha (alpha is dropped, not
 * composited), and the first frame of an animation (found by libwebpdemux and drawn on
 * its canvas here, a row at a time). Fast mode lets libwebp scale while decoding and skip its in-loop filter
 * and fancy upsampling.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "internal.h"

/* The first frame of an animation on its canvas, as libwebpdemux's WebPAnimDecoder
 * composes it: the canvas starts transparent black and the first frame is decoded into
 * it unblended, so a pixel is the frame's colour inside the frame and black outside.
 * WebPAnimDecoder itself is not used: it allocates two RGBA canvases (8 bytes a canvas
 * pixel) before reading a frame, and the canvas size costs an attacker nothing (a
 * 90-byte file declares 10000x10000 around a 1x1 frame). Here only the frame is
 * decoded; the canvas exists one row at a time. */
static int first_frame(const uint8_t *data, size_t len, int w, int h, bool resize, vg__sink *sink,
		       vg_error *err)
{
	WebPDecoderConfig cfg;
	if (!WebPInitDecoderConfig(&cfg))
		return vg_error_set(err, VG_EINTERNAL, "libwebp version mismatch");
	WebPData wd = {data, len};
	WebPDemuxer *dmx = WebPDemux(&wd);
	if (!dmx)
		return vg_error_set(err, VG_ECORRUPT, "corrupt animated WebP");
	WebPIterator it;
	uint8_t *row = NULL;
	int rc = 0;
	bool have_it = WebPDemuxGetFrame(dmx, 1, &it);
	if (!have_it ||
	    WebPGetFeatures(it.fragment.bytes, it.fragment.size, &cfg.input) != VP8_STATUS_OK) {
		rc = vg_error_set(err, VG_ECORRUPT, "corrupt animated WebP frame");
		goto out;
	}
	int fx = it.x_offset, fy = it.y_offset, fw = cfg.input.width, fh = cfg.input.height;
	if (fx < 0 || fy < 0 || fw <= 0 || fh <= 0 || fw > w - fx || fh > h - fy) {
		rc = vg_error_set(err, VG_ECORRUPT, "animated WebP frame outside its canvas");
		goto out;
	}
	/* The frame decoded whole (3 bytes a pixel, and as much again for libwebp's own
	 * buffers) and one canvas row. */
	rc = vg__sink_begin(sink, w, h, resize, (uint64_t)fw * fh * 7 + (uint64_t)w * 3, err);
	if (rc)
		goto out;
	cfg.output.colorspace = MODE_RGB;
	if (WebPDecode(it.fragment.bytes, it.fragment.size, &cfg) != VP8_STATUS_OK) {
		rc = vg_error_set(err, VG_ECORRUPT, "corrupt animated WebP frame");
		goto out;
	}
	row = calloc((size_t)w, 3);
	if (!row) {
		rc = vg_error_set(err, VG_ENOMEM, "no memory for a WebP row");
		goto out;
	}
	const WebPRGBABuffer *b = &cfg.output.u.RGBA;
	int y;
	while ((y = vg__sink_next_row(sink)) >= 0) {
		bool inside = y >= fy && y < fy + fh;
		if (inside)
			memcpy(row + (size_t)fx * 3, b->rgba + (size_t)(y - fy) * b->stride,
			       (size_t)fw * 3);
		vg__sink_put_row(sink, y, row, 3, false);
		if (inside) /* back to the black canvas for the rows below the frame */
			memset(row + (size_t)fx * 3, 0, (size_t)fw * 3);
	}
out:
	if (have_it)
		WebPDemuxReleaseIterator(&it);
	WebPFreeDecBuffer(&cfg.output);
	free(row);
	WebPDemuxDelete(dmx);
	return rc;
}

int vg__decode_webp(const uint8_t *data, size_t len, const vg_hash_opts *opts, vg__sink *sink,
		    uint32_t *ret_w, uint32_t *ret_h, vg_error *err)
{
	WebPDecoderConfig cfg;
	if (!WebPInitDecoderConfig(&cfg))
		return vg_error_set(err, VG_EINTERNAL, "libwebp version mismatch");
	if (WebPGetFeatures(data, len, &cfg.input) != VP8_STATUS_OK)
		return vg_error_set(err, VG_ECORRUPT, "corrupt WebP header");
	int w = cfg.input.width, h = cfg.input.height;
	int rc = vg__check_dims((uint64_t)w, (uint64_t)h, opts, err);
	if (rc)
		return rc;
	bool resize = !opts->hma && (w > VG__RESIZE_DIM || h > VG__RESIZE_DIM);

	if (cfg.input.has_animation) {
		rc = first_frame(data, len, w, h, resize, sink, err);
		goto done;
	}

	int dw = w, dh = h;
	if (opts->fast && resize) {
		/* Decode straight to about twice the 512 grid; nearest-neighbour takes it
		 * from there. */
		int s = w < h ? w : h;
		if (s > 2 * VG__RESIZE_DIM) {
			dw = (int)((int64_t)w * 2 * VG__RESIZE_DIM / s);
			dh = (int)((int64_t)h * 2 * VG__RESIZE_DIM / s);
			cfg.options.use_scaling = 1;
			cfg.options.scaled_width = dw;
			cfg.options.scaled_height = dh;
		}
		cfg.options.bypass_filtering = 1;
		cfg.options.no_fancy_upsampling = 1;
	}
	/* libwebp decodes the whole picture: the RGB output, and for lossless its ARGB
	 * working copy. */
	rc = vg__sink_begin(sink, dw, dh, resize, (uint64_t)dw * dh * 7, err);
	if (rc)
		return rc;

	cfg.output.colorspace = MODE_RGB;
	if (WebPDecode(data, len, &cfg) != VP8_STATUS_OK) {
		WebPFreeDecBuffer(&cfg.output);
		return vg_error_set(err, VG_ECORRUPT, "corrupt WebP");
	}
	const WebPRGBABuffer *b = &cfg.output.u.RGBA;
	for (int y = 0; y < dh; y++)
		vg__sink_put_row(sink, y, b->rgba + (size_t)y * b->stride, 3, false);
	WebPFreeDecBuffer(&cfg.output);
done:
	if (rc == 0) {
		*ret_w = (uint32_t)w;
		*ret_h = (uint32_t)h;
	}
	return rc;
}
