/* SPDX-License-Identifier: Apache-2.0
 *
 * Structured log lines on stderr: `ts=2026-11-27T10:00:00.123Z level=info event=x k=v`.
 * One write(2) per line so that lines from threads never interleave. Callers never pass
 * content, tokens or reporter personal data (DESIGN.md invariants 1 and 3).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static _Atomic int min_level = VG_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void vg_log_set_level(vg_log_level level)
{
	atomic_store(&min_level, (int)level);
}

void vg_log(vg_log_level level, const char *event, const char *fmt, ...)
{
	if ((int)level < atomic_load(&min_level))
		return;

	char line[1024];
	vg_usec now = vg_time_now();
	time_t secs = (time_t)(now / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	int n = snprintf(line, sizeof(line),
			 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s event=%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(now / 1000 % 1000), level_names[level], event);
	if (fmt && *fmt && n > 0 && (size_t)n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}
