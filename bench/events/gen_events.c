/* SPDX-License-Identifier: Apache-2.0
 *
 * gen_events: the synthetic event stream of the benchmarks (see gen_events.h for the mix
 * and its invariants). Everything derives from the seed through one xorshift stream for
 * the events and a stateless hash for per-key facts (an address's value, a user's home
 * address), so a key looks the same every time it comes back. Lines are assembled with
 * memcpy and hand-rolled integer formatting rather than printf: the generator must stay
 * well ahead of an engine doing a million events per second.
 */
#include "gen_events.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TS0_US 1700000000000000ull /* event time of the first event: 2023-11-14 */
#define PRIME 2654435761u          /* scrambles user ranks into ids (a bijection mod n < it) */
#define KEYS_MAX 100000000u

#define N_PDQ 10000   /* known-images: PDQ hashes */
#define N_URL 5000    /* phish-urls: pages on compromised customer sites */
#define N_DOMAIN 2000 /* phish-domains: registered phishing domains */
#define N_NET 1000    /* abusive-networks: 80% IPv4 /24, 10% IPv4 /20, 10% IPv6 /48 */

/* Zipf exponents: addresses are the most skewed (crawlers, big NATs), sites next (a few
 * large customers), users the least. */
#define ZIPF_IP 0.7
#define ZIPF_HOST 0.9
#define ZIPF_USER 0.5

#define HOT_IPS 64          /* the hottest addresses are never in an abusive network */
#define BAD_IP_EVERY 250    /* one address in this many is inside an abusive network */
#define PHISH_SHARE 0.005   /* of HTTP requests, to a phish-urls page; as many to a phish domain */
#define KNOWN_IMAGE_SHARE 0.005 /* of ordinary uploads, a near-duplicate of a known image */
#define FAIL_SHARE 0.04     /* of ordinary logins, a mistyped password */
#define ATTACK_SHARE 0.03   /* of all events, from a campaign */
#define CAMPAIGNS 8         /* campaigns under way at once, interleaved */

typedef enum { C_IDLE, C_BRUTE, C_STUFF, C_ATO, C_UPLOADS, C_SIGNUPS, C_SCRAPE } ckind;

/* One attack under way. */
typedef struct campaign {
	ckind kind;
	uint32_t step, len; /* events sent, events in all */
	uint32_t fails;     /* C_ATO: failed logins before the one that succeeds */
	uint32_t user;      /* the target (C_BRUTE, C_ATO) or the actor (C_UPLOADS) */
	uint32_t host;      /* C_SCRAPE: the site */
	uint32_t net24;     /* C_SIGNUPS: the /24 the accounts come from */
	char ip[48];        /* the attacker's address (the actor's usual one for C_UPLOADS) */
} campaign;

/* An abusive range: an IPv4 /24 or /20 (v4 holds the network address) or an IPv6 /48. */
typedef struct net {
	bool v6;
	uint8_t prefix;
	uint32_t v4;
	uint16_t g[3];
} net;

typedef struct zipf {
	double a, inv; /* n^(1-s) - 1 and 1/(1-s): the continuous inverse CDF */
	uint32_t n;
} zipf;

struct gen {
	uint64_t seed, rng, i;
	double us_per_event;
	uint32_t keys, n_ips, n_hosts, signups, scrape_page;
	zipf z_ip, z_host, z_user;
	uint64_t (*pdq)[4];
	char **urls;       /* each "https://host/path" */
	uint8_t *url_path; /* offset of the path in urls[i] */
	char **domains;
	net *nets;
	campaign c[CAMPAIGNS];
};

/* ---- randomness ----------------------------------------------------------------------- */
static uint64_t mix(uint64_t x) /* splitmix64's finaliser: a stateless hash */
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(gen *g) /* xorshift64* */
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 0x2545f4914f6cdd1dull;
}

static double unif(gen *g) /* [0, 1) */
{
	return (double)(rnd(g) >> 11) * 0x1.0p-53;
}

static uint32_t below(gen *g, uint32_t n)
{
	return (uint32_t)(rnd(g) % n);
}

static uint32_t between(gen *g, uint32_t lo, uint32_t hi) /* inclusive */
{
	return lo + below(g, hi - lo + 1);
}

static void zipf_init(zipf *z, uint32_t n, double s)
{
	z->n = n;
	z->a = pow((double)n, 1 - s) - 1;
	z->inv = 1 / (1 - s);
}

/* A rank in [0, n): rank r comes with probability about proportional to (r+1)^-s. */
static uint32_t zipf_rank(gen *g, const zipf *z)
{
	uint32_t r = (uint32_t)pow(unif(g) * z->a + 1, z->inv) - 1;
	return r < z->n ? r : z->n - 1;
}

/* ---- formatting ----------------------------------------------------------------------- */
static char *put_n(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* A string literal; p is evaluated once, so calls nest. */
#define PUT(p, lit) put_n((p), (lit), sizeof(lit) - 1)

static char *puts_(char *p, const char *s)
{
	return put_n(p, s, strlen(s));
}

static char *put_u(char *p, uint64_t v)
{
	char t[20];
	int n = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = t[--n];
	return p;
}

static const char hexd[] = "0123456789abcdef";

static char *put_hex(char *p, uint64_t v, int digits) /* fixed width */
{
	for (int i = digits - 1; i >= 0; i--)
		*p++ = hexd[(v >> (4 * i)) & 15];
	return p;
}

static char *put_x(char *p, unsigned v) /* no leading zeros, as IPv6 groups are written */
{
	int d = 1;
	while (d < 4 && v >> (4 * d))
		d++;
	return put_hex(p, v, d);
}

static char *put_v4(char *p, uint32_t a)
{
	for (int i = 3; i >= 0; i--) {
		p = put_u(p, (a >> (8 * i)) & 255);
		if (i)
			*p++ = '.';
	}
	return p;
}

static char *put_pdq(char *p, const uint64_t h[4])
{
	for (int i = 0; i < 4; i++)
		p = put_hex(p, h[i], 16);
	return p;
}

/* ---- addresses ------------------------------------------------------------------------ */
/* A public-looking IPv4 address from h (never 0/8, 10/8, 127/8 or past 223/8). */
static uint32_t v4_from(uint64_t h)
{
	uint32_t o1 = 1 + (uint32_t)(h % 223);
	if (o1 == 10 || o1 == 127)
		o1++;
	return o1 << 24 | ((uint32_t)(h >> 8) & 0xffff00u) | (1 + (uint32_t)(h >> 32) % 254);
}

/* g3 is the /48; the 80 bits of the rest come from h. */
static char *put_v6(char *p, const uint16_t g3[3], uint64_t h)
{
	for (int i = 0; i < 3; i++)
		p = PUT(put_x(p, g3[i]), ":");
	for (int i = 0; i < 4; i++)
		p = PUT(put_x(p, (unsigned)(h >> (16 * i)) & 0xffff), ":");
	return put_x(p, (unsigned)mix(h) & 0xffff);
}

/* An address inside n, from h. */
static char *put_in_net(char *p, const net *n, uint64_t h)
{
	if (n->v6)
		return put_v6(p, n->g, h);
	uint32_t host = n->prefix == 24 ? 1 + (uint32_t)(h % 254) : 1 + (uint32_t)(h % 4094);
	return put_v4(p, n->v4 + host);
}

/* A fresh address: 90% IPv4, 10% IPv6 in 2000::/4. */
static char *put_fresh(char *p, uint64_t h)
{
	if (h % 10)
		return put_v4(p, v4_from(h >> 4));
	uint64_t h2 = mix(h);
	uint16_t g3[3] = {(uint16_t)(0x2000 | (h2 & 0xfff)), (uint16_t)(h2 >> 12),
			  (uint16_t)(h2 >> 28)};
	return put_v6(p, g3, mix(h2));
}

/* The address of pool entry r (a rank: 0 is the hottest); NUL-terminated. */
static void pool_ip(const gen *g, uint32_t r, char *out)
{
	uint64_t h = mix(g->seed ^ 0x1a2b3c4dull ^ (uint64_t)r << 20);
	char *p = r >= HOT_IPS && h % BAD_IP_EVERY == 0
			  ? put_in_net(out, &g->nets[(h >> 8) % N_NET], h >> 24)
			  : put_fresh(out, h >> 8);
	*p = 0;
}

/* A user's usual address: a fixed, uniformly drawn pool entry. */
static uint32_t home_rank(const gen *g, uint32_t user)
{
	return (uint32_t)(mix(g->seed ^ 0x5eedull ^ (uint64_t)user << 24) % g->n_ips);
}

static uint32_t user_id(const gen *g, uint32_t rank)
{
	return (uint32_t)((uint64_t)rank * PRIME % g->keys);
}

static uint32_t zipf_user(gen *g)
{
	return user_id(g, zipf_rank(g, &g->z_user));
}

/* An attacker's address: 30% inside an abusive network, else fresh. */
static void attacker_ip(gen *g, char *out)
{
	char *p = below(g, 10) < 3 ? put_in_net(out, &g->nets[below(g, N_NET)], rnd(g))
				   : put_fresh(out, rnd(g));
	*p = 0;
}

/* ---- sites, pages ---------------------------------------------------------------------- */
static const char *const site_words[] = {"shop", "blog", "news", "forum", "app",
					 "cdn", "img", "docs", "store", "wiki"};
static const char *const site_tlds[] = {".example", ".example.com", ".example.net",
					".example.org"};

static char *put_host(char *p, uint32_t h)
{
	p = puts_(p, site_words[h % 10]);
	p = put_u(p, h);
	return puts_(p, site_tlds[(h / 10) % 4]);
}

/* An ordinary page of a site. */
static char *put_path(gen *g, char *p)
{
	switch (below(g, 8)) {
	case 0:
		return PUT(p, "/");
	case 1:
		return put_u(PUT(p, "/p/"), below(g, 100000));
	case 2:
		return PUT(put_hex(PUT(p, "/static/app."), rnd(g), 8), ".js");
	case 3:
		return PUT(put_u(PUT(p, "/img/"), below(g, 1000000)), ".jpg");
	case 4:
		p = put_hex(PUT(p, "/search?q="), rnd(g), 6);
		return put_u(PUT(p, "&page="), between(g, 1, 5));
	case 5:
		return PUT(p, "/login");
	case 6:
		return put_u(PUT(p, "/api/v1/items/"), below(g, 1000000));
	default:
		return PUT(put_u(PUT(p, "/blog/"), below(g, 50000)), "/comments");
	}
}

/* A link to a phishing page: 40% a phish-urls page (one in five written with an upper-case
 * host and an explicit :443, which canonicalise to the same URL), 60% a page under a
 * phish domain. The host, NUL-terminated, goes to ret_host when given. */
static char *put_phish(gen *g, char *p, char *ret_host)
{
	char *host = p + 8, *host_end; /* past "https://" */
	if (below(g, 5) < 2) {
		uint32_t k = below(g, N_URL);
		const char *u = g->urls[k], *path = u + g->url_path[k];
		size_t host_len = g->url_path[k] - 8;
		p = PUT(p, "https://");
		if (below(g, 5) == 0) {
			for (size_t i = 0; i < host_len; i++)
				p[i] = u[8 + i] >= 'a' && u[8 + i] <= 'z' ? (char)(u[8 + i] - 32)
									 : u[8 + i];
			p = PUT(p + host_len, ":443");
		} else {
			memcpy(p, u + 8, host_len);
			p += host_len;
		}
		host_end = host + host_len;
		p = puts_(p, path);
	} else {
		static const char *const subs[] = {"www.", "login.", "secure.", "m.", ""};
		p = PUT(p, "https://");
		p = puts_(puts_(p, subs[below(g, 5)]), g->domains[below(g, N_DOMAIN)]);
		host_end = p;
		p = put_path(g, p);
	}
	if (ret_host) {
		memcpy(ret_host, host, (size_t)(host_end - host));
		ret_host[host_end - host] = 0;
	}
	return p;
}

/* ---- events ----------------------------------------------------------------------------- */
/* {"type":T,"ts":S.USEC,"ip":IP */
static char *put_head(char *p, const char *type, uint64_t ts_us, const char *ip)
{
	p = puts_(PUT(p, "{\"type\":\""), type);
	p = put_u(PUT(p, "\",\"ts\":"), ts_us / 1000000);
	*p++ = '.';
	uint64_t frac = ts_us % 1000000;
	for (uint64_t d = 100000; d; d /= 10)
		*p++ = (char)('0' + frac / d % 10);
	return PUT(puts_(PUT(p, ",\"ip\":\""), ip), "\"");
}

static char *put_user(char *p, char prefix, uint32_t id)
{
	p = PUT(p, ",\"user\":{\"id\":\"");
	*p++ = prefix;
	return PUT(put_u(p, id), "\"}");
}

static const char *const agents[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
	"Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/17.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
	"Chrome/120.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"python-requests/2.31.0",
	"curl/8.5.0",
};

/* A request from ip to site host: an ordinary page, or now and then (PHISH_SHARE) a
 * phishing page elsewhere; a scraper walks the site's product pages in order. */
static size_t http_event(gen *g, char *buf, uint64_t ts, const char *ip, uint32_t host,
			 const char *agent, bool scrape)
{
	char url[512], hostname[256];
	char *u = url;
	double k = unif(g);
	if (!scrape && k < 2 * PHISH_SHARE) {
		u = put_phish(g, u, hostname);
	} else {
		char *h = put_host(hostname, host);
		*h = 0;
		u = puts_(PUT(u, "https://"), hostname);
		u = scrape ? put_u(PUT(u, "/p/"), g->scrape_page++) : put_path(g, u);
	}
	*u = 0;
	static const char *const methods[] = {"GET", "GET", "GET", "GET", "GET", "GET",
					      "POST", "HEAD"};
	static const unsigned statuses[] = {200, 200, 200, 200, 200, 200, 200, 200, 200, 200,
					    200, 200, 200, 200, 200, 200, 304, 404, 403, 500};
	char *p = put_head(buf, "http", ts, ip);
	p = PUT(puts_(PUT(p, ",\"method\":\""), methods[below(g, 8)]), "\"");
	p = PUT(puts_(PUT(p, ",\"host\":\""), hostname), "\"");
	p = PUT(puts_(PUT(p, ",\"url\":\""), url), "\"");
	p = put_u(PUT(p, ",\"status\":"), scrape && below(g, 4) == 0 ? 404 : statuses[below(g, 20)]);
	p = put_u(PUT(p, ",\"bytes\":"), between(g, 200, 200000));
	p = PUT(puts_(PUT(p, ",\"ua\":\""), agent), "\"}");
	return (size_t)(p - buf);
}

static size_t login_event(gen *g, char *buf, uint64_t ts, const char *ip, char prefix,
			  uint32_t user, bool ok)
{
	static const char *const methods[] = {"password", "password", "password", "password",
					      "password", "password", "sso", "token"};
	char *p = put_user(put_head(buf, "login", ts, ip), prefix, user);
	p = ok ? PUT(p, ",\"ok\":true") : PUT(p, ",\"ok\":false");
	p = PUT(puts_(PUT(p, ",\"method\":\""), methods[below(g, 8)]), "\"}");
	return (size_t)(p - buf);
}

/* An upload; known is the chance that it is a near-duplicate (PDQ distance 0 to 24) of a
 * hash in known-images. */
static size_t upload_event(gen *g, char *buf, uint64_t ts, const char *ip, uint32_t user,
			   double known)
{
	uint64_t h[4];
	if (unif(g) < known) {
		memcpy(h, g->pdq[below(g, N_PDQ)], sizeof(h));
		for (uint32_t flips = below(g, 25); flips; flips--) {
			uint32_t bit = below(g, 256);
			h[bit / 64] ^= 1ull << (bit % 64);
		}
	} else {
		for (int i = 0; i < 4; i++)
			h[i] = rnd(g);
	}
	static const char *const mimes[] = {"image/jpeg", "image/jpeg", "image/jpeg",
					    "image/jpeg", "image/jpeg", "image/jpeg",
					    "image/jpeg", "image/png",  "image/png",
					    "image/webp"};
	char *p = put_user(put_head(buf, "upload", ts, ip), 'u', user);
	p = PUT(put_pdq(PUT(p, ",\"pdq\":\""), h), "\"");
	/* Sizes log-uniform between 20 KB and 8 MB. */
	p = put_u(PUT(p, ",\"size\":"), (uint64_t)(20000 * exp(unif(g) * 6)));
	p = PUT(puts_(PUT(p, ",\"mime\":\""), mimes[below(g, 10)]), "\"}");
	return (size_t)(p - buf);
}

static size_t signup_event(gen *g, char *buf, uint64_t ts, const char *ip)
{
	static const char *const mail[] = {"mail.example", "mail.example", "inbox.example.com",
					   "post.example.net", "tempmail.example.org"};
	char *p = put_user(put_head(buf, "signup", ts, ip), 'n', g->signups++);
	p = PUT(puts_(PUT(p, ",\"email_domain\":\""), mail[below(g, 5)]), "\"}");
	return (size_t)(p - buf);
}

static size_t message_event(gen *g, char *buf, uint64_t ts, const char *ip, uint32_t user)
{
	char *p = put_user(put_head(buf, "message", ts, ip), 'u', user);
	p = PUT(put_u(PUT(p, ",\"to\":\"u"), below(g, g->keys)), "\"");
	p = put_u(PUT(p, ",\"length\":"), between(g, 1, 2000));
	uint32_t k = below(g, 100);
	if (k < 30) { /* a link; one in ten of them to a phishing page */
		p = PUT(p, ",\"url\":\"");
		if (k < 3) {
			p = put_phish(g, p, NULL);
		} else {
			p = put_host(PUT(p, "https://"), zipf_rank(g, &g->z_host));
			p = put_path(g, p);
		}
		p = PUT(p, "\"");
	}
	*p++ = '}';
	return (size_t)(p - buf);
}

static size_t payment_event(gen *g, char *buf, uint64_t ts, const char *ip, uint32_t user)
{
	static const char *const currencies[] = {"EUR", "USD", "USD", "GBP", "JPY"};
	uint64_t cents = (uint64_t)(100 * exp(unif(g) * 9)); /* 1 to 8,000 */
	char *p = put_user(put_head(buf, "payment", ts, ip), 'u', user);
	p = put_u(PUT(p, ",\"amount\":"), cents / 100);
	*p++ = '.';
	*p++ = (char)('0' + cents / 10 % 10);
	*p++ = (char)('0' + cents % 10);
	p = PUT(puts_(PUT(p, ",\"currency\":\""), currencies[below(g, 5)]), "\"}");
	return (size_t)(p - buf);
}

/* ---- campaigns ------------------------------------------------------------------------- */
static void campaign_start(gen *g, campaign *c)
{
	uint32_t k = below(g, 100);
	memset(c, 0, sizeof(*c));
	attacker_ip(g, c->ip);
	if (k < 25) { /* password guessing on one account */
		c->kind = C_BRUTE;
		c->user = zipf_user(g);
		c->len = between(g, 15, 60);
	} else if (k < 45) { /* credential stuffing: a leaked list, one try per account */
		c->kind = C_STUFF;
		c->len = between(g, 30, 120);
	} else if (k < 60) { /* takeover: guesses, a hit, then the account is used */
		c->kind = C_ATO;
		c->user = zipf_user(g);
		c->fails = between(g, 6, 12);
		c->len = c->fails + 1 + between(g, 1, 3);
	} else if (k < 75) { /* an account flooding uploads from its usual address */
		c->kind = C_UPLOADS;
		c->user = zipf_user(g);
		pool_ip(g, home_rank(g, c->user), c->ip);
		c->len = between(g, 40, 120);
	} else if (k < 85) { /* fake accounts from one /24 */
		c->kind = C_SIGNUPS;
		/* 30% from an abusive /24 (the first 80% of the networks are /24s). */
		c->net24 = below(g, 10) < 3 ? g->nets[below(g, N_NET / 10 * 8)].v4
					    : v4_from(rnd(g)) & 0xffffff00u;
		c->len = between(g, 20, 80);
	} else { /* a scraper walking one site */
		c->kind = C_SCRAPE;
		c->host = zipf_rank(g, &g->z_host);
		c->len = between(g, 800, 3000);
	}
}

static size_t campaign_event(gen *g, char *buf, uint64_t ts)
{
	campaign *c = &g->c[below(g, CAMPAIGNS)];
	if (c->kind == C_IDLE)
		campaign_start(g, c);
	uint32_t step = c->step++;
	size_t n = 0;
	switch (c->kind) {
	case C_BRUTE:
		n = login_event(g, buf, ts, c->ip, 'u', c->user, false);
		break;
	case C_STUFF:
		n = login_event(g, buf, ts, c->ip, 'u', below(g, g->keys), below(g, 100) == 0);
		break;
	case C_ATO:
		if (step <= c->fails)
			n = login_event(g, buf, ts, c->ip, 'u', c->user, step == c->fails);
		else if (below(g, 2))
			n = payment_event(g, buf, ts, c->ip, c->user);
		else
			n = upload_event(g, buf, ts, c->ip, c->user, 0);
		break;
	case C_UPLOADS:
		n = upload_event(g, buf, ts, c->ip, c->user, 0.05);
		break;
	case C_SIGNUPS: {
		char ip[48];
		*put_v4(ip, c->net24 + between(g, 1, 254)) = 0;
		n = signup_event(g, buf, ts, ip);
		break;
	}
	case C_SCRAPE:
		n = http_event(g, buf, ts, c->ip, c->host, agents[6 + below(g, 2)], true);
		break;
	case C_IDLE:
		abort();
	}
	if (c->step == c->len)
		c->kind = C_IDLE;
	return n;
}

/* ---- the stream --------------------------------------------------------------------------- */
size_t gen_next(gen *g, char *buf)
{
	uint64_t ts = TS0_US + (uint64_t)((double)g->i++ * g->us_per_event);
	if (unif(g) < ATTACK_SHARE)
		return campaign_event(g, buf, ts);
	char ip[48];
	double k = unif(g);
	if (k < 0.50) {
		pool_ip(g, zipf_rank(g, &g->z_ip), ip);
		return http_event(g, buf, ts, ip, zipf_rank(g, &g->z_host), agents[below(g, 8)],
				  false);
	}
	if (k >= 0.98) { /* a new account, from anywhere */
		pool_ip(g, below(g, g->n_ips), ip);
		return signup_event(g, buf, ts, ip);
	}
	/* An account's own activity: from its usual address, now and then from another. */
	uint32_t user = zipf_user(g);
	pool_ip(g, below(g, 10) ? home_rank(g, user) : below(g, g->n_ips), ip);
	if (k < 0.80)
		return login_event(g, buf, ts, ip, 'u', user, unif(g) >= FAIL_SHARE);
	if (k < 0.95)
		return upload_event(g, buf, ts, ip, user, KNOWN_IMAGE_SHARE);
	if (k < 0.97)
		return message_event(g, buf, ts, ip, user);
	return payment_event(g, buf, ts, ip, user);
}

/* ---- the banks ---------------------------------------------------------------------------- */
static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

static void make_banks(gen *g)
{
	uint64_t s = mix(g->seed ^ 0xba4cull);
	g->pdq = malloc(N_PDQ * sizeof(*g->pdq));
	g->urls = malloc(N_URL * sizeof(*g->urls));
	g->url_path = malloc(N_URL);
	g->domains = malloc(N_DOMAIN * sizeof(*g->domains));
	g->nets = malloc(N_NET * sizeof(*g->nets));
	if (!g->pdq || !g->urls || !g->url_path || !g->domains || !g->nets)
		abort();
	for (int i = 0; i < N_PDQ; i++)
		for (int j = 0; j < 4; j++)
			g->pdq[i][j] = s = mix(s);
	/* Phishing kits dropped on compromised customer sites. */
	static const char *const kits[] = {"/wp-includes/%/verify/index.php",
					   "/.well-known/%/login.html", "/account-update/%/",
					   "/wp-content/uploads/%/secure/signin.php"};
	for (int i = 0; i < N_URL; i++) {
		char t[256], *p = t;
		s = mix(s);
		p = put_host(PUT(p, "https://"), (uint32_t)(s % g->n_hosts));
		g->url_path[i] = (uint8_t)(p - t);
		const char *kit = kits[(s >> 32) % 4], *pct = strchr(kit, '%');
		memcpy(p, kit, (size_t)(pct - kit));
		p = put_hex(p + (pct - kit), mix(s), 10);
		p = puts_(p, pct + 1);
		*p = 0;
		g->urls[i] = xstrdup(t);
	}
	static const char *const lures[] = {"secure-login", "account-verify", "wallet-support",
					    "billing-update", "signin-review", "password-reset"};
	static const char *const tlds[] = {".example", ".example.net", ".example.org"};
	for (int i = 0; i < N_DOMAIN; i++) {
		char t[128], *p = t;
		s = mix(s);
		p = put_hex(PUT(puts_(p, lures[s % 6]), "-"), s >> 8, 6);
		*puts_(p, tlds[(s >> 40) % 3]) = 0;
		g->domains[i] = xstrdup(t);
	}
	for (int i = 0; i < N_NET; i++) {
		net *n = &g->nets[i];
		s = mix(s);
		n->v6 = i >= N_NET / 10 * 9;
		if (n->v6) {
			n->prefix = 48;
			n->g[0] = (uint16_t)(0x2000 | (s & 0xfff));
			n->g[1] = (uint16_t)(s >> 16);
			n->g[2] = (uint16_t)(s >> 32);
		} else {
			n->prefix = i < N_NET / 10 * 8 ? 24 : 20;
			uint32_t mask = n->prefix == 24 ? 0xffffff00u : 0xfffff000u;
			n->v4 = v4_from(s) & mask;
		}
	}
}

int gen_banks(const gen *g, gen_signal_fn *fn, void *ctx)
{
	char v[256];
	int rc = 0;
	for (int i = 0; i < N_PDQ && !rc; i++) {
		*put_pdq(v, g->pdq[i]) = 0;
		rc = fn(GEN_BANK_IMAGES, "pdq", v, ctx);
	}
	for (int i = 0; i < N_URL && !rc; i++)
		rc = fn(GEN_BANK_URLS, "url", g->urls[i], ctx);
	for (int i = 0; i < N_DOMAIN && !rc; i++)
		rc = fn(GEN_BANK_DOMAINS, "domain", g->domains[i], ctx);
	for (int i = 0; i < N_NET && !rc; i++) {
		const net *n = &g->nets[i];
		char *p = v;
		if (n->v6) {
			for (int j = 0; j < 3; j++)
				p = PUT(put_x(p, n->g[j]), ":");
			p = PUT(p, ":/48");
		} else {
			p = put_u(PUT(put_v4(p, n->v4), "/"), n->prefix);
		}
		*p = 0;
		rc = fn(GEN_BANK_NETWORKS, "ip", v, ctx);
	}
	return rc;
}

gen *gen_new(const gen_opts *o)
{
	gen *g = calloc(1, sizeof(*g));
	if (!g)
		abort();
	g->seed = o && o->seed ? o->seed : 1;
	g->rng = mix(g->seed) | 1;
	g->keys = o && o->keys ? o->keys : 1000000;
	if (g->keys < 1000)
		g->keys = 1000;
	if (g->keys > KEYS_MAX)
		g->keys = KEYS_MAX;
	g->us_per_event = 1e6 / (o && o->rate > 0 ? o->rate : 100000);
	g->n_ips = g->keys / 4;
	g->n_hosts = g->keys / 100;
	zipf_init(&g->z_ip, g->n_ips, ZIPF_IP);
	zipf_init(&g->z_host, g->n_hosts, ZIPF_HOST);
	zipf_init(&g->z_user, g->keys, ZIPF_USER);
	make_banks(g);
	return g;
}

void gen_free(gen *g)
{
	if (!g)
		return;
	for (int i = 0; i < N_URL; i++)
		free(g->urls[i]);
	for (int i = 0; i < N_DOMAIN; i++)
		free(g->domains[i]);
	free(g->pdq);
	free(g->urls);
	free(g->url_path);
	free(g->domains);
	free(g->nets);
	free(g);
}
