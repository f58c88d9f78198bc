/* SPDX-License-Identifier: Apache-2.0
 *
 * Helpers every command shares: usage errors, strict number parsing, JSON lines, and
 * opening and closing the store with the same messages in every command.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "cli.h"
#include "store/store.h"

int vg_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vigil %s: %s (see `vigil help %s`)\n", cmd, msg, cmd);
	return VG_EXIT_USAGE;
}

bool vg_cli_parse_int(const char *s, long long min, long long max, long long *ret)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

int vg_cli_option_error(const char *cmd, int c, char *const *argv)
{
	if (c == ':')
		return vg_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
	return vg_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
}

void vg_cli_print_json(json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	if (text)
		puts(text);
	free(text);
	json_decref(obj);
}

int vg_cli_db_path(const char *what, const char *flag, const char *config, const char **ret)
{
	const char *env = getenv("VIGIL_DB");
	if (!config || !*config)
		config = getenv("VIGIL_CONFIG");
	if ((flag && *flag) || (env && *env) || !config || !*config) {
		*ret = vg_store_resolve_path(flag);
		return 0;
	}
	/* The file's db as vigil serve reads it (the file over the defaults; the environment's
	 * VIGIL_DB, the one layer above it that names a database, was taken above). One
	 * command runs per process, so the result can live here. */
	static vg_api_config cfg;
	vg_error err;
	if (vg_config_defaults(vg_api_options, vg_api_option_count, &cfg, &err) != 0 ||
	    vg_config_file(vg_api_options, vg_api_option_count, &cfg, config, &err) != 0) {
		fprintf(stderr, "vigil %s: %s\n", what, err.msg);
		return VG_EXIT_USAGE;
	}
	*ret = cfg.db[0] ? cfg.db : vg_store_resolve_path(NULL);
	return 0;
}

int vg_cli_store_open(const char *cmd, const char *sub, const char *db, bool create,
		      vg_store **ret)
{
	vg_error err;
	char what[64];
	snprintf(what, sizeof(what), "%s %s", cmd, sub);
	const char *path;
	int status = vg_cli_db_path(what, db, NULL, &path);
	if (status)
		return status;
	int rc = create ? vg_store_open(path, ret, &err) : vg_store_open_existing(path, ret, &err);
	if (rc != 0) {
		fprintf(stderr, "vigil %s %s: %s: %s\n", cmd, sub, path, err.msg);
		return VG_EXIT_FAIL;
	}
	return 0;
}

int vg_cli_store_done(const char *cmd, const char *sub, vg_store *s, int status)
{
	vg_store_close(s);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vigil %s %s: cannot write output\n", cmd, sub);
		status = VG_EXIT_FAIL;
	}
	return status;
}
