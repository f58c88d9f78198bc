/* SPDX-License-Identifier: Apache-2.0
 *
 * bench-events-load: an HTTP load client for POST /v1/events (bench/events/bench_events.py
 * starts the server and runs it). Reads an NDJSON file of events, cuts it into batches of
 * --batch lines and posts them over --connections keep-alive connections, one thread and
 * one libcurl handle each, cycling through the file as long as the run lasts.
 *
 * Two modes:
 * - closed loop (no --rate): every connection posts its next batch as soon as the last
 *   one is answered; measures throughput.
 * - open loop (--rate EVENTS_PER_SEC): request k is due at start + k * batch / rate, on
 *   connection k mod C. Latency counts from the time a request was due, not from when it
 *   went out, so a server that falls behind shows as latency rather than as a client that
 *   quietly slows down (coordinated omission, as wrk2 avoids it). A request's latency
 *   bounds "HTTP receipt to verdict" for each of its events: the server answers once every
 *   event of the batch is evaluated and its actions committed.
 *
 * Prints requests, events, achieved events/s, latency percentiles and the verdicts the
 * server reported, for the requests due after --warmup seconds. Prints figures; never
 * passes or fails on time.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONNECTIONS_MAX 256
#define ACTIONS 5

static const char *const actions[ACTIONS] = {"allow", "block", "challenge", "review", "report"};

typedef struct opts {
	const char *url, *token, *file;
	int batch, connections;
	double rate; /* events per second; 0: closed loop */
	double seconds, warmup;
} opts;

typedef struct batches {
	const char *data; /* the file, mapped */
	size_t size;
	size_t *off; /* batch i is data[off[i] .. off[i+1]) */
	size_t n;
} batches;

/* What one connection saw, for the requests due after the warm-up. */
typedef struct conn {
	int id;
	const opts *o;
	const batches *b;
	double t0; /* the run's start, CLOCK_MONOTONIC seconds */
	double *lat_ms;
	size_t n_lat, cap_lat;
	uint64_t events, errors;
	uint64_t late;   /* sent over 1 ms after it was due */
	uint64_t unsent; /* due, but not sent: the run had lasted twice its time */
	uint64_t verdicts[ACTIONS], shadow[ACTIONS];
	double last_done; /* when the last counted answer came */
	char *resp;
	size_t resp_len, resp_cap;
	char err[CURL_ERROR_SIZE];
} conn;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = (long)((t - floor(t)) * 1e9)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	conn *c = ctx;
	size_t len = size * n;
	if (c->resp_len + len + 1 > c->resp_cap) {
		c->resp_cap = (c->resp_len + len + 1) * 2;
		if (!(c->resp = realloc(c->resp, c->resp_cap)))
			abort();
	}
	memcpy(c->resp + c->resp_len, p, len);
	c->resp_len += len;
	return len;
}

/* Adds the answer's {"accepted", "verdicts", "shadow_verdicts"} to c. */
static void tally(conn *c)
{
	json_error_t jerr;
	json_t *r = json_loadb(c->resp, c->resp_len, 0, &jerr);
	if (!r) {
		c->errors++;
		return;
	}
	c->events += (uint64_t)json_integer_value(json_object_get(r, "accepted"));
	for (int a = 0; a < ACTIONS; a++) {
		c->verdicts[a] += (uint64_t)json_integer_value(
			json_object_get(json_object_get(r, "verdicts"), actions[a]));
		c->shadow[a] += (uint64_t)json_integer_value(
			json_object_get(json_object_get(r, "shadow_verdicts"), actions[a]));
	}
	json_decref(r);
}

static void *run(void *arg)
{
	conn *c = arg;
	const opts *o = c->o;
	CURL *h = curl_easy_init();
	if (!h)
		abort();
	char auth[512];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
	struct curl_slist *hdr = curl_slist_append(NULL, auth);
	hdr = curl_slist_append(hdr, "Content-Type: application/x-ndjson");
	hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
	curl_easy_setopt(h, CURLOPT_URL, o->url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->err);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Request k is this connection's when k mod C == id; in open loop it is due at
	 * t0 + k * interval. */
	double interval = o->rate > 0 ? (double)o->batch / o->rate : 0;
	double end = c->t0 + o->warmup + o->seconds;
	/* A server far behind the schedule would keep the run going for as long as its
	 * backlog lasts; past twice the planned time the requests still due are not sent,
	 * only counted. */
	double give_up = end + o->warmup + o->seconds;
	for (uint64_t k = (uint64_t)c->id;; k += (uint64_t)o->connections) {
		double due = interval > 0 ? c->t0 + (double)k * interval : now();
		if (due >= end)
			break;
		if (interval > 0 && now() > give_up) {
			c->unsent += due >= c->t0 + o->warmup;
			continue;
		}
		/* Late: the answer to this connection's last request came after this one was
		 * due (by more than a scheduler's tick). */
		bool late = interval > 0 && now() > due + 0.001;
		if (interval > 0 && !late)
			sleep_until(due);
		const batches *b = c->b;
		size_t i = k % b->n;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, b->data + b->off[i]);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(b->off[i + 1] - b->off[i]));
		c->resp_len = 0;
		CURLcode rc = curl_easy_perform(h);
		double done = now();
		if (due < c->t0 + o->warmup)
			continue;
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc != CURLE_OK || status != 200) {
			if (c->errors++ == 0)
				fprintf(stderr, "bench-events-load: %s\n",
					rc != CURLE_OK ? c->err : "status not 200");
			continue;
		}
		tally(c);
		c->late += late;
		if (c->n_lat == c->cap_lat) {
			c->cap_lat = c->cap_lat ? c->cap_lat * 2 : 4096;
			if (!(c->lat_ms = realloc(c->lat_ms, c->cap_lat * sizeof(double))))
				abort();
		}
		c->lat_ms[c->n_lat++] = (done - due) * 1e3;
		c->last_done = done;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

/* Maps the file and cuts it into batches of n lines (the last partial batch dropped). */
static int load_batches(const char *path, size_t n, batches *ret)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	const char *d = MAP_FAILED;
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0)
		d = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (fd >= 0)
		close(fd);
	if (d == MAP_FAILED) {
		fprintf(stderr, "bench-events-load: cannot map %s\n", path);
		return -1;
	}
	size_t size = (size_t)st.st_size, cap = 1024, nb = 0, lines = 0;
	size_t *off = malloc(cap * sizeof(*off));
	if (!off)
		abort();
	off[0] = 0;
	for (const char *p = d; (p = memchr(p, '\n', size - (size_t)(p - d))) != NULL;) {
		p++;
		if (++lines % n)
			continue;
		if (nb + 2 > cap && !(off = realloc(off, (cap *= 2) * sizeof(*off))))
			abort();
		off[++nb] = (size_t)(p - d);
	}
	if (nb == 0) {
		fprintf(stderr, "bench-events-load: %s: fewer than %zu lines\n", path, n);
		free(off);
		munmap((void *)d, size);
		return -1;
	}
	*ret = (batches){.data = d, .size = size, .off = off, .n = nb};
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
	size_t i = (size_t)ceil(p * (double)n);
	return v[i == 0 ? 0 : (i > n ? n : i) - 1];
}

static int usage(void)
{
	fprintf(stderr,
		"usage: bench-events-load --url URL --token TOKEN --file EVENTS.ndjson [--batch N]\n"
		"                         [--connections C] [--rate EVENTS_PER_SEC] [--seconds S]\n"
		"                         [--warmup S]\n"
		"  --batch N        events per request (default 1000)\n"
		"  --connections C  keep-alive connections, one thread each (default 4)\n"
		"  --rate R         open loop at R events/s (default: closed loop, flat out)\n"
		"  --seconds S      measured time (default 10), after --warmup S (default 1)\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},     {"token", required_argument, NULL, 't'},
		{"file", required_argument, NULL, 'f'},    {"batch", required_argument, NULL, 'b'},
		{"connections", required_argument, NULL, 'c'},
		{"rate", required_argument, NULL, 'r'},    {"seconds", required_argument, NULL, 's'},
		{"warmup", required_argument, NULL, 'w'},  {NULL, 0, NULL, 0}};
	opts o = {.batch = 1000, .connections = 4, .seconds = 10, .warmup = 1};
	int ch;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o.url = optarg;
			break;
		case 't':
			o.token = optarg;
			break;
		case 'f':
			o.file = optarg;
			break;
		case 'b':
			o.batch = atoi(optarg);
			break;
		case 'c':
			o.connections = atoi(optarg);
			break;
		case 'r':
			o.rate = strtod(optarg, NULL);
			break;
		case 's':
			o.seconds = strtod(optarg, NULL);
			break;
		case 'w':
			o.warmup = strtod(optarg, NULL);
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || !o.url || !o.token || !o.file || o.batch < 1 || o.connections < 1 ||
	    o.connections > CONNECTIONS_MAX || o.seconds <= 0 || o.warmup < 0 || o.rate < 0)
		return usage();
	batches b;
	if (load_batches(o.file, (size_t)o.batch, &b) != 0)
		return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	conn *c = calloc((size_t)o.connections, sizeof(*c));
	pthread_t *th = calloc((size_t)o.connections, sizeof(*th));
	if (!c || !th)
		abort();
	double t0 = now() + 0.05; /* every thread starts on the same schedule */
	for (int i = 0; i < o.connections; i++) {
		c[i] = (conn){.id = i, .o = &o, .b = &b, .t0 = t0};
		if (pthread_create(&th[i], NULL, run, &c[i]) != 0)
			abort();
	}
	size_t n = 0;
	uint64_t events = 0, errors = 0, late = 0, unsent = 0, v[ACTIONS] = {0}, sv[ACTIONS] = {0};
	double last = t0 + o.warmup;
	for (int i = 0; i < o.connections; i++) {
		pthread_join(th[i], NULL);
		n += c[i].n_lat;
		events += c[i].events;
		errors += c[i].errors;
		late += c[i].late;
		unsent += c[i].unsent;
		for (int a = 0; a < ACTIONS; a++) {
			v[a] += c[i].verdicts[a];
			sv[a] += c[i].shadow[a];
		}
		last = c[i].last_done > last ? c[i].last_done : last;
	}
	double *lat = malloc((n ? n : 1) * sizeof(double));
	if (!lat)
		abort();
	for (int i = 0, k = 0; i < o.connections; i++) {
		memcpy(lat + k, c[i].lat_ms, c[i].n_lat * sizeof(double));
		k += (int)c[i].n_lat;
		free(c[i].lat_ms);
		free(c[i].resp);
	}
	qsort(lat, n, sizeof(double), cmp_double);
	/* In open loop the run lasts its schedule, or longer when answers come late. */
	double secs = last - (t0 + o.warmup);
	if (o.rate > 0 && secs < o.seconds)
		secs = o.seconds;
	printf("mode          %s, %d connections, batches of %d events\n",
	       o.rate > 0 ? "open loop (paced)" : "closed loop (flat out)", o.connections, o.batch);
	if (o.rate > 0)
		printf("offered       %.0f events/s (%.0f requests/s)\n", o.rate, o.rate / o.batch);
	printf("requests      %zu answered in %.2f s (after %.1f s of warm-up), %llu errors", n, secs,
	       o.warmup, (unsigned long long)errors);
	if (o.rate > 0)
		printf(", %llu sent late, %llu not sent (the server fell behind)",
		       (unsigned long long)late, (unsigned long long)unsent);
	printf("\nevents/s      %.0f achieved (%llu events accepted)\n", (double)events / secs,
	       (unsigned long long)events);
	if (n)
		printf("latency ms    p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f (%s)\n",
		       pct(lat, n, 0.5), pct(lat, n, 0.9), pct(lat, n, 0.99), pct(lat, n, 0.999),
		       lat[n - 1], o.rate > 0 ? "due time to answer" : "send to answer");
	uint64_t live = 0, shadow = 0;
	printf("verdicts     ");
	for (int a = 0; a < ACTIONS; a++) {
		printf(" %s %llu", actions[a], (unsigned long long)v[a]);
		live += v[a];
		shadow += sv[a];
	}
	printf(" (%.2f%% of events); shadow %llu\n", events ? 100.0 * (double)live / (double)events : 0,
	       (unsigned long long)shadow);
	free(lat);
	free(c);
	free(th);
	free(b.off);
	munmap((void *)b.data, b.size);
	curl_global_cleanup();
	return errors ? 1 : 0;
}
