/* SPDX-License-Identifier: Apache-2.0
 *
 * Labels across restarts: the live labels in the store are read into one table that every
 * worker consults read-only after its own, and each drain writes the labels the workers set
 * since the last one, in transactions of at most CHUNK labels (a server's requests wait
 * for the write lock while one runs: thousands at once were a 50 ms stall every flush).
 * Engines and runners open the store for the call and close it after, because a vg_store
 * belongs to one thread and their drains are rare; a server's flusher writes through its
 * own thread's store (opening one costs ~1.3M instructions, reading the schema).
 *
 * Invariant: a label a rule set is in the store once the drain that followed it returned 0.
 */
#include <stdlib.h>

#include "internal.h"

#define CHUNK 256

static int load_one(const vg_store_label *l, void *ctx)
{
	vg_labels_set(ctx, l->kind, l->entity, l->name, l->expires_at);
	return 0;
}

int vg__rules_labels_load(const char *store_path, vg_usec live_at, vg_labels *l, vg_error *err)
{
	vg_store *s;
	int rc = vg_store_open(store_path, &s, err);
	if (rc)
		return rc;
	rc = vg_store_label_each(s, live_at, load_one, l, err);
	vg_store_close(s);
	vg__labels_settle(l); /* read-only from here: no insert would finish a growth */
	return rc;
}

int vg__rules_labels_write(vg_store *s, const vg__label_write *w, size_t n, vg_error *err)
{
	vg_store_label *v = vg_xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = (vg_store_label){w[i].kind, w[i].id, w[i].name, w[i].expires_at};
	int rc = 0;
	for (size_t at = 0; rc == 0 && at < n; at += CHUNK)
		rc = vg_store_label_set_many(s, v + at, n - at < CHUNK ? n - at : CHUNK, err);
	free(v);
	return rc;
}

int vg__rules_labels_persist(const char *store_path, const vg__label_write *w, size_t n,
			     vg_error *err)
{
	vg_store *s;
	int rc = vg_store_open(store_path, &s, err);
	if (rc == 0) {
		rc = vg__rules_labels_write(s, w, n, err);
		vg_store_close(s);
	}
	return rc;
}
