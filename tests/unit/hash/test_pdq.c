/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for PDQ proper (src/hash/pdq.c): the hex form and its bit order, distances,
 * the small-image rule, the quality metric's extremes and the dihedral identities.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash/hash.h"

Test(pdq_hex, bit_order_matches_the_reference)
{
	/* Bit k is bit k of the 256-bit integer; the hex is big-endian. */
	vg_pdq h = {{0}};
	char hex[65];
	h.w[0] = 1;
	vg_pdq_to_hex(&h, hex);
	cr_assert_str_eq(hex, "0000000000000000000000000000000000000000000000000000000000000001");
	memset(&h, 0, sizeof(h));
	h.w[3] = UINT64_C(1) << 63;
	vg_pdq_to_hex(&h, hex);
	cr_assert_str_eq(hex, "8000000000000000000000000000000000000000000000000000000000000000");
	memset(&h, 0, sizeof(h));
	h.w[1] = UINT64_C(0xabcd) << 16; /* bits 80..95 */
	vg_pdq_to_hex(&h, hex);
	cr_assert_str_eq(hex, "0000000000000000000000000000000000000000abcd00000000000000000000");
}

Test(pdq_hex, parse_round_trip_and_reject)
{
	const char *s = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22";
	vg_pdq h;
	char back[65];
	cr_assert_eq(vg_pdq_from_hex(s, 64, &h), 0);
	vg_pdq_to_hex(&h, back);
	cr_assert_str_eq(back, s);
	cr_assert_eq(vg_pdq_norm(&h), 128);
	cr_assert_eq(vg_pdq_from_hex(s, 63, &h), VG_EINVAL);
	cr_assert_eq(vg_pdq_from_hex("zz", 2, &h), VG_EINVAL);
}

Test(pdq, distance_counts_differing_bits)
{
	vg_pdq a = {{0}}, b = {{0}};
	cr_assert_eq(vg_pdq_distance(&a, &b), 0);
	b.w[0] = 0xff;
	b.w[3] = 1;
	cr_assert_eq(vg_pdq_distance(&a, &b), 9);
	memset(&b, 0xff, sizeof(b));
	cr_assert_eq(vg_pdq_distance(&a, &b), 256);
}

static float *image(int rows, int cols, unsigned seed)
{
	float *p = malloc(sizeof(float) * (size_t)(rows + 1) * cols * 2);
	srand(seed);
	for (int i = 0; i < rows * cols; i++)
		p[i] = (float)(rand() % 256);
	return p;
}

Test(pdq, images_under_five_pixels_hash_to_zero)
{
	float *img = image(4, 100, 1);
	vg_pdq h[8];
	int q = -1;
	memset(h, 0xaa, sizeof(h));
	vg_pdq_from_luma(img, img + 400, 4, 100, true, h, &q);
	cr_assert_eq(q, 0);
	for (int v = 0; v < 8; v++)
		cr_assert_eq(vg_pdq_norm(&h[v]), 0);
	free(img);
}

Test(pdq, flat_image_has_zero_quality_and_noise_full_quality)
{
	float *flat = malloc(sizeof(float) * 257 * 256 * 2);
	for (int i = 0; i < 256 * 256; i++)
		flat[i] = 128.0f;
	vg_pdq h;
	int q;
	vg_pdq_from_luma(flat, flat + 256 * 256, 256, 256, false, &h, &q);
	cr_assert_eq(q, 0);
	free(flat);

	float *noise = image(256, 256, 7);
	vg_pdq_from_luma(noise, noise + 256 * 256, 256, 256, false, &h, &q);
	cr_assert_eq(q, 100);
	cr_assert_eq(vg_pdq_norm(&h), 128, "distinct DCT values split at the median");
	free(noise);
}

/* A smooth picture with structure in both directions, so that transforms of it are
 * told apart by the hash. */
static float *picture(int n)
{
	float *p = malloc(sizeof(float) * (size_t)(n + 1) * n * 2);
	for (int y = 0; y < n; y++)
		for (int x = 0; x < n; x++)
			p[y * n + x] = (float)(127.5 + 60 * sin(x * 0.05 + y * 0.013) +
					       60 * cos(y * 0.031 - x * x * 0.0002));
	return p;
}

Test(pdq, dihedral_variants_match_transformed_images)
{
	const int n = 256;
	float *orig = picture(n);
	vg_pdq dih[8];
	int q;
	float *copy = malloc(sizeof(float) * (size_t)(n + 1) * n * 2);
	memcpy(copy, orig, sizeof(float) * n * n);
	vg_pdq_from_luma(copy, copy + n * n, n, n, true, dih, &q);
	cr_assert_gt(q, 50);

	/* Transform the pixels, hash plainly, and compare with the DCT-domain variant.
	 * Not identical: the box filter's window is off-centre by one pixel for even
	 * widths, so a mirrored image blurs a little differently (the reference's own
	 * transformed bridge images land 8 to 18 bits away). A wrong sign or transpose
	 * lands near 128. */
	for (int v = 1; v < 8; v++) {
		for (int y = 0; y < n; y++)
			for (int x = 0; x < n; x++) {
				int sy = y, sx = x;
				switch (v) {
				case VG_DIH_ROTATE90: sy = x, sx = n - 1 - y; break;
				case VG_DIH_ROTATE180: sy = n - 1 - y, sx = n - 1 - x; break;
				case VG_DIH_ROTATE270: sy = n - 1 - x, sx = y; break;
				case VG_DIH_FLIPX: sy = n - 1 - y; break;
				case VG_DIH_FLIPY: sx = n - 1 - x; break;
				case VG_DIH_FLIP_PLUS1: sy = x, sx = y; break;
				case VG_DIH_FLIP_MINUS1: sy = n - 1 - x, sx = n - 1 - y; break;
				}
				copy[y * n + x] = orig[sy * n + sx];
			}
		vg_pdq h;
		vg_pdq_from_luma(copy, copy + n * n, n, n, false, &h, &q);
		int d = vg_pdq_distance(&h, &dih[v]);
		cr_assert_leq(d, 24, "variant %d is %d bits from the transformed image", v, d);
		cr_assert_gt(vg_pdq_distance(&h, &dih[0]), 40, "variant %d looks untransformed", v);
	}
	free(copy);
	free(orig);
}

Test(pdq, hashing_is_deterministic_across_calls)
{
	float *a = picture(300), *b = picture(300);
	vg_pdq ha, hb;
	int qa, qb;
	vg_pdq_from_luma(a, a + 300 * 300, 300, 300, false, &ha, &qa);
	vg_pdq_from_luma(b, b + 300 * 300, 300, 300, false, &hb, &qb);
	cr_assert_eq(vg_pdq_distance(&ha, &hb), 0);
	cr_assert_eq(qa, qb);
	free(a);
	free(b);
}
