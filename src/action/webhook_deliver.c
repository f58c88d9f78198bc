/* SPDX-License-Identifier: Apache-2.0
 *
 * One webhook attempt: the libcurl easy handle for `POST target` with the JSON payload
 * and vigil's headers (action.h lists them), and the judgement of how it ended. The
 * worker (outbox_worker.c) runs many of these at once in its multi handle.
 *
 * Invariants:
 * - Only http:// and https:// targets are contacted (checked here, and enforced again by
 *   libcurl's protocol list); redirects are never followed, so a receiver cannot bounce
 *   a signed payload elsewhere.
 * - At most VG__RESPONSE_MAX_BYTES of an answer are read; all of it is discarded except a
 *   short printable snippet kept for last_error, which tells an operator why a receiver
 *   said no.
 * - TLS peers are verified (libcurl's default, never turned off here).
 * - The secret is used to sign and then forgotten: it is not copied into the delivery,
 *   and nothing written to error or the log can contain it.
 * - Proxies come from the standard environment variables (http_proxy, https_proxy,
 *   no_proxy), as libcurl reads them, so an egress proxy works without a vigil setting.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "vg_config.h"

vg__delivery *vg__delivery_of(CURL *easy)
{
	char *p = NULL;
	if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &p) != CURLE_OK || !p)
		abort();
	vg__delivery *d = (vg__delivery *)(void *)p;
	if (d->magic != VG__DELIVERY_MAGIC)
		abort();
	return d;
}

void vg__delivery_free(vg__delivery *d)
{
	if (!d)
		return;
	if (d->easy)
		curl_easy_cleanup(d->easy);
	curl_slist_free_all(d->headers);
	curl_slist_free_all(d->rcpt);
	free(d->message);
	d->magic = 0;
	free(d);
}

vg__delivery *vg__delivery_new(const vg_store_outbox *item)
{
	vg__delivery *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->magic = VG__DELIVERY_MAGIC;
	d->id = item->id;
	d->attempt = item->attempts + 1;
	d->outcome = VG__OUTCOME_PENDING;
	return d;
}

vg__delivery *vg__delivery_unusable(vg__delivery *d, const char *why)
{
	d->outcome = VG__OUTCOME_DEAD;
	snprintf(d->error, sizeof(d->error), "%s", why);
	return d;
}

CURLcode vg__delivery_easy(vg__delivery *d, const char *protocols, const char *url,
			   vg_usec timeout_us)
{
	CURL *e = d->easy = curl_easy_init();
	if (!e)
		return CURLE_FAILED_INIT;
	long timeout_ms = (long)((timeout_us + 999) / 1000);
	CURLcode c = CURLE_OK;
#define SET(opt, val) \
	if (c == CURLE_OK) \
	c = curl_easy_setopt(e, opt, val)
	SET(CURLOPT_PRIVATE, (void *)d);
	SET(CURLOPT_ERRORBUFFER, d->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, protocols);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
#undef SET
	return c;
}

int vg__delivery_setup_failed(vg__delivery *d, CURLcode c, vg_error *err)
{
	vg__delivery_free(d);
	if (c == CURLE_FAILED_INIT)
		return vg_error_set(err, VG_EINTERNAL, "curl_easy_init failed");
	return vg_error_set(err, c == CURLE_OUT_OF_MEMORY ? VG_ENOMEM : VG_EINTERNAL,
			    "curl_easy_setopt: %s", curl_easy_strerror(c));
}

/* Keeps a printable snippet and counts the rest; past the cap, ends the transfer (the
 * status line is already in, which is all the outcome needs). */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	vg__delivery *d = userdata;
	if (!d || d->magic != VG__DELIVERY_MAGIC)
		abort();
	size_t n = size * nmemb;
	for (size_t i = 0; i < n && d->snippet_len < VG__SNIPPET_MAX; i++) {
		unsigned char c = (unsigned char)ptr[i];
		d->snippet[d->snippet_len++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	d->snippet[d->snippet_len] = '\0';
	d->got += n;
	if (d->got > VG__RESPONSE_MAX_BYTES) {
		d->too_long = true;
		return CURL_WRITEFUNC_ERROR;
	}
	return n;
}

static bool http_url(const char *target)
{
	return target && (strncasecmp(target, "http://", 7) == 0 ||
			  strncasecmp(target, "https://", 8) == 0);
}

/* A header value must not be able to end its header line or start another. */
static bool header_safe(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static int add_header(vg__delivery *d, const char *name, const char *value)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "%s: %s", name, value);
	if (n < 0 || (size_t)n >= sizeof(line))
		return VG_EINTERNAL;
	struct curl_slist *l = curl_slist_append(d->headers, line);
	if (!l)
		return VG_ENOMEM;
	d->headers = l;
	return 0;
}

int vg__webhook_prepare(const vg_store_outbox *item, const vg_outbox_config *cfg, vg_usec now,
			vg__delivery **ret, vg_error *err)
{
	vg__delivery *d = vg__delivery_new(item);
	if (!d)
		return vg_error_set(err, VG_ENOMEM, "no memory for a delivery");

	if (!http_url(item->target)) {
		*ret = vg__delivery_unusable(d, "target is not an http:// or https:// URL");
		return 0;
	}
	if (!item->payload) {
		*ret = vg__delivery_unusable(d, "item has no payload");
		return 0;
	}
	if (!header_safe(item->idempotency_key)) {
		*ret = vg__delivery_unusable(d, "idempotency key is empty or not printable ASCII");
		return 0;
	}

	char ts[24];
	snprintf(ts, sizeof(ts), "%" PRId64, now / 1000000);
	char sig[VG_WEBHOOK_SIG_SIZE];
	bool signed_ = item->secret && *item->secret;
	if (signed_ && vg_webhook_sign(item->secret, ts, item->payload, strlen(item->payload), sig)) {
		vg__delivery_free(d);
		return vg_error_set(err, VG_EINTERNAL, "could not sign item %" PRId64, item->id);
	}

	int rc;
	if ((rc = add_header(d, "Content-Type", "application/json")) ||
	    (rc = add_header(d, "Idempotency-Key", item->idempotency_key)) ||
	    (rc = add_header(d, "X-Vigil-Timestamp", ts)) ||
	    (signed_ && (rc = add_header(d, "X-Vigil-Signature", sig))) ||
	    /* An empty Expect stops libcurl waiting for "100 Continue" on larger bodies: one
	     * round trip less, and receivers that never send it do not stall us. */
	    (rc = add_header(d, "Expect", ""))) {
		vg__delivery_free(d);
		return vg_error_set(err, rc, "could not build the headers");
	}

	/* After a failure c stays set and the rest is skipped (e may be NULL then). */
	CURLcode c = vg__delivery_easy(d, "http,https", item->target, cfg->timeout_us);
	CURL *e = d->easy;
#define SET(opt, val) \
	if (c == CURLE_OK) \
	c = curl_easy_setopt(e, opt, val)
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_USERAGENT, "vigil/" VG_VERSION);
	SET(CURLOPT_HTTPHEADER, d->headers);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(item->payload));
	SET(CURLOPT_COPYPOSTFIELDS, item->payload);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)VG__RESPONSE_MAX_BYTES);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)d);
#undef SET
	if (c == CURLE_URL_MALFORMAT || c == CURLE_UNSUPPORTED_PROTOCOL) {
		/* libcurl checks the URL when it is set: a bad one is the item's fault. */
		curl_easy_cleanup(e);
		d->easy = NULL;
		*ret = vg__delivery_unusable(d, "target is not a valid URL");
		return 0;
	}
	if (c != CURLE_OK)
		return vg__delivery_setup_failed(d, c, err);
	*ret = d;
	return 0;
}

void vg__webhook_finish(vg__delivery *d, CURLcode rc)
{
	long status = 0;
	curl_off_t retry_after = 0;
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(d->easy, CURLINFO_RETRY_AFTER, &retry_after);

	/* A final status line means the receiver answered; what happened to the body after
	 * it (cut off by our cap, a stall past the timeout) does not change that answer.
	 * libcurl also reports an interim 1xx (100 Continue, 102 Processing, 103 Early
	 * Hints) as the response code: that is no answer yet, and a transfer that ended
	 * after one (a timeout, a reset) must be retried like any other silence, not be
	 * judged dead by the status table. */
	if (status >= 200) {
		d->outcome = vg__outbox_status_outcome(status);
		if (retry_after > 0 && d->outcome == VG__OUTCOME_RETRY) {
			/* a day at most before the multiplication; the worker caps it further */
			if (retry_after > 86400)
				retry_after = 86400;
			d->retry_after_us = (vg_usec)retry_after * 1000000;
		}
		int n = snprintf(d->error, sizeof(d->error), "HTTP %ld", status);
		if (d->retry_after_us && n > 0 && (size_t)n < sizeof(d->error))
			n += snprintf(d->error + n, sizeof(d->error) - (size_t)n,
				      " (Retry-After %" PRId64 " s)", d->retry_after_us / 1000000);
		if (d->snippet_len && n > 0 && (size_t)n < sizeof(d->error))
			snprintf(d->error + n, sizeof(d->error) - (size_t)n, ": %s", d->snippet);
		return;
	}
	/* No answer at all. A URL libcurl cannot use will never work; everything else
	 * (refused, reset, DNS, TLS, timeout) may be better next time. */
	d->outcome = (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
			     ? VG__OUTCOME_DEAD
			     : VG__OUTCOME_RETRY;
	int n = snprintf(d->error, sizeof(d->error), "%s",
			 d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
	if (rc == CURLE_OK) /* cannot happen over HTTP; kept so the outcome stays sane */
		n = snprintf(d->error, sizeof(d->error), "no final HTTP status in the answer");
	if (status >= 100 && n > 0 && (size_t)n < sizeof(d->error))
		snprintf(d->error + n, sizeof(d->error) - (size_t)n, " (after HTTP %ld)", status);
}
