/* SPDX-License-Identifier: Apache-2.0
 *
 * Configuration from one option table (util.h, vg_opt): defaults, then a file of
 * `name = value` lines, then VIGIL_<NAME> environment variables, then --name flags, each
 * layer overriding the one before. Every value is checked against its type and bounds
 * whichever layer it came from, so a bad environment variable fails as loudly as a bad
 * flag. The same table prints the effective configuration and the reference docs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define FIELD(cfg, o) ((char *)(cfg) + (o)->offset)

static const char *type_name(vg_opt_type t)
{
	switch (t) {
	case VG_OPT_STRING: return "string";
	case VG_OPT_INT: return "integer";
	case VG_OPT_BOOL: return "boolean";
	case VG_OPT_BYTES: return "bytes";
	case VG_OPT_DURATION: return "duration";
	}
	return "?";
}

/* "20MB", "1MiB", "512k", "100": bytes. */
static bool parse_bytes(const char *s, int64_t *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return false;
	while (*end == ' ')
		end++;
	double mult = 1;
	if (!*end || !strcasecmp(end, "b"))
		mult = 1;
	else if (!strcasecmp(end, "k") || !strcasecmp(end, "kb") || !strcasecmp(end, "kib"))
		mult = 1024;
	else if (!strcasecmp(end, "m") || !strcasecmp(end, "mb") || !strcasecmp(end, "mib"))
		mult = 1024.0 * 1024;
	else if (!strcasecmp(end, "g") || !strcasecmp(end, "gb") || !strcasecmp(end, "gib"))
		mult = 1024.0 * 1024 * 1024;
	else
		return false;
	if (v * mult > 9e18)
		return false;
	*ret = (int64_t)(v * mult);
	return true;
}

/* "250ms", "30s", "5m", "24h", "180d": microseconds. A bare number is seconds. */
static bool parse_duration(const char *s, int64_t *ret)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return false;
	double mult;
	if (!*end || !strcmp(end, "s"))
		mult = 1e6;
	else if (!strcmp(end, "ms"))
		mult = 1e3;
	else if (!strcmp(end, "us"))
		mult = 1;
	else if (!strcmp(end, "m"))
		mult = 60e6;
	else if (!strcmp(end, "h"))
		mult = 3600e6;
	else if (!strcmp(end, "d"))
		mult = 86400e6;
	else
		return false;
	if (v * mult > 9e18)
		return false;
	*ret = (int64_t)(v * mult);
	return true;
}

static int set_value(const vg_opt *o, void *cfg, const char *value, const char *origin,
		     vg_error *err)
{
	int64_t v = 0;
	switch (o->type) {
	case VG_OPT_STRING:
		if (strlen(value) >= VG_OPT_STRING_MAX)
			return vg_error_set(err, VG_EINVAL, "%s: %s is too long", origin, o->name);
		snprintf(FIELD(cfg, o), VG_OPT_STRING_MAX, "%s", value);
		return 0;
	case VG_OPT_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes") ||
		    !strcmp(value, "on"))
			*(bool *)FIELD(cfg, o) = true;
		else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no") ||
			 !strcmp(value, "off"))
			*(bool *)FIELD(cfg, o) = false;
		else
			return vg_error_set(err, VG_EINVAL, "%s: %s takes true or false, not '%s'",
					    origin, o->name, value);
		return 0;
	case VG_OPT_INT: {
		char *end;
		errno = 0;
		long long x = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return vg_error_set(err, VG_EINVAL, "%s: %s takes a whole number, not '%s'",
					    origin, o->name, value);
		v = x;
		break;
	}
	case VG_OPT_BYTES:
		if (!parse_bytes(value, &v))
			return vg_error_set(err, VG_EINVAL,
					    "%s: %s takes a size such as 20MB, not '%s'", origin,
					    o->name, value);
		break;
	case VG_OPT_DURATION:
		if (!parse_duration(value, &v))
			return vg_error_set(err, VG_EINVAL,
					    "%s: %s takes a duration such as 30s or 24h, not '%s'",
					    origin, o->name, value);
		break;
	}
	if (v < o->min || v > o->max)
		return vg_error_set(err, VG_EINVAL, "%s: %s = %s is outside %lld..%lld%s%s", origin,
				    o->name, value, (long long)o->min, (long long)o->max,
				    o->unit ? " " : "", o->unit ? o->unit : "");
	*(int64_t *)FIELD(cfg, o) = v;
	return 0;
}

static const vg_opt *find(const vg_opt *opts, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

int vg_config_defaults(const vg_opt *opts, size_t n, void *cfg, vg_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = set_value(&opts[i], cfg, opts[i].def, "default", err);
		if (rc)
			return rc;
	}
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int vg_config_text(const vg_opt *opts, size_t n, void *cfg, const char *text, size_t len,
		   const char *name, vg_error *err)
{
	char line[4096], origin[300];
	int lineno = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		snprintf(origin, sizeof(origin), "%.250s:%d", name, lineno);
		if (ll >= sizeof(line))
			return vg_error_set(err, VG_EINVAL, "%s: line too long", origin);
		if (memchr(text + pos, '\0', ll))
			return vg_error_set(err, VG_EINVAL, "%s: NUL byte", origin);
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + 1;

		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			return vg_error_set(err, VG_EINVAL, "%s: expected name = value", origin);
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t vl = strlen(val);
		if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
			val[vl - 1] = '\0';
			val++;
		}
		for (char *k = key; *k; k++)
			if (*k == '-')
				*k = '_';
		const vg_opt *o = find(opts, n, key, strlen(key));
		if (!o)
			return vg_error_set(err, VG_EINVAL, "%s: unknown option '%s'", origin, key);
		int rc = set_value(o, cfg, val, origin, err);
		if (rc)
			return rc;
	}
	return 0;
}

int vg_config_file(const vg_opt *opts, size_t n, void *cfg, const char *path, vg_error *err)
{
	uint8_t *data;
	size_t len;
	vg_error ferr;
	int rc = vg_file_read(path, 1 << 20, &data, &len, &ferr);
	if (rc)
		return vg_error_set(err, rc == VG_ENOENT ? VG_ENOENT : VG_EINVAL, "config file %s: %s",
				    path, ferr.msg);
	rc = vg_config_text(opts, n, cfg, (const char *)data, len, path, err);
	free(data);
	return rc;
}

int vg_config_env(const vg_opt *opts, size_t n, void *cfg, vg_error *err)
{
	for (size_t i = 0; i < n; i++) {
		char var[128] = "VIGIL_";
		size_t k = 6;
		for (const char *p = opts[i].name; *p && k + 1 < sizeof(var); p++)
			var[k++] = (char)toupper((unsigned char)*p);
		var[k] = '\0';
		const char *v = getenv(var);
		if (v) {
			int rc = set_value(&opts[i], cfg, v, var, err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int vg_config_flags(const vg_opt *opts, size_t n, void *cfg, int argc, char **argv, vg_error *err)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0)
			return vg_error_set(err, VG_EINVAL, "unexpected argument '%s'", a);
		a += 2;
		const char *eq = strchr(a, '=');
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		char name[128];
		if (len >= sizeof(name))
			return vg_error_set(err, VG_EINVAL, "unknown option '--%s'", a);
		for (size_t k = 0; k < len; k++)
			name[k] = a[k] == '-' ? '_' : a[k];
		name[len] = '\0';
		const vg_opt *o = find(opts, n, name, len);
		bool negated = false;
		if (!o && len > 3 && !strncmp(name, "no_", 3)) {
			o = find(opts, n, name + 3, len - 3);
			negated = o && o->type == VG_OPT_BOOL;
			if (!negated)
				o = NULL;
		}
		if (!o)
			return vg_error_set(err, VG_EINVAL, "unknown option '--%.*s'", (int)len, a);
		char origin[160];
		snprintf(origin, sizeof(origin), "--%s", o->name);
		const char *val;
		if (o->type == VG_OPT_BOOL && !eq)
			val = negated ? "false" : "true";
		else if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return vg_error_set(err, VG_EINVAL, "--%s needs a value", o->name);
		int rc = set_value(o, cfg, val, origin, err);
		if (rc)
			return rc;
	}
	return 0;
}

static void format_value(const vg_opt *o, const void *cfg, char *out, size_t size)
{
	const char *f = (const char *)cfg + o->offset;
	switch (o->type) {
	case VG_OPT_STRING: snprintf(out, size, "\"%s\"", f); break;
	case VG_OPT_BOOL: snprintf(out, size, "%s", *(const bool *)f ? "true" : "false"); break;
	case VG_OPT_INT: snprintf(out, size, "%lld", (long long)*(const int64_t *)f); break;
	case VG_OPT_BYTES: snprintf(out, size, "%lld", (long long)*(const int64_t *)f); break;
	case VG_OPT_DURATION: {
		int64_t us = *(const int64_t *)f;
		if (us % 1000000 == 0)
			snprintf(out, size, "%llds", (long long)(us / 1000000));
		else if (us % 1000 == 0)
			snprintf(out, size, "%lldms", (long long)(us / 1000));
		else /* never rounded: the output reads back as the value in use */
			snprintf(out, size, "%lldus", (long long)us);
		break;
	}
	}
}

void vg_config_print(const vg_opt *opts, size_t n, const void *cfg, FILE *out)
{
	for (size_t i = 0; i < n; i++) {
		if (opts[i].secret)
			continue;
		char v[VG_OPT_STRING_MAX + 8];
		format_value(&opts[i], cfg, v, sizeof(v));
		fprintf(out, "%s = %s\n", opts[i].name, v);
	}
}

void vg_config_markdown(const vg_opt *opts, size_t n, FILE *out)
{
	fprintf(out, "| option | type | default | bounds | reload | environment | meaning |\n"
		     "| --- | --- | --- | --- | --- | --- | --- |\n");
	for (size_t i = 0; i < n; i++) {
		const vg_opt *o = &opts[i];
		char env[128] = "VIGIL_";
		size_t k = 6;
		for (const char *p = o->name; *p && k + 1 < sizeof(env); p++)
			env[k++] = (char)toupper((unsigned char)*p);
		env[k] = '\0';
		char bounds[96] = "";
		if (o->type != VG_OPT_STRING && o->type != VG_OPT_BOOL)
			snprintf(bounds, sizeof(bounds), "%lld..%lld%s%s", (long long)o->min,
				 (long long)o->max, o->unit ? " " : "", o->unit ? o->unit : "");
		fprintf(out, "| `%s` | %s | `%s` | %s | %s | `%s` | %s |\n", o->name,
			type_name(o->type), o->def, bounds, o->reloadable ? "yes" : "no", env, o->help);
	}
}
