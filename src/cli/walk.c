/* SPDX-License-Identifier: Apache-2.0
 *
 * Turns command-line PATHs into a list of files: a file stays itself, a folder is walked
 * recursively in name order (so output is reproducible), symbolic links to folders are
 * not followed (no loops), FIFOs, sockets and devices are never opened, and hidden
 * entries are walked or skipped as the caller asks (cli.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void push(vg_strv *v, char *s)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->items = realloc(v->items, v->cap * sizeof(char *));
		if (!v->items)
			abort();
	}
	v->items[v->n++] = s;
}

void vg_strv_free(vg_strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

static int cmp_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int walk_dir(const char *dir, bool every, vg_strv *out)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, cmp_name);
	if (n < 0) {
		fprintf(stderr, "vigil: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	int failed = 0;
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
		    (every || name[0] != '.')) {
			size_t len = strlen(dir) + strlen(name) + 2;
			char *path = vg_xmalloc(len);
			bool slash = dir[strlen(dir) - 1] == '/';
			snprintf(path, len, slash ? "%s%s" : "%s/%s", dir, name);
			struct stat lst, st;
			bool have = lstat(path, &lst) == 0;
			bool is_dir = have && S_ISDIR(lst.st_mode);
			bool link_to_dir = !is_dir && have && S_ISLNK(lst.st_mode) &&
					   stat(path, &st) == 0 && S_ISDIR(st.st_mode);
			/* FIFOs, sockets and devices are not images, and opening a FIFO with
			 * no writer blocks: said and skipped, never opened. */
			bool special =
				have && !is_dir && !S_ISREG(lst.st_mode) && !S_ISLNK(lst.st_mode);
			if (is_dir) {
				failed |= walk_dir(path, every, out);
				free(path);
			} else if (link_to_dir || special) {
				if (every) {
					fprintf(stderr, "vigil: %s: %s\n", path,
						link_to_dir ? "a symbolic link to a folder: not "
							      "followed"
							    : "not a regular file: skipped");
					failed = 1;
				}
				free(path);
			} else {
				push(out, path);
			}
		}
		free(ents[i]);
	}
	free(ents);
	return failed;
}

int vg_cli_collect_files(char *const *args, int n, bool every, vg_strv *out)
{
	int failed = 0;
	for (int i = 0; i < n; i++) {
		struct stat st;
		if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode))
			failed |= walk_dir(args[i], every, out);
		else
			push(out, vg_xstrdup(args[i])); /* errors surface when it is read */
	}
	return failed;
}
