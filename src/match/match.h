/* SPDX-License-Identifier: Apache-2.0
 *
 * match: in-memory indexes that banks are searched with. A bank of known-bad PDQ hashes
 * (tens of millions of entries) must answer "which entries lie within Hamming distance d
 * of this hash?" in microseconds, and exact digests (MD5, SHA-256) must answer "which
 * entries hold exactly this value?". The store and bank layers own the data and feed it
 * here; nothing in this folder touches disk except the PDQ index snapshot.
 *
 * Invariants:
 * - vg_mih_query() is exact for every threshold: it returns precisely the entries a
 *   brute-force scan returns (no entry missed, none extra), in (distance, id) order.
 * - Query paths never allocate once the caller's hit buffer has grown to fit.
 * - An index that no one modifies may be queried from any number of threads at once.
 *   Every function that takes a non-const vg_mih (or vg_digest_set) is a write and needs
 *   the caller's exclusion (a rwlock, or building a new index and swapping it in).
 *
 * The comment at the top of mih.c explains the index's layout and why it is exact.
 */
#ifndef VG_MATCH_H
#define VG_MATCH_H

#include "hash/hash.h"
#include "util/util.h"

/* ---- PDQ multi-index ------------------------------------------------------------------
 * A set of (PDQ hash, id) entries, ids being the caller's 64-bit signal ids. The same id
 * may hold several hashes (each is reported separately) and the same hash several ids;
 * an exact (hash, id) pair is present at most once.
 *
 * Memory: about 108 bytes per entry (the hash, the id and sixteen ~34-bit table entries)
 * plus a fixed ~4 MB of bucket offsets, and in banks of at most 65 536 entries about 200
 * bytes more per entry for the quarter index that answers d <= 31 there (so a 10 000
 * entry bank takes ~7.5 MB); vg_mih_memory() gives the exact figure. Rebuilds
 * (vg_mih_build, vg_mih_compact, the automatic ones in vg_mih_add) hold the old and the
 * new index at once, so they need about twice that while they run. */
typedef struct vg_mih vg_mih;

/* An empty index, or NULL when out of memory. */
VG_EXPORT vg_mih *vg_mih_new(void);
/* Frees the index and everything it holds; NULL is fine. */
VG_EXPORT void vg_mih_free(vg_mih *idx);

/* Adds one entry. Cheap: entries land in a small pending list that queries scan, and
 * every 1024 adds it is folded into an indexed delta segment (cost proportional to the
 * delta's size, at most an eighth of the index); when the delta outgrows that, the whole
 * index is rebuilt (vg_mih_compact). Errors: VG_EEXIST (this exact pair is present),
 * VG_ETOOBIG (over 2^31 entries), VG_ENOMEM. */
VG_EXPORT VG_MUST_CHECK int vg_mih_add(vg_mih *idx, const vg_pdq *h, uint64_t id);

/* Removes every entry with this id: O(log n), a tombstone that later compactions reclaim.
 * VG_ENOENT when no live entry has it; VG_ENOMEM (nothing removed) when the tombstone
 * bitmap cannot be allocated. */
VG_EXPORT VG_MUST_CHECK int vg_mih_remove(vg_mih *idx, uint64_t id);

/* Bulk load: adds n entries and rebuilds the index once, which is far cheaper than n
 * vg_mih_add() calls (about 0.2 s per million entries on two cores; it uses up to eight
 * threads while it runs). The arrays are borrowed (copied).
 * Exact duplicate pairs, in the input or already present, are kept once. Errors:
 * VG_ETOOBIG (the result would exceed 2^31 entries), VG_ENOMEM; on error idx is unchanged. */
VG_EXPORT VG_MUST_CHECK int vg_mih_build(vg_mih *idx, const vg_pdq *hashes, const uint64_t *ids,
					 size_t n);

/* Rebuilds the index from its live entries: drops tombstones, folds in pending adds and
 * the delta segment. O(n), the same cost as vg_mih_build; VG_ENOMEM leaves idx
 * unchanged. vg_mih_add also compacts when a quarter of the base is tombstones. */
VG_EXPORT VG_MUST_CHECK int vg_mih_compact(vg_mih *idx);

/* Live entries. */
VG_EXPORT size_t vg_mih_count(const vg_mih *idx);
/* Bytes the index has allocated (tables, hashes, ids, tombstones, pending list). */
VG_EXPORT size_t vg_mih_memory(const vg_mih *idx);

/* ---- query results ----------------------------------------------------------------- */
typedef struct vg_mih_hit {
	uint64_t id;
	int distance; /* Hamming distance to the query, 0..256 */
} vg_mih_hit;

/* A growable hit buffer owned by the caller and reused across queries, so that the query
 * path does not allocate once it has grown. One buffer per thread. */
typedef struct vg_mih_hits {
	vg_mih_hit *v; /* n hits, sorted by distance then id */
	size_t n;
	/* private */
	vg_mih_hit *tmp; /* scratch of the same capacity, for sorting */
	size_t cap;      /* allocated hits in v and tmp */
	size_t max;      /* a query finding more than this fails with VG_ETOOBIG */
} vg_mih_hits;

#define VG_MIH_HITS_DEFAULT_MAX ((size_t)1 << 20)

/* max_hits bounds memory per query; 0 means VG_MIH_HITS_DEFAULT_MAX. Allocates nothing. */
VG_EXPORT void vg_mih_hits_init(vg_mih_hits *hits, size_t max_hits);
VG_EXPORT void vg_mih_hits_done(vg_mih_hits *hits);

/* Every entry within Hamming distance max_distance (0..256) of q, into hits (replacing
 * its contents), sorted by distance then id. Exact: the same set as a brute-force scan.
 * Errors: VG_EINVAL (max_distance out of range), VG_ETOOBIG (more than the buffer's
 * max_hits), VG_ENOMEM (growing the buffer); hits->n is then 0.
 * Cost at d = 31 on one core: about 1 us at 10K random entries, 10 us at 1M and 40 us at
 * 10M, plus roughly 1 us per hit when the query falls in a family of near-duplicates.
 * Thresholds past 63, and segments too small for an index to pay, are answered by a
 * SIMD scan.
 * Uses about 30 KB of stack. Thread-safe against other queries; never against writes. */
VG_EXPORT VG_MUST_CHECK int vg_mih_query(const vg_mih *idx, const vg_pdq *q, int max_distance,
					 vg_mih_hits *hits);

/* ---- snapshots --------------------------------------------------------------------------
 * A versioned binary file of the live entries (magic, version, count, checksum), written
 * to a temporary file in the same directory, fsynced and renamed over path, so a crash
 * leaves either the old file or the new one. Loading reads the entries and rebuilds the
 * tables (they are derived data, so a file can never describe an inconsistent index). */

/* Errors: VG_EIO (with the system's reason in err). */
VG_EXPORT VG_MUST_CHECK int vg_mih_save(const vg_mih *idx, const char *path, vg_error *err);

/* Refuses files holding over max_entries entries with VG_ETOOBIG before allocating.
 * Errors: VG_ENOENT, VG_EIO, VG_ECORRUPT (bad magic, truncated, trailing bytes, checksum
 * mismatch), VG_EUNSUPPORTED (a version this build does not read), VG_ENOMEM. */
VG_EXPORT VG_MUST_CHECK int vg_mih_load(const char *path, size_t max_entries, vg_mih **ret,
					vg_error *err);

/* ---- tuning knobs for tests and benchmarks -------------------------------------------
 * Both are writes. The defaults (AUTO) pick the fastest kernels the CPU has and choose
 * per segment between the multi-index, the quarter index and a linear scan from a cost
 * estimate. */
typedef enum {
	VG_MIH_ISA_AUTO,
	VG_MIH_ISA_SCALAR, /* portable C */
	VG_MIH_ISA_AVX2,
	VG_MIH_ISA_AVX512, /* AVX-512 BW, BITALG and VPOPCNTDQ */
} vg_mih_isa;

typedef enum {
	VG_MIH_STRATEGY_AUTO,
	VG_MIH_STRATEGY_INDEX, /* the multi-index whenever the threshold allows (<= 63) */
	VG_MIH_STRATEGY_SCAN,  /* always the linear scan */
	VG_MIH_STRATEGY_QUARTER, /* the quarter index where a segment has one (at most 64K
				    rows) and d <= 31, else as AUTO */
} vg_mih_strategy;

/* VG_EUNSUPPORTED when this CPU (or build) lacks the instruction set. */
VG_EXPORT VG_MUST_CHECK int vg_mih_set_isa(vg_mih *idx, vg_mih_isa isa);
/* "scalar", "avx2" or "avx512": the kernels queries on idx use. */
VG_EXPORT const char *vg_mih_isa_name(const vg_mih *idx);
VG_EXPORT void vg_mih_set_strategy(vg_mih *idx, vg_mih_strategy strategy);

/* ---- exact digest sets ----------------------------------------------------------------
 * (digest, id) pairs for one digest length: 16 (MD5) or 32 (SHA-256). Open addressing
 * with a per-set random hash seed, so crafted digests cannot force long probe chains.
 * Between 1.3 and 2.7 times (digest length + 9) bytes per pair, as the table's load
 * moves between 3/8 and 3/4. Same threading rule as vg_mih. */
typedef struct vg_digest_set vg_digest_set;

/* NULL when digest_len is not 16 or 32, or out of memory. */
VG_EXPORT vg_digest_set *vg_digest_set_new(size_t digest_len);
VG_EXPORT void vg_digest_set_free(vg_digest_set *s);

/* digest holds the set's digest_len bytes. Errors: VG_EEXIST (the pair is present),
 * VG_ETOOBIG (over 2^31 pairs), VG_ENOMEM. */
VG_EXPORT VG_MUST_CHECK int vg_digest_set_add(vg_digest_set *s, const uint8_t *digest,
					      uint64_t id);
/* VG_ENOENT when the pair is absent. */
VG_EXPORT VG_MUST_CHECK int vg_digest_set_remove(vg_digest_set *s, const uint8_t *digest,
						 uint64_t id);
/* Returns how many ids hold digest and writes the smallest min(that, max_ids) of them to
 * ret_ids in ascending order. O(1) expected; never allocates. */
VG_EXPORT size_t vg_digest_set_lookup(const vg_digest_set *s, const uint8_t *digest,
				      uint64_t *ret_ids, size_t max_ids);
VG_EXPORT size_t vg_digest_set_count(const vg_digest_set *s);

#endif
