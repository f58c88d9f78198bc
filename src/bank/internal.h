/* SPDX-License-Identifier: Apache-2.0
 *
 * bank's private helpers, shared by its files only: the signal type table's lookup and
 * the small JSON utilities the parsers and the exporter share. Only src/bank/ includes
 * this header.
 */
#ifndef VG__BANK_INTERNAL_H
#define VG__BANK_INTERNAL_H

#include <jansson.h>

#include "bank.h"

/* How a type's values look. Only hex digests for now; url/domain/ip add kinds. */
typedef enum { VG__BANK_KIND_HEX } vg__bank_kind;

typedef struct vg__bank_type {
	const char *name;
	vg__bank_kind kind;
	size_t hex_len;    /* digits, for VG__BANK_KIND_HEX */
	bool index_pdq;    /* goes into the PDQ multi-index */
	size_t digest_len; /* bytes, when it goes into an exact digest set; else 0 */
} vg__bank_type;

/* The type named name (len bytes), or NULL. */
const vg__bank_type *vg__bank_type_find(const char *name, size_t len);

/* Serialises a JSON object compactly with sorted keys into a new string, NULL for an
 * empty object; VG_ETOOBIG past VG_BANK_METADATA_MAX. Does not take obj. */
int vg__bank_metadata_dump(json_t *obj, char **ret, vg_error *err);

#endif
