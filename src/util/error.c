/* SPDX-License-Identifier: Apache-2.0
 *
 * The one table of error codes: name (the API's stable error.code), HTTP status and a
 * default message, generated from VG_ERRORS in util.h so the three never drift apart.
 */
#include <stdio.h>

#include "util.h"

struct entry {
	const char *name;
	int status;
	const char *msg;
};

static const struct entry table[] = {
#define VG_ROW_(sym, name, status, msg) [VG_##sym - VG__EBASE - 1] = {name, status, msg},
	VG_ERRORS(VG_ROW_)
#undef VG_ROW_
};

static const struct entry *lookup(int code)
{
	int i = code - VG__EBASE - 1;
	if (i < 0 || i >= (int)VG_ARRAY_LEN(table))
		return &table[VG_EINTERNAL - VG__EBASE - 1];
	return &table[i];
}

const char *vg_error_name(int code)
{
	return code == 0 ? "ok" : lookup(code)->name;
}

const char *vg_error_message(int code)
{
	return code == 0 ? "ok" : lookup(code)->msg;
}

int vg_error_http_status(int code)
{
	return code == 0 ? 200 : lookup(code)->status;
}

int vg_error_set(vg_error *err, int code, const char *fmt, ...)
{
	if (err) {
		err->code = code;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}
