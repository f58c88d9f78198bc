/* SPDX-License-Identifier: Apache-2.0
 *
 * From image bytes to PDQ: sniff the format, decode through the sink into luminance,
 * hash. Also the sink itself (internal.h) and the luminance conversion, which must be
 * the reference's float arithmetic: Y = 0.299f*R + 0.587f*G + 0.114f*B, each product
 * rounded to float and summed left to right. The tables hold the exact products.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static float luma_r[256], luma_g[256], luma_b[256];
static pthread_once_t luma_once = PTHREAD_ONCE_INIT;

static void init_luma(void)
{
	const float cr = 0.299f, cg = 0.587f, cb = 0.114f;
	for (int v = 0; v < 256; v++) {
		luma_r[v] = cr * (float)v;
		luma_g[v] = cg * (float)v;
		luma_b[v] = cb * (float)v;
	}
}

const char *vg_image_format_name(vg_image_format f)
{
	switch (f) {
	case VG_IMAGE_JPEG: return "jpeg";
	case VG_IMAGE_PNG: return "png";
	case VG_IMAGE_WEBP: return "webp";
	case VG_IMAGE_GIF: return "gif";
	default: return "unknown";
	}
}

vg_image_format vg_image_sniff(const uint8_t *d, size_t n)
{
	if (n >= 3 && d[0] == 0xff && d[1] == 0xd8 && d[2] == 0xff)
		return VG_IMAGE_JPEG;
	if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
		return VG_IMAGE_PNG;
	if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0)
		return VG_IMAGE_WEBP;
	if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0))
		return VG_IMAGE_GIF;
	return VG_IMAGE_UNKNOWN;
}

void vg_hash_opts_init(vg_hash_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_pixels = 100000000;
	o->max_side = 32768;
}

int vg__check_dims(uint64_t w, uint64_t h, const vg_hash_opts *opts, vg_error *err)
{
	if (w == 0 || h == 0)
		return vg_error_set(err, VG_ECORRUPT, "image has a zero dimension");
	if (w > opts->max_side || h > opts->max_side)
		return vg_error_set(err, VG_ETOOBIG, "image of %llux%llu has a side over %u",
				    (unsigned long long)w, (unsigned long long)h, opts->max_side);
	if (w * h > opts->max_pixels)
		return vg_error_set(err, VG_ETOOBIG,
				    "image of %llux%llu is over the %llu-pixel limit",
				    (unsigned long long)w, (unsigned long long)h,
				    (unsigned long long)opts->max_pixels);
	return 0;
}

/* The decode budget: bytes reserved by decodes in flight, and the most they may hold. */
static pthread_mutex_t budget_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t budget_cv = PTHREAD_COND_INITIALIZER;
static uint64_t budget_used, budget_max = VG_HASH_MEMORY_DEFAULT;

void vg_hash_set_memory_limit(uint64_t bytes)
{
	pthread_mutex_lock(&budget_mu);
	budget_max = bytes;
	pthread_cond_broadcast(&budget_cv);
	pthread_mutex_unlock(&budget_mu);
}

static int reserve(uint64_t bytes, vg_error *err)
{
	pthread_mutex_lock(&budget_mu);
	if (bytes > budget_max) {
		uint64_t max = budget_max;
		pthread_mutex_unlock(&budget_mu);
		return vg_error_set(
			err, VG_ETOOBIG,
			"decoding this image needs %llu MiB, over the %llu MiB decode budget",
			(unsigned long long)(bytes >> 20), (unsigned long long)(max >> 20));
	}
	while (budget_used + bytes > budget_max)
		pthread_cond_wait(&budget_cv, &budget_mu);
	budget_used += bytes;
	pthread_mutex_unlock(&budget_mu);
	return 0;
}

static void release(uint64_t bytes)
{
	if (!bytes)
		return;
	pthread_mutex_lock(&budget_mu);
	budget_used -= bytes;
	pthread_cond_broadcast(&budget_cv);
	pthread_mutex_unlock(&budget_mu);
}

int vg__sink_begin(vg__sink *s, int src_w, int src_h, bool resize, uint64_t extra_bytes,
		   vg_error *err)
{
	memset(s, 0, sizeof(*s));
	s->src_w = src_w;
	s->src_h = src_h;
	s->out_w = resize ? VG__RESIZE_DIM : src_w;
	s->out_h = resize ? VG__RESIZE_DIM : src_h;

	size_t px = (size_t)s->out_w * (size_t)s->out_h;
	uint64_t need = sizeof(float) * 2 * (uint64_t)px + extra_bytes;
	int rc = reserve(need, err);
	if (rc)
		return rc;
	s->reserved = need;
	s->luma = malloc(sizeof(float) * 2 * px);
	s->col_map = malloc(sizeof(int) * (size_t)s->out_w);
	s->row_map = malloc(sizeof(int) * (size_t)s->out_h);
	if (!s->luma || !s->col_map || !s->row_map) {
		vg__sink_done(s);
		return vg_error_set(err, VG_ENOMEM, "no memory for a %dx%d image", src_w, src_h);
	}
	/* floor(x * src / 512): exact in integers, as the reference's double is. */
	for (int x = 0; x < s->out_w; x++)
		s->col_map[x] = resize ? (int)((int64_t)x * src_w / VG__RESIZE_DIM) : x;
	for (int y = 0; y < s->out_h; y++)
		s->row_map[y] = resize ? (int)((int64_t)y * src_h / VG__RESIZE_DIM) : y;
	pthread_once(&luma_once, init_luma);
	return 0;
}

void vg__sink_done(vg__sink *s)
{
	release(s->reserved);
	free(s->luma);
	free(s->col_map);
	free(s->row_map);
	memset(s, 0, sizeof(*s));
}

void vg__sink_put_row(vg__sink *s, int y, const uint8_t *px, int bpp, bool gray)
{
	if (s->next >= s->out_h || s->row_map[s->next] != y)
		return;
	float *out = s->luma + (size_t)s->next * s->out_w;
	const int *cm = s->col_map;
	if (gray) {
		for (int x = 0; x < s->out_w; x++)
			out[x] = (float)px[(size_t)cm[x] * bpp];
	} else {
		for (int x = 0; x < s->out_w; x++) {
			const uint8_t *p = px + (size_t)cm[x] * bpp;
			out[x] = luma_r[p[0]] + luma_g[p[1]] + luma_b[p[2]];
		}
	}
	/* Up-sampled rows repeat their source row. */
	for (s->next++; s->next < s->out_h && s->row_map[s->next] == y; s->next++)
		memcpy(s->luma + (size_t)s->next * s->out_w, out, sizeof(float) * s->out_w);
}

int vg_image_hash(const uint8_t *data, size_t len, const vg_hash_opts *opts, vg_image_result *ret,
		  vg_error *err)
{
	vg__decode_fn *decode;
	vg_image_format fmt = vg_image_sniff(data, len);
	switch (fmt) {
	case VG_IMAGE_JPEG: decode = vg__decode_jpeg; break;
	case VG_IMAGE_PNG: decode = vg__decode_png; break;
	case VG_IMAGE_WEBP: decode = vg__decode_webp; break;
	case VG_IMAGE_GIF: decode = vg__decode_gif; break;
	default:
		return vg_error_set(err, VG_EUNSUPPORTED,
				    "not an image vigil reads (JPEG, PNG, WebP, GIF)");
	}

	vg__sink sink = {0};
	uint32_t w = 0, h = 0;
	vg_usec t0 = vg_time_mono();
	int rc = decode(data, len, opts, &sink, &w, &h, err);
	if (rc == 0 && vg__sink_next_row(&sink) >= 0)
		rc = vg_error_set(err, VG_ECORRUPT, "image ended before all rows were decoded");
	if (rc != 0) {
		vg__sink_done(&sink);
		return rc;
	}
	vg_usec t1 = vg_time_mono();

	memset(ret, 0, sizeof(*ret));
	float *scratch = sink.luma + (size_t)sink.out_w * sink.out_h;
	vg_pdq_from_luma(sink.luma, scratch, sink.out_h, sink.out_w, opts->dihedral, ret->pdq,
			 &ret->quality);
	ret->width = w;
	ret->height = h;
	ret->format = fmt;
	ret->decode_us = t1 - t0;
	ret->hash_us = vg_time_mono() - t1;
	vg__sink_done(&sink);
	return 0;
}
