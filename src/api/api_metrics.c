/* SPDX-License-Identifier: Apache-2.0
 *
 * The API's own metrics: matches by bank (a small table under a mutex: banks are few and
 * matches rare next to requests) and outbox depth by state (read from the store when
 * /metrics is scraped).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_BANKS 1024

struct vg__match_counts {
	pthread_mutex_t mu;
	size_t n;
	struct {
		char bank[VG_STORE_NAME_MAX + 1];
		uint64_t count;
	} v[MAX_BANKS];
};

static struct vg__match_counts *counts(vg_api *api)
{
	/* Created on first use; api_metrics_init is not worth a separate call. */
	static pthread_mutex_t init = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&init);
	if (!api->match_counts) {
		api->match_counts = vg_xcalloc(1, sizeof(*api->match_counts));
		pthread_mutex_init(&api->match_counts->mu, NULL);
	}
	pthread_mutex_unlock(&init);
	return api->match_counts;
}

void vg__api_count_match(vg_api *api, const char *bank)
{
	struct vg__match_counts *c = counts(api);
	pthread_mutex_lock(&c->mu);
	size_t i = 0;
	while (i < c->n && strcmp(c->v[i].bank, bank) != 0)
		i++;
	if (i == c->n && c->n < MAX_BANKS)
		snprintf(c->v[c->n++].bank, sizeof(c->v[0].bank), "%s", bank);
	if (i < c->n)
		c->v[i].count++;
	pthread_mutex_unlock(&c->mu);
}

void vg__api_metrics_extra(vg_api *api, vg_http_req *req, char *out, size_t cap, size_t *len)
{
	size_t m = *len;
#define EMIT(...)                                                               \
	do {                                                                    \
		int k_ = snprintf(out + m, m < cap ? cap - m : 0, __VA_ARGS__); \
		if (k_ > 0 && m + (size_t)k_ < cap)                             \
			m += (size_t)k_;                                        \
	} while (0)
	struct vg__match_counts *c = counts(api);
	EMIT("# HELP vigil_matches_total Signals matched, by bank.\n# TYPE vigil_matches_total counter\n");
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		EMIT("vigil_matches_total{bank=\"%s\"} %llu\n", c->v[i].bank,
		     (unsigned long long)c->v[i].count);
	pthread_mutex_unlock(&c->mu);

	vg_store *s = vg__api_store(api, NULL);
	size_t pending = 0, done = 0, dead = 0;
	vg_error err;
	if (s && vg_store_outbox_counts(s, &pending, &done, &dead, &err) == 0)
		EMIT("# HELP vigil_outbox_items Outbox items by state.\n# TYPE vigil_outbox_items gauge\n"
		     "vigil_outbox_items{state=\"pending\"} %zu\nvigil_outbox_items{state=\"done\"} %zu\n"
		     "vigil_outbox_items{state=\"dead\"} %zu\n",
		     pending, done, dead);
	if (api->outbox) {
		vg_outbox_stats st;
		vg_outbox_worker_stats(api->outbox, &st);
		EMIT("# HELP vigil_outbox_deliveries_total Webhook delivery attempts, by outcome.\n"
		     "# TYPE vigil_outbox_deliveries_total counter\n"
		     "vigil_outbox_deliveries_total{outcome=\"delivered\"} %llu\n"
		     "vigil_outbox_deliveries_total{outcome=\"retried\"} %llu\n"
		     "vigil_outbox_deliveries_total{outcome=\"dead\"} %llu\n"
		     "# HELP vigil_outbox_in_flight Webhook deliveries under way.\n"
		     "# TYPE vigil_outbox_in_flight gauge\nvigil_outbox_in_flight %llu\n",
		     (unsigned long long)st.delivered, (unsigned long long)st.retried,
		     (unsigned long long)st.dead, (unsigned long long)st.in_flight);
	}
#undef EMIT
	*len = m;
	vg__api_rules_metrics(api, out, cap, len);
}

void vg__api_metrics_done(vg_api *api)
{
	if (!api->match_counts)
		return;
	pthread_mutex_destroy(&api->match_counts->mu);
	free(api->match_counts);
	api->match_counts = NULL;
}
