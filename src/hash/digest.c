/* SPDX-License-Identifier: Apache-2.0
 *
 * MD5 and SHA-256 of raw bytes through OpenSSL (the file's bytes, not its pixels).
 */
#include <stdlib.h>

#include <openssl/evp.h>

#include "hash.h"

static void digest(const EVP_MD *md, const uint8_t *data, size_t len, uint8_t *out)
{
	unsigned int n = 0;
	if (!EVP_Digest(data, len, out, &n, md, NULL))
		abort(); /* only on allocation failure inside OpenSSL */
}

void vg_digests_compute(const uint8_t *data, size_t len, vg_digests *ret)
{
	digest(EVP_md5(), data, len, ret->md5);
	digest(EVP_sha256(), data, len, ret->sha256);
}
