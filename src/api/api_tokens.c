/* SPDX-License-Identifier: Apache-2.0
 *
 * Minting tokens: 32 random bytes shown once as `vg_` + 64 hex digits; the store keeps
 * only their SHA-256 (hex). Also the first-start rule: a store that has never had a token
 * gets an admin one, and `vigil serve` prints it once. "Never had", not "has no live admin":
 * revoking every admin token (a leak, or admin work kept to the CLI) must survive the next
 * unattended restart rather than be undone by a fresh credential printed into the logs.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int vg_api_token_mint(vg_store *s, const char *name, const char *role, const char *actor,
		      char ret_secret[VG_API_TOKEN_LEN + 1], vg_error *err)
{
	if (!vg__api_role_parse(role))
		return vg_error_set(err, VG_EINVAL, "unknown role '%s'", role);
	uint8_t raw[32], digest[32];
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return vg_error_set(err, VG_EINTERNAL, "no randomness for a token");
	char secret[VG_API_TOKEN_LEN + 1] = "vg_", hex[65];
	vg_hex_encode(raw, sizeof(raw), secret + 3);
	unsigned dlen = 0;
	EVP_Digest(secret, strlen(secret), digest, &dlen, EVP_sha256(), NULL);
	vg_hex_encode(digest, sizeof(digest), hex);
	OPENSSL_cleanse(raw, sizeof(raw));

	int rc = vg_store_begin(s, err);
	if (rc)
		goto out;
	int64_t id;
	rc = vg_store_token_create(s, name, role, hex, &id, err);
	if (rc == 0) {
		char detail[128];
		snprintf(detail, sizeof(detail), "{\"role\":\"%s\"}", role);
		rc = vg_store_audit_append(s, actor, "token.create", "token", name, detail, NULL, err);
	}
	if (rc == 0)
		rc = vg_store_commit(s, err);
	else
		vg_store_rollback(s);
	if (rc == 0)
		memcpy(ret_secret, secret, sizeof(secret));
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

int vg_api_bootstrap_revoke(vg_api *api, const char *secret, vg_error *err)
{
	uint8_t digest[32];
	char hex[65];
	unsigned dlen = 0;
	EVP_Digest(secret, strlen(secret), digest, &dlen, EVP_sha256(), NULL);
	vg_hex_encode(digest, sizeof(digest), hex);
	vg_store *s = api->main_store;
	vg_store_token t;
	int rc = vg_store_begin(s, err);
	if (rc)
		return rc;
	if ((rc = vg_store_token_by_hash(s, hex, &t, err)) == 0 &&
	    (rc = vg_store_token_revoke(s, t.name, err)) == 0 &&
	    (rc = vg_store_audit_append(s, "vigil-serve", "token.revoke", "token", t.name,
					"{\"reason\":\"could not be shown\"}", NULL, err)) == 0)
		rc = vg_store_commit(s, err);
	else
		vg_store_rollback(s);
	return rc;
}

int vg_api_bootstrap_admin(vg_api *api, char **ret_secret, vg_error *err)
{
	*ret_secret = NULL;
	vg_store_token *tokens = NULL;
	size_t n = 0;
	int rc = vg_store_token_list(api->main_store, &tokens, &n, err);
	free(tokens);
	if (rc || n) /* revoked tokens stay listed, so any row means a start happened */
		return rc;
	char secret[VG_API_TOKEN_LEN + 1], name[64];
	snprintf(name, sizeof(name), "admin-%lld", (long long)(vg_time_now() / 1000000));
	rc = vg_api_token_mint(api->main_store, name, "admin", "vigil-serve", secret, err);
	if (rc == 0)
		*ret_secret = vg_xstrdup(secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}
