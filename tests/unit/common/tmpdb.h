/* SPDX-License-Identifier: Apache-2.0
 *
 * A fresh temporary folder for each test, with the path of a store database in it, for the
 * unit tests that run against a real SQLite store (tests/unit/bank/, tests/unit/store/).
 * A test file includes this header and names tmpdb_setup and tmpdb_teardown as its
 * suite's .init and .fini, so every test starts on an empty store (at tmp.path) and
 * leaves nothing behind in /tmp.
 *
 * Everything here is static: each test file that includes the header has its own tmp,
 * and the build files need no change (it is included by relative path,
 * "../common/tmpdb.h").
 */
#ifndef VG_TEST_TMPDB_H
#define VG_TEST_TMPDB_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"

typedef struct tmpdb {
	char dir[64];   /* /tmp/vg-test-XXXXXX, made by tmpdb_setup */
	char path[256]; /* <dir>/t.db; the store creates it on first open */
} tmpdb;

/* This test file's folder, made again for every test. */
static tmpdb tmp;

static inline void tmpdb_setup(void)
{
	snprintf(tmp.dir, sizeof(tmp.dir), "/tmp/vg-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp.dir));
	snprintf(tmp.path, sizeof(tmp.path), "%s/t.db", tmp.dir);
}

static inline void tmpdb_teardown(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp.dir);
	cr_assert_eq(system(cmd), 0);
}

/* The store at tmp.path; the test fails with the store's message when it does not open. */
static inline vg_store *tmpdb_open(void)
{
	vg_store *s = NULL;
	vg_error err;
	cr_assert_eq(vg_store_open(tmp.path, &s, &err), 0, "%s", err.msg);
	return s;
}

#endif
