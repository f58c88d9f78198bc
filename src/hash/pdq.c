/* SPDX-License-Identifier: Apache-2.0
 *
 * PDQ from luminance: Jarosz blur (two passes of row and column box filters), decimation
 * to 64x64, the quality metric, a 16x16 slice of the 64x64 DCT, and the median threshold.
 * The step-by-step contract is in ../shared/conformance/pdq/NOTES.md and
 * docs/internals/pdq.md.
 *
 * Bit-exactness with the reference depends on doing every float operation in the same
 * order with the same rounding: sums accumulate left to right, averages divide (never
 * multiply by a reciprocal), and the build passes -ffp-contract=off so no multiply-add is
 * fused. The loops below are arranged so that the compiler can vectorise across
 * independent outputs while each output's own sequence of operations stays the
 * reference's.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "internal.h"

#define MIN_HASHABLE_DIM 5
#define JAROSZ_PASSES 2

/* D[i][j] = sqrt(2/64) * cos(pi/128 * (i+1) * (2j+1)), computed in double and stored as
 * float, as the reference does. Row 0 of the full DCT (the DC term) is skipped. */
static float dct[16][64];
/* dct_t[k][j] = dct[j][k], so the second product walks memory in order. */
static float dct_t[64][16];

static void init_dct(void)
{
	const float scale = (float)sqrt(2.0 / 64.0);
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 64; j++) {
			dct[i][j] = (float)(scale * cos(M_PI / 2.0 / 64.0 * (i + 1) * (2 * j + 1)));
			dct_t[j][i] = dct[i][j];
		}
}

static pthread_once_t dct_once = PTHREAD_ONCE_INIT;

/* A running-sum box filter over n values spaced `stride` apart, with the reference's
 * shrinking windows at both ends: output o averages inputs [o - half + 1, o + w - half]
 * clipped to the vector, where half = (w + 2) / 2. */
static void box_row(const float *in, float *out, int n, int w)
{
	int half = (w + 2) / 2;
	int ri = 0, li = 0, oi = 0, count = 0;
	float sum = 0.0f;
	for (int i = 0; i < half - 1; i++) {
		sum += in[ri++];
		count++;
	}
	for (int i = 0; i < w - half + 1; i++) {
		sum += in[ri++];
		count++;
		out[oi++] = sum / (float)count;
	}
	for (int i = 0; i < n - w; i++) {
		sum += in[ri++];
		sum -= in[li++];
		out[oi++] = sum / (float)count;
	}
	for (int i = 0; i < half - 1; i++) {
		sum -= in[li++];
		count--;
		out[oi++] = sum / (float)count;
	}
}

/* Sixteen rows at once: lane r of each vector is row r, so the running sums of sixteen
 * rows advance together. Each lane does exactly box_row's operations in box_row's order,
 * so the results are bit-identical; what is shared is the add latency of the serial
 * chain, which bounds the one-row filter. (GCC's generic vectors become whatever the
 * target has: four SSE registers on plain x86-64.) */
#define LANES 16
typedef float vf __attribute__((vector_size(4 * LANES)));

static void box_rows_wide(const float *in, float *out, int n, int w, vf *tin, vf *tout,
			  const int *pick, int npick)
{
	for (int k = 0; k < n; k++)
		for (int r = 0; r < LANES; r++)
			tin[k][r] = in[(size_t)r * n + k];
	/* tout gets the running sums; the division happens at the end, and only for the
	 * outputs wanted. The window size at output o is a function of o alone. */
	int half = (w + 2) / 2;
	int ri = 0, li = 0, oi = 0;
	vf sum = {0};
	for (int i = 0; i < half - 1; i++)
		sum += tin[ri++];
	for (int i = 0; i < w - half + 1; i++) {
		sum += tin[ri++];
		tout[oi++] = sum;
	}
	for (int i = 0; i < n - w; i++) {
		sum += tin[ri++];
		sum -= tin[li++];
		tout[oi++] = sum;
	}
	for (int i = 0; i < half - 1; i++) {
		sum -= tin[li++];
		tout[oi++] = sum;
	}
	int stride = pick ? npick : n;
	for (int k = 0; k < (pick ? npick : n); k++) {
		int o = pick ? pick[k] : k;
		/* half - 1 + (o + 1) at the start, w in the middle, n - o + w - half at the end */
		int c = o + half < w ? o + half : w;
		if (n - o + w - half < c)
			c = n - o + w - half;
		vf v = tout[o] / (float)c;
		for (int r = 0; r < LANES; r++)
			out[(size_t)r * stride + k] = v[r];
	}
}

/* The same filter down every column at once: each column keeps its own running sum in
 * sums[], so the inner loops run along rows and vectorise. */
static void box_cols(const float *restrict in, float *restrict out, float *restrict sums,
		     int rows, int cols, int w)
{
	int half = (w + 2) / 2;
	int ri = 0, li = 0, oi = 0, count = 0;
	for (int j = 0; j < cols; j++)
		sums[j] = 0.0f;
	for (int i = 0; i < half - 1; i++, ri++) {
		const float *r = in + (size_t)ri * cols;
		for (int j = 0; j < cols; j++)
			sums[j] += r[j];
		count++;
	}
	for (int i = 0; i < w - half + 1; i++, ri++, oi++) {
		const float *r = in + (size_t)ri * cols;
		float *o = out + (size_t)oi * cols;
		count++;
		float c = (float)count;
		for (int j = 0; j < cols; j++) {
			sums[j] += r[j];
			o[j] = sums[j] / c;
		}
	}
	for (int i = 0; i < rows - w; i++, ri++, li++, oi++) {
		const float *r = in + (size_t)ri * cols, *l = in + (size_t)li * cols;
		float *o = out + (size_t)oi * cols;
		float c = (float)count;
		for (int j = 0; j < cols; j++) {
			sums[j] += r[j];
			sums[j] -= l[j];
			o[j] = sums[j] / c;
		}
	}
	for (int i = 0; i < half - 1; i++, li++, oi++) {
		const float *l = in + (size_t)li * cols;
		float *o = out + (size_t)oi * cols;
		count--;
		float c = (float)count;
		for (int j = 0; j < cols; j++) {
			sums[j] -= l[j];
			o[j] = sums[j] / c;
		}
	}
}

static int jarosz_window(int old_dim)
{
	return (old_dim + 2 * 64 - 1) / (2 * 64);
}

/* Blurs luma (buf2 is scratch) and samples the 64x64 centres. The second pass is only
 * computed where the samples need it: the row filter's running sums still walk every
 * pixel (they must, for the same rounding), but it divides only at the 64 sampled
 * columns, and the column filter runs on those 64 columns alone. */
static void blur_and_decimate(float *buf1, float *buf2, int rows, int cols, float out[64][64])
{
	int wr = jarosz_window(cols); /* along rows */
	int wc = jarosz_window(rows); /* along columns */
	int si[64], sj[64];
	for (int i = 0; i < 64; i++) {
		si[i] = (int)(((i + 0.5) * rows) / 64);
		sj[i] = (int)(((i + 0.5) * cols) / 64);
	}
	vf *tin = aligned_alloc(sizeof(vf), sizeof(vf) * 2 * (size_t)cols);
	/* narrow: rows x 64 samples, its filtered copy, then the column sums (cols wide in
	 * the first pass, 64 in the second). */
	float *narrow = malloc(sizeof(float) * (2 * 64 * (size_t)rows + (size_t)(cols > 64 ? cols : 64)));
	float *sums = narrow + 2 * 64 * (size_t)rows;
	if (!tin || !narrow)
		abort(); /* a few bytes per pixel of an image already admitted by the limits */
	vf *tout = tin + cols;

	/* Even a window of 1 is not the identity in float: (s + x) - s need not be x. */
	for (int pass = 0; pass < JAROSZ_PASSES; pass++) {
		bool last = pass == JAROSZ_PASSES - 1;
		float *dst = last ? narrow : buf2;
		int width = last ? 64 : cols;
		int i = 0;
		for (; i + LANES <= rows; i += LANES)
			box_rows_wide(buf1 + (size_t)i * cols, dst + (size_t)i * width, cols, wr, tin,
				  tout, last ? sj : NULL, 64);
		for (; i < rows; i++) {
			box_row(buf1 + (size_t)i * cols, buf2 + (size_t)i * cols, cols, wr);
			if (last)
				for (int j = 0; j < 64; j++)
					dst[(size_t)i * 64 + j] = buf2[(size_t)i * cols + sj[j]];
		}
		if (last)
			box_cols(narrow, narrow + 64 * (size_t)rows, sums, rows, 64, wc);
		else
			box_cols(buf2, buf1, sums, rows, cols, wc);
	}
	const float *res = narrow + 64 * (size_t)rows;
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 64; j++)
			out[i][j] = res[(size_t)si[i] * 64 + j];
	free(narrow);
	free(tin);
}

static int quality_metric(float a[64][64])
{
	int sum = 0;
	for (int i = 0; i < 63; i++)
		for (int j = 0; j < 64; j++) {
			int d = (int)(((a[i][j] - a[i + 1][j]) * 100) / 255);
			sum += d < 0 ? -d : d;
		}
	for (int i = 0; i < 64; i++)
		for (int j = 0; j < 63; j++) {
			int d = (int)(((a[i][j] - a[i][j + 1]) * 100) / 255);
			sum += d < 0 ? -d : d;
		}
	int q = sum / 90;
	return q > 100 ? 100 : q;
}

/* B = D A D^T, keeping rows and columns 1..16 of the 64x64 DCT. For each output the
 * terms are added for k = 0..63 in order, as the reference does. */
static void dct_64_to_16(float a[64][64], float b[16][16])
{
	float t[16][64];
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 64; j++)
			t[i][j] = 0.0f;
		for (int k = 0; k < 64; k++) {
			float d = dct[i][k];
			for (int j = 0; j < 64; j++)
				t[i][j] += d * a[k][j];
		}
	}
	for (int i = 0; i < 16; i++) {
		for (int j = 0; j < 16; j++)
			b[i][j] = 0.0f;
		for (int k = 0; k < 64; k++) {
			float x = t[i][k];
			for (int j = 0; j < 16; j++)
				b[i][j] += x * dct_t[k][j];
		}
	}
}

/* The 128th smallest of 256 values (the lower median), by quickselect on a copy. */
static float lower_median(const float v[256])
{
	float a[256];
	memcpy(a, v, sizeof(a));
	int lo = 0, hi = 255, k = 127;
	while (lo < hi) {
		float pivot = a[(lo + hi) / 2];
		int i = lo, j = hi;
		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				float tmp = a[i];
				a[i] = a[j];
				a[j] = tmp;
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			break;
	}
	return a[k];
}

static void bits_from_dct(float b[16][16], vg_pdq *h)
{
	float median = lower_median(&b[0][0]);
	memset(h, 0, sizeof(*h));
	for (int k = 0; k < 256; k++)
		if ((&b[0][0])[k] > median)
			h->w[k >> 6] |= UINT64_C(1) << (k & 63);
}

/* The dihedral variants permute and negate the DCT instead of re-hashing the image:
 * `transpose` swaps i and j; the sign flips where (i, j) meet the variant's parity. */
static void dihedral_dct(float a[16][16], vg_dihedral v, float out[16][16])
{
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++) {
			bool neg, transpose;
			switch (v) {
			case VG_DIH_ROTATE90: transpose = true, neg = !(j & 1); break;
			case VG_DIH_ROTATE180: transpose = false, neg = (i + j) & 1; break;
			case VG_DIH_ROTATE270: transpose = true, neg = !(i & 1); break;
			case VG_DIH_FLIPX: transpose = false, neg = !(i & 1); break;
			case VG_DIH_FLIPY: transpose = false, neg = !(j & 1); break;
			case VG_DIH_FLIP_PLUS1: transpose = true, neg = false; break;
			case VG_DIH_FLIP_MINUS1: transpose = true, neg = (i + j) & 1; break;
			default: transpose = false, neg = false; break;
			}
			float x = neg ? -a[i][j] : a[i][j];
			if (transpose)
				out[j][i] = x;
			else
				out[i][j] = x;
		}
}

void vg_pdq_from_luma(float *luma, float *scratch, int rows, int cols, bool dihedral,
		      vg_pdq *ret_hashes, int *ret_quality)
{
	int n = dihedral ? VG_DIH_COUNT : 1;
	if (rows < MIN_HASHABLE_DIM || cols < MIN_HASHABLE_DIM) {
		memset(ret_hashes, 0, sizeof(vg_pdq) * (size_t)n);
		*ret_quality = 0;
		return;
	}
	pthread_once(&dct_once, init_dct);

	float a64[64][64], b16[16][16], aux[16][16];
	if (rows == 64 && cols == 64 && !dihedral) {
		/* The reference's single-hash path copies a 64x64 input unblurred; its
		 * dihedral path blurs it. Both are kept, for identical output. */
		memcpy(a64, luma, sizeof(a64));
	} else {
		blur_and_decimate(luma, scratch, rows, cols, a64);
	}
	*ret_quality = quality_metric(a64);
	dct_64_to_16(a64, b16);
	bits_from_dct(b16, &ret_hashes[0]);
	for (int v = 1; v < n; v++) {
		dihedral_dct(b16, (vg_dihedral)v, aux);
		bits_from_dct(aux, &ret_hashes[v]);
	}
}

void vg_pdq_to_hex(const vg_pdq *h, char out[VG_PDQ_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int i = 0; i < 64; i++) {
		int nib = 63 - i; /* nibble index from the least significant end */
		out[i] = digits[(h->w[nib >> 4] >> ((nib & 15) * 4)) & 15];
	}
	out[64] = '\0';
}

void vg_pdq_from_bytes(const uint8_t bytes[VG_PDQ_BYTES], vg_pdq *ret)
{
	/* bytes[0] is the most significant byte of the 256-bit integer. */
	for (int w = 0; w < 4; w++) {
		uint64_t x = 0;
		for (int b = 0; b < 8; b++)
			x = x << 8 | bytes[(3 - w) * 8 + b];
		ret->w[w] = x;
	}
}

int vg_pdq_from_hex(const char *s, size_t len, vg_pdq *ret)
{
	uint8_t bytes[VG_PDQ_BYTES];
	if (vg_hex_decode(s, len, bytes, sizeof(bytes)) != 0)
		return VG_EINVAL;
	vg_pdq_from_bytes(bytes, ret);
	return 0;
}
