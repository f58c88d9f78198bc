/* SPDX-License-Identifier: Apache-2.0
 *
 * Faulting memory in ahead of use, on a thread of its own. A growing counter or label
 * table writes into fresh mappings backed by 2 MiB pages (rules_state.c says why), and
 * the first write to each page costs a 2 MiB clear, plus, on a VM, the hypervisor's
 * backing of it: 2-9 ms of the worker's CPU time per page on this project's 2-core VMs,
 * about once per 25K events while a table of a million keys fills. Such a stall lands in
 * whatever rule is running, and in the latency of every event queued behind it (and one
 * replay in some thirty lost a verdict to a 50 ms budget stop in a rule that does nothing
 * slow: most likely such a stall at its worst). So a table hands the memory it will
 * write next to this thread, which populates it with MADV_POPULATE_WRITE: the pages are
 * faulted in as a write would, and their contents are not touched, so the table may
 * write the same pages meanwhile.
 *
 * Requests are hints. When the queue is full, the thread cannot start, or the kernel
 * lacks MADV_POPULATE_WRITE (before Linux 5.14), the table's own writes fault the
 * pages in, as they would without this file.
 *
 * Invariant: a range's owner calls vg__prefault_fence before it unmaps or moves the
 * range, which drops the queued requests on it and waits out a running one, so this
 * thread never populates memory that has changed hands.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define QUEUE 64                    /* requests waiting; more are dropped */
#define PIECE ((size_t)2 << 20)    /* a request's most bytes: a fence waits out one */

typedef struct req {
	char *addr;
	size_t len;
} req;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER; /* a request was queued */
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* the running one finished */
static req queue[QUEUE];
static size_t queued;
static req running; /* addr NULL: none */
static bool started, unavailable;

static bool overlaps(const req *r, const char *addr, size_t len)
{
	return r->addr && r->addr < addr + len && addr < r->addr + r->len;
}

#ifdef MADV_POPULATE_WRITE
static void *prefault_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (queued == 0)
			pthread_cond_wait(&work, &mu);
		running = queue[0];
		memmove(queue, queue + 1, --queued * sizeof(req));
		pthread_mutex_unlock(&mu);
		int rc = madvise(running.addr, running.len, MADV_POPULATE_WRITE);
		int e = errno;
		pthread_mutex_lock(&mu);
		if (rc != 0 && e == EINVAL) {
			unavailable = true; /* a kernel without it: stop asking */
			queued = 0;
		}
		running.addr = NULL;
		pthread_cond_broadcast(&done);
	}
	return NULL;
}
#endif

void vg__prefault(void *addr, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	/* madvise wants a page-aligned start. */
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	char *p = (char *)((uintptr_t)addr & ~(page - 1));
	len += (size_t)((char *)addr - p);
	pthread_mutex_lock(&mu);
	if (!started) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		unavailable = pthread_create(&t, &a, prefault_main, NULL) != 0;
		pthread_attr_destroy(&a);
		started = true;
	}
	for (size_t off = 0; !unavailable && off < len && queued < QUEUE; off += PIECE)
		queue[queued++] = (req){p + off, len - off < PIECE ? len - off : PIECE};
	pthread_cond_signal(&work);
	pthread_mutex_unlock(&mu);
#else
	(void)addr;
	(void)len;
#endif
}

void vg__prefault_fence(const void *addr, size_t len)
{
	const char *a = addr;
	pthread_mutex_lock(&mu);
	size_t kept = 0;
	for (size_t i = 0; i < queued; i++)
		if (!overlaps(&queue[i], a, len))
			queue[kept++] = queue[i];
	queued = kept;
	while (overlaps(&running, a, len))
		pthread_cond_wait(&done, &mu);
	pthread_mutex_unlock(&mu);
}
