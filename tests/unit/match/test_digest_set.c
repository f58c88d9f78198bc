/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the exact digest sets (src/match/digest_set.c): MD5 and SHA-256 values
 * to ids, several ids per value, and a long random run of adds and removes against a
 * plain list, which is what exercises the backward-shift deletion.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "hash/hash.h"
#include "match/match.h"

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

Test(digest_set, only_md5_and_sha256_lengths)
{
	cr_assert_null(vg_digest_set_new(0));
	cr_assert_null(vg_digest_set_new(20));
	vg_digest_set *a = vg_digest_set_new(16), *b = vg_digest_set_new(32);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	vg_digest_set_free(a);
	vg_digest_set_free(b);
	vg_digest_set_free(NULL);
}

Test(digest_set, real_digests_several_ids_per_value)
{
	vg_digests d1, d2;
	vg_digests_compute((const uint8_t *)"abc", 3, &d1);
	vg_digests_compute((const uint8_t *)"abd", 3, &d2);
	vg_digest_set *md5 = vg_digest_set_new(16), *sha = vg_digest_set_new(32);
	cr_assert_eq(vg_digest_set_add(md5, d1.md5, 42), 0);
	cr_assert_eq(vg_digest_set_add(md5, d1.md5, 7), 0); /* the same file in two banks */
	cr_assert_eq(vg_digest_set_add(md5, d1.md5, 42), VG_EEXIST);
	cr_assert_eq(vg_digest_set_add(sha, d1.sha256, 42), 0);
	cr_assert_eq(vg_digest_set_count(md5), 2);

	uint64_t ids[4];
	cr_assert_eq(vg_digest_set_lookup(md5, d1.md5, ids, 4), 2);
	cr_assert_eq(ids[0], 7);
	cr_assert_eq(ids[1], 42);
	cr_assert_eq(vg_digest_set_lookup(md5, d1.md5, ids, 1), 2); /* count, smallest id */
	cr_assert_eq(ids[0], 7);
	cr_assert_eq(vg_digest_set_lookup(md5, d1.md5, NULL, 0), 2);
	cr_assert_eq(vg_digest_set_lookup(md5, d2.md5, ids, 4), 0);
	cr_assert_eq(vg_digest_set_lookup(sha, d1.sha256, ids, 4), 1);
	cr_assert_eq(ids[0], 42);
	/* A SHA-256 whose first 16 bytes are the MD5 is still a different value. */
	uint8_t mixed[32];
	memcpy(mixed, d1.sha256, 32);
	mixed[31] ^= 1;
	cr_assert_eq(vg_digest_set_lookup(sha, mixed, ids, 4), 0);

	cr_assert_eq(vg_digest_set_remove(md5, d1.md5, 42), 0);
	cr_assert_eq(vg_digest_set_remove(md5, d1.md5, 42), VG_ENOENT);
	cr_assert_eq(vg_digest_set_remove(md5, d2.md5, 7), VG_ENOENT);
	cr_assert_eq(vg_digest_set_lookup(md5, d1.md5, ids, 4), 1);
	cr_assert_eq(ids[0], 7);
	cr_assert_eq(vg_digest_set_count(md5), 1);
	vg_digest_set_free(md5);
	vg_digest_set_free(sha);
}

/* Random adds and removes over a small value space (so values repeat, runs collide and
 * deletions shift entries), checked against a list after every few operations. */
static void churn(size_t len, uint64_t seed)
{
	enum { OPS = 60000, VALUES = 3000 };
	uint64_t s = seed;
	vg_digest_set *set = vg_digest_set_new(len);
	uint8_t(*val)[32] = malloc(VALUES * sizeof(*val));
	for (size_t i = 0; i < VALUES; i++)
		for (size_t k = 0; k < 32; k++)
			val[i][k] = (uint8_t)rng_next(&s);
	/* model: present[v * 8 + id] for ids 0..7 */
	bool *present = calloc(VALUES * 8, sizeof(bool));
	size_t count = 0;
	for (int op = 0; op < OPS; op++) {
		size_t v = rng_next(&s) % VALUES;
		uint64_t id = rng_next(&s) % 8;
		bool *p = &present[v * 8 + id];
		if (rng_next(&s) % 3) {
			int rc = vg_digest_set_add(set, val[v], id);
			cr_assert_eq(rc, *p ? VG_EEXIST : 0);
			count += !*p;
			*p = true;
		} else {
			int rc = vg_digest_set_remove(set, val[v], id);
			cr_assert_eq(rc, *p ? 0 : VG_ENOENT);
			count -= *p;
			*p = false;
		}
		if (op % 97 == 0 || op == OPS - 1) {
			cr_assert_eq(vg_digest_set_count(set), count);
			for (size_t w = 0; w < VALUES; w += 1 + op % 7) {
				uint64_t ids[8];
				size_t want = 0;
				for (uint64_t k = 0; k < 8; k++)
					want += present[w * 8 + k];
				size_t got = vg_digest_set_lookup(set, val[w], ids, 8);
				cr_assert_eq(got, want);
				size_t j = 0;
				for (uint64_t k = 0; k < 8; k++)
					if (present[w * 8 + k])
						cr_assert_eq(ids[j++], k);
			}
		}
	}
	free(present);
	free(val);
	vg_digest_set_free(set);
}

Test(digest_set, churn_md5_matches_a_list)
{
	churn(16, 11);
}

Test(digest_set, churn_sha256_matches_a_list)
{
	churn(32, 12);
}

Test(digest_set, digests_sharing_a_prefix_do_not_collide)
{
	/* Values that differ only in their last byte, as a hostile list could supply. */
	vg_digest_set *set = vg_digest_set_new(32);
	uint8_t d[32] = {0};
	for (int i = 0; i < 256; i++) {
		d[31] = (uint8_t)i;
		cr_assert_eq(vg_digest_set_add(set, d, (uint64_t)i), 0);
	}
	for (int i = 0; i < 256; i++) {
		uint64_t id;
		d[31] = (uint8_t)i;
		cr_assert_eq(vg_digest_set_lookup(set, d, &id, 1), 1);
		cr_assert_eq(id, (uint64_t)i);
	}
	vg_digest_set_free(set);
}
