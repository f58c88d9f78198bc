/* SPDX-License-Identifier: Apache-2.0
 *
 * Bearer tokens and roles. A token is `vg_` + 64 hex digits of randomness; the store
 * keeps only its SHA-256. A request's token is hashed and looked up; the digest found is
 * compared with CRYPTO_memcmp, in constant time. Lookups are cached for a few seconds
 * (both hits and misses, so a flood of bad tokens cannot turn into a flood of queries),
 * and the cache is flushed when a token is revoked through the API; a revocation made
 * with the CLI takes effect within TOKEN_TTL.
 *
 * Never logged: the token, its digest.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "internal.h"

#define TOKEN_TTL (5 * 1000000)
#define CACHE_SLOTS 1024

struct slot {
	uint8_t digest[32];
	bool used, valid;
	vg__actor who;
	vg_usec expires;
};

struct vg__token_cache {
	pthread_mutex_t mu;
	struct slot slots[CACHE_SLOTS];
};

static const struct {
	const char *name;
	int role;
} roles[] = {
	{"admin", VG__ROLE_ADMIN},     {"analyst", VG__ROLE_ANALYST}, {"scanner", VG__ROLE_SCANNER},
	{"intake", VG__ROLE_INTAKE},   {"ingest", VG__ROLE_INGEST},
};

int vg__api_role_parse(const char *name)
{
	for (size_t i = 0; i < VG_ARRAY_LEN(roles); i++)
		if (!strcmp(roles[i].name, name))
			return roles[i].role;
	return 0;
}

const char *vg__api_role_name(int role)
{
	for (size_t i = 0; i < VG_ARRAY_LEN(roles); i++)
		if (roles[i].role == role)
			return roles[i].name;
	return "anonymous";
}

void vg__api_tokens_init(vg_api *api)
{
	api->tokens = vg_xcalloc(1, sizeof(*api->tokens));
	pthread_mutex_init(&api->tokens->mu, NULL);
}

void vg__api_tokens_done(vg_api *api)
{
	if (!api->tokens)
		return;
	pthread_mutex_destroy(&api->tokens->mu);
	OPENSSL_cleanse(api->tokens, sizeof(*api->tokens));
	free(api->tokens);
	api->tokens = NULL;
}

void vg__api_tokens_flush(vg_api *api)
{
	pthread_mutex_lock(&api->tokens->mu);
	memset(api->tokens->slots, 0, sizeof(api->tokens->slots));
	pthread_mutex_unlock(&api->tokens->mu);
}

/* Returns 1 (found, *who filled), 0 (known bad), -1 (not cached). */
static int cache_get(struct vg__token_cache *c, const uint8_t digest[32], vg__actor *who)
{
	struct slot *s = &c->slots[(digest[0] | digest[1] << 8) % CACHE_SLOTS];
	int r = -1;
	pthread_mutex_lock(&c->mu);
	if (s->used && s->expires > vg_time_mono() && CRYPTO_memcmp(s->digest, digest, 32) == 0) {
		r = s->valid;
		if (r)
			*who = s->who;
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

static void cache_put(struct vg__token_cache *c, const uint8_t digest[32], bool valid,
		      const vg__actor *who)
{
	struct slot *s = &c->slots[(digest[0] | digest[1] << 8) % CACHE_SLOTS];
	pthread_mutex_lock(&c->mu);
	memcpy(s->digest, digest, 32);
	s->used = true;
	s->valid = valid;
	if (who)
		s->who = *who;
	s->expires = vg_time_mono() + (valid ? TOKEN_TTL : TOKEN_TTL / 5);
	pthread_mutex_unlock(&c->mu);
}

bool vg__api_auth(vg_api *api, vg_http_req *req, int allowed, vg__actor *ret)
{
	if (allowed & VG__ROLE_PUBLIC) {
		snprintf(ret->name, sizeof(ret->name), "anonymous");
		ret->role = VG__ROLE_PUBLIC;
		/* A public route still knows its caller when a token is given. */
		if (!vg_http_header(req, "Authorization"))
			return true;
	}
	const char *h = vg_http_header(req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		vg_http_add_header(req, "WWW-Authenticate", "Bearer");
		vg_http_respond_error(req, VG_EAUTH, "an Authorization: Bearer token is required");
		return false;
	}
	const char *tok = h + 7;
	while (*tok == ' ')
		tok++;
	uint8_t digest[32];
	unsigned dlen = 0;
	EVP_Digest(tok, strlen(tok), digest, &dlen, EVP_sha256(), NULL);

	vg__actor who;
	int cached = cache_get(api->tokens, digest, &who);
	if (cached < 0) {
		vg_store *s = vg__api_store(api, req);
		if (!s)
			return false;
		char hex[65];
		vg_hex_encode(digest, 32, hex);
		vg_store_token t;
		vg_error err;
		int rc = vg_store_token_by_hash(s, hex, &t, &err);
		if (rc == 0) {
			uint8_t stored[32];
			/* The lookup was by digest; compare once more in constant time. */
			if (vg_hex_decode(t.hash, 64, stored, 32) == 0 &&
			    CRYPTO_memcmp(stored, digest, 32) == 0) {
				snprintf(who.name, sizeof(who.name), "%s", t.name);
				who.role = vg__api_role_parse(t.role);
				cached = who.role != 0;
			} else {
				cached = 0;
			}
		} else if (rc == VG_ENOENT) {
			cached = 0;
		} else {
			vg__respond_err(req, &err);
			return false;
		}
		cache_put(api->tokens, digest, cached == 1, cached == 1 ? &who : NULL);
	}
	if (cached != 1) {
		vg_http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		vg_http_respond_error(req, VG_EAUTH, "unknown or revoked token");
		return false;
	}
	/* A public route lets any valid token through; the others want its role (or admin). */
	if (!(allowed & VG__ROLE_PUBLIC) && !(who.role & (allowed | VG__ROLE_ADMIN))) {
		vg_http_respond_error(req, VG_EFORBIDDEN, "the %s role may not do this",
				      vg__api_role_name(who.role));
		return false;
	}
	*ret = who;
	return true;
}
