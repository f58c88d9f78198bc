/* SPDX-License-Identifier: Apache-2.0
 *
 * Shared between the files of src/http only: the server struct, the router and the
 * metrics tables.
 */
#ifndef VG_HTTP_INTERNAL_H
#define VG_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "http.h"

#define VG__HTTP_STATUS_SLOTS 24 /* distinct status codes counted per route */
#define VG__HTTP_BUCKETS 14      /* latency histogram buckets, see metrics.c */

struct vg__route_stats {
	_Atomic int status[VG__HTTP_STATUS_SLOTS]; /* 0 = free slot */
	_Atomic uint64_t count[VG__HTTP_STATUS_SLOTS];
	_Atomic uint64_t bucket[VG__HTTP_BUCKETS + 1]; /* the last one is +Inf */
	_Atomic uint64_t sum_us;
};

/* The trusted_proxies list (proxy.c). */
#define VG__PROXIES_MAX 32
typedef struct vg__proxy {
	uint8_t addr[16]; /* IPv6, or IPv4 mapped (::ffff:a.b.c.d) */
	int bits;         /* prefix length in the 128-bit form */
} vg__proxy;
typedef struct vg__proxies {
	vg__proxy v[VG__PROXIES_MAX];
	int n;
} vg__proxies;

/* Parses "10.0.0.1, 192.168.0.0/16, 2001:db8::/32" (commas, blanks around entries).
 * Errors: VG_EINVAL naming the entry. */
int vg__http_proxies_parse(const char *list, vg__proxies *ret, vg_error *err);
/* Whether ip (text) is in the list. */
bool vg__http_proxies_has(const vg__proxies *p, const char *ip);
/* For a request from a trusted proxy: replaces ip with the X-Forwarded-For entry (xff, len
 * bytes, the header's lines joined with ',') that the trusted hops vouch for, the
 * rightmost that is not itself a trusted proxy; leaves it as it is when there is none. */
void vg__http_real_ip(const vg__proxies *p, const char *xff, size_t len, char ip[46]);

struct vg_http_server {
	struct MHD_Daemon *d;
	vg_http_config cfg;
	const vg_http_route *routes;
	size_t nroutes;
	int port;
	_Atomic int in_flight; /* requests begun and not completed */
	/* Shutdown (vg_http_stop): handlers running now, requests whose handler has started
	 * and whose answer is not yet sent, and whether the grace period is over, after which
	 * a request that has not reached its handler is answered 503 instead. */
	_Atomic int running, answering;
	_Atomic bool stopping;
	struct vg__route_stats *stats; /* nroutes + 1; the last is "unmatched" */
	vg__proxies proxies;
};

/* Index of the route matching method and path, or -1. Captured {params} are
 * percent-decoded into the arena. On a miss, ret_allow lists the methods the path does
 * have ("GET, POST"; empty when none): a non-empty list makes the miss a 405 with that
 * Allow header rather than a 404. */
int vg__http_match(const vg_http_route *routes, size_t n, const char *method, const char *path,
		   vg_arena *arena, const char **names, const char **values, int max,
		   int *ret_nparams, char *ret_allow, size_t allow_size);

/* Percent-decodes [s, s+n) into the arena ('+' as a space in query strings). NULL on a
 * malformed escape or an encoded NUL, which no vigil value may hold. */
const char *vg__http_decode(const char *s, size_t n, bool plus_is_space, vg_arena *arena);

int vg__http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len,
			  vg_error *err);

void vg__http_metrics_init(vg_http_server *srv);
void vg__http_metrics_done(vg_http_server *srv);
void vg__http_metrics_record(vg_http_server *srv, int route, int status, vg_usec elapsed);

#endif
