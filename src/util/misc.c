/* SPDX-License-Identifier: Apache-2.0
 *
 * Small helpers: allocation that aborts on failure (only for small fixed sizes; anything
 * sized by input is checked against a limit and fails cleanly instead), CPU count, and
 * JSON string quoting that is total over arbitrary bytes.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static void *oom(size_t n)
{
	fprintf(stderr, "vigil: out of memory allocating %zu bytes\n", n);
	abort();
}

void *vg_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : oom(n);
}

void *vg_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : oom(n * size);
}

char *vg_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(vg_xmalloc(n), s, n);
}

void vg_tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

int vg_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

size_t vg_utf8_bom(const void *p, size_t len)
{
	return len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

size_t vg_utf8_next(const unsigned char *s, size_t avail, unsigned *ret_cp)
{
	unsigned c = s[0];
	size_t n;
	unsigned min;
	if (c < 0x80) {
		if (ret_cp)
			*ret_cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	if (avail < n)
		return 0;
	unsigned cp = c & (0xff >> (n + 1));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (ret_cp)
		*ret_cp = cp;
	return n;
}

size_t vg_json_quote(const char *str, size_t len, char *out, size_t out_size)
{
	const unsigned char *s = (const unsigned char *)str;
	/* need counts the whole quote; o what fits. Each piece (a character or an escape)
	 * goes in whole or not at all, with room kept for the closing quote and the NUL,
	 * so a cut quote is still one JSON string. */
	size_t need = 2, o = 0;
	bool room = out_size >= 3;
	if (room)
		out[o++] = '"';
	for (size_t i = 0; i < len;) {
		char piece[8];
		size_t n;
		unsigned c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { /* most bytes */
			need++;
			if (room && o + 3 <= out_size)
				out[o++] = (char)c;
			else
				room = false;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			piece[0] = '\\';
			piece[1] = (char)c;
			n = 2;
			i++;
		} else if (c < 0x20) {
			snprintf(piece, sizeof(piece), "\\u%04x", c);
			n = 6;
			i++;
		} else {
			n = vg_utf8_next(s + i, len - i, NULL);
			if (n == 0) {
				memcpy(piece, "\xef\xbf\xbd", 3); /* U+FFFD */
				n = 3;
				i++;
			} else {
				memcpy(piece, s + i, n);
				i += n;
			}
		}
		need += n;
		if (room && o + n + 2 <= out_size) {
			memcpy(out + o, piece, n);
			o += n;
		} else {
			room = false;
		}
	}
	if (out_size >= 3) {
		out[o++] = '"';
		out[o] = '\0';
	} else if (out_size) {
		out[0] = '\0';
	}
	return need;
}
