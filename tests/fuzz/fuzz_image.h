/* SPDX-License-Identifier: Apache-2.0
 *
 * The body of the four image targets (fuzz_jpeg.c, fuzz_png.c, fuzz_webp.c,
 * fuzz_gif.c): vg_image_hash() on the whole input, then the contract of hash.h checked
 * on the result. The limits are tight so that no input can make a run allocate more than
 * about 100 MB. An input of another format returns at once, so each target spends its
 * time in its own decoder.
 *
 * The last byte, mixed with the size, picks the modes, so every decode path is reached
 * while the decoder still sees the whole buffer, magic bytes included. The size is mixed
 * in because most files end in the same marker: this way the seeds replay in different
 * modes, and the fuzzer still flips a mode by changing one byte.
 */
#ifndef VG_FUZZ_IMAGE_H
#define VG_FUZZ_IMAGE_H

#include <string.h>

#include "fuzz.h"
#include "hash/hash.h"

#define FUZZ_MAX_PIXELS 4000000
#define FUZZ_MAX_SIDE 4096

static inline void check_error(int rc, const vg_error *err)
{
	VG_FUZZ_CHECK(rc > VG__EBASE && rc < VG__ELAST);
	VG_FUZZ_CHECK(err->code == rc);
	VG_FUZZ_CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
}

static inline int fuzz_image(const uint8_t *data, size_t size, vg_image_format want)
{
	if (vg_image_sniff(data, size) != want)
		return 0;
	uint8_t mode = data[size - 1] ^ (uint8_t)size; /* size >= 3: the sniffer saw magic */
	vg_hash_opts opts;
	vg_hash_opts_init(&opts);
	opts.max_pixels = FUZZ_MAX_PIXELS;
	opts.max_side = FUZZ_MAX_SIDE;
	opts.fast = mode & 1;
	opts.hma = mode & 2;
	opts.dihedral = mode & 4;

	vg_image_result r;
	vg_error err = {0};
	int rc = vg_image_hash(data, size, &opts, &r, &err);
	if (rc != 0) {
		check_error(rc, &err);
		return 0;
	}
	VG_FUZZ_CHECK(r.format == want);
	VG_FUZZ_CHECK(r.quality >= 0 && r.quality <= 100);
	VG_FUZZ_CHECK(r.width > 0 && r.height > 0);
	VG_FUZZ_CHECK(r.width <= FUZZ_MAX_SIDE && r.height <= FUZZ_MAX_SIDE);
	VG_FUZZ_CHECK((uint64_t)r.width * r.height <= FUZZ_MAX_PIXELS);
	VG_FUZZ_CHECK(r.decode_us >= 0 && r.hash_us >= 0);
	/* A side under 5 hashes to zero with quality 0, unless the 512x512 pre-resize
	 * (which fast mode never undoes below 512) made the image larger. */
	uint32_t lo = r.width < r.height ? r.width : r.height;
	uint32_t hi = r.width < r.height ? r.height : r.width;
	if (lo < 5 && (opts.hma || hi <= 512)) {
		static const vg_pdq zero;
		VG_FUZZ_CHECK(r.quality == 0 && memcmp(&r.pdq[0], &zero, sizeof(zero)) == 0);
	}

	/* Bits 3 and 4 (one input in four, as it doubles the cost): hash again, and the
	 * answer must not change. This catches reads of uninitialised memory and state
	 * left over from the first run. The second run flips dihedral, whose first hash
	 * must be the plain one, except for a 64x64 image (the reference skips the blur
	 * there on its single-hash path only). */
	if ((mode & 0x18) == 0x18) {
		vg_image_result again;
		if (r.width != 64 || r.height != 64)
			opts.dihedral = !opts.dihedral;
		rc = vg_image_hash(data, size, &opts, &again, &err);
		VG_FUZZ_CHECK(rc == 0);
		VG_FUZZ_CHECK(again.width == r.width && again.height == r.height);
		VG_FUZZ_CHECK(again.quality == r.quality);
		VG_FUZZ_CHECK(memcmp(&again.pdq[0], &r.pdq[0], sizeof(vg_pdq)) == 0);
	}
	return 0;
}

#endif
