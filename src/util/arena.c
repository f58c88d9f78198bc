/* SPDX-License-Identifier: Apache-2.0
 *
 * Request arenas: bump allocation from a list of chunks, released all at once. Memory
 * for one HTTP request, one batch or one image lives here, which makes "decoded pixels
 * never outlive the request" a property of the allocator rather than of each caller.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CHUNK_MIN (64 * 1024)
#define ALIGN 16

struct chunk {
	struct chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
	_Alignas(ALIGN) unsigned char data[];
};

struct vg_arena {
	struct chunk *head;
	size_t cap;   /* total bytes allowed across chunks */
	size_t total; /* bytes in chunks now held */
};

vg_arena *vg_arena_new(size_t cap_bytes)
{
	vg_arena *a = vg_xcalloc(1, sizeof(*a));
	a->cap = cap_bytes;
	return a;
}

static void free_chunks(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
}

void vg_arena_free(vg_arena *a)
{
	if (!a)
		return;
	free_chunks(a->head);
	free(a);
}

void vg_arena_reset(vg_arena *a)
{
	/* Keep the newest chunk (usually the largest) for the next request. */
	if (!a->head)
		return;
	free_chunks(a->head->next);
	a->head->next = NULL;
	a->head->used = 0;
	a->total = a->head->size;
}

void *vg_arena_alloc(vg_arena *a, size_t bytes)
{
	size_t need = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	if (need < bytes)
		return NULL;
	struct chunk *c = a->head;
	if (!c || c->size - c->used < need) {
		size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
		if (size > a->cap || a->total > a->cap - size)
			return NULL;
		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->total += size;
	}
	void *p = c->data + c->used;
	c->used += need;
	return p;
}

size_t vg_arena_used(const vg_arena *a)
{
	size_t n = 0;
	for (const struct chunk *c = a->head; c; c = c->next)
		n += c->used;
	return n;
}
