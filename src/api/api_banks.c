/* SPDX-License-Identifier: Apache-2.0
 *
 * Banks and their signals over REST: /v1/banks, /v1/banks/{name}, its signals (bulk add,
 * paginated list, delete one) and a streamed export. Every change is audited in the
 * same transaction, and the in-memory index follows the store only after the commit:
 * signals one by one, and a bank enabled, disabled or deleted by rebuilding the index.
 * Another process's changes are followed bank by bank: a bank whose row moved is read
 * again and applied in place, the others are left alone (vg__api_index_follow).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define MAX_SIGNALS_PER_REQUEST 10000

static json_t *bank_json(const vg_store_bank *b, bool with_secret_flag)
{
	json_t *actions = b->actions ? json_loads(b->actions, 0, NULL) : NULL;
	json_t *o = json_pack("{s:I,s:s,s:s,s:b,s:o,s:o,s:I,s:I,s:o,s:o}", "id", (json_int_t)b->id,
			      "name", b->name, "description", b->description ? b->description : "",
			      "enabled", b->enabled, "created_at", vg__json_time(b->created_at),
			      "updated_at", vg__json_time(b->updated_at), "signals",
			      (json_int_t)b->live_signals, "removed_signals", (json_int_t)b->removed_signals,
			      "actions", actions ? actions : json_array(), "webhook_url",
			      vg__json_str(b->webhook_url));
	/* The secret is write-only: say whether one is set, never what it is. */
	if (with_secret_flag)
		json_object_set_new(o, "webhook_secret_set",
				    json_boolean(b->webhook_secret && b->webhook_secret[0]));
	return o;
}

/* A bank as the index last read it: a follow reads again only the banks whose row moved. */
struct vg__followed_bank {
	int64_t id;
	vg_usec updated_at;
	bool enabled;
};

/* Remembers banks as the ones the index now reflects (the caller holds follow_lock). */
static void remember_banks(vg_api *api, const vg_store_bank *banks, size_t n)
{
	struct vg__followed_bank *f = vg_xcalloc(n ? n : 1, sizeof(*f));
	for (size_t i = 0; i < n; i++)
		f[i] = (struct vg__followed_bank){banks[i].id, banks[i].updated_at,
						  banks[i].enabled};
	free(api->followed);
	api->followed = f;
	api->n_followed = n;
}

static const struct vg__followed_bank *followed(const vg_api *api, int64_t id)
{
	for (size_t i = 0; i < api->n_followed; i++)
		if (api->followed[i].id == id)
			return &api->followed[i];
	return NULL;
}

static void set_seq(vg_api *api, int64_t seq)
{
	pthread_rwlock_wrlock(&api->index_lock);
	if (seq > api->index_seq)
		api->index_seq = seq;
	pthread_rwlock_unlock(&api->index_lock);
}

static int reindex_locked(vg_api *api, vg_store *s, vg_error *err)
{
	/* The seq and the banks first: a change committed while the index is read may be in
	 * it or not, and either way the next follow sees a newer seq and a moved bank row,
	 * and reads that bank again. */
	vg_store_watermark wm;
	vg_store_bank *banks = NULL;
	size_t nb = 0;
	int rc = vg_store_watermark_get(s, &wm, err);
	if (rc || (rc = vg_store_bank_list(s, &banks, &nb, err)))
		return rc;
	vg_bank_index *idx;
	vg_bank_index_opts io = {.snapshot_path = api->snapshot, .snapshot_min_entries = 100000};
	rc = vg_bank_index_open(s, &io, &idx, err);
	if (rc == 0) {
		pthread_rwlock_wrlock(&api->index_lock);
		vg_bank_index *old = api->index;
		api->index = idx;
		api->index_seq = wm.seq;
		pthread_rwlock_unlock(&api->index_lock);
		vg_bank_index_free(old);
		remember_banks(api, banks, nb);
	}
	vg_store_bank_list_free(banks, nb);
	return rc;
}

int vg__api_reindex(vg_api *api, vg_store *s, vg_error *err)
{
	pthread_mutex_lock(&api->follow_lock);
	int rc = reindex_locked(api, s, err);
	pthread_mutex_unlock(&api->follow_lock);
	return rc;
}

int vg__api_finish_banks(vg_api *api, vg_store *s, int rc, vg_error *err)
{
	rc = vg__api_finish(s, rc, err);
	int64_t seq = rc ? 0 : vg_store_committed_seq(s);
	if (seq) {
		pthread_rwlock_wrlock(&api->index_lock);
		if (seq == api->index_seq + 1)
			api->index_seq = seq;
		pthread_rwlock_unlock(&api->index_lock);
	}
	return rc;
}

void vg__api_followed_update(vg_api *api, vg_store *s, const char *bank)
{
	int64_t seq = vg_store_committed_seq(s);
	if (!seq || pthread_mutex_trylock(&api->follow_lock) != 0)
		return; /* a follow is running: it will read the bank again, which is safe */
	pthread_rwlock_rdlock(&api->index_lock);
	bool in_step = api->index_seq == seq;
	pthread_rwlock_unlock(&api->index_lock);
	/* The row is the one of commit seq only when no commit came between: the seq is
	 * read on both sides of it (anything else leaves the bank to be read again). */
	vg_store_watermark w1, w2;
	vg_store_bank b = {0};
	vg_error err;
	if (in_step && vg_store_watermark_get(s, &w1, &err) == 0 && w1.seq == seq &&
	    vg_store_bank_get(s, bank, &b, &err) == 0 &&
	    vg_store_watermark_get(s, &w2, &err) == 0 && w2.seq == seq) {
		for (size_t i = 0; i < api->n_followed; i++)
			if (api->followed[i].id == b.id && api->followed[i].enabled == b.enabled)
				api->followed[i].updated_at = b.updated_at;
	}
	vg_store_bank_done(&b);
	pthread_mutex_unlock(&api->follow_lock);
}

/* ---- following another process's changes, one bank at a time --------------------- */

/* Signals applied to the index per write lock: matches wait for one batch, not a bank. */
#define FOLLOW_BATCH 4096

struct follow_walk {
	vg_api *api;
	bool enabled; /* the bank's flag now: its live signals go in, or all come out */
	struct {
		int64_t id;
		bool live;
		char type[VG_STORE_TYPE_MAX + 1];
		char value[VG_BANK_HEX_BUF];
	} v[FOLLOW_BATCH];
	size_t n;
	size_t applied;
	vg_error *err;
};

static int follow_flush(struct follow_walk *w)
{
	int rc = 0;
	pthread_rwlock_wrlock(&w->api->index_lock);
	for (size_t i = 0; i < w->n && rc == 0; i++)
		rc = w->v[i].live ? vg_bank_index_add(w->api->index, w->v[i].id, w->v[i].type,
						      w->v[i].value, w->err)
				  : vg_bank_index_remove(w->api->index, w->v[i].id, w->v[i].type,
							 w->v[i].value, w->err);
	pthread_rwlock_unlock(&w->api->index_lock);
	w->applied += w->n;
	w->n = 0;
	return rc;
}

static int follow_one(const vg_store_signal *sig, void *ctx)
{
	struct follow_walk *w = ctx;
	size_t n = strlen(sig->value);
	if (n >= sizeof(w->v[0].value))
		return 0; /* no index type's value */
	w->v[w->n].id = sig->id;
	w->v[w->n].live = w->enabled && !sig->removed_at;
	snprintf(w->v[w->n].type, sizeof(w->v[0].type), "%s", sig->type);
	memcpy(w->v[w->n].value, sig->value, n + 1);
	return ++w->n == FOLLOW_BATCH ? follow_flush(w) : 0;
}

/* Brings the index up to the store by reading again the banks whose row moved since the
 * index last read them (a signal change moves updated_at, and so do enable and disable),
 * each signal of such a bank added when it is live in an enabled bank and taken out
 * otherwise; adding what is there and removing what is not are no-ops. VG_ENOENT when
 * only a rebuild will do (a bank the index read was deleted); other errors leave the
 * index partly applied, so the caller rebuilds it then too. */
static int follow_banks(vg_api *api, vg_store *s, const vg_store_watermark *wm, size_t *ret_banks,
			size_t *ret_signals, vg_error *err)
{
	static const char *const index_types[] = {"pdq", "md5", "sha256"};
	vg_store_bank *banks = NULL;
	size_t nb = 0, nread = 0;
	int rc = vg_store_bank_list(s, &banks, &nb, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < api->n_followed && rc == 0; i++) {
		bool there = false;
		for (size_t k = 0; k < nb && !there; k++)
			there = banks[k].id == api->followed[i].id;
		if (!there)
			rc = vg_error_set(err, VG_ENOENT, "a bank was deleted");
	}
	struct follow_walk *w = rc ? NULL : vg_xcalloc(1, sizeof(*w));
	for (size_t i = 0; i < nb && rc == 0; i++) {
		const struct vg__followed_bank *f = followed(api, banks[i].id);
		bool was = f && f->enabled;
		if (f && f->updated_at == banks[i].updated_at && f->enabled == banks[i].enabled)
			continue;
		if (!was && !banks[i].enabled)
			continue; /* disabled then and now: not in the index */
		*w = (struct follow_walk){.api = api, .enabled = banks[i].enabled, .err = err};
		vg_store_filter flt = {.bank_ids = &banks[i].id,
				       .n_bank_ids = 1,
				       .types = index_types,
				       .n_types = VG_ARRAY_LEN(index_types),
				       .include_removed = true};
		rc = vg_store_signal_each(s, &flt, follow_one, w, err);
		if (rc == 0 && w->n)
			rc = follow_flush(w);
		*ret_signals += w->applied;
		nread++;
	}
	free(w);
	if (rc == 0) {
		set_seq(api, wm->seq);
		remember_banks(api, banks, nb);
		*ret_banks = nread;
	}
	vg_store_bank_list_free(banks, nb);
	return rc;
}

void vg__api_index_follow(vg_api *api, vg_store *s)
{
	vg_store_watermark wm;
	vg_error err;
	if (vg_store_watermark_get(s, &wm, &err) != 0)
		return;
	pthread_rwlock_rdlock(&api->index_lock);
	bool behind = wm.seq != api->index_seq;
	pthread_rwlock_unlock(&api->index_lock);
	if (behind) {
		pthread_mutex_lock(&api->follow_lock);
		size_t nbanks = 0, nsignals = 0;
		vg_usec t0 = vg_time_mono();
		int rc = follow_banks(api, s, &wm, &nbanks, &nsignals, &err);
		if (rc == 0)
			vg_log(VG_LOG_DEBUG, "index.follow", "banks_read=%zu signals=%zu ms=%lld",
			       nbanks, nsignals, (long long)((vg_time_mono() - t0) / 1000));
		else if ((rc = reindex_locked(api, s, &err)) == 0)
			vg_log(VG_LOG_DEBUG, "index.follow", "rebuilt=1 ms=%lld",
			       (long long)((vg_time_mono() - t0) / 1000));
		pthread_mutex_unlock(&api->follow_lock);
		if (rc != 0)
			vg_log(VG_LOG_WARN, "index.follow_failed", "error=%s msg=\"%s\"",
			       vg_error_name(err.code), err.msg);
	}
	/* Rules' banks change with every bank edit, the server's own too: they are read,
	 * not updated in place. */
	vg__api_rules_follow_banks(api, s, wm.seq);
}

bool vg_api_bank_actions_valid(const char *json)
{
	int mask;
	return vg__api_actions_parse(json, &mask) == 0;
}

/* Checks a body's actions / webhook fields; answers 422 and returns false when bad. */
static bool bank_fields(vg_http_req *req, json_t *body, char **ret_actions, const char **ret_url,
			const char **ret_secret)
{
	json_t *a = json_object_get(body, "actions"), *u = json_object_get(body, "webhook_url"),
	       *sec = json_object_get(body, "webhook_secret");
	*ret_actions = NULL;
	*ret_url = NULL;
	*ret_secret = NULL;
	if (a) {
		char *text = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
		int mask;
		if (!text || vg__api_actions_parse(text, &mask) != 0) {
			free(text);
			vg_http_respond_error(req, VG_EINVAL, "actions must be an array of block_url, "
							      "open_case, webhook, authority_report");
			return false;
		}
		*ret_actions = text;
	}
	if (u && !json_is_null(u)) {
		const char *url = json_string_value(u);
		if (!url || (url[0] && strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
			free(*ret_actions);
			vg_http_respond_error(req, VG_EINVAL, "webhook_url must be an http or https URL");
			return false;
		}
		*ret_url = url;
	}
	if (sec && !json_is_null(sec)) {
		if (!json_is_string(sec) || json_string_length(sec) > 256) {
			free(*ret_actions);
			vg_http_respond_error(req, VG_EINVAL, "webhook_secret must be a string of at most 256 bytes");
			return false;
		}
		*ret_secret = json_string_value(sec);
	}
	return true;
}

static void list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	vg_store_bank *banks;
	size_t n;
	vg_error err;
	if (vg_store_bank_list(s, &banks, &n, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, bank_json(&banks[i], true));
	vg_store_bank_list_free(banks, n);
	vg__json_respond(req, 200, json_pack("{s:o}", "banks", arr));
}

static void respond_bank(vg_http_req *req, vg_store *s, const char *name, int status)
{
	vg_store_bank b;
	vg_error err;
	if (vg_store_bank_get(s, name, &b, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	vg__json_respond(req, status, bank_json(&b, true));
	vg_store_bank_done(&b);
}

static void create(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	json_t *body = s ? vg__json_body(req) : NULL;
	if (!body)
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	json_t *jd = json_object_get(body, "description");
	const char *desc = json_string_value(jd);
	char *actions = NULL;
	const char *url, *secret;
	vg_error err;
	int rc = 0;
	if (!name || !vg_bank_name_valid(name)) {
		vg_http_respond_error(req, VG_EINVAL, "name must be a lower-case slug: [a-z0-9][a-z0-9_-]{0,63}");
		goto out;
	}
	if ((jd && !desc) || (desc && strlen(desc) > 4000)) {
		vg_http_respond_error(req, VG_EINVAL, "description must be a string of at most 4000 bytes");
		goto out;
	}
	if (!bank_fields(req, body, &actions, &url, &secret))
		goto out;
	rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_bank_create(s, name, desc ? desc : "", &err);
	if (!rc && (actions || url || secret)) {
		vg_store_bank_patch p = {.actions = actions, .webhook_url = url, .webhook_secret = secret};
		rc = vg_store_bank_update(s, name, &p, &err);
	}
	if (!rc) {
		/* What the bank will do with a match and where it sends it are the settings a
		 * reader of the trail needs, as an update records them; never the secret. */
		json_t *d = json_pack("{s:s}", "description", desc ? desc : "");
		json_t *ja = json_object_get(body, "actions");
		if (actions && ja)
			json_object_set(d, "actions", ja);
		if (url)
			json_object_set_new(d, "webhook_url", json_string(url));
		if (secret)
			json_object_set_new(d, "webhook_secret",
					    json_string(secret[0] ? "(set)" : ""));
		rc = vg__api_audit(api, s, who->name, "bank.create", "bank", name, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (rc)
		vg__respond_err(req, &err);
	else
		respond_bank(req, s, name, 201);
out:
	free(actions);
	json_decref(body);
}

static void get(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (s)
		respond_bank(req, s, vg_http_param(req, "name"), 200);
}

static void patch(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	json_t *body = s ? vg__json_body(req) : NULL;
	if (!body)
		return;
	const char *name = vg_http_param(req, "name");
	json_t *jd = json_object_get(body, "description"), *je = json_object_get(body, "enabled");
	char *actions = NULL;
	const char *url, *secret;
	vg_error err;
	bool enabled = false;
	if ((jd && !json_is_string(jd)) || (je && !json_is_boolean(je))) {
		vg_http_respond_error(req, VG_EINVAL, "description must be a string and enabled a boolean");
		goto out;
	}
	if (!bank_fields(req, body, &actions, &url, &secret))
		goto out;
	if (je)
		enabled = json_is_true(je);
	vg_store_bank_patch p = {.description = json_string_value(jd), .actions = actions,
				 .webhook_url = url, .webhook_secret = secret, .enabled = je ? &enabled : NULL};
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_bank_update(s, name, &p, &err);
	if (!rc) {
		json_t *d = json_deep_copy(body);
		if (json_object_get(d, "webhook_secret"))
			json_object_set_new(d, "webhook_secret", json_string("(changed)"));
		rc = vg__api_audit(api, s, who->name, "bank.update", "bank", name, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (!rc && je)
		rc = vg__api_reindex(api, s, &err);
	if (rc)
		vg__respond_err(req, &err);
	else
		respond_bank(req, s, name, 200);
out:
	free(actions);
	json_decref(body);
}

static void delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	const char *name = vg_http_param(req, "name");
	vg_error err;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_bank_delete(s, name, &err);
	if (!rc)
		rc = vg__api_audit(api, s, who->name, "bank.delete", "bank", name, NULL, &err);
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (!rc)
		rc = vg__api_reindex(api, s, &err);
	if (rc)
		vg__respond_err(req, &err);
	else
		vg__json_respond(req, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

/* A signal added by this request, for the index after the commit. Only index types
 * (pdq, md5, sha256) keep their value: a url or text could be 2 KiB, times 10,000. */
struct added {
	int64_t id;
	char type[VG_STORE_TYPE_MAX + 1];
	char value[VG_BANK_HEX_BUF];
};

static void signals_add(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	json_t *body = s ? vg__json_body(req) : NULL;
	if (!body)
		return;
	const char *name = vg_http_param(req, "name");
	json_t *sigs = json_object_get(body, "signals");
	vg_store_bank b = {0};
	vg_error err;
	struct added *added = NULL;
	size_t nadded = 0, dup = 0, revived = 0;
	json_t *errors = json_array();
	int rc = 0;
	if (!json_is_array(sigs) || json_array_size(sigs) == 0 ||
	    json_array_size(sigs) > MAX_SIGNALS_PER_REQUEST) {
		vg_http_respond_error(req, VG_EINVAL, "signals must be an array of 1 to %d objects",
				      MAX_SIGNALS_PER_REQUEST);
		goto out;
	}
	rc = vg_store_bank_get(s, name, &b, &err);
	if (rc) {
		vg__respond_err(req, &err);
		goto out;
	}
	added = vg_xcalloc(json_array_size(sigs), sizeof(*added));
	rc = vg_store_begin(s, &err);
	size_t i;
	json_t *v;
	json_array_foreach(sigs, i, v)
	{
		if (rc)
			break;
		const char *type = json_string_value(json_object_get(v, "type"));
		const char *value = json_string_value(json_object_get(v, "value"));
		json_t *meta = json_object_get(v, "metadata");
		if (!json_is_object(v) || !type || !value || (meta && !json_is_object(meta) && !json_is_null(meta))) {
			json_array_append_new(errors, json_pack("{s:i,s:s}", "index", (int)i, "message",
								 "each signal needs string type and value, "
								 "and an optional metadata object"));
			continue;
		}
		char *mtext = meta && json_is_object(meta) ? json_dumps(meta, JSON_COMPACT) : NULL;
		int64_t id = 0;
		vg_store_add_result res;
		vg_error e2;
		int r = vg_bank_signal_add(s, b.id, type, value, mtext, &id, &res, &e2);
		free(mtext);
		if (r == VG_EINVAL || r == VG_ETOOBIG) {
			json_array_append_new(errors, json_pack("{s:i,s:s}", "index", (int)i, "message", e2.msg));
			continue;
		}
		if (r) {
			err = e2;
			rc = r;
			break;
		}
		if (res == VG_STORE_DUPLICATE) {
			dup++;
			continue;
		}
		revived += res == VG_STORE_REVIVED;
		added[nadded].id = id;
		snprintf(added[nadded].type, sizeof(added[0].type), "%s", type);
		char norm[VG_BANK_VALUE_BUF];
		if (vg_bank_value_normalize(type, value, strlen(value), norm, &e2) == 0 &&
		    strlen(norm) < sizeof(added[0].value))
			memcpy(added[nadded].value, norm, strlen(norm) + 1);
		nadded++;
	}
	if (!rc) {
		json_t *d = json_pack("{s:i,s:i,s:i}", "added", (int)(nadded - revived), "revived",
				      (int)revived, "duplicates", (int)dup);
		rc = vg__api_audit(api, s, who->name, "signal.add", "bank", name, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (rc) {
		vg__respond_err(req, &err);
		goto out;
	}
	if (b.enabled) {
		pthread_rwlock_wrlock(&api->index_lock);
		for (size_t k = 0; k < nadded; k++)
			if (vg_bank_index_add(api->index, added[k].id, added[k].type, added[k].value, &err) != 0)
				vg_log(VG_LOG_WARN, "index.add_failed", "signal=%lld", (long long)added[k].id);
		pthread_rwlock_unlock(&api->index_lock);
	}
	vg__api_followed_update(api, s, name);
	json_t *res = json_pack("{s:i,s:i,s:i,s:i,s:O}", "added", (int)(nadded - revived), "revived",
				(int)revived, "duplicates", (int)dup, "rejected",
				(int)json_array_size(errors), "errors", errors);
	bool all_rejected = json_array_size(errors) == json_array_size(sigs);
	/* Every error answer carries the error object; the counts ride along. */
	if (all_rejected)
		json_object_set_new(res, "error", json_pack("{s:s,s:s}", "code", vg_error_name(VG_EINVAL),
							    "message", "every signal was rejected"));
	vg__json_respond(req, all_rejected ? 422 : 200, res);
out:
	free(added);
	vg_store_bank_done(&b);
	json_decref(errors);
	json_decref(body);
}

struct page_walk {
	int64_t after;
	size_t limit;
	json_t *items;
};

static int page_one(const vg_store_signal *sig, void *ctx)
{
	struct page_walk *w = ctx;
	if (sig->id <= w->after)
		return 0;
	json_t *meta = sig->metadata ? json_loads(sig->metadata, 0, NULL) : NULL;
	json_array_append_new(w->items, json_pack("{s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)sig->id,
						  "type", sig->type, "value", sig->value, "metadata",
						  meta ? meta : json_null(), "added_at",
						  vg__json_time(sig->added_at)));
	return json_array_size(w->items) >= w->limit ? 1 : 0;
}

static void signals_list(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	vg__page page;
	if (!s || !vg__api_page(req, &page))
		return;
	vg_store_bank b;
	vg_error err;
	if (vg_store_bank_get(s, vg_http_param(req, "name"), &b, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	struct page_walk w = {page.after, page.limit, json_array()};
	vg_store_filter f = {.bank_ids = &b.id, .n_bank_ids = 1, .after_id = page.after};
	int rc = vg_store_signal_each(s, &f, page_one, &w, &err);
	vg_store_bank_done(&b);
	if (rc < 0) {
		json_decref(w.items);
		vg__respond_err(req, &err);
		return;
	}
	vg__api_page_respond(req, w.items, page.limit);
}

static void signal_delete(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	int64_t id;
	if (!s || !vg__api_id_param(req, "id", &id))
		return;
	const char *name = vg_http_param(req, "name");
	vg_store_signal sig;
	vg_error err;
	if (vg_store_signal_get(s, id, &sig, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	if (strcmp(sig.bank, name) != 0 || sig.removed_at) {
		vg_store_signal_done(&sig);
		vg_http_respond_error(req, VG_ENOENT, "no live signal %lld in bank %s", (long long)id, name);
		return;
	}
	size_t removed = 0;
	int rc = vg_store_begin(s, &err);
	if (!rc)
		rc = vg_store_signal_remove(s, sig.bank_id, sig.type, sig.value, &removed, &err);
	if (!rc) {
		json_t *d = json_pack("{s:I,s:s,s:s}", "signal_id", (json_int_t)id, "type", sig.type, "value",
				      sig.value);
		rc = vg__api_audit(api, s, who->name, "signal.remove", "bank", name, d, &err);
		json_decref(d);
	}
	rc = vg__api_finish_banks(api, s, rc, &err);
	if (!rc) {
		pthread_rwlock_wrlock(&api->index_lock);
		int irc = vg_bank_index_remove(api->index, id, sig.type, sig.value, &err);
		pthread_rwlock_unlock(&api->index_lock);
		(void)irc; /* not indexed (a disabled bank) is fine */
		vg__api_followed_update(api, s, name);
	}
	vg_store_signal_done(&sig);
	if (rc)
		vg__respond_err(req, &err);
	else
		vg__json_respond(req, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "removed", 1));
}

/* ---- streamed export: a thread writes the export into a pipe, the response reads it ---- */
struct export {
	uint32_t magic;
	char db[VG_OPT_STRING_MAX];
	int64_t bank_id;
	vg_bank_format format;
	int rfd;
	FILE *w;
	pthread_t thread;
};
#define EXPORT_MAGIC 0x76676578u

static void *export_thread(void *arg)
{
	struct export *x = arg;
	vg_store *s;
	vg_error err;
	if (vg_store_open(x->db, &s, &err) == 0) {
		size_t n;
		if (vg_bank_export(s, x->bank_id, x->format, x->w, &n, &err) != 0)
			vg_log(VG_LOG_WARN, "export.failed", "bank_id=%lld error=%s", (long long)x->bank_id,
			       vg_error_name(err.code));
		vg_store_close(s);
	}
	fclose(x->w); /* the reader sees the end */
	return NULL;
}

static long export_fill(void *ctx, uint64_t pos, char *buf, size_t max)
{
	struct export *x = ctx;
	if (x->magic != EXPORT_MAGIC)
		return -1;
	ssize_t n;
	do
		n = read(x->rfd, buf, max);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : (long)n;
}

static void export_done(void *ctx)
{
	struct export *x = ctx;
	close(x->rfd); /* a writer still going gets EPIPE and stops */
	pthread_join(x->thread, NULL);
	x->magic = 0;
	free(x);
}

static void export(vg_api *api, vg_http_req *req, const vg__actor *who)
{
	vg_store *s = vg__api_store(api, req);
	if (!s)
		return;
	const char *fmt = vg_http_query(req, "format");
	vg_bank_format format = VG_BANK_NDJSON;
	if (fmt && (!vg_bank_format_parse(fmt, &format) || format == VG_BANK_PLAIN)) {
		vg_http_respond_error(req, VG_EINVAL, "format must be csv or ndjson");
		return;
	}
	vg_store_bank b;
	vg_error err;
	if (vg_store_bank_get(s, vg_http_param(req, "name"), &b, &err) != 0) {
		vg__respond_err(req, &err);
		return;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		vg_store_bank_done(&b);
		vg_http_respond_error(req, VG_EIO, "cannot start the export");
		return;
	}
	struct export *x = vg_xcalloc(1, sizeof(*x));
	x->magic = EXPORT_MAGIC;
	snprintf(x->db, sizeof(x->db), "%s", api->cfg.db);
	x->bank_id = b.id;
	x->format = format;
	x->rfd = fds[0];
	x->w = fdopen(fds[1], "w");
	vg_store_bank_done(&b);
	if (!x->w || pthread_create(&x->thread, NULL, export_thread, x) != 0) {
		if (x->w)
			fclose(x->w);
		else
			close(fds[1]);
		close(fds[0]);
		free(x);
		vg_http_respond_error(req, VG_EIO, "cannot start the export");
		return;
	}
	/* Texts and metadata may be non-ASCII; text/csv alone means US-ASCII (RFC 4180). */
	const char *ctype = format == VG_BANK_CSV ? "text/csv; charset=utf-8" : "application/x-ndjson";
	vg_http_respond_stream(req, 200, ctype, export_fill, x, export_done);
}

const vg__api_route vg__bank_routes[] = {
	{"GET", "/v1/banks", VG__ROLE_ANALYST, false, list},
	{"POST", "/v1/banks", VG__ROLE_ADMIN, false, create},
	{"GET", "/v1/banks/{name}", VG__ROLE_ANALYST, false, get},
	{"PATCH", "/v1/banks/{name}", VG__ROLE_ADMIN, false, patch},
	{"DELETE", "/v1/banks/{name}", VG__ROLE_ADMIN, false, delete},
	{"POST", "/v1/banks/{name}/signals", VG__ROLE_ANALYST, false, signals_add},
	{"GET", "/v1/banks/{name}/signals", VG__ROLE_ANALYST, false, signals_list},
	{"DELETE", "/v1/banks/{name}/signals/{id}", VG__ROLE_ANALYST, false, signal_delete},
	{"GET", "/v1/banks/{name}/export", VG__ROLE_ANALYST, false, export},
};
const size_t vg__bank_route_count = VG_ARRAY_LEN(vg__bank_routes);
