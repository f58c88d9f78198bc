/* SPDX-License-Identifier: Apache-2.0
 *
 * Shared between the files of src/match only: the layout of an index segment, the
 * per-query context the scan kernels work from, and the kernel table chosen per CPU.
 * mih.c's opening comment explains the design; this header only names its parts.
 *
 * Invariants a segment keeps (vg__mih_seg_build establishes them, nothing changes them
 * afterwards except the tombstone bitmap):
 * - rows are sorted by (id, hash), with no duplicate (id, hash) pair;
 * - table t lists every row exactly once, in bucket key(t, hash[row]), rows ascending
 *   within a bucket; filt[p] is the other half of that row's 32-bit chunk;
 * - the row at position p is (high << 16) | rlo[p], high being Elias-Fano coded in hib.
 */
#ifndef VG_MATCH_INTERNAL_H
#define VG_MATCH_INTERNAL_H

#include "match.h"

#define VG__MIH_TABLES 16   /* two 16-bit halves of each of the eight 32-bit chunks */
#define VG__MIH_CHUNKS 8
#define VG__MIH_KEYS 65536  /* buckets per table */
#define VG__MIH_PAD 32      /* filt entries a SIMD load may read past a bucket's end */
#define VG__MIH_MAX_ROWS ((size_t)1 << 31)
#define VG__MIH_MAX_RADIUS 3 /* per table; 16 tables x (3 + 1) covers d = 63 */

typedef struct vg__mih_table {
	uint32_t *off;  /* [KEYS + 1] bucket k is positions off[k] .. off[k + 1] - 1 */
	uint16_t *filt; /* [n + PAD] the chunk's other 16 bits, per position */
	uint16_t *rlo;  /* [n] low 16 bits of the row, per position */
	uint64_t *hib;  /* Elias-Fano upper bits: bucket k's i-th row sets bit
			   off[k] + k * nh + i + (row >> 16) */
} vg__mih_table;

typedef struct vg__mih_seg {
	size_t n;           /* rows */
	size_t ndead;       /* rows tombstoned */
	uint32_t nh;        /* (n >> 16) + 1: distinct values of row >> 16, plus one */
	vg_pdq *hash;       /* [n] */
	uint64_t *id;       /* [n], ascending */
	uint64_t *dead;     /* [ceil(n / 64)] tombstones, or NULL while there are none */
	size_t bytes;       /* allocated, for vg_mih_memory() */
	void *mem;          /* one block holding every table's arrays */
	vg__mih_table t[VG__MIH_TABLES];
	struct vg__mih_quarter *quarter; /* exactly when n <= VG__MIH_QUARTER_MAX_ROWS */
} vg__mih_seg;

/* The quarter index (mih_quarter.c explains it): 32 tables, one per 8-bit quarter of
 * each 32-bit chunk, 256 buckets each, all in one array. Table t = 4c + j is keyed on
 * byte j of chunk c; bucket k of table t is positions off[256t + k] .. off[256t + k + 1]
 * - 1, rows ascending, then padding no query passes; chunk[p] is the row's chunk c. */
#define VG__MIH_QTABLES 32
#define VG__MIH_QBLOCK 8 /* every bucket holds a multiple of this many entries */
#define VG__MIH_QUARTER_MAX_ROWS ((size_t)1 << 16) /* rows fit its uint16 row field */

typedef struct vg__mih_quarter {
	uint32_t *off;   /* [32 * 256 + 1] */
	uint32_t *chunk; /* [off[32 * 256]] */
	uint16_t *row;   /* [off[32 * 256]] */
	size_t bytes;    /* allocated, counted in the segment's bytes */
} vg__mih_quarter;

/* One bucket to scan: key `key` of table t, whose positions lo .. hi - 1 the kernel
 * fills in; an entry passes the filter when floor < popcount(filt ^ qf[t]) <= budget.
 * The floor is -1 except in a chunk's second table, where entries whose first half is
 * within the first table's radius are left to the first table (which reaches them too),
 * so a chunk never verifies an entry twice. */
typedef struct vg__mih_probe {
	uint32_t lo, hi;
	uint16_t key;
	uint8_t t;
	int8_t budget;
	int8_t floor;
} vg__mih_probe;

/* What a scan kernel needs to know about the query, for one segment. */
typedef struct vg__mih_q {
	const vg__mih_seg *seg;
	const vg_pdq *q;
	int d;
	int8_t r[VG__MIH_TABLES];  /* probe radius per table, -1 = not probed */
	int8_t R[VG__MIH_CHUNKS];  /* chunk radius the table pair covers, -1 = none */
	uint16_t qk[VG__MIH_TABLES]; /* query's key half per table */
	uint16_t qf[VG__MIH_TABLES]; /* query's other half per table */
	vg_mih_hits *hits;
	/* Rows of this segment already verified, so an entry reached through several
	 * chunks is fetched once. Open addressing on the row; a slot is in use when its
	 * bit in seen_used is set (clearing 512 bytes per query rather than 16 KB). Once
	 * half full it takes no more rows, and rows it lacks fall back to the canonical
	 * table rule, which keeps the result exact: a row is reported either when first
	 * inserted or, if never inserted, only through its canonical table. */
	uint32_t *seen;      /* [VG__MIH_SEEN] */
	uint64_t *seen_used; /* [VG__MIH_SEEN / 64] */
	uint32_t seen_n;
} vg__mih_q;

#define VG__MIH_SEEN 4096

/* Scans np buckets (filling in their lo and hi), verifying and appending every entry that lies within qc->d and is
 * reached through its canonical table (so each entry is reported once). 0 or an error
 * from growing the hit buffer. */
typedef int vg__mih_scan_fn(vg__mih_q *qc, vg__mih_probe *p, size_t np);

/* Appends every row of hash[0 .. n-1] within d of q, skipping tombstoned rows (dead may
 * be NULL). */
typedef int vg__mih_linear_fn(const vg_pdq *hash, const uint64_t *id, const uint64_t *dead,
			      size_t n, const vg_pdq *q, int d, vg_mih_hits *hits);

/* Appends every live row of s within d (<= 31) of q, once each, through s->quarter. */
typedef int vg__mih_quarter_fn(const vg__mih_seg *s, const vg_pdq *q, int d,
			       vg_mih_hits *hits);

typedef struct vg__mih_kernels {
	vg_mih_isa isa;
	const char *name;
	vg__mih_scan_fn *scan;
	vg__mih_linear_fn *linear;
	vg__mih_quarter_fn *quarter;
} vg__mih_kernels;

vg__mih_quarter_fn vg__mih_quarter_scalar;
#if defined(__x86_64__)
vg__mih_quarter_fn vg__mih_quarter_avx2;
#endif

/* Builds s->quarter from s->hash; VG_ENOMEM leaves it NULL. Frees with free(). */
int vg__mih_quarter_build(vg__mih_seg *s);

/* The kernels for isa (AUTO: the best this CPU runs), or NULL if the CPU lacks it. */
const vg__mih_kernels *vg__mih_kernels_get(vg_mih_isa isa);

/* malloc, but 2 MB aligned and huge-page backed when large; free() releases it. */
void *vg__mih_alloc(size_t bytes);

/* Builds a segment from rows already sorted and deduplicated (vg__mih_sort_rows), taking
 * ownership of both arrays even on failure. NULL when out of memory. */
vg__mih_seg *vg__mih_seg_build(vg_pdq *hash, uint64_t *id, size_t n);
void vg__mih_seg_free(vg__mih_seg *s);

/* Sorts rows by (id, hash) and drops duplicate pairs, in place; returns the new count.
 * VG_ENOMEM leaves the arrays as they were. */
int vg__mih_sort_rows(vg_pdq *hash, uint64_t *id, size_t n, size_t *ret_n);

/* Calls fn for every live entry of idx in (id, hash) order; stops at and returns fn's
 * first non-zero result. */
typedef int vg__mih_entry_fn(void *ctx, const vg_pdq *h, uint64_t id);
int vg__mih_each_sorted(const vg_mih *idx, vg__mih_entry_fn *fn, void *ctx);

/* Loads an empty index from rows it takes ownership of (even on failure). */
int vg__mih_adopt(vg_mih *idx, vg_pdq *hash, uint64_t *id, size_t n);

/* Grows the hit buffer by doubling; VG_ETOOBIG past its max, VG_ENOMEM. */
int vg__mih_hits_grow(vg_mih_hits *hits);

static inline int vg__mih_hits_push(vg_mih_hits *hits, uint64_t id, int distance)
{
	if (hits->n == hits->cap) {
		int rc = vg__mih_hits_grow(hits);
		if (rc)
			return rc;
	}
	hits->v[hits->n].id = id;
	hits->v[hits->n].distance = distance;
	hits->n++;
	return 0;
}

static inline bool vg__mih_is_dead(const uint64_t *dead, size_t row)
{
	return dead && (dead[row >> 6] >> (row & 63) & 1);
}

/* Chunk c (0..7) of a hash: bits 32c .. 32c + 31. */
static inline uint32_t vg__mih_chunk(const uint64_t w[4], int c)
{
	return (uint32_t)(w[c >> 1] >> ((c & 1) * 32));
}

/* Table t indexes half (t & 1) of chunk t >> 1 and filters on the other half. */
static inline uint16_t vg__mih_key(uint32_t chunk, int t)
{
	return (uint16_t)((t & 1) ? chunk >> 16 : chunk);
}

static inline uint16_t vg__mih_other(uint32_t chunk, int t)
{
	return (uint16_t)((t & 1) ? chunk : chunk >> 16);
}

#endif
