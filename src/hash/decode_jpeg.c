/* SPDX-License-Identifier: Apache-2.0
 *
 * JPEG through libjpeg-turbo's libjpeg API: baseline, progressive, greyscale, CMYK and
 * YCCK. Exact mode keeps libjpeg's defaults (ISLOW IDCT, fancy upsampling), which is what
 * the reference build decodes with, so the pixels are the reference's. Rows the 512x512
 * nearest-neighbour resize never samples are skipped with jpeg_skip_scanlines(), which
 * spares their colour conversion without changing any other row.
 *
 * Fast mode decodes large images at a reduced scale (the IDCT computes 1/2, 1/4 or 1/8
 * size output directly; at 1/8 it is the DC term alone) with plain chroma upsampling.
 * Entropy decoding still reads every coefficient, so fast mode is bounded by Huffman
 * decoding, not by the IDCT. (The fast integer IDCT was measured: no faster at these
 * scales, so it is not used.)
 *
 * Hostile input: libjpeg errors longjmp back here; a truncated stream (libjpeg's
 * "premature end" warning) is an error rather than a grey-padded image; a progressive
 * stream with an absurd number of scans, or whose scans add up to far more work than
 * decoding the image, is stopped.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "internal.h"

#define MAX_SCANS 500 /* libjpeg-turbo's own tools and fuzzers stop here */
/* Each scan walks every block of its components, however few bytes it has (an AC scan
 * of a flat image is a few EOB runs), so the scan count alone let a 750 KB file of 990
 * repeated scans cost 20 s. The blocks all scans walk are capped at this many times
 * the image's blocks: real encoders use 4 to 10 (jpeg_simple_progression about 4). */
#define MAX_SCAN_PASSES 24
/* Fast mode divides the size by up to 8 but keeps the short side at least this long:
 * about two source pixels per cell of PDQ's 64x64 grid. On the conformance set this
 * keeps every large JPEG within 10 bits of exact mode (bench/hash prints the spread). */
#define FAST_MIN_SIDE 100

struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	bool truncated;
	int scan_seen;          /* the last scan counted in blocks_walked */
	uint64_t blocks_walked; /* blocks of the components of every scan so far */
	uint64_t blocks_max;    /* MAX_SCAN_PASSES times the image's blocks */
	char msg[JMSG_LENGTH_MAX];
};

static void on_error(j_common_ptr cinfo)
{
	struct jerr *e = (struct jerr *)cinfo->err;
	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jb, 1);
}

static void on_message(j_common_ptr cinfo, int level)
{
	struct jerr *e = (struct jerr *)cinfo->err;
	/* The data ran out (EOF), or a marker came where entropy data should be: what a
	 * file cut short and closed with EOI (FF D9, as partial downloads and recovery tools
	 * leave them) looks like. libjpeg pads the rest with flat grey either way. */
	if (level < 0 &&
	    (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER))
		e->truncated = true;
}

static void on_progress(j_common_ptr cinfo)
{
	if (cinfo->is_decompressor) {
		j_decompress_ptr d = (j_decompress_ptr)cinfo;
		struct jerr *e = (struct jerr *)cinfo->err;
		if (d->input_scan_number > MAX_SCANS) {
			snprintf(e->msg, sizeof(e->msg), "more than %d progressive scans", MAX_SCANS);
			longjmp(e->jb, 1);
		}
		/* Called at each SOS and row, so a new scan number is counted once. */
		if (d->input_scan_number != e->scan_seen && e->blocks_max) {
			e->scan_seen = d->input_scan_number;
			for (int c = 0; c < d->comps_in_scan; c++)
				e->blocks_walked += (uint64_t)d->cur_comp_info[c]->width_in_blocks *
						    d->cur_comp_info[c]->height_in_blocks;
			if (e->blocks_walked > e->blocks_max) {
				snprintf(e->msg, sizeof(e->msg),
					 "progressive scans walk the image over %d times",
					 MAX_SCAN_PASSES);
				longjmp(e->jb, 1);
			}
		}
	}
}

/* Adobe writes CMYK inverted (255 = no ink); anything else is taken as plain CMYK. */
static void cmyk_to_rgb(uint8_t *row, int w, bool inverted)
{
	for (int x = 0; x < w; x++) {
		unsigned c = row[4 * x], m = row[4 * x + 1], y = row[4 * x + 2], k = row[4 * x + 3];
		if (!inverted)
			c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
		row[4 * x] = (uint8_t)((c * k + 127) / 255);
		row[4 * x + 1] = (uint8_t)((m * k + 127) / 255);
		row[4 * x + 2] = (uint8_t)((y * k + 127) / 255);
	}
}

/* Whether every component has received its DC coefficients (progressive files only). */
static bool dc_arrived(j_decompress_ptr cinfo)
{
	for (int c = 0; c < cinfo->num_components; c++)
		if (cinfo->coef_bits[c][0] < 0)
			return false;
	return true;
}

static unsigned fast_denom(unsigned w, unsigned h)
{
	unsigned s = w < h ? w : h, d = 8;
	while (d > 1 && s / d < FAST_MIN_SIDE)
		d /= 2;
	return d;
}

int vg__decode_jpeg(const uint8_t *data, size_t len, const vg_hash_opts *opts, vg__sink *sink,
		    uint32_t *ret_w, uint32_t *ret_h, vg_error *err)
{
	struct jpeg_decompress_struct cinfo;
	struct jerr jerr;
	struct jpeg_progress_mgr progress = {.progress_monitor = on_progress};
	uint8_t *volatile row = NULL;
	int volatile rc = 0;

	memset(&jerr, 0, sizeof(jerr));
	cinfo.err = jpeg_std_error(&jerr.pub);
	jerr.pub.error_exit = on_error;
	jerr.pub.emit_message = on_message;
	if (setjmp(jerr.jb)) {
		rc = vg_error_set(err, VG_ECORRUPT, "corrupt JPEG: %s", jerr.msg);
		goto out;
	}
	jpeg_create_decompress(&cinfo);
	cinfo.progress = &progress;
	jpeg_mem_src(&cinfo, data, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);

	rc = vg__check_dims(cinfo.image_width, cinfo.image_height, opts, err);
	if (rc)
		goto out;
	for (int c = 0; c < cinfo.num_components; c++)
		jerr.blocks_max += (uint64_t)cinfo.comp_info[c].width_in_blocks *
				   cinfo.comp_info[c].height_in_blocks * MAX_SCAN_PASSES;

	bool gray = false, cmyk = false;
	switch (cinfo.jpeg_color_space) {
	case JCS_GRAYSCALE:
		cinfo.out_color_space = JCS_GRAYSCALE;
		gray = true;
		break;
	case JCS_CMYK:
	case JCS_YCCK:
		cinfo.out_color_space = JCS_CMYK;
		cmyk = true;
		break;
	default:
		cinfo.out_color_space = JCS_RGB;
		break;
	}
	cinfo.dct_method = JDCT_ISLOW;
	bool large = cinfo.image_width > VG__RESIZE_DIM || cinfo.image_height > VG__RESIZE_DIM;
	unsigned denom = opts->fast && large ? fast_denom(cinfo.image_width, cinfo.image_height) : 1;
	if (denom > 1) {
		/* Small images decode exactly: there is nothing to gain there, and
		 * low-quality images are the ones whose hash a few grey levels can swing. */
		cinfo.scale_num = 1;
		cinfo.scale_denom = denom;
		cinfo.do_fancy_upsampling = FALSE; /* the scaled IDCT already smooths */
	}
	/* At 1/8 scale each output pixel is its block's DC term alone, so a progressive
	 * file can stop after the scans that carry DC: usually the first tenth of it. */
	bool dc_only = denom == 8 && cinfo.progressive_mode;
	cinfo.buffered_image = dc_only;

	/* The sink, and the budget share, before libjpeg allocates: a progressive (or
	 * buffered) decode holds every coefficient, 128 bytes a block. */
	jpeg_calc_output_dimensions(&cinfo);
	int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
	uint64_t extra = (uint64_t)w * (uint64_t)cinfo.output_components;
	if (cinfo.progressive_mode || cinfo.buffered_image)
		for (int c = 0; c < cinfo.num_components; c++)
			extra += (uint64_t)cinfo.comp_info[c].width_in_blocks *
				 cinfo.comp_info[c].height_in_blocks * DCTSIZE2 * sizeof(JCOEF);
	rc = vg__sink_begin(sink, w, h, large && !opts->hma, extra, err);
	if (rc)
		goto out;
	jpeg_start_decompress(&cinfo);
	if (dc_only) {
		int r;
		do
			r = jpeg_consume_input(&cinfo);
		while (r != JPEG_REACHED_EOI && r != JPEG_SUSPENDED &&
		       !(r == JPEG_SCAN_COMPLETED && dc_arrived(&cinfo)));
		jpeg_start_output(&cinfo, cinfo.input_scan_number);
	}
	row = malloc((size_t)w * (size_t)cinfo.output_components);
	if (!row) {
		rc = vg_error_set(err, VG_ENOMEM, "no memory for a JPEG row");
		goto out;
	}

	JSAMPROW rows[1] = {row};
	int y;
	while ((y = vg__sink_next_row(sink)) >= 0) {
		if ((JDIMENSION)y > cinfo.output_scanline && !dc_only)
			jpeg_skip_scanlines(&cinfo, (JDIMENSION)y - cinfo.output_scanline);
		/* Buffered-image mode cannot skip: the rows before y are read and dropped (at
		 * 1/8 scale, cheap). Taking the next row as row y scrambled tall images. */
		while (cinfo.output_scanline < (JDIMENSION)y && !jerr.truncated)
			if (jpeg_read_scanlines(&cinfo, rows, 1) != 1)
				break;
		if (jpeg_read_scanlines(&cinfo, rows, 1) != 1 || jerr.truncated)
			break;
		if (cmyk)
			cmyk_to_rgb(row, w, cinfo.saw_Adobe_marker);
		vg__sink_put_row(sink, y, row, cinfo.output_components, gray);
	}
	if (jerr.truncated)
		rc = vg_error_set(err, VG_ECORRUPT, "truncated JPEG");
	*ret_w = cinfo.image_width;
	*ret_h = cinfo.image_height;
out:
	jpeg_destroy_decompress(&cinfo);
	free(row);
	return rc;
}
