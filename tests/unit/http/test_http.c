/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for src/http: a real server on a loopback port, spoken to over a plain
 * socket, so routing, path parameters, limits, error bodies and metrics are tested as a
 * client sees them.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/http.h"

static void echo(vg_http_req *req, void *ctx)
{
	size_t len;
	const uint8_t *body = vg_http_body(req, &len);
	const char *id = vg_http_param(req, "id");
	const char *q = vg_http_query(req, "q");
	char out[256];
	int n = snprintf(out, sizeof(out), "id=%s q=%s len=%zu first=%c", id ? id : "-", q ? q : "-",
			 len, len ? body[0] : '-');
	vg_http_add_header(req, "X-Test", "yes");
	vg_http_respond(req, 200, "text/plain", out, (size_t)n);
}

static void silent(vg_http_req *req, void *ctx)
{
	(void)req, (void)ctx; /* answers nothing: the server must turn that into a 500 */
}

/* Lets in only requests that carry X-Key: open, and hands the key to the handler. */
static void gate(vg_http_req *req, void *ctx)
{
	const char *key = vg_http_header(req, "X-Key");
	if (!key || strcmp(key, "open") != 0) {
		vg_http_respond_error(req, VG_EFORBIDDEN, "no key");
		return;
	}
	vg_http_set_data(req, (void *)key);
}

static void gated(vg_http_req *req, void *ctx)
{
	size_t len;
	vg_http_body(req, &len);
	char out[64];
	int n = snprintf(out, sizeof(out), "key=%s len=%zu", (const char *)vg_http_data(req), len);
	vg_http_respond(req, 200, "text/plain", out, (size_t)n);
}

static vg_http_server *srv;

static const vg_http_route routes[] = {
	{.method = "POST", .pattern = "/v1/things/{id}", .fn = echo, .max_body_bytes = 16},
	{.method = "GET", .pattern = "/v1/things/{id}", .fn = echo},
	{.method = "GET", .pattern = "/silent", .fn = silent},
	{.method = "POST", .pattern = "/gated", .fn = gated, .gate = gate,
	 .max_body_bytes = 1 << 20},
};

static void start(void)
{
	vg_http_config cfg;
	vg_http_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	cfg.threads = 2;
	vg_error e;
	cr_assert_eq(vg_http_start(&cfg, routes, VG_ARRAY_LEN(routes), &srv, &e), 0, "%s", e.msg);
	cr_assert_gt(vg_http_port(srv), 0);
}

static void stop(void)
{
	vg_http_stop(srv);
}

/* Sends a raw request and returns the whole response (connection closed by us). */
static char *request(const char *raw)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)vg_http_port(srv))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
	shutdown(fd, SHUT_WR);
	static char buf[65536];
	size_t n = 0;
	ssize_t k;
	while ((k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
	return buf;
}

TestSuite(http, .init = start, .fini = stop);

Test(http, routes_with_params_query_and_headers)
{
	char *r = request("GET /v1/things/a%20b?q=x%26y HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
	cr_assert(strstr(r, "id=a b q=x&y len=0"), "%s", r);
	cr_assert(strstr(r, "X-Test: yes"), "%s", r);
	cr_assert(strstr(r, "X-Request-Id: "), "%s", r);
}

Test(http, body_is_delivered_whole)
{
	char *r = request("POST /v1/things/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
			  "Connection: close\r\n\r\nhello");
	cr_assert(strstr(r, "id=7 q=- len=5 first=h"), "%s", r);
}

Test(http, unknown_path_is_404_and_wrong_method_405_as_json)
{
	char *r = request("GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 404"), "%s", r);
	cr_assert(strstr(r, "{\"error\":{\"code\":\"not_found\""), "%s", r);
	r = request("DELETE /v1/things/7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 405"), "%s", r);
	cr_assert(strstr(r, "method_not_allowed"), "%s", r);
	cr_assert(strstr(r, "\r\nAllow: POST, GET\r\n"), "%s", r); /* RFC 9110 wants the list */
}

Test(http, oversized_bodies_are_413_before_reading)
{
	char *r = request("POST /v1/things/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n"
			  "Connection: close\r\n\r\n01234567890123456");
	cr_assert(strstr(r, "HTTP/1.1 413"), "%s", r);
	cr_assert(strstr(r, "too_large"), "%s", r);
	/* Chunked, so no length up front: refused when it passes the limit. */
	r = request("POST /v1/things/7 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		    "Connection: close\r\n\r\n10\r\n0123456789abcdef\r\n5\r\nmore!\r\n0\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 413"), "%s", r);
}

Test(http, a_gate_refuses_before_the_body_and_hands_the_handler_its_data)
{
	/* A megabyte announced and none sent (the client has shut its side): only an answer
	 * given before the body is read reaches the client at all. */
	char *r = request("POST /gated HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n"
			  "Connection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 403"), "%s", r);
	cr_assert(strstr(r, "\"no key\""), "%s", r);
	r = request("POST /gated HTTP/1.1\r\nHost: t\r\nX-Key: open\r\nContent-Length: 3\r\n"
		    "Connection: close\r\n\r\nabc");
	cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
	cr_assert(strstr(r, "key=open len=3"), "%s", r);
}

Test(http, bad_percent_escapes_in_params_are_404)
{
	char *r = request("GET /v1/things/a%2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 404"), "%s", r);
	r = request("GET /v1/things/a%00b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 404"), "%s", r);
}

/* A parameter that decodes to bytes that are not UTF-8 was handed to the handler, which
 * stored it (a label's entity) and audited it; GET /v1/audit then showed U+FFFD in its
 * place, so the chain a client verifies from it failed where the database's did not. */
Test(http, non_utf8_params_and_query_arguments_are_400)
{
	char *r =
		request("GET /v1/things/%FF%FEab HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 400"), "%s", r);
	cr_assert(strstr(r, "\"malformed\""), "%s", r);
	cr_assert(strstr(r, "path parameter 'id' is not UTF-8"), "%s", r);
	r = request("GET /v1/things/a\xff HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 400"), "%s", r);
	r = request("GET /v1/things/x?q=%C0%AF HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 400"), "%s", r); /* an overlong '/' */
	r = request("GET /v1/things/%C3%A9?q=%E2%82%AC HTTP/1.1\r\nHost: t\r\nConnection: "
		    "close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
	cr_assert(strstr(r, "id=\xc3\xa9 q=\xe2\x82\xac"), "%s", r);
}

/* Public GET routes read and buffered a body up to max_body_bytes, so 1024 anonymous
 * connections to /healthz could pin a gigabyte. */
Test(http, a_get_with_a_body_is_413_before_reading_it)
{
	char *r = request("GET /v1/things/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
			  "Connection: close\r\n\r\nhello");
	cr_assert(strstr(r, "HTTP/1.1 413"), "%s", r);
	r = request("GET /v1/things/7 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		    "Connection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 413"), "%s", r);
	r = request("GET /v1/things/7 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
}

Test(http, a_handler_that_answers_nothing_gives_500)
{
	char *r = request("GET /silent HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert(strstr(r, "HTTP/1.1 500"), "%s", r);
	cr_assert(strstr(r, "\"internal\""), "%s", r);
}

Test(http, metrics_count_requests_by_route_and_status)
{
	request("GET /v1/things/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	request("GET /v1/things/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	request("GET /zzz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	usleep(100000); /* completion callbacks run after the response is sent */
	char text[16384];
	size_t n = vg_http_metrics(srv, text, sizeof(text));
	cr_assert_lt(n, sizeof(text));
	cr_assert(strstr(text, "vigil_http_requests_total{route=\"/v1/things/{id}\",method=\"GET\",status=\"200\"} 2"),
		  "%s", text);
	cr_assert(strstr(text, "route=\"unmatched\",method=\"\",status=\"404\"} 1"), "%s", text);
	cr_assert(strstr(text, "vigil_http_request_seconds_count{route=\"/v1/things/{id}\",method=\"GET\"} 2"),
		  "%s", text);
}

Test(listen, bad_addresses_are_refused)
{
	vg_http_config cfg;
	vg_http_config_init(&cfg);
	vg_http_server *s = NULL;
	vg_error e;
	const char *bad[] = {"nohost", "1.2.3.4:99999", "[::1:80", "example.com:80", "1.2.3.4:",
			     "1.2.3.4: 80", "1.2.3.4:+80", "1.2.3.4:-0", "1.2.3.4:080000"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cfg.listen, sizeof(cfg.listen), "%s", bad[i]);
		cr_assert_eq(vg_http_start(&cfg, routes, 3, &s, &e), VG_EINVAL, "%s", bad[i]);
	}
}

/* ---- stopping ------------------------------------------------------------------------ */

static void slow(vg_http_req *req, void *ctx)
{
	(void)ctx;
	usleep(600000); /* a long batch: longer than the grace period below */
	vg_http_respond(req, 200, "text/plain", "committed", 9);
}

static const vg_http_route slow_routes[] = {
	{.method = "POST", .pattern = "/slow", .fn = slow},
};

static void *stop_thread(void *s)
{
	vg_http_stop(s);
	return NULL;
}

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static char *read_all(int fd)
{
	static char buf[4096];
	size_t n = 0;
	ssize_t k;
	while ((k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)k;
	buf[n] = '\0';
	close(fd);
	return buf;
}

/* vg_http_stop gave requests in flight ten seconds and then stopped the daemon: that
 * waited for a handler still running (it cannot be cancelled) and then closed its
 * connection without the answer, so a write that had committed looked failed to its
 * client, who sent it again. Past the grace period, a running handler's answer is sent;
 * a request that had not reached its handler is refused with a 503 it may retry. */
Test(stop, a_handler_running_past_the_grace_period_still_gets_its_answer_sent)
{
	vg_http_config cfg;
	vg_http_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	cfg.threads = 2;
	cfg.stop_grace_ms = 100;
	vg_http_server *s;
	vg_error e;
	cr_assert_eq(vg_http_start(&cfg, slow_routes, 1, &s, &e), 0, "%s", e.msg);
	int port = vg_http_port(s);
	int running = connect_to(port), waiting = connect_to(port);
	const char *req = "POST /slow HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab";
	cr_assert_eq(write(running, req, strlen(req)), (ssize_t)strlen(req));
	/* the other has sent its headers and only part of its body */
	cr_assert_eq(write(waiting, req, strlen(req) - 1), (ssize_t)strlen(req) - 1);
	usleep(100000);
	pthread_t t;
	pthread_create(&t, NULL, stop_thread, s);
	usleep(300000); /* past the grace period, while the handler runs */
	cr_assert_eq(write(waiting, "b", 1), 1);
	char *late = strdup(read_all(waiting));
	char *r = read_all(running);
	pthread_join(t, NULL);
	cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
	cr_assert(strstr(r, "committed"), "%s", r);
	cr_assert(strstr(late, "HTTP/1.1 503"), "%s", late);
	cr_assert(strstr(late, "\"unavailable\""), "%s", late);
	free(late);
}

/* One client opened max_connections sockets, trickled a header line into each, and every
 * other client waited in the backlog for as long as it liked. */
Test(limits, one_address_cannot_hold_more_than_its_share_of_connections)
{
	vg_http_config cfg;
	vg_http_config_init(&cfg);
	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:0");
	cfg.threads = 2;
	cfg.max_connections_per_address = 2;
	vg_http_server *s;
	vg_error e;
	cr_assert_eq(vg_http_start(&cfg, routes, VG_ARRAY_LEN(routes), &s, &e), 0, "%s", e.msg);
	int port = vg_http_port(s);
	int hog[3];
	for (int i = 0; i < 3; i++) {
		hog[i] = connect_to(port);
		const char *part = "GET /v1/things/1 HTTP/1.1\r\nHost: t\r\n";
		(void)!write(hog[i], part, strlen(part));
	}
	usleep(100000);
	struct timeval tv = {.tv_sec = 1};
	setsockopt(hog[2], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char c;
	errno = 0;
	ssize_t got = read(hog[2], &c, 1);
	cr_assert(got == 0 || (got < 0 && errno == ECONNRESET),
		  "the third connection from one address is closed (read %zd, %s)", got,
		  strerror(errno));
	/* another address still gets in */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in src = {.sin_family = AF_INET};
	src.sin_addr.s_addr = htonl(0x7f000002);
	cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	const char *req = "GET /v1/things/2 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	char *r = read_all(fd);
	cr_assert(strstr(r, "HTTP/1.1 200"), "%s", r);
	for (int i = 0; i < 3; i++)
		close(hog[i]);
	vg_http_stop(s);
}
