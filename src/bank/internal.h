/* SPDX-License-Identifier: Apache-2.0
 *
 * bank's private helpers, shared by its files only: the signal type table's lookup, the
 * normalisers of the types that are not hex digests (bank_values.c), and the small JSON
 * utilities the parsers and the exporter share. Only src/bank/ includes this header.
 */
#ifndef VG__BANK_INTERNAL_H
#define VG__BANK_INTERNAL_H

#include <jansson.h>

#include "bank.h"

/* How a type's values look, which decides how the line formats read them: a plain line
 * of a url or text is all value (they may hold commas), and text is never trimmed. */
typedef enum {
	VG__BANK_KIND_HEX,
	VG__BANK_KIND_URL,
	VG__BANK_KIND_DOMAIN,
	VG__BANK_KIND_IP,
	VG__BANK_KIND_TEXT,
} vg__bank_kind;

/* Writes the normal form of value (len bytes, already trimmed unless the kind is text)
 * to out, or returns VG_EINVAL with the reason. */
typedef int vg__bank_normalize_fn(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
				  vg_error *err);

typedef struct vg__bank_type {
	const char *name;
	vg__bank_kind kind;
	size_t hex_len;    /* digits, for VG__BANK_KIND_HEX */
	bool index_pdq;    /* goes into the PDQ multi-index */
	size_t digest_len; /* bytes, when it goes into an exact digest set; else 0 */
	vg__bank_normalize_fn *normalize; /* NULL for VG__BANK_KIND_HEX */
} vg__bank_type;

/* The type named name (len bytes), or NULL. */
const vg__bank_type *vg__bank_type_find(const char *name, size_t len);

/* The normalisers of bank_values.c, one per kind that is not hex. */
int vg__bank_url_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			   vg_error *err);
int vg__bank_domain_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			      vg_error *err);
int vg__bank_ip_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			  vg_error *err);
int vg__bank_text_normalize(const char *value, size_t len, char out[VG_BANK_VALUE_BUF],
			    vg_error *err);

/* Serialises a JSON object compactly with sorted keys into a new string, NULL for an
 * empty object; VG_ETOOBIG past VG_BANK_METADATA_MAX. Does not take obj. */
int vg__bank_metadata_dump(json_t *obj, char **ret, vg_error *err);

#endif
