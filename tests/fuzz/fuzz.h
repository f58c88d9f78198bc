/* SPDX-License-Identifier: Apache-2.0
 *
 * What every fuzz target shares: the prototype of libFuzzer's entry point (each target
 * defines it; replay.c calls it when the target is built without libFuzzer) and the
 * check that stops the run when a result breaks a contract. A failed check must crash
 * rather than return, so that libFuzzer keeps the input as an artifact and a replay
 * fails; it names the condition first, since a bare trap says nothing in a test log.
 * And, for the parsers of text, the input as a C string.
 */
#ifndef VG_FUZZ_H
#define VG_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VG_FUZZ_CHECK(cond)                                                                 \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,    \
				#cond);                                                     \
			__builtin_trap();                                                   \
		}                                                                           \
	} while (0)

/* The input as a C string in buf (cap bytes), as parsers of text get it; false when it
 * does not fit, and the target then skips it. A NUL inside ends the string early. */
static inline bool vg_fuzz_cstr(const uint8_t *data, size_t size, char *buf, size_t cap)
{
	if (size >= cap)
		return false;
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)data[i];
	buf[size] = '\0';
	return true;
}

#endif
