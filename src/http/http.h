/* SPDX-License-Identifier: Apache-2.0
 *
 * http: the HTTP server under vigil's API, wrapping libmicrohttpd (no other folder sees
 * it). It owns the socket, the thread pool, the limits (body size per route, header
 * size, connection count, timeouts), routing by method and path pattern, request ids,
 * per-request arenas, JSON error bodies, per-route metrics and graceful shutdown.
 *
 * Invariants:
 * - A handler runs once per request, on one of the pool's threads, with the whole body
 *   in memory (never more than its route's max_body_bytes: a larger Content-Length is
 *   refused with 413 before a byte of the body is read).
 * - Everything a request allocates comes from its arena and is freed when it ends.
 * - Every error response is `{"error": {"code": ..., "message": ...}}` with the status
 *   from util's error table, except what libmicrohttpd refuses before a request reaches
 *   this code (headers past its memory, bad chunking, HTTP versions, a Content-Length
 *   over 64 bits): its own short HTML, as docs/openapi.yaml says.
 * - Nothing here logs bodies, query strings or Authorization headers.
 */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include "util/util.h"

typedef struct vg_http_server vg_http_server;
typedef struct vg_http_req vg_http_req;

/* A route's handler. It must answer through exactly one vg_http_respond* call; a
 * handler that returns without answering gets a 500. ctx is the route's. */
typedef void vg_http_handler(vg_http_req *req, void *ctx);

/* A route's gate: runs once the request line and headers are in, before any of the
 * body is read, so a caller the route refuses (no token, wrong role) is answered
 * without the server first holding their upload. It refuses by answering; what it
 * wants the handler to have it keeps with vg_http_set_data. ctx is the route's. */
typedef void vg_http_gate(vg_http_req *req, void *ctx);

typedef struct vg_http_route {
	const char *method;    /* "GET", "POST", ... */
	const char *pattern;   /* "/v1/banks/{name}/signals/{id}": {x} matches one segment */
	vg_http_handler *fn;
	void *ctx;
	size_t max_body_bytes; /* 0: the server's default */
	vg_http_gate *gate;    /* NULL: none */
} vg_http_route;

typedef struct vg_http_config {
	char listen[VG_OPT_STRING_MAX]; /* "127.0.0.1:8080", "[::1]:8080", ":8080" */
	int threads;               /* pool size; 0 = four per CPU, at most 64 */
	size_t max_body_bytes;     /* default per route (1 MiB) */
	size_t max_header_bytes;   /* request line and headers; 431 above */
	unsigned max_connections;
	unsigned max_connections_per_address; /* 0: no limit; over it, closed on accept */
	unsigned idle_timeout_s;   /* a connection idle this long is closed */
	unsigned stop_grace_ms;    /* vg_http_stop's wait for requests in flight (10 s) */
	/* Peers whose X-Forwarded-For names the client (proxy.c): addresses and CIDR
	 * ranges, comma-separated; empty: none, the peer is the client. */
	char trusted_proxies[VG_OPT_STRING_MAX];
} vg_http_config;

VG_EXPORT void vg_http_config_init(vg_http_config *cfg);

/* Whether a trusted_proxies list parses (what vg_http_start would refuse), for checking
 * a configuration before anything starts. Errors: VG_EINVAL naming the entry. */
VG_EXPORT VG_MUST_CHECK int vg_http_trusted_proxies_check(const char *list, vg_error *err);

/* Starts listening and serving. routes is borrowed for the server's life. Errors:
 * VG_EINVAL (bad listen address, bad pattern), VG_EIO (cannot bind: the reason in err). */
VG_EXPORT VG_MUST_CHECK int vg_http_start(const vg_http_config *cfg, const vg_http_route *routes,
					  size_t nroutes, vg_http_server **ret, vg_error *err);
/* The port actually bound (useful with port 0). */
VG_EXPORT int vg_http_port(const vg_http_server *srv);
/* Stops accepting new connections and waits up to stop_grace_ms for the requests in
 * flight. Past that, a request that has not reached its handler (idle keep-alive,
 * still uploading, or newly sent) is answered 503 (unavailable, Retry-After) and
 * closed, but a handler that has started always runs to its end and its answer is
 * sent (given up to stop_grace_ms again to go out): its work may be committed, and a
 * client that saw a dropped connection would repeat it. NULL is fine. */
VG_EXPORT void vg_http_stop(vg_http_server *srv);

/* ---- inside a handler ------------------------------------------------------------------ */
VG_EXPORT const char *vg_http_method(const vg_http_req *req);
VG_EXPORT const char *vg_http_path(const vg_http_req *req);
/* A {name} captured from the route pattern, percent-decoded; NULL if none. */
VG_EXPORT const char *vg_http_param(const vg_http_req *req, const char *name);
/* A query-string argument, decoded; NULL when absent. */
VG_EXPORT const char *vg_http_query(const vg_http_req *req, const char *key);
/* A request header (case-insensitive); NULL when absent. */
VG_EXPORT const char *vg_http_header(const vg_http_req *req, const char *name);
VG_EXPORT const uint8_t *vg_http_body(const vg_http_req *req, size_t *ret_len);
/* The peer's address as text ("127.0.0.1"). */
VG_EXPORT const char *vg_http_client_ip(const vg_http_req *req);
/* A 16-hex-digit id, also sent back as X-Request-Id. */
VG_EXPORT const char *vg_http_request_id(const vg_http_req *req);
/* Memory that lives until the response has been sent. */
VG_EXPORT vg_arena *vg_http_arena(vg_http_req *req);
/* One pointer a gate hands its route's handler (borrowed; NULL until set). */
VG_EXPORT void vg_http_set_data(vg_http_req *req, void *data);
VG_EXPORT void *vg_http_data(const vg_http_req *req);
/* The route pattern that matched ("/v1/banks/{name}"), for metrics and logs. */
VG_EXPORT const char *vg_http_route_name(const vg_http_req *req);

/* Adds a response header (copied). */
VG_EXPORT void vg_http_add_header(vg_http_req *req, const char *name, const char *value);
/* Answers with a body (copied). */
VG_EXPORT void vg_http_respond(vg_http_req *req, int status, const char *content_type,
			       const void *body, size_t len);
/* Answers with the standard error body; status from the code (util's error table). */
VG_EXPORT void vg_http_respond_error(vg_http_req *req, int code, const char *fmt, ...)
	VG_PRINTF(3, 4);

/* Streams a body produced in pieces: fill writes up to max bytes into buf and returns
 * how many (0 ends the body, -1 aborts the connection). done (may be NULL) runs once
 * when the response is finished or abandoned. */
typedef long vg_http_fill_fn(void *ctx, uint64_t pos, char *buf, size_t max);
VG_EXPORT void vg_http_respond_stream(vg_http_req *req, int status, const char *content_type,
				      vg_http_fill_fn *fill, void *ctx, void (*done)(void *ctx));

/* ---- metrics ---------------------------------------------------------------------------
 * Appends Prometheus text for requests by route, method and status, and request latency
 * histograms by route (vigil_http_requests_total, vigil_http_request_seconds). Returns
 * bytes written or needed (like snprintf). */
VG_EXPORT size_t vg_http_metrics(const vg_http_server *srv, char *out, size_t size);

#endif
