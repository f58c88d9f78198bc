/* SPDX-License-Identifier: Apache-2.0
 *
 * vigil's entry point: finds the subcommand and hands it argv. `vigil help [CMD]`,
 * `vigil version` and the usage errors live here; everything else is one file per
 * command. Every command's standard output is checked here once it returns: output a
 * command could not write is a failure, whichever command it was.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vg_config.h"

static int cmd_help(int argc, char **argv);

static const vg_cmd cmd_help_def = {
	.name = "help",
	.summary = "show help for vigil or one command",
	.help = "usage: vigil help [COMMAND]\n",
	.run = cmd_help,
};

static const vg_cmd *const commands[] = {
	&vg_cmd_bank,
	&vg_cmd_hash,
	&vg_cmd_match,
	&vg_cmd_serve,
	&vg_cmd_version,
	&vg_cmd_token,
	&vg_cmd_audit,
	&vg_cmd_replay,
	&vg_cmd_rules,
	&vg_cmd_report,
	&cmd_help_def,
};

static const vg_cmd *find(const char *name)
{
	for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void overview(FILE *f)
{
	fprintf(f, "vigil %s: a trust & safety engine\n\n"
		   "usage: vigil COMMAND [OPTIONS] [ARGS]\n\ncommands:\n",
		VG_VERSION);
	for (size_t i = 0; i < VG_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\n`vigil help COMMAND` shows a command's options.\n");
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		overview(stdout);
		return VG_EXIT_OK;
	}
	if (argc > 2)
		return vg_cli_usage_error("help", "help takes one command name");
	const vg_cmd *c = find(argv[1]);
	if (!c)
		return vg_cli_usage_error("help", "unknown command '%s'", argv[1]);
	fputs(c->help, stdout);
	return VG_EXIT_OK;
}

int main(int argc, char **argv)
{
	vg_tune_malloc();
	if (argc < 2) {
		overview(stderr);
		return VG_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
		name = "help";
	else if (strcmp(name, "--version") == 0)
		name = "version";
	const vg_cmd *c = find(name);
	if (!c) {
		fprintf(stderr, "vigil: unknown command '%s' (see `vigil help`)\n", argv[1]);
		return VG_EXIT_USAGE;
	}
	/* --help or -h anywhere before a "--" shows the command's help, whatever the command
	 * would make of it: `vigil rules check --help` read it as a folder. */
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(c->help, stdout);
			return fflush(stdout) == 0 ? VG_EXIT_OK : VG_EXIT_FAIL;
		}
	int rc = c->run(argc - 1, argv + 1);
	/* Results go through stdout's buffer, so a full disk or a closed descriptor shows
	 * only at this last flush, or in the error flag an earlier write left: either way
	 * the output the caller asked for is not all there, and exit 0 would say it is. */
	errno = 0;
	bool flushed = fflush(stdout) == 0;
	if (!flushed || ferror(stdout)) {
		fprintf(stderr, "vigil %s: cannot write standard output%s%s\n", c->name,
			!flushed && errno ? ": " : "", !flushed && errno ? strerror(errno) : "");
		if (rc == VG_EXIT_OK)
			rc = VG_EXIT_FAIL;
	}
	return rc;
}
