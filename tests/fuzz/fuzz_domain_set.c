/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the string sets behind match() for text, url and domain banks, held
 * to a brute-force oracle over the same values. The input's lines: the first is the value
 * looked up, the others the set's entries (lower-cased, as the banks hold domains; empty
 * lines skipped, as banks hold no empty value).
 * - vg_strset_contains is byte-for-byte membership.
 * - vg_strset_contains_domain(host) is true exactly when, after one trailing dot is
 *   dropped and ASCII letters are lower-cased, a host of 1 to 255 bytes equals an entry
 *   or ends with "." and an entry: a parent at a label boundary, never a mere suffix
 *   (evil.example is no parent of notevil.example).
 */
#include <string.h>

#include "fuzz.h"
#include "rules/rules.h"

#define ENTRIES 64

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size;
	const char *nl = memchr(in, '\n', size);
	const char *host = in;
	size_t hlen = nl ? (size_t)(nl - in) : size;
	const char *entry[ENTRIES];
	size_t elen[ENTRIES], n = 0;
	char low[4096];
	size_t used = 0;
	vg_strset *s = vg_strset_new();
	for (const char *p = nl ? nl + 1 : end; p < end && n < ENTRIES;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		size_t len = e ? (size_t)(e - p) : (size_t)(end - p);
		if (used + len > sizeof(low))
			break;
		if (len == 0) { /* banks hold no empty value */
			p = e ? e + 1 : end;
			continue;
		}
		for (size_t i = 0; i < len; i++)
			low[used + i] = lower(p[i]);
		entry[n] = low + used;
		elen[n++] = len;
		vg_strset_add(s, low + used, len);
		used += len;
		p = e ? e + 1 : end;
	}

	/* Exact membership, for the host and for every entry. */
	bool want = false;
	for (size_t i = 0; i < n; i++)
		want |= elen[i] == hlen && memcmp(entry[i], host, hlen) == 0;
	VG_FUZZ_CHECK(vg_strset_contains(s, host, hlen) == want);
	for (size_t i = 0; i < n; i++)
		VG_FUZZ_CHECK(vg_strset_contains(s, entry[i], elen[i]));

	/* Domains and their parents. */
	char h[256];
	size_t len = hlen;
	if (len && host[len - 1] == '.')
		len--;
	want = false;
	if (len >= 1 && len <= 255) {
		for (size_t i = 0; i < len; i++)
			h[i] = lower(host[i]);
		for (size_t i = 0; i < n && !want; i++) {
			size_t d = elen[i];
			want = (d == len && memcmp(h, entry[i], d) == 0) ||
			       (d < len && h[len - d - 1] == '.' && memcmp(h + len - d, entry[i], d) == 0);
		}
	}
	VG_FUZZ_CHECK(vg_strset_contains_domain(s, host, hlen) == want);
	vg_strset_free(s);
	return 0;
}
