/* SPDX-License-Identifier: Apache-2.0
 *
 * WebP through libwebp: lossy, lossless, with or without alpha (alpha is dropped, not
 * composited), and the first frame of an animation (composed on its canvas by
 * libwebpdemux). Fast mode lets libwebp scale while decoding and skip its in-loop filter
 * and fancy upsampling.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "internal.h"

static int first_frame(const uint8_t *data, size_t len, vg__sink *sink, vg_error *err)
{
	WebPAnimDecoderOptions o;
	if (!WebPAnimDecoderOptionsInit(&o))
		return vg_error_set(err, VG_EINTERNAL, "libwebp version mismatch");
	o.color_mode = MODE_RGBA;
	o.use_threads = 0;
	WebPData wd = {data, len};
	WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &o);
	if (!dec)
		return vg_error_set(err, VG_ECORRUPT, "corrupt animated WebP");
	uint8_t *buf = NULL;
	int ts = 0, rc = 0;
	if (!WebPAnimDecoderGetNext(dec, &buf, &ts)) {
		rc = vg_error_set(err, VG_ECORRUPT, "corrupt animated WebP frame");
	} else {
		for (int y = 0; y < sink->src_h; y++)
			vg__sink_put_row(sink, y, buf + (size_t)y * sink->src_w * 4, 4, false);
	}
	WebPAnimDecoderDelete(dec);
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
		rc = vg__sink_begin(sink, w, h, resize, err);
		if (rc == 0)
			rc = first_frame(data, len, sink, err);
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
	rc = vg__sink_begin(sink, dw, dh, resize, err);
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
