/* SPDX-License-Identifier: Apache-2.0
 *
 * Shared between the files of src/hash only. Decoders deliver pixel rows to a sink,
 * which turns the rows it wants into PDQ's float luminance: either at full size, or
 * sampled straight to 512x512 by the reference CLI's nearest-neighbour pre-resize, so a
 * full-size RGB copy of a large image never exists. A decoder that can skip work asks
 * the sink which source row it needs next.
 */
#ifndef VG_HASH_INTERNAL_H
#define VG_HASH_INTERNAL_H

#include "hash.h"

#define VG__RESIZE_DIM 512

typedef struct vg__sink {
	uint64_t reserved; /* bytes held from the process's decode budget until _done */
	int src_w, src_h;  /* size of the rows the decoder delivers */
	int out_w, out_h; /* size of the luma image */
	float *luma;      /* out_h x out_w, then as much again of scratch */
	int *col_map;     /* out_w source columns */
	int *row_map;     /* out_h source rows, non-decreasing */
	int next;         /* next luma row to fill */
} vg__sink;

/* Checks an image's declared size against the limits, before any pixel is decoded. */
int vg__check_dims(uint64_t w, uint64_t h, const vg_hash_opts *opts, vg_error *err);

/* Prepares to receive src_w x src_h rows. With resize, the luma is 512x512 sampled by
 * nearest neighbour (source index floor(x * src / 512)); otherwise it is src-sized.
 * Reserves the luma's bytes plus extra_bytes (what the decoder itself will hold: a
 * whole decoded frame, a progressive JPEG's coefficients) from the process's decode
 * budget (vg_hash_set_memory_limit), waiting while other decodes hold it, so memory is
 * bounded however many threads decode; a decode that could never fit is VG_ETOOBIG. A
 * decoder calls it once, before allocating anything sized by the image. */
int vg__sink_begin(vg__sink *s, int src_w, int src_h, bool resize, uint64_t extra_bytes,
		   vg_error *err);
void vg__sink_done(vg__sink *s);

/* The next source row the sink needs, or -1 when the luma is complete. */
static inline int vg__sink_next_row(const vg__sink *s)
{
	return s->next < s->out_h ? s->row_map[s->next] : -1;
}

/* Hands over source row y: bpp bytes per pixel, luminance from byte 0 when gray, else
 * from R, G, B at bytes 0, 1, 2 (any further byte, such as alpha, is ignored). Rows the
 * sink does not need are ignored. */
void vg__sink_put_row(vg__sink *s, int y, const uint8_t *px, int bpp, bool gray);

/* Each decoder: reads the header, checks the limits, calls vg__sink_begin with the size
 * it will deliver, then delivers rows. ret_w/ret_h get the size stored in the file. */
typedef int vg__decode_fn(const uint8_t *data, size_t len, const vg_hash_opts *opts,
			  vg__sink *sink, uint32_t *ret_w, uint32_t *ret_h, vg_error *err);

vg__decode_fn vg__decode_jpeg, vg__decode_png, vg__decode_webp, vg__decode_gif;

#endif
