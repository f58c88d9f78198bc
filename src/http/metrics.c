/* SPDX-License-Identifier: Apache-2.0
 *
 * Per-route request counters and latency histograms, lock-free: each route has a small
 * table of status codes claimed by compare-and-swap, and fixed latency buckets. Written
 * out in Prometheus text format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Upper bounds in microseconds: 100 us .. 10 s. */
static const vg_usec bounds[VG__HTTP_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 2500000, 10000000,
};

void vg__http_metrics_init(vg_http_server *srv)
{
	srv->stats = vg_xcalloc(srv->nroutes + 1, sizeof(*srv->stats));
}

void vg__http_metrics_done(vg_http_server *srv)
{
	free(srv->stats);
	srv->stats = NULL;
}

void vg__http_metrics_record(vg_http_server *srv, int route, int status, vg_usec elapsed)
{
	struct vg__route_stats *st = &srv->stats[route >= 0 ? (size_t)route : srv->nroutes];
	for (int i = 0; i < VG__HTTP_STATUS_SLOTS; i++) {
		int cur = atomic_load(&st->status[i]);
		if (cur == 0) {
			int zero = 0;
			if (!atomic_compare_exchange_strong(&st->status[i], &zero, status))
				cur = zero;
			else
				cur = status;
		}
		if (cur == status) {
			atomic_fetch_add(&st->count[i], 1);
			break;
		}
	}
	int b = 0;
	while (b < VG__HTTP_BUCKETS && elapsed > bounds[b])
		b++;
	atomic_fetch_add(&st->bucket[b], 1);
	atomic_fetch_add(&st->sum_us, (uint64_t)(elapsed > 0 ? elapsed : 0));
}

size_t vg_http_metrics(const vg_http_server *srv, char *out, size_t size)
{
	size_t n = 0;
#define EMIT(...)                                                                \
	do {                                                                     \
		int k_ = snprintf(out + (n < size ? n : size), n < size ? size - n : 0, \
				  __VA_ARGS__);                                  \
		if (k_ > 0)                                                      \
			n += (size_t)k_;                                         \
	} while (0)
	EMIT("# HELP vigil_http_requests_total HTTP requests answered, by route, method and status.\n"
	     "# TYPE vigil_http_requests_total counter\n");
	for (size_t r = 0; r <= srv->nroutes; r++) {
		const struct vg__route_stats *st = &srv->stats[r];
		const char *route = r < srv->nroutes ? srv->routes[r].pattern : "unmatched";
		const char *method = r < srv->nroutes ? srv->routes[r].method : "";
		for (int i = 0; i < VG__HTTP_STATUS_SLOTS; i++) {
			int status = atomic_load(&st->status[i]);
			if (!status)
				break;
			EMIT("vigil_http_requests_total{route=\"%s\",method=\"%s\",status=\"%d\"} %llu\n",
			     route, method, status, (unsigned long long)atomic_load(&st->count[i]));
		}
	}
	EMIT("# HELP vigil_http_request_seconds Time from request start to response queued.\n"
	     "# TYPE vigil_http_request_seconds histogram\n");
	for (size_t r = 0; r <= srv->nroutes; r++) {
		const struct vg__route_stats *st = &srv->stats[r];
		const char *route = r < srv->nroutes ? srv->routes[r].pattern : "unmatched";
		const char *method = r < srv->nroutes ? srv->routes[r].method : "";
		uint64_t cum = 0;
		for (int b = 0; b <= VG__HTTP_BUCKETS; b++) {
			cum += atomic_load(&st->bucket[b]);
			if (b < VG__HTTP_BUCKETS)
				EMIT("vigil_http_request_seconds_bucket{route=\"%s\",method=\"%s\",le=\"%g\"} %llu\n",
				     route, method, bounds[b] / 1e6, (unsigned long long)cum);
			else
				EMIT("vigil_http_request_seconds_bucket{route=\"%s\",method=\"%s\",le=\"+Inf\"} %llu\n",
				     route, method, (unsigned long long)cum);
		}
		EMIT("vigil_http_request_seconds_sum{route=\"%s\",method=\"%s\"} %.6f\n", route, method,
		     atomic_load(&st->sum_us) / 1e6);
		EMIT("vigil_http_request_seconds_count{route=\"%s\",method=\"%s\"} %llu\n", route,
		     method, (unsigned long long)cum);
	}
#undef EMIT
	return n;
}
