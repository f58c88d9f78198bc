/* SPDX-License-Identifier: Apache-2.0
 *
 * The outbox's retry policy as pure functions: when to try again, and which answers are
 * worth trying again at all. Kept apart from the worker so the tests can check the
 * arithmetic exactly, without clocks or sockets.
 *
 * Backoff: exponential from the first delay, doubled per failed attempt and capped, then
 * jittered over its upper half. The doubling is what stops a dead receiver from being
 * hammered; the jitter is what stops a thousand items that failed together (one receiver
 * down for a minute) from all coming back in the same millisecond; keeping at least half
 * of the delay keeps the doubling meaningful.
 */
#include "internal.h"

vg_usec vg_outbox_backoff(vg_usec first_us, vg_usec max_us, int attempts, uint64_t rnd,
			  vg_usec retry_after_us)
{
	if (max_us < 1)
		max_us = 1;
	if (first_us < 1)
		first_us = 1;
	if (first_us > max_us)
		first_us = max_us;
	/* Double by steps rather than shift, so that attempt 200 cannot overflow. */
	vg_usec base = first_us;
	for (int i = 1; i < attempts && base < max_us; i++)
		base = base > max_us / 2 ? max_us : base * 2;
	vg_usec half = base / 2;
	vg_usec d = half + (vg_usec)(rnd % (uint64_t)(base - half + 1));
	if (retry_after_us > d)
		d = retry_after_us;
	if (d > max_us)
		d = max_us;
	return d < 1 ? 1 : d;
}

vg__outcome vg__outbox_status_outcome(long status)
{
	if (status >= 200 && status <= 299)
		return VG__OUTCOME_DONE;
	/* 408 and 429 say "not now"; 5xx says the receiver is broken, which it may fix. */
	if (status == 408 || status == 429 || (status >= 500 && status <= 599))
		return VG__OUTCOME_RETRY;
	/* Other 4xx: the receiver looked at the item and refused it; it will again. 3xx: we
	 * do not follow redirects (a webhook that moved must be reconfigured, not chased),
	 * and 1xx or nonsense can only come from a receiver that is not speaking HTTP. */
	return VG__OUTCOME_DEAD;
}
