/* SPDX-License-Identifier: Apache-2.0
 *
 * Retention of reporter personal data: a report's reporter name, email and client address
 * are erased once the report is older than report_retention (default 180 days). A thread
 * of `vigil serve` runs the job at start and every retention_interval; POST
 * /v1/admin/retention/run (admin) runs it at once. The report row stays, so it is still
 * counted in the transparency figures and its case keeps its history.
 *
 * The clock a test can move: the route's `now` argument (the instant the job believes it
 * is) is honoured only when the server's environment has VIGIL_TEST_CLOCK=1, and refused
 * (422) otherwise, so no token, however privileged, can make a production server erase
 * personal data before its time. With the variable set the server logs a warning at
 * start.
 *
 * Each run also deletes the rule labels that have expired (docs/rules.md): they are dead
 * rows, never loaded or listed again, which would otherwise pile up forever.
 *
 * Invariants: each run's erasure and its audit entry ("report.erase_personal_data": how
 * many, which report ids, the cut-off; never the data) commit in one transaction; the job
 * uses its own store connection and never logs personal data.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define AUDIT_IDS_MAX 1000 /* report ids named in one audit entry; the count is exact */

struct vg_api_retention {
	vg_api *api;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
};

static bool test_clock(void)
{
	const char *v = getenv("VIGIL_TEST_CLOCK");
	return v && strcmp(v, "1") == 0;
}

/* Erases what is older than the retention at `now` (the real or the test clock), and
 * the labels expired at now. */
static int run_once(vg_api *api, vg_store *s, vg_usec now, const char *actor, size_t *ret_n,
		    size_t *ret_labels, vg_error *err)
{
	vg_usec before = now - VG__CFG(api, report_retention);
	int64_t *ids = NULL;
	size_t n = 0;
	int rc = vg_store_begin(s, err);
	if (rc)
		return rc;
	rc = vg_store_report_erase(s, before, vg_time_now(), &ids, &n, err);
	if (!rc && n) {
		json_t *list = json_array();
		for (size_t i = 0; i < n && i < AUDIT_IDS_MAX; i++)
			json_array_append_new(list, json_integer((json_int_t)ids[i]));
		json_t *d = json_pack("{s:I,s:o,s:o}", "count", (json_int_t)n, "reports", list,
				      "before", vg__json_time(before));
		rc = vg__api_audit(api, s, actor, "report.erase_personal_data", "report", NULL, d,
				   err);
		json_decref(d);
	}
	rc = vg__api_finish(s, rc, err);
	free(ids);
	if (!rc) {
		if (n)
			vg_log(VG_LOG_INFO, "retention.erased", "reports=%zu", n);
		*ret_n = n;
		rc = vg_store_label_purge(s, now, ret_labels, err);
		if (!rc && *ret_labels)
			vg_log(VG_LOG_INFO, "retention.labels_purged", "labels=%zu", *ret_labels);
	}
	return rc;
}

static void *loop(void *arg)
{
	vg_api_retention *r = arg;
	vg_store *s = NULL;
	vg_error err;
	if (vg_store_open(r->api->cfg.db, &s, &err) != 0) {
		vg_log(VG_LOG_ERROR, "retention.store_failed", "msg=\"%s\"", err.msg);
		return NULL;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		pthread_mutex_unlock(&r->lock);
		size_t n, labels;
		if (run_once(r->api, s, vg_time_now(), "retention", &n, &labels, &err) != 0)
			vg_log(VG_LOG_ERROR, "retention.failed", "msg=\"%s\"", err.msg);
		pthread_mutex_lock(&r->lock);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		int64_t ns = until.tv_nsec + (r->api->cfg.retention_interval % 1000000) * 1000;
		until.tv_sec += (time_t)(r->api->cfg.retention_interval / 1000000 + ns / 1000000000);
		until.tv_nsec = (long)(ns % 1000000000);
		while (!r->stop && pthread_cond_timedwait(&r->wake, &r->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&r->lock);
	vg_store_close(s);
	return NULL;
}

vg_api_retention *vg_api_retention_start(vg_api *api)
{
	vg_api_retention *r = vg_xcalloc(1, sizeof(*r));
	r->api = api;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->wake, NULL);
	if (test_clock())
		vg_log(VG_LOG_WARN, "retention.test_clock",
		       "msg=\"VIGIL_TEST_CLOCK=1: POST /v1/admin/retention/run accepts now; never "
		       "set this in production\"");
	if (pthread_create(&r->thread, NULL, loop, r) != 0) {
		vg_log(VG_LOG_ERROR, "retention.thread_failed", NULL);
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->wake);
		free(r);
		return NULL;
	}
	return r;
}

void vg_api_retention_stop(vg_api_retention *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}

/* POST /v1/admin/retention/run[?now=RFC 3339 time] */
void vg__api_retention_run(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	vg_usec now = vg_time_now();
	const char *qnow = vg_http_query(req, "now");
	if (qnow) {
		if (!test_clock()) {
			vg_http_respond_error(req, VG_EINVAL, "now is only accepted by a server started "
							      "with VIGIL_TEST_CLOCK=1 (tests)");
			return;
		}
		if (!vg_time_parse_rfc3339(qnow, strlen(qnow), &now)) {
			vg_http_respond_error(req, VG_EINVAL,
					      "now must be an RFC 3339 time (YYYY-MM-DDTHH:MM:SSZ)");
			return;
		}
	}
	size_t n = 0, labels = 0;
	vg_error err;
	if (run_once(api, s, now, who->name, &n, &labels, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	vg__json_respond(req, 200,
			 json_pack("{s:I,s:o,s:o,s:I}", "erased", (json_int_t)n, "now",
				   vg__json_time(now), "before",
				   vg__json_time(now - VG__CFG(api, report_retention)), "labels_purged",
				   (json_int_t)labels));
}
