/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: an ip bank's entry into an address set (vg_ipset_add), the parser of
 * every range that match(bank, ip) looks in, held to an oracle built on inet_pton and
 * bit arithmetic of its own. The input, up to its first NUL, is one entry: an address
 * and an optional /prefix. It is accepted exactly when the address is what inet_pton
 * takes (IPv6 when it has a ':'; under 64 bytes) and the prefix is 1 to 3 decimal digits
 * no longer than the family's bits. An accepted entry, alone in a set, holds the first and
 * the last address of its block, in every spelling a lookup takes (IPv4-mapped IPv6 is the
 * IPv4 address), and neither address just outside it.
 */
#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"
#include "rules/rules.h"

/* The address as a lookup would get it: text, 16 bytes in network order. */
static bool has16(const vg_ipset *s, const unsigned char a[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	char text[INET6_ADDRSTRLEN];
	VG_FUZZ_CHECK(inet_ntop(AF_INET6, a, text, sizeof(text)) != NULL);
	bool got = vg_ipset_contains(s, text, strlen(text));
	if (memcmp(a, mapped, 12) == 0) {
		char t4[INET_ADDRSTRLEN];
		VG_FUZZ_CHECK(inet_ntop(AF_INET, a + 12, t4, sizeof(t4)) != NULL);
		VG_FUZZ_CHECK(vg_ipset_contains(s, t4, strlen(t4)) == got);
	}
	return got;
}

/* a += d (d is +1 or -1) over 128 bits; false when it wraps. */
static bool step(unsigned char a[16], int d)
{
	for (int i = 15; i >= 0; i--) {
		unsigned char before = a[i];
		a[i] = (unsigned char)(a[i] + d);
		if ((d > 0 && a[i] > before) || (d < 0 && a[i] < before))
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char entry[256];
	if (!vg_fuzz_cstr(data, size, entry, sizeof(entry)))
		return 0;
	size_t len = strlen(entry);

	/* The oracle's verdict. */
	const char *slash = strchr(entry, '/');
	size_t alen = slash ? (size_t)(slash - entry) : len;
	char addr[64];
	unsigned char a[16] = {0};
	int bits = 0;
	bool ok = alen > 0 && alen < sizeof(addr);
	if (ok) {
		memcpy(addr, entry, alen);
		addr[alen] = '\0';
		bool v6 = memchr(addr, ':', alen) != NULL;
		bits = v6 ? 128 : 32;
		if (v6) {
			ok = inet_pton(AF_INET6, addr, a) == 1;
		} else {
			a[10] = a[11] = 0xff; /* kept as ::ffff:a.b.c.d, which lookups equate */
			ok = inet_pton(AF_INET, addr, a + 12) == 1;
		}
	}
	int prefix = bits;
	if (ok && slash) {
		const char *p = slash + 1;
		size_t n = strlen(p);
		ok = n >= 1 && n <= 3 && strspn(p, "0123456789") == n;
		if (ok) {
			prefix = 0;
			for (; *p; p++)
				prefix = prefix * 10 + (*p - '0');
			ok = prefix <= bits;
		}
	}

	vg_ipset *s = vg_ipset_new();
	int rc = vg_ipset_add(s, entry, NULL);
	VG_FUZZ_CHECK((rc == 0) == ok);
	vg_ipset_seal(s);
	if (ok) {
		/* The block's first and last addresses: host bits cleared, then set. */
		unsigned char lo[16], hi[16];
		int host_from = 128 - bits + prefix; /* first host bit, counted over 128 */
		for (int i = 0; i < 16; i++) {
			unsigned char keep = 0;
			for (int b = 0; b < 8; b++)
				if (i * 8 + b < host_from)
					keep |= (unsigned char)(0x80 >> b);
			lo[i] = a[i] & keep;
			hi[i] = a[i] | (unsigned char)~keep;
		}
		VG_FUZZ_CHECK(has16(s, lo));
		VG_FUZZ_CHECK(has16(s, hi));
		unsigned char out[16];
		memcpy(out, lo, 16);
		if (step(out, -1))
			VG_FUZZ_CHECK(!has16(s, out));
		memcpy(out, hi, 16);
		if (step(out, +1))
			VG_FUZZ_CHECK(!has16(s, out));
	} else {
		VG_FUZZ_CHECK(vg_ipset_empty(s));
	}
	vg_ipset_free(s);
	return 0;
}
