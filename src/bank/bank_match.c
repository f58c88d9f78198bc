/* SPDX-License-Identifier: Apache-2.0
 *
 * From a query to matches people can read: the index gives signal ids and distances,
 * the store gives each hit's bank, type, value and metadata. Shared by `vigil match` and
 * the API's /v1/match and /v1/scan, so both report the same matches in the same order:
 * by distance, then signal id; one entry per signal (the closest, when dihedral variants
 * or several queries find it twice).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_DIGEST_IDS 1024

void vg_bank_matches_init(vg_bank_matches *m)
{
	memset(m, 0, sizeof(*m));
	vg_mih_hits_init(&m->hits, 0);
}

void vg_bank_matches_clear(vg_bank_matches *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].metadata);
	m->n = 0;
	m->truncated = false;
}

void vg_bank_matches_done(vg_bank_matches *m)
{
	vg_bank_matches_clear(m);
	free(m->v);
	vg_mih_hits_done(&m->hits);
	memset(m, 0, sizeof(*m));
}

static bool bank_allowed(int64_t bank_id, const int64_t *ids, size_t n)
{
	if (n == 0)
		return true;
	for (size_t i = 0; i < n; i++)
		if (ids[i] == bank_id)
			return true;
	return false;
}

static bool bank_present(const vg_bank_matches *m, int64_t bank_id)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].bank_id == bank_id)
			return true;
	return false;
}

/* Adds signal id at distance. A signal found twice (two dihedral variants, a PDQ and a
 * digest) is merged by vg_bank_matches_sort, not here, so a query with many hits costs
 * n log n rather than n squared.
 *
 * Past the limit a hit is still looked up, and kept when it is its bank's first: the
 * scan acts once per matched bank, so dropping the first hit of a bank (its digest
 * match behind a thousand near-duplicate PDQ hits of another) dropped that bank's
 * block and case and answered "allow". The linear bank search runs only past the
 * limit, where the store lookup per hit costs more. */
static int add(vg_bank_matches *m, vg_store *s, int64_t id, int distance, const int64_t *banks,
	       size_t nbanks, vg_error *err)
{
	vg_store_signal sig;
	int rc = vg_store_signal_get(s, id, &sig, err);
	if (rc == VG_ENOENT)
		return 0; /* removed since the index was built */
	if (rc)
		return rc;
	if (sig.removed_at || !bank_allowed(sig.bank_id, banks, nbanks)) {
		vg_store_signal_done(&sig);
		return 0;
	}
	if (m->limit && m->n >= m->limit) {
		m->truncated = true;
		if (bank_present(m, sig.bank_id)) {
			vg_store_signal_done(&sig);
			return 0;
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		vg_bank_match *v = realloc(m->v, cap * sizeof(*v));
		if (!v) {
			vg_store_signal_done(&sig);
			return vg_error_set(err, VG_ENOMEM, "out of memory");
		}
		m->v = v;
		m->cap = cap;
	}
	vg_bank_match *x = &m->v[m->n++];
	memset(x, 0, sizeof(*x));
	x->signal_id = id;
	x->distance = distance;
	x->bank_id = sig.bank_id;
	snprintf(x->bank, sizeof(x->bank), "%s", sig.bank);
	snprintf(x->type, sizeof(x->type), "%s", sig.type);
	snprintf(x->value, sizeof(x->value), "%s", sig.value ? sig.value : "");
	x->metadata = sig.metadata;
	sig.metadata = NULL;
	vg_store_signal_done(&sig);
	return 0;
}

int vg_bank_match_pdq(const vg_bank_index *idx, vg_store *s, const vg_pdq *q, int threshold,
		      const int64_t *bank_ids, size_t n_bank_ids, vg_bank_matches *m, vg_error *err)
{
	int rc = vg_bank_index_query_pdq(idx, q, threshold, &m->hits);
	if (rc)
		return vg_error_set(err, rc, "PDQ query failed: %s", vg_error_message(rc));
	for (size_t i = 0; i < m->hits.n; i++) {
		rc = add(m, s, (int64_t)m->hits.v[i].id, m->hits.v[i].distance, bank_ids, n_bank_ids, err);
		if (rc)
			return rc;
	}
	return 0;
}

int vg_bank_match_digest(const vg_bank_index *idx, vg_store *s, const char *type,
			 const uint8_t *digest, const int64_t *bank_ids, size_t n_bank_ids,
			 vg_bank_matches *m, vg_error *err)
{
	uint64_t ids[MAX_DIGEST_IDS];
	size_t n = vg_bank_index_lookup(idx, type, digest, ids, MAX_DIGEST_IDS);
	if (n > MAX_DIGEST_IDS)
		n = MAX_DIGEST_IDS;
	for (size_t i = 0; i < n; i++) {
		int rc = add(m, s, (int64_t)ids[i], 0, bank_ids, n_bank_ids, err);
		if (rc)
			return rc;
	}
	return 0;
}

static int cmp_match(const void *a, const void *b)
{
	const vg_bank_match *x = a, *y = b;
	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	return (x->signal_id > y->signal_id) - (x->signal_id < y->signal_id);
}

static int cmp_id(const void *a, const void *b)
{
	const vg_bank_match *x = a, *y = b;
	if (x->signal_id != y->signal_id)
		return x->signal_id < y->signal_id ? -1 : 1;
	return (x->distance > y->distance) - (x->distance < y->distance);
}

void vg_bank_matches_sort(vg_bank_matches *m)
{
	/* qsort's base must not be NULL even for no entries, and m->v is NULL until the
	 * first match. */
	if (m->n < 2)
		return;
	/* One entry per signal, at its smallest distance. */
	qsort(m->v, m->n, sizeof(*m->v), cmp_id);
	size_t k = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (k && m->v[k - 1].signal_id == m->v[i].signal_id) {
			free(m->v[i].metadata);
			continue;
		}
		m->v[k++] = m->v[i];
	}
	m->n = k;
	qsort(m->v, m->n, sizeof(*m->v), cmp_match);
}

json_t *vg_bank_matches_json(const vg_bank_matches *m)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < m->n; i++) {
		const vg_bank_match *x = &m->v[i];
		json_t *meta = x->metadata ? json_loads(x->metadata, 0, NULL) : NULL;
		json_array_append_new(arr, json_pack("{s:s,s:I,s:s,s:s,s:i,s:o}", "bank", x->bank,
						     "signal_id", (json_int_t)x->signal_id, "type",
						     x->type, "value", x->value, "distance",
						     x->distance, "metadata", meta ? meta : json_null()));
	}
	return arr;
}
