/* SPDX-License-Identifier: Apache-2.0
 *
 * Webhook signatures: HMAC-SHA256 over `timestamp "." body`, keyed with the item's
 * secret, written as "sha256=" and 64 lower-case hex digits (the scheme action.h and
 * docs/webhooks.md describe). The timestamp is inside the MAC so a captured request
 * cannot be replayed later under a fresh X-Vigil-Timestamp; the dot keeps "12" + "3..."
 * and "123" + "..." apart.
 *
 * Both functions are pure and thread-safe: OpenSSL 3's EVP_MAC objects are made and
 * freed per call.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <string.h>

#include "action.h"

#define SIG_PREFIX "sha256="
#define SIG_PREFIX_LEN (sizeof(SIG_PREFIX) - 1)

int vg_webhook_sign(const char *secret, const char *timestamp, const char *body, size_t len,
		    char out[VG_WEBHOOK_SIG_SIZE])
{
	if (!secret || !*secret || !timestamp || !*timestamp || (!body && len))
		return VG_EINVAL;

	int rc = VG_EINTERNAL;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	uint8_t md[32];
	size_t mdlen = 0;
	char digest_name[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
		OSSL_PARAM_construct_end(),
	};
	if (!ctx || !EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)timestamp, strlen(timestamp)) ||
	    !EVP_MAC_update(ctx, (const unsigned char *)".", 1) ||
	    (len && !EVP_MAC_update(ctx, (const unsigned char *)body, len)) ||
	    !EVP_MAC_final(ctx, md, &mdlen, sizeof(md)) || mdlen != sizeof(md))
		goto out;
	memcpy(out, SIG_PREFIX, SIG_PREFIX_LEN);
	vg_hex_encode(md, sizeof(md), out + SIG_PREFIX_LEN);
	rc = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

bool vg_webhook_verify(const char *secret, const char *timestamp, const char *body, size_t len,
		       const char *signature)
{
	char want[VG_WEBHOOK_SIG_SIZE];
	if (!signature || vg_webhook_sign(secret, timestamp, body, len, want))
		return false;
	/* The length says nothing about the secret; only the digits need constant time. */
	if (strnlen(signature, VG_WEBHOOK_SIG_SIZE) != VG_WEBHOOK_SIG_SIZE - 1)
		return false;
	return CRYPTO_memcmp(want, signature, VG_WEBHOOK_SIG_SIZE - 1) == 0;
}
