/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for image decoding and hashing (src/hash/image.c and the decoders): the
 * reference's hashes on the shared conformance set, the fast and HMA modes' distance
 * from exact, and hostile input: truncated, corrupt, unknown and oversized images.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <png.h>
#include <sys/resource.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <zlib.h>

#include "hash/hash.h"

static char shared_dir[4096];

static const char *shared(void)
{
	if (!shared_dir[0]) {
		const char *env = getenv("VIGIL_SHARED");
		snprintf(shared_dir, sizeof(shared_dir), "%s", env && *env ? env : "../shared");
	}
	return shared_dir;
}

static uint8_t *load(const char *rel, size_t *len)
{
	char path[8192];
	snprintf(path, sizeof(path), "%s/conformance/pdq/images/%s", shared(), rel);
	uint8_t *data;
	vg_error e;
	if (vg_file_read(path, 64 << 20, &data, len, &e) != 0)
		cr_assert_fail("cannot read %s: %s (set VIGIL_SHARED)", path, e.msg);
	return data;
}

static vg_image_result hash_file(const char *rel, bool fast, bool hma)
{
	size_t len;
	uint8_t *data = load(rel, &len);
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	o.fast = fast;
	o.hma = hma;
	o.dihedral = true;
	vg_image_result r;
	vg_error e;
	int rc = vg_image_hash(data, len, &o, &r, &e);
	cr_assert_eq(rc, 0, "%s: %s", rel, e.msg);
	free(data);
	return r;
}

struct row {
	char hash[65];
	int quality;
	char path[512];
};

/* Rows of expected.txt: "hash,quality,path[ converted]". */
static int read_expected(struct row *rows, int max)
{
	char path[8192], line[1024];
	snprintf(path, sizeof(path), "%s/conformance/pdq/expected.txt", shared());
	FILE *f = fopen(path, "r");
	if (!f)
		cr_assert_fail("cannot open %s (set VIGIL_SHARED)", path);
	int n = 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		struct row *r = &rows[n];
		if (sscanf(line, "%64[0-9a-f],%d,%511[^ \n]", r->hash, &r->quality, r->path) == 3)
			n++;
	}
	fclose(f);
	return n;
}

Test(conformance, every_reference_row_is_reproduced_exactly, .timeout = 60)
{
	struct row rows[128];
	int n = read_expected(rows, 128);
	cr_assert_geq(n, 40, "expected.txt has %d rows", n);
	for (int i = 0; i < n; i++) {
		vg_image_result r = hash_file(rows[i].path, false, false);
		char hex[65];
		vg_pdq_to_hex(&r.pdq[0], hex);
		cr_expect_str_eq(hex, rows[i].hash, "%s", rows[i].path);
		cr_expect_eq(r.quality, rows[i].quality, "%s", rows[i].path);
	}
}

Test(conformance, cmyk_hashes_close_to_its_rgb_original)
{
	vg_image_result c = hash_file("misc-images/modes/CMYK.jpg", false, false);
	vg_image_result o = hash_file("misc-images/modes/original.jpg", false, false);
	cr_assert_leq(vg_pdq_distance(&c.pdq[0], &o.pdq[0]), 16);
}

Test(conformance, transformed_files_match_dihedral_variants)
{
	static const char *const files[8] = {
		"1-original", "2-rotate-90", "3-rotate-180", "4-rotate-270",
		"5-flipx",    "6-flipy",     "7-flip-plus-1", "8-flip-minus-1",
	};
	vg_image_result base = hash_file("reg-test-input/dih/bridge-1-original.jpg", false, false);
	for (int v = 0; v < 8; v++) {
		char rel[256];
		snprintf(rel, sizeof(rel), "reg-test-input/dih/bridge-%s.jpg", files[v]);
		vg_image_result r = hash_file(rel, false, false);
		int d = vg_pdq_distance(&r.pdq[0], &base.pdq[v]);
		cr_expect_leq(d, 20, "%s is %d bits from variant %d", files[v], d, v);
	}
}

Test(modes, fast_and_hma_stay_close_to_exact, .timeout = 60)
{
	struct row rows[128];
	int n = read_expected(rows, 128), within10 = 0;
	for (int i = 0; i < n; i++) {
		vg_image_result exact = hash_file(rows[i].path, false, false);
		vg_image_result fast = hash_file(rows[i].path, true, false);
		vg_image_result hma = hash_file(rows[i].path, false, true);
		int d = vg_pdq_distance(&exact.pdq[0], &fast.pdq[0]);
		cr_expect_leq(d, 24, "%s: fast mode %d bits from exact", rows[i].path, d);
		within10 += d <= 10;
		cr_expect_leq(vg_pdq_distance(&exact.pdq[0], &hma.pdq[0]), 32, "%s", rows[i].path);
		if (exact.width <= 512 && exact.height <= 512)
			cr_expect_eq(vg_pdq_distance(&exact.pdq[0], &hma.pdq[0]), 0,
				     "%s: no pre-resize below 512, so HMA must agree", rows[i].path);
	}
	cr_assert_geq(within10 * 100, 95 * n, "only %d of %d within 10 bits", within10, n);
}

/* rel, decoded and scaled (nearest pixel) to w x h, as a progressive JPEG. */
static uint8_t *progressive_jpeg(const char *rel, unsigned w, unsigned h, unsigned long *ret_len)
{
	size_t len;
	uint8_t *src = load(rel, &len);
	struct jpeg_decompress_struct d;
	struct jpeg_error_mgr jerr;
	d.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&d);
	jpeg_mem_src(&d, src, (unsigned long)len);
	cr_assert_eq(jpeg_read_header(&d, TRUE), JPEG_HEADER_OK);
	d.out_color_space = JCS_RGB;
	jpeg_start_decompress(&d);
	unsigned sw = d.output_width, sh = d.output_height;
	uint8_t *pix = malloc((size_t)sw * sh * 3);
	while (d.output_scanline < sh) {
		JSAMPROW r = pix + (size_t)d.output_scanline * sw * 3;
		jpeg_read_scanlines(&d, &r, 1);
	}
	jpeg_finish_decompress(&d);
	jpeg_destroy_decompress(&d);
	free(src);

	struct jpeg_compress_struct c;
	c.err = jpeg_std_error(&jerr);
	jpeg_create_compress(&c);
	uint8_t *out = NULL;
	jpeg_mem_dest(&c, &out, ret_len);
	c.image_width = w;
	c.image_height = h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 85, TRUE);
	jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	uint8_t *row = malloc((size_t)w * 3);
	while (c.next_scanline < h) {
		const uint8_t *s = pix + (size_t)(c.next_scanline * sh / h) * sw * 3;
		for (unsigned x = 0; x < w; x++)
			memcpy(row + x * 3, s + (size_t)(x * sw / w) * 3, 3);
		JSAMPROW r = row;
		jpeg_write_scanlines(&c, &r, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	free(row);
	free(pix);
	return out;
}

/* Fast mode decodes a large progressive file from its DC scans alone, at 1/8 scale. Past
 * 512 rows at that scale (over 4096 tall) the rows it reads must be the rows it keeps:
 * they were once taken one after another as the rows wanted, scrambling the image (98
 * bits from exact). */
Test(modes, fast_mode_on_a_tall_progressive_jpeg, .timeout = 60)
{
	unsigned long len;
	uint8_t *jpeg = progressive_jpeg("bridge-mods/aaa-orig.jpg", 3000, 4800, &len);
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	vg_image_result exact, fast;
	vg_error e;
	cr_assert_eq(vg_image_hash(jpeg, len, &o, &exact, &e), 0, "%s", e.msg);
	o.fast = true;
	cr_assert_eq(vg_image_hash(jpeg, len, &o, &fast, &e), 0, "%s", e.msg);
	int d = vg_pdq_distance(&exact.pdq[0], &fast.pdq[0]);
	cr_assert_leq(d, 24, "fast mode %d bits from exact", d);
	free(jpeg);
}

/* A progressive JPEG whose last scan is repeated: libjpeg only warns about the bogus
 * progression, and each repeat walks every block again, however few bytes it has.
 * With 1000 scans allowed, 990 repeats in a 750 KB file cost 20 s at 10000x10000. */
Test(bombs, repeated_progressive_scans_are_refused, .timeout = 60)
{
	unsigned long len;
	uint8_t *jpeg = progressive_jpeg("bridge-mods/aaa-orig.jpg", 256, 256, &len);
	size_t sos = 0;
	for (size_t i = 2; i + 1 < len; i++)
		if (jpeg[i] == 0xff && jpeg[i + 1] == 0xda)
			sos = i;
	cr_assert(sos > 0);
	size_t scan = len - 2 - sos, n = 200; /* the last scan, up to EOI */
	uint8_t *bomb = malloc(len + n * scan);
	memcpy(bomb, jpeg, len - 2);
	for (size_t k = 0; k < n; k++)
		memcpy(bomb + len - 2 + k * scan, jpeg + sos, scan);
	memcpy(bomb + len - 2 + n * scan, "\xff\xd9", 2);
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	vg_image_result r;
	vg_error e;
	cr_assert_eq(vg_image_hash(jpeg, len, &o, &r, &e), 0, "%s", e.msg);
	cr_assert_eq(vg_image_hash(bomb, len + n * scan, &o, &r, &e), VG_ECORRUPT,
		     "200 repeats of a scan were decoded");
	free(bomb);
	free(jpeg);
}

static int hash_bytes(const uint8_t *d, size_t n, vg_hash_opts *o, vg_error *e)
{
	vg_image_result r;
	vg_hash_opts def;
	if (!o) {
		vg_hash_opts_init(&def);
		o = &def;
	}
	return vg_image_hash(d, n, o, &r, e);
}

Test(hostile, unknown_bytes_are_unsupported)
{
	vg_error e;
	cr_assert_eq(hash_bytes((const uint8_t *)"hello world", 11, NULL, &e), VG_EUNSUPPORTED);
	cr_assert_eq(hash_bytes((const uint8_t *)"", 0, NULL, &e), VG_EUNSUPPORTED);
	cr_assert_eq(hash_bytes((const uint8_t *)"\xff\xd8", 2, NULL, &e), VG_EUNSUPPORTED);
}

Test(hostile, every_truncation_of_every_format_fails_cleanly, .timeout = 120)
{
	static const char *const files[] = {
		"bridge-mods/square-128x128.jpg", "misc-images/wee.jpg", /* progressive */
		"misc-images/modes/P.png",        "misc-images/modes/LA.png",
		"misc-images/modes/PA.webp",      "misc-images/modes/F.webp",
	};
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		uint8_t *data = load(files[f], &len);
		/* Cut at many points, including inside the header. */
		size_t step = len / 97 + 1;
		for (size_t cut = 0; cut < len - 16; cut += step) {
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, data, cut);
			vg_error e;
			int rc = hash_bytes(copy, cut, NULL, &e);
			cr_expect(rc == VG_ECORRUPT || rc == VG_EUNSUPPORTED,
				  "%s cut at %zu of %zu: rc %d", files[f], cut, len, rc);
			free(copy);
		}
		free(data);
	}
}

/* A JPEG cut short but ending in EOI made libjpeg warn "premature end of data segment"
 * rather than "premature end of file", and pad the rest with grey: 200, with a hash of
 * a picture that does not exist. */
Test(hostile, a_truncated_jpeg_closed_with_eoi_is_corrupt)
{
	static const char *const files[] = {"bridge-mods/aaa-orig.jpg", "misc-images/wee.jpg"};
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t len;
		uint8_t *data = load(files[f], &len);
		for (size_t cut = len / 5; cut < len - 64; cut += len / 5) {
			uint8_t *copy = malloc(cut + 2);
			memcpy(copy, data, cut);
			memcpy(copy + cut, "\xff\xd9", 2);
			vg_error e;
			cr_expect_eq(hash_bytes(copy, cut + 2, NULL, &e), VG_ECORRUPT,
				     "%s cut at %zu of %zu", files[f], cut, len);
			free(copy);
		}
		free(data);
	}
}

Test(hostile, flipped_bytes_never_crash, .timeout = 120)
{
	size_t len;
	uint8_t *data = load("misc-images/small.jpg", &len);
	srand(42);
	for (int i = 0; i < 300; i++) {
		uint8_t *copy = malloc(len);
		memcpy(copy, data, len);
		for (int k = 0; k < 8; k++)
			copy[rand() % len] ^= (uint8_t)(1 + rand() % 255);
		vg_error e;
		int rc = hash_bytes(copy, len, NULL, &e);
		cr_expect(rc == 0 || rc == VG_ECORRUPT || rc == VG_EUNSUPPORTED || rc == VG_ETOOBIG,
			  "rc %d", rc);
		free(copy);
	}
	free(data);
}

Test(hostile, oversized_images_are_refused_before_decoding)
{
	/* A GIF screen of 65535 x 65535 (over the 32768 side limit): only the header. */
	const uint8_t gif[] = "GIF89a\xff\xff\xff\xff\x00\x00\x00";
	vg_error e;
	cr_assert_eq(hash_bytes(gif, sizeof(gif) - 1, NULL, &e), VG_ETOOBIG);

	size_t len;
	uint8_t *data = load("bridge-mods/square-128x128.jpg", &len);
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	o.max_pixels = 128 * 128 - 1;
	cr_assert_eq(hash_bytes(data, len, &o, &e), VG_ETOOBIG);
	o.max_pixels = 128 * 128;
	cr_assert_eq(hash_bytes(data, len, &o, &e), 0);
	o.max_side = 127;
	cr_assert_eq(hash_bytes(data, len, &o, &e), VG_ETOOBIG);
	free(data);
	/* A PNG over the side limit is too large, not corrupt, like every other format. */
	data = load("misc-images/modes/P.png", &len);
	vg_hash_opts_init(&o);
	cr_assert_eq(hash_bytes(data, len, &o, &e), 0, "%s", e.msg);
	o.max_side = 16;
	cr_assert_eq(hash_bytes(data, len, &o, &e), VG_ETOOBIG, "%s", e.msg);
	free(data);
}

/* The most memory this test process has held, in MB. */
static long peak_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

/* A GIF whose screen is sw x sh around one 1x1 frame: 35 bytes. */
static size_t tiny_frame_gif(unsigned sw, unsigned sh, uint8_t out[35])
{
	static const uint8_t tail[] = {0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, ',',  0, 0,  0,
				       0,    1, 0, 1, 0, 0, 2,    2,    0x44, 0x01, 0, ';'};
	memcpy(out, "GIF89a", 6);
	out[6] = sw & 0xff, out[7] = sw >> 8, out[8] = sh & 0xff, out[9] = sh >> 8;
	memcpy(out + 10, tail, sizeof(tail));
	return 10 + sizeof(tail);
}

/* An animated WebP declaring a 10000x10000 canvas around one 1x1 lossless frame (90
 * bytes) made libwebp's animation decoder allocate and clear two 400 MB canvases. */
Test(bombs, an_animated_webp_canvas_costs_no_memory)
{
	static const uint8_t webp[] = {
		0x52, 0x49, 0x46, 0x46, 0x52, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56,
		0x50, 0x38, 0x58, 0x0a, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x0f, 0x27,
		0x00, 0x0f, 0x27, 0x00, 0x41, 0x4e, 0x49, 0x4d, 0x06, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x4e, 0x4d, 0x46, 0x26, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,
		0x00, 0x00, 0x00, 0x56, 0x50, 0x38, 0x4c, 0x0e, 0x00, 0x00, 0x00, 0x2f, 0x00,
		0x00, 0x00, 0x00, 0x07, 0x10, 0x11, 0xfd, 0x0f, 0x44, 0x44, 0xff, 0x03};
	long before = peak_mb();
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	vg_image_result r;
	vg_error e;
	cr_assert_eq(vg_image_hash(webp, sizeof(webp), &o, &r, &e), 0, "%s", e.msg);
	cr_assert_eq(r.width, 10000);
	cr_assert_lt(peak_mb() - before, 100, "a 90-byte file took %ld MB", peak_mb() - before);
}

static void put_le(uint8_t *p, uint32_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The first frame of an animation is now drawn by vigil (the frame decoded alone, on a
 * black canvas) rather than by libwebp's WebPAnimDecoder: its hash must stay the one
 * WebPAnimDecoder's canvas gives, here for a frame at an offset, with transparent
 * pixels, on a larger canvas. */
Test(bombs, an_animated_webp_first_frame_hashes_as_libwebp_draws_it)
{
	enum { FW = 64, FH = 48, CW = 100, CH = 80, X = 10, Y = 8 };
	uint8_t rgba[FW * FH * 4];
	for (int y = 0; y < FH; y++)
		for (int x = 0; x < FW; x++) {
			uint8_t *p = rgba + 4 * (y * FW + x);
			p[0] = (uint8_t)(x * 4), p[1] = (uint8_t)(y * 5),
			p[2] = (uint8_t)((x * y) % 251);
			p[3] = (x + y) % 7 ? 255 : 0;
		}
	uint8_t *still = NULL;
	size_t slen = WebPEncodeLosslessRGBA(rgba, FW, FH, FW * 4, &still);
	cr_assert(slen > 20 && memcmp(still + 12, "VP8L", 4) == 0);
	size_t vp8l = slen - 12; /* the VP8L chunk, header and padding included */

	/* RIFF, VP8X (animation, alpha; canvas CW x CH), ANIM, ANMF at (X, Y). */
	size_t len = 12 + 18 + 14 + 24 + vp8l;
	uint8_t *anim = calloc(1, len), *p = anim;
	memcpy(p, "RIFF", 4), put_le(p + 4, (uint32_t)(len - 8), 4), memcpy(p + 8, "WEBP", 4);
	p += 12;
	memcpy(p, "VP8X", 4), put_le(p + 4, 10, 4), p[8] = 0x12;
	put_le(p + 12, CW - 1, 3), put_le(p + 15, CH - 1, 3);
	p += 18;
	memcpy(p, "ANIM", 4), put_le(p + 4, 6, 4);
	p += 14;
	memcpy(p, "ANMF", 4), put_le(p + 4, (uint32_t)(16 + vp8l), 4);
	put_le(p + 8, X / 2, 3), put_le(p + 11, Y / 2, 3), put_le(p + 14, FW - 1, 3);
	put_le(p + 17, FH - 1, 3), put_le(p + 20, 100, 3);
	p += 24;
	memcpy(p, still + 12, vp8l);
	WebPFree(still);

	/* The oracle: WebPAnimDecoder's first canvas, its colour planes as a still WebP. */
	WebPAnimDecoderOptions o;
	cr_assert(WebPAnimDecoderOptionsInit(&o));
	o.color_mode = MODE_RGBA;
	WebPData wd = {anim, len};
	WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &o);
	cr_assert(dec);
	uint8_t *canvas;
	int ts;
	cr_assert(WebPAnimDecoderGetNext(dec, &canvas, &ts));
	uint8_t *rgb = malloc(CW * CH * 3);
	for (int i = 0; i < CW * CH; i++)
		memcpy(rgb + 3 * i, canvas + 4 * i, 3);
	WebPAnimDecoderDelete(dec);
	uint8_t *flat = NULL;
	size_t flen = WebPEncodeLosslessRGB(rgb, CW, CH, CW * 3, &flat);
	cr_assert(flen > 0);

	vg_hash_opts ho;
	vg_hash_opts_init(&ho);
	vg_image_result got, want;
	vg_error e;
	cr_assert_eq(vg_image_hash(anim, len, &ho, &got, &e), 0, "%s", e.msg);
	cr_assert_eq(vg_image_hash(flat, flen, &ho, &want, &e), 0, "%s", e.msg);
	cr_assert_eq(got.width, CW);
	cr_assert_eq(got.height, CH);
	cr_assert_eq(vg_pdq_distance(&got.pdq[0], &want.pdq[0]), 0);
	cr_assert_eq(got.quality, want.quality);
	cr_assert_gt(want.quality, 0, "a picture, not a blank");
	WebPFree(flat);
	free(rgb);
	free(anim);
}

struct hma_job {
	const uint8_t *gif;
	size_t len;
	int rc;
};

static void *hash_hma(void *arg)
{
	struct hma_job *j = arg;
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	o.hma = true;
	vg_image_result r;
	vg_error e;
	j->rc = vg_image_hash(j->gif, j->len, &o, &r, &e);
	return NULL;
}

/* At full size (--compat hma, /h/hash) a 35-byte GIF declaring a 3000x3000 screen costs
 * 72 MB of luma. Decodes on many threads held that many times over; the decode budget
 * makes them take turns, and refuses one that could never fit. */
Test(bombs, decodes_in_flight_stay_within_the_memory_budget, .timeout = 60)
{
	uint8_t gif[35];
	size_t len = tiny_frame_gif(3000, 3000, gif);
	vg_hash_set_memory_limit(50 << 20);
	struct hma_job one = {gif, len, 0};
	hash_hma(&one);
	cr_assert_eq(one.rc, VG_ETOOBIG, "72 MB of luma over a 50 MB budget");

	vg_hash_set_memory_limit(100 << 20);
	long before = peak_mb();
	enum { N = 6 };
	pthread_t t[N];
	struct hma_job jobs[N];
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct hma_job){gif, len, -1};
		cr_assert_eq(pthread_create(&t[i], NULL, hash_hma, &jobs[i]), 0);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(jobs[i].rc, 0, "decode %d", i);
	}
	long used = peak_mb() - before;
#ifndef __SANITIZE_ADDRESS__ /* ASan keeps freed blocks resident in its quarantine */
	cr_assert_lt(used, 200, "%d decodes of 72 MB held %ld MB at once", N, used);
#endif
	(void)used;
	vg_hash_set_memory_limit(VG_HASH_MEMORY_DEFAULT);
}

static void on_png_write(png_structp png, png_bytep data, size_t n)
{
	FILE *f = png_get_io_ptr(png);
	fwrite(data, 1, n, f);
}

/* A 1x1 grey PNG with n zTXt chunks of 8 MB of 'a' (just under libpng's chunk cap here;
 * about 8 KB each once deflated), written as raw chunks so that making it holds one. */
static uint8_t *ztxt_png(int n, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png_create_info_struct(png);
	cr_assert(png && info && !setjmp(png_jmpbuf(png)));
	png_set_write_fn(png, f, on_png_write, NULL);
	png_set_IHDR(png, info, 1, 1, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	uLong tlen = 8000000;
	uint8_t *text = malloc(tlen);
	memset(text, 'a', tlen);
	uLongf zlen = compressBound(tlen);
	uint8_t *chunk = malloc(zlen + 3);
	memcpy(chunk, "k\0\0", 3); /* keyword, NUL, compression method 0 */
	cr_assert_eq(compress2(chunk + 3, &zlen, text, tlen, 9), Z_OK);
	for (int i = 0; i < n; i++)
		png_write_chunk(png, (png_const_bytep) "zTXt", chunk, zlen + 3);
	png_byte px = 128;
	png_write_row(png, &px);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	fclose(f);
	free(chunk);
	free(text);
	*ret_len = len;
	return (uint8_t *)buf;
}

/* libpng inflated and kept every text chunk: 8 KB of upload held 8 MB until the decode
 * ended, so an 8 MB PNG asked for 8 GB. vigil reads no text chunk. */
Test(bombs, png_text_chunks_are_not_inflated, .timeout = 60)
{
	size_t len;
	uint8_t *png = ztxt_png(20, &len);
	cr_assert_lt(len, 1 << 20, "%zu bytes", len);
	long before = peak_mb();
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	vg_image_result r;
	vg_error e;
	cr_assert_eq(vg_image_hash(png, len, &o, &r, &e), 0, "%s", e.msg);
	cr_assert_lt(peak_mb() - before, 50, "a %zu-byte PNG took %ld MB", len, peak_mb() - before);
	free(png);
}

Test(digests, known_values)
{
	vg_digests d;
	char hex[65];
	vg_digests_compute((const uint8_t *)"abc", 3, &d);
	vg_hex_encode(d.md5, 16, hex);
	cr_assert_str_eq(hex, "900150983cd24fb0d6963f7d28e17f72");
	vg_hex_encode(d.sha256, 32, hex);
	cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sniff, formats_from_content)
{
	cr_assert_eq(vg_image_sniff((const uint8_t *)"\xff\xd8\xff\xe0", 4), VG_IMAGE_JPEG);
	cr_assert_eq(vg_image_sniff((const uint8_t *)"\x89PNG\r\n\x1a\n", 8), VG_IMAGE_PNG);
	cr_assert_eq(vg_image_sniff((const uint8_t *)"RIFF\0\0\0\0WEBP", 12), VG_IMAGE_WEBP);
	cr_assert_eq(vg_image_sniff((const uint8_t *)"GIF87a", 6), VG_IMAGE_GIF);
	cr_assert_eq(vg_image_sniff((const uint8_t *)"BM", 2), VG_IMAGE_UNKNOWN);
	cr_assert_str_eq(vg_image_format_name(VG_IMAGE_WEBP), "webp");
}
