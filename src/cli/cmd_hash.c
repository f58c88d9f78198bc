/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil hash`: PDQ, MD5 and SHA-256 of image files. The default output line is the
 * reference pdq-photo-hasher's `hash,quality,path`, so scripts written for it keep
 * working; --json gives one object per file. A file that fails is reported on stderr and
 * the rest still hash; the exit status is then 1.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hash/hash.h"

#define DEFAULT_MAX_FILE_BYTES (256ull << 20)

static const char *const dihedral_names[VG_DIH_COUNT] = {
	"original", "rotate90", "rotate180", "rotate270",
	"flipx",    "flipy",    "flip_plus1", "flip_minus1",
};

struct out {
	bool json, dihedral;
	size_t failed;
};

static void print_json(const vg_hash_item *it, bool dihedral)
{
	char pdq[VG_PDQ_HEX_LEN + 1], md5[33], sha[65];
	size_t plen = strlen(it->path);
	size_t qsize = plen * 6 + 3;
	char *qpath = vg_xmalloc(qsize);
	vg_json_quote(it->path, plen, qpath, qsize);
	vg_pdq_to_hex(&it->image.pdq[0], pdq);
	vg_hex_encode(it->digests.md5, 16, md5);
	vg_hex_encode(it->digests.sha256, 32, sha);
	printf("{\"path\":%s,\"pdq\":\"%s\",\"quality\":%d,\"md5\":\"%s\",\"sha256\":\"%s\","
	       "\"width\":%u,\"height\":%u,\"format\":\"%s\"",
	       qpath, pdq, it->image.quality, md5, sha, it->image.width, it->image.height,
	       vg_image_format_name(it->image.format));
	if (dihedral) {
		printf(",\"dihedral\":{");
		for (int v = 0; v < VG_DIH_COUNT; v++) {
			vg_pdq_to_hex(&it->image.pdq[v], pdq);
			printf("%s\"%s\":\"%s\"", v ? "," : "", dihedral_names[v], pdq);
		}
		printf("}");
	}
	printf("}\n");
	free(qpath);
}

/* A path as one line: file names are chosen by whoever uploaded them, and a newline in
 * one printed raw forged whole `hash,quality,path` lines that `vigil bank import` then
 * banked. Control bytes become C escapes (\n, \r, \t, \xHH) and a backslash \\, so
 * the line stays one line and the name can still be recovered. */
static void put_path(FILE *f, const char *p)
{
	for (; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '\\')
			fputs("\\\\", f);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

static void emit(const vg_hash_item *it, void *ctx)
{
	struct out *o = ctx;
	if (it->rc != 0) {
		fputs("vigil hash: ", stderr);
		put_path(stderr, it->path);
		fprintf(stderr, ": %s\n", it->err.msg);
		o->failed++;
		return;
	}
	if (o->json) {
		print_json(it, o->dihedral);
		return;
	}
	char hex[VG_PDQ_HEX_LEN + 1];
	int n = o->dihedral ? VG_DIH_COUNT : 1;
	for (int v = 0; v < n; v++) {
		vg_pdq_to_hex(&it->image.pdq[v], hex);
		printf("%s,", hex);
	}
	printf("%d,", it->image.quality);
	put_path(stdout, it->path);
	putchar('\n');
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'J'},
		{"dihedral", no_argument, NULL, 'd'},
		{"fast", no_argument, NULL, 'f'},
		{"jobs", required_argument, NULL, 'j'},
		{"compat", required_argument, NULL, 'c'},
		{"max-pixels", required_argument, NULL, 'P'},
		{"max-side", required_argument, NULL, 'S'},
		{"max-bytes", required_argument, NULL, 'B'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct out o = {0};
	vg_hash_opts opts;
	vg_hash_opts_init(&opts);
	long long jobs = vg_cpu_count(), v;
	size_t max_bytes = DEFAULT_MAX_FILE_BYTES;

	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":j:", longopts, NULL)) != -1) {
		switch (c) {
		case 'J': o.json = true; break;
		case 'd': o.dihedral = opts.dihedral = true; break;
		case 'f': opts.fast = true; break;
		case 'j':
			if (!vg_cli_parse_int(optarg, 1, 1024, &jobs))
				return vg_cli_usage_error("hash", "-j takes a number from 1 to 1024");
			break;
		case 'c':
			if (strcmp(optarg, "hma") == 0)
				opts.hma = true;
			else if (strcmp(optarg, "reference") == 0)
				opts.hma = false;
			else
				return vg_cli_usage_error("hash", "--compat takes 'reference' or 'hma'");
			break;
		case 'P':
			if (!vg_cli_parse_int(optarg, 1, INT64_MAX, &v))
				return vg_cli_usage_error("hash", "--max-pixels takes a positive number");
			opts.max_pixels = (uint64_t)v;
			break;
		case 'S':
			if (!vg_cli_parse_int(optarg, 1, 1 << 20, &v))
				return vg_cli_usage_error("hash", "--max-side takes a number from 1 to 1048576");
			opts.max_side = (uint32_t)v;
			break;
		case 'B':
			if (!vg_cli_parse_int(optarg, 1, INT64_MAX, &v))
				return vg_cli_usage_error("hash", "--max-bytes takes a positive number");
			max_bytes = (size_t)v;
			break;
		case 'h': fputs(vg_cmd_hash.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("hash", c, argv);
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error("hash", "no PATH given");

	vg_strv files = {0};
	int walk_failed = vg_cli_collect_files(argv + optind, argc - optind, true, &files);
	vg_hash_files(files.items, files.n, &opts, (int)jobs, max_bytes, emit, &o);
	fflush(stdout);
	vg_strv_free(&files);
	return (o.failed || walk_failed) ? VG_EXIT_FAIL : VG_EXIT_OK;
}

const vg_cmd vg_cmd_hash = {
	.name = "hash",
	.summary = "PDQ, MD5 and SHA-256 of images",
	.help = "usage: vigil hash [OPTIONS] PATH...\n"
		"\n"
		"Hashes each image file; a folder is hashed recursively in name order, hidden\n"
		"entries included. Symbolic links to folders are not followed, and FIFOs,\n"
		"sockets and devices are not opened: each is reported on stderr (exit status\n"
		"1). Formats (found from the content): JPEG, PNG, WebP, GIF (first frame).\n"
		"\n"
		"Output: one line per image, `pdq,quality,path`, as the PDQ reference prints it.\n"
		"Quality runs 0..100; hashes of quality under 50 are too flat to match well.\n"
		"Control characters and backslashes in a path are written as C escapes (\\n,\n"
		"\\t, \\x01, \\\\), so a file name never makes more than one line.\n"
		"\n"
		"options:\n"
		"  --json            one JSON object per line: path, pdq, quality, md5, sha256\n"
		"                    (of the file's bytes), width, height, format\n"
		"  --dihedral        also the 7 rotated and flipped variants (before quality in\n"
		"                    the default output; a \"dihedral\" object with --json)\n"
		"  --fast            decode large JPEGs at reduced scale: several times faster,\n"
		"                    hashes within a few bits of exact mode\n"
		"  -j, --jobs N      files hashed in parallel (default: all cores); output order\n"
		"                    is always the input order\n"
		"  --compat MODE     'reference' (default): the reference CLI's 512x512 "
		"pre-resize;\n"
		"                    'hma': no pre-resize, as HMA and the pdqhash package hash\n"
		"  --max-pixels N    refuse images over N pixels before decoding (100000000)\n"
		"  --max-side N      refuse images with a side over N pixels (32768)\n"
		"  --max-bytes N     refuse files over N bytes (268435456)\n"
		"\n"
		"Exit status: 0 all hashed, 1 some file failed (reported on stderr), 2 usage.\n",
	.run = run,
};
