/* SPDX-License-Identifier: Apache-2.0
 *
 * Labels across states. Each worker (or server lane) keeps its own label table, so
 * has_label takes no lock; a label is a fact about an entity, though, and the entity is
 * rarely the partition key (a user labelled on the worker of the address it logged in
 * from uploads from another). So label() also posts the label to every other state's
 * inbox, and each state empties its inbox into its own table before its next event.
 *
 * Costs: an event whose rules set no label pays one relaxed load of its own inbox's
 * flag; a label() pays a lock and a copy per other state. A label is seen by the other
 * states from their next event on, not at the same instant: an event another state
 * evaluates while the label is in flight does not see it.
 *
 * Invariants: an inbox's list is touched only under its mutex; `pending` is set whenever
 * a label is added and cleared by the owner as it takes the list (a forget may leave it
 * set over an empty list, which a poll takes as nothing). An inbox holds at most
 * INBOX_MAX labels; past that a post is dropped (its state still reads the label from
 * the store at its next start) and counted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A state that gets no events never empties its inbox (one worker's key space can be
 * all the traffic), so each holds a bounded backlog: ~8 MB of typical labels. */
#define INBOX_MAX ((size_t)1 << 16)

typedef struct inbox {
	pthread_mutex_t mu;
	vg__label_write *w;
	size_t n, cap;
	atomic_bool pending;
	char pad[64]; /* inboxes are written by different threads: one line each */
} inbox;

struct vg_label_bus {
	int n;
	atomic_bool hold;
	atomic_uint_fast64_t dropped;
	inbox *in;
};

vg_label_bus *vg_label_bus_new(int states)
{
	vg_label_bus *b = vg_xcalloc(1, sizeof(*b));
	b->n = states > 0 ? states : 1;
	b->in = vg_xcalloc((size_t)b->n, sizeof(*b->in));
	for (int i = 0; i < b->n; i++)
		pthread_mutex_init(&b->in[i].mu, NULL);
	return b;
}

void vg_label_bus_free(vg_label_bus *b)
{
	if (!b)
		return;
	for (int i = 0; i < b->n; i++) {
		vg__label_write_free(b->in[i].w, b->in[i].n);
		pthread_mutex_destroy(&b->in[i].mu);
	}
	free(b->in);
	free(b);
}

void vg_label_bus_hold(vg_label_bus *b, bool hold)
{
	atomic_store(&b->hold, hold);
}

uint64_t vg_label_bus_dropped(const vg_label_bus *b)
{
	return atomic_load_explicit(&b->dropped, memory_order_relaxed);
}

void vg__label_bus_post(vg_label_bus *b, int from, const char *kind, const char *id,
			const char *name, vg_usec expires_at)
{
	for (int i = 0; i < b->n; i++) {
		if (i == from)
			continue;
		inbox *in = &b->in[i];
		pthread_mutex_lock(&in->mu);
		if (in->n == INBOX_MAX) {
			pthread_mutex_unlock(&in->mu);
			if (atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed) == 0)
				vg_log(VG_LOG_WARN, "rules.label_inbox_full",
				       "state=%d max=%zu msg=\"labels for this state are dropped until it "
				       "catches up; it reads them from the store at its next start\"",
				       i, INBOX_MAX);
			continue;
		}
		if (in->n == in->cap) {
			in->cap = in->cap ? in->cap * 2 : 64;
			in->w = realloc(in->w, in->cap * sizeof(*in->w));
			if (!in->w)
				abort();
		}
		in->w[in->n++] = (vg__label_write){vg_xstrdup(kind), vg_xstrdup(id),
						   vg_xstrdup(name), expires_at};
		atomic_store_explicit(&in->pending, true, memory_order_release);
		pthread_mutex_unlock(&in->mu);
	}
}

void vg_label_bus_forget(vg_label_bus *b, const char *kind, const char *id, const char *name)
{
	for (int i = 0; i < b->n; i++) {
		inbox *in = &b->in[i];
		pthread_mutex_lock(&in->mu);
		size_t k = 0;
		for (size_t j = 0; j < in->n; j++) {
			vg__label_write *w = &in->w[j];
			if (strcmp(w->kind, kind) == 0 && strcmp(w->id, id) == 0 &&
			    strcmp(w->name, name) == 0) {
				free(w->kind);
				free(w->id);
				free(w->name);
			} else {
				in->w[k++] = *w;
			}
		}
		in->n = k;
		pthread_mutex_unlock(&in->mu);
	}
}

void vg__label_bus_poll(vg_label_bus *b, int self, vg_labels *labels)
{
	inbox *in = &b->in[self];
	if (!atomic_load_explicit(&in->pending, memory_order_relaxed) ||
	    atomic_load_explicit(&b->hold, memory_order_relaxed))
		return;
	pthread_mutex_lock(&in->mu);
	vg__label_write *w = in->w;
	size_t n = in->n;
	in->w = NULL;
	in->n = in->cap = 0;
	atomic_store_explicit(&in->pending, false, memory_order_relaxed);
	pthread_mutex_unlock(&in->mu);
	for (size_t i = 0; i < n; i++)
		vg_labels_set(labels, w[i].kind, w[i].id, w[i].name, w[i].expires_at);
	vg__label_write_free(w, n);
}
