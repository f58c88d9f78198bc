/* SPDX-License-Identifier: Apache-2.0
 *
 * The banks behind match(bank, value): every enabled bank's live signals, read from the
 * store once when the engine starts, into structures that answer from any worker without
 * a lock. PDQ, MD5 and SHA-256 go through a vg_bank_index per bank (PDQ within the
 * threshold); text and url through a string set each (a text is compared as it is, a url
 * canonicalised with vg_url_canonicalize on both sides: apart, so that a text signal
 * that looks like a url is not matched by other spellings of it); domain through a set
 * with parent domains; ip through an address range set.
 *
 * A lookup tries only the parts its bank holds (most banks hold one type), decided from
 * counts taken at open: an ip in an ip-only bank goes straight to the address set, a
 * PDQ hash is hex-decoded once and never tried as MD5 or SHA-256 in a bank without them.
 *
 * A refresh (a running server's banks changed) reads again only the banks whose
 * updated_at moved, and takes the others' parts over from the set it replaces: the
 * parts are immutable, so both sets may use them until the old one is freed, and each
 * part has one owner, the set that frees it.
 *
 * Invariants: immutable after open; a value that is not of a type's shape is simply not
 * in that part; a lookup never touches the store (the store is one thread's object).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "report/report.h"

typedef struct rbank {
	char name[VG_STORE_NAME_MAX + 1];
	size_t name_len;
	int64_t id;
	vg_usec updated_at; /* the bank's, when it was read */
	vg_bank_index *idx;
	vg_strset *texts;   /* text values, as they are */
	vg_strset *urls;    /* canonical urls */
	vg_strset *domains; /* lower-case domains */
	vg_ipset *ips;
	/* Which parts hold anything, set once the bank is read: a lookup skips the rest. */
	bool has_texts, has_urls, has_domains, has_ips, has_md5, has_sha256, has_pdq;
} rbank;

struct vg_rules_banks {
	rbank *v;
	bool *owns; /* apart from v, which readers use: a refresh moves ownership */
	size_t n;
	int threshold;
};

void vg_rules_banks_free(vg_rules_banks *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		if (!b->owns[i])
			continue;
		vg_bank_index_free(b->v[i].idx);
		vg_strset_free(b->v[i].texts);
		vg_strset_free(b->v[i].urls);
		vg_strset_free(b->v[i].domains);
		vg_ipset_free(b->v[i].ips);
	}
	free(b->v);
	free(b->owns);
	free(b);
}

static int add_signal(const vg_store_signal *sig, void *ctx)
{
	rbank *rb = ctx;
	const char *v = sig->value;
	size_t n = strlen(v);
	if (strcmp(sig->type, "text") == 0) {
		vg_strset_add(rb->texts, v, n);
	} else if (strcmp(sig->type, "url") == 0) {
		char canon[VG_URL_MAX + 1];
		if (vg_url_canonicalize(v, n, canon, sizeof(canon), NULL) == 0)
			vg_strset_add(rb->urls, canon, strlen(canon));
	} else if (strcmp(sig->type, "domain") == 0) {
		char low[256];
		if (n && v[n - 1] == '.')
			n--;
		if (n == 0 || n >= sizeof(low))
			return 0;
		for (size_t i = 0; i < n; i++)
			low[i] = v[i] >= 'A' && v[i] <= 'Z' ? (char)(v[i] + 32) : v[i];
		vg_strset_add(rb->domains, low, n);
	} else if (strcmp(sig->type, "ip") == 0) {
		/* The bank layer validated it; a value that does not parse is skipped. */
		if (vg_ipset_add(rb->ips, v, NULL) != 0)
			vg_log(VG_LOG_DEBUG, "rules.bank_skip", "bank=%s signal=%lld", rb->name,
			       (long long)sig->id);
	}
	return 0;
}

/* Reads bank sb's live signals into rb. */
static int read_bank(vg_store *s, const vg_store_bank *sb, rbank *rb, vg_error *err)
{
	static const char *const set_types[] = {"text", "url", "domain", "ip"};
	rb->texts = vg_strset_new();
	rb->urls = vg_strset_new();
	rb->domains = vg_strset_new();
	rb->ips = vg_ipset_new();
	vg_bank_index_opts io = {.bank_ids = &sb->id, .n_bank_ids = 1};
	int rc = vg_bank_index_open(s, &io, &rb->idx, err);
	vg_store_filter f = {.bank_ids = &sb->id, .n_bank_ids = 1,
			     .types = set_types, .n_types = VG_ARRAY_LEN(set_types)};
	if (!rc)
		rc = vg_store_signal_each(s, &f, add_signal, rb, err);
	vg_ipset_seal(rb->ips);
	rb->has_texts = vg_strset_size(rb->texts) > 0;
	rb->has_urls = vg_strset_size(rb->urls) > 0;
	rb->has_domains = vg_strset_size(rb->domains) > 0;
	rb->has_ips = !vg_ipset_empty(rb->ips);
	rb->has_md5 = rb->idx && vg_bank_index_count(rb->idx, "md5") > 0;
	rb->has_sha256 = rb->idx && vg_bank_index_count(rb->idx, "sha256") > 0;
	rb->has_pdq = rb->idx && vg_bank_index_count(rb->idx, "pdq") > 0;
	return rc;
}

/* The bank of old that holds sb as it is now, or NULL. */
static const rbank *unchanged(const vg_rules_banks *old, const vg_store_bank *sb, size_t *ret_i)
{
	for (size_t i = 0; old && i < old->n; i++) {
		const rbank *rb = &old->v[i];
		if (rb->id == sb->id && rb->updated_at == sb->updated_at && old->owns[i] &&
		    strcmp(rb->name, sb->name) == 0) {
			*ret_i = i;
			return rb;
		}
	}
	return NULL;
}

/* Every enabled bank, from old when unchanged there (then owned by old until the end). */
static int build(vg_rules_banks *old, vg_store *s, int pdq_threshold, vg_rules_banks **ret,
		 vg_error *err)
{
	vg_store_bank *banks = NULL;
	size_t nb = 0;
	int rc = vg_store_bank_list(s, &banks, &nb, err);
	if (rc)
		return rc;
	vg_rules_banks *b = vg_xcalloc(1, sizeof(*b));
	b->threshold = pdq_threshold < 0 ? 31 : pdq_threshold;
	b->v = vg_xcalloc(nb ? nb : 1, sizeof(*b->v));
	b->owns = vg_xcalloc(nb ? nb : 1, sizeof(*b->owns));
	size_t *from = vg_xcalloc(nb ? nb : 1, sizeof(*from)); /* old's index + 1, or 0 */
	for (size_t i = 0; i < nb && !rc; i++) {
		if (!banks[i].enabled)
			continue;
		size_t k = b->n++;
		size_t at;
		const rbank *same = unchanged(old, &banks[i], &at);
		if (same) {
			b->v[k] = *same;
			from[k] = at + 1;
			continue;
		}
		rbank *rb = &b->v[k];
		snprintf(rb->name, sizeof(rb->name), "%s", banks[i].name);
		rb->name_len = strlen(rb->name);
		rb->id = banks[i].id;
		rb->updated_at = banks[i].updated_at;
		b->owns[k] = true;
		rc = read_bank(s, &banks[i], rb, err);
	}
	vg_store_bank_list_free(banks, nb);
	if (rc) {
		vg_rules_banks_free(b); /* frees only what it read itself */
		free(from);
		return rc;
	}
	for (size_t k = 0; k < b->n; k++)
		if (from[k]) { /* taken over: now the new set's to free */
			b->owns[k] = true;
			old->owns[from[k] - 1] = false;
		}
	free(from);
	*ret = b;
	return 0;
}

int vg_rules_banks_open(vg_store *s, int pdq_threshold, vg_rules_banks **ret, vg_error *err)
{
	return build(NULL, s, pdq_threshold, ret, err);
}

int vg_rules_banks_refresh(vg_rules_banks *old, vg_store *s, vg_rules_banks **ret, vg_error *err)
{
	return build(old, s, old->threshold, ret, err);
}

/* A value of 32 or 64 hex digits against the bank's MD5, or SHA-256 and PDQ, entries
 * (none of which it holds when the value is no hex). The digits are decoded once. */
static bool match_hex(const vg_rules_banks *b, const rbank *rb, const char *v, size_t n)
{
	uint8_t digest[32];
	uint64_t id;
	if (n == 32) {
		return rb->has_md5 && vg_hex_decode(v, n, digest, 16) == 0 &&
		       vg_bank_index_lookup(rb->idx, "md5", digest, &id, 1) > 0;
	}
	if (!(rb->has_sha256 || rb->has_pdq) || vg_hex_decode(v, n, digest, 32) != 0)
		return false;
	if (rb->has_sha256 && vg_bank_index_lookup(rb->idx, "sha256", digest, &id, 1) > 0)
		return true;
	if (!rb->has_pdq)
		return false;
	vg_pdq q;
	vg_pdq_from_bytes(digest, &q);
	vg_mih_hits hits;
	vg_mih_hits_init(&hits, 1);
	int rc = vg_bank_index_query_pdq(rb->idx, &q, b->threshold, &hits);
	/* VG_ETOOBIG: more than one hit, which is a match all the same. */
	bool hit = (rc == 0 && hits.n > 0) || rc == VG_ETOOBIG;
	vg_mih_hits_done(&hits);
	return hit;
}

/* The last url a state canonicalised, with its host: a rule that looks a url up in two
 * banks (its page, then its domain) parses it once. */
struct vg__url_memo {
	size_t raw_len; /* 0: empty */
	bool ok;        /* it canonicalised */
	char raw[VG_URL_MAX];
	char canon[VG_URL_MAX + 1], host[VG_URL_MAX + 1];
};

vg__url_memo *vg__url_memo_new(void)
{
	return vg_xcalloc(1, sizeof(vg__url_memo));
}

void vg__url_memo_free(vg__url_memo *m)
{
	free(m);
}

/* Canonicalises the url value into m (unless m holds it already); ok is false when it
 * does not canonicalise. The host is set either way when a browser would find one: a url
 * that is too long for us or holds something we refuse still goes to its host, and a
 * domain bank must see that host. */
static void url_parts(vg__url_memo *m, const char *value, size_t len)
{
	if (len <= VG_URL_MAX && m->raw_len == len && memcmp(m->raw, value, len) == 0)
		return;
	m->ok = vg_url_canonicalize(value, len, m->canon, sizeof(m->canon), NULL) == 0;
	int rc = m->ok ? vg_url_host(m->canon, m->host, sizeof(m->host))
		       : vg_url_host_lenient(value, len, m->host, sizeof(m->host), NULL);
	if (rc != 0)
		m->host[0] = '\0'; /* no host: only the url lookup */
	m->raw_len = 0;
	if (len <= VG_URL_MAX) {
		memcpy(m->raw, value, len);
		m->raw_len = len;
	}
}

/* Starts with http:// or https://, in any case (as strncasecmp would say, inline: this
 * runs on every lookup). */
static bool is_http(const char *v, size_t len)
{
	if (len <= 7 || (v[0] | 0x20) != 'h' || (v[1] | 0x20) != 't' || (v[2] | 0x20) != 't' ||
	    (v[3] | 0x20) != 'p')
		return false;
	size_t i = 4;
	if ((v[4] | 0x20) == 's')
		i = 5;
	return v[i] == ':' && v[i + 1] == '/' && v[i + 2] == '/';
}

/* Whether a browser might read v as an http(s) URL though is_http says no (" HTTPS:\\x",
 * "ht<tab>tp://x"): then vg_url_canonicalize says. No domain or address holds a ':' after
 * an 'h', so the lookups such a value skips could not have found it. */
static bool maybe_url(const char *v, size_t len)
{
	size_t i = 0;
	while (i < len && (unsigned char)v[i] <= 0x20)
		i++;
	return i < len && (v[i] | 0x20) == 'h' && memchr(v + i, ':', len - i);
}

static bool has_non_ascii(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] >= 0x80)
			return true;
	return false;
}

bool vg_rules_banks_match(const vg_rules_banks *b, const char *bank, const char *value,
			  size_t len)
{
	vg__url_memo m;
	m.raw_len = 0;
	return vg__rules_banks_match(b, bank, value, len, &m);
}

int vg__rules_banks_find(const vg_rules_banks *b, const char *bank, size_t len)
{
	/* Lengths first: few banks share a name's length, so memcmp runs about once. */
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].name_len == len && memcmp(b->v[i].name, bank, len) == 0)
			return (int)i;
	return -1;
}

bool vg__rules_banks_match(const vg_rules_banks *b, const char *bank, const char *value,
			   size_t len, vg__url_memo *memo)
{
	return vg__rules_banks_match_at(b, vg__rules_banks_find(b, bank, strlen(bank)), value, len,
					memo);
}

bool vg__rules_banks_match_at(const vg_rules_banks *b, int bank, const char *value, size_t len,
			      vg__url_memo *memo)
{
	if (bank < 0 || len == 0)
		return false;
	const rbank *rb = &b->v[bank];
	if (rb->has_texts && vg_strset_contains(rb->texts, value, len))
		return true;
	if ((len == 32 || len == 64) && match_hex(b, rb, value, len))
		return true;
	/* A url only by its canonical form: a raw value that is one is found the same way. */
	if ((rb->has_urls || rb->has_domains) && (is_http(value, len) || maybe_url(value, len))) {
		url_parts(memo, value, len);
		return (rb->has_urls && memo->ok &&
			vg_strset_contains(rb->urls, memo->canon, strlen(memo->canon))) ||
		       (rb->has_domains && memo->host[0] &&
			vg_strset_contains_domain(rb->domains, memo->host, strlen(memo->host)));
	}
	/* A url in a bank of neither reaches here, and is no domain and no address. */
	if (!rb->has_domains)
		return rb->has_ips && vg_ipset_contains(rb->ips, value, len);
	if (vg_strset_contains_domain(rb->domains, value, len))
		return true;
	if (has_non_ascii(value, len)) {
		/* A Unicode domain (Bücher.example): the bank holds its punycode form. */
		char puny[VG_BANK_VALUE_BUF];
		vg_error err;
		if (vg_bank_value_normalize("domain", value, len, puny, &err) == 0 &&
		    vg_strset_contains_domain(rb->domains, puny, strlen(puny)))
			return true;
	}
	return rb->has_ips && vg_ipset_contains(rb->ips, value, len);
}
