/* SPDX-License-Identifier: Apache-2.0
 *
 * bench-events-gen: writes the benchmarks' synthetic event stream (gen_events.h) as NDJSON
 * to standard output, and with --bank-out the banks the reference rule pack (bench/rules)
 * matches against, one file per bank named BANK.TYPE.txt with one value per line, the
 * plain format of `vigil bank import BANK FILE --type TYPE`:
 *
 *   known-images.pdq.txt  phish-urls.url.txt  phish-domains.domain.txt
 *   abusive-networks.ip.txt
 *
 * usage: bench-events-gen [--events N] [--keys K] [--seed S] [--rate EVENTS_PER_SEC]
 *                         [--bank-out DIR]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_events.h"

#define OUT_BUF ((size_t)1 << 20)

typedef struct bank_files {
	const char *dir;
	char open_name[128]; /* the bank.type of f */
	FILE *f;
} bank_files;

/* Writes each signal to DIR/BANK.TYPE.txt; the signals of one bank and type come in a
 * row, so one file is open at a time. */
static int write_signal(const char *bank, const char *type, const char *value, void *ctx)
{
	bank_files *b = ctx;
	char name[128];
	snprintf(name, sizeof(name), "%s.%s", bank, type);
	if (!b->f || strcmp(name, b->open_name) != 0) {
		if (b->f && fclose(b->f) != 0)
			return -1;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s.txt", b->dir, name);
		if (!(b->f = fopen(path, "w"))) {
			fprintf(stderr, "bench-events-gen: %s: %s\n", path, strerror(errno));
			return -1;
		}
		snprintf(b->open_name, sizeof(b->open_name), "%s", name);
	}
	return fprintf(b->f, "%s\n", value) < 0 ? -1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-events-gen [--events N] [--keys K] [--seed S] "
			"[--rate EVENTS_PER_SEC] [--bank-out DIR]\n"
			"  --events N   events to write (default 1000000)\n"
			"  --keys K     distinct users (default 1000000; a quarter as many addresses)\n"
			"  --seed S     the same seed gives the same events and banks (default 1)\n"
			"  --rate R     event time (ts) advances 1/R s per event (default 100000)\n"
			"  --bank-out DIR  also write the banks, one BANK.TYPE.txt file each\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"events", required_argument, NULL, 'n'}, {"keys", required_argument, NULL, 'k'},
		{"seed", required_argument, NULL, 's'},   {"rate", required_argument, NULL, 'r'},
		{"bank-out", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	unsigned long long n = 1000000;
	gen_opts o = {0};
	const char *bank_dir = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			o.keys = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			o.rate = strtod(optarg, NULL);
			break;
		case 'b':
			bank_dir = optarg;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc)
		return usage();
	gen *g = gen_new(&o);
	if (bank_dir) {
		bank_files b = {.dir = bank_dir};
		int rc = gen_banks(g, write_signal, &b);
		if ((b.f && fclose(b.f) != 0) || rc) {
			fprintf(stderr, "bench-events-gen: writing the banks failed\n");
			gen_free(g);
			return 1;
		}
	}
	char *buf = malloc(OUT_BUF + GEN_LINE_MAX + 1);
	if (!buf)
		abort();
	size_t used = 0;
	for (unsigned long long i = 0; i < n; i++) {
		used += gen_next(g, buf + used);
		buf[used++] = '\n';
		if (used >= OUT_BUF || i + 1 == n) {
			if (fwrite(buf, 1, used, stdout) != used)
				break;
			used = 0;
		}
	}
	free(buf);
	gen_free(g);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "bench-events-gen: writing the events failed\n");
		return 1;
	}
	return 0;
}
