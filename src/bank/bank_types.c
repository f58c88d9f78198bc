/* SPDX-License-Identifier: Apache-2.0
 *
 * The domain rules of banks: what a bank name may be, which signal types exist and what
 * their values look like, and what metadata is. Everything on its way to the store passes
 * here, so the store only ever sees normalised values (lower-case hex of the type's
 * exact length for digests; bank_values.c for url, domain, ip and text) and compact
 * key-sorted JSON objects.
 *
 * Adding a signal type is one row in `types` plus its normaliser, and one INSERT INTO
 * signal_types in a new migration (0003_labels.sql added url, domain, ip and text).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(VG_BANK_VALUE_MAX <= VG_STORE_VALUE_MAX, "every normal form fits the store");
_Static_assert(VG_BANK_URL_MAX <= VG_BANK_VALUE_MAX && VG_BANK_TEXT_MAX <= VG_BANK_VALUE_MAX,
	       "every type's bound fits VG_BANK_VALUE_BUF");

static const vg__bank_type types[] = {
	{"pdq", VG__BANK_KIND_HEX, 64, true, 0, NULL},
	{"md5", VG__BANK_KIND_HEX, 32, false, 16, NULL},
	{"sha256", VG__BANK_KIND_HEX, 64, false, 32, NULL},
	{"url", VG__BANK_KIND_URL, 0, false, 0, vg__bank_url_normalize},
	{"domain", VG__BANK_KIND_DOMAIN, 0, false, 0, vg__bank_domain_normalize},
	{"ip", VG__BANK_KIND_IP, 0, false, 0, vg__bank_ip_normalize},
	{"text", VG__BANK_KIND_TEXT, 0, false, 0, vg__bank_text_normalize},
};

static const char *const type_names[] = {"pdq", "md5", "sha256", "url", "domain", "ip", "text",
					  NULL};

const char *const *vg_bank_types(void)
{
	return type_names;
}

const vg__bank_type *vg__bank_type_find(const char *name, size_t len)
{
	for (size_t i = 0; i < VG_ARRAY_LEN(types); i++)
		if (strlen(types[i].name) == len && memcmp(types[i].name, name, len) == 0)
			return &types[i];
	return NULL;
}

bool vg_bank_type_known(const char *type)
{
	return type && vg__bank_type_find(type, strlen(type)) != NULL;
}

bool vg_bank_name_valid(const char *name)
{
	if (!name)
		return false;
	size_t n = strlen(name);
	if (n < 1 || n > VG_STORE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '_' && c != '-')))
			return false;
	}
	return true;
}

int vg_bank_create(vg_store *s, const char *name, const char *description, vg_error *err)
{
	if (!vg_bank_name_valid(name))
		return vg_error_set(err, VG_EINVAL,
				    "bad bank name '%.80s': use 1 to 64 of a-z 0-9 _ -, starting "
				    "with a letter or digit",
				    name ? name : "");
	if (description && strlen(description) > VG_BANK_METADATA_MAX)
		return vg_error_set(err, VG_ETOOBIG, "description over %zu bytes",
				    VG_BANK_METADATA_MAX);
	return vg_store_bank_create(s, name, description, err);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **s, size_t *len)
{
	while (*len && is_space(**s))
		(*s)++, (*len)--;
	while (*len && is_space((*s)[*len - 1]))
		(*len)--;
}

const char *vg_bank_type_infer(const char *value, size_t len)
{
	trim(&value, &len);
	for (size_t i = 0; i < len; i++)
		if (vg_hex_value(value[i]) < 0)
			return NULL;
	return len == 32 ? "md5" : len == 64 ? "pdq" : NULL;
}

static int hex_normalize(const vg__bank_type *t, const char *value, size_t len,
			 char out[VG_BANK_VALUE_BUF], vg_error *err)
{
	if (len != t->hex_len)
		return vg_error_set(err, VG_EINVAL, "%s value must be %zu hex digits, not %zu bytes",
				    t->name, t->hex_len, len);
	char tmp[VG_BANK_HEX_BUF];
	for (size_t i = 0; i < len; i++) {
		int v = vg_hex_value(value[i]);
		if (v < 0)
			return vg_error_set(err, VG_EINVAL, "%s value has a non-hex character at %zu",
					    t->name, i + 1);
		tmp[i] = "0123456789abcdef"[v];
	}
	tmp[len] = '\0';
	memcpy(out, tmp, len + 1);
	return 0;
}

int vg_bank_value_normalize(const char *type, const char *value, size_t len,
			    char out[VG_BANK_VALUE_BUF], vg_error *err)
{
	const vg__bank_type *t = type ? vg__bank_type_find(type, strlen(type)) : NULL;
	if (!t)
		return vg_error_set(err, VG_EINVAL, "unknown signal type '%.20s'",
				    type ? type : "");
	if (!value)
		len = 0, value = "";
	/* Text is exact: a space at either end is part of it. */
	if (t->kind != VG__BANK_KIND_TEXT)
		trim(&value, &len);
	if (t->kind == VG__BANK_KIND_HEX)
		return hex_normalize(t, value, len, out, err);
	return t->normalize(value, len, out, err);
}

int vg__bank_metadata_dump(json_t *obj, char **ret, vg_error *err)
{
	if (!json_is_object(obj))
		return vg_error_set(err, VG_EINVAL, "metadata must be a JSON object");
	if (json_object_size(obj) == 0) {
		*ret = NULL;
		return 0;
	}
	char *text = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return vg_error_set(err, VG_ENOMEM, "out of memory serialising metadata");
	if (strlen(text) > VG_BANK_METADATA_MAX) {
		free(text);
		return vg_error_set(err, VG_ETOOBIG, "metadata over %zu bytes", VG_BANK_METADATA_MAX);
	}
	*ret = text;
	return 0;
}

int vg_bank_metadata_normalize(const char *json, size_t len, char **ret, vg_error *err)
{
	if (len > VG_BANK_METADATA_MAX)
		return vg_error_set(err, VG_ETOOBIG, "metadata of %zu bytes is over %zu", len,
				    VG_BANK_METADATA_MAX);
	json_error_t jerr;
	json_t *obj = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		return vg_error_set(err, VG_EINVAL, "metadata is not JSON: %s", jerr.text);
	int rc = vg__bank_metadata_dump(obj, ret, err);
	json_decref(obj);
	return rc;
}

int vg_bank_signal_add(vg_store *s, int64_t bank_id, const char *type, const char *value,
		       const char *metadata, int64_t *ret_id, vg_store_add_result *ret_result,
		       vg_error *err)
{
	char norm[VG_BANK_VALUE_BUF];
	char *meta = NULL;
	int rc = vg_bank_value_normalize(type, value, value ? strlen(value) : 0, norm, err);
	if (rc)
		return rc;
	if (metadata && (rc = vg_bank_metadata_normalize(metadata, strlen(metadata), &meta, err)))
		return rc;
	rc = vg_store_signal_add(s, bank_id, type, norm, meta, ret_id, ret_result, err);
	free(meta);
	return rc;
}
