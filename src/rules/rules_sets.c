/* SPDX-License-Identifier: Apache-2.0
 *
 * The sets behind match() for the signal types ip, domain, text and url: address ranges
 * (IPv4 and IPv6, single addresses and CIDR blocks) kept as sorted, merged intervals
 * searched by bisection, and a string set (open addressing, per-set random seed so
 * crafted values cannot force long probe chains) that also answers "this domain or a
 * parent of it".
 *
 * Invariants: built once, then sealed and read-only, so lookups from every worker run in
 * parallel without locks; a lookup never allocates; an address that does not parse is
 * simply not in the set.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- address ranges ------------------------------------------------------------------ */
typedef struct u128 {
	uint64_t hi, lo;
} u128;

typedef struct range6 {
	u128 a, b; /* inclusive */
} range6;

typedef struct range4 {
	uint32_t a, b; /* inclusive */
} range4;

struct vg_ipset {
	range4 *v4;
	size_t n4, cap4;
	range6 *v6;
	size_t n6, cap6;
	bool sealed;
};

vg_ipset *vg_ipset_new(void)
{
	return vg_xcalloc(1, sizeof(vg_ipset));
}

void vg_ipset_free(vg_ipset *s)
{
	if (!s)
		return;
	free(s->v4);
	free(s->v6);
	free(s);
}

static int cmp_u128(u128 x, u128 y)
{
	if (x.hi != y.hi)
		return x.hi < y.hi ? -1 : 1;
	if (x.lo != y.lo)
		return x.lo < y.lo ? -1 : 1;
	return 0;
}

static u128 load6(const unsigned char b[16])
{
	u128 v = {0, 0};
	for (int i = 0; i < 8; i++)
		v.hi = v.hi << 8 | b[i];
	for (int i = 8; i < 16; i++)
		v.lo = v.lo << 8 | b[i];
	return v;
}

/* Parses an address of at most 63 bytes into family 4 or 6, as inet_pton reads the bytes
 * up to the first NUL. */
static int parse_addr(const char *s, size_t len, int *ret_family, uint32_t *ret4, u128 *ret6)
{
	char buf[64];
	if (len == 0 || len >= sizeof(buf))
		return VG_EINVAL;
	/* The common case, a plain IPv4 address, without inet_pton (which also wants the
	 * copy below). What it accepts inet_pton accepts alike, NUL-free; everything else
	 * (IPv6, a NUL, garbage) takes the inet_pton path, so results never change. */
	if (vg_ipv4_parse(s, len, ret4) == 0) {
		*ret_family = 4;
		return 0;
	}
	unsigned char b[16];
	if (vg_ipv6_parse(s, len, b) == 0) { /* the usual IPv6 forms, likewise */
		*ret_family = 6;
		*ret6 = load6(b);
		return 0;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (memchr(buf, ':', len)) {
		if (inet_pton(AF_INET6, buf, b) != 1)
			return VG_EINVAL;
		*ret_family = 6;
		*ret6 = load6(b);
		return 0;
	}
	if (inet_pton(AF_INET, buf, b) != 1)
		return VG_EINVAL;
	*ret_family = 4;
	*ret4 = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return 0;
}

static void add4(vg_ipset *s, uint32_t a, uint32_t b)
{
	if (s->n4 == s->cap4) {
		s->cap4 = s->cap4 ? s->cap4 * 2 : 16;
		s->v4 = realloc(s->v4, s->cap4 * sizeof(*s->v4));
		if (!s->v4)
			abort();
	}
	s->v4[s->n4++] = (range4){a, b};
}

static void add6(vg_ipset *s, u128 a, u128 b)
{
	if (s->n6 == s->cap6) {
		s->cap6 = s->cap6 ? s->cap6 * 2 : 16;
		s->v6 = realloc(s->v6, s->cap6 * sizeof(*s->v6));
		if (!s->v6)
			abort();
	}
	s->v6[s->n6++] = (range6){a, b};
}

/* IPv4-mapped IPv6, ::ffff:0:0/96: a lookup reads such an address as its IPv4 address. */
static const u128 MAPPED_LO = {0, 0x0000ffff00000000ull}, MAPPED_HI = {0, 0x0000ffffffffffffull};

int vg_ipset_add(vg_ipset *s, const char *cidr, vg_error *err)
{
	size_t len = strlen(cidr);
	const char *slash = memchr(cidr, '/', len);
	size_t alen = slash ? (size_t)(slash - cidr) : len;
	int fam;
	uint32_t a4 = 0;
	u128 a6 = {0, 0};
	if (parse_addr(cidr, alen, &fam, &a4, &a6))
		return vg_error_set(err, VG_EINVAL, "'%.64s' is not an IP address", cidr);
	int maxp = fam == 4 ? 32 : 128, prefix = maxp;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 3)
			return vg_error_set(err, VG_EINVAL, "bad prefix length in '%.64s'", cidr);
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return vg_error_set(err, VG_EINVAL, "bad prefix length in '%.64s'", cidr);
			prefix = prefix * 10 + (*p - '0');
		}
		if (prefix > maxp)
			return vg_error_set(err, VG_EINVAL, "prefix /%d is too long for '%.64s'", prefix,
					    cidr);
	}
	if (fam == 4) {
		uint32_t mask = prefix == 0 ? 0 : ~(uint32_t)0 << (32 - prefix);
		add4(s, a4 & mask, (a4 & mask) | ~mask);
	} else {
		u128 lo = a6, hi = a6;
		int host = 128 - prefix;
		/* Clear (for the start) and set (for the end) the host bits. */
		uint64_t mlo = host >= 64 ? ~0ull : host == 0 ? 0 : (~0ull >> (64 - host));
		uint64_t mhi = host > 64 ? (host >= 128 ? ~0ull : (~0ull >> (128 - host))) : 0;
		lo.lo &= ~mlo, lo.hi &= ~mhi;
		hi.lo |= mlo, hi.hi |= mhi;
		add6(s, lo, hi);
		/* So the part of the block that is IPv4-mapped goes in as IPv4 too: otherwise
		 * ::ffff:192.0.2.0/120 (or ::/0) would hold neither 192.0.2.1 nor, read as
		 * that, ::ffff:192.0.2.1. */
		if (cmp_u128(lo, MAPPED_HI) <= 0 && cmp_u128(hi, MAPPED_LO) >= 0) {
			u128 a = cmp_u128(lo, MAPPED_LO) > 0 ? lo : MAPPED_LO;
			u128 b = cmp_u128(hi, MAPPED_HI) < 0 ? hi : MAPPED_HI;
			add4(s, (uint32_t)a.lo, (uint32_t)b.lo);
		}
	}
	s->sealed = false;
	return 0;
}

static int cmp4(const void *x, const void *y)
{
	const range4 *a = x, *b = y;
	return a->a < b->a ? -1 : a->a > b->a;
}

static int cmp6(const void *x, const void *y)
{
	const range6 *a = x, *b = y;
	return cmp_u128(a->a, b->a);
}

static u128 inc128(u128 v)
{
	v.lo++;
	if (v.lo == 0)
		v.hi++;
	return v;
}

void vg_ipset_seal(vg_ipset *s)
{
	/* Sort by start, then merge overlapping and touching ranges, so a lookup's
	 * bisection finds at most one candidate. */
	if (s->n4) {
		qsort(s->v4, s->n4, sizeof(*s->v4), cmp4);
		size_t w = 0;
		for (size_t i = 1; i < s->n4; i++) {
			range4 *c = &s->v4[w];
			if (s->v4[i].a <= c->b || (c->b != UINT32_MAX && s->v4[i].a == c->b + 1)) {
				if (s->v4[i].b > c->b)
					c->b = s->v4[i].b;
			} else {
				s->v4[++w] = s->v4[i];
			}
		}
		s->n4 = w + 1;
	}
	if (s->n6) {
		qsort(s->v6, s->n6, sizeof(*s->v6), cmp6);
		size_t w = 0;
		for (size_t i = 1; i < s->n6; i++) {
			range6 *c = &s->v6[w];
			bool max = c->b.hi == ~0ull && c->b.lo == ~0ull;
			if (cmp_u128(s->v6[i].a, c->b) <= 0 ||
			    (!max && cmp_u128(s->v6[i].a, inc128(c->b)) == 0)) {
				if (cmp_u128(s->v6[i].b, c->b) > 0)
					c->b = s->v6[i].b;
			} else {
				s->v6[++w] = s->v6[i];
			}
		}
		s->n6 = w + 1;
	}
	s->sealed = true;
}

bool vg_ipset_empty(const vg_ipset *s)
{
	return !s->sealed || s->n4 + s->n6 == 0;
}

bool vg_ipset_contains(const vg_ipset *s, const char *addr, size_t len)
{
	int fam;
	uint32_t a4;
	u128 a6;
	if (vg_ipset_empty(s) || parse_addr(addr, len, &fam, &a4, &a6))
		return false;
	if (fam == 6 && a6.hi == 0 && (a6.lo >> 32) == 0xffff) {
		/* An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 address. */
		fam = 4;
		a4 = (uint32_t)a6.lo;
	}
	if (fam == 4) {
		size_t lo = 0, hi = s->n4;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (s->v4[mid].a <= a4)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo > 0 && a4 <= s->v4[lo - 1].b;
	}
	size_t lo = 0, hi = s->n6;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cmp_u128(s->v6[mid].a, a6) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && cmp_u128(a6, s->v6[lo - 1].b) <= 0;
}

/* ---- string sets ------------------------------------------------------------------------- */
typedef struct sslot {
	uint64_t hash;
	char *s; /* NULL: empty */
	size_t len;
} sslot;

struct vg_strset {
	sslot *v;
	size_t n, cap; /* cap: power of two, kept at most half full */
	uint64_t seed;
};

vg_strset *vg_strset_new(void)
{
	vg_strset *s = vg_xcalloc(1, sizeof(*s));
	s->cap = 16;
	s->v = vg_xcalloc(s->cap, sizeof(*s->v));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->seed = vg__rules_hash(&ts, sizeof(ts), (uint64_t)(uintptr_t)s);
	return s;
}

void vg_strset_free(vg_strset *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->v[i].s);
	free(s->v);
	free(s);
}

static sslot *slot_for(const vg_strset *s, const char *v, size_t len, uint64_t h)
{
	size_t mask = s->cap - 1;
	for (size_t i = h & mask;; i = (i + 1) & mask) {
		sslot *sl = &s->v[i];
		if (!sl->s || (sl->hash == h && sl->len == len && memcmp(sl->s, v, len) == 0))
			return sl;
	}
}

void vg_strset_add(vg_strset *s, const char *v, size_t len)
{
	if ((s->n + 1) * 2 > s->cap) {
		sslot *old = s->v;
		size_t oldcap = s->cap;
		s->cap *= 2;
		s->v = vg_xcalloc(s->cap, sizeof(*s->v));
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].s)
				*slot_for(s, old[i].s, old[i].len, old[i].hash) = old[i];
		free(old);
	}
	uint64_t h = vg__rules_key_hash(v, len, s->seed);
	sslot *sl = slot_for(s, v, len, h);
	if (sl->s)
		return;
	sl->s = vg_xmalloc(len + 1);
	memcpy(sl->s, v, len);
	sl->s[len] = '\0';
	sl->len = len;
	sl->hash = h;
	s->n++;
}

bool vg_strset_contains(const vg_strset *s, const char *v, size_t len)
{
	if (s->n == 0)
		return false; /* most banks hold one type: their other sets are empty */
	uint64_t h = vg__rules_key_hash(v, len, s->seed);
	return slot_for(s, v, len, h)->s != NULL;
}

size_t vg_strset_size(const vg_strset *s)
{
	return s->n;
}

bool vg_strset_contains_domain(const vg_strset *s, const char *host, size_t len)
{
	char buf[256];
	if (s->n == 0)
		return false;
	if (len && host[len - 1] == '.')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = host[i];
		buf[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	/* The host itself, then each parent: a.b.example.com, b.example.com, example.com,
	 * com. */
	for (size_t off = 0; off < len;) {
		if (vg_strset_contains(s, buf + off, len - off))
			return true;
		const char *dot = memchr(buf + off, '.', len - off);
		if (!dot)
			break;
		off = (size_t)(dot - buf) + 1;
	}
	return false;
}
