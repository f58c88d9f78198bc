/* SPDX-License-Identifier: Apache-2.0
 *
 * bench-hash FOLDER|FILE... : hashing throughput. Files are read into memory first so the
 * figures are decode + hash, not disk. Prints, for exact and fast mode, images/s and MP/s
 * single-threaded and on all cores, the split between decoding and PDQ, and how far fast
 * mode's hashes land from exact mode's. Figures only: nothing here passes or fails.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash/hash.h"

struct img {
	char *path;
	uint8_t *data;
	size_t len;
	vg_pdq exact;
	double mp;
};

static struct img *imgs;
static size_t nimgs, capimgs;

static void add_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		struct dirent **ents;
		int n = scandir(path, &ents, NULL, alphasort);
		for (int i = 0; i < n; i++) {
			if (ents[i]->d_name[0] != '.') {
				char sub[4096];
				snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name);
				add_path(sub);
			}
			free(ents[i]);
		}
		free(n >= 0 ? ents : NULL);
		return;
	}
	uint8_t *data;
	size_t len;
	vg_error e;
	if (vg_file_read(path, 1 << 30, &data, &len, &e) != 0)
		return;
	if (vg_image_sniff(data, len) == VG_IMAGE_UNKNOWN) {
		free(data);
		return;
	}
	if (nimgs == capimgs) {
		capimgs = capimgs ? 2 * capimgs : 64;
		imgs = realloc(imgs, capimgs * sizeof(*imgs));
	}
	imgs[nimgs++] = (struct img){.path = vg_xstrdup(path), .data = data, .len = len};
}

struct run {
	bool fast;
	size_t next; /* shared work counter */
	pthread_mutex_t mu;
	double decode_s, hash_s;
};

static void *worker(void *arg)
{
	struct run *r = arg;
	vg_hash_opts o;
	vg_hash_opts_init(&o);
	o.fast = r->fast;
	double dec = 0, hsh = 0;
	for (;;) {
		pthread_mutex_lock(&r->mu);
		size_t i = r->next++;
		pthread_mutex_unlock(&r->mu);
		if (i >= nimgs)
			break;
		vg_image_result res;
		vg_error e;
		if (vg_image_hash(imgs[i].data, imgs[i].len, &o, &res, &e) == 0) {
			dec += res.decode_us / 1e6;
			hsh += res.hash_us / 1e6;
		}
	}
	pthread_mutex_lock(&r->mu);
	r->decode_s += dec;
	r->hash_s += hsh;
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* One pass over every image on `threads` threads; returns wall seconds. */
static double pass(bool fast, int threads, double *ret_dec, double *ret_hash)
{
	struct run r = {.fast = fast};
	pthread_mutex_init(&r.mu, NULL);
	pthread_t tid[64];
	vg_usec t0 = vg_time_mono();
	for (int t = 0; t < threads; t++)
		pthread_create(&tid[t], NULL, worker, &r);
	for (int t = 0; t < threads; t++)
		pthread_join(tid[t], NULL);
	double wall = (vg_time_mono() - t0) / 1e6;
	pthread_mutex_destroy(&r.mu);
	*ret_dec = r.decode_s;
	*ret_hash = r.hash_s;
	return wall;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void measure(const char *label, bool fast, int threads, int rounds, double total_mp)
{
	double walls[32], decs[32], hashes[32];
	for (int i = 0; i < rounds; i++)
		walls[i] = pass(fast, threads, &decs[i], &hashes[i]);
	double w[32];
	memcpy(w, walls, sizeof(double) * rounds);
	qsort(w, rounds, sizeof(double), cmp_double);
	double med = w[rounds / 2];
	/* The decode/hash split of the median round. */
	int mi = 0;
	for (int i = 0; i < rounds; i++)
		if (walls[i] == med)
			mi = i;
	double dec = decs[mi], hsh = hashes[mi];
	printf("%-6s %2d thread%s  %8.1f images/s  %7.1f MP/s   decode %6.2f ms/img (%4.1f%%)"
	       "  pdq %5.2f ms/img\n",
	       label, threads, threads == 1 ? " " : "s", nimgs / med, total_mp / med,
	       1e3 * dec / nimgs, 100 * dec / (dec + hsh), 1e3 * hsh / nimgs);
}

int main(int argc, char **argv)
{
	int rounds = 5;
	int first = 1;
	vg_tune_malloc();
	if (argc > 2 && strcmp(argv[1], "--rounds") == 0) {
		rounds = atoi(argv[2]);
		first = 3;
		if (rounds < 1 || rounds > 31)
			rounds = 5;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: bench-hash [--rounds N] FOLDER|FILE...\n");
		return 2;
	}
	for (int i = first; i < argc; i++)
		add_path(argv[i]);
	if (!nimgs) {
		fprintf(stderr, "bench-hash: no images found\n");
		return 1;
	}

	vg_hash_opts o;
	vg_hash_opts_init(&o);
	double total_mp = 0;
	size_t ok = 0;
	for (size_t i = 0; i < nimgs; i++) {
		vg_image_result r;
		vg_error e;
		if (vg_image_hash(imgs[i].data, imgs[i].len, &o, &r, &e) == 0) {
			imgs[i].exact = r.pdq[0];
			imgs[i].mp = (double)r.width * r.height / 1e6;
			total_mp += imgs[i].mp;
			ok++;
		}
	}
	char decoders[256];
	vg_hash_decoder_versions(decoders, sizeof(decoders));
	int cores = vg_cpu_count();
	printf("bench-hash: %zu images (%zu hash), %.1f MP in all, mean %.2f MP; %d cores; "
	       "median of %d rounds\n(%s)\n\n",
	       nimgs, ok, total_mp, total_mp / nimgs, cores, rounds, decoders);

	measure("exact", false, 1, rounds, total_mp);
	measure("fast", true, 1, rounds, total_mp);
	if (cores > 1) {
		measure("exact", false, cores, rounds, total_mp);
		measure("fast", true, cores, rounds, total_mp);
	}

	/* How far fast mode lands from exact mode. */
	int hist[257] = {0}, within10 = 0, maxd = 0;
	o.fast = true;
	for (size_t i = 0; i < nimgs; i++) {
		vg_image_result r;
		vg_error e;
		if (imgs[i].mp == 0 || vg_image_hash(imgs[i].data, imgs[i].len, &o, &r, &e) != 0)
			continue;
		int d = vg_pdq_distance(&r.pdq[0], &imgs[i].exact);
		hist[d]++;
		within10 += d <= 10;
		maxd = d > maxd ? d : maxd;
	}
	printf("\nfast vs exact, Hamming distance: %d of %zu within 10 bits (%.0f%%), max %d\n",
	       within10, ok, ok ? 100.0 * within10 / ok : 0, maxd);
	for (int d = 0; d <= maxd; d++)
		if (hist[d])
			printf("  %3d bits: %d\n", d, hist[d]);
	for (size_t i = 0; i < nimgs; i++) {
		free(imgs[i].data);
		free(imgs[i].path);
	}
	free(imgs);
	return 0;
}
