/* SPDX-License-Identifier: Apache-2.0
 *
 * PDQ index snapshots: the live (hash, id) entries in one binary file, so a large bank
 * starts from a sequential read and a rebuild instead of a database scan.
 *
 * Format, version 1, all integers little-endian:
 *   0  magic "vgMIH\r\n\x1a" (a text-mode transfer or a truncating copy breaks it)
 *   8  u32 version = 1
 *  12  u32 record size = 40
 *  16  u64 entry count
 *  24  u64 checksum of the records
 *  32  u64 checksum of bytes 0..31
 *  40  count records: hash words w[0..3] (u64 each, as vg_pdq holds them), u64 id,
 *      sorted by (id, hash) so that loading skips the sort
 * The file is exactly 40 + 40 * count bytes; anything else is VG_ECORRUPT.
 *
 * Invariants: a reader never trusts a length it has not checked against the file size
 * and max_entries; the tables are derived data and rebuilt on load, never read from the
 * file, so no file can describe an index whose buckets disagree with its hashes; a
 * writer replaces the file atomically (temporary file, fsync, rename, fsync directory).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define HDR_BYTES 40
#define REC_BYTES 40
#define VERSION 1
static const char magic[8] = {'v', 'g', 'M', 'I', 'H', '\r', '\n', 0x1a};

/* ---- checksum ----------------------------------------------------------------------
 * Not cryptographic (anyone who can write the file can recompute it): it catches
 * truncation, bit rot and torn writes. Four multiply-rotate lanes so it runs at memory
 * speed, each lane order-dependent so reordered records are caught too. */
typedef struct ck {
	uint64_t lane[4];
	uint64_t words;
} ck;

static void ck_init(ck *c)
{
	c->lane[0] = UINT64_C(0x243f6a8885a308d3); /* digits of pi: nothing up the sleeve */
	c->lane[1] = UINT64_C(0x13198a2e03707344);
	c->lane[2] = UINT64_C(0xa4093822299f31d0);
	c->lane[3] = UINT64_C(0x082efa98ec4e6c89);
	c->words = 0;
}

static inline uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

static inline void ck_word(ck *c, uint64_t w)
{
	uint64_t *l = &c->lane[c->words++ & 3];
	*l = rotl(*l ^ (w * UINT64_C(0x9e3779b97f4a7c15)), 27) * UINT64_C(0xd6e8feb86659fd93);
}

static uint64_t ck_final(const ck *c)
{
	uint64_t h = c->words * UINT64_C(0x9e3779b97f4a7c15);
	for (int i = 0; i < 4; i++) {
		h ^= rotl(c->lane[i], 8 * i + 1);
		h *= UINT64_C(0xd6e8feb86659fd93);
		h ^= h >> 32;
	}
	return h;
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t header_check(const uint8_t *hdr)
{
	ck c;
	ck_init(&c);
	for (int i = 0; i < 4; i++)
		ck_word(&c, get64(hdr + 8 * i));
	return ck_final(&c);
}

/* ---- writing -------------------------------------------------------------------------- */

typedef struct writer {
	int fd;
	uint8_t buf[1 << 16];
	size_t len;
	ck ck;
	uint64_t count;
} writer;

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int emit(void *ctx, const vg_pdq *h, uint64_t id)
{
	writer *w = ctx;
	if (w->len + REC_BYTES > sizeof(w->buf)) {
		if (write_all(w->fd, w->buf, w->len) != 0)
			return -1;
		w->len = 0;
	}
	uint8_t *p = w->buf + w->len;
	for (int i = 0; i < 4; i++) {
		put64(p + 8 * i, h->w[i]);
		ck_word(&w->ck, h->w[i]);
	}
	put64(p + 32, id);
	ck_word(&w->ck, id);
	w->len += REC_BYTES;
	w->count++;
	return 0;
}

static int fsync_dir(const char *path)
{
	char *copy = vg_xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(copy);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

int vg_mih_save(const vg_mih *idx, const char *path, vg_error *err)
{
	int rc = 0;
	size_t plen = strlen(path);
	char *tmp = vg_xmalloc(plen + 16);
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", 12);
	writer *w = vg_xmalloc(sizeof(*w));
	w->fd = mkostemp(tmp, O_CLOEXEC);
	if (w->fd < 0) {
		rc = vg_error_set(err, VG_EIO, "snapshot %s: %s", path, strerror(errno));
		free(tmp);
		free(w);
		return rc;
	}
	w->len = 0;
	w->count = 0;
	ck_init(&w->ck);

	/* The header goes last, once count and checksum are known. */
	uint8_t hdr[HDR_BYTES] = {0};
	if (write_all(w->fd, hdr, sizeof(hdr)) != 0 || vg__mih_each_sorted(idx, emit, w) != 0 ||
	    write_all(w->fd, w->buf, w->len) != 0)
		goto io;
	memcpy(hdr, magic, 8);
	put32(hdr + 8, VERSION);
	put32(hdr + 12, REC_BYTES);
	put64(hdr + 16, w->count);
	put64(hdr + 24, ck_final(&w->ck));
	put64(hdr + 32, header_check(hdr));
	if (pwrite(w->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) || fsync(w->fd) != 0)
		goto io;
	if (close(w->fd) != 0) {
		w->fd = -1;
		goto io;
	}
	w->fd = -1;
	if (rename(tmp, path) != 0)
		goto io;
	(void)fsync_dir(path); /* the rename is done; a failed directory sync only risks it */
	goto out;
io:
	rc = vg_error_set(err, VG_EIO, "snapshot %s: %s", path, strerror(errno));
	if (w->fd >= 0)
		close(w->fd);
	unlink(tmp);
out:
	free(tmp);
	free(w);
	return rc;
}

/* ---- reading -------------------------------------------------------------------------- */

static int read_full(int fd, uint8_t *p, size_t n, size_t *ret_got)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*ret_got = got;
	return 0;
}

int vg_mih_load(const char *path, size_t max_entries, vg_mih **ret, vg_error *err)
{
	int rc = 0;
	vg_pdq *hash = NULL;
	uint64_t *id = NULL;
	uint8_t *buf = NULL;
	vg_mih *idx = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vg_error_set(err, errno == ENOENT ? VG_ENOENT : VG_EIO, "snapshot %s: %s",
				    path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = vg_error_set(err, VG_EIO, "snapshot %s: %s", path, strerror(errno));
		goto out;
	}
	uint8_t hdr[HDR_BYTES];
	size_t got;
	if (read_full(fd, hdr, sizeof(hdr), &got) != 0) {
		rc = vg_error_set(err, VG_EIO, "snapshot %s: %s", path, strerror(errno));
		goto out;
	}
	if (got < sizeof(hdr) || memcmp(hdr, magic, 8) != 0) {
		rc = vg_error_set(err, VG_ECORRUPT, "snapshot %s: not a vigil PDQ index", path);
		goto out;
	}
	if (get32(hdr + 8) != VERSION) {
		rc = vg_error_set(err, VG_EUNSUPPORTED, "snapshot %s: version %u not supported",
				  path, get32(hdr + 8));
		goto out;
	}
	if (get64(hdr + 32) != header_check(hdr) || get32(hdr + 12) != REC_BYTES) {
		rc = vg_error_set(err, VG_ECORRUPT, "snapshot %s: bad header", path);
		goto out;
	}
	const uint64_t count = get64(hdr + 16);
	if (count > max_entries || count > VG__MIH_MAX_ROWS) {
		rc = vg_error_set(err, VG_ETOOBIG, "snapshot %s: %llu entries, over the limit",
				  path, (unsigned long long)count);
		goto out;
	}
	if ((uint64_t)st.st_size != HDR_BYTES + count * REC_BYTES) {
		rc = vg_error_set(err, VG_ECORRUPT, "snapshot %s: %lld bytes for %llu entries",
				  path, (long long)st.st_size, (unsigned long long)count);
		goto out;
	}
	const size_t n = (size_t)count;
	hash = vg__mih_alloc(n * sizeof(*hash));
	id = vg__mih_alloc(n * sizeof(*id));
	const size_t chunk = 4096;
	buf = malloc(chunk * REC_BYTES);
	if (!hash || !id || !buf) {
		rc = vg_error_set(err, VG_ENOMEM, "snapshot %s: out of memory", path);
		goto out;
	}
	ck c;
	ck_init(&c);
	for (size_t i = 0; i < n;) {
		size_t want = n - i < chunk ? n - i : chunk;
		if (read_full(fd, buf, want * REC_BYTES, &got) != 0) {
			rc = vg_error_set(err, VG_EIO, "snapshot %s: %s", path, strerror(errno));
			goto out;
		}
		if (got != want * REC_BYTES) { /* shrank while we read it */
			rc = vg_error_set(err, VG_ECORRUPT, "snapshot %s: truncated", path);
			goto out;
		}
		for (size_t k = 0; k < want; k++, i++) {
			const uint8_t *p = buf + k * REC_BYTES;
			for (int j = 0; j < 4; j++) {
				hash[i].w[j] = get64(p + 8 * j);
				ck_word(&c, hash[i].w[j]);
			}
			id[i] = get64(p + 32);
			ck_word(&c, id[i]);
		}
	}
	if (ck_final(&c) != get64(hdr + 24)) {
		rc = vg_error_set(err, VG_ECORRUPT, "snapshot %s: checksum mismatch", path);
		goto out;
	}
	idx = vg_mih_new();
	if (!idx) {
		rc = vg_error_set(err, VG_ENOMEM, "snapshot %s: out of memory", path);
		goto out;
	}
	/* The arrays move into the index: a 10M-entry bank is not held twice. */
	rc = vg__mih_adopt(idx, hash, id, n);
	hash = NULL;
	id = NULL;
	if (rc) {
		vg_error_set(err, rc, "snapshot %s: building the index failed", path);
		vg_mih_free(idx);
		goto out;
	}
	*ret = idx;
out:
	free(hash);
	free(id);
	free(buf);
	close(fd);
	return rc;
}
