/* SPDX-License-Identifier: Apache-2.0
 *
 * The command-line front: main.c parses the command name and dispatches to one file per
 * subcommand. Each command prints for people by default and for programs with --json;
 * errors go to stderr. Exit status: 0 success, 1 a failure in the work (some file did
 * not hash), 2 a usage error.
 */
#ifndef VG_CLI_H
#define VG_CLI_H

#include "util/util.h"

#define VG_EXIT_OK 0
#define VG_EXIT_FAIL 1
#define VG_EXIT_USAGE 2

typedef struct vg_cmd {
	const char *name;
	const char *summary; /* one line for `vigil help` */
	const char *help;    /* full text for `vigil help NAME` */
	int (*run)(int argc, char **argv);
} vg_cmd;

extern const vg_cmd vg_cmd_bank, vg_cmd_hash, vg_cmd_match, vg_cmd_serve, vg_cmd_version;
extern const vg_cmd vg_cmd_token, vg_cmd_audit;
extern const vg_cmd vg_cmd_replay, vg_cmd_rules;
extern const vg_cmd vg_cmd_report;

/* Prints `vigil: <msg>` and a hint to stderr; returns VG_EXIT_USAGE. */
int vg_cli_usage_error(const char *cmd, const char *fmt, ...) VG_PRINTF(2, 3);

/* Parses a whole decimal number in [min, max]; false on anything else. */
bool vg_cli_parse_int(const char *s, long long min, long long max, long long *ret);

/* The usage error for what getopt_long returned when it was called with opterr 0 and an
 * option string starting with ':': ':' an option without its value, anything else an
 * unknown option (argv[optind - 1] names it). Returns VG_EXIT_USAGE. */
int vg_cli_option_error(const char *cmd, int c, char *const *argv);

/* Prints obj as one compact JSON line and releases it; NULL (a failed json_pack) prints
 * nothing. */
struct json_t;
void vg_cli_print_json(struct json_t *obj);

/* The database a command uses, as vigil serve would pick it: the --db flag, else
 * $VIGIL_DB, else the db of the configuration file (config, else $VIGIL_CONFIG), else
 * ./vigil.db. Without the file's layer, `vigil bank` and `vigil token` in a shell where
 * the server's config is exported made and filled a database the server never reads.
 * Returns 0 with *ret; or prints `vigil WHAT: why` (a config file that does not read)
 * and returns VG_EXIT_USAGE. */
int vg_cli_db_path(const char *what, const char *flag, const char *config, const char **ret);

/* Opens the store at vg_cli_db_path's database for `vigil CMD SUB`. Returns 0
 * with *ret; or prints `vigil CMD SUB: PATH: why` to stderr and returns VG_EXIT_FAIL.
 * Only a subcommand that makes something (bank create, token create) passes create: any
 * other fails on a missing database instead of making an empty one, where a mistyped
 * path would read as "nothing here" (audit verify: "ok: 0 entries"). */
struct vg_store;
int vg_cli_store_open(const char *cmd, const char *sub, const char *db, bool create,
		      struct vg_store **ret);

/* The end of `vigil CMD SUB` after vg_cli_store_open: closes s, then flushes stdout. A
 * failed write (a full disk, a closed pipe) prints `vigil CMD SUB: cannot write output`
 * and makes the status VG_EXIT_FAIL; otherwise returns status. */
int vg_cli_store_done(const char *cmd, const char *sub, struct vg_store *s, int status);

/* A growable list of owned strings. */
typedef struct vg_strv {
	char **items;
	size_t n, cap;
} vg_strv;
void vg_strv_free(vg_strv *v);

/* Appends the files named by args to out, walking folders recursively in name order.
 * Symbolic links to folders are not followed (no loops), and FIFOs, sockets and devices
 * inside folders are never opened. With every (hash, match: whatever an uploader put
 * there must be checked) hidden entries are walked too, and each entry left out is
 * reported on stderr and makes the return nonzero; without it (a rules folder, which
 * may hold .git) hidden entries and the rest are skipped silently. Returns nonzero
 * also when a folder could not be read (reported on stderr). */
int vg_cli_collect_files(char *const *args, int n, bool every, vg_strv *out);

#endif
