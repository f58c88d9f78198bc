/* SPDX-License-Identifier: Apache-2.0
 *
 * hash: from image bytes to signals. Decodes JPEG, PNG, WebP and GIF (format found from
 * the content, never the file name) into luminance, computes the PDQ perceptual hash
 * bit-exact with the reference implementation (facebook/ThreatExchange pdq/cpp), and
 * computes MD5 and SHA-256 of the raw bytes.
 *
 * Invariant: decoded pixels exist only inside vg_image_hash(); nothing of the image is
 * kept, written or logged. Only hashes and dimensions leave this folder.
 */
#ifndef VG_HASH_H
#define VG_HASH_H

#include "util/util.h"

/* ---- PDQ hashes -------------------------------------------------------------------
 * 256 bits. Bit k (k = 16*row + column of the 16x16 DCT block) is bit k%64 of w[k/64].
 * The hex form is the big-endian hex of the 256-bit integer sum(bit_k * 2^k), exactly
 * as the reference prints it. A hot value type, so its body is public. */
typedef struct vg_pdq {
	uint64_t w[4];
} vg_pdq;

#define VG_PDQ_HEX_LEN 64
#define VG_PDQ_BYTES 32 /* the hex form decoded: big-endian, as vg_hex_decode gives it */

/* The eight dihedral variants, in the reference's --pdqdih-across order. */
typedef enum {
	VG_DIH_ORIGINAL,
	VG_DIH_ROTATE90,
	VG_DIH_ROTATE180,
	VG_DIH_ROTATE270,
	VG_DIH_FLIPX,
	VG_DIH_FLIPY,
	VG_DIH_FLIP_PLUS1,
	VG_DIH_FLIP_MINUS1,
	VG_DIH_COUNT
} vg_dihedral;

/* Writes 64 lower-case hex digits and a NUL. */
VG_EXPORT void vg_pdq_to_hex(const vg_pdq *h, char out[VG_PDQ_HEX_LEN + 1]);
/* Parses exactly 64 hex digits (either case); VG_EINVAL otherwise. */
VG_EXPORT VG_MUST_CHECK int vg_pdq_from_hex(const char *s, size_t len, vg_pdq *ret);
/* The hash whose hex form decodes (vg_hex_decode) to bytes: for a caller that has decoded
 * it already, such as match() trying a 64-digit value as SHA-256 first. */
VG_EXPORT void vg_pdq_from_bytes(const uint8_t bytes[VG_PDQ_BYTES], vg_pdq *ret);

static inline int vg_pdq_distance(const vg_pdq *a, const vg_pdq *b)
{
	return __builtin_popcountll(a->w[0] ^ b->w[0]) + __builtin_popcountll(a->w[1] ^ b->w[1]) +
	       __builtin_popcountll(a->w[2] ^ b->w[2]) + __builtin_popcountll(a->w[3] ^ b->w[3]);
}

static inline int vg_pdq_norm(const vg_pdq *a)
{
	return __builtin_popcountll(a->w[0]) + __builtin_popcountll(a->w[1]) +
	       __builtin_popcountll(a->w[2]) + __builtin_popcountll(a->w[3]);
}

/* PDQ of a luminance image (rows x cols floats, row-major, values 0..255). luma is
 * used as working memory and clobbered; scratch must hold rows * cols floats. Writes
 * ret_hashes[0], and all VG_DIH_COUNT variants when dihedral is set. Images with a side
 * under 5 pixels hash to all zeros with quality 0, as in the reference. Cost: O(rows *
 * cols) for the blur plus a fixed ~100 us for the DCT. Thread-safe. */
VG_EXPORT void vg_pdq_from_luma(float *luma, float *scratch, int rows, int cols, bool dihedral,
				vg_pdq *ret_hashes, int *ret_quality);

/* ---- images ------------------------------------------------------------------------ */
typedef enum {
	VG_IMAGE_UNKNOWN,
	VG_IMAGE_JPEG,
	VG_IMAGE_PNG,
	VG_IMAGE_WEBP,
	VG_IMAGE_GIF,
} vg_image_format;

/* "jpeg", "png", "webp", "gif" or "unknown". */
VG_EXPORT const char *vg_image_format_name(vg_image_format f);
/* Identifies the format from the first bytes. */
VG_EXPORT vg_image_format vg_image_sniff(const uint8_t *data, size_t len);

typedef struct vg_hash_opts {
	bool fast;           /* reduced-scale JPEG decode: far cheaper, close to exact */
	bool hma;            /* --compat hma: no 512x512 pre-resize (HMA, pdqhash-python) */
	bool dihedral;       /* also compute the seven other dihedral hashes */
	uint64_t max_pixels; /* refuse larger images before decoding; default 100e6 */
	uint32_t max_side;   /* refuse any side over this; default 32768 */
} vg_hash_opts;

VG_EXPORT void vg_hash_opts_init(vg_hash_opts *opts);

typedef struct vg_image_result {
	vg_pdq pdq[VG_DIH_COUNT]; /* [0] always; the rest only with opts.dihedral */
	int quality;              /* 0..100; below 50 the hash is not worth matching */
	uint32_t width, height;   /* as stored in the file (EXIF orientation ignored) */
	vg_image_format format;
	vg_usec decode_us; /* time spent decoding to luma */
	vg_usec hash_us;   /* time spent in PDQ proper */
} vg_image_result;

/* Decodes an image held in memory and hashes it. Errors: VG_EUNSUPPORTED (not a format
 * vigil reads), VG_ETOOBIG (over max_pixels or max_side, refused before decoding),
 * VG_ECORRUPT (truncated or corrupt), VG_ENOMEM. Thread-safe; all decode memory is
 * freed before it returns. */
VG_EXPORT VG_MUST_CHECK int vg_image_hash(const uint8_t *data, size_t len,
					  const vg_hash_opts *opts, vg_image_result *ret,
					  vg_error *err);

/* The bytes all decodes in flight may hold together (default 2 GiB: any image within the
 * default limits fits, even a 100-MP progressive JPEG at full size as --compat hma
 * decodes it). A decode reserves its share once it knows the image's size and waits
 * while others hold the rest, so N threads hashing crafted images (a 90-byte WebP
 * declaring a 10000x10000 canvas) never hold N times the worst case; one needing more
 * than the whole budget fails with VG_ETOOBIG. */
#define VG_HASH_MEMORY_DEFAULT ((uint64_t)2 << 30)
VG_EXPORT void vg_hash_set_memory_limit(uint64_t bytes);

/* "libjpeg-turbo 2.1.5, libpng 1.6.39, ...": the decoders hashes depend on. */
VG_EXPORT void vg_hash_decoder_versions(char *out, size_t size);

/* ---- digests of raw bytes ----------------------------------------------------------- */
typedef struct vg_digests {
	uint8_t md5[16];
	uint8_t sha256[32];
} vg_digests;

VG_EXPORT void vg_digests_compute(const uint8_t *data, size_t len, vg_digests *ret);

/* ---- files, one or many ------------------------------------------------------------ */
typedef struct vg_hash_item {
	const char *path; /* borrowed from the caller */
	int rc;           /* 0, or the error of reading or hashing this file */
	vg_error err;
	size_t bytes;
	vg_image_result image;
	vg_digests digests;
} vg_hash_item;

/* Reads (at most max_file_bytes) and hashes one file into *item. Never fails as a
 * whole: item->rc says how this file went. */
VG_EXPORT void vg_hash_file(const char *path, const vg_hash_opts *opts, size_t max_file_bytes,
			    vg_hash_item *item);

/* Called on the caller's thread, once per path, in input order. */
typedef void vg_hash_emit_fn(const vg_hash_item *item, void *ctx);

/* Hashes n files on `jobs` threads and emits each result in input order. Per-file
 * failures arrive as items with rc != 0; the return is always 0. */
VG_EXPORT int vg_hash_files(char *const *paths, size_t n, const vg_hash_opts *opts, int jobs,
			    size_t max_file_bytes, vg_hash_emit_fn *emit, void *ctx);

#endif
