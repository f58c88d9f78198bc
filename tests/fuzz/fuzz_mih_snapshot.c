/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_mih_load(), the reader of PDQ index snapshots, which a server
 * trusts at start-up. Arbitrary bytes go to a file and are loaded; a load either fails
 * with one of its documented codes or yields an index whose queries work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "match/match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/vigil-fuzz-snapshot-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		unlink(path);
		return 0;
	}
	close(fd);
	vg_mih *idx = NULL;
	vg_error err;
	int rc = vg_mih_load(path, 1 << 16, &idx, &err);
	unlink(path);
	if (rc) {
		VG_FUZZ_CHECK(rc == VG_ECORRUPT || rc == VG_EUNSUPPORTED || rc == VG_ETOOBIG ||
			      rc == VG_EIO || rc == VG_ENOMEM);
		VG_FUZZ_CHECK(idx == NULL);
		return 0;
	}
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 0);
	vg_pdq q = {{0}};
	VG_FUZZ_CHECK(vg_mih_query(idx, &q, 63, &hits) == 0 || hits.n == 0);
	VG_FUZZ_CHECK(vg_mih_count(idx) <= 1 << 16);
	vg_mih_hits_done(&hits);
	vg_mih_free(idx);
	return 0;
}
