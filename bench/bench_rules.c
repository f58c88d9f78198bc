/* SPDX-License-Identifier: Apache-2.0
 *
 * bench-rules: events per second through the rules engine for a realistic mix (logins,
 * uploads with PDQ hashes, HTTP requests with URLs and addresses; a million distinct
 * users over 65,536 addresses) and a rule pack that uses every function (count,
 * distinct, label, has_label, match against a bank of ip ranges, domains and PDQ
 * hashes, verdict). Prints the decoder alone (ours and jansson's DOM, the reason ours
 * exists), then the engine on 1 worker and on every core, with the core count. Never
 * passes or fails on time.
 *
 *   bench-rules [EVENTS]   (default 2,000,000)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/rules.h"

static const char *const pack =
	"rule('failed-logins', function(e)\n"
	"  if e.type == 'login' and not e.ok then\n"
	"    local n = count('lf:' .. e.ip, '5m')\n"
	"    if n == 20 then verdict('block', 'failed logins') elseif n == 10 then verdict('challenge', 'x') end\n"
	"  end\n"
	"end)\n"
	"rule('accounts-per-ip', function(e)\n"
	"  if e.type == 'login' and distinct('u:' .. e.ip, e.user.id, '1h') == 50 then verdict('review', 'many users') end\n"
	"end, {shadow = true})\n"
	"rule('bad-network', function(e)\n"
	"  if e.type == 'http' and match('abuse', e.ip) then verdict('block', 'abusive network') end\n"
	"end)\n"
	"rule('phish-domain', function(e)\n"
	"  if e.type == 'http' and e.host and match('abuse', e.host) then verdict('block', 'phishing') end\n"
	"end)\n"
	"rule('known-image', function(e)\n"
	"  if e.type == 'upload' and match('abuse', e.pdq) then\n"
	"    verdict('report', 'known image'); label('user', e.user.id, 'uploader', '24h')\n"
	"  end\n"
	"end)\n"
	"rule('labelled-user', function(e)\n"
	"  if e.type == 'login' and has_label('user', e.user.id, 'uploader') then verdict('review', 'x') end\n"
	"end)\n"
	"rule('request-rate', function(e)\n"
	"  if e.type == 'http' and count('req:' .. e.ip, '10s') == 1000 then verdict('challenge', 'rate') end\n"
	"end)\n"
	"rule('upload-burst', function(e)\n"
	"  if e.type == 'upload' and count('up:' .. e.ip, '1m') == 30 then verdict('review', 'burst') end\n"
	"end)\n";

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static char *generate(size_t n, size_t **ret_off)
{
	size_t cap = n * 200, used = 0;
	char *buf = malloc(cap);
	size_t *off = malloc((n + 1) * sizeof(*off));
	for (size_t i = 0; i < n; i++) {
		off[i] = used;
		uint64_t r = rnd();
		unsigned ip = (unsigned)(r % 65536), user = (unsigned)((r >> 16) % 1000000);
		double ts = 1700000000.0 + (double)i / 100000.0;
		int k = (int)((r >> 40) % 10);
		int w;
		if (k < 5)
			w = sprintf(buf + used,
				    "{\"type\":\"login\",\"ip\":\"10.%u.%u.7\",\"ok\":%s,\"user\":{\"id\":\"u%u\"},\"ts\":%.3f}",
				    ip >> 8, ip & 255, (r >> 50) % 3 ? "true" : "false", user, ts);
		else if (k < 7)
			w = sprintf(buf + used,
				    "{\"type\":\"upload\",\"ip\":\"10.%u.%u.7\",\"user\":{\"id\":\"u%u\"},"
				    "\"pdq\":\"%016llx%016llx%016llx%016llx\",\"ts\":%.3f}",
				    ip >> 8, ip & 255, user, (unsigned long long)rnd(),
				    (unsigned long long)rnd(), (unsigned long long)rnd(),
				    (unsigned long long)rnd(), ts);
		else
			w = sprintf(buf + used,
				    "{\"type\":\"http\",\"ip\":\"10.%u.%u.7\",\"method\":\"GET\",\"host\":\"s%u.example.com\","
				    "\"url\":\"https://s%u.example.com/p/%u\",\"status\":200,\"ts\":%.3f}",
				    ip >> 8, ip & 255, user % 5000, user % 5000, user, ts);
		used += (size_t)w;
	}
	off[n] = used;
	*ret_off = off;
	return buf;
}

static void decode_bench(const char *buf, const size_t *off, size_t n)
{
	vg_json_doc doc;
	vg_json_doc_init(&doc, 0);
	vg_error err;
	vg_usec t0 = vg_time_mono();
	for (size_t i = 0; i < n; i++)
		if (vg_json_decode(&doc, buf + off[i], off[i + 1] - off[i], &err) != 0)
			abort();
	double ours = (double)(vg_time_mono() - t0) / 1e6;
	t0 = vg_time_mono();
	for (size_t i = 0; i < n; i++) {
		json_error_t jerr;
		json_t *j = json_loadb(buf + off[i], off[i + 1] - off[i], 0, &jerr);
		if (!j)
			abort();
		json_decref(j);
	}
	double jansson = (double)(vg_time_mono() - t0) / 1e6;
	printf("decode only       ours %10.0f events/s   jansson DOM %10.0f events/s\n", n / ours,
	       n / jansson);
	vg_json_doc_done(&doc);
}

static int run_engine(const vg_ruleset *rs, const vg_rules_banks *banks, int workers,
		      const char *buf, const size_t *off, size_t n)
{
	vg_rules_opts o = {.workers = workers, .banks = banks};
	vg_rules_engine *e;
	vg_error err;
	if (vg_rules_engine_new(rs, &o, &e, &err) != 0) {
		fprintf(stderr, "bench-rules: %s\n", err.msg);
		return 1;
	}
	vg_usec t0 = vg_time_mono();
	for (size_t i = 0; i < n; i++)
		vg_rules_engine_push(e, buf + off[i], off[i + 1] - off[i], i + 1);
	vg_rules_stats st;
	if (vg_rules_engine_drain(e, &st, &err) != 0)
		return 1;
	double s = (double)(vg_time_mono() - t0) / 1e6;
	uint64_t v = 0;
	for (int a = 0; a < VG_ACTION_COUNT; a++)
		v += st.verdicts[a] + st.shadow_verdicts[a];
	printf("engine %2d worker%s %10.0f events/s   (%llu events, %llu verdicts, %llu errors)\n",
	       workers, workers == 1 ? " " : "s", st.events / s, (unsigned long long)st.events,
	       (unsigned long long)v, (unsigned long long)(st.bad_events + st.rule_errors));
	vg_rules_engine_free(e);
	return 0;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;
	vg_log_set_level(VG_LOG_ERROR);
	char db[] = "/tmp/bench-rules-XXXXXX";
	int fd = mkstemp(db);
	close(fd);
	unlink(db);
	vg_store *s;
	vg_error err;
	vg_rules_banks *banks = NULL;
	vg_store_bank b;
	if (vg_store_open(db, &s, &err) || vg_store_bank_create(s, "abuse", NULL, &err) ||
	    vg_store_bank_get(s, "abuse", &b, &err)) {
		fprintf(stderr, "bench-rules: %s\n", err.msg);
		return 1;
	}
	if (vg_store_begin(s, &err))
		return 1;
	for (int i = 0; i < 1000; i++) {
		char v[80];
		int64_t id;
		vg_store_add_result res;
		snprintf(v, sizeof(v), "10.%d.%d.0/24", i % 256, (i * 7) % 256);
		if (vg_store_signal_add(s, b.id, "ip", v, NULL, &id, &res, &err))
			return 1;
		snprintf(v, sizeof(v), "s%d.example.com", i * 5);
		if (vg_store_signal_add(s, b.id, "domain", v, NULL, &id, &res, &err))
			return 1;
		snprintf(v, sizeof(v), "%016llx%016llx%016llx%016llx", (unsigned long long)rnd(),
			 (unsigned long long)rnd(), (unsigned long long)rnd(), (unsigned long long)rnd());
		if (vg_store_signal_add(s, b.id, "pdq", v, NULL, &id, &res, &err))
			return 1;
	}
	if (vg_store_commit(s, &err) || vg_rules_banks_open(s, 31, &banks, &err)) {
		fprintf(stderr, "bench-rules: %s\n", err.msg);
		return 1;
	}
	vg_store_bank_done(&b);
	vg_store_close(s);
	vg_ruleset *rs;
	if (vg_ruleset_load_string("pack.lua", pack, strlen(pack), &rs, &err)) {
		fprintf(stderr, "bench-rules: %s\n", err.msg);
		return 1;
	}
	size_t *off;
	char *buf = generate(n, &off);
	int cores = vg_cpu_count();
	printf("bench-rules: %zu events (%.0f bytes each), %zu rules, %d cores\n", n,
	       (double)off[n] / n, vg_ruleset_count(rs), cores);
	decode_bench(buf, off, n < 500000 ? n : 500000);
	int rc = run_engine(rs, banks, 1, buf, off, n);
	if (cores > 1)
		rc |= run_engine(rs, banks, cores, buf, off, n);
	free(buf);
	free(off);
	vg_ruleset_free(rs);
	vg_rules_banks_free(banks);
	unlink(db);
	char p[64];
	snprintf(p, sizeof(p), "%s-wal", db);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db);
	unlink(p);
	return rc;
}
