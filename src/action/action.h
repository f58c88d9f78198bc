/* SPDX-License-Identifier: Apache-2.0
 *
 * action: what vigil does once something matched. Today that is webhook delivery from
 * the durable outbox; the block list, review cases and the audit log will join it here.
 *
 * The outbox is a table in the store. Whoever decides on an action (a bank match, a
 * report, a rule) writes an outbox item in the same transaction as the decision, so an
 * acknowledged decision always has its action recorded. The outbox worker below then
 * delivers `webhook` items in the background:
 *
 *   POST <target>
 *   Content-Type: application/json
 *   User-Agent: vigil/<version>
 *   Idempotency-Key: <the item's idempotency key, the same on every attempt>
 *   X-Vigil-Timestamp: <Unix seconds when this attempt was sent>
 *   X-Vigil-Signature: sha256=<lower-case hex HMAC-SHA256(secret, timestamp "." body)>
 *
 * `email` items are sent through the SMTP relay of vg_outbox_config.smtp_url (when set)
 * as one plain-text message to the item's target address, with the same retry rules: a
 * 2xx/3xx SMTP reply to the whole transaction is done, a 5xx reply to RCPT TO or DATA is
 * dead, anything else (4xx, a refused AUTH or MAIL FROM: the operator's settings, no
 * connection, a timeout) is retried (email_deliver.c).
 *
 * The signature header is sent only when the item has a secret. A receiver recomputes
 * the HMAC over the timestamp header, one ASCII dot and the raw body bytes, compares in
 * constant time and rejects old timestamps (docs/webhooks.md, with a Python example).
 *
 * Outcome of one attempt:
 * - 2xx: done.
 * - a network error, a timeout, 408, 429 or 5xx: retried after an exponential backoff
 *   with jitter (vg_outbox_backoff), or after the response's Retry-After when that is
 *   longer; dead once max_attempts attempts have failed, with the last error kept.
 * - any other status (3xx: redirects are never followed; 4xx: the receiver refused
 *   the item), a target that is not http:// or https://, or an unusable item: dead at
 *   once.
 *
 * Invariants:
 * - At least once: an item is marked done only after a 2xx. A crash between the 2xx and
 *   that mark delivers it again, with the same Idempotency-Key, so receivers can drop
 *   the repeat.
 * - Never twice at the same time: a worker claims an item in the store, under the write
 *   lock and for a lease longer than one attempt can last, before it starts an attempt;
 *   committing the outcome ends the claim. So this holds across workers, processes and
 *   servers sharing one database. A worker that dies holding items loses them when
 *   their lease ends (the attempt timeout plus 10 s), and they are sent again.
 * - `authority_report` items are drafts for a person to check and submit to the
 *   child-protection authority themselves. They are not deliveries: the worker never
 *   claims, sends, retries or kills them; they stay pending until a person acts.
 * - Only the item's id, attempt count and error text are written back; payloads and
 *   secrets are never logged, and secrets never appear in an error text.
 */
#ifndef VG_ACTION_H
#define VG_ACTION_H

#include "util/util.h"

/* ---- webhook signatures ---------------------------------------------------------- */

/* "sha256=" + 64 hex digits + NUL */
#define VG_WEBHOOK_SIG_SIZE 72

/* Writes "sha256=<lower-case hex HMAC-SHA256(secret, timestamp "." body[0..len))>" and a
 * NUL to out. Pure and thread-safe; the API (to show receivers what to expect) and the
 * tests share it with the worker. Errors: VG_EINVAL (secret or timestamp NULL or empty,
 * body NULL with len > 0), VG_EINTERNAL (OpenSSL failed). out is untouched on error. */
VG_EXPORT VG_MUST_CHECK int vg_webhook_sign(const char *secret, const char *timestamp,
					    const char *body, size_t len,
					    char out[VG_WEBHOOK_SIG_SIZE]);

/* Whether signature (the X-Vigil-Signature header's value) is the one vg_webhook_sign
 * gives for these inputs. The comparison takes the same time wherever the first
 * difference is. It does not judge the timestamp's age: that is the caller's policy. */
VG_EXPORT bool vg_webhook_verify(const char *secret, const char *timestamp, const char *body,
				 size_t len, const char *signature);

/* ---- email addresses -------------------------------------------------------------- */

/* Whether addr is an address an email item can be sent to: one addr-spec (local@domain)
 * that goes into RCPT TO and To: as it is, 1 to 254 bytes, one '@' with something on
 * either side, no control character, space, or any of <>,;"(). So no display name
 * ("Abuse <a@b>"), no list ("a@b, c@d"), no header injection. Whoever stores an email
 * contact checks it with this, so an address the worker would refuse is refused when it
 * is set, not found dead later. Pure, thread-safe. */
VG_EXPORT bool vg_email_address_ok(const char *addr);

/* ---- retry policy ---------------------------------------------------------------- */

/* The delay before the next attempt once `attempts` attempts (>= 1) have failed:
 * base = first_us * 2^(attempts - 1), capped at max_us; the delay is uniform in
 * [base / 2, base] ("full jitter" over the upper half, picked by rnd, any 64-bit random
 * value). When the receiver asked for retry_after_us (> 0, from Retry-After) and that is
 * longer, it wins. The result never exceeds max_us and is at least 1. Pure. */
VG_EXPORT vg_usec vg_outbox_backoff(vg_usec first_us, vg_usec max_us, int attempts, uint64_t rnd,
				    vg_usec retry_after_us);

/* ---- the outbox worker ----------------------------------------------------------- */

typedef struct vg_outbox_config {
	const char *db_path;     /* the store to deliver from; borrowed during start only */
	int max_attempts;        /* attempts before an item is dead (8) */
	vg_usec first_backoff_us; /* delay after the first failure (1 s) */
	vg_usec max_backoff_us;  /* longest delay between two attempts (1 h) */
	vg_usec timeout_us;      /* one attempt, connecting included (10 s) */
	int concurrency;         /* attempts in flight at once (16) */
	vg_usec poll_interval_us; /* how often the store is asked for due items when not
				    kicked (250 ms); retries the worker scheduled itself
				    wake it on time regardless */
	/* Email items (kind "email": target an address, payload a JSON notification) go
	 * through this SMTP relay (smtp://host:port, STARTTLS when offered, required with a
	 * smtp_user unless smtp_plaintext_auth; smtps:// for TLS
	 * from the start); "" leaves them pending, unclaimed. smtp_from is the envelope
	 * sender and From; smtp_user "" means no authentication. Copied with the config. */
	char smtp_url[512];
	char smtp_from[512];
	char smtp_user[512];
	char smtp_password[512];
	/* With smtp_user set, TLS is required (STARTTLS over smtp://) unless this is true:
	 * the password and the messages must not cross the network in clear because an
	 * on-path attacker stripped STARTTLS from the relay's answer. */
	bool smtp_plaintext_auth;
} vg_outbox_config;

/* Fills the defaults above; db_path becomes NULL (the caller must set it). */
VG_EXPORT void vg_outbox_config_init(vg_outbox_config *cfg);

typedef struct vg_outbox_worker vg_outbox_worker;

/* Counters since start, for /metrics. */
typedef struct vg_outbox_stats {
	uint64_t delivered; /* attempts answered 2xx (items done) */
	uint64_t retried;   /* attempts that failed and were rescheduled */
	uint64_t dead;      /* items given up on */
	uint64_t store_errors; /* outcomes that could not be written at once (kept and
				  written again later; the item stays claimed meanwhile) */
	uint64_t in_flight; /* attempts running now */
} vg_outbox_stats;

/* Opens its own connection to cfg->db_path (a vg_store is one thread's) and starts the
 * worker thread, which claims due webhook items oldest first and delivers up to
 * cfg->concurrency of them at once from that one thread (libcurl's multi interface).
 * Errors: VG_EINVAL (a setting out of range: attempts < 1, a backoff <= 0 or max <
 * first, timeout < 1 ms, concurrency outside 1..1024, poll interval <= 0), the store's
 * errors from opening, VG_EINTERNAL (libcurl or the thread could not start). */
VG_EXPORT VG_MUST_CHECK int vg_outbox_worker_start(const vg_outbox_config *cfg,
						   vg_outbox_worker **ret, vg_error *err);

/* Changes the delivery policy of a running worker (SIGHUP): max_attempts,
 * first_backoff_us, max_backoff_us and timeout_us are taken from cfg, the rest of cfg is
 * ignored. The worker applies them at its next loop turn: attempts starting from then on
 * use the new timeout (and their claims its lease), and every outcome recorded from then
 * on the new attempt limit and backoff; an attempt in flight keeps the timeout it started
 * with. Errors: VG_EINVAL (a setting out of vg_outbox_worker_start's range; nothing
 * changes). Thread-safe; NULL w is fine. */
VG_EXPORT VG_MUST_CHECK int vg_outbox_worker_set_policy(vg_outbox_worker *w,
							const vg_outbox_config *cfg,
							vg_error *err);

/* Wakes the worker now, so an item enqueued (and committed) just before is sent without
 * waiting for the next poll. Cheap, thread-safe, never blocks; NULL is fine. */
VG_EXPORT void vg_outbox_worker_kick(vg_outbox_worker *w);

/* Thread-safe snapshot of the counters. */
VG_EXPORT void vg_outbox_worker_stats(vg_outbox_worker *w, vg_outbox_stats *ret);

/* Stops taking items, lets the attempts in flight finish (each is bounded by the
 * timeout, and the wait by the timeout plus a second), records their outcomes, joins
 * the thread, closes the store and frees the worker. An attempt cut short stays pending
 * with its attempt count unchanged and is sent again after a restart. NULL is fine.
 * Not to be called twice, nor concurrently with the other calls on the same worker. */
VG_EXPORT void vg_outbox_worker_stop(vg_outbox_worker *w);

#endif
