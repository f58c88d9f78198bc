/* SPDX-License-Identifier: Apache-2.0
 *
 * Hashing many files on many threads with results delivered in input order. Workers
 * claim the next index, read and hash the file, and park the result in a ring; the
 * calling thread emits results in order as they complete. The ring bounds memory: a
 * worker never runs more than `window` files ahead of the oldest unemitted one, so a
 * million paths cost a million paths, not a million results.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

struct slot {
	vg_hash_item item;
	bool done;
};

struct batch {
	char *const *paths;
	size_t n;
	const vg_hash_opts *opts;
	size_t max_file_bytes;
	struct slot *ring;
	size_t window;
	size_t next_claim; /* next index a worker takes */
	size_t next_emit;  /* next index the caller emits */
	pthread_mutex_t mu;
	pthread_cond_t cv_done;  /* a slot became done */
	pthread_cond_t cv_space; /* the window moved */
};

void vg_hash_file(const char *path, const vg_hash_opts *opts, size_t max_file_bytes,
		  vg_hash_item *item)
{
	memset(item, 0, sizeof(*item));
	item->path = path;
	uint8_t *data = NULL;
	size_t len = 0;
	item->rc = vg_file_read(path, max_file_bytes, &data, &len, &item->err);
	if (item->rc == 0) {
		vg_digests_compute(data, len, &item->digests);
		item->rc = vg_image_hash(data, len, opts, &item->image, &item->err);
		item->bytes = len;
	}
	free(data);
}

static void *worker(void *arg)
{
	struct batch *b = arg;
	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (b->next_claim < b->n && b->next_claim >= b->next_emit + b->window)
			pthread_cond_wait(&b->cv_space, &b->mu);
		if (b->next_claim >= b->n)
			break;
		size_t i = b->next_claim++;
		pthread_mutex_unlock(&b->mu);

		vg_hash_item item;
		vg_hash_file(b->paths[i], b->opts, b->max_file_bytes, &item);

		pthread_mutex_lock(&b->mu);
		struct slot *s = &b->ring[i % b->window];
		s->item = item;
		s->done = true;
		pthread_cond_broadcast(&b->cv_done);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

int vg_hash_files(char *const *paths, size_t n, const vg_hash_opts *opts, int jobs,
		  size_t max_file_bytes, vg_hash_emit_fn *emit, void *ctx)
{
	if (jobs < 1)
		jobs = 1;
	if ((size_t)jobs > n)
		jobs = n ? (int)n : 1;
	if (jobs == 1) {
		for (size_t i = 0; i < n; i++) {
			vg_hash_item item;
			vg_hash_file(paths[i], opts, max_file_bytes, &item);
			emit(&item, ctx);
		}
		return 0;
	}

	struct batch b = {
		.paths = paths,
		.n = n,
		.opts = opts,
		.max_file_bytes = max_file_bytes,
		.window = (size_t)jobs * 16,
	};
	b.ring = vg_xcalloc(b.window, sizeof(*b.ring));
	pthread_mutex_init(&b.mu, NULL);
	pthread_cond_init(&b.cv_done, NULL);
	pthread_cond_init(&b.cv_space, NULL);

	pthread_t *tids = vg_xcalloc((size_t)jobs, sizeof(*tids));
	int started = 0;
	for (; started < jobs; started++)
		if (pthread_create(&tids[started], NULL, worker, &b) != 0)
			break;
	pthread_mutex_lock(&b.mu);
	for (size_t i = 0; i < n && started > 0; i++) {
		struct slot *s = &b.ring[i % b.window];
		while (!s->done)
			pthread_cond_wait(&b.cv_done, &b.mu);
		vg_hash_item item = s->item;
		s->done = false;
		b.next_emit = i + 1;
		pthread_cond_broadcast(&b.cv_space);
		pthread_mutex_unlock(&b.mu);
		emit(&item, ctx);
		pthread_mutex_lock(&b.mu);
	}
	pthread_mutex_unlock(&b.mu);

	for (int t = 0; t < started; t++)
		pthread_join(tids[t], NULL);
	free(tids);
	pthread_cond_destroy(&b.cv_space);
	pthread_cond_destroy(&b.cv_done);
	pthread_mutex_destroy(&b.mu);
	free(b.ring);
	if (started == 0) /* no thread could start: do the work here instead */
		return vg_hash_files(paths, n, opts, 1, max_file_bytes, emit, ctx);
	return 0;
}
