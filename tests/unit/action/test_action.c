/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for src/action: webhook signatures and the backoff arithmetic as pure
 * functions, then the outbox worker end to end: items enqueued in a real store, delivered
 * over loopback to a small receiver here that records each request and answers from a
 * script (statuses, Retry-After, a delay, a large body). The receiver is a plain socket
 * server with a thread per connection rather than src/http, whose pool serves several
 * connections per thread: a scripted delay there would serialise requests and hide the
 * worker's concurrency.
 *
 * Timings use tiny backoffs (milliseconds) so the suite stays fast enough to run again
 * under ASan+UBSan; bounds are checked from below exactly (a retry never comes early)
 * and from above loosely (it comes on its own schedule, not at the next poll).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "action/action.h"
#include "store/store.h"
#include "vg_config.h"

#define MS 1000
#define MAX_REQS 512
#define MAX_CONNS 128

/* ---- signatures ------------------------------------------------------------------- */

Test(webhook_sign, matches_an_independent_hmac)
{
	/* Expected values from Python's hmac module (docs/webhooks.md shows the same). */
	const char *body = "{\"bank\":\"csam\",\"match\":true}";
	char sig[VG_WEBHOOK_SIG_SIZE];
	cr_assert_eq(vg_webhook_sign("s3cret", "1700000000", body, strlen(body), sig), 0);
	cr_assert_str_eq(sig, "sha256=510527fecdca7a1d9dd260691b05a61e8bb01c11c94de1bfc875da4ae5aa"
			      "5501");
	cr_assert_eq(vg_webhook_sign("key", "1", NULL, 0, sig), 0);
	cr_assert_str_eq(sig, "sha256=53123bc365c2fe4bee48bc5cc6cd6c19699147d43513154ed34277c7c063"
			      "e80f");
}

Test(webhook_sign, verify_accepts_only_the_exact_signature)
{
	const char *body = "{\"a\":1}";
	size_t len = strlen(body);
	char sig[VG_WEBHOOK_SIG_SIZE];
	cr_assert_eq(vg_webhook_sign("secret", "1700000001", body, len, sig), 0);
	cr_assert(vg_webhook_verify("secret", "1700000001", body, len, sig));
	cr_assert_not(vg_webhook_verify("secret", "1700000002", body, len, sig), "timestamp");
	cr_assert_not(vg_webhook_verify("secreT", "1700000001", body, len, sig), "secret");
	cr_assert_not(vg_webhook_verify("secret", "1700000001", "{\"a\":2}", len, sig), "body");
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len - 1, sig), "length");

	char bad[VG_WEBHOOK_SIG_SIZE + 1];
	memcpy(bad, sig, sizeof(sig));
	bad[70] = bad[70] == '0' ? '1' : '0';
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len, bad), "last digit");
	memcpy(bad, sig, sizeof(sig));
	for (char *p = bad; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len, bad), "upper case");
	memcpy(bad, sig, sizeof(sig));
	bad[40] = '\0';
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len, bad), "truncated");
	memcpy(bad, sig, sizeof(sig));
	bad[71] = '0', bad[72] = '\0';
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len, bad), "longer");
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len, NULL));
	cr_assert_not(vg_webhook_verify("secret", "1700000001", body, len, ""));
}

Test(webhook_sign, refuses_missing_inputs)
{
	char sig[VG_WEBHOOK_SIG_SIZE] = "untouched";
	cr_assert_eq(vg_webhook_sign(NULL, "1", "x", 1, sig), VG_EINVAL);
	cr_assert_eq(vg_webhook_sign("", "1", "x", 1, sig), VG_EINVAL);
	cr_assert_eq(vg_webhook_sign("k", "", "x", 1, sig), VG_EINVAL);
	cr_assert_eq(vg_webhook_sign("k", "1", NULL, 1, sig), VG_EINVAL);
	cr_assert_str_eq(sig, "untouched");
	cr_assert_not(vg_webhook_verify("", "1", "x", 1, "sha256="));
}

/* ---- email addresses ---------------------------------------------------------------- */

Test(email_address, one_plain_address_only)
{
	cr_assert(vg_email_address_ok("abuse@host.example"));
	cr_assert(vg_email_address_ok("a.b+tag@x"));
	const char *bad[] = {"",
			     "abuse",
			     "@host.example",
			     "abuse@",
			     "a@b@c",
			     "Abuse Desk <abuse@host.example>",
			     "<abuse@host.example>",
			     "a@host.example, b@host.example",
			     "a@host.example;b@host.example",
			     "a b@host.example",
			     "\"a\"@host.example",
			     "a@host.example\r\nBcc: c@d",
			     "(c)a@host.example",
			     NULL};
	for (size_t i = 0; i < VG_ARRAY_LEN(bad); i++)
		cr_assert_not(vg_email_address_ok(bad[i]), "%s", bad[i] ? bad[i] : "NULL");
	char long_[300];
	memset(long_, 'a', sizeof(long_));
	strcpy(long_ + 254 - strlen("@x.example"), "@x.example");
	cr_assert(vg_email_address_ok(long_), "254 bytes");
	memset(long_, 'a', sizeof(long_));
	strcpy(long_ + 255 - strlen("@x.example"), "@x.example");
	cr_assert_not(vg_email_address_ok(long_), "255 bytes");
}

/* ---- backoff ---------------------------------------------------------------------- */

Test(outbox_backoff, doubles_from_the_first_delay_with_jitter_over_the_upper_half)
{
	const vg_usec first = 1000 * MS, max = 3600LL * 1000 * MS;
	for (int a = 1; a <= 12; a++) {
		vg_usec base = first << (a - 1);
		if (base > max)
			base = max;
		vg_usec lo = vg_outbox_backoff(first, max, a, 0, 0);
		vg_usec hi = vg_outbox_backoff(first, max, a, base - base / 2, 0);
		cr_assert_eq(lo, base / 2, "attempt %d", a);
		cr_assert_eq(hi, base, "attempt %d", a);
		for (uint64_t r = 1; r < 2000; r += 37) {
			vg_usec d = vg_outbox_backoff(first, max, a, r * 0x9e3779b97f4a7c15u, 0);
			cr_assert(d >= base / 2 && d <= base, "attempt %d: %lld", a, (long long)d);
		}
	}
}

Test(outbox_backoff, is_capped_and_never_overflows)
{
	const vg_usec first = 10 * MS, max = 1000 * MS;
	for (int a = 8; a < 400; a += 13) {
		vg_usec d = vg_outbox_backoff(first, max, a, UINT64_MAX, 0);
		cr_assert(d >= max / 2 && d <= max, "attempt %d", a);
	}
	cr_assert_eq(vg_outbox_backoff(first, max, 1, 0, 0), 5 * MS);
	cr_assert_eq(vg_outbox_backoff(first, max, 0, 0, 0), 5 * MS, "0 is treated as 1");
	cr_assert_eq(vg_outbox_backoff(first, INT64_MAX, 200, 0, 0), INT64_MAX / 2);
	cr_assert_eq(vg_outbox_backoff(1, 1, 1, 0, 0), 1, "never 0");
}

Test(outbox_backoff, retry_after_wins_when_longer_but_stays_under_the_cap)
{
	const vg_usec first = 10 * MS, max = 60000 * MS;
	cr_assert_eq(vg_outbox_backoff(first, max, 1, 0, 2000 * MS), 2000 * MS);
	cr_assert_eq(vg_outbox_backoff(first, max, 1, 0, 1 * MS), 5 * MS, "shorter: ignored");
	cr_assert_eq(vg_outbox_backoff(first, max, 1, 0, 120000 * MS), max, "capped");
}

/* ---- the receiver ----------------------------------------------------------------- *
 * A plain HTTP/1.1 server on a loopback port, one thread per connection (keep-alive
 * honoured), so that requests held by a scripted delay really run side by side. */

typedef struct rec {
	vg_usec at; /* monotonic, on arrival */
	char key[80], ts[32], sig[80], ctype[64], ua[64], path[64];
	char body[256];
	size_t body_len;
	bool has_sig;
} rec;

static struct {
	pthread_mutex_t mu;
	rec reqs[MAX_REQS];
	int n;
	int script[16]; /* statuses to answer, in order; 200 past the end */
	int nscript;
	int retry_after; /* seconds, sent with every non-2xx answer when > 0 */
	int delay_ms;    /* each answer waits this long */
	bool big;        /* answer 2xx with a 1 MiB body */
	atomic_int active, max_active;
	int conns[MAX_CONNS]; /* open connections, -1 when free */
	int port;
	int listen_fd;
	pthread_t acceptor;
} rx = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The value of header name in head (a NUL-terminated request head), or "". */
static void header(const char *head, const char *name, char *out, size_t size, bool *found)
{
	size_t nl = strlen(name);
	out[0] = '\0';
	if (found)
		*found = false;
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *h = p + 2;
		if (strncasecmp(h, name, nl) != 0 || h[nl] != ':')
			continue;
		h += nl + 1;
		while (*h == ' ')
			h++;
		size_t vl = strcspn(h, "\r");
		snprintf(out, size, "%.*s", (int)vl, h);
		if (found)
			*found = true;
		return;
	}
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return false;
		p += k, n -= (size_t)k;
	}
	return true;
}

/* Records one request and answers it from the script. */
static bool answer(int fd, const char *head, const char *body, size_t len)
{
	int now_active = atomic_fetch_add(&rx.active, 1) + 1;
	int seen = atomic_load(&rx.max_active);
	while (now_active > seen && !atomic_compare_exchange_weak(&rx.max_active, &seen, now_active))
		;

	pthread_mutex_lock(&rx.mu);
	int i = rx.n < MAX_REQS ? rx.n++ : MAX_REQS - 1;
	int status = i < rx.nscript ? rx.script[i] : 200;
	rec *r = &rx.reqs[i];
	memset(r, 0, sizeof(*r));
	r->at = vg_time_mono();
	sscanf(head, "POST %63s HTTP/1.1", r->path);
	header(head, "Idempotency-Key", r->key, sizeof(r->key), NULL);
	header(head, "X-Vigil-Timestamp", r->ts, sizeof(r->ts), NULL);
	header(head, "X-Vigil-Signature", r->sig, sizeof(r->sig), &r->has_sig);
	header(head, "Content-Type", r->ctype, sizeof(r->ctype), NULL);
	header(head, "User-Agent", r->ua, sizeof(r->ua), NULL);
	r->body_len = len;
	memcpy(r->body, body, len < sizeof(r->body) - 1 ? len : sizeof(r->body) - 1);
	int delay_ms = rx.delay_ms, retry_after = rx.retry_after;
	bool big = rx.big;
	pthread_mutex_unlock(&rx.mu);

	if (delay_ms)
		usleep((useconds_t)delay_ms * 1000);
	atomic_fetch_sub(&rx.active, 1);

	const char *text = status < 300 ? "ok" : "rejected\n by the receiver";
	size_t tlen = strlen(text);
	char *big_body = NULL;
	if (status < 300 && big) {
		tlen = 1u << 20;
		text = big_body = malloc(tlen);
		memset(big_body, 'x', tlen);
	}
	char h[256];
	int hl = snprintf(h, sizeof(h), "HTTP/1.1 %d Scripted\r\nContent-Type: text/plain\r\n"
			  "Content-Length: %zu\r\n", status, tlen);
	if (status >= 300 && retry_after > 0)
		hl += snprintf(h + hl, sizeof(h) - (size_t)hl, "Retry-After: %d\r\n", retry_after);
	hl += snprintf(h + hl, sizeof(h) - (size_t)hl, "\r\n");
	bool ok = send_all(fd, h, (size_t)hl) && send_all(fd, text, tlen);
	free(big_body);
	return ok;
}

static void *serve(void *arg)
{
	int slot = (int)(intptr_t)arg;
	int fd = rx.conns[slot];
	static _Thread_local char buf[64 << 10];
	size_t have = 0;
	for (;;) {
		char *end;
		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			ssize_t k = have < sizeof(buf) ? read(fd, buf + have, sizeof(buf) - have) : -1;
			if (k <= 0)
				goto out;
			have += (size_t)k;
		}
		size_t hlen = (size_t)(end - buf) + 4;
		char head[8192];
		snprintf(head, sizeof(head), "%.*s", (int)(hlen < sizeof(head) ? hlen : sizeof(head) - 1),
			 buf);
		char cl[32];
		header(head, "Content-Length", cl, sizeof(cl), NULL);
		size_t len = (size_t)strtoul(cl, NULL, 10);
		if (len > sizeof(buf) - hlen)
			goto out;
		while (have < hlen + len) {
			ssize_t k = read(fd, buf + have, sizeof(buf) - have);
			if (k <= 0)
				goto out;
			have += (size_t)k;
		}
		if (!answer(fd, head, buf + hlen, len))
			goto out;
		memmove(buf, buf + hlen + len, have - hlen - len);
		have -= hlen + len;
	}
out:
	pthread_mutex_lock(&rx.mu);
	close(fd);
	rx.conns[slot] = -1;
	pthread_mutex_unlock(&rx.mu);
	return NULL;
}

static void *accept_loop(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(rx.listen_fd, NULL, NULL);
		if (fd < 0)
			return NULL; /* the listening socket was shut down */
		/* The answer goes out in two writes; without this, Nagle holds the second
		 * until the client's delayed ACK, 40 ms per request. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&rx.mu);
		int slot = 0;
		while (slot < MAX_CONNS && rx.conns[slot] >= 0)
			slot++;
		if (slot < MAX_CONNS)
			rx.conns[slot] = fd;
		pthread_mutex_unlock(&rx.mu);
		pthread_t t;
		if (slot == MAX_CONNS || pthread_create(&t, NULL, serve, (void *)(intptr_t)slot)) {
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
}

static void receiver_start(void)
{
	for (int i = 0; i < MAX_CONNS; i++)
		rx.conns[i] = -1;
	rx.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	cr_assert_eq(bind(rx.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(rx.listen_fd, 128), 0);
	cr_assert_eq(getsockname(rx.listen_fd, (struct sockaddr *)&sa, &sl), 0);
	rx.port = ntohs(sa.sin_port);
	cr_assert_eq(pthread_create(&rx.acceptor, NULL, accept_loop, NULL), 0);
}

/* Closes the listener and every connection, then waits (briefly) for their threads. */
static void receiver_stop(void)
{
	shutdown(rx.listen_fd, SHUT_RDWR);
	pthread_join(rx.acceptor, NULL);
	close(rx.listen_fd);
	vg_usec end = vg_time_mono() + 3000 * MS;
	for (;;) {
		int open = 0;
		pthread_mutex_lock(&rx.mu);
		for (int i = 0; i < MAX_CONNS; i++)
			if (rx.conns[i] >= 0)
				open++, shutdown(rx.conns[i], SHUT_RDWR);
		pthread_mutex_unlock(&rx.mu);
		if (!open || vg_time_mono() > end)
			break;
		usleep(2000);
	}
}

static vg_store *db;
static char dir[64], db_path[128], target[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/vg-action-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(db_path, sizeof(db_path), "%s/vigil.db", dir);
	vg_error e;
	cr_assert_eq(vg_store_open(db_path, &db, &e), 0, "%s", e.msg);
	receiver_start();
	snprintf(target, sizeof(target), "http://127.0.0.1:%d/hook", rx.port);
}

static void teardown(void)
{
	receiver_stop();
	vg_store_close(db);
	char path[192];
	const char *files[] = {"vigil.db", "vigil.db-wal", "vigil.db-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void script(int n, const int *statuses)
{
	pthread_mutex_lock(&rx.mu);
	memcpy(rx.script, statuses, sizeof(int) * (size_t)n);
	rx.nscript = n;
	pthread_mutex_unlock(&rx.mu);
}

static int received(void)
{
	pthread_mutex_lock(&rx.mu);
	int n = rx.n;
	pthread_mutex_unlock(&rx.mu);
	return n;
}

/* ---- helpers ---------------------------------------------------------------------- */

static void config(vg_outbox_config *cfg)
{
	vg_outbox_config_init(cfg);
	cfg->db_path = db_path;
	cfg->first_backoff_us = 10 * MS;
	cfg->max_backoff_us = 200 * MS;
	cfg->timeout_us = 5000 * MS;
	cfg->concurrency = 8;
	cfg->poll_interval_us = 20 * MS;
}

static vg_outbox_worker *start(const vg_outbox_config *cfg)
{
	vg_outbox_worker *w = NULL;
	vg_error e;
	cr_assert_eq(vg_outbox_worker_start(cfg, &w, &e), 0, "%s", e.msg);
	return w;
}

static int64_t enqueue(const char *kind, const char *to, const char *payload, const char *secret,
		       const char *key)
{
	int64_t id = 0;
	vg_error e;
	cr_assert_eq(vg_store_outbox_enqueue(db, kind, to, payload, secret, key, vg_time_now(), &id,
					     &e),
		     0, "%s", e.msg);
	return id;
}

static int64_t webhook(int i, const char *secret)
{
	char key[64], payload[64];
	snprintf(key, sizeof(key), "key-%04d", i);
	snprintf(payload, sizeof(payload), "{\"item\":%d}", i);
	return enqueue("webhook", target, payload, secret, key);
}

/* The row with this id (owned by the caller: vg_store_outbox_list_free(r, 1)). */
static vg_store_outbox *row(int64_t id)
{
	vg_store_outbox *r = NULL;
	size_t n = 0;
	vg_error e;
	cr_assert_eq(vg_store_outbox_list(db, NULL, id - 1, 1, &r, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(n, 1u);
	cr_assert_eq(r->id, id);
	return r;
}

static void counts(size_t *pending, size_t *done, size_t *dead)
{
	vg_error e;
	cr_assert_eq(vg_store_outbox_counts(db, pending, done, dead, &e), 0, "%s", e.msg);
}

/* Waits until the store holds at least `done` done and `dead` dead items. */
static bool wait_for(size_t done, size_t dead, int timeout_ms)
{
	vg_usec end = vg_time_mono() + (vg_usec)timeout_ms * MS;
	for (;;) {
		size_t p, d, x;
		counts(&p, &d, &x);
		if (d >= done && x >= dead)
			return true;
		if (vg_time_mono() > end)
			return false;
		usleep(2000);
	}
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 30);

/* ---- delivery --------------------------------------------------------------------- */

Test(outbox, delivers_once_with_headers_and_a_signature_that_verifies)
{
	vg_outbox_config cfg;
	config(&cfg);
	cfg.poll_interval_us = 10000 * MS; /* only the kick can make this quick */
	vg_outbox_worker *w = start(&cfg);
	usleep(20 * MS); /* let the first (empty) poll pass */

	vg_usec t0 = vg_time_mono();
	int64_t id = webhook(1, "s3cret");
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(1, 0, 3000));
	cr_assert_lt(vg_time_mono() - t0, 1000 * MS, "kicked, not polled");
	webhook(2, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(2, 0, 3000));
	usleep(100 * MS);

	cr_assert_eq(received(), 2, "each item once");
	rec *r = &rx.reqs[0];
	cr_assert_str_eq(r->path, "/hook");
	cr_assert_str_eq(r->key, "key-0001");
	cr_assert_str_eq(r->ctype, "application/json");
	cr_assert_str_eq(r->ua, "vigil/" VG_VERSION);
	cr_assert_str_eq(r->body, "{\"item\":1}");
	long long ts = atoll(r->ts);
	long long now = vg_time_now() / 1000000;
	cr_assert(ts > now - 60 && ts <= now, "timestamp %s is Unix seconds", r->ts);
	cr_assert(r->has_sig);
	cr_assert(vg_webhook_verify("s3cret", r->ts, r->body, r->body_len, r->sig), "%s", r->sig);
	cr_assert_not(rx.reqs[1].has_sig, "no secret, no signature");
	cr_assert_str_eq(rx.reqs[1].key, "key-0002");

	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "done");
	vg_store_outbox_list_free(o, 1);
	vg_outbox_stats st;
	vg_outbox_worker_stats(w, &st);
	cr_assert_eq(st.delivered, 2);
	cr_assert_eq(st.retried + st.dead + st.in_flight, 0);
	vg_outbox_worker_stop(w);
}

Test(outbox, retries_server_errors_with_growing_delays_until_done)
{
	script(3, (int[]){500, 503, 200});
	vg_outbox_config cfg;
	config(&cfg);
	cfg.first_backoff_us = 50 * MS;
	cfg.max_backoff_us = 1000 * MS;
	cfg.poll_interval_us = 1000 * MS; /* retries must wake the worker themselves */
	vg_outbox_worker *w = start(&cfg);
	int64_t id = webhook(1, "k");
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(1, 0, 5000));
	usleep(50 * MS);

	cr_assert_eq(received(), 3);
	vg_usec d1 = rx.reqs[1].at - rx.reqs[0].at, d2 = rx.reqs[2].at - rx.reqs[1].at;
	/* after attempt 1: 25..50 ms; after attempt 2: 50..100 ms */
	cr_assert_geq(d1, 25 * MS, "d1 %lld us", (long long)d1);
	cr_assert_geq(d2, 50 * MS, "d2 %lld us", (long long)d2);
	cr_assert_lt(d1, 700 * MS, "scheduled, not left to the 1 s poll");
	cr_assert_lt(d2, 800 * MS, "scheduled, not left to the 1 s poll");
	for (int i = 0; i < 3; i++)
		cr_assert_str_eq(rx.reqs[i].key, "key-0001", "same key on every attempt");

	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "done");
	cr_assert_geq(o->attempts, 2);
	vg_store_outbox_list_free(o, 1);
	vg_outbox_stats st;
	vg_outbox_worker_stats(w, &st);
	cr_assert_eq(st.delivered, 1);
	cr_assert_eq(st.retried, 2);
	cr_assert_eq(st.dead, 0);
	vg_outbox_worker_stop(w);
}

/* SIGHUP's webhook_* options: a running worker takes a new policy, and a bad one is
 * refused whole. */
Test(outbox, a_new_policy_applies_to_the_next_outcomes)
{
	script(6, (int[]){500, 500, 500, 500, 500, 500});
	vg_outbox_config cfg;
	config(&cfg);
	cfg.max_attempts = 1;
	vg_outbox_worker *w = start(&cfg);
	vg_outbox_config next;
	vg_outbox_config_init(&next);
	next.max_attempts = 3;
	next.first_backoff_us = next.max_backoff_us = 5 * MS;
	next.timeout_us = 5000 * MS;
	vg_error e;
	vg_outbox_config bad = next;
	bad.max_backoff_us = 1 * MS; /* under the first backoff */
	cr_assert_eq(vg_outbox_worker_set_policy(w, &bad, &e), VG_EINVAL);
	bad = next;
	bad.max_attempts = 0;
	cr_assert_eq(vg_outbox_worker_set_policy(w, &bad, &e), VG_EINVAL);
	cr_assert_eq(vg_outbox_worker_set_policy(w, &next, &e), 0, "%s", e.msg);
	int64_t id = webhook(1, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(0, 1, 5000));
	vg_outbox_worker_stop(w);
	cr_assert_eq(received(), 3, "three attempts, not the one it started with");
	vg_store_outbox *o = row(id);
	cr_assert_eq(o->attempts, 3);
	vg_store_outbox_list_free(o, 1);
	cr_assert_eq(vg_outbox_worker_set_policy(NULL, &next, &e), 0);
}

Test(outbox, client_errors_are_dead_at_once)
{
	script(2, (int[]){400, 302});
	vg_outbox_config cfg;
	config(&cfg);
	vg_outbox_worker *w = start(&cfg);
	int64_t a = webhook(1, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(0, 1, 3000));
	int64_t b = webhook(2, NULL); /* answered 302: redirects are not followed */
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(0, 2, 3000));
	usleep(100 * MS);
	cr_assert_eq(received(), 2, "never retried");

	vg_store_outbox *o = row(a);
	cr_assert_str_eq(o->state, "dead");
	cr_assert_eq(o->attempts, 1);
	cr_assert_not_null(o->last_error);
	cr_assert(strstr(o->last_error, "HTTP 400"), "%s", o->last_error);
	cr_assert(strstr(o->last_error, "rejected  by the receiver"), "the answer, made printable: %s",
		  o->last_error);
	vg_store_outbox_list_free(o, 1);
	o = row(b);
	cr_assert_str_eq(o->state, "dead");
	cr_assert(strstr(o->last_error, "HTTP 302"), "%s", o->last_error);
	vg_store_outbox_list_free(o, 1);
	vg_outbox_worker_stop(w);
}

Test(outbox, unreachable_receiver_is_retried_then_dead_with_the_last_error)
{
	/* A port that was free a moment ago: connections are refused. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	char to[64];
	snprintf(to, sizeof(to), "http://127.0.0.1:%d/hook", ntohs(sa.sin_port));

	vg_outbox_config cfg;
	config(&cfg);
	cfg.max_attempts = 3;
	vg_outbox_worker *w = start(&cfg);
	int64_t id = enqueue("webhook", to, "{}", "k", "unreachable");
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(0, 1, 5000));

	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "dead");
	cr_assert_eq(o->attempts, 3);
	cr_assert_not_null(o->last_error);
	cr_assert(strstr(o->last_error, "onnect"), "a connection error: %s", o->last_error);
	cr_assert(strstr(o->last_error, "gave up after 3 attempts"), "%s", o->last_error);
	vg_store_outbox_list_free(o, 1);
	/* The row turns dead in the store a moment before the worker counts it. */
	vg_outbox_stats st;
	for (int i = 0; i < 500; i++) {
		vg_outbox_worker_stats(w, &st);
		if (st.dead == 1)
			break;
		usleep(10000);
	}
	cr_assert_eq(st.retried, 2);
	cr_assert_eq(st.dead, 1);
	cr_assert_eq(st.delivered, 0);
	vg_outbox_worker_stop(w);
}

Test(outbox, honours_retry_after_when_longer_than_the_backoff)
{
	script(1, (int[]){503});
	rx.retry_after = 1;
	vg_outbox_config cfg;
	config(&cfg);
	cfg.max_backoff_us = 5000 * MS;
	vg_outbox_worker *w = start(&cfg);
	int64_t id = webhook(1, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(1, 0, 5000));
	cr_assert_eq(received(), 2);
	vg_usec d = rx.reqs[1].at - rx.reqs[0].at;
	cr_assert_geq(d, 1000 * MS, "waited %lld us", (long long)d);
	cr_assert_lt(d, 2500 * MS, "waited %lld us", (long long)d);
	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "done");
	vg_store_outbox_list_free(o, 1);
	vg_outbox_worker_stop(w);
}

Test(outbox, retry_after_is_capped_by_the_longest_backoff)
{
	script(1, (int[]){429});
	rx.retry_after = 30;
	vg_outbox_config cfg;
	config(&cfg);
	cfg.max_backoff_us = 100 * MS;
	vg_outbox_worker *w = start(&cfg);
	webhook(1, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(1, 0, 3000));
	vg_usec d = rx.reqs[1].at - rx.reqs[0].at;
	cr_assert_lt(d, 1000 * MS, "waited %lld us", (long long)d);
	vg_outbox_worker_stop(w);
}

Test(outbox, a_timeout_is_a_retryable_failure)
{
	rx.delay_ms = 400;
	vg_outbox_config cfg;
	config(&cfg);
	cfg.timeout_us = 100 * MS;
	cfg.max_attempts = 1;
	vg_outbox_worker *w = start(&cfg);
	int64_t id = webhook(1, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(0, 1, 3000));
	vg_store_outbox *o = row(id);
	cr_assert(strstr(o->last_error, "timed out"), "%s", o->last_error);
	cr_assert(strstr(o->last_error, "gave up after 1 attempts"), "%s", o->last_error);
	vg_store_outbox_list_free(o, 1);
	vg_outbox_worker_stop(w);
}

Test(outbox, a_large_answer_is_cut_off_and_still_counts)
{
	rx.big = true;
	vg_outbox_config cfg;
	config(&cfg);
	vg_outbox_worker *w = start(&cfg);
	int64_t id = webhook(1, NULL);
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(1, 0, 3000));
	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "done");
	vg_store_outbox_list_free(o, 1);
	vg_outbox_worker_stop(w);
}

Test(outbox, only_http_and_https_targets)
{
	vg_outbox_config cfg;
	config(&cfg);
	vg_outbox_worker *w = start(&cfg);
	int64_t a = enqueue("webhook", "file:///etc/passwd", "{}", NULL, "file");
	int64_t b = enqueue("webhook", "ftp://127.0.0.1/x", "{}", NULL, "ftp");
	int64_t c = enqueue("webhook", "gopher://127.0.0.1/x", "{}", NULL, "gopher");
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(0, 3, 3000));
	int64_t ids[] = {a, b, c};
	for (int i = 0; i < 3; i++) {
		vg_store_outbox *o = row(ids[i]);
		cr_assert_str_eq(o->state, "dead");
		cr_assert_eq(o->attempts, 1);
		cr_assert(strstr(o->last_error, "http"), "%s", o->last_error);
		vg_store_outbox_list_free(o, 1);
	}
	vg_outbox_worker_stop(w);
}

Test(outbox, authority_report_drafts_are_left_alone)
{
	vg_outbox_config cfg;
	config(&cfg);
	cfg.concurrency = 2; /* a page of 36: the drafts fill it several times over */
	vg_outbox_worker *w = start(&cfg);
	int64_t draft = 0;
	for (int i = 0; i < 150; i++) {
		char key[32];
		snprintf(key, sizeof(key), "draft-%d", i);
		int64_t id = enqueue("authority_report", target, "{\"draft\":true}", NULL, key);
		if (!draft)
			draft = id;
	}
	int64_t id = webhook(1, NULL); /* behind every draft in next_at order */
	vg_outbox_worker_kick(w);
	cr_assert(wait_for(1, 0, 3000), "drafts must not starve webhooks");
	usleep(100 * MS);
	cr_assert_eq(received(), 1);
	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "done");
	vg_store_outbox_list_free(o, 1);
	o = row(draft);
	cr_assert_str_eq(o->state, "pending");
	cr_assert_eq(o->attempts, 0);
	cr_assert_null(o->last_error);
	vg_store_outbox_list_free(o, 1);
	size_t p, d, x;
	counts(&p, &d, &x);
	cr_assert_eq(p, 150u);
	vg_outbox_worker_stop(w);
}

/* Found in review: the worker's page was every pending kind oldest first, widened up to
 * 16384 items, so once more undeliverable items (drafts, email without a relay) than
 * that were older than a webhook, the webhook was never sent. The worker now asks the
 * store for the kinds it delivers only. */
Test(outbox, a_pile_of_undeliverable_items_never_starves_webhooks)
{
	enum { PILE = 20000 };
	vg_error e;
	int64_t id;
	cr_assert_eq(vg_store_begin(db, &e), 0);
	for (int i = 0; i < PILE; i++) {
		char key[32];
		snprintf(key, sizeof(key), "old-%d", i);
		/* Older than the webhook: next_at in the past. */
		cr_assert_eq(vg_store_outbox_enqueue(db, i % 2 ? "email" : "authority_report",
						     i % 2 ? "a@b.example" : target, "{}", NULL, key,
						     vg_time_now() - 1000000000 + i, &id, &e),
			     0, "%s", e.msg);
	}
	cr_assert_eq(vg_store_commit(db, &e), 0, "%s", e.msg);
	vg_outbox_config cfg;
	config(&cfg); /* no smtp_url: email items are not this worker's */
	cfg.concurrency = 2;
	id = webhook(1, NULL);
	vg_outbox_worker *w = start(&cfg);
	cr_assert(wait_for(1, 0, 5000), "the webhook behind the pile was never sent");
	vg_outbox_worker_stop(w);
	cr_assert_eq(received(), 1);
	vg_store_outbox *o = row(id);
	cr_assert_str_eq(o->state, "done");
	vg_store_outbox_list_free(o, 1);
	size_t p, d, x;
	counts(&p, &d, &x);
	cr_assert_eq(p, (size_t)PILE, "the pile is left alone");
}

Test(outbox, delivers_many_at_once_each_once)
{
	enum { N = 48, DELAY_MS = 100 };
	rx.delay_ms = DELAY_MS;
	vg_outbox_config cfg;
	config(&cfg);
	cfg.concurrency = 16;
	for (int i = 0; i < N; i++)
		webhook(i, "k");
	vg_usec t0 = vg_time_mono();
	vg_outbox_worker *w = start(&cfg);
	uint64_t most = 0;
	for (;;) {
		vg_outbox_stats st;
		vg_outbox_worker_stats(w, &st);
		if (st.in_flight > most)
			most = st.in_flight;
		if (st.delivered == N || vg_time_mono() - t0 > 10000 * MS)
			break;
		usleep(1000);
	}
	cr_assert(wait_for(N, 0, 1000));
	vg_usec took = vg_time_mono() - t0;
	cr_log_info("worker had up to %llu in flight", (unsigned long long)most);
	vg_outbox_worker_stop(w);

	/* one at a time would take N * DELAY_MS = 4.8 s */
	cr_assert_lt(took, (vg_usec)N * DELAY_MS * MS / 3, "took %lld ms max %d", (long long)took / MS, atomic_load(&rx.max_active));
	cr_assert_geq(atomic_load(&rx.max_active), 4, "max %d at once",
		      atomic_load(&rx.max_active));
	cr_assert_eq(received(), N);
	bool seen[N] = {0};
	for (int i = 0; i < N; i++) {
		int k = atoi(rx.reqs[i].key + 4);
		cr_assert(k >= 0 && k < N && !seen[k], "%s twice", rx.reqs[i].key);
		seen[k] = true;
	}
	cr_log_info("%d deliveries of %d ms each in %lld ms, up to %d at once", N, DELAY_MS,
		    (long long)took / MS, atomic_load(&rx.max_active));
}

/* Found in review: two `vigil serve` on one database sent the same webhook twice at once:
 * each worker's claim was in its own memory. Claimed in the store, every item goes out
 * once, whichever worker takes it. */
Test(outbox, two_workers_on_one_database_send_each_item_once)
{
	enum { N = 60 };
	rx.delay_ms = 50;
	vg_outbox_config cfg;
	config(&cfg);
	cfg.concurrency = 8;
	for (int i = 0; i < N; i++)
		webhook(i, NULL);
	vg_outbox_worker *w1 = start(&cfg), *w2 = start(&cfg);
	vg_outbox_worker_kick(w1);
	vg_outbox_worker_kick(w2);
	cr_assert(wait_for(N, 0, 10000));
	usleep(200 * MS); /* a second send would arrive by now */
	vg_outbox_stats s1, s2;
	vg_outbox_worker_stats(w1, &s1);
	vg_outbox_worker_stats(w2, &s2);
	vg_outbox_worker_stop(w1);
	vg_outbox_worker_stop(w2);
	cr_assert_eq(received(), N, "%d requests for %d items", received(), N);
	cr_assert_eq(s1.delivered + s2.delivered, (uint64_t)N);
	cr_log_info("worker 1 sent %llu, worker 2 %llu", (unsigned long long)s1.delivered,
		    (unsigned long long)s2.delivered);
	bool seen[N] = {0};
	for (int i = 0; i < N; i++) {
		int k = atoi(rx.reqs[i].key + 4);
		cr_assert(k >= 0 && k < N && !seen[k], "%s twice", rx.reqs[i].key);
		seen[k] = true;
	}
}

Test(outbox, stop_with_deliveries_in_flight_is_prompt_and_loses_nothing)
{
	enum { N = 40 };
	rx.delay_ms = 300;
	vg_outbox_config cfg;
	config(&cfg);
	cfg.concurrency = 8;
	for (int i = 0; i < N; i++)
		webhook(i, NULL);
	vg_outbox_worker *w = start(&cfg);
	vg_usec end = vg_time_mono() + 3000 * MS;
	while (received() < 4 && vg_time_mono() < end)
		usleep(1000);
	cr_assert_geq(received(), 4);

	vg_usec t0 = vg_time_mono();
	vg_outbox_worker_stop(w);
	vg_usec took = vg_time_mono() - t0;
	cr_assert_lt(took, 1500 * MS, "stop took %lld ms", (long long)took / MS);

	size_t p, d, x;
	counts(&p, &d, &x);
	int got = received();
	cr_assert_eq(x, 0u);
	cr_assert_eq(d, (size_t)got, "every request answered is recorded done");
	cr_assert_eq(p + d, (size_t)N);
	cr_assert_lt(d, (size_t)N, "stopped early");
	vg_store_outbox *rows = NULL;
	size_t n = 0;
	vg_error e;
	cr_assert_eq(vg_store_outbox_list(db, "pending", 0, 1000, &rows, &n, &e), 0, "%s", e.msg);
	cr_assert_eq(n, p);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(rows[i].attempts, 0, "not counted as an attempt");
	vg_store_outbox_list_free(rows, n);

	/* A new worker finishes the rest, and nothing is sent twice. */
	rx.delay_ms = 0;
	w = start(&cfg);
	cr_assert(wait_for(N, 0, 5000));
	vg_outbox_worker_stop(w);
	cr_assert_eq(received(), N);
}

Test(outbox, refuses_bad_settings)
{
	vg_outbox_config cfg;
	vg_outbox_worker *w = NULL;
	vg_error e;
	config(&cfg);
	cfg.db_path = NULL;
	cr_assert_eq(vg_outbox_worker_start(&cfg, &w, &e), VG_EINVAL);
	config(&cfg);
	cfg.max_attempts = 0;
	cr_assert_eq(vg_outbox_worker_start(&cfg, &w, &e), VG_EINVAL);
	config(&cfg);
	cfg.max_backoff_us = cfg.first_backoff_us - 1;
	cr_assert_eq(vg_outbox_worker_start(&cfg, &w, &e), VG_EINVAL);
	config(&cfg);
	cfg.concurrency = 0;
	cr_assert_eq(vg_outbox_worker_start(&cfg, &w, &e), VG_EINVAL);
	config(&cfg);
	cfg.timeout_us = 10;
	cr_assert_eq(vg_outbox_worker_start(&cfg, &w, &e), VG_EINVAL);
	cr_assert_null(w);
	vg_outbox_worker_stop(NULL);
	vg_outbox_worker_kick(NULL);
}
