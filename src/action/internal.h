/* SPDX-License-Identifier: Apache-2.0
 *
 * action's private parts, shared by its files only: one webhook attempt (a vg__delivery,
 * built and judged by webhook_deliver.c, scheduled by outbox_worker.c) and the policy
 * that maps an HTTP status to an outcome. Only files in src/action/ include this
 * header; it is the one place outside the worker that sees libcurl.
 *
 * Invariant: a vg__delivery travels through libcurl as a void * (CURLOPT_PRIVATE, the
 * write callback's userdata) and carries VG__DELIVERY_MAGIC, checked every time it
 * comes back; a mismatch aborts rather than writes through a stray pointer.
 */
#ifndef VG__ACTION_INTERNAL_H
#define VG__ACTION_INTERNAL_H

#include <curl/curl.h>

#include "action.h"
#include "store/store.h"

#define VG__DELIVERY_MAGIC 0x7667776bu /* "vgwk" */
#define VG__RESPONSE_MAX_BYTES (64u << 10) /* read at most this much of an answer */
#define VG__SNIPPET_MAX 200 /* bytes of an answer kept in last_error */

typedef enum {
	VG__OUTCOME_PENDING, /* the attempt is still running */
	VG__OUTCOME_DONE,    /* 2xx */
	VG__OUTCOME_RETRY,   /* worth another attempt later */
	VG__OUTCOME_DEAD,    /* never worth another attempt */
} vg__outcome;

/* What a final HTTP status means for the item (action.h lists the rules). */
vg__outcome vg__outbox_status_outcome(long status);

/* One attempt at one item, from its start until its outcome is in the store. */
typedef struct vg__delivery {
	uint32_t magic;
	CURL *easy; /* NULL when the item was judged unusable before sending */
	struct curl_slist *headers;
	int64_t id;
	int attempt; /* this attempt's number, from 1 */
	/* the answer, as it arrives */
	size_t got;    /* response body bytes seen (all discarded past the snippet) */
	bool too_long; /* the body passed VG__RESPONSE_MAX_BYTES and was cut off */
	char snippet[VG__SNIPPET_MAX + 1];
	size_t snippet_len;
	char errbuf[CURL_ERROR_SIZE];
	/* the outcome, once known */
	vg__outcome outcome;
	vg_usec retry_after_us; /* the receiver's Retry-After, 0 when none */
	vg_usec next_at;        /* wall clock, for VG__OUTCOME_RETRY */
	char error[512];        /* becomes last_error; never holds the secret */
	/* email items only (email_deliver.c): the message libcurl reads, and the recipient */
	bool email;
	char *message;
	size_t message_len, message_pos;
	struct curl_slist *rcpt;
	bool rcpt_sent; /* RCPT TO went out: a 5xx from now on is about this message */
} vg__delivery;

/* Builds the POST for one attempt at item (a webhook) at wall-clock time now, signing
 * it when the item has a secret. On return 0, *ret is new: either with an easy handle
 * ready for the multi handle, or, for an item no attempt could ever deliver (a target
 * that is not http(s), no payload, an idempotency key unfit for a header), with no easy
 * handle and outcome VG__OUTCOME_DEAD and the reason in error. Errors (the item is left
 * alone, to be tried at the next poll): VG_ENOMEM, VG_EINTERNAL (libcurl). */
int vg__webhook_prepare(const vg_store_outbox *item, const vg_outbox_config *cfg, vg_usec now,
			vg__delivery **ret, vg_error *err);

/* Judges a finished transfer (rc is libcurl's result for it): sets outcome, error and
 * retry_after_us. The attempt-count limit and the backoff are the worker's to apply. */
void vg__webhook_finish(vg__delivery *d, CURLcode rc);

/* The delivery behind an easy handle, its magic checked (abort on a mismatch). */
vg__delivery *vg__delivery_of(CURL *easy);

/* Frees the delivery and its easy handle, which must no longer be in a multi handle.
 * NULL is fine. */
void vg__delivery_free(vg__delivery *d);

/* ---- what a webhook and an email attempt build alike (webhook_deliver.c) ---------------- */

/* A new pending delivery for the item's next attempt, without an easy handle; NULL when
 * out of memory. */
vg__delivery *vg__delivery_new(const vg_store_outbox *item);

/* Judges d dead for why (copied into error) without contacting anyone; returns d. */
vg__delivery *vg__delivery_unusable(vg__delivery *d, const char *why);

/* Makes d->easy with the options every attempt sets: d as its private pointer, its error
 * buffer, no signals, only the comma-separated protocols, url, and timeout_us (rounded up
 * to whole milliseconds) for the whole transfer and again for connecting. Returns
 * CURLE_OK; CURLE_FAILED_INIT when no handle could be made (d->easy stays NULL); or the
 * code of the first option libcurl refused (CURLE_URL_MALFORMAT or
 * CURLE_UNSUPPORTED_PROTOCOL: url is bad), the rest left unset. */
CURLcode vg__delivery_easy(vg__delivery *d, const char *protocols, const char *url,
			   vg_usec timeout_us);

/* For a libcurl failure c while building d (not one of a bad URL): frees d and returns
 * VG_ENOMEM or VG_EINTERNAL with libcurl's reason in err. */
int vg__delivery_setup_failed(vg__delivery *d, CURLcode c, vg_error *err);

/* An email attempt (email_deliver.c), with the same contract as vg__webhook_prepare:
 * an item whose target is no address or whose payload is no JSON object is judged dead
 * without an easy handle. */
int vg__email_prepare(const vg_store_outbox *item, const vg_outbox_config *cfg, vg_usec now,
		      vg__delivery **ret, vg_error *err);
/* Judges a finished SMTP transaction (rc is libcurl's result). */
void vg__email_finish(vg__delivery *d, CURLcode rc);

#endif
