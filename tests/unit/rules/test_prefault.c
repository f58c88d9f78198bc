/* SPDX-License-Identifier: Apache-2.0
 *
 * The prefault thread (rules_prefault.c): it faults in what it is asked to, and after a
 * fence it never touches the range again, even when the addresses are mapped anew. Pages
 * are seen with mincore, which says which are resident without faulting them in.
 */
#include <criterion/criterion.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rules/internal.h"

#define MB ((size_t)1 << 20)

static size_t resident(void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = len / page, in = 0;
	unsigned char *v = malloc(n);
	cr_assert(v);
	cr_assert_eq(mincore(p, len, v), 0);
	for (size_t i = 0; i < n; i++)
		in += v[i] & 1;
	free(v);
	return in * page;
}

static void *map(void *at, size_t len)
{
	/* MAP_FIXED replaces whatever is there: only for addresses just unmapped, with
	 * nothing allocated in between. */
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | (at ? MAP_FIXED : 0);
	void *p = mmap(at, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
	nanosleep(&ts, NULL);
}

/* Whether this kernel has MADV_POPULATE_WRITE (Linux 5.14): without it vg__prefault is a
 * hint nobody takes, and only the fence's promise can be tested. */
static bool kernel_populates(void)
{
#ifdef MADV_POPULATE_WRITE
	void *p = map(NULL, 4096);
	bool ok = madvise(p, 4096, MADV_POPULATE_WRITE) == 0;
	munmap(p, 4096);
	return ok;
#else
	return false;
#endif
}

Test(prefault, faults_in_what_it_is_asked_to)
{
	size_t len = 16 * MB;
	char *p = map(NULL, len);
	p[0] = 1; /* written before: populating must keep it */
	vg__prefault(p + MB, 8 * MB);
	size_t got = 0;
	for (int i = 0; i < 500 && got < 8 * MB; i++) {
		sleep_ms(10);
		got = resident(p + MB, 8 * MB);
	}
	if (kernel_populates()) {
		cr_assert_eq(got, 8 * MB, "%zu of 8 MiB faulted in after 5 s", got);
		cr_assert_lt(resident(p + 9 * MB, 7 * MB), 7 * MB, "populated past the range");
	} else {
		cr_log_warn("no MADV_POPULATE_WRITE on this kernel: only the fence is tested");
	}
	cr_assert_eq(p[0], 1);
	vg__prefault_fence(p, len);
	munmap(p, len);
}

Test(prefault, never_touches_a_range_after_its_fence)
{
	/* As much as the queue takes, so most of it is still queued at the fence. */
	size_t len = 128 * MB;
	char *p = map(NULL, len);
	vg__prefault(p, len);
	vg__prefault_fence(p, len);
	munmap(p, len);
	/* The same addresses, mapped anew and never written: a request that outlived the
	 * fence would fault them in now. */
	char *q = map(p, len);
	sleep_ms(300);
	cr_assert_eq(resident(q, len), 0, "a request ran after its range's fence");
	munmap(q, len);
}
