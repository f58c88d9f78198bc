/* SPDX-License-Identifier: Apache-2.0
 *
 * gen_events: the benchmarks' synthetic event stream, shared by bench-events-gen (which
 * writes it as NDJSON) and bench-rules (which feeds it to the engine in memory), so every
 * figure is measured on the same traffic and the same banks.
 *
 * The mix is what a hosting company's T&S pipeline sees: about 50% HTTP requests, 30%
 * logins, 15% image uploads with PDQ hashes, 5% signups, messages and payments, over
 * `keys` users (a million by default) and a quarter as many addresses. Addresses and
 * users are drawn from a Zipf-like law, so a few are hot (crawlers, big NATs, busy
 * accounts) and most are seen a few times. About 3% of events belong to attack
 * campaigns interleaved with the rest: password guessing, credential stuffing, account
 * takeover, upload floods, signup bursts from one network, scraping. A small share of
 * uploads, URLs and addresses hit the banks the reference pack (bench/rules) matches
 * against: near-duplicate PDQ hashes (distance <= 24 from a bank hash), phishing URLs and
 * domains, abusive address ranges.
 *
 * Invariants: the same options give the same events and the same banks, byte for byte;
 * `ts` grows by 1/rate seconds per event; a line never exceeds GEN_LINE_MAX bytes.
 */
#ifndef BENCH_GEN_EVENTS_H
#define BENCH_GEN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define GEN_LINE_MAX 1024 /* bytes of one event line, without its newline */

/* The banks' names, as bench/rules spells them. */
#define GEN_BANK_IMAGES "known-images"       /* pdq */
#define GEN_BANK_URLS "phish-urls"           /* url */
#define GEN_BANK_DOMAINS "phish-domains"     /* domain */
#define GEN_BANK_NETWORKS "abusive-networks" /* ip: addresses and CIDR ranges */

typedef struct gen_opts {
	uint64_t seed; /* 0: 1 */
	uint32_t keys; /* distinct users, at least 1,000; 0: 1,000,000 */
	double rate;   /* events per second of event time (`ts`); 0: 100,000 */
} gen_opts;

typedef struct gen gen;

/* A generator for o (NULL: all defaults). Aborts on out-of-memory; holds about
 * 40 bytes per key. */
gen *gen_new(const gen_opts *o);
void gen_free(gen *g);

/* Writes the next event, one JSON object without a newline, into buf (GEN_LINE_MAX
 * bytes) and returns its length. Cost: about a microsecond. */
size_t gen_next(gen *g, char *buf);

/* Calls fn once per bank signal the events were made to hit: the bank's name, the
 * signal type (pdq, url, domain, ip) and the value, banks in the order above. Stops at,
 * and returns, the first non-zero return of fn. Independent of how many events were
 * generated. */
typedef int gen_signal_fn(const char *bank, const char *type, const char *value, void *ctx);
int gen_banks(const gen *g, gen_signal_fn *fn, void *ctx);

#endif
