/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON intake of abuse reports: the body of POST /v1/reports (issue 5) into a
 * vg_report, with every broken rule listed as a field error for the 422. The first stage
 * of the report pipeline (intake -> canonicalise -> route); the API wraps it with the
 * rate limit and the store.
 *
 * Rules (docs/reports.md repeats them for users): the body is one JSON object of at most
 * 64 KiB, no duplicate members. "category" is one of the fixed names. "urls" holds 1 to
 * 250 strings, each an http(s) URL canonicalised by vg_url_canonicalize(); invalid ones
 * are listed with their index; duplicates after canonicalisation are kept once.
 * "description" is optional text of at most 16 KiB. "reporter" is optional, {"name"?,
 * "email"?}: name at most 256 bytes, email at most 254 and syntax-checked; an empty string
 * counts as absent. "share" is optional, {"owner"?, "host"?}, each "full", "anonymous" or
 * "none", default "anonymous". "jurisdiction" is optional, an assigned ISO 3166-1 alpha-2
 * code in upper case. "evidence" is optional, at most 100 objects each with exactly one of
 * "pdq" (64 hex digits), "md5" (32) or "sha256" (64). null counts as absent for every
 * optional member. Unknown members are refused at every level: a typo in an optional
 * member would otherwise silently drop what the reporter meant, consent included.
 *
 * Invariant: every error message names the rule, never the value (values may be personal
 * data).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"

/* The assigned ISO 3166-1 alpha-2 codes (249), and XK (Kosovo: user-assigned, but what
 * the EU and most registries use). */
static const char iso3166[] =
	"AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ "
	"BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
	"DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR "
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY "
	"HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP "
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY "
	"MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ "
	"NA NC NE NF NG NI NL NO NP NR NU NZ OM "
	"PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW "
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ "
	"TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ "
	"VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

static bool jurisdiction_valid(const char *s, size_t n)
{
	if (n != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z')
		return false;
	/* Codes are two letters and a space; the last has no space, so stop on its NUL. */
	for (const char *p = iso3166;; p += 3) {
		if (p[0] == s[0] && p[1] == s[1])
			return true;
		if (!p[2])
			return false;
	}
}

static bool absent(const json_t *v)
{
	return !v || json_is_null(v);
}

/* Refuses every member of obj not in allowed (NULL-terminated). prefix names obj's
 * path in the errors ("" at the top). */
static void refuse_unknown(json_t *obj, const char *prefix, const char *const *allowed,
			   vg_report_fields *fields, int *bad)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		bool known = false;
		for (const char *const *a = allowed; *a && !known; a++)
			known = !strcmp(key, *a);
		if (!known) {
			/* The member's name is the caller's own text: quote at most a bounded,
			 * printable prefix of it. */
			char shown[40];
			size_t k = 0;
			for (const char *p = key; *p && k + 1 < sizeof(shown); p++)
				shown[k++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
			shown[k] = '\0';
			vg__report_field_error(fields, prefix[0] ? prefix : shown, -1,
					       "unknown member '%s'", shown);
			(*bad)++;
		}
	}
}

/* An optional bounded string member: 0 and *ret NULL when absent or empty. */
static int opt_string(json_t *v, const char *field, size_t max, char **ret, vg_report_fields *fields,
		      int *bad)
{
	*ret = NULL;
	if (absent(v))
		return 0;
	if (!json_is_string(v)) {
		vg__report_field_error(fields, field, -1, "must be a string");
		(*bad)++;
		return 0;
	}
	size_t n = json_string_length(v);
	if (n == 0)
		return 0;
	if (n > max) {
		vg__report_field_error(fields, field, -1, "at most %zu bytes", max);
		(*bad)++;
		return 0;
	}
	*ret = vg__report_strndup(json_string_value(v), n);
	return *ret ? 0 : VG_ENOMEM;
}

static void parse_share(json_t *v, const char *field, vg_report_share *ret, vg_report_fields *fields,
			int *bad)
{
	if (absent(v))
		return;
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	if (!strcmp(s, "full"))
		*ret = VG_REPORT_SHARE_FULL;
	else if (!strcmp(s, "anonymous"))
		*ret = VG_REPORT_SHARE_ANONYMOUS;
	else if (!strcmp(s, "none"))
		*ret = VG_REPORT_SHARE_NONE;
	else {
		vg__report_field_error(fields, field, -1, "must be \"full\", \"anonymous\" or \"none\"");
		(*bad)++;
	}
}

static int parse_urls(vg_report *r, json_t *v, vg_report_fields *fields, int *bad)
{
	if (absent(v) || !json_is_array(v)) {
		vg__report_field_error(fields, "urls", -1, "required: an array of 1 to %d URLs",
				       VG_REPORT_URLS_MAX);
		(*bad)++;
		return 0;
	}
	size_t n = json_array_size(v);
	if (n == 0 || n > VG_REPORT_URLS_MAX) {
		vg__report_field_error(fields, "urls", -1, "holds 1 to %d URLs, not %zu",
				       VG_REPORT_URLS_MAX, n);
		(*bad)++;
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *u = json_array_get(v, i);
		if (!json_is_string(u)) {
			vg__report_field_error(fields, "urls", (int)i, "must be a string");
			(*bad)++;
			continue;
		}
		vg_error e;
		int rc = vg__report_add_url(r, json_string_value(u), json_string_length(u), &e);
		if (rc == VG_ENOMEM)
			return rc;
		if (rc < 0) {
			vg__report_field_error(fields, "urls", (int)i, "%s", e.msg);
			(*bad)++;
		}
	}
	return 0;
}

static void parse_evidence(vg_report *r, json_t *v, vg_report_fields *fields, int *bad)
{
	if (absent(v))
		return;
	if (!json_is_array(v) || json_array_size(v) > VG_REPORT_EVIDENCE_MAX) {
		vg__report_field_error(fields, "evidence", -1, "an array of at most %d hashes",
				       VG_REPORT_EVIDENCE_MAX);
		(*bad)++;
		return;
	}
	size_t n = json_array_size(v);
	if (n == 0)
		return;
	r->evidence = vg_xcalloc(n, sizeof(*r->evidence));
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(v, i);
		const char *key;
		json_t *hex;
		vg_report_hash_type type = VG_REPORT_HASH_SHA256;
		if (!json_is_object(o) || json_object_size(o) != 1) {
			vg__report_field_error(fields, "evidence", (int)i,
					       "an object with one of \"pdq\", \"md5\", \"sha256\"");
			(*bad)++;
			continue;
		}
		json_object_foreach(o, key, hex) {
			if (!strcmp(key, "pdq"))
				type = VG_REPORT_HASH_PDQ;
			else if (!strcmp(key, "md5"))
				type = VG_REPORT_HASH_MD5;
			else if (!strcmp(key, "sha256"))
				type = VG_REPORT_HASH_SHA256;
			else
				key = NULL;
			break;
		}
		if (!key || !json_is_string(hex)) {
			vg__report_field_error(fields, "evidence", (int)i,
					       "an object with one of \"pdq\", \"md5\", \"sha256\" "
					       "holding a hex string");
			(*bad)++;
			continue;
		}
		vg_error e;
		vg_report_evidence ev;
		if (vg__report_evidence_parse(type, json_string_value(hex), json_string_length(hex), &ev,
					      &e)) {
			vg__report_field_error(fields, "evidence", (int)i, "%s", e.msg);
			(*bad)++;
			continue;
		}
		r->evidence[r->n_evidence++] = ev;
	}
}

static int parse_object(vg_report *r, json_t *root, vg_report_fields *fields, int *bad)
{
	static const char *const top[] = {"category", "urls",	      "description", "reporter",
					  "share",    "jurisdiction", "evidence",    NULL};
	static const char *const reporter_keys[] = {"name", "email", NULL};
	static const char *const share_keys[] = {"owner", "host", NULL};
	int rc;
	refuse_unknown(root, "", top, fields, bad);

	json_t *cat = json_object_get(root, "category");
	if (absent(cat) || !json_is_string(cat) ||
	    vg_report_category_parse(json_string_value(cat), &r->category) != 0) {
		vg__report_field_error(fields, "category", -1,
				       "required: one of csam, ncii, terrorism, phishing, malware, "
				       "spam, copyright, trademark, harassment, other");
		(*bad)++;
	}

	if ((rc = parse_urls(r, json_object_get(root, "urls"), fields, bad)))
		return rc;

	json_t *d = json_object_get(root, "description");
	if ((rc = opt_string(d, "description", VG_REPORT_DESCRIPTION_MAX, &r->description, fields,
			     bad)))
		return rc;

	json_t *rep = json_object_get(root, "reporter");
	if (!absent(rep) && !json_is_object(rep)) {
		vg__report_field_error(fields, "reporter", -1, "must be an object {\"name\", \"email\"}");
		(*bad)++;
	} else if (!absent(rep)) {
		refuse_unknown(rep, "reporter", reporter_keys, fields, bad);
		if ((rc = opt_string(json_object_get(rep, "name"), "reporter.name", VG_REPORT_NAME_MAX,
				     &r->reporter_name, fields, bad)))
			return rc;
		if ((rc = opt_string(json_object_get(rep, "email"), "reporter.email",
				     VG_REPORT_EMAIL_MAX, &r->reporter_email, fields, bad)))
			return rc;
		if (r->reporter_email &&
		    !vg__report_email_valid(r->reporter_email, strlen(r->reporter_email))) {
			vg__report_field_error(fields, "reporter.email", -1,
					       "not an email address (local@domain.example)");
			(*bad)++;
		}
	}

	json_t *share = json_object_get(root, "share");
	if (!absent(share) && !json_is_object(share)) {
		vg__report_field_error(fields, "share", -1, "must be an object {\"owner\", \"host\"}");
		(*bad)++;
	} else if (!absent(share)) {
		refuse_unknown(share, "share", share_keys, fields, bad);
		parse_share(json_object_get(share, "owner"), "share.owner", &r->share_owner, fields, bad);
		parse_share(json_object_get(share, "host"), "share.host", &r->share_host, fields, bad);
	}

	json_t *j = json_object_get(root, "jurisdiction");
	if (!absent(j)) {
		if (json_is_string(j) && jurisdiction_valid(json_string_value(j), json_string_length(j))) {
			memcpy(r->jurisdiction, json_string_value(j), 3);
		} else {
			vg__report_field_error(fields, "jurisdiction", -1,
					       "an ISO 3166-1 alpha-2 country code in upper case (\"DE\")");
			(*bad)++;
		}
	}

	parse_evidence(r, json_object_get(root, "evidence"), fields, bad);
	return 0;
}

int vg_report_parse_json(const char *body, size_t len, vg_report **ret_report, vg_report_fields *fields,
			 vg_error *err)
{
	if (len > VG_REPORT_JSON_MAX_BYTES)
		return vg_error_set(err, VG_ETOOBIG, "a report body holds at most %d bytes",
				    VG_REPORT_JSON_MAX_BYTES);
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return vg_error_set(err, VG_EMALFORMED, "malformed JSON at line %d column %d: %s",
				    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return vg_error_set(err, VG_EMALFORMED, "the body must be a JSON object");
	}
	vg_report *r = vg__report_new();
	int bad = 0;
	int rc = parse_object(r, root, fields, &bad);
	json_decref(root);
	if (rc) {
		rc = vg_error_set(err, rc, "out of memory");
	} else if (bad) {
		rc = vg_error_set(err, VG_EINVAL, "%d field%s of the report break%s a rule", bad,
				  bad == 1 ? "" : "s", bad == 1 ? "s" : "");
	}
	if (rc) {
		vg_report_free(r);
		return rc;
	}
	*ret_report = r;
	return 0;
}

char *vg_report_to_json(const vg_report *r, bool with_reporter)
{
	json_t *o = json_object(), *urls = json_array();
	json_object_set_new(o, "category", json_string(vg_report_category_name(r->category)));
	for (size_t i = 0; i < r->n_urls; i++)
		json_array_append_new(urls, json_string(r->urls[i]));
	json_object_set_new(o, "urls", urls);
	if (r->description)
		json_object_set_new(o, "description", json_string(r->description));
	if (with_reporter && (r->reporter_name || r->reporter_email)) {
		json_t *rep = json_object();
		if (r->reporter_name)
			json_object_set_new(rep, "name", json_string(r->reporter_name));
		if (r->reporter_email)
			json_object_set_new(rep, "email", json_string(r->reporter_email));
		json_object_set_new(o, "reporter", rep);
	}
	json_object_set_new(o, "share",
			    json_pack("{ssss}", "owner", vg_report_share_name(r->share_owner), "host",
				      vg_report_share_name(r->share_host)));
	if (r->jurisdiction[0])
		json_object_set_new(o, "jurisdiction", json_string(r->jurisdiction));
	if (r->n_evidence) {
		json_t *ev = json_array();
		for (size_t i = 0; i < r->n_evidence; i++)
			json_array_append_new(ev, json_pack("{ss}",
							    vg_report_hash_type_name(r->evidence[i].type),
							    r->evidence[i].hex));
		json_object_set_new(o, "evidence", ev);
	}
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
