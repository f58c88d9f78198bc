/* SPDX-License-Identifier: Apache-2.0
 *
 * The storage interface's front: picks the backend for a path and forwards each call to
 * it, so callers never know which database they talk to. The contracts are in store.h;
 * checks every backend would repeat (lengths, NULLs) are made once here.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *vg_store_resolve_path(const char *flag)
{
	if (flag && *flag)
		return flag;
	const char *env = getenv("VIGIL_DB");
	if (env && *env)
		return env;
	return VG_STORE_DEFAULT_PATH;
}

int vg_store_open(const char *path, vg_store **ret, vg_error *err)
{
	if (!path || !*path)
		return vg_error_set(err, VG_EINVAL, "empty database path");
	/* postgres:// URLs will pick the PostgreSQL backend here. */
	return vg__store_sqlite_open(path, true, ret, err);
}

int vg_store_open_existing(const char *path, vg_store **ret, vg_error *err)
{
	if (!path || !*path)
		return vg_error_set(err, VG_EINVAL, "empty database path");
	return vg__store_sqlite_open(path, false, ret, err);
}

void vg_store_close(vg_store *s)
{
	if (s)
		s->ops->close(s);
}

int vg_store_schema_version(vg_store *s, int *ret, vg_error *err)
{
	return s->ops->schema_version(s, ret, err);
}

int vg_store_begin(vg_store *s, vg_error *err)
{
	return s->ops->begin(s, err);
}

int vg_store_commit(vg_store *s, vg_error *err)
{
	return s->ops->commit(s, err);
}

void vg_store_rollback(vg_store *s)
{
	s->ops->rollback(s);
}

int vg_store_watermark_get(vg_store *s, vg_store_watermark *ret, vg_error *err)
{
	return s->ops->watermark_get(s, ret, err);
}

int64_t vg_store_committed_seq(const vg_store *s)
{
	return s->ops->committed_seq(s);
}

static int check_name(const char *name, vg_error *err)
{
	if (!name || !*name || strlen(name) > VG_STORE_NAME_MAX)
		return vg_error_set(err, VG_EINVAL, "bank name must be 1 to %d bytes",
				    VG_STORE_NAME_MAX);
	return 0;
}

void vg_store_bank_done(vg_store_bank *b)
{
	if (!b)
		return;
	free(b->description);
	free(b->actions);
	free(b->webhook_url);
	free(b->webhook_secret);
	b->description = b->actions = b->webhook_url = b->webhook_secret = NULL;
}

int vg_store_bank_create(vg_store *s, const char *name, const char *description, vg_error *err)
{
	int rc = check_name(name, err);
	if (rc)
		return rc;
	return s->ops->bank_create(s, name, description ? description : "", err);
}

int vg_store_bank_get(vg_store *s, const char *name, vg_store_bank *ret, vg_error *err)
{
	int rc = check_name(name, err);
	if (rc)
		return rc == VG_EINVAL ? vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name) : rc;
	return s->ops->bank_get(s, name, ret, err);
}

int vg_store_bank_list(vg_store *s, vg_store_bank **ret_banks, size_t *ret_n, vg_error *err)
{
	return s->ops->bank_list(s, ret_banks, ret_n, err);
}

void vg_store_bank_list_free(vg_store_bank *banks, size_t n)
{
	for (size_t i = 0; banks && i < n; i++)
		vg_store_bank_done(&banks[i]);
	free(banks);
}

int vg_store_bank_delete(vg_store *s, const char *name, vg_error *err)
{
	if (check_name(name, NULL))
		return vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name ? name : "");
	return s->ops->bank_delete(s, name, err);
}

int vg_store_bank_set_enabled(vg_store *s, const char *name, bool enabled, vg_error *err)
{
	if (check_name(name, NULL))
		return vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name ? name : "");
	return s->ops->bank_set_enabled(s, name, enabled, err);
}

int vg_store_signal_add(vg_store *s, int64_t bank_id, const char *type, const char *value,
			const char *metadata, int64_t *ret_id, vg_store_add_result *ret_result,
			vg_error *err)
{
	if (!type || strlen(type) > VG_STORE_TYPE_MAX || !value || !*value ||
	    strlen(value) > VG_STORE_VALUE_MAX)
		return vg_error_set(err, VG_EINVAL, "signal type or value out of bounds");
	return s->ops->signal_add(s, bank_id, type, value, metadata, ret_id, ret_result, err);
}

int vg_store_signal_remove(vg_store *s, int64_t bank_id, const char *type, const char *value,
			   size_t *ret_removed, vg_error *err)
{
	if (!value || strlen(value) > VG_STORE_VALUE_MAX) {
		*ret_removed = 0;
		return 0;
	}
	return s->ops->signal_remove(s, bank_id, type, value, ret_removed, err);
}

int vg_store_signal_get(vg_store *s, int64_t id, vg_store_signal *ret, vg_error *err)
{
	return s->ops->signal_get(s, id, ret, err);
}

void vg_store_signal_done(vg_store_signal *sig)
{
	if (!sig)
		return;
	free(sig->value);
	free(sig->metadata);
	sig->value = sig->metadata = NULL;
}

int vg_store_signal_each(vg_store *s, const vg_store_filter *filter, vg_store_signal_fn *fn,
			 void *ctx, vg_error *err)
{
	static const vg_store_filter all_enabled = {0};
	return s->ops->signal_each(s, filter ? filter : &all_enabled, fn, ctx, err);
}

/* ==== the scanning service (store.h's last section) ===================================
 * Presence and bounds are checked here once for every backend; what the database
 * enforces (uniqueness, foreign keys, the one-open-case rule) is the backend's. */

/* NULL, shorter than min or longer than max bytes: VG_EINVAL naming what. */
static int check_str(const char *v, size_t min, size_t max, const char *what, vg_error *err)
{
	size_t n = v ? strlen(v) : 0;
	if (!v || n < min || n > max)
		return vg_error_set(err, VG_EINVAL, "%s must be %zu to %zu bytes", what, min, max);
	return 0;
}

/* Optional text: NULL is fine, longer than max is not. */
static int check_opt(const char *v, size_t max, const char *what, vg_error *err)
{
	if (v && strlen(v) > max)
		return vg_error_set(err, VG_EINVAL, "%s is longer than %zu bytes", what, max);
	return 0;
}

/* JSON text of an object ('{') or array ('['): only the outer delimiters are checked,
 * the caller (the API, with jansson) builds or validates the rest. Catches the usual
 * mistake of passing a bare string or a truncated buffer. */
static int check_json(const char *v, char open, char close, const char *what, vg_error *err)
{
	size_t n = strlen(v);
	if (n > VG_STORE_JSON_MAX)
		return vg_error_set(err, VG_ETOOBIG, "%s is longer than %d bytes", what,
				    VG_STORE_JSON_MAX);
	size_t a = 0, b = n;
	while (a < n && strchr(" \t\r\n", v[a]))
		a++;
	while (b > a && strchr(" \t\r\n", v[b - 1]))
		b--;
	if (b - a < 2 || v[a] != open || v[b - 1] != close)
		return vg_error_set(err, VG_EINVAL, "%s must be a JSON %s", what,
				    open == '{' ? "object" : "array");
	return 0;
}

static bool is_lower_hex(const char *v, size_t len)
{
	if (!v || strlen(v) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return false;
	return true;
}

/* ---- tokens ------------------------------------------------------------------------ */

static const char *const roles[] = {"admin", "analyst", "scanner", "intake", "ingest"};

static bool role_known(const char *role)
{
	for (size_t i = 0; i < VG_ARRAY_LEN(roles); i++)
		if (strcmp(roles[i], role) == 0)
			return true;
	return false;
}

int vg_store_token_create(vg_store *s, const char *name, const char *role, const char *hash_hex,
			  int64_t *ret_id, vg_error *err)
{
	int rc = check_str(name, 1, VG_STORE_NAME_MAX, "token name", err);
	if (rc)
		return rc;
	if (!role || !role_known(role))
		return vg_error_set(err, VG_EINVAL,
				    "role must be admin, analyst, scanner, intake or ingest");
	if (!is_lower_hex(hash_hex, 64))
		return vg_error_set(err, VG_EINVAL, "token hash must be 64 lower-case hex digits");
	return s->ops->service->token_create(s, name, role, hash_hex, ret_id, err);
}

int vg_store_token_by_hash(vg_store *s, const char *hash_hex, vg_store_token *ret, vg_error *err)
{
	/* Nothing stored looks otherwise, so a malformed digest is simply unknown. */
	if (!is_lower_hex(hash_hex, 64))
		return vg_error_set(err, VG_ENOENT, "no such token");
	return s->ops->service->token_by_hash(s, hash_hex, ret, err);
}

int vg_store_token_list(vg_store *s, vg_store_token **ret, size_t *ret_n, vg_error *err)
{
	return s->ops->service->token_list(s, ret, ret_n, err);
}

int vg_store_token_revoke(vg_store *s, const char *name, vg_error *err)
{
	if (check_str(name, 1, VG_STORE_NAME_MAX, "token name", NULL))
		return vg_error_set(err, VG_ENOENT, "no live token '%.64s'", name ? name : "");
	return s->ops->service->token_revoke(s, name, err);
}

int vg_store_token_count_live(vg_store *s, const char *role, size_t *ret, vg_error *err)
{
	if (role && !role_known(role)) {
		*ret = 0;
		return 0;
	}
	return s->ops->service->token_count_live(s, role, ret, err);
}

/* ---- audit --------------------------------------------------------------------------- */

static void digest_field(EVP_MD_CTX *ctx, const char *v, bool newline)
{
	if (v)
		EVP_DigestUpdate(ctx, v, strlen(v));
	if (newline)
		EVP_DigestUpdate(ctx, "\n", 1);
}

void vg_store_audit_hash(const vg_store_audit *a, char out[65])
{
	/* The layout is the chain's format, written down in store.h: changing it would turn
	 * every existing log into a broken one. */
	char num[2][24];
	snprintf(num[0], sizeof(num[0]), "%lld", (long long)a->id);
	snprintf(num[1], sizeof(num[1]), "%lld", (long long)a->at);
	uint8_t md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		abort(); /* a small fixed allocation, or a libcrypto without SHA-256 */
	digest_field(ctx, a->prev_hash, true);
	digest_field(ctx, num[0], true);
	digest_field(ctx, num[1], true);
	digest_field(ctx, a->actor, true);
	digest_field(ctx, a->action, true);
	digest_field(ctx, a->object_type, true);
	digest_field(ctx, a->object_id, true);
	digest_field(ctx, a->detail, false);
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != sizeof(md))
		abort();
	EVP_MD_CTX_free(ctx);
	vg_hex_encode(md, sizeof(md), out);
}

int vg_store_audit_append(vg_store *s, const char *actor, const char *action,
			  const char *object_type, const char *object_id, const char *detail_json,
			  int64_t *ret_id, vg_error *err)
{
	int rc;
	if ((rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "audit actor", err)) ||
	    (rc = check_str(action, 1, VG_STORE_WORD_MAX, "audit action", err)) ||
	    (rc = check_opt(object_type, VG_STORE_WORD_MAX, "audit object type", err)) ||
	    (rc = check_opt(object_id, VG_STORE_VALUE_MAX, "audit object id", err)))
		return rc;
	if (detail_json && (rc = check_json(detail_json, '{', '}', "audit detail", err)))
		return rc;
	int64_t id = 0;
	rc = s->ops->service->audit_append(s, actor, action, object_type ? object_type : "",
					   object_id ? object_id : "",
					   detail_json ? detail_json : "{}", &id, err);
	if (rc == 0 && ret_id)
		*ret_id = id;
	return rc;
}

int vg_store_audit_list(vg_store *s, int64_t after_id, size_t limit, vg_store_audit **ret,
			size_t *ret_n, vg_error *err)
{
	return s->ops->service->audit_list(s, after_id, limit, ret, ret_n, err);
}

void vg_store_audit_list_free(vg_store_audit *a, size_t n)
{
	for (size_t i = 0; a && i < n; i++) {
		free(a[i].actor);
		free(a[i].action);
		free(a[i].object_type);
		free(a[i].object_id);
		free(a[i].detail);
	}
	free(a);
}

int vg_store_audit_verify(vg_store *s, size_t *ret_count, int64_t *ret_bad_id, vg_error *err)
{
	return s->ops->service->audit_verify(s, ret_count, ret_bad_id, err);
}

/* ---- bank actions ------------------------------------------------------------------ */

int vg_store_bank_update(vg_store *s, const char *name, const vg_store_bank_patch *patch,
			 vg_error *err)
{
	static const vg_store_bank_patch nothing = {0};
	int rc;
	if (check_name(name, NULL))
		return vg_error_set(err, VG_ENOENT, "no bank '%.64s'", name ? name : "");
	if (!patch)
		patch = &nothing;
	if ((rc = check_opt(patch->description, VG_STORE_TEXT_MAX, "description", err)) ||
	    (rc = check_opt(patch->webhook_url, VG_STORE_VALUE_MAX, "webhook url", err)) ||
	    (rc = check_opt(patch->webhook_secret, VG_STORE_TEXT_MAX, "webhook secret", err)))
		return rc;
	if (patch->actions && (rc = check_json(patch->actions, '[', ']', "actions", err)))
		return rc;
	return s->ops->service->bank_update(s, name, patch, err);
}

/* ---- scans ------------------------------------------------------------------------- */

int vg_store_scan_record(vg_store *s, const vg_store_scan *scan, int64_t *ret_id, vg_error *err)
{
	int rc;
	if (!scan)
		return vg_error_set(err, VG_EINVAL, "no scan");
	if ((rc = check_str(scan->actor, 1, VG_STORE_ACTOR_MAX, "scan actor", err)) ||
	    (rc = check_opt(scan->url, VG_STORE_URL_MAX, "scan url", err)) ||
	    (rc = check_opt(scan->pdq, 64, "pdq", err)) ||
	    (rc = check_opt(scan->md5, 64, "md5", err)) ||
	    (rc = check_opt(scan->sha256, 64, "sha256", err)))
		return rc;
	if (!scan->verdict ||
	    (strcmp(scan->verdict, "block") != 0 && strcmp(scan->verdict, "allow") != 0))
		return vg_error_set(err, VG_EINVAL, "scan verdict must be block or allow");
	if (scan->quality < 0 || scan->quality > 100)
		return vg_error_set(err, VG_EINVAL, "scan quality must be 0 to 100");
	if (scan->matches && (rc = check_json(scan->matches, '[', ']', "scan matches", err)))
		return rc;
	return s->ops->service->scan_record(s, scan, ret_id, err);
}

int vg_store_scan_set_verdict(vg_store *s, int64_t id, const char *verdict, vg_error *err)
{
	if (!verdict || (strcmp(verdict, "block") != 0 && strcmp(verdict, "allow") != 0))
		return vg_error_set(err, VG_EINVAL, "scan verdict must be block or allow");
	return s->ops->service->scan_set_verdict(s, id, verdict, err);
}

/* ---- blocks ------------------------------------------------------------------------ */

void vg_store_block_done(vg_store_block *b)
{
	if (!b)
		return;
	free(b->url);
	free(b->reason);
	free(b->created_by);
	free(b->lifted_by);
	b->url = b->reason = b->created_by = b->lifted_by = NULL;
}

int vg_store_block_add(vg_store *s, const char *url, const char *reason, int64_t bank_id,
		       int64_t case_id, const char *actor, int64_t *ret_id, bool *ret_created,
		       vg_error *err)
{
	int rc;
	if ((rc = check_str(url, 1, VG_STORE_URL_MAX, "block url", err)) ||
	    (rc = check_opt(reason, VG_STORE_TEXT_MAX, "block reason", err)) ||
	    (rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err)))
		return rc;
	if (bank_id < 0 || case_id < 0)
		return vg_error_set(err, VG_EINVAL, "negative bank or case id");
	return s->ops->service->block_add(s, url, reason ? reason : "", bank_id, case_id, actor,
					  ret_id, ret_created, err);
}

int vg_store_block_get(vg_store *s, int64_t id, vg_store_block *ret, vg_error *err)
{
	return s->ops->service->block_get(s, id, ret, err);
}

int vg_store_block_lift(vg_store *s, int64_t id, const char *actor, vg_error *err)
{
	int rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err);
	if (rc)
		return rc;
	return s->ops->service->block_lift(s, id, actor, err);
}

int vg_store_block_lift_by_case(vg_store *s, int64_t case_id, const char *actor,
				int64_t **ret_ids, size_t *ret_n, vg_error *err)
{
	int rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err);
	if (rc)
		return rc;
	return s->ops->service->block_lift_by_case(s, case_id, actor, ret_ids, ret_n, err);
}

int vg_store_block_claim(vg_store *s, int64_t id, int64_t bank_id, const char *reason,
			 int64_t *ret_from_case, vg_error *err)
{
	if (reason && strlen(reason) > VG_STORE_TEXT_MAX)
		return vg_error_set(err, VG_EINVAL, "reason is longer than %d bytes",
				    VG_STORE_TEXT_MAX);
	return s->ops->service->block_claim(s, id, bank_id, reason, ret_from_case, err);
}

int vg_store_block_each(vg_store *s, bool active_only, int64_t after_id, size_t limit,
			vg_store_block_fn *fn, void *ctx, vg_error *err)
{
	return s->ops->service->block_each(s, active_only, after_id, limit, fn, ctx, err);
}

int vg_store_block_lifted_since(vg_store *s, vg_usec since, vg_store_block_fn *fn, void *ctx,
				vg_error *err)
{
	return s->ops->service->block_lifted_since(s, since, fn, ctx, err);
}

int vg_store_block_watermark(vg_store *s, int64_t *ret, vg_error *err)
{
	return s->ops->service->block_watermark(s, ret, err);
}

/* ---- cases ------------------------------------------------------------------------- */

void vg_store_case_done(vg_store_case *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->decision);
	free(c->note);
	free(c->assignee);
	c->url = c->decision = c->note = c->assignee = NULL;
}

int vg_store_case_open_or_attach(vg_store *s, const char *url, int64_t bank_id, int64_t scan_id,
				 const char *actor, int64_t *ret_case_id, bool *ret_created,
				 vg_error *err)
{
	int rc;
	if ((rc = check_opt(url, VG_STORE_URL_MAX, "case url", err)) ||
	    (rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err)))
		return rc;
	if (bank_id <= 0 || scan_id < 0)
		return vg_error_set(err, VG_EINVAL, "a case needs a bank");
	return s->ops->service->case_open_or_attach(s, url ? url : "", bank_id, scan_id, actor,
						    ret_case_id, ret_created, err);
}

int vg_store_case_get(vg_store *s, int64_t id, vg_store_case *ret, vg_error *err)
{
	return s->ops->service->case_get(s, id, ret, err);
}

int vg_store_case_list(vg_store *s, const char *status, int64_t after_id, size_t limit,
		       vg_store_case **ret, size_t *ret_n, vg_error *err)
{
	if (status && strcmp(status, "open") != 0 && strcmp(status, "closed") != 0)
		return vg_error_set(err, VG_EINVAL, "case status must be open or closed");
	/* The backend's case query serves both: open and closed are its coarse statuses. */
	vg_store_case_filter f = {.status = status};
	return s->ops->reports->case_query(s, &f, after_id, limit, ret, ret_n, err);
}

void vg_store_case_list_free(vg_store_case *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++)
		vg_store_case_done(&c[i]);
	free(c);
}

int vg_store_case_decide(vg_store *s, int64_t id, const char *decision, const char *note,
			 const char *actor, vg_error *err)
{
	int rc;
	if ((rc = check_str(decision, 1, VG_STORE_WORD_MAX, "decision", err)) ||
	    (rc = check_opt(note, VG_STORE_TEXT_MAX, "note", err)) ||
	    (rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err)))
		return rc;
	return s->ops->service->case_decide(s, id, decision, note, actor, err);
}

int vg_store_case_history(vg_store *s, int64_t id,
			  int (*fn)(const vg_store_case_event *e, void *ctx), void *ctx,
			  vg_error *err)
{
	return s->ops->service->case_history(s, id, fn, ctx, err);
}

int vg_store_case_scans(vg_store *s, int64_t id,
			int (*fn)(const vg_store_scan *scan, int64_t scan_id, void *ctx), void *ctx,
			vg_error *err)
{
	return s->ops->service->case_scans(s, id, fn, ctx, err);
}

/* ---- outbox ------------------------------------------------------------------------ */

static bool kind_ok(const char *kind)
{
	size_t n = kind ? strlen(kind) : 0;
	if (n < 1 || n > 23)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((kind[i] >= 'a' && kind[i] <= 'z') || (kind[i] >= '0' && kind[i] <= '9') ||
		      kind[i] == '_'))
			return false;
	return true;
}

static bool state_ok(const char *state)
{
	return !state || strcmp(state, "pending") == 0 || strcmp(state, "done") == 0 ||
	       strcmp(state, "dead") == 0;
}

int vg_store_outbox_enqueue(vg_store *s, const char *kind, const char *target,
			    const char *payload, const char *secret, const char *idempotency_key,
			    vg_usec next_at, int64_t *ret_id, vg_error *err)
{
	int rc;
	if (!kind_ok(kind))
		return vg_error_set(err, VG_EINVAL, "outbox kind must be 1 to 23 of a-z 0-9 _");
	if ((rc = check_str(target, 1, VG_STORE_VALUE_MAX, "outbox target", err)) ||
	    (rc = check_opt(secret, VG_STORE_TEXT_MAX, "outbox secret", err)) ||
	    (rc = check_str(idempotency_key, 1, 64, "idempotency key", err)))
		return rc;
	if (!payload)
		return vg_error_set(err, VG_EINVAL, "no outbox payload");
	if (strlen(payload) > VG_STORE_JSON_MAX)
		return vg_error_set(err, VG_ETOOBIG, "outbox payload is longer than %d bytes",
				    VG_STORE_JSON_MAX);
	return s->ops->service->outbox_enqueue(s, kind, target, payload, secret, idempotency_key,
					       next_at, ret_id, err);
}

/* n_kinds distinct valid kinds, at most VG_STORE_OUTBOX_KINDS_MAX. */
static int check_kinds(const char *const *kinds, size_t n_kinds, vg_error *err)
{
	if (n_kinds > VG_STORE_OUTBOX_KINDS_MAX || (n_kinds && !kinds))
		return vg_error_set(err, VG_EINVAL, "at most %d outbox kinds",
				    VG_STORE_OUTBOX_KINDS_MAX);
	for (size_t i = 0; i < n_kinds; i++) {
		if (!kind_ok(kinds[i]))
			return vg_error_set(err, VG_EINVAL, "outbox kind must be 1 to 23 of a-z 0-9 _");
		for (size_t j = 0; j < i; j++)
			if (strcmp(kinds[i], kinds[j]) == 0)
				return vg_error_set(err, VG_EINVAL, "outbox kind %s named twice", kinds[i]);
	}
	return 0;
}

int vg_store_outbox_due(vg_store *s, vg_usec now, const char *const *kinds, size_t n_kinds,
			size_t limit, vg_store_outbox **ret, size_t *ret_n, vg_error *err)
{
	int rc = check_kinds(kinds, n_kinds, err);
	if (rc)
		return rc;
	return s->ops->service->outbox_due(s, now, kinds, n_kinds, limit, ret, ret_n, err);
}

int vg_store_outbox_claim(vg_store *s, vg_usec now, vg_usec lease_until,
			  const char *const *kinds, size_t n_kinds, size_t limit,
			  vg_store_outbox **ret, size_t *ret_n, vg_error *err)
{
	int rc = check_kinds(kinds, n_kinds, err);
	if (rc)
		return rc;
	if (lease_until <= now || limit == 0)
		return vg_error_set(err, VG_EINVAL, "a claim needs a lease past now and a limit");
	return s->ops->service->outbox_claim(s, now, lease_until, kinds, n_kinds, limit, ret,
					     ret_n, err);
}

int vg_store_outbox_release(vg_store *s, int64_t id, vg_error *err)
{
	return s->ops->service->outbox_release(s, id, err);
}

int vg_store_outbox_next_due(vg_store *s, vg_usec after, const char *const *kinds,
			     size_t n_kinds, vg_usec *ret, vg_error *err)
{
	int rc = check_kinds(kinds, n_kinds, err);
	if (rc)
		return rc;
	return s->ops->service->outbox_next_due(s, after, kinds, n_kinds, ret, err);
}

int vg_store_outbox_done(vg_store *s, int64_t id, vg_error *err)
{
	return s->ops->service->outbox_finish(s, id, "done", 0, NULL, err);
}

int vg_store_outbox_retry(vg_store *s, int64_t id, vg_usec next_at, const char *error,
			  vg_error *err)
{
	return s->ops->service->outbox_finish(s, id, "pending", next_at, error, err);
}

int vg_store_outbox_dead(vg_store *s, int64_t id, const char *error, vg_error *err)
{
	return s->ops->service->outbox_finish(s, id, "dead", 0, error, err);
}

int vg_store_outbox_list(vg_store *s, const char *state, int64_t after_id, size_t limit,
			 vg_store_outbox **ret, size_t *ret_n, vg_error *err)
{
	if (!state_ok(state))
		return vg_error_set(err, VG_EINVAL, "outbox state must be pending, done or dead");
	return s->ops->service->outbox_list(s, state, after_id, limit, ret, ret_n, err);
}

void vg_store_outbox_list_free(vg_store_outbox *o, size_t n)
{
	for (size_t i = 0; o && i < n; i++) {
		free(o[i].target);
		free(o[i].payload);
		free(o[i].secret);
		free(o[i].last_error);
	}
	free(o);
}

int vg_store_outbox_counts(vg_store *s, size_t *ret_pending, size_t *ret_done, size_t *ret_dead,
			   vg_error *err)
{
	return s->ops->service->outbox_counts(s, ret_pending, ret_done, ret_dead, err);
}

/* ==== labels (store.h's labels section) ================================================ */

int vg_store_label_set_many(vg_store *s, const vg_store_label *v, size_t n, vg_error *err)
{
	for (size_t i = 0; i < n; i++) {
		const vg_store_label *l = &v[i];
		if (!l->kind || !l->entity || !l->name || !*l->kind || !*l->entity || !*l->name)
			return vg_error_set(err, VG_EINVAL, "a label needs a kind, an entity and a name");
		if (strlen(l->kind) + strlen(l->entity) + strlen(l->name) > VG_STORE_LABEL_MAX)
			return vg_error_set(err, VG_EINVAL, "a label is over %d bytes", VG_STORE_LABEL_MAX);
		if (l->expires_at < 0)
			return vg_error_set(err, VG_EINVAL, "a label's expiry is negative");
	}
	if (n == 0)
		return 0;
	return s->ops->labels->set_many(s, v, n, err);
}

int vg_store_label_each(vg_store *s, vg_usec now, vg_store_label_fn *fn, void *ctx, vg_error *err)
{
	return s->ops->labels->each(s, now, fn, ctx, err);
}

int vg_store_label_purge(vg_store *s, vg_usec now, size_t *ret_n, vg_error *err)
{
	return s->ops->labels->purge(s, now, ret_n, err);
}

int vg_store_label_find(vg_store *s, const vg_store_label_query *q, vg_store_label_fn *fn,
			void *ctx, vg_error *err)
{
	if (!q->kind || !*q->kind)
		return vg_error_set(err, VG_EINVAL, "a label query needs a kind");
	if (q->limit < 1 || q->limit > 1000)
		return vg_error_set(err, VG_EINVAL, "a label query's limit must be 1 to 1000");
	return s->ops->labels->find(s, q, fn, ctx, err);
}

int vg_store_label_delete(vg_store *s, const char *kind, const char *entity, const char *name,
			  bool *ret_found, vg_error *err)
{
	return s->ops->labels->delete_one(s, kind, entity, name, vg_time_now(), ret_found, err);
}

/* ==== abuse reports (store.h's reports section) ===================================== */

void vg_store_zone_done(vg_store_zone *z)
{
	if (!z)
		return;
	free(z->name);
	free(z->owner_email);
	free(z->owner_webhook_url);
	free(z->host_email);
	free(z->host_webhook_url);
	free(z->owner_webhook_secret);
	free(z->host_webhook_secret);
	z->name = z->owner_email = z->owner_webhook_url = z->host_email = z->host_webhook_url =
		z->owner_webhook_secret = z->host_webhook_secret = NULL;
}

void vg_store_zone_list_free(vg_store_zone *z, size_t n)
{
	for (size_t i = 0; z && i < n; i++)
		vg_store_zone_done(&z[i]);
	free(z);
}

static int check_contacts(const vg_store_zone *z, vg_error *err)
{
	int rc;
	if ((rc = check_opt(z->owner_email, VG_STORE_VALUE_MAX, "owner email", err)) ||
	    (rc = check_opt(z->owner_webhook_url, VG_STORE_VALUE_MAX, "owner webhook_url", err)) ||
	    (rc = check_opt(z->host_email, VG_STORE_VALUE_MAX, "host email", err)) ||
	    (rc = check_opt(z->host_webhook_url, VG_STORE_VALUE_MAX, "host webhook_url", err)) ||
	    (rc = check_opt(z->owner_webhook_secret, 256, "owner webhook_secret", err)) ||
	    (rc = check_opt(z->host_webhook_secret, 256, "host webhook_secret", err)))
		return rc;
	return 0;
}

int vg_store_zone_create(vg_store *s, const vg_store_zone *z, int64_t *ret_id, vg_error *err)
{
	int rc;
	if ((rc = check_str(z->name, 1, 253, "zone name", err)) || (rc = check_contacts(z, err)))
		return rc;
	return s->ops->reports->zone_create(s, z, ret_id, err);
}

int vg_store_zone_get(vg_store *s, int64_t id, vg_store_zone *ret, vg_error *err)
{
	return s->ops->reports->zone_get(s, id, NULL, ret, err);
}

int vg_store_zone_find(vg_store *s, const char *name, vg_store_zone *ret, vg_error *err)
{
	if (!name || !*name || strlen(name) > 253)
		return vg_error_set(err, VG_ENOENT, "no such zone");
	return s->ops->reports->zone_get(s, 0, name, ret, err);
}

int vg_store_zone_list(vg_store *s, int64_t after_id, size_t limit, vg_store_zone **ret,
		       size_t *ret_n, vg_error *err)
{
	return s->ops->reports->zone_list(s, after_id, limit, ret, ret_n, err);
}

int vg_store_zone_update(vg_store *s, const vg_store_zone *z, vg_error *err)
{
	int rc = check_contacts(z, err);
	return rc ? rc : s->ops->reports->zone_update(s, z, err);
}

int vg_store_zone_delete(vg_store *s, int64_t id, vg_error *err)
{
	return s->ops->reports->zone_delete(s, id, err);
}

void vg_store_report_done(vg_store_report *r)
{
	if (!r)
		return;
	free(r->description);
	free(r->reporter_name);
	free(r->reporter_email);
	free(r->client_addr);
	free(r->message_id);
	r->description = r->reporter_name = r->reporter_email = r->client_addr = r->message_id =
		NULL;
}

static bool word_in(const char *v, const char *const *words, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		if (strcmp(v, words[i]) == 0)
			return true;
	return false;
}

static const char *const shares[] = {"full", "anonymous", "none"};
static const char *const stages[] = {"new", "triaged", "actioned", "rejected", "closed"};
static const char *const priorities[] = {"low", "normal", "high"};

int vg_store_report_create(vg_store *s, const vg_store_report *r, int64_t *ret_id, vg_error *err)
{
	static const char *const sources[] = {"rest", "email"};
	static const char *const statuses[] = {"received", "not_ours"};
	int rc;
	if (!r->category[0] || !word_in(r->source, sources, VG_ARRAY_LEN(sources)) ||
	    !word_in(r->share_owner, shares, VG_ARRAY_LEN(shares)) ||
	    !word_in(r->share_host, shares, VG_ARRAY_LEN(shares)) ||
	    !word_in(r->status, statuses, VG_ARRAY_LEN(statuses)))
		return vg_error_set(err, VG_EINVAL, "report category, source, share or status unknown");
	if (!is_lower_hex(r->status_token_hash, 64))
		return vg_error_set(err, VG_EINVAL, "status token hash must be 64 lower-case hex digits");
	if ((rc = check_opt(r->description, VG_STORE_JSON_MAX, "description", err)) ||
	    (rc = check_opt(r->reporter_name, VG_STORE_TEXT_MAX, "reporter name", err)) ||
	    (rc = check_opt(r->reporter_email, VG_STORE_TEXT_MAX, "reporter email", err)) ||
	    (rc = check_opt(r->client_addr, 64, "client address", err)) ||
	    (rc = check_opt(r->message_id, VG_STORE_VALUE_MAX, "message id", err)))
		return rc;
	return s->ops->reports->report_create(s, r, ret_id, err);
}

int vg_store_report_get(vg_store *s, int64_t id, vg_store_report *ret, vg_error *err)
{
	return s->ops->reports->report_get(s, id, ret, err);
}

int vg_store_report_find_message_id(vg_store *s, const char *message_id, vg_usec since,
				    int64_t *ret_id, vg_error *err)
{
	if (!message_id || !*message_id)
		return vg_error_set(err, VG_ENOENT, "no Message-ID");
	return s->ops->reports->report_find_message_id(s, message_id, since, ret_id, err);
}

int vg_store_report_add_url(vg_store *s, int64_t report_id, const char *url, int64_t zone_id,
			    const char *zone, int64_t case_id, vg_error *err)
{
	int rc;
	if ((rc = check_str(url, 1, VG_STORE_URL_MAX, "report url", err)) ||
	    (rc = check_opt(zone, 253, "zone name", err)))
		return rc;
	if (zone_id < 0 || case_id < 0)
		return vg_error_set(err, VG_EINVAL, "negative zone or case id");
	return s->ops->reports->report_add_url(s, report_id, url, zone_id, zone ? zone : "",
					       case_id, err);
}

int vg_store_report_add_evidence(vg_store *s, int64_t report_id, const char *type,
				 const char *hex, vg_error *err)
{
	static const char *const types[] = {"pdq", "md5", "sha256"};
	size_t want = type && strcmp(type, "md5") == 0 ? 32 : 64;
	if (!word_in(type, types, VG_ARRAY_LEN(types)) || !is_lower_hex(hex, want))
		return vg_error_set(err, VG_EINVAL, "evidence must be pdq, md5 or sha256 in lower-case hex");
	return s->ops->reports->report_add_evidence(s, report_id, type, hex, err);
}

int vg_store_report_urls(vg_store *s, int64_t report_id,
			 int (*fn)(const vg_store_report_url *u, void *ctx), void *ctx,
			 vg_error *err)
{
	return s->ops->reports->report_urls(s, report_id, fn, ctx, err);
}

int vg_store_report_evidence(vg_store *s, int64_t report_id,
			     int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
			     vg_error *err)
{
	return s->ops->reports->report_evidence(s, report_id, fn, ctx, err);
}

int vg_store_case_evidence(vg_store *s, int64_t case_id,
			   int (*fn)(const char *type, const char *hex, void *ctx), void *ctx,
			   vg_error *err)
{
	return s->ops->reports->case_evidence(s, case_id, fn, ctx, err);
}

int vg_store_report_erase(vg_store *s, vg_usec before, vg_usec now, int64_t **ret_ids,
			  size_t *ret_n, vg_error *err)
{
	return s->ops->reports->report_erase(s, before, now, ret_ids, ret_n, err);
}

int vg_store_report_case_open_or_attach(vg_store *s, const char *dedup_key, const char *url,
					const char *category, const char *priority, vg_usec since,
					int64_t report_id, const char *actor, int64_t *ret_case_id,
					bool *ret_created, vg_error *err)
{
	int rc;
	if ((rc = check_str(dedup_key, 1, VG_STORE_URL_MAX + 32, "dedup key", err)) ||
	    (rc = check_str(url, 1, VG_STORE_URL_MAX, "case url", err)) ||
	    (rc = check_str(category, 1, 15, "category", err)) ||
	    (rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err)))
		return rc;
	if (!word_in(priority, priorities, VG_ARRAY_LEN(priorities)))
		return vg_error_set(err, VG_EINVAL, "priority must be low, normal or high");
	return s->ops->reports->report_case_open_or_attach(s, dedup_key, url, category, priority,
							   since, report_id, actor, ret_case_id,
							   ret_created, err);
}

int vg_store_case_query(vg_store *s, const vg_store_case_filter *f, int64_t after_id,
			size_t limit, vg_store_case **ret, size_t *ret_n, vg_error *err)
{
	static const vg_store_case_filter none = {0};
	f = f ? f : &none;
	if (f->status && strcmp(f->status, "open") != 0 &&
	    !word_in(f->status, stages, VG_ARRAY_LEN(stages)))
		return vg_error_set(err, VG_EINVAL,
				    "case status must be open, closed, new, triaged, actioned or rejected");
	return s->ops->reports->case_query(s, f, after_id, limit, ret, ret_n, err);
}

int vg_store_case_assign(vg_store *s, int64_t id, const char *assignee, const char *actor,
			 vg_error *err)
{
	int rc;
	if ((rc = check_str(assignee, 1, VG_STORE_NAME_MAX, "assignee", err)) ||
	    (rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err)))
		return rc;
	return s->ops->reports->case_assign(s, id, assignee, actor, err);
}

int vg_store_case_transition(vg_store *s, int64_t id, const char *stage, const char *decision,
			     const char *priority, const char *note, const char *actor,
			     vg_error *err)
{
	int rc;
	if (!word_in(stage, stages + 1, VG_ARRAY_LEN(stages) - 1))
		return vg_error_set(err, VG_EINVAL, "a case moves to triaged, actioned, rejected or closed");
	if (priority && !word_in(priority, priorities, VG_ARRAY_LEN(priorities)))
		return vg_error_set(err, VG_EINVAL, "priority must be low, normal or high");
	if ((rc = check_str(decision, 1, VG_STORE_WORD_MAX, "decision", err)) ||
	    (rc = check_opt(note, VG_STORE_TEXT_MAX, "note", err)) ||
	    (rc = check_str(actor, 1, VG_STORE_ACTOR_MAX, "actor", err)))
		return rc;
	return s->ops->reports->case_transition(s, id, stage, decision, priority, note, actor, err);
}

int vg_store_case_reports(vg_store *s, int64_t case_id,
			  int (*fn)(const vg_store_report *r, void *ctx), void *ctx, vg_error *err)
{
	return s->ops->reports->case_reports(s, case_id, fn, ctx, err);
}

void vg_store_figures_done(vg_store_figures *f)
{
	if (!f)
		return;
	free(f->reports);
	free(f->actions);
	free(f->first_action_delays);
	memset(f, 0, sizeof(*f));
}

int vg_store_block_hand_over(vg_store *s, int64_t case_id, vg_store_block_handover **ret,
			     size_t *ret_n, vg_error *err)
{
	return s->ops->reports->block_hand_over(s, case_id, ret, ret_n, err);
}

int vg_store_case_note(vg_store *s, int64_t case_id, const char *actor, const char *action,
		       const char *note, vg_error *err)
{
	return s->ops->reports->case_note(s, case_id, actor, action, note, err);
}

int vg_store_figures_get(vg_store *s, vg_usec from, vg_usec to, vg_store_figures *ret,
			 vg_error *err)
{
	if (from > to)
		return vg_error_set(err, VG_EINVAL, "from is after to");
	return s->ops->reports->figures_get(s, from, to, ret, err);
}
