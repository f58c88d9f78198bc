/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: vg_config_text(), the parser of `vigil serve --config FILE`. Every
 * input either loads or fails with VG_EINVAL and a terminated message; a loaded value
 * always lies within its option's bounds, whatever the text said.
 */
#include <stddef.h>
#include <string.h>

#include "fuzz.h"
#include "util/util.h"

struct cfg {
	char name[VG_OPT_STRING_MAX];
	int64_t count, size, wait;
	bool flag;
};

static const vg_opt opts[] = {
	{"name", VG_OPT_STRING, "x", 0, 0, NULL, false, false, "", offsetof(struct cfg, name)},
	{"count", VG_OPT_INT, "1", -5, 1000, NULL, false, false, "", offsetof(struct cfg, count)},
	{"size", VG_OPT_BYTES, "1k", 0, 1 << 30, NULL, false, false, "", offsetof(struct cfg, size)},
	{"wait", VG_OPT_DURATION, "1s", 1000, 86400000000LL, NULL, false, false, "", offsetof(struct cfg, wait)},
	{"flag", VG_OPT_BOOL, "false", 0, 0, NULL, false, false, "", offsetof(struct cfg, flag)},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg c;
	vg_error err;
	VG_FUZZ_CHECK(vg_config_defaults(opts, 5, &c, &err) == 0);
	int rc = vg_config_text(opts, 5, &c, (const char *)data, size, "fuzz.conf", &err);
	if (rc) {
		VG_FUZZ_CHECK(rc == VG_EINVAL);
		VG_FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		return 0;
	}
	VG_FUZZ_CHECK(c.count >= -5 && c.count <= 1000);
	VG_FUZZ_CHECK(c.size >= 0 && c.size <= 1 << 30);
	VG_FUZZ_CHECK(c.wait >= 1000 && c.wait <= 86400000000LL);
	VG_FUZZ_CHECK(memchr(c.name, '\0', sizeof(c.name)) != NULL);
	return 0;
}
