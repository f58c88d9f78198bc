/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the page token of GET /v1/labels (vg__label_token_read), the one
 * parser the labels API adds, held to an oracle written apart from it. A token is
 * accepted exactly when it has a '-', the text before the first one is not empty, both
 * sides are lower-case hex of whole bytes, no byte is NUL, and it is at most
 * 2 * VG__LABEL_MAX + 1 characters; then its entity and name are those bytes, and
 * vg__label_token_make gives the token back unchanged. Any two strings without NUL (the
 * input split at its first NUL) survive make then read.
 */
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "fuzz.h"

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The oracle's decoding of s[0 .. n) into out; false when refused. */
static bool oracle_hex(const char *s, size_t n, char *out)
{
	if (n % 2 != 0)
		return false;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 2) {
		if (hexv(s[i]) < 0 || hexv(s[i + 1]) < 0)
			return false;
		int v = hexv(s[i]) * 16 + hexv(s[i + 1]);
		if (v == 0)
			return false;
		out[o++] = (char)v;
	}
	out[o] = '\0';
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 3 * VG__LABEL_MAX)
		return 0;
	char *t = malloc(size + 1);
	memcpy(t, data, size);
	t[size] = '\0';
	size_t len = strlen(t); /* the token is a C string: up to the first NUL */

	char *buf = malloc(VG__LABEL_TOKEN_BUF), *oe = malloc(len + 1), *on = malloc(len + 1);
	const char *entity = NULL, *name = NULL;
	bool got = vg__label_token_read(t, buf, &entity, &name);
	const char *dash = memchr(t, '-', len);
	bool want = dash && dash > t && len <= 2 * VG__LABEL_MAX + 1 &&
		    oracle_hex(t, (size_t)(dash - t), oe) &&
		    oracle_hex(dash + 1, len - (size_t)(dash - t) - 1, on);
	VG_FUZZ_CHECK(got == want);
	if (got) {
		VG_FUZZ_CHECK(strcmp(entity, oe) == 0 && strcmp(name, on) == 0);
		char *again = vg__label_token_make(entity, name);
		VG_FUZZ_CHECK(strcmp(again, t) == 0);
		free(again);
	}

	/* Round trip: the input's first string and what follows its first NUL. */
	const char *e2 = (const char *)t, *n2 = len < size ? (const char *)data + len + 1 : "";
	char *n2c = strndup(n2, len < size ? size - len - 1 : 0);
	if (*e2 && strlen(e2) + strlen(n2c) <= VG__LABEL_MAX) {
		char *tok = vg__label_token_make(e2, n2c);
		VG_FUZZ_CHECK(vg__label_token_read(tok, buf, &entity, &name));
		VG_FUZZ_CHECK(strcmp(entity, e2) == 0 && strcmp(name, n2c) == 0);
		free(tok);
	}
	free(n2c);
	free(on);
	free(oe);
	free(buf);
	free(t);
	return 0;
}
