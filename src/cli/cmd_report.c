/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil report ingest-mail [FILE|-]`: one raw RFC 5322 message (ARF, X-ARF or plain) into
 * the store as an abuse report, for a mail server's pipe (`| vigil report ingest-mail -`).
 * A thin front over vg_api_report_ingest_mail, the function behind POST
 * /v1/reports/email, so both doors store a report the same way: zones, cases within the
 * dedup window, routing into the outbox, evidence matched against the enabled banks.
 *
 * Invariants: at most VG_REPORT_MAIL_MAX_BYTES + 1 bytes are read, and a longer message is
 * refused by the intake like any other; a message that is no report (too big included)
 * is recorded in the audit log with its Message-ID and the reason (never its sender) and
 * exits 1; nothing here prints the reporter's address.
 * Blocks placed here reach a running `vigil serve`'s decision API within a few seconds
 * (it watches the store's block watermark); outbox items are delivered by its worker.
 *
 * Exit status: 0 stored (or stored already: the same Message-ID within the dedup window);
 * 1 refused (malformed, no report in it, too big); 75
 * (EX_TEMPFAIL, sysexits.h) when the database or the input failed in a way that may pass
 * (busy, locked, I/O, memory), so a mail server's pipe defers the message and tries again
 * rather than bouncing a report vigil never judged; 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "api/api.h"
#include "bank/bank.h"
#include "cli.h"
#include "report/report.h"
#include "store/store.h"

#define AUDIT_ACTOR "cli"

/* The input, or its first max + 1 bytes when it is longer (a pipe has no size to check
 * first). The intake refuses an over-long message itself and records the refusal, with
 * the Message-ID its head gives, as it records any other: the head is all it needs. */
static int read_stream(FILE *in, size_t max, uint8_t **ret, size_t *ret_len, vg_error *err)
{
	size_t cap = 65536, n = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return vg_error_set(err, VG_ENOMEM, "out of memory");
	while (n <= max) {
		if (n == cap) {
			size_t want = cap * 2 > max + 1 ? max + 1 : cap * 2;
			uint8_t *nb = realloc(buf, want);
			if (!nb) {
				free(buf);
				return vg_error_set(err, VG_ENOMEM, "out of memory");
			}
			buf = nb;
			cap = want;
		}
		size_t got = fread(buf + n, 1, cap - n, in);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(in)) {
		free(buf);
		return vg_error_set(err, VG_EIO, "cannot read the message");
	}
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* The exit status for a failure with code: refused for what the message is (or names: a
 * FILE that is not there) is 1, anything that may pass on another try is EX_TEMPFAIL.
 * ECORRUPT is among the latter: the parser calls a bad message malformed, so only the
 * database can be corrupt, which the operator will mend. */
static int fail_status(int code)
{
	switch (code) {
	case VG_EBUSY:
	case VG_ERATE:
	case VG_EIO:
	case VG_ENOMEM:
	case VG_EINTERNAL:
	case VG_ECORRUPT: return EX_TEMPFAIL;
	default: return VG_EXIT_FAIL;
	}
}

/* The server's settings that shape an intake (dedup window, PDQ threshold, routing),
 * read from the same layers as `vigil serve`: defaults < --config file < VIGIL_*. */
static int server_settings(const char *config, vg_api_config *cfg, vg_error *err)
{
	int rc = vg_config_defaults(vg_api_options, vg_api_option_count, cfg, err);
	if (!rc && config)
		rc = vg_config_file(vg_api_options, vg_api_option_count, cfg, config, err);
	if (!rc)
		rc = vg_config_env(vg_api_options, vg_api_option_count, cfg, err);
	return rc;
}

static int ingest(const char *db, const char *config, const char *file, bool json)
{
	vg_api_config cfg;
	vg_report_policy routing;
	vg_error cerr;
	if (server_settings(config, &cfg, &cerr) != 0 ||
	    vg_api_routing_load(cfg.report_routing_file, &routing, &cerr) != 0) {
		fprintf(stderr, "vigil report ingest-mail: %s\n", cerr.msg);
		return VG_EXIT_USAGE;
	}
	const char *path;
	int status = vg_cli_db_path("report ingest-mail", db, config, &path);
	if (status)
		return status;

	uint8_t *data = NULL;
	size_t len = 0;
	vg_error err;
	bool is_stdin = strcmp(file, "-") == 0;
	int rc = is_stdin ? read_stream(stdin, VG_REPORT_MAIL_MAX_BYTES, &data, &len, &err)
			  : vg_file_read(file, VG_REPORT_MAIL_MAX_BYTES, &data, &len, &err);
	if (rc == VG_ETOOBIG && !is_stdin) {
		/* Its head, so that the refusal below is recorded like any other. */
		FILE *f = fopen(file, "rb");
		rc = f ? read_stream(f, VG_REPORT_MAIL_MAX_BYTES, &data, &len, &err)
		       : vg_error_set(&err, VG_EIO, "%s", strerror(errno));
		if (f)
			fclose(f);
	}
	if (rc) {
		fprintf(stderr, "vigil report ingest-mail: %s: %s\n", file, err.msg);
		return fail_status(rc);
	}
	/* From here on a failure to open what the intake needs (the database locked by
	 * another writer, a full disk, a missing volume) says nothing of the message. A
	 * database that is not there is one of those: made here, it would hold the report
	 * where no server looks, and the mail server would count the message delivered. */
	vg_store *s;
	if (vg_store_open_existing(path, &s, &err) != 0) {
		fprintf(stderr, "vigil report ingest-mail: %s: %s\n", path, err.msg);
		free(data);
		return EX_TEMPFAIL;
	}
	/* The enabled banks, as vigil serve matches evidence against them. */
	vg_bank_index *idx = NULL;
	vg_bank_index_opts io = {0};
	if (vg_bank_index_open(s, &io, &idx, &err) != 0) {
		fprintf(stderr, "vigil report ingest-mail: the bank index: %s\n", err.msg);
		vg_store_close(s);
		free(data);
		return EX_TEMPFAIL;
	}
	vg_api_report_ctx ctx = {
		.store = s,
		.index = idx,
		.threshold = (int)cfg.threshold,
		.dedup_window = cfg.report_dedup_window,
		.policy = &routing,
		.source = "email",
		.actor = AUDIT_ACTOR,
	};
	vg_api_report_result res;
	rc = vg_api_report_ingest_mail(&ctx, data, len, &res, &err);
	if (rc != 0) {
		if (json)
			printf("{\"error\":{\"code\":\"%s\"}}\n", vg_error_name(err.code));
		fprintf(stderr, "vigil report ingest-mail: %s: %s\n", file, err.msg);
		status = fail_status(rc);
	} else {
		if (json)
			printf("%s\n", res.json);
		else if (res.duplicate)
			printf("report %lld stored already (same Message-ID)\n", (long long)res.id);
		else
			printf("report %lld stored%s\n", (long long)res.id,
			       res.n_blocks ? "; evidence matched, its URLs blocked" : "");
		vg_api_report_result_done(&res);
	}
	vg_bank_index_free(idx);
	vg_store_close(s);
	free(data);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "vigil report ingest-mail: cannot write output\n");
		status = VG_EXIT_FAIL;
	}
	return status;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 'J'},
		{"config", required_argument, NULL, 'C'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *db = NULL, *config = getenv("VIGIL_CONFIG");
	bool json = false;
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'D': db = optarg; break;
		case 'J': json = true; break;
		case 'C': config = optarg; break;
		case 'h': fputs(vg_cmd_report.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("report", c, argv);
		}
	}
	if (optind >= argc)
		return vg_cli_usage_error("report", "no subcommand given");
	const char *sub = argv[optind];
	int nargs = argc - optind - 1;
	if (strcmp(sub, "ingest-mail") != 0)
		return vg_cli_usage_error("report", "unknown subcommand '%s'", sub);
	if (nargs > 1)
		return vg_cli_usage_error("report", "ingest-mail takes one FILE (or - for stdin)");
	return ingest(db, config, nargs ? argv[optind + 1] : "-", json);
}

const vg_cmd vg_cmd_report = {
	.name = "report",
	.summary = "take abuse reports from email",
	.help = "usage: vigil report ingest-mail [FILE|-] [OPTIONS]\n"
		"\n"
		"Stores one raw RFC 5322 message as an abuse report, as POST /v1/reports/email\n"
		"does: ARF (RFC 5965), X-ARF (version 4 of the xarf-spec, version 3, or the flat\n"
		"0.2 form) or a plain message whose http(s) URLs are taken. Each URL on a zone\n"
		"opens or joins a case; the routing policy queues the notifications in the\n"
		"outbox (a running vigil serve delivers them); evidence hashes are matched\n"
		"against the enabled banks. FILE - (the default) reads standard input, for a\n"
		"mail server's pipe. A message that is no report is refused and recorded in the\n"
		"audit log (report.mail_rejected) with its Message-ID and the reason. A message\n"
		"whose Message-ID a report received within the dedup window has already is\n"
		"that report: nothing is stored again (\"report N stored already\").\n"
		"\n"
		"options:\n"
		"  --db PATH       the database (default: $VIGIL_DB, else the config's db, else\n"
		"                  ./vigil.db); it must exist (vigil serve makes it): a\n"
		"                  missing one is a failure to try again (75)\n"
		"  --config FILE   vigil serve's configuration file (default: $VIGIL_CONFIG), so\n"
		"                  the dedup window, PDQ threshold and report_routing_file are\n"
		"                  the server's\n"
		"  --json          print the stored report as POST /v1/reports/email answers it\n"
		"\n"
		"Exit status: 0 stored (or stored already), 1 refused, 75 (EX_TEMPFAIL: the "
		"database or the input\n"
		"failed, try again later; a mail server defers the message), 2 usage.\n",
	.run = run,
};
