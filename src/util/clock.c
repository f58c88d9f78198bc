/* SPDX-License-Identifier: Apache-2.0
 *
 * vigil's one time type, vg_usec: int64 microseconds, wall clock or monotonic.
 */
#include <time.h>

#include "util.h"

static vg_usec read_clock(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (vg_usec)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

vg_usec vg_time_now(void)
{
	return read_clock(CLOCK_REALTIME);
}

vg_usec vg_time_mono(void)
{
	return read_clock(CLOCK_MONOTONIC);
}
