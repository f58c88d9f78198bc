/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil match`: looks images or hashes up in the banks. Images are hashed as `vigil
 * hash` hashes them (PDQ of the pixels, MD5 and SHA-256 of the bytes, all three looked
 * up); hash values are looked up by their length (32 hex digits: MD5; 64: PDQ and
 * SHA-256 both, since the two cannot be told apart). The index holds signal ids only;
 * each hit's bank, value and metadata come from the store.
 *
 * Invariants: PDQ hashes of images under the quality floor are reported, never matched
 * (unless --all-qualities); disabled banks are never searched; matches come sorted by
 * distance, then signal id, each signal once (at its smallest distance over the dihedral
 * variants). Exit status: 0 every query looked up, 1 some query failed (an unreadable
 * image, a bad line in --hashes), 2 usage.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bank/bank.h"
#include "cli.h"
#include "hash/hash.h"
#include "store/store.h"

#define DEFAULT_THRESHOLD 31
#define DEFAULT_MIN_QUALITY 50
#define DEFAULT_SNAPSHOT_MIN 100000
#define MAX_FILE_BYTES (256ull << 20)
#define MAX_HASHES_BYTES ((size_t)1 << 30)
#define MAX_BANKS 500

typedef struct matcher {
	vg_store *store;
	vg_bank_index *idx;
	vg_bank_matches found; /* the current query's matches */
	int threshold, min_quality;
	bool json, all_qualities, dihedral;
	size_t failed;
} matcher;

static int lookup_pdq(matcher *m, const vg_pdq *q, vg_error *err)
{
	return vg_bank_match_pdq(m->idx, m->store, q, m->threshold, NULL, 0, &m->found, err);
}

static int lookup_digest(matcher *m, const char *type, const uint8_t *digest, vg_error *err)
{
	return vg_bank_match_digest(m->idx, m->store, type, digest, NULL, 0, &m->found, err);
}

/* Prints the query's result. query_json holds what is known about the query (taken). */
static void report(matcher *m, const char *query, json_t *query_json, bool low_quality,
		   int quality)
{
	vg_bank_matches *f = &m->found;
	vg_bank_matches_sort(f);
	if (m->json) {
		json_object_set_new(query_json, "matches", vg_bank_matches_json(f));
		char *text = json_dumps(query_json, JSON_COMPACT);
		if (text)
			puts(text);
		free(text);
	} else {
		printf("%s\t", query);
		if (low_quality)
			printf("low quality (%d), PDQ not matched; ", quality);
		if (f->n == 0)
			printf("no match");
		else
			printf("%zu match%s:", f->n, f->n == 1 ? "" : "es");
		for (size_t i = 0; i < f->n; i++)
			printf(" %s/%lld %s d=%d%s", f->v[i].bank, (long long)f->v[i].signal_id,
			       f->v[i].type, f->v[i].distance, i + 1 < f->n ? "," : "");
		putchar('\n');
	}
	json_decref(query_json);
	vg_bank_matches_clear(f);
}

/* ---- image queries ------------------------------------------------------------------ */

static void on_image(const vg_hash_item *it, void *ctx)
{
	matcher *m = ctx;
	if (it->rc != 0) {
		fprintf(stderr, "vigil match: %s: %s\n", it->path, it->err.msg);
		m->failed++;
		return;
	}
	vg_error err;
	char pdq[VG_PDQ_HEX_LEN + 1], md5[33], sha[65];
	vg_pdq_to_hex(&it->image.pdq[0], pdq);
	vg_hex_encode(it->digests.md5, 16, md5);
	vg_hex_encode(it->digests.sha256, 32, sha);
	bool low = it->image.quality < m->min_quality;
	int rc = 0;
	if (!low || m->all_qualities) {
		int variants = m->dihedral ? VG_DIH_COUNT : 1;
		for (int v = 0; v < variants && !rc; v++)
			rc = lookup_pdq(m, &it->image.pdq[v], &err);
	}
	if (!rc)
		rc = lookup_digest(m, "md5", it->digests.md5, &err);
	if (!rc)
		rc = lookup_digest(m, "sha256", it->digests.sha256, &err);
	if (rc) {
		fprintf(stderr, "vigil match: %s: %s\n", it->path, err.msg);
		m->failed++;
		vg_bank_matches_clear(&m->found);
		return;
	}
	json_t *q = json_pack("{s:s, s:s, s:i, s:b, s:s, s:s}", "query", it->path, "pdq", pdq,
			      "quality", it->image.quality, "low_quality", low, "md5", md5,
			      "sha256", sha);
	report(m, it->path, q, low, it->image.quality);
}

/* ---- hash queries ------------------------------------------------------------------- */

/* Looks one hex value up. 0, or VG_EINVAL (reason in err) when it is no hash value. */
static int match_hex(matcher *m, const char *s, size_t len, vg_error *err)
{
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	uint8_t bytes[32];
	char hex[65];
	if ((len != 32 && len != 64) || vg_hex_decode(s, len, bytes, len / 2) != 0)
		return vg_error_set(err, VG_EINVAL,
				    "not a hash: expected 32 (MD5) or 64 (PDQ, SHA-256) hex digits");
	vg_hex_encode(bytes, len / 2, hex);
	json_t *q;
	int rc;
	if (len == 32) {
		rc = lookup_digest(m, "md5", bytes, err);
		q = json_pack("{s:s, s:[s]}", "query", hex, "types", "md5");
	} else {
		vg_pdq h;
		rc = vg_pdq_from_hex(hex, 64, &h);
		if (rc == 0)
			rc = lookup_pdq(m, &h, err);
		if (rc == 0)
			rc = lookup_digest(m, "sha256", bytes, err);
		q = json_pack("{s:s, s:[s, s]}", "query", hex, "types", "pdq", "sha256");
	}
	if (rc) {
		json_decref(q);
		vg_bank_matches_clear(&m->found);
		return rc;
	}
	report(m, hex, q, false, 0);
	return 0;
}

static void match_hash_file(matcher *m, const char *path)
{
	char *data;
	size_t len;
	vg_error err;
	if (vg_bank_input_read(path, MAX_HASHES_BYTES, &data, &len, &err) != 0) {
		fprintf(stderr, "vigil match: %s: %s\n", path, err.msg);
		m->failed++;
		return;
	}
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	size_t pos = vg_utf8_bom(data, len), lineno = 0;
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len;
		const char *line = data + pos;
		size_t n = end - pos;
		lineno++;
		pos = nl ? end + 1 : len;
		size_t k = 0;
		while (k < n && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
			k++;
		if (k == n || line[k] == '#')
			continue;
		/* The value is the line's first field: `vigil hash` writes HASH,QUALITY,PATH
		 * and md5sum HASH  FILE, and either pipes straight in. */
		size_t v = k;
		while (v < n && line[v] != ',' && line[v] != ' ' && line[v] != '\t' && line[v] != '\r')
			v++;
		if (match_hex(m, line + k, v - k, &err) != 0) {
			fprintf(stderr, "vigil match: %s:%zu: %s\n", name, lineno, err.msg);
			m->failed++;
		}
	}
	free(data);
}

/* ---- the command -------------------------------------------------------------------- */

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"bank", required_argument, NULL, 'b'},
		{"threshold", required_argument, NULL, 't'},
		{"dihedral", no_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'J'},
		{"min-quality", required_argument, NULL, 'q'},
		{"all-qualities", no_argument, NULL, 'a'},
		{"db", required_argument, NULL, 'D'},
		{"hash", required_argument, NULL, 'H'},
		{"hashes", required_argument, NULL, 'F'},
		{"snapshot-min", required_argument, NULL, 'S'},
		{"jobs", required_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	matcher m = {.threshold = DEFAULT_THRESHOLD, .min_quality = DEFAULT_MIN_QUALITY};
	const char *db = NULL, *hashes_file = NULL;
	const char *banks[MAX_BANKS];
	char **hash_args = vg_xcalloc((size_t)argc + 1, sizeof(char *));
	size_t n_banks = 0, n_hash_args = 0;
	long long v, snapshot_min = DEFAULT_SNAPSHOT_MIN, jobs = vg_cpu_count();
	int status = VG_EXIT_OK;

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":j:", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (n_banks == MAX_BANKS) {
				status = vg_cli_usage_error("match", "more than %d --bank", MAX_BANKS);
				goto out;
			}
			banks[n_banks++] = optarg;
			break;
		case 't':
			if (!vg_cli_parse_int(optarg, 0, 63, &v)) {
				status = vg_cli_usage_error("match",
							    "--threshold takes a number from 0 to 63");
				goto out;
			}
			m.threshold = (int)v;
			break;
		case 'd': m.dihedral = true; break;
		case 'J': m.json = true; break;
		case 'q':
			if (!vg_cli_parse_int(optarg, 0, 100, &v)) {
				status = vg_cli_usage_error("match",
							    "--min-quality takes a number from 0 to 100");
				goto out;
			}
			m.min_quality = (int)v;
			break;
		case 'a': m.all_qualities = true; break;
		case 'D': db = optarg; break;
		case 'H': hash_args[n_hash_args++] = optarg; break;
		case 'F': hashes_file = optarg; break;
		case 'S':
			if (!vg_cli_parse_int(optarg, 0, INT64_MAX, &snapshot_min)) {
				status = vg_cli_usage_error("match", "--snapshot-min takes a number");
				goto out;
			}
			break;
		case 'j':
			if (!vg_cli_parse_int(optarg, 1, 1024, &jobs)) {
				status = vg_cli_usage_error("match", "-j takes a number from 1 to 1024");
				goto out;
			}
			break;
		case 'h': fputs(vg_cmd_match.help, stdout); goto out;
		case ':':
			status = vg_cli_usage_error("match", "%s needs a value", argv[optind - 1]);
			goto out;
		default:
			status = vg_cli_usage_error("match", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	int n_pos = argc - optind;
	if (n_hash_args) {
		for (int i = 0; i < n_pos; i++)
			hash_args[n_hash_args++] = argv[optind + i];
		n_pos = 0;
	}
	if ((n_hash_args > 0) + (hashes_file != NULL) + (n_pos > 0) != 1) {
		status = vg_cli_usage_error("match", "give image PATHs, --hash HEX... or --hashes "
						     "FILE (exactly one of them)");
		goto out;
	}
	for (size_t i = 0; i < n_hash_args; i++) {
		size_t len = strlen(hash_args[i]);
		uint8_t tmp[32];
		if ((len != 32 && len != 64) || vg_hex_decode(hash_args[i], len, tmp, len / 2) != 0) {
			status = vg_cli_usage_error("match",
						    "--hash '%.80s' is not 32 or 64 hex digits",
						    hash_args[i]);
			goto out;
		}
	}

	vg_error err;
	const char *path;
	if ((status = vg_cli_db_path("match", db, NULL, &path)) != 0)
		goto out;
	if (vg_store_open_existing(path, &m.store, &err) != 0) {
		fprintf(stderr, "vigil match: %s: %s\n", path, err.msg);
		status = VG_EXIT_FAIL;
		goto out;
	}
	int64_t bank_ids[MAX_BANKS];
	size_t n_ids = 0;
	for (size_t i = 0; i < n_banks; i++) {
		vg_store_bank b;
		if (vg_store_bank_get(m.store, banks[i], &b, &err) != 0) {
			fprintf(stderr, "vigil match: %s\n", err.msg);
			status = VG_EXIT_FAIL;
			goto out;
		}
		if (!b.enabled)
			fprintf(stderr, "vigil match: bank %s is disabled; not searched\n", b.name);
		else
			bank_ids[n_ids++] = b.id;
		vg_store_bank_done(&b);
	}
	/* Every named bank disabled: search none. Id 0 is never a bank's (ids start at 1),
	 * and an empty list would mean all enabled banks. */
	if (n_banks && n_ids == 0)
		bank_ids[n_ids++] = 0;

	char snapshot[4096];
	bool snap = n_banks == 0 &&
		    (size_t)snprintf(snapshot, sizeof(snapshot), "%s.pdq-index", path) <
			    sizeof(snapshot);
	vg_bank_index_opts io = {
		.bank_ids = bank_ids,
		.n_bank_ids = n_ids,
		.snapshot_path = snap ? snapshot : NULL,
		.snapshot_min_entries = (size_t)snapshot_min,
	};
	if (vg_bank_index_open(m.store, &io, &m.idx, &err) != 0) {
		fprintf(stderr, "vigil match: loading the banks: %s\n", err.msg);
		status = VG_EXIT_FAIL;
		goto out;
	}
	vg_bank_matches_init(&m.found);

	if (n_hash_args) {
		for (size_t i = 0; i < n_hash_args; i++)
			if (match_hex(&m, hash_args[i], strlen(hash_args[i]), &err) != 0) {
				fprintf(stderr, "vigil match: %s\n", err.msg);
				m.failed++;
			}
	} else if (hashes_file) {
		match_hash_file(&m, hashes_file);
	} else {
		vg_hash_opts ho;
		vg_hash_opts_init(&ho);
		ho.dihedral = m.dihedral;
		vg_strv files = {0};
		if (vg_cli_collect_files(argv + optind, n_pos, true, &files))
			m.failed++;
		vg_hash_files(files.items, files.n, &ho, (int)jobs, MAX_FILE_BYTES, on_image, &m);
		vg_strv_free(&files);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vigil match: cannot write output\n");
		m.failed++;
	}
	status = m.failed ? VG_EXIT_FAIL : VG_EXIT_OK;
	vg_bank_matches_done(&m.found);
out:
	vg_bank_index_free(m.idx);
	vg_store_close(m.store);
	free(hash_args);
	return status;
}

const vg_cmd vg_cmd_match = {
	.name = "match",
	.summary = "look images or hashes up in the banks",
	.help =
		"usage: vigil match [OPTIONS] PATH...\n"
		"       vigil match [OPTIONS] --hash HEX [HEX...]\n"
		"       vigil match [OPTIONS] --hashes FILE|-\n"
		"\n"
		"Looks each query up in the banks (all enabled banks unless --bank is given).\n"
		"An image (a folder is walked recursively) is hashed as `vigil hash` does it, and\n"
		"its PDQ, and the MD5 and SHA-256 of its bytes, are all looked up. A hash value\n"
		"is looked up by its length: 32 hex digits as MD5; 64 as PDQ and as SHA-256\n"
		"both, since the two cannot be told apart. --hashes reads one value per line\n"
		"(`#` comments and blank lines skipped), its first field: what follows a comma\n"
		"or a blank is ignored, so `vigil hash` and md5sum output pipe straight in.\n"
		"\n"
		"Output: one line per query, `QUERY<TAB>N matches: BANK/SIGNAL_ID TYPE d=DIST,\n"
		"...`; with --json one object per line: {\"query\", ..., \"matches\": [{\"bank\",\n"
		"\"signal_id\", \"type\", \"value\", \"distance\", \"metadata\"}]}, matches sorted by\n"
		"distance (exact digests are distance 0).\n"
		"\n"
		"options:\n"
		"  --bank NAME        search this bank (repeatable); disabled banks are skipped\n"
		"  --threshold T      largest PDQ Hamming distance that matches, 0..63 (31)\n"
		"  --dihedral         also match the 7 rotated and flipped variants of images\n"
		"  --min-quality Q    image PDQ hashes of quality under Q (50) are reported as\n"
		"                     low quality (\"low_quality\": true) and not PDQ-matched\n"
		"  --all-qualities    PDQ-match every image whatever its quality\n"
		"  --db PATH          the database (default: $VIGIL_DB, else the db of the\n"
		"                     file $VIGIL_CONFIG names, else ./vigil.db); it must exist\n"
		"  --json             one JSON object per query\n"
		"  -j, --jobs N       images hashed in parallel (default: all cores)\n"
		"  --snapshot-min N   keep a PDQ index snapshot in DB.pdq-index once the enabled\n"
		"                     banks hold N PDQ hashes (100000); a stale one is rebuilt\n"
		"\n"
		"Exit status: 0 every query looked up (whether or not it matched), 1 some\n"
		"query failed (an unreadable image, a bad line in --hashes), 2 usage.\n",
	.run = run,
};
