/* SPDX-License-Identifier: Apache-2.0
 *
 * The per-address token bucket behind POST /v1/reports (the API's one unauthenticated
 * write). A fixed table, so memory stays bounded whatever the number of addresses and no
 * request allocates: an address hashes to a set of WAYS slots and keeps its own slot there
 * while it is among the set's WAYS most recently seen addresses.
 *
 * Why it is built this way: with a public hash and one slot per hash, two addresses whose
 * hashes collide (chosen offline in microseconds) took the slot from each other in turn,
 * each time with a full burst, so alternating between them was never limited. Here
 * - the hash is keyed with random bytes drawn at start (HMAC-SHA-256), so which addresses
 *   share a set cannot be computed from outside;
 * - a set holds WAYS addresses, so a few that do share one keep their own buckets;
 * - an address that takes a slot over inherits what was left in it (refilled to now), not
 *   a full burst: evicting another address never gains anything. A slot idle long enough
 *   to have refilled is handed over full, so an ordinary newcomer starts with its burst.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SETS 4096
#define WAYS 4

struct vg__rate {
	pthread_mutex_t lock;
	uint8_t key[32]; /* the hash's secret, drawn once per process */
	struct {
		char addr[46];
		double tokens;
		vg_usec at; /* monotonic time of the last refill */
	} slot[SETS][WAYS];
};

struct vg__rate *vg__rate_new(void)
{
	struct vg__rate *r = vg_xcalloc(1, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	if (RAND_bytes(r->key, sizeof(r->key)) != 1) { /* not expected; hard to guess still */
		uint64_t seed = (uint64_t)vg_time_now() ^ (uint64_t)vg_time_mono() << 20;
		memcpy(r->key, &seed, sizeof(seed));
	}
	return r;
}

void vg__rate_free(struct vg__rate *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int vg__rate_take(struct vg__rate *r, const char *addr, double per_min, double burst)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	uint64_t h = 0;
	if (HMAC(EVP_sha256(), r->key, sizeof(r->key), (const unsigned char *)addr, strlen(addr),
		 mac, &maclen))
		memcpy(&h, mac, sizeof(h));
	vg_usec now = vg_time_mono();
	int wait = 0;
	pthread_mutex_lock(&r->lock);
	__typeof__(r->slot[0][0]) *set = r->slot[h % SETS], *sl = NULL, *oldest = &set[0];
	for (int i = 0; i < WAYS && !sl; i++) {
		if (strcmp(set[i].addr, addr) == 0)
			sl = &set[i];
		else if (set[i].at < oldest->at)
			oldest = &set[i];
	}
	if (!sl) {
		/* An unused slot (at == 0) refills to a full burst below; a used one hands
		 * the newcomer what its last address left. */
		sl = oldest;
		snprintf(sl->addr, sizeof(sl->addr), "%s", addr);
		if (!sl->at) {
			sl->tokens = burst;
			sl->at = now;
		}
	}
	sl->tokens += (double)(now - sl->at) / 60e6 * per_min;
	if (sl->tokens > burst)
		sl->tokens = burst;
	sl->at = now;
	if (sl->tokens >= 1.0)
		sl->tokens -= 1.0;
	else
		wait = (int)((1.0 - sl->tokens) * 60.0 / per_min) + 1;
	pthread_mutex_unlock(&r->lock);
	return wait;
}
