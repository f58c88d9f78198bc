/* SPDX-License-Identifier: Apache-2.0
 *
 * One email attempt: an abuse-report notification (an outbox item of kind "email", its
 * target an address, its payload the JSON notification) sent as a plain-text message
 * through the configured SMTP relay with libcurl's SMTP support, in the worker's multi
 * handle next to the webhooks. The same outcomes as a webhook: done, retried with
 * backoff, or dead.
 *
 * Invariants:
 * - Only smtp:// and smtps:// relays are contacted; smtp:// upgrades with STARTTLS when
 *   the relay offers it, and TLS peers are verified (libcurl's default).
 * - Header values come from the configuration and the item's target, both checked to
 *   hold no line break, so an item cannot add headers or recipients; the body is base64,
 *   so no line of it can end the SMTP DATA phase or pass 998 bytes.
 * - The message says what the payload says (URLs, category, zone and, only where the
 *   routing put them in, the description and the reporter); nothing else is added, and
 *   the password is never written to an error.
 */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"
#include "vg_config.h"

#define MESSAGE_MAX (2u << 20) /* a notification's text is far smaller */

static bool line_safe(const char *s, size_t max)
{
	size_t n = 0;
	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f || n >= max)
			return false;
	return n > 0;
}

/* An addr-spec we can put in RCPT TO and To: one @, no spaces, brackets or breaks. The
 * zones API refuses any other contact with this same test (action.h). */
bool vg_email_address_ok(const char *a)
{
	if (!a || !line_safe(a, 254))
		return false;
	const char *at = strchr(a, '@');
	if (!at || at == a || !at[1] || strchr(at + 1, '@'))
		return false;
	return strpbrk(a, " <>,;\"()") == NULL;
}

/* A growing text; past MESSAGE_MAX it stops growing and says so. */
typedef struct text {
	char *p;
	size_t n, cap;
	bool over;
} text;

static void put(text *t, const char *fmt, ...) VG_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...)
{
	if (t->over)
		return;
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (k < 0 || t->n + (size_t)k + 1 > MESSAGE_MAX) {
		t->over = true;
		return;
	}
	if (t->n + (size_t)k + 1 > t->cap) {
		size_t cap = (t->n + (size_t)k + 1) * 2;
		char *p = realloc(t->p, cap);
		if (!p) {
			t->over = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
	va_end(ap);
	t->n += (size_t)k;
}

static const char *str(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	return v ? v : "";
}

/* The text people read, from the notification's members. */
static void body_text(text *t, json_t *p)
{
	bool forward = strcmp(str(p, "event"), "abuse_report.forward") == 0;
	put(t, "%s\n\n", forward ? "An abuse report about a site you run or host was forwarded to you."
				: "Abuse was reported on a site you run or host.");
	put(t, "Category: %s\nZone: %s\n", str(p, "category"), str(p, "zone"));
	json_t *id = json_object_get(p, "report_id");
	if (json_is_integer(id))
		put(t, "Report: %" PRId64 "\n", (int64_t)json_integer_value(id));
	id = json_object_get(p, "case_id");
	if (json_is_integer(id))
		put(t, "Case: %" PRId64 "\n", (int64_t)json_integer_value(id));
	put(t, "\nURLs:\n");
	size_t i;
	json_t *u;
	json_array_foreach(json_object_get(p, "urls"), i, u)
		put(t, "  %s\n", json_string_value(u) ? json_string_value(u) : "");
	const char *desc = json_string_value(json_object_get(p, "description"));
	if (desc)
		put(t, "\nDescription:\n%s\n", desc);
	json_t *rep = json_object_get(p, "reporter");
	if (json_is_object(rep))
		put(t, "\nReported by: %s <%s>\n", str(rep, "name"), str(rep, "email"));
	put(t, "\n-- \nSent by vigil/%s on behalf of its operator.\n", VG_VERSION);
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *userdata)
{
	vg__delivery *d = userdata;
	if (!d || d->magic != VG__DELIVERY_MAGIC)
		abort();
	size_t n = size * nitems, left = d->message_len - d->message_pos;
	if (n > left)
		n = left;
	memcpy(buf, d->message + d->message_pos, n);
	d->message_pos += n;
	return n;
}

/* Notes when RCPT TO goes out, from libcurl's trace of the commands it sends (the AUTH
 * line carries the credentials: only its first bytes are looked at, nothing is kept). */
static int on_trace(CURL *e, curl_infotype type, char *data, size_t size, void *userdata)
{
	(void)e;
	vg__delivery *d = userdata;
	if (!d || d->magic != VG__DELIVERY_MAGIC)
		abort();
	if (type == CURLINFO_HEADER_OUT && size >= 4 && !strncasecmp(data, "RCPT", 4))
		d->rcpt_sent = true;
	return 0;
}

/* The whole message: headers, then the text as base64 in 76-character lines. */
static int build(vg__delivery *d, const vg_store_outbox *item, const vg_outbox_config *cfg,
		 json_t *p, vg_usec now, vg_error *err)
{
	text body = {0}, msg = {0};
	body_text(&body, p);
	if (body.over) {
		free(body.p);
		return vg_error_set(err, VG_ETOOBIG, "notification text too long");
	}
	char date[64];
	time_t secs = (time_t)(now / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	const char *zone = str(p, "zone"), *cat = str(p, "category");
	/* Words from vigil's own tables, but checked all the same: they land in a header. */
	if (!line_safe(zone[0] ? zone : "-", 253) || !line_safe(cat[0] ? cat : "-", 32))
		zone = cat = "";
	const char *host = strchr(cfg->smtp_from, '@');
	put(&msg,
	    "From: %s\r\nTo: %s\r\nSubject: [vigil] abuse report: %s on %s\r\nDate: %s\r\n"
	    "Message-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
	    "Auto-Submitted: auto-generated\r\n\r\n",
	    cfg->smtp_from, item->target, cat, zone, date, item->idempotency_key,
	    host ? host + 1 : "vigil.invalid");
	for (size_t off = 0; off < body.n && !msg.over; off += 57) {
		unsigned char line[80];
		size_t k = body.n - off < 57 ? body.n - off : 57;
		EVP_EncodeBlock(line, (const unsigned char *)body.p + off, (int)k);
		put(&msg, "%s\r\n", line);
	}
	free(body.p);
	if (msg.over) {
		free(msg.p);
		return vg_error_set(err, VG_ETOOBIG, "message too long");
	}
	d->message = msg.p;
	d->message_len = msg.n;
	return 0;
}

int vg__email_prepare(const vg_store_outbox *item, const vg_outbox_config *cfg, vg_usec now,
		      vg__delivery **ret, vg_error *err)
{
	vg__delivery *d = vg__delivery_new(item);
	if (!d)
		return vg_error_set(err, VG_ENOMEM, "no memory for a delivery");
	d->email = true;

	if (!vg_email_address_ok(item->target)) {
		*ret = vg__delivery_unusable(d, "target is not an email address");
		return 0;
	}
	if (!vg_email_address_ok(cfg->smtp_from)) {
		/* The operator's setting, not the item's fault: keep it for when it is fixed. */
		d->outcome = VG__OUTCOME_RETRY;
		snprintf(d->error, sizeof(d->error), "smtp_from is not an email address");
		*ret = d;
		return 0;
	}
	if (!line_safe(item->idempotency_key, 64)) {
		*ret = vg__delivery_unusable(d, "idempotency key is empty or not printable");
		return 0;
	}
	json_t *p = item->payload ? json_loads(item->payload, 0, NULL) : NULL;
	if (!json_is_object(p)) {
		json_decref(p);
		*ret = vg__delivery_unusable(d, "payload is not a JSON object");
		return 0;
	}
	int rc = build(d, item, cfg, p, now, err);
	json_decref(p);
	if (rc) {
		if (rc == VG_ETOOBIG) {
			*ret = vg__delivery_unusable(d, err->msg);
			return 0;
		}
		vg__delivery_free(d);
		return rc;
	}
	char rcpt[300];
	snprintf(rcpt, sizeof(rcpt), "<%s>", item->target);
	char from[520];
	snprintf(from, sizeof(from), "<%s>", cfg->smtp_from);
	if (!(d->rcpt = curl_slist_append(NULL, rcpt))) {
		vg__delivery_free(d);
		return vg_error_set(err, VG_ENOMEM, "no memory for the recipient");
	}
	/* After a failure c stays set and the rest is skipped (e may be NULL then). */
	CURLcode c = vg__delivery_easy(d, "smtp,smtps", cfg->smtp_url, cfg->timeout_us);
	CURL *e = d->easy;
#define SET(opt, val) \
	if (c == CURLE_OK) \
	c = curl_easy_setopt(e, opt, val)
	/* STARTTLS when offered; required when we log in, since the offer itself travels in
	 * clear and an on-path attacker who strips it would get the password (and every
	 * message) otherwise. Such a relay fails the attempt, which is retried like a bad
	 * smtp_url until the operator fixes it or allows plaintext logins. */
	bool need_tls = cfg->smtp_user[0] && !cfg->smtp_plaintext_auth;
	SET(CURLOPT_USE_SSL, need_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	SET(CURLOPT_MAIL_FROM, from);
	SET(CURLOPT_MAIL_RCPT, d->rcpt);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, on_read);
	SET(CURLOPT_READDATA, (void *)d);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)d->message_len);
	/* The trace is how vg__email_finish knows which command a refusal answered. */
	SET(CURLOPT_DEBUGFUNCTION, on_trace);
	SET(CURLOPT_DEBUGDATA, (void *)d);
	SET(CURLOPT_VERBOSE, 1L);
	if (cfg->smtp_user[0]) {
		SET(CURLOPT_USERNAME, cfg->smtp_user);
		SET(CURLOPT_PASSWORD, cfg->smtp_password);
	}
#undef SET
	if (c == CURLE_URL_MALFORMAT || c == CURLE_UNSUPPORTED_PROTOCOL) {
		curl_easy_cleanup(e);
		d->easy = NULL;
		/* The relay setting is wrong, not the item: retried once it is fixed. */
		d->outcome = VG__OUTCOME_RETRY;
		snprintf(d->error, sizeof(d->error), "smtp_url is not a valid smtp:// URL");
		*ret = d;
		return 0;
	}
	if (c != CURLE_OK)
		return vg__delivery_setup_failed(d, c, err);
	*ret = d;
	return 0;
}

void vg__email_finish(vg__delivery *d, CURLcode rc)
{
	long code = 0;
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK) {
		d->outcome = VG__OUTCOME_DONE;
		return;
	}
	/* A 5xx reply to RCPT TO or DATA is the relay refusing this recipient or message
	 * for good. A refusal before that (greeting, AUTH, MAIL FROM: 553 and the like) or
	 * an authentication code wherever it comes (530, 534, 535, 538: RFC 4954) is about
	 * the operator's smtp_user, smtp_password or smtp_from, which a fix will cure, so it
	 * is retried like a bad smtp_url; so are 4xx and no reply at all (refused, TLS,
	 * timeout). */
	bool auth = rc == CURLE_LOGIN_DENIED || code == 530 || code == 534 || code == 535 ||
		    code == 538;
	bool about_message = d->rcpt_sent && !auth;
	d->outcome =
		about_message && code >= 500 && code <= 599 ? VG__OUTCOME_DEAD : VG__OUTCOME_RETRY;
	if (code)
		snprintf(d->error, sizeof(d->error), "SMTP %ld: %s", code,
			 d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
	else
		snprintf(d->error, sizeof(d->error), "%s",
			 d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
}
