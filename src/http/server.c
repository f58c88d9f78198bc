/* SPDX-License-Identifier: Apache-2.0
 *
 * The libmicrohttpd daemon behind http.h: a thread pool with an internal epoll loop,
 * request bodies gathered into a per-request buffer under the route's limit, the route
 * table matched once per request, and responses built from what the handler answered.
 *
 * A request's life: the first access-handler call matches the route and checks
 * Content-Length (an oversized body is refused there, before it is read); later calls
 * append upload chunks; the last call runs the handler and queues its response; the
 * completion callback records metrics and frees the request's arena.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "http.h"
#include "internal.h"

#define REQ_MAGIC 0x76677271u /* "vgrq": checked when MHD hands the pointer back */
#define MAX_PARAMS 8
#define ARENA_CAP (64u << 20)

struct header {
	struct header *next;
	const char *name, *value;
};

struct vg_http_req {
	uint32_t magic;
	vg_http_server *srv;
	struct MHD_Connection *conn;
	const char *method, *path;
	int route; /* index into srv->routes, or -1 */
	vg_arena *arena;
	uint8_t *body;
	size_t body_len, body_cap, body_max;
	bool too_big;
	bool handled; /* its handler has started: counted in srv->answering */
	vg_usec start;
	char id[17];
	char ip[INET6_ADDRSTRLEN];
	const char *param_names[MAX_PARAMS], *param_values[MAX_PARAMS];
	int nparams;
	void *data; /* the gate's, for the handler */
	/* the answer */
	bool answered;
	int status;
	struct MHD_Response *resp;
	struct header *headers;
};

static uint64_t next_random(void)
{
	static _Thread_local uint64_t state;
	if (!state) {
		if (getrandom(&state, sizeof(state), 0) != sizeof(state))
			state = (uint64_t)vg_time_now() ^ (uint64_t)pthread_self();
		state |= 1;
	}
	/* splitmix64: request ids need to be unique, not secret */
	uint64_t z = (state += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void vg_http_config_init(vg_http_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8080");
	cfg->max_body_bytes = 1u << 20;
	cfg->max_header_bytes = 32u << 10;
	cfg->max_connections = 1024;
	cfg->max_connections_per_address = 256;
	cfg->idle_timeout_s = 60;
	cfg->stop_grace_ms = 10000;
}

/* ---- answering -------------------------------------------------------------------------- */

void vg_http_add_header(vg_http_req *req, const char *name, const char *value)
{
	struct header *h = vg_arena_alloc(req->arena, sizeof(*h));
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;
	char *n = vg_arena_alloc(req->arena, nl), *v = vg_arena_alloc(req->arena, vl);
	if (!h || !n || !v)
		return;
	h->name = memcpy(n, name, nl);
	h->value = memcpy(v, value, vl);
	h->next = req->headers;
	req->headers = h;
}

static void finish(vg_http_req *req, int status, const char *content_type, struct MHD_Response *r)
{
	if (!r)
		return;
	if (req->answered) { /* a handler bug: answer once */
		MHD_destroy_response(r);
		return;
	}
	req->answered = true;
	req->status = status;
	req->resp = r;
	if (content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(r, "X-Request-Id", req->id);
	for (const struct header *h = req->headers; h; h = h->next)
		MHD_add_response_header(r, h->name, h->value);
}

void vg_http_respond(vg_http_req *req, int status, const char *content_type, const void *body,
		     size_t len)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	finish(req, status, content_type, r);
}

/* The JSON error body every error answer has: {"error": {"code", "message"}}. */
static void respond_json_error(vg_http_req *req, int status, const char *name, const char *msg)
{
	char qmsg[6 * 512 + 3], body[sizeof(qmsg) + 96]; /* msg: up to 511 bytes */
	vg_json_quote(msg, strlen(msg), qmsg, sizeof(qmsg));
	int n = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":%s}}\n",
			 name, qmsg);
	vg_http_respond(req, status, "application/json", body,
			(size_t)n < sizeof(body) ? (size_t)n : sizeof(body) - 1);
}

void vg_http_respond_error(vg_http_req *req, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (code == VG_EBUSY)
		vg_http_add_header(req, "Retry-After", "1");
	respond_json_error(req, vg_error_http_status(code), vg_error_name(code), msg);
}

struct stream {
	vg_http_fill_fn *fill;
	void (*done)(void *);
	void *ctx;
};

static ssize_t stream_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	long n = s->fill(s->ctx, pos, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return n;
}

static void stream_free(void *cls)
{
	struct stream *s = cls;
	if (s->done)
		s->done(s->ctx);
	free(s);
}

void vg_http_respond_stream(vg_http_req *req, int status, const char *content_type,
			    vg_http_fill_fn *fill, void *ctx, void (*done)(void *ctx))
{
	struct stream *s = vg_xmalloc(sizeof(*s));
	*s = (struct stream){fill, done, ctx};
	struct MHD_Response *r =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_cb, s, stream_free);
	if (!r) {
		stream_free(s);
		return;
	}
	finish(req, status, content_type, r);
}

/* ---- accessors ------------------------------------------------------------------------- */

const char *vg_http_method(const vg_http_req *req) { return req->method; }
const char *vg_http_path(const vg_http_req *req) { return req->path; }
const char *vg_http_request_id(const vg_http_req *req) { return req->id; }
const char *vg_http_client_ip(const vg_http_req *req) { return req->ip; }
vg_arena *vg_http_arena(vg_http_req *req) { return req->arena; }
void vg_http_set_data(vg_http_req *req, void *data) { req->data = data; }
void *vg_http_data(const vg_http_req *req) { return req->data; }

const char *vg_http_route_name(const vg_http_req *req)
{
	return req->route >= 0 ? req->srv->routes[req->route].pattern : "unmatched";
}

const char *vg_http_param(const vg_http_req *req, const char *name)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->param_names[i], name) == 0)
			return req->param_values[i];
	return NULL;
}

const char *vg_http_query(const vg_http_req *req, const char *key)
{
	/* MHD hands arguments over raw (see keep_raw); decode once, here. */
	const char *raw = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
	return raw ? vg__http_decode(raw, strlen(raw), true, req->arena) : NULL;
}

const char *vg_http_header(const vg_http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const uint8_t *vg_http_body(const vg_http_req *req, size_t *ret_len)
{
	*ret_len = req->body_len;
	return req->body ? req->body : (const uint8_t *)"";
}

/* ---- the request's life ------------------------------------------------------------------ */

/* The X-Forwarded-For lines of a request, joined with ',' in the order they came. */
typedef struct xff {
	char *buf;
	size_t len, cap;
} xff;

static enum MHD_Result add_xff(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	xff *x = cls;
	if (strcasecmp(key, "X-Forwarded-For") != 0 || !value)
		return MHD_YES;
	size_t n = strlen(value);
	if (!x->buf) { /* the first pass: only the size */
		x->cap += n + 1;
		return MHD_YES;
	}
	if (x->len + n + 1 > x->cap)
		return MHD_NO;
	if (x->len)
		x->buf[x->len++] = ',';
	memcpy(x->buf + x->len, value, n);
	x->len += n;
	return MHD_YES;
}

/* A request from a trusted proxy: the client is who X-Forwarded-For says (proxy.c). */
static void forwarded_ip(vg_http_req *req)
{
	xff x = {0};
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_xff, &x);
	if (!x.cap || !(x.buf = vg_arena_alloc(req->arena, x.cap)))
		return;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_xff, &x);
	vg__http_real_ip(&req->srv->proxies, x.buf, x.len, req->ip);
}

static vg_http_req *req_new(vg_http_server *srv, struct MHD_Connection *conn, const char *url,
			    const char *method)
{
	vg_http_req *req = vg_xcalloc(1, sizeof(*req));
	req->magic = REQ_MAGIC;
	req->srv = srv;
	req->conn = conn;
	req->route = -1;
	req->start = vg_time_mono();
	req->arena = vg_arena_new(ARENA_CAP);
	snprintf(req->id, sizeof(req->id), "%016llx", (unsigned long long)next_random());
	size_t ml = strlen(method) + 1, ul = strlen(url) + 1;
	char *m = vg_arena_alloc(req->arena, ml), *u = vg_arena_alloc(req->arena, ul);
	req->method = m ? memcpy(m, method, ml) : "";
	req->path = u ? memcpy(u, url, ul) : "";
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->ip,
				  sizeof(req->ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, req->ip,
				  sizeof(req->ip));
	}
	if (srv->proxies.n && vg__http_proxies_has(&srv->proxies, req->ip))
		forwarded_ip(req);
	return req;
}

static void req_free(vg_http_req *req)
{
	if (!req)
		return;
	if (req->resp)
		MHD_destroy_response(req->resp);
	free(req->body);
	vg_arena_free(req->arena);
	req->magic = 0;
	free(req);
}

static enum MHD_Result queue(vg_http_req *req)
{
	if (!req->answered)
		vg_http_respond_error(req, VG_EINTERNAL, "the handler gave no answer");
	if (!req->resp)
		return MHD_NO; /* could not even build an error: drop the connection */
	return MHD_queue_response(req->conn, (unsigned)req->status, req->resp);
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	(void)kind;
	*(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
	return MHD_YES;
}

/* Whether s is well-formed UTF-8. Decoded path parameters and query arguments must be:
 * what a handler stores (a label's entity, an audit entry's object id) is shown back as
 * JSON, which cannot carry other bytes, and a lossy rendering (U+FFFD) would make the
 * audit chain that clients verify from GET /v1/audit fail, and %FF and %FE the same. */
static bool utf8_ok(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0, k; i < n; i += k)
		if (!(k = vg_utf8_next((const unsigned char *)s + i, n - i, NULL)))
			return false;
	return true;
}

/* The first query argument that does not decode (a bad escape or a NUL) or is not
 * UTF-8, so it is refused rather than read as absent: "?entity=a%00b" must not list
 * every entity. */
typedef struct bad_arg {
	vg_http_req *req;
	const char *key;
} bad_arg;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	(void)kind;
	bad_arg *b = cls;
	const char *v = value ? vg__http_decode(value, strlen(value), true, b->req->arena) : "";
	if (v && utf8_ok(v) && utf8_ok(key))
		return MHD_YES;
	b->key = key;
	return MHD_NO;
}

/* Starts the request: route, limits. Returns true when it was answered already. */
static bool begin(vg_http_req *req)
{
	vg_http_server *srv = req->srv;
	/* libmicrohttpd answers headers past its memory limit with a 431 of its own (HTML);
	 * that limit is twice max_header_bytes (vg_http_start), but it also holds ~56 bytes
	 * of bookkeeping per header line, so a request of many short lines can reach it
	 * under max_header_bytes. Sizing the pool for the worst case (a line every 4
	 * bytes) would cost ~0.5 MB per connection; openapi.yaml documents the HTML
	 * answers instead. Below MHD's limit, the answer is ours, in the JSON shape. */
	size_t hbytes = strlen(req->method) + strlen(req->path) + 12;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND,
				  add_header_bytes, &hbytes);
	if (hbytes > srv->cfg.max_header_bytes) {
		char msg[160];
		snprintf(msg, sizeof(msg), "the request line and headers take %zu bytes, over the "
			 "%zu-byte limit (max_header_bytes)", hbytes, srv->cfg.max_header_bytes);
		respond_json_error(req, 431, "headers_too_large", msg);
		return true;
	}
	char allow[128];
	req->route = vg__http_match(srv->routes, srv->nroutes, req->method, req->path, req->arena,
				    req->param_names, req->param_values, MAX_PARAMS, &req->nparams,
				    allow, sizeof(allow));
	if (req->route < 0) {
		if (allow[0]) {
			vg_http_add_header(req, "Allow", allow);
			vg_http_respond_error(req, VG_EMETHOD, "%s is not allowed here", req->method);
		} else {
			vg_http_respond_error(req, VG_ENOENT, "no such route");
		}
		return true;
	}
	for (int i = 0; i < req->nparams; i++) {
		if (!utf8_ok(req->param_values[i])) {
			vg_http_respond_error(
				req, VG_EMALFORMED,
				"path parameter '%s' is not UTF-8 once percent-decoded",
				req->param_names[i]);
			return true;
		}
	}
	bad_arg bad = {req, NULL};
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, check_arg, &bad);
	if (bad.key) {
		vg_http_respond_error(req, VG_EMALFORMED,
				      "query argument '%.40s' is not well-formed percent-encoding, "
				      "holds a NUL, or is not UTF-8",
				      bad.key);
		return true;
	}
	size_t max = srv->routes[req->route].max_body_bytes;
	req->body_max = max ? max : srv->cfg.max_body_bytes;
	/* A GET has no use for a body; buffering one would let an anonymous client pin
	 * max_body_bytes per connection on /healthz. */
	if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
		req->body_max = 0;
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		unsigned long long n = strtoull(cl, &end, 10);
		if (*end || end == cl) {
			vg_http_respond_error(req, VG_EMALFORMED, "bad Content-Length");
			return true;
		}
		if (n > req->body_max) {
			vg_http_respond_error(req, VG_ETOOBIG, "body of %llu bytes is over the %zu-byte limit",
					      n, req->body_max);
			return true;
		}
	}
	const vg_http_route *r = &srv->routes[req->route];
	if (r->gate) {
		r->gate(req, r->ctx);
		return req->answered;
	}
	return false;
}

static void append(vg_http_req *req, const char *data, size_t n)
{
	if (req->too_big || n > req->body_max - req->body_len) {
		req->too_big = true;
		return;
	}
	if (req->body_len + n > req->body_cap) {
		size_t cap = req->body_cap ? req->body_cap * 2 : 16384;
		while (cap < req->body_len + n)
			cap *= 2;
		if (cap > req->body_max)
			cap = req->body_max;
		uint8_t *b = realloc(req->body, cap ? cap : 1);
		if (!b) {
			req->too_big = true;
			return;
		}
		req->body = b;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, n);
	req->body_len += n;
}

/* Past the stop's grace period: nothing of this request has run, so a retry is safe. */
static void refuse_stopping(vg_http_req *req)
{
	vg_http_add_header(req, MHD_HTTP_HEADER_CONNECTION, "close");
	vg_http_respond_error(req, VG_EBUSY, "the server is stopping");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	vg_http_server *srv = cls;
	vg_http_req *req = *con_cls;
	if (!req) {
		req = req_new(srv, conn, url, method);
		*con_cls = req;
		atomic_fetch_add(&srv->in_flight, 1);
		if (atomic_load(&srv->stopping)) {
			refuse_stopping(req);
			return queue(req);
		}
		if (begin(req))
			return queue(req);
		return MHD_YES;
	}
	if (req->magic != REQ_MAGIC)
		return MHD_NO;
	if (req->answered) { /* answered at the start: discard any body */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		append(req, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (req->too_big) {
		vg_http_respond_error(req, VG_ETOOBIG, "body over the %zu-byte limit", req->body_max);
		return queue(req);
	}
	/* Counted before stopping is read, the reverse of vg_http_stop: either the stop
	 * sees this handler running and waits for it, or this request sees the stop. */
	atomic_fetch_add(&srv->running, 1);
	if (atomic_load(&srv->stopping)) {
		atomic_fetch_sub(&srv->running, 1);
		refuse_stopping(req);
		return queue(req);
	}
	req->handled = true;
	atomic_fetch_add(&srv->answering, 1);
	const vg_http_route *r = &srv->routes[req->route];
	r->fn(req, r->ctx);
	enum MHD_Result rc = queue(req);
	atomic_fetch_sub(&srv->running, 1);
	return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	vg_http_server *srv = cls;
	vg_http_req *req = *con_cls;
	if (!req || req->magic != REQ_MAGIC)
		return;
	vg__http_metrics_record(srv, req->route, req->answered ? req->status : 499,
				vg_time_mono() - req->start);
	bool handled = req->handled;
	req_free(req);
	*con_cls = NULL;
	if (handled)
		atomic_fetch_sub(&srv->answering, 1);
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* MHD would percent-decode the whole path before routing, so "%2F" inside a parameter
 * would split it and "%00" would cut it short. Keep everything raw; the router decodes
 * each segment, and vg_http_query each argument. */
static size_t keep_raw(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls, (void)c;
	return strlen(s);
}

/* ---- start and stop ---------------------------------------------------------------------- */

int vg_http_start(const vg_http_config *cfg, const vg_http_route *routes, size_t nroutes,
		  vg_http_server **ret, vg_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int rc = vg__http_parse_listen(cfg->listen, &ss, &sslen, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < nroutes; i++)
		if (routes[i].pattern[0] != '/')
			return vg_error_set(err, VG_EINVAL, "route pattern '%s' must start with /",
					    routes[i].pattern);

	vg__proxies proxies;
	if ((rc = vg__http_proxies_parse(cfg->trusted_proxies, &proxies, err)) != 0)
		return rc;

	vg_http_server *srv = vg_xcalloc(1, sizeof(*srv));
	srv->cfg = *cfg;
	srv->proxies = proxies;
	srv->routes = routes;
	srv->nroutes = nroutes;
	vg__http_metrics_init(srv);
	/* Four per CPU by default: a handler waits on the disk (a commit's fsync) and on
	 * rule lanes, and while it waits its thread serves none of its connections; with
	 * more threads than cores the CPU stays busy and group commits gather more requests
	 * per fsync (at 100K events/s over 8 connections, 8 threads kept up where 2 fell
	 * to half the rate). At most 64 by default: each thread keeps a database connection
	 * with its own page cache. */
	int threads = cfg->threads > 0 ? cfg->threads : 4 * vg_cpu_count();
	if (cfg->threads <= 0 && threads > 64)
		threads = 64;
	/* No MHD_OPTION_LISTENING_ADDRESS_REUSE: its SO_REUSEPORT would let a second vigil
	 * bind the same port and silently take half the connections. MHD's default,
	 * SO_REUSEADDR, still allows a restart while old connections sit in TIME_WAIT. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			 MHD_USE_TURBO | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
	srv->d = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
		cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		cfg->max_connections_per_address, MHD_OPTION_CONNECTION_TIMEOUT,
		cfg->idle_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, 2 * cfg->max_header_bytes,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_UNESCAPE_CALLBACK,
		keep_raw, NULL, MHD_OPTION_END);
	if (!srv->d) {
		vg__http_metrics_done(srv);
		free(srv);
		return vg_error_set(err, VG_EIO, "cannot listen on %s (in use, or not allowed)",
				    cfg->listen);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : 0;
	*ret = srv;
	return 0;
}

int vg_http_port(const vg_http_server *srv)
{
	return srv->port;
}

void vg_http_stop(vg_http_server *srv)
{
	if (!srv)
		return;
	/* Stop accepting, then give requests in flight the grace period to finish. */
	MHD_socket s = MHD_quiesce_daemon(srv->d);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	unsigned grace = srv->cfg.stop_grace_ms ? srv->cfg.stop_grace_ms : 10000;
	for (unsigned i = 0; i < grace / 10 && atomic_load(&srv->in_flight) > 0; i++)
		usleep(10000);
	/* Then refuse what has not reached its handler, and wait for every handler that
	 * has, however long: MHD_stop_daemon cannot cancel one either (it would join the
	 * thread and then drop the answer of a write that committed). Their answers get
	 * the grace period again to go out; what is left after that is closed. */
	atomic_store(&srv->stopping, true);
	while (atomic_load(&srv->running) > 0)
		usleep(10000);
	for (unsigned i = 0; i < grace / 10 && atomic_load(&srv->answering) > 0; i++)
		usleep(10000);
	MHD_stop_daemon(srv->d);
	vg__http_metrics_done(srv);
	free(srv);
}
