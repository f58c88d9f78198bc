/* SPDX-License-Identifier: Apache-2.0
 *
 * Whole-file reads with a size bound checked before any byte is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int vg_file_read(const char *path, size_t max_bytes, uint8_t **ret_data, size_t *ret_len,
		 vg_error *err)
{
	int rc = 0;
	uint8_t *data = NULL;
	/* O_NONBLOCK: opening a FIFO with no writer would otherwise block for ever (a
	 * folder anyone can write to may hold one); fstat then refuses it. Reads of a
	 * regular file ignore the flag. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return vg_error_set(err, errno == ENOENT ? VG_ENOENT : VG_EIO, "%s",
				    strerror(errno));

	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = vg_error_set(err, VG_EIO, "%s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = vg_error_set(err, VG_EINVAL, "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > max_bytes) {
		rc = vg_error_set(err, VG_ETOOBIG, "file of %lld bytes is over the %zu-byte limit",
				  (long long)st.st_size, max_bytes);
		goto out;
	}

	size_t cap = (size_t)st.st_size, len = 0;
	data = malloc(cap ? cap : 1);
	if (!data) {
		rc = vg_error_set(err, VG_ENOMEM, "out of memory");
		goto out;
	}
	/* The file may change size while we read it; read what fits and no more. */
	while (len < cap) {
		ssize_t n = read(fd, data + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = vg_error_set(err, VG_EIO, "%s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_data = data;
	*ret_len = len;
	data = NULL;
out:
	free(data);
	close(fd);
	return rc;
}
