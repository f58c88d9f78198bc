/* SPDX-License-Identifier: Apache-2.0
 *
 * The main() of a fuzz target built without libFuzzer: runs each file named on the
 * command line, and each file under a named directory (recursively, in name order,
 * skipping dot files), through LLVMFuzzerTestOneInput() once. That is how the seed
 * corpora and regress-* inputs run as unit tests, plain and under ASan+UBSan. A crash or
 * a failed check is the failure; an unreadable argument exits 1, otherwise 0.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "util/util.h"

#define MAX_INPUT_BYTES ((size_t)64 << 20)

static size_t replayed;

static int replay_file(const char *path)
{
	uint8_t *data;
	size_t len;
	vg_error err;
	if (vg_file_read(path, MAX_INPUT_BYTES, &data, &len, &err) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, err.msg);
		return -1;
	}
	/* Named first, so the input that crashed is the last one in the log. The buffer
	 * is the input's exact size, as libFuzzer's is, so ASan sees over-reads. */
	printf("  %s (%zu bytes)\n", path, len);
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	replayed++;
	return 0;
}

static int replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);

	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		perror(path);
		return -1;
	}
	int rc = 0;
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			size_t size = strlen(path) + strlen(names[i]->d_name) + 2;
			char *child = vg_xmalloc(size);
			snprintf(child, size, "%s/%s", path, names[i]->d_name);
			if (replay_path(child) != 0)
				rc = -1;
			free(child);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
		return 2;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i]) != 0)
			rc = 1;
	printf("replayed %zu inputs\n", replayed);
	return rc;
}
