/* SPDX-License-Identifier: Apache-2.0
 *
 * The report model (report.h): names of categories, shares and hash types, building and
 * freeing a report, the field-error list a 422 carries, and the validators both intakes
 * share (UTF-8, email syntax, evidence hex). Invariants: a report's URLs are canonical and
 * distinct, at most VG_REPORT_URLS_MAX; evidence hex is lower case and of its type's
 * length; vg_report_free() frees a half-built report.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

static const char *const category_names[VG_REPORT_NCATEGORIES] = {
	[VG_REPORT_CSAM] = "csam",
	[VG_REPORT_NCII] = "ncii",
	[VG_REPORT_TERRORISM] = "terrorism",
	[VG_REPORT_PHISHING] = "phishing",
	[VG_REPORT_MALWARE] = "malware",
	[VG_REPORT_SPAM] = "spam",
	[VG_REPORT_COPYRIGHT] = "copyright",
	[VG_REPORT_TRADEMARK] = "trademark",
	[VG_REPORT_HARASSMENT] = "harassment",
	[VG_REPORT_OTHER] = "other",
};

const char *vg_report_category_name(vg_report_category c)
{
	return (unsigned)c < VG_REPORT_NCATEGORIES ? category_names[c] : "unknown";
}

int vg_report_category_parse(const char *s, vg_report_category *ret)
{
	for (int c = 0; c < VG_REPORT_NCATEGORIES; c++) {
		if (!strcmp(s, category_names[c])) {
			*ret = (vg_report_category)c;
			return 0;
		}
	}
	return VG_EINVAL;
}

const char *vg_report_share_name(vg_report_share s)
{
	switch (s) {
	case VG_REPORT_SHARE_FULL:
		return "full";
	case VG_REPORT_SHARE_NONE:
		return "none";
	case VG_REPORT_SHARE_ANONYMOUS:
		break;
	}
	return "anonymous";
}

const char *vg_report_hash_type_name(vg_report_hash_type t)
{
	switch (t) {
	case VG_REPORT_HASH_PDQ:
		return "pdq";
	case VG_REPORT_HASH_MD5:
		return "md5";
	case VG_REPORT_HASH_SHA256:
		break;
	}
	return "sha256";
}

const char *vg_report_source_name(vg_report_source s)
{
	switch (s) {
	case VG_REPORT_SOURCE_ARF:
		return "arf";
	case VG_REPORT_SOURCE_XARF:
		return "xarf";
	case VG_REPORT_SOURCE_MAIL:
		return "mail";
	case VG_REPORT_SOURCE_API:
		break;
	}
	return "api";
}

vg_report *vg__report_new(void)
{
	vg_report *r = vg_xcalloc(1, sizeof(*r));
	r->source = VG_REPORT_SOURCE_API;
	r->share_owner = r->share_host = VG_REPORT_SHARE_ANONYMOUS;
	return r;
}

void vg_report_free(vg_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_urls; i++)
		free(r->urls[i]);
	free(r->urls);
	free(r->description);
	free(r->reporter_name);
	free(r->reporter_email);
	free(r->evidence);
	free(r);
}

char *vg__report_strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		if (n)
			memcpy(p, s, n); /* s may be NULL when n is 0 */
		p[n] = '\0';
	}
	return p;
}

int vg__report_add_url(vg_report *r, const char *url, size_t len, vg_error *err)
{
	/* Full: nothing more is kept, so nothing more is canonicalised (IDNA included). A
	 * 10 MiB ARF of 180 000 Reported-URI lines cost ~2 s of CPU canonicalising URLs that
	 * were all dropped. (POST /v1/reports holds at most 250 URLs, so never gets here
	 * with an URL it would have to refuse.) */
	if (r->n_urls >= VG_REPORT_URLS_MAX)
		return 0;
	char canon[VG_URL_MAX + 1];
	/* The bound (VG_URL_MAX) is on the canonical form, which is what is stored and can
	 * grow (escapes): canonicalisation refuses a URL longer once canonical. */
	int rc = vg_url_canonicalize(url, len, canon, sizeof(canon), err);
	if (rc)
		return rc;
	/* Linear: at most 250 URLs, and a report is built once. */
	for (size_t i = 0; i < r->n_urls; i++)
		if (!strcmp(r->urls[i], canon))
			return 0;
	if (!r->urls) {
		r->urls = calloc(VG_REPORT_URLS_MAX, sizeof(*r->urls));
		if (!r->urls)
			return vg_error_set(err, VG_ENOMEM, "out of memory");
	}
	char *copy = vg__report_strndup(canon, strlen(canon));
	if (!copy)
		return vg_error_set(err, VG_ENOMEM, "out of memory");
	r->urls[r->n_urls++] = copy;
	return 1;
}

bool vg__report_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t len;
		unsigned cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static bool atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", c);
}

bool vg__report_email_valid(const char *s, size_t n)
{
	if (n == 0 || n > VG_REPORT_EMAIL_MAX || !vg__report_utf8_valid(s, n))
		return false;
	const char *at = memrchr(s, '@', n);
	if (!at)
		return false;
	size_t local = (size_t)(at - s), dom = n - local - 1;
	if (local == 0 || local > 64 || dom == 0)
		return false;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (i == 0 || i == local - 1 || s[i - 1] == '.')
				return false;
		} else if (!atext(c) || c == 0) {
			return false;
		}
	}
	const char *d = at + 1;
	size_t label = 0, dots = 0;
	for (size_t i = 0; i < dom; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			if (label == 0 || d[i - 1] == '-')
				return false;
			label = 0, dots++;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c >= 0x80 || (c == '-' && label > 0);
		if (!ok || ++label > 63)
			return false;
	}
	return label > 0 && d[dom - 1] != '-' && dots > 0;
}

int vg__report_evidence_parse(vg_report_hash_type type, const char *hex, size_t n,
			      vg_report_evidence *ret, vg_error *err)
{
	size_t want = type == VG_REPORT_HASH_MD5 ? 32 : 64;
	if (n != want)
		return vg_error_set(err, VG_EINVAL, "a %s hash is %zu hex digits, not %zu",
				    vg_report_hash_type_name(type), want, n);
	uint8_t bytes[32];
	if (vg_hex_decode(hex, n, bytes, n / 2) != 0)
		return vg_error_set(err, VG_EINVAL, "a %s hash holds only hex digits",
				    vg_report_hash_type_name(type));
	ret->type = type;
	vg_hex_encode(bytes, n / 2, ret->hex);
	return 0;
}

/* ---- field errors ---------------------------------------------------------------- */

void vg_report_fields_init(vg_report_fields *f)
{
	f->items = NULL;
	f->n = f->n_dropped = 0;
}

void vg_report_fields_done(vg_report_fields *f)
{
	if (!f)
		return;
	free(f->items);
	vg_report_fields_init(f);
}

void vg__report_field_error(vg_report_fields *fields, const char *field, int index, const char *fmt,
			    ...)
{
	if (!fields)
		return;
	if (!fields->items)
		fields->items = calloc(VG_REPORT_FIELD_ERRORS_MAX, sizeof(*fields->items));
	if (!fields->items || fields->n >= VG_REPORT_FIELD_ERRORS_MAX) {
		fields->n_dropped++;
		return;
	}
	vg_report_field_error *e = &fields->items[fields->n++];
	snprintf(e->field, sizeof(e->field), "%s", field);
	e->index = index;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

char *vg_report_fields_json(const vg_report_fields *f)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < f->n; i++) {
		const vg_report_field_error *e = &f->items[i];
		json_t *o = json_object();
		json_object_set_new(o, "field", json_string(e->field));
		if (e->index >= 0)
			json_object_set_new(o, "index", json_integer(e->index));
		/* Messages quote parser reasons, which may hold bytes of the input: keep the
		 * output valid JSON whatever they hold. */
		bool ok = vg__report_utf8_valid(e->message, strlen(e->message));
		json_object_set_new(o, "message", json_string(ok ? e->message : "invalid value"));
		json_array_append_new(arr, o);
	}
	char *s = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
	json_decref(arr);
	return s;
}
