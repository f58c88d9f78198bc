/* SPDX-License-Identifier: Apache-2.0
 *
 * Bank indexes: the live signals of a set of banks, loaded from the store into the match
 * folder's structures (a PDQ multi-index, MD5 and SHA-256 sets), keyed by signal id only.
 * A hit's bank, value and metadata are read back from the store, so the index costs what
 * vg_mih and vg_digest_set cost and nothing per signal on top.
 *
 * Snapshots: the PDQ part of the all-enabled-banks index can start from a vg_mih
 * snapshot file. Beside it, "<path>.meta" records the store watermark (birth, seq, tag) and
 * the entry count the snapshot was built from. The snapshot is written first and the
 * meta second, each atomically, and the watermark is read before the store is walked;
 * so whatever a crash or a concurrent writer leaves, a meta never vouches for a snapshot
 * older than the store it describes: the worst case is a needless rebuild.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define META_MAGIC "vigil-pdq-index-meta 1"
#define SNAPSHOT_MAX_ENTRIES ((size_t)1 << 31)

struct vg_bank_index {
	vg_mih *pdq;
	vg_digest_set *md5, *sha256;
	bool from_snapshot;
};

void vg_bank_index_free(vg_bank_index *idx)
{
	if (!idx)
		return;
	vg_mih_free(idx->pdq);
	vg_digest_set_free(idx->md5);
	vg_digest_set_free(idx->sha256);
	free(idx);
}

bool vg_bank_index_from_snapshot(const vg_bank_index *idx)
{
	return idx->from_snapshot;
}

size_t vg_bank_index_count(const vg_bank_index *idx, const char *type)
{
	if (strcmp(type, "pdq") == 0)
		return vg_mih_count(idx->pdq);
	if (strcmp(type, "md5") == 0)
		return vg_digest_set_count(idx->md5);
	if (strcmp(type, "sha256") == 0)
		return vg_digest_set_count(idx->sha256);
	return 0;
}

static vg_digest_set *set_for(const vg_bank_index *idx, const vg__bank_type *t)
{
	if (t->digest_len == 16)
		return idx->md5;
	if (t->digest_len == 32)
		return idx->sha256;
	return NULL;
}

int vg_bank_index_add(vg_bank_index *idx, int64_t id, const char *type, const char *value,
		      vg_error *err)
{
	const vg__bank_type *t = vg__bank_type_find(type, strlen(type));
	if (!t)
		return 0;
	int rc;
	if (t->index_pdq) {
		vg_pdq h;
		if ((rc = vg_pdq_from_hex(value, strlen(value), &h)))
			return vg_error_set(err, rc, "signal %lld: bad pdq value", (long long)id);
		rc = vg_mih_add(idx->pdq, &h, (uint64_t)id);
	} else if (t->digest_len) {
		uint8_t d[32];
		if ((rc = vg_hex_decode(value, strlen(value), d, t->digest_len)))
			return vg_error_set(err, rc, "signal %lld: bad %s value", (long long)id,
					    t->name);
		rc = vg_digest_set_add(set_for(idx, t), d, (uint64_t)id);
	} else {
		return 0;
	}
	if (rc == VG_EEXIST)
		return 0;
	return rc ? vg_error_set(err, rc, "indexing signal %lld: %s", (long long)id,
				 vg_error_message(rc))
		  : 0;
}

int vg_bank_index_remove(vg_bank_index *idx, int64_t id, const char *type, const char *value,
			 vg_error *err)
{
	const vg__bank_type *t = vg__bank_type_find(type, strlen(type));
	int rc = 0;
	if (!t)
		return 0;
	if (t->index_pdq) {
		rc = vg_mih_remove(idx->pdq, (uint64_t)id);
	} else if (t->digest_len) {
		uint8_t d[32];
		if (vg_hex_decode(value, strlen(value), d, t->digest_len) != 0)
			return vg_error_set(err, VG_EINVAL, "signal %lld: bad %s value",
					    (long long)id, t->name);
		rc = vg_digest_set_remove(set_for(idx, t), d, (uint64_t)id);
	}
	if (rc == VG_ENOENT)
		return 0; /* not indexed (a disabled bank, or removed twice): nothing to do */
	return rc ? vg_error_set(err, rc, "unindexing signal %lld", (long long)id) : 0;
}

int vg_bank_index_query_pdq(const vg_bank_index *idx, const vg_pdq *q, int max_distance,
			    vg_mih_hits *hits)
{
	return vg_mih_query(idx->pdq, q, max_distance, hits);
}

size_t vg_bank_index_lookup(const vg_bank_index *idx, const char *type, const uint8_t *digest,
			    uint64_t *ret_ids, size_t max_ids)
{
	const vg__bank_type *t = vg__bank_type_find(type, strlen(type));
	vg_digest_set *set = t ? set_for(idx, t) : NULL;
	return set ? vg_digest_set_lookup(set, digest, ret_ids, max_ids) : 0;
}

/* ---- loading from the store -------------------------------------------------------- */

typedef struct load_ctx {
	vg_bank_index *idx;
	vg_pdq *hashes; /* PDQ entries gathered for one vg_mih_build */
	uint64_t *ids;
	size_t n, cap;
	vg_error *err;
} load_ctx;

static int load_one(const vg_store_signal *sig, void *ctx)
{
	load_ctx *c = ctx;
	const vg__bank_type *t = vg__bank_type_find(sig->type, strlen(sig->type));
	if (!t)
		return 0;
	if (!t->index_pdq)
		return vg_bank_index_add(c->idx, sig->id, sig->type, sig->value, c->err);
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 4096;
		vg_pdq *h = realloc(c->hashes, cap * sizeof(*h));
		if (h)
			c->hashes = h;
		uint64_t *ids = h ? realloc(c->ids, cap * sizeof(*ids)) : NULL;
		if (!h || !ids)
			return vg_error_set(c->err, VG_ENOMEM, "out of memory loading the index");
		c->ids = ids;
		c->cap = cap;
	}
	if (vg_pdq_from_hex(sig->value, strlen(sig->value), &c->hashes[c->n]) != 0)
		return vg_error_set(c->err, VG_ECORRUPT, "signal %lld: bad pdq value in the store",
				    (long long)sig->id);
	c->ids[c->n++] = (uint64_t)sig->id;
	return 0;
}

static int read_meta(const char *path, vg_store_watermark *ret_wm, size_t *ret_count)
{
	char buf[256];
	FILE *f = fopen(path, "re");
	if (!f)
		return VG_ENOENT;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	long long birth, seq, tag;
	unsigned long long count;
	if (sscanf(buf, META_MAGIC "\nbirth %lld\nseq %lld\ntag %lld\ncount %llu\n", &birth,
		   &seq, &tag, &count) != 4)
		return VG_ECORRUPT; /* an older meta too: the snapshot is rebuilt once */
	ret_wm->birth = birth;
	ret_wm->seq = seq;
	ret_wm->tag = tag;
	*ret_count = (size_t)count;
	return 0;
}

static int write_meta(const char *path, const vg_store_watermark *wm, size_t count,
		      vg_error *err)
{
	char tmp[4096], text[256];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return vg_error_set(err, VG_EINVAL, "snapshot path too long");
	int len = snprintf(text, sizeof(text),
			   META_MAGIC "\nbirth %lld\nseq %lld\ntag %lld\ncount %zu\n",
			   (long long)wm->birth, (long long)wm->seq, (long long)wm->tag, count);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return vg_error_set(err, VG_EIO, "%s: %s", tmp, strerror(errno));
	bool ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
	ok = (close(fd) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		return vg_error_set(err, VG_EIO, "%s: %s", path, strerror(e));
	}
	return 0;
}

/* Loads the snapshot when its meta matches the store's watermark; false otherwise. */
static bool try_snapshot(const char *path, const char *meta_path, const vg_store_watermark *wm,
			 vg_mih **ret)
{
	vg_store_watermark saved;
	size_t count;
	if (read_meta(meta_path, &saved, &count) != 0 || saved.birth != wm->birth ||
	    saved.seq != wm->seq || saved.tag != wm->tag)
		return false;
	vg_mih *mih = NULL;
	vg_error err;
	if (vg_mih_load(path, SNAPSHOT_MAX_ENTRIES, &mih, &err) != 0) {
		vg_log(VG_LOG_DEBUG, "bank.snapshot_unreadable", "reason=\"%s\"", err.msg);
		return false;
	}
	if (vg_mih_count(mih) != count) {
		vg_mih_free(mih);
		return false;
	}
	*ret = mih;
	return true;
}

int vg_bank_index_open(vg_store *s, const vg_bank_index_opts *opts, vg_bank_index **ret,
		       vg_error *err)
{
	static const vg_bank_index_opts defaults = {0};
	if (!opts)
		opts = &defaults;
	vg_bank_index *idx = vg_xcalloc(1, sizeof(*idx));
	load_ctx c = {.idx = idx, .err = err};
	char meta_path[4096];
	int rc = 0;
	idx->md5 = vg_digest_set_new(16);
	idx->sha256 = vg_digest_set_new(32);
	if (!idx->md5 || !idx->sha256) {
		rc = vg_error_set(err, VG_ENOMEM, "out of memory");
		goto out;
	}

	bool snap = opts->snapshot_path && opts->n_bank_ids == 0;
	vg_store_watermark wm = {0};
	if (snap) {
		if ((size_t)snprintf(meta_path, sizeof(meta_path), "%s.meta",
				     opts->snapshot_path) >= sizeof(meta_path))
			snap = false;
		else if ((rc = vg_store_watermark_get(s, &wm, err)))
			goto out;
	}
	if (snap && try_snapshot(opts->snapshot_path, meta_path, &wm, &idx->pdq))
		idx->from_snapshot = true;

	/* Only the types the index holds: a bank of a million urls costs it nothing. */
	static const char *const index_types[] = {"pdq", "md5", "sha256"};
	static const char *const digest_types[] = {"md5", "sha256"};
	vg_store_filter f = {.bank_ids = opts->bank_ids, .n_bank_ids = opts->n_bank_ids,
			     .types = index_types, .n_types = VG_ARRAY_LEN(index_types)};
	if (idx->from_snapshot) {
		f.types = digest_types;
		f.n_types = VG_ARRAY_LEN(digest_types);
	}
	if ((rc = vg_store_signal_each(s, &f, load_one, &c, err)))
		goto out;
	if (!idx->from_snapshot) {
		if (!(idx->pdq = vg_mih_new())) {
			rc = vg_error_set(err, VG_ENOMEM, "out of memory");
			goto out;
		}
		if (c.n && (rc = vg_mih_build(idx->pdq, c.hashes, c.ids, c.n))) {
			rc = vg_error_set(err, rc, "building the PDQ index: %s", vg_error_message(rc));
			goto out;
		}
		if (snap && vg_mih_count(idx->pdq) >= opts->snapshot_min_entries) {
			vg_error serr;
			if (vg_mih_save(idx->pdq, opts->snapshot_path, &serr) != 0 ||
			    write_meta(meta_path, &wm, vg_mih_count(idx->pdq), &serr) != 0)
				vg_log(VG_LOG_DEBUG, "bank.snapshot_not_written", "reason=\"%s\"",
				       serr.msg);
		}
	}
	*ret = idx;
	idx = NULL;
out:
	free(c.hashes);
	free(c.ids);
	vg_bank_index_free(idx);
	return rc;
}
