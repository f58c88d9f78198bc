/* SPDX-License-Identifier: Apache-2.0
 *
 * bank: hash banks, the layer between the store and the match indexes. A bank is a named
 * list of known-bad signals: image hashes (PDQ, MD5, SHA-256) that `vigil match` and the
 * API search, and urls, domains, IP ranges and exact texts that rules' match() reads.
 * This folder owns the domain rules (bank names, signal types and how their values are
 * normalised, metadata), the import and export formats (plain, CSV, NDJSON), and the
 * in-memory indexes built from the store that `vigil match` and the API search.
 *
 * Invariants:
 * - Every value reaching the store is validated and normalised (vg_bank_value_normalize:
 *   lower-case hex, canonical url, ASCII domain, canonical CIDR, text as given) and every
 *   metadata is a JSON object re-serialised compactly with sorted keys, so equal signals
 *   are equal strings and two spellings of one signal are one row.
 * - Every parser is bounded: a line over max_line_bytes, an input over its file cap and
 *   metadata over VG_BANK_METADATA_MAX are refused with a clear error; a bad line is
 *   reported with its line number and never stops the lines after it.
 * - An index holds only signal ids; details are read from the store for the few hits,
 *   so millions of signals cost the index's bytes and nothing more.
 * - A snapshot is used only when its store watermark equals the store's; otherwise it is
 *   rebuilt from the store, so a stale snapshot can never hide an added or removed signal.
 */
#ifndef VG_BANK_H
#define VG_BANK_H

#include <stdio.h>

#include "match/match.h"
#include "store/store.h"
#include "util/util.h"

#define VG_BANK_LINE_MAX ((size_t)64 << 10)        /* default bytes per input line */
#define VG_BANK_INPUT_MAX ((size_t)1 << 30)        /* default bytes per import file */
#define VG_BANK_METADATA_MAX ((size_t)16 << 10)    /* bytes of one signal's metadata */
#define VG_BANK_VALUE_MAX 2048  /* bytes of any normalised value (= VG_STORE_VALUE_MAX) */
#define VG_BANK_VALUE_BUF (VG_BANK_VALUE_MAX + 1)  /* holds any normalised value + NUL */
#define VG_BANK_HEX_BUF 72      /* holds a normalised pdq, md5 or sha256 value + NUL */
#define VG_BANK_URL_MAX 2048    /* bytes of a canonical url */
#define VG_BANK_DOMAIN_MAX 253  /* bytes of an ASCII domain (RFC 1035), labels 1 to 63 */
#define VG_BANK_TEXT_MAX 1024   /* bytes of a text signal */

/* ---- names, types, values ---------------------------------------------------------- */

/* A bank name is a lower-case slug: [a-z0-9][a-z0-9_-]{0,63}. */
VG_EXPORT bool vg_bank_name_valid(const char *name);

/* Creates a bank after checking its name. Errors: VG_EINVAL (the name), VG_EEXIST, VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_bank_create(vg_store *s, const char *name,
					   const char *description, vg_error *err);

/* Known signal types, in the order `vigil help` lists them: "pdq", "md5", "sha256", "url",
 * "domain", "ip", "text". A new type is one row in bank_types.c plus its normaliser, and
 * one INSERT INTO signal_types in a migration. NULL-terminated. */
VG_EXPORT const char *const *vg_bank_types(void);
VG_EXPORT bool vg_bank_type_known(const char *type);

/* Validates value (len bytes, need not be NUL-terminated) as a signal of type and writes
 * its normal form, NUL-terminated, to out. Normal forms (docs/banks.md):
 *   pdq, md5, sha256  lower-case hex of the type's length (64, 32, 64 digits)
 *   url     vg_url_canonicalize()'s form of an http or https URL, at most VG_BANK_URL_MAX
 *   domain  lower-case ASCII (IDNA 2008 / UTS #46 punycode), no trailing dot; labels of
 *           1 to 63 of a-z 0-9 - _, at most VG_BANK_DOMAIN_MAX; one label ("com") is allowed
 *   ip      an address or CIDR range, v4 or v6, as inet_ntop() writes it with the host
 *           bits zeroed and "/N" only when N is shorter than the address ("10.0.0.0/8",
 *           "192.0.2.1", "2001:db8::/32"); IPv4-mapped v6 (::ffff:a.b.c.d, /96 and longer)
 *           is written as the IPv4 it is
 *   text    the value exactly as given (no trimming, case or Unicode folding): valid UTF-8
 *           of 1 to VG_BANK_TEXT_MAX bytes, no control character but tab, not only spaces
 * Every type but text trims surrounding spaces first. Thread-safe. Errors: VG_EINVAL,
 * with the reason in err. */
VG_EXPORT VG_MUST_CHECK int vg_bank_value_normalize(const char *type, const char *value,
						    size_t len, char out[VG_BANK_VALUE_BUF],
						    vg_error *err);

/* The type a bare value is taken for when no type is given: 32 hex digits are "md5", 64
 * are "pdq" (hash lists without a type are PDQ lists far more often than SHA-256 ones;
 * SHA-256 lists need --type sha256). NULL for anything else: url, domain, ip and text
 * are never guessed, because "example.com" or "10.0.0.1" is as likely a text as a domain
 * or an address, and the types match differently (a domain matches its subdomains, a
 * text only itself). */
VG_EXPORT const char *vg_bank_type_infer(const char *value, size_t len);

/* Checks that json (len bytes) is one JSON object no longer than VG_BANK_METADATA_MAX and
 * writes its compact, key-sorted text to a new string (caller frees). Errors: VG_EINVAL,
 * VG_ETOOBIG. */
VG_EXPORT VG_MUST_CHECK int vg_bank_metadata_normalize(const char *json, size_t len, char **ret,
						       vg_error *err);

/* Normalises and adds one signal (metadata: JSON object text or NULL). Errors: VG_EINVAL
 * (type, value or metadata; nothing is written), and the store's. */
VG_EXPORT VG_MUST_CHECK int vg_bank_signal_add(vg_store *s, int64_t bank_id, const char *type,
					       const char *value, const char *metadata,
					       int64_t *ret_id, vg_store_add_result *ret_result,
					       vg_error *err);

/* ---- import and export formats -------------------------------------------------------
 * plain   one value per line, optionally `,` or blanks and free text kept as metadata: a
 *         JSON object as it is, anything else as {"note": text} (after blanks, text that
 *         is not a JSON object is a note even when it starts with `{`; a line starting
 *         with `\` before a hash is md5sum's escaped-name line, the name unescaped as
 *         md5sum escapes it). `#` comments and blank lines are skipped and lines are
 *         trimmed. For url and text, whose values may hold
 *         commas, the whole line is the value and there is no metadata. The type is the
 *         caller's default type or inferred (plain lines carry none).
 * csv     RFC 4180 with a header row naming at least `value`; an optional `type` column;
 *         a `metadata` column holding a JSON object is merged into the metadata; every
 *         other column becomes a string metadata key (empty cells left out).
 * ndjson  one JSON object per line: "value", optional "type" and "metadata" (object).
 * A record's own type wins over the caller's default type, which wins over inference. */
typedef enum { VG_BANK_PLAIN, VG_BANK_CSV, VG_BANK_NDJSON } vg_bank_format;

/* "plain", "csv", "ndjson" -> format; false for anything else. */
VG_EXPORT bool vg_bank_format_parse(const char *name, vg_bank_format *ret);

typedef struct vg_bank_record {
	size_t line;          /* 1-based line the record starts on */
	const char *type;     /* a known type */
	const char *value;    /* normalised */
	const char *metadata; /* normalised JSON object text, or NULL */
} vg_bank_record;

/* The record is borrowed until the callback returns. Nonzero stops the parse and becomes
 * its return. */
typedef int vg_bank_record_fn(const vg_bank_record *rec, void *ctx);
/* A rejected line: its number and why. The parse goes on with the next line. */
typedef void vg_bank_reject_fn(size_t line, const char *reason, void *ctx);

typedef struct vg_bank_parse_opts {
	vg_bank_format format;
	const char *type;      /* default type, or NULL to infer */
	size_t max_line_bytes; /* 0: VG_BANK_LINE_MAX */
} vg_bank_parse_opts;

/* Parses data (len bytes, need not be NUL-terminated) and calls on_record for each good
 * record and on_reject (may be NULL) for each bad line. Whole-input errors: VG_EMALFORMED
 * (a CSV header without `value`), VG_EINVAL (an unknown default type). */
VG_EXPORT VG_MUST_CHECK int vg_bank_parse(const char *data, size_t len,
					  const vg_bank_parse_opts *opts,
					  vg_bank_record_fn *on_record, vg_bank_reject_fn *on_reject,
					  void *ctx, vg_error *err);

typedef struct vg_bank_import_stats {
	size_t added;      /* new signals */
	size_t duplicates; /* already live, left as they were */
	size_t revived;    /* were removed, live again */
	size_t rejected;   /* bad lines, each reported to on_reject */
} vg_bank_import_stats;

/* Parses data and adds every good record to bank_id in one transaction: all of them are
 * durable when it returns 0, none when it returns an error (bad lines are not errors).
 * Cost: a few seconds per million signals. */
VG_EXPORT VG_MUST_CHECK int vg_bank_import(vg_store *s, int64_t bank_id, const char *data,
					   size_t len, const vg_bank_parse_opts *opts,
					   vg_bank_reject_fn *on_reject, void *ctx,
					   vg_bank_import_stats *ret, vg_error *err);
/* The same inside the caller's transaction (vg_store_begin): nothing is committed, so
 * what belongs with the import (its audit entry) commits with it. On an error the caller
 * rolls back. */
VG_EXPORT VG_MUST_CHECK int vg_bank_import_tx(vg_store *s, int64_t bank_id, const char *data,
					      size_t len, const vg_bank_parse_opts *opts,
					      vg_bank_reject_fn *on_reject, void *ctx,
					      vg_bank_import_stats *ret, vg_error *err);

/* Reads a whole import source, a file path or "-" for standard input, into a new buffer
 * (caller frees). Errors: VG_ETOOBIG past max_bytes (before reading a file; as soon as
 * standard input passes it), VG_ENOENT, VG_EIO. */
VG_EXPORT VG_MUST_CHECK int vg_bank_input_read(const char *path, size_t max_bytes,
					       char **ret_data, size_t *ret_len, vg_error *err);

/* Writes the live signals of bank_id to out in format, in id order; importing the output
 * gives the same signals and metadata back (plain: with --type for a bank of one type
 * that is not inferred). Plain cannot carry every signal: a url or text with metadata, or
 * a text that a plain line would read back differently (surrounding spaces, a leading
 * `#`). Such a bank is refused with VG_EINVAL before anything is written; use csv or
 * ndjson. *ret_n (may be NULL) counts the signals written. */
VG_EXPORT VG_MUST_CHECK int vg_bank_export(vg_store *s, int64_t bank_id, vg_bank_format format,
					   FILE *out, size_t *ret_n, vg_error *err);

/* ---- indexes ------------------------------------------------------------------------
 * The live signals of a set of banks, as a PDQ multi-index and MD5 and SHA-256 sets whose
 * ids are signal ids. url, domain, ip and text signals are not in it (rules' match()
 * builds its own sets from the store), so banks holding them never change a match. Same
 * threading rule as match.h: queries may run in parallel, any add or remove needs the
 * caller's exclusion. */
typedef struct vg_bank_index vg_bank_index;

typedef struct vg_bank_index_opts {
	const int64_t *bank_ids; /* these banks, or all enabled ones when n_bank_ids is 0 */
	size_t n_bank_ids;
	/* The PDQ snapshot file (e.g. "<db>.pdq-index") to start from when it is current and
	 * to write when it is not; NULL for none. Its watermark goes to "<path>.meta". Only
	 * used for the all-enabled-banks index. */
	const char *snapshot_path;
	size_t snapshot_min_entries; /* write a snapshot only from this many PDQ entries */
} vg_bank_index_opts;

/* Builds the index from the store (or the current snapshot). A snapshot that cannot be
 * written is logged at debug level and not an error. */
VG_EXPORT VG_MUST_CHECK int vg_bank_index_open(vg_store *s, const vg_bank_index_opts *opts,
					       vg_bank_index **ret, vg_error *err);
VG_EXPORT void vg_bank_index_free(vg_bank_index *idx);

/* True when the PDQ part came from a current snapshot rather than the store. */
VG_EXPORT bool vg_bank_index_from_snapshot(const vg_bank_index *idx);
/* Live entries of a type ("pdq", "md5", "sha256"). */
VG_EXPORT size_t vg_bank_index_count(const vg_bank_index *idx, const char *type);

/* Keeps the index in step with the store after vg_bank_signal_add / vg_store_signal_remove
 * (value normalised). Types the index does not hold are ignored. */
VG_EXPORT VG_MUST_CHECK int vg_bank_index_add(vg_bank_index *idx, int64_t id, const char *type,
					      const char *value, vg_error *err);
VG_EXPORT VG_MUST_CHECK int vg_bank_index_remove(vg_bank_index *idx, int64_t id,
						 const char *type, const char *value,
						 vg_error *err);

/* PDQ entries within max_distance (0..256) of q: vg_mih_query()'s contract. */
VG_EXPORT VG_MUST_CHECK int vg_bank_index_query_pdq(const vg_bank_index *idx, const vg_pdq *q,
						    int max_distance, vg_mih_hits *hits);
/* Signal ids holding exactly digest (16 bytes for "md5", 32 for "sha256"): how many,
 * the smallest max_ids of them in ret_ids. */
VG_EXPORT size_t vg_bank_index_lookup(const vg_bank_index *idx, const char *type,
				      const uint8_t *digest, uint64_t *ret_ids, size_t max_ids);

/* ---- matches -------------------------------------------------------------------------
 * What a query matched, with each signal's details read from the store. Shared by `vigil
 * match` and the API so that both answer alike. One entry per signal. */
typedef struct vg_bank_match {
	int64_t signal_id;
	int distance; /* 0 for exact digests */
	int64_t bank_id;
	char bank[VG_STORE_NAME_MAX + 1];
	char type[VG_STORE_TYPE_MAX + 1];
	char value[VG_BANK_HEX_BUF]; /* only index types (pdq, md5, sha256) are matched here */
	char *metadata; /* JSON object text or NULL; owned by the set */
} vg_bank_match;

typedef struct vg_bank_matches {
	vg_bank_match *v;
	size_t n, cap;
	/* Keep at most this many (0: no limit), in the order found, except that a bank's
	 * first hit is always kept, so every matched bank is in v however many hits the
	 * others have ... */
	size_t limit;
	bool truncated;   /* ... and whether any hit was left out */
	vg_mih_hits hits; /* the index's scratch, reused across queries */
} vg_bank_matches;

VG_EXPORT void vg_bank_matches_init(vg_bank_matches *m);
VG_EXPORT void vg_bank_matches_clear(vg_bank_matches *m); /* empties, keeps the buffers */
VG_EXPORT void vg_bank_matches_done(vg_bank_matches *m);

/* Appends the live signals within threshold of q (or holding exactly digest: 16 bytes
 * for "md5", 32 for "sha256"), restricted to bank_ids when n_bank_ids > 0. A signal
 * already in m keeps its smallest distance. Errors: the index's and the store's. */
VG_EXPORT VG_MUST_CHECK int vg_bank_match_pdq(const vg_bank_index *idx, vg_store *s,
					      const vg_pdq *q, int threshold,
					      const int64_t *bank_ids, size_t n_bank_ids,
					      vg_bank_matches *m, vg_error *err);
VG_EXPORT VG_MUST_CHECK int vg_bank_match_digest(const vg_bank_index *idx, vg_store *s,
						 const char *type, const uint8_t *digest,
						 const int64_t *bank_ids, size_t n_bank_ids,
						 vg_bank_matches *m, vg_error *err);
/* Merges entries of the same signal (keeping the smallest distance) and orders them by
 * distance, then signal id. Call once after the queries, before reading v. */
VG_EXPORT void vg_bank_matches_sort(vg_bank_matches *m);

/* The matches as a jansson array of {"bank", "signal_id", "type", "value", "distance",
 * "metadata"} objects, the shape `vigil match --json` and the API print (a new
 * reference; the caller includes <jansson.h>). */
struct json_t;
VG_EXPORT struct json_t *vg_bank_matches_json(const vg_bank_matches *m);

#endif
