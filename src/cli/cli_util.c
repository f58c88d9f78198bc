/* SPDX-License-Identifier: Apache-2.0
 *
 * Helpers every command shares: usage errors and strict number parsing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int vg_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vigil %s: %s (see `vigil help %s`)\n", cmd, msg, cmd);
	return VG_EXIT_USAGE;
}

bool vg_cli_parse_int(const char *s, long long min, long long max, long long *ret)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}
