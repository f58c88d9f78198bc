/* SPDX-License-Identifier: Apache-2.0
 *
 * The mail intake of abuse reports: one raw RFC 5322 message, parsed with GMime 3, into a
 * vg_report and the message's metadata (report.h). The only file in vigil that sees GMime.
 *
 * Three readings, tried in this order:
 *  - X-ARF (an X-XARF header; the report is a JSON part in one of three forms: version 4
 *    of the xarf-spec, one flat object with lower-case keys "xarf_version", "category",
 *    "type", "url", "infringing_url", "source_identifier", "timestamp"; version 3,
 *    {"Version": "3", "Report": {"ReportClass", "ReportType", "Url", "SourceUrl",
 *    "SourceIp", "Date"}}; or the flat form of X-ARF 0.1/0.2 with "Category",
 *    "Report-Type", "Source", "Source-Type", "Date"); the type, then the category, is
 *    mapped to ours by xarf_category().
 *  - ARF (RFC 5965: multipart/report; report-type=feedback-report): the machine-readable
 *    message/feedback-report part gives Feedback-Type (abuse -> spam, fraud -> phishing,
 *    virus -> malware, other and anything unknown -> other; not-spam is refused), Reported-URI
 *    and Reported-Domain (-> URLs), Source-IP (-> source_ip, not a URL: zones are names)
 *    and Arrival-Date. With no URL in those fields the URLs come from the enclosed message.
 *  - plain: every http(s) URL in the text/plain and text/html parts.
 *
 * Invariants: input over VG_REPORT_MAIL_MAX_BYTES is refused before GMime sees it, and
 * so is input whose boundaries would make GMime's parser slow (prescan()): of such a
 * message GMime sees the header alone (within the bound), for its Message-ID; MIME
 * nesting is followed at most MAX_DEPTH levels and MAX_PARTS parts; at most
 * MAX_URL_CANDIDATES strings are tried as URLs; the metadata is filled before anything can
 * fail, so a malformed message still yields its Message-ID; nothing is logged (From and
 * the text are personal data or content).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>
#include <jansson.h>

#include "internal.h"

#define MAX_DEPTH 8
#define MAX_PARTS 256
#define MAX_URL_CANDIDATES 5000
#define HEADER_FIELD_MAX 998 /* RFC 5322 line length, our bound for kept header values */
#define XARF_JSON_MAX (1u << 20)
/* GMime compares each line starting with "--" with every boundary still open: the most
 * comparisons (declarations x such lines) we let it make, about 0.2 s of CPU. With at
 * most 9 declarations no message under VG_REPORT_MAIL_MAX_BYTES comes near it. */
#define MAX_BOUNDARY_CHECKS (1u << 25)

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static int prescan(const char *data, size_t n, vg_error *err);
static GMimeMessage *construct(const char *data, size_t len);

static void gmime_setup(void)
{
	g_mime_init();
}

void vg_report_mail_init(vg_report_mail *m)
{
	memset(m, 0, sizeof(*m));
	m->kind = VG_REPORT_SOURCE_MAIL;
}

void vg_report_mail_done(vg_report_mail *m)
{
	if (!m)
		return;
	vg_report_free(m->report);
	free(m->message_id);
	free(m->from);
	free(m->subject);
	free(m->feedback_type);
	vg_report_mail_init(m);
}

/* A bounded, valid UTF-8 copy of s (invalid sequences replaced, cut at a character
 * boundary). */
static char *bounded_copy(const char *s, size_t max)
{
	if (!s)
		return NULL;
	char *valid = g_utf8_make_valid(s, -1);
	size_t n = strlen(valid);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)valid[n] & 0xc0) == 0x80)
			n--;
	}
	char *out = vg__report_strndup(valid, n);
	g_free(valid);
	return out;
}

static void lower(char *s)
{
	for (; s && *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* ---- URL extraction from text ---------------------------------------------------- */

struct scan {
	vg_report *r;
	int candidates;
};

static bool url_end(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("<>\"'`{}|\\^", c);
}

/* Characters past ASCII that end a URL written in prose, as a space or a quote does:
 * white space, quotation marks and brackets (curly quotes, guillemets, CJK corner
 * brackets), and the invisible characters no URL keeps (zero-width space, word joiner,
 * byte order mark, bidi marks and controls). Not the soft hyphen or the zero-width
 * joiner and non-joiner: a domain name may hold them (IDNA maps the first away and
 * keeps the others in some scripts), so the canonicaliser judges them, as it does in a
 * structured report's url field. */
static bool unicode_end(gunichar c)
{
	switch (g_unichar_type(c)) {
	case G_UNICODE_SPACE_SEPARATOR:
	case G_UNICODE_LINE_SEPARATOR:
	case G_UNICODE_PARAGRAPH_SEPARATOR:
	case G_UNICODE_CONTROL:
	case G_UNICODE_INITIAL_PUNCTUATION:
	case G_UNICODE_FINAL_PUNCTUATION:
	case G_UNICODE_OPEN_PUNCTUATION:
	case G_UNICODE_CLOSE_PUNCTUATION: return true;
	case G_UNICODE_FORMAT: return c != 0xad && c != 0x200c && c != 0x200d;
	default: return false;
	}
}

/* The URL starting at text[i], its http(s):// the first skip bytes: returns its length
 * without the sentence punctuation after it, and puts where it ends in *ret_end. */
static size_t url_span(const char *text, size_t n, size_t i, size_t skip, size_t *ret_end)
{
	size_t e = i + skip;
	while (e < n) {
		unsigned char c = (unsigned char)text[e];
		if (c < 0x80) {
			if (url_end(c))
				break;
			e++;
			continue;
		}
		unsigned cp;
		size_t k = vg_utf8_next((const unsigned char *)text + e, n - e, &cp);
		if (k && unicode_end(cp))
			break;
		e += k ? k : 1; /* a stray byte is left to the canonicaliser to judge */
	}
	*ret_end = e;
	/* Sentence punctuation after a URL is not part of it (ASCII .,;:!? and, past ASCII,
	 * the other punctuation and dashes: ideographic full stop and comma, fullwidth
	 * marks, ellipsis); a closing bracket is, only when the URL opened one. Brackets
	 * are never trimmed, so whether one opened is known once, before the loop. */
	bool paren = memchr(text + i, '(', e - i), square = memchr(text + i, '[', e - i);
	while (e > i + skip) {
		char c = text[e - 1];
		if (strchr(".,;:!?", c) || (c == ')' && !paren) || (c == ']' && !square)) {
			e--;
			continue;
		}
		size_t start = e - 1;
		while (start > i + skip && e - start < 4 &&
		       ((unsigned char)text[start] & 0xc0) == 0x80)
			start--;
		unsigned cp;
		if ((unsigned char)c < 0x80 ||
		    vg_utf8_next((const unsigned char *)text + start, e - start, &cp) != e - start)
			break;
		GUnicodeType t = g_unichar_type(cp);
		if (t != G_UNICODE_OTHER_PUNCTUATION && t != G_UNICODE_DASH_PUNCTUATION)
			break;
		e = start;
	}
	return e - i;
}

/* Named character references worth decoding for URLs: HTML's own specials, and the
 * spaces, quotes and punctuation that end or follow a URL in prose. Any other stays as
 * written (a URL may hold "&name;" as text). */
static const struct {
	const char *name, *utf8;
} entities[] = {
	{"amp", "&"},
	{"AMP", "&"},
	{"lt", "<"},
	{"LT", "<"},
	{"gt", ">"},
	{"GT", ">"},
	{"quot", "\""},
	{"QUOT", "\""},
	{"apos", "'"},
	{"shy", ""}, /* a soft hyphen shows as nothing: link text breaks a URL with it */
	{"nbsp", "\xc2\xa0"},
	{"ensp", "\xe2\x80\x82"},
	{"emsp", "\xe2\x80\x83"},
	{"thinsp", "\xe2\x80\x89"},
	{"lsquo", "\xe2\x80\x98"},
	{"rsquo", "\xe2\x80\x99"},
	{"ldquo", "\xe2\x80\x9c"},
	{"rdquo", "\xe2\x80\x9d"},
	{"laquo", "\xc2\xab"},
	{"raquo", "\xc2\xbb"},
	{"hellip", "\xe2\x80\xa6"},
	{"ndash", "\xe2\x80\x93"},
	{"mdash", "\xe2\x80\x94"},
};

/* Decodes character references in HTML text in place ("&lt;", "&#39;", "&#x2F;", the
 * names above), so "&lt;http://x/&gt;" is a URL between brackets and "&amp;" in one is
 * "&". A reference never decodes to more bytes than it takes, so the text only
 * shrinks; a numeric one that names no character is U+FFFD. Returns the new length. */
static size_t decode_entities(char *t, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const char *semi = t[i] == '&' ? memchr(t + i, ';', n - i < 12 ? n - i : 12) : NULL;
		if (!semi) {
			t[o++] = t[i++];
			continue;
		}
		const char *ref = t + i + 1;
		size_t len = (size_t)(semi - ref), k = 0;
		bool hit = false;
		char out[8];
		if (len >= 2 && ref[0] == '#') {
			bool hex = ref[1] == 'x' || ref[1] == 'X';
			size_t d = hex ? 2 : 1;
			unsigned long cp = 0;
			for (; d < len && (hex ? isxdigit((unsigned char)ref[d])
					       : isdigit((unsigned char)ref[d]));
			     d++)
				cp = cp * (hex ? 16 : 10) +
				     (unsigned long)g_ascii_xdigit_value(ref[d]);
			if (d == len && d > (hex ? 2u : 1u)) {
				if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
					cp = 0xfffd;
				k = (size_t)g_unichar_to_utf8((gunichar)cp, out);
				hit = true;
			}
		} else {
			for (size_t e = 0; e < VG_ARRAY_LEN(entities) && !hit; e++)
				if (strlen(entities[e].name) == len &&
				    !memcmp(ref, entities[e].name, len)) {
					k = (size_t)snprintf(out, sizeof(out), "%s",
							     entities[e].utf8);
					hit = true;
				}
		}
		if (!hit) {
			t[o++] = t[i++];
			continue;
		}
		memcpy(t + o, out, k);
		o += k;
		i += len + 2;
	}
	return o;
}

/* Adds every http(s) URL in text[0..n). */
static void scan_text(struct scan *sc, const char *text, size_t n)
{
	for (size_t i = 0; i + 7 < n && sc->candidates < MAX_URL_CANDIDATES; i++) {
		if (text[i] != 'h' && text[i] != 'H')
			continue;
		size_t skip = !strncasecmp(text + i, "http://", 7)				 ? 7
			      : (n - i > 8 && !strncasecmp(text + i, "https://", 8)) ? 8
										 : 0;
		if (!skip)
			continue;
		size_t end, len = url_span(text, n, i, skip, &end);
		sc->candidates++;
		/* A URL over VG_URL_MAX is skipped whole, like any unusable one: cut at the
		 * bound it would be another URL, which nobody reported. An invalid or surplus
		 * URL in prose is skipped too, not an error. */
		if (len <= VG_URL_MAX) {
			int rc = vg__report_add_url(sc->r, text + i, len, NULL);
			(void)rc;
		}
		i = end - 1;
	}
}

/* The decoded bytes of a leaf part (transfer encoding undone), NUL-terminated. */
static char *part_bytes(GMimePart *part, size_t *ret_len)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *s = g_mime_stream_mem_new();
	if (w)
		g_mime_data_wrapper_write_to_stream(w, s);
	GByteArray *arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(s));
	char *out = vg__report_strndup((const char *)arr->data, arr->len);
	*ret_len = arr->len;
	g_object_unref(s);
	return out;
}

struct walk {
	int parts;
	size_t decoded; /* bytes of encoded enclosed messages parsed again, at most
			 * VG_REPORT_MAIL_MAX_BYTES in all */
};

/* An enclosed message GMime left a leaf: message/rfc822 (or message/global) sent base64
 * or quoted-printable, which GMime does not decode into a message of its own. */
static bool encoded_message(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	return GMIME_IS_PART(obj) && !GMIME_IS_TEXT_PART(obj) && ct &&
	       (g_mime_content_type_is_type(ct, "message", "rfc822") ||
		g_mime_content_type_is_type(ct, "message", "global"));
}

/* Scans every text/plain and text/html part under obj, into enclosed messages too. */
static void scan_object(struct scan *sc, struct walk *w, GMimeObject *obj, int depth)
{
	if (!obj || depth > MAX_DEPTH || ++w->parts > MAX_PARTS)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++)
			scan_object(sc, w, g_mime_multipart_get_part(mp, i), depth + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (msg)
			scan_object(sc, w, g_mime_message_get_mime_part(msg), depth + 1);
	} else if (encoded_message(obj)) {
		/* Decoded, it is a message like any other, read within the same depth and
		 * part limits. Parsed again, its bytes count against one more message's
		 * worth in all, so nesting cannot multiply the work; one past that, or one
		 * the prescan would refuse, is skipped (the rest of the mail still counts). */
		size_t len;
		char *bytes = part_bytes(GMIME_PART(obj), &len);
		bool fits = bytes && len && len <= VG_REPORT_MAIL_MAX_BYTES - w->decoded;
		GMimeMessage *msg =
			fits && !prescan(bytes, len, NULL) ? construct(bytes, len) : NULL;
		if (msg)
			w->decoded += len;
		free(bytes);
		if (msg) {
			scan_object(sc, w, g_mime_message_get_mime_part(msg), depth + 1);
			g_object_unref(msg);
		}
	} else if (GMIME_IS_TEXT_PART(obj)) {
		GMimeContentType *ct = g_mime_object_get_content_type(obj);
		bool html = g_mime_content_type_is_type(ct, "text", "html");
		if (!html && !g_mime_content_type_is_type(ct, "text", "plain"))
			return;
		char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(obj));
		if (text) {
			size_t n = strlen(text);
			scan_text(sc, text, html ? decode_entities(text, n) : n);
		}
		g_free(text);
	}
}

/* ---- ARF --------------------------------------------------------------------------- */

static bool is_arf(GMimeObject *top)
{
	GMimeContentType *ct = g_mime_object_get_content_type(top);
	const char *rt = ct ? g_mime_content_type_get_parameter(ct, "report-type") : NULL;
	return GMIME_IS_MULTIPART(top) && g_mime_content_type_is_type(ct, "multipart", "report") && rt &&
	       !strcasecmp(rt, "feedback-report");
}

/* The fields of the machine-readable part, as "Name: value" lines (RFC 5965 section 3.1,
 * the syntax of header fields). GMime may give the part as a leaf or as an enclosed
 * message whose header is the fields. */
static char *feedback_fields(GMimeObject *obj, size_t *ret_len)
{
	if (GMIME_IS_PART(obj))
		return part_bytes(GMIME_PART(obj), ret_len);
	if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (!msg)
			return NULL;
		GMimeHeaderList *h = g_mime_object_get_header_list(GMIME_OBJECT(msg));
		char *s = g_mime_header_list_to_string(h, NULL);
		char *out = s ? vg__report_strndup(s, strlen(s)) : NULL;
		*ret_len = out ? strlen(out) : 0;
		g_free(s);
		return out;
	}
	return NULL;
}

/* Calls fn for each field of a header-style block, unfolding continuation lines. */
static void each_field(char *text, void (*fn)(const char *name, char *value, void *ctx), void *ctx)
{
	/* Unfold in place: CRLF or LF followed by white space joins the lines. */
	char *o = text;
	for (char *p = text; *p; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n' && (p[1] == ' ' || p[1] == '\t'))
			*o++ = ' ';
		else
			*o++ = *p;
	}
	*o = '\0';
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vn = strlen(v);
		while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
			v[--vn] = '\0';
		fn(line, v, ctx);
	}
}

struct arf {
	vg_report *r;
	char *feedback_type;
	bool has_type;
};

static void set_ip(vg_report *r, const char *v)
{
	unsigned char addr[16];
	if (strlen(v) < sizeof(r->source_ip) &&
	    (inet_pton(AF_INET, v, addr) == 1 || inet_pton(AF_INET6, v, addr) == 1))
		strcpy(r->source_ip, v);
}

static vg_usec decode_date(const char *v)
{
	GDateTime *dt = g_mime_utils_header_decode_date(v);
	if (!dt)
		dt = g_date_time_new_from_iso8601(v, NULL);
	if (!dt)
		return 0;
	vg_usec t = (vg_usec)g_date_time_to_unix(dt) * 1000000;
	g_date_time_unref(dt);
	return t > 0 ? t : 0;
}

static void arf_field(const char *name, char *v, void *ctx)
{
	struct arf *a = ctx;
	if (!strcasecmp(name, "Feedback-Type") && !a->has_type) {
		a->has_type = true;
		a->feedback_type = bounded_copy(v, 64);
		lower(a->feedback_type);
	} else if (!strcasecmp(name, "Reported-URI")) {
		/* May be bracketed (<http://...>) like other URIs in mail. */
		size_t n = strlen(v);
		if (n >= 2 && v[0] == '<' && v[n - 1] == '>')
			v++, n -= 2;
		if (n > 7 && (!strncasecmp(v, "http://", 7) || !strncasecmp(v, "https://", 8)))
			(void)vg__report_add_url(a->r, v, n, NULL);
	} else if (!strcasecmp(name, "Reported-Domain")) {
		char url[300];
		if (strlen(v) < 250 && snprintf(url, sizeof(url), "http://%s/", v) > 0)
			(void)vg__report_add_url(a->r, url, strlen(url), NULL);
	} else if (!strcasecmp(name, "Source-IP")) {
		set_ip(a->r, v);
	} else if (!strcasecmp(name, "Arrival-Date")) {
		a->r->incident_time = decode_date(v);
	}
}

static int arf_category(const char *type, vg_report_category *ret, vg_error *err)
{
	if (!strcmp(type, "abuse"))
		*ret = VG_REPORT_SPAM;
	else if (!strcmp(type, "fraud"))
		*ret = VG_REPORT_PHISHING;
	else if (!strcmp(type, "virus"))
		*ret = VG_REPORT_MALWARE;
	else if (!strcmp(type, "not-spam"))
		return vg_error_set(err, VG_EINVAL, "ARF feedback of type not-spam is not an abuse report");
	else
		*ret = VG_REPORT_OTHER; /* other, auth-failure, and types registered later */
	return 0;
}

static int read_arf(GMimeObject *top, vg_report *r, vg_report_mail *m, vg_error *err)
{
	GMimeMultipart *mp = GMIME_MULTIPART(top);
	GMimeObject *fb = NULL;
	int n = g_mime_multipart_get_count(mp);
	for (int i = 0; i < n && !fb; i++) {
		GMimeObject *p = g_mime_multipart_get_part(mp, i);
		if (g_mime_content_type_is_type(g_mime_object_get_content_type(p), "message",
						"feedback-report"))
			fb = p;
	}
	if (!fb)
		return vg_error_set(err, VG_EMALFORMED, "ARF message without a message/feedback-report part");
	size_t len = 0;
	char *fields = feedback_fields(fb, &len);
	if (!fields)
		return vg_error_set(err, VG_EMALFORMED, "unreadable message/feedback-report part");
	struct arf a = {.r = r};
	each_field(fields, arf_field, &a);
	free(fields);
	m->feedback_type = a.feedback_type;
	if (!a.has_type || !a.feedback_type || !a.feedback_type[0])
		return vg_error_set(err, VG_EMALFORMED, "ARF report without a Feedback-Type field");
	int rc = arf_category(a.feedback_type, &r->category, err);
	if (rc)
		return rc;
	if (r->n_urls == 0) {
		/* No URL named: the links in the reported message are what it is about. */
		struct scan sc = {.r = r};
		struct walk w = {0};
		for (int i = 0; i < n; i++) {
			GMimeObject *p = g_mime_multipart_get_part(mp, i);
			if (GMIME_IS_MESSAGE_PART(p) || encoded_message(p))
				scan_object(&sc, &w, p, 1);
		}
	}
	return 0;
}

/* ---- X-ARF ------------------------------------------------------------------------- */

/* Lower case, with '_' and ' ' as '-', so "Brand Infringement" is "brand-infringement". */
static void norm(const char *in, char *out, size_t size)
{
	size_t k = 0;
	for (; in && *in && k + 1 < size; in++)
		out[k++] = (*in == '_' || *in == ' ') ? '-' : (char)tolower((unsigned char)*in);
	out[k] = '\0';
}

static vg_report_category xarf_category(const char *category, const char *type)
{
	static const struct {
		const char *type;
		vg_report_category c;
	} types[] = {
		{"phishing", VG_REPORT_PHISHING},	 {"fraud", VG_REPORT_PHISHING},
		{"malware", VG_REPORT_MALWARE},		 {"malware-distribution", VG_REPORT_MALWARE},
		{"malware-hosting", VG_REPORT_MALWARE},	 {"virus", VG_REPORT_MALWARE},
		{"spam", VG_REPORT_SPAM},		 {"copyright", VG_REPORT_COPYRIGHT},
		{"trademark", VG_REPORT_TRADEMARK},	 {"brand-infringement", VG_REPORT_TRADEMARK},
		{"csam", VG_REPORT_CSAM},		 {"csem", VG_REPORT_CSAM},
		{"child-abuse", VG_REPORT_CSAM},	 {"ncii", VG_REPORT_NCII},
		{"terrorism", VG_REPORT_TERRORISM},	 {"terrorist-content", VG_REPORT_TERRORISM},
		{"violent-extremism", VG_REPORT_TERRORISM}, {"harassment", VG_REPORT_HARASSMENT},
	};
	char t[64], c[64];
	norm(type, t, sizeof(t));
	norm(category, c, sizeof(c));
	for (size_t i = 0; i < VG_ARRAY_LEN(types); i++)
		if (!strcmp(t, types[i].type))
			return types[i].c;
	if (!strcmp(c, "fraud"))
		return VG_REPORT_PHISHING;
	if (!strcmp(c, "messaging"))
		return VG_REPORT_SPAM;
	if (!strcmp(c, "copyright"))
		return VG_REPORT_COPYRIGHT;
	return VG_REPORT_OTHER;
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void xarf_url(vg_report *r, json_t *v)
{
	if (json_is_string(v)) {
		(void)vg__report_add_url(r, json_string_value(v), json_string_length(v), NULL);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *u;
		json_array_foreach(v, i, u) if (json_is_string(u))(void)vg__report_add_url(
			r, json_string_value(u), json_string_length(u), NULL);
	}
}

/* The JSON report part: the first leaf that is application/json, named *.json, or text
 * starting with '{', and parses to an object that names a category or class. */
static json_t *find_xarf_json(GMimeObject *obj, struct walk *w, int depth)
{
	if (!obj || depth > MAX_DEPTH || ++w->parts > MAX_PARTS)
		return NULL;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++) {
			json_t *j = find_xarf_json(g_mime_multipart_get_part(mp, i), w, depth + 1);
			if (j)
				return j;
		}
		return NULL;
	}
	if (!GMIME_IS_PART(obj))
		return NULL;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *fname = g_mime_part_get_filename(GMIME_PART(obj));
	size_t fl = fname ? strlen(fname) : 0;
	bool named = fl > 5 && !strcasecmp(fname + fl - 5, ".json");
	bool json_type = g_mime_content_type_is_type(ct, "application", "json");
	bool text = g_mime_content_type_is_type(ct, "text", "*");
	if (!named && !json_type && !text)
		return NULL;
	size_t len;
	char *bytes = part_bytes(GMIME_PART(obj), &len);
	json_t *j = NULL;
	if (bytes && len <= XARF_JSON_MAX) {
		const char *p = bytes;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '{' || named || json_type)
			j = json_loadb(bytes, len, 0, NULL);
	}
	free(bytes);
	if (j && (!json_is_object(j) ||
		  !(json_object_get(j, "Category") || json_object_get(j, "Report-Type") ||
		    json_is_object(json_object_get(j, "Report")) ||
		    json_object_get(j, "xarf_version") || json_object_get(j, "category")))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Version 4's source_identifier: an IP address, a domain or another name of the source.
 * Only an address or an http(s) URL is of use (a bare domain names no page). */
static void xarf4_source(vg_report *r, const char *v)
{
	if (!strncasecmp(v, "http://", 7) || !strncasecmp(v, "https://", 8))
		(void)vg__report_add_url(r, v, strlen(v), NULL);
	else
		set_ip(r, v);
}

static int read_xarf(GMimeObject *top, vg_report *r, vg_report_mail *m, vg_error *err)
{
	struct walk w = {0};
	json_t *root = find_xarf_json(top, &w, 0);
	if (!root)
		return vg_error_set(err, VG_EMALFORMED, "X-ARF message without a JSON report part");
	json_t *rep = json_object_get(root, "Report");
	/* Version 4 is flat with lower-case keys, version 3 nests under "Report", 0.2 is
	 * flat with capitalised ones. */
	bool v4 = json_object_get(root, "xarf_version") ||
		  (!json_is_object(rep) && jstr(root, "category"));
	json_t *o = json_is_object(rep) && !v4 ? rep : root;
	const char *category, *type;
	if (v4) {
		category = jstr(root, "category");
		type = jstr(root, "type");
	} else {
		category = jstr(o, "ReportClass") ? jstr(o, "ReportClass") : jstr(root, "Category");
		type = jstr(o, "ReportType") ? jstr(o, "ReportType") : jstr(root, "Report-Type");
	}
	if (!category && !type) {
		json_decref(root);
		return vg_error_set(err, VG_EMALFORMED, "X-ARF report without a category or type");
	}
	char ft[160];
	snprintf(ft, sizeof(ft), "%.60s/%.60s", category ? category : "", type ? type : "");
	m->feedback_type = bounded_copy(ft, sizeof(ft));
	lower(m->feedback_type);
	r->category = xarf_category(category, type);

	if (v4) {
		/* "url" for content, "infringing_url" for most copyright types. */
		xarf_url(r, json_object_get(root, "url"));
		xarf_url(r, json_object_get(root, "infringing_url"));
		if (jstr(root, "source_identifier"))
			xarf4_source(r, jstr(root, "source_identifier"));
		if (jstr(root, "timestamp"))
			r->incident_time = decode_date(jstr(root, "timestamp"));
		json_decref(root);
		return 0;
	}
	xarf_url(r, json_object_get(o, "Url"));
	xarf_url(r, json_object_get(o, "URL"));
	xarf_url(r, json_object_get(o, "SourceUrl"));
	const char *src = jstr(o, "Source");
	const char *stype = jstr(o, "Source-Type");
	if (src) {
		char st[32];
		norm(stype, st, sizeof(st));
		if (strstr(st, "ip"))
			set_ip(r, src);
		else
			(void)vg__report_add_url(r, src, strlen(src), NULL);
	}
	if (jstr(o, "SourceIp"))
		set_ip(r, jstr(o, "SourceIp"));
	if (jstr(o, "Date"))
		r->incident_time = decode_date(jstr(o, "Date"));
	json_decref(root);
	return 0;
}

/* ---- the message ------------------------------------------------------------------- */

/* One linear look at the raw bytes before GMime parses them. GMime's parser costs
 * O(lines x open boundaries): 2000 nested multiparts and 3M lines of "--" took 24 s of
 * CPU. Refused: more boundary declarations (boundary=, boundary*=, boundary*0=) than
 * MAX_PARTS, which the walk would never read past anyway, and more than
 * MAX_BOUNDARY_CHECKS comparisons. A "boundary=" in a body counts too: harmless, since
 * no real message holds hundreds of them. */
static int prescan(const char *data, size_t n, vg_error *err)
{
	const unsigned char *p = (const unsigned char *)data;
	size_t declared = 0, dash_lines = 0;
	for (size_t i = 0; i < n; i++) {
		if ((i == 0 || p[i - 1] == '\n') && n - i >= 2 && p[i] == '-' && p[i + 1] == '-')
			dash_lines++;
		if ((p[i] | 0x20) != 'b' || n - i < 9 || strncasecmp(data + i, "boundary", 8) != 0)
			continue;
		size_t k = i + 8;
		while (k < n && p[k] && strchr("*0123456789 \t\r\n", p[k]))
			k++;
		if (k < n && p[k] == '=' && ++declared > MAX_PARTS)
			return vg_error_set(err, VG_EMALFORMED, "more than %d multipart boundaries",
					    MAX_PARTS);
		i = k - 1;
	}
	if (declared * dash_lines > MAX_BOUNDARY_CHECKS)
		return vg_error_set(err, VG_EMALFORMED,
				    "too many boundary lines for %zu multipart boundaries",
				    declared);
	return 0;
}

/* The length of the header block: up to and with the first empty line. */
static size_t header_len(const char *data, size_t n)
{
	for (const char *p = data; (p = memchr(p, '\n', n - (size_t)(p - data))) != NULL;) {
		p++;
		if (p < data + n && *p == '\n')
			return (size_t)(p - data);
		if (data + n - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p - data);
	}
	return n;
}

static GMimeMessage *construct(const char *data, size_t len)
{
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(data, len);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	g_object_unref(stream);
	return msg;
}

/* The Message-ID without control characters. GMime decodes an RFC 2047 encoded word
 * inside it, so the sender chose every byte: CR, LF and ESC went verbatim into the audit
 * log's object id and `vigil audit list` (forged lines, terminal escapes). Kept: printable
 * ASCII (RFC 5322) and UTF-8 characters from U+00A0 on (RFC 6532), but not U+2028 and
 * U+2029 (line breaks too); anything else is dropped. NULL when nothing is left. */
static char *message_id_copy(const char *s)
{
	if (!s)
		return NULL;
	char *valid = g_utf8_make_valid(s, -1);
	size_t n = 0, len = strlen(valid);
	char *out = vg_xcalloc(1, len + 1);
	for (const char *p = valid; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		size_t w = (size_t)(g_utf8_next_char(p) - p);
		bool keep = (c > 0x20 && c < 0x7f) || (c >= 0xa0 && c != 0x2028 && c != 0x2029);
		if (n + w > HEADER_FIELD_MAX)
			break;
		if (keep) {
			memcpy(out + n, p, w);
			n += w;
		}
	}
	g_free(valid);
	if (n == 0) {
		free(out);
		return NULL;
	}
	return out;
}

static void read_metadata(GMimeMessage *msg, vg_report_mail *m)
{
	m->message_id = message_id_copy(g_mime_message_get_message_id(msg));
	m->subject = bounded_copy(g_mime_message_get_subject(msg), HEADER_FIELD_MAX);
	GDateTime *dt = g_mime_message_get_date(msg);
	if (dt) {
		gint64 t = g_date_time_to_unix(dt);
		m->date = t > 0 ? (vg_usec)t * 1000000 : 0;
	}
	InternetAddressList *from = g_mime_message_get_from(msg);
	for (int i = 0; from && i < internet_address_list_length(from); i++) {
		InternetAddress *ia = internet_address_list_get_address(from, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			/* An address over the bound is no address of ours: cut, it would be
			 * someone else's (POST /v1/reports refuses it alike). */
			const char *addr =
				internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
			if (addr && strlen(addr) <= VG_REPORT_EMAIL_MAX)
				m->from = bounded_copy(addr, VG_REPORT_EMAIL_MAX);
			break;
		}
	}
}

static void set_reporter(GMimeMessage *msg, vg_report_mail *m, vg_report *r)
{
	if (m->from && vg__report_email_valid(m->from, strlen(m->from)))
		r->reporter_email = vg__report_strndup(m->from, strlen(m->from));
	InternetAddressList *from = g_mime_message_get_from(msg);
	InternetAddress *ia = from && internet_address_list_length(from) > 0
				      ? internet_address_list_get_address(from, 0)
				      : NULL;
	const char *name = ia ? internet_address_get_name(ia) : NULL;
	if (name && name[0])
		r->reporter_name = bounded_copy(name, VG_REPORT_NAME_MAX);
}

int vg_report_mail_parse(const void *data, size_t len, vg_report_mail *m, vg_error *err)
{
	if (len == 0)
		return vg_error_set(err, VG_EMALFORMED, "empty message");
	pthread_once(&gmime_once, gmime_setup);

	vg_report *r = NULL;
	int rc = len > VG_REPORT_MAIL_MAX_BYTES
			 ? vg_error_set(err, VG_ETOOBIG, "a message holds at most %u bytes",
					VG_REPORT_MAIL_MAX_BYTES)
			 : prescan(data, len, err);
	if (rc) {
		/* The header alone (within the bound) is cheap to parse and names the
		 * Message-ID for the audit. */
		size_t within = len < VG_REPORT_MAIL_MAX_BYTES ? len : VG_REPORT_MAIL_MAX_BYTES;
		GMimeMessage *head = construct(data, header_len(data, within));
		if (head) {
			read_metadata(head, m);
			g_object_unref(head);
		}
		return rc;
	}
	GMimeMessage *msg = construct(data, len);
	if (!msg) {
		rc = vg_error_set(err, VG_EMALFORMED, "not an RFC 5322 message");
		goto out;
	}
	read_metadata(msg, m);
	GMimeHeaderList *headers = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	if (!headers || g_mime_header_list_get_count(headers) == 0) {
		rc = vg_error_set(err, VG_EMALFORMED, "no header fields before the body");
		goto out;
	}
	GMimeObject *top = g_mime_message_get_mime_part(msg);
	r = vg__report_new();
	if (g_mime_header_list_contains(headers, "X-XARF")) {
		m->kind = r->source = VG_REPORT_SOURCE_XARF;
		rc = read_xarf(top, r, m, err);
	} else if (top && is_arf(top)) {
		m->kind = r->source = VG_REPORT_SOURCE_ARF;
		rc = read_arf(top, r, m, err);
	} else {
		m->kind = r->source = VG_REPORT_SOURCE_MAIL;
		r->category = VG_REPORT_OTHER;
		struct scan sc = {.r = r};
		struct walk w = {0};
		scan_object(&sc, &w, top, 0);
	}
	if (rc)
		goto out;
	if (r->n_urls == 0) {
		rc = vg_error_set(err, VG_EINVAL, "no http or https URL in the message");
		goto out;
	}
	set_reporter(msg, m, r);
	m->report = r;
	r = NULL;
out:
	vg_report_free(r);
	if (msg)
		g_object_unref(msg);
	return rc;
}
