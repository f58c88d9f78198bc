/* SPDX-License-Identifier: Apache-2.0
 *
 * What the bank tests that run over a real store share (test_bank.c, test_types.c):
 * making a bank to put signals in. static inline, so nothing changes in the build files.
 */
#ifndef VG_TEST_BANK_TEST_H
#define VG_TEST_BANK_TEST_H

#include <criterion/criterion.h>
#include <stdint.h>

#include "bank/bank.h"

/* A new bank named name, with no description, in s; its id. The test fails when the
 * bank cannot be made. */
static inline int64_t make_bank(vg_store *s, const char *name)
{
	vg_error err;
	vg_store_bank b;
	cr_assert_eq(vg_bank_create(s, name, "", &err), 0, "%s", err.msg);
	cr_assert_eq(vg_store_bank_get(s, name, &b, &err), 0);
	int64_t id = b.id;
	vg_store_bank_done(&b);
	return id;
}

#endif
