/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil replay`: runs an NDJSON file of events (or standard input) through a rules
 * folder on N worker threads and prints what the rules decided: events, verdicts by
 * action, errors and events per second. --verdicts writes every verdict as an NDJSON line
 * {"rule", "action", "reason", "event"}. A bad line is reported on stderr with its line
 * number (the first 20; then only counted) and never stops the replay.
 *
 * The input may be gzip-compressed (told by its first bytes, so standard input too): event
 * logs are kept that way, and replaying one should not need room for it unpacked. A
 * UTF-8 byte order mark at its start is not part of line 1.
 *
 * Memory stays bounded whatever the input's size: input is read in fixed chunks, and a
 * line longer than --max-event-bytes is skipped to its end without being held.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "cli.h"
#include "rules/rules.h"

#define CHUNK ((size_t)1 << 20)
/* zlib's buffer: plain input larger than twice this is read straight into ours. */
#define GZ_BUFFER (128u << 10)
#define ERRORS_SHOWN 20

typedef struct replay {
	FILE *verdicts;
	pthread_mutex_t mu;
	uint64_t errors_shown;
} replay;

static void on_verdict(const vg_verdict *v, void *ctx)
{
	replay *r = ctx;
	if (!r->verdicts)
		return;
	char rule[VG_RULES_NAME_MAX * 6 + 3], reason[VG_RULES_REASON_MAX * 6 + 3];
	vg_json_quote(v->rule, strlen(v->rule), rule, sizeof(rule));
	vg_json_quote(v->reason, strlen(v->reason), reason, sizeof(reason));
	pthread_mutex_lock(&r->mu);
	/* The event decoded as one JSON object, so its text goes in as it is. */
	fprintf(r->verdicts, "{\"rule\":%s,\"action\":\"%s\",\"reason\":%s,%s\"line\":%llu,\"event\":",
		rule, vg_action_name(v->action), reason, v->shadow ? "\"shadow\":true," : "",
		(unsigned long long)v->seq);
	fwrite(v->event, 1, v->event_len, r->verdicts);
	fputs("}\n", r->verdicts);
	pthread_mutex_unlock(&r->mu);
}

static void on_error(uint64_t seq, const char *reason, void *ctx)
{
	replay *r = ctx;
	pthread_mutex_lock(&r->mu);
	if (r->errors_shown++ < ERRORS_SHOWN)
		fprintf(stderr, "vigil replay: line %llu: %s\n", (unsigned long long)seq, reason);
	pthread_mutex_unlock(&r->mu);
}

/* The input, plain or gzip (gzread reads what has no gzip header as it is); NULL with
 * errno set when it cannot be opened. */
static gzFile open_input(const char *path)
{
	int fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	gzFile gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	gzbuffer(gz, GZ_BUFFER);
	return gz;
}

/* Feeds every line of in to the engine; returns the number of lines, or -1 with *ret_why
 * set when the input cannot be read to its end (the lines before are fed). */
static long long feed(vg_rules_engine *e, gzFile in, size_t max_line, const char **ret_why)
{
	char *buf = vg_xmalloc(CHUNK + max_line + 1);
	size_t have = 0;
	long long lineno = 0;
	bool skipping = false; /* inside a line that is over max_line */
	size_t skipped = 0;
	for (;;) {
		int got = gzread(in, buf + have, (unsigned)(CHUNK + max_line - have));
		int zerr = Z_OK;
		const char *why = got <= 0 ? gzerror(in, &zerr) : NULL;
		if (got < 0 || zerr == Z_BUF_ERROR) {
			/* Z_BUF_ERROR at the end: the input stops inside a gzip stream. zlib's
			 * messages start "<fd:N>: ", which says nothing here. */
			const char *colon = strstr(why, ": ");
			if (zerr == Z_BUF_ERROR)
				*ret_why = "the gzip data ends early";
			else if (zerr == Z_ERRNO)
				*ret_why = strerror(errno);
			else
				*ret_why = colon ? colon + 2 : why;
			free(buf);
			return -1;
		}
		have += (size_t)got;
		bool eof = got == 0;
		char *p = buf, *end = buf + have;
		for (;;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			if (!nl && !(eof && p < end))
				break;
			char *le = nl ? nl : end;
			size_t len = (size_t)(le - p);
			if (lineno == 0 && !skipping) {
				size_t bom = vg_utf8_bom(p, len);
				p += bom, len -= bom;
			}
			if (skipping) {
				/* The tail of an over-long line: report its whole length. */
				lineno++;
				vg_rules_engine_push(e, p, skipped + len, (uint64_t)lineno);
				skipping = false;
			} else {
				lineno++;
				if (len && p[len - 1] == '\r')
					len--;
				bool blank = true;
				for (size_t i = 0; i < len && blank; i++)
					blank = p[i] == ' ' || p[i] == '\t';
				if (!blank)
					vg_rules_engine_push(e, p, len, (uint64_t)lineno);
			}
			p = nl ? nl + 1 : end;
		}
		size_t rest = (size_t)(end - p);
		if (eof) {
			if (skipping) /* an over-long last line without a newline */
				vg_rules_engine_push(e, buf, skipped, (uint64_t)++lineno);
			break;
		}
		if (rest > max_line) {
			/* Too long to be an event: drop what we have of it and keep counting. */
			skipped += rest;
			skipping = true;
			have = 0;
			continue;
		}
		memmove(buf, p, rest);
		have = rest;
	}
	free(buf);
	return lineno;
}

static int run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"rules", required_argument, NULL, 'r'},
		{"workers", required_argument, NULL, 'w'},
		{"verdicts", required_argument, NULL, 'v'},
		{"json", no_argument, NULL, 'J'},
		{"db", required_argument, NULL, 'd'},
		{"partition-key", required_argument, NULL, 'p'},
		{"max-event-bytes", required_argument, NULL, 'm'},
		{"budget-ms", required_argument, NULL, 'b'},
		{"pdq-threshold", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *rules_dir = NULL, *verdicts_path = NULL, *db = NULL;
	bool json = false;
	long long workers = vg_cpu_count(), v, threshold = 31;
	vg_rules_opts opts = {0};
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': rules_dir = optarg; break;
		case 'w':
			if (!vg_cli_parse_int(optarg, 1, 64, &workers))
				return vg_cli_usage_error("replay", "--workers takes a number from 1 to 64");
			break;
		case 'v': verdicts_path = optarg; break;
		case 'J': json = true; break;
		case 'd': db = optarg; break;
		case 'p': opts.partition_key = optarg; break;
		case 'm':
			if (!vg_cli_parse_int(optarg, 16, 256 << 10, &v))
				return vg_cli_usage_error("replay", "--max-event-bytes takes 16 to 262144");
			opts.max_event_bytes = (size_t)v;
			break;
		case 'b':
			if (!vg_cli_parse_int(optarg, 1, 60000, &v))
				return vg_cli_usage_error("replay", "--budget-ms takes 1 to 60000");
			opts.budget_ms = (uint64_t)v;
			break;
		case 't':
			if (!vg_cli_parse_int(optarg, 0, 256, &threshold))
				return vg_cli_usage_error("replay", "--pdq-threshold takes 0 to 256");
			break;
		case 'h': fputs(vg_cmd_replay.help, stdout); return VG_EXIT_OK;
		default: return vg_cli_option_error("replay", c, argv);
		}
	}
	if (!rules_dir)
		return vg_cli_usage_error("replay", "--rules DIR is required");
	if (optind != argc - 1)
		return vg_cli_usage_error("replay", "give one FILE, or - for standard input");
	const char *input = argv[optind];
	opts.workers = (int)workers;
	if (!opts.max_event_bytes)
		opts.max_event_bytes = VG_RULES_EVENT_MAX;

	int status = VG_EXIT_FAIL;
	vg_error err;
	vg_ruleset *rs = NULL;
	vg_rules_banks *banks = NULL;
	vg_rules_engine *eng = NULL;
	replay r = {0};
	pthread_mutex_init(&r.mu, NULL);
	gzFile in = NULL;
	if (vg_ruleset_load_dir(rules_dir, &rs, &err) != 0) {
		fprintf(stderr, "vigil replay: %s\n", err.msg);
		goto out;
	}
	if (db) {
		vg_store *s;
		if (vg_store_open(db, &s, &err) != 0) {
			fprintf(stderr, "vigil replay: %s: %s\n", db, err.msg);
			goto out;
		}
		int rc = vg_rules_banks_open(s, (int)threshold, &banks, &err);
		vg_store_close(s);
		if (rc) {
			fprintf(stderr, "vigil replay: %s\n", err.msg);
			goto out;
		}
		opts.banks = banks;
		opts.store_path = db;
	}
	in = open_input(input);
	if (!in) {
		fprintf(stderr, "vigil replay: cannot open %s: %s\n", input, strerror(errno));
		goto out;
	}
	if (verdicts_path) {
		r.verdicts = strcmp(verdicts_path, "-") == 0 ? stdout : fopen(verdicts_path, "w");
		if (!r.verdicts) {
			fprintf(stderr, "vigil replay: cannot write %s\n", verdicts_path);
			goto out;
		}
	}
	opts.on_verdict = on_verdict;
	opts.ctx = &r;
	if (vg_rules_engine_new(rs, &opts, &eng, &err) != 0) {
		fprintf(stderr, "vigil replay: %s\n", err.msg);
		goto out;
	}
	vg_rules_engine_set_error_fn(eng, on_error, &r);
	vg_usec t0 = vg_time_mono();
	const char *why = NULL;
	long long lines = feed(eng, in, opts.max_event_bytes, &why);
	vg_rules_stats st;
	int drc = vg_rules_engine_drain(eng, &st, &err);
	double secs = (double)(vg_time_mono() - t0) / 1e6;
	/* Input that stops early was replayed up to there: the summary still comes, for what
	 * was read, and the exit status says the rest was not. */
	if (lines < 0)
		fprintf(stderr, "vigil replay: cannot read %s: %s; the summary covers the lines "
				"before\n", input, why);
	if (drc) {
		fprintf(stderr, "vigil replay: labels: %s\n", err.msg);
		goto out;
	}
	if (r.errors_shown > ERRORS_SHOWN)
		fprintf(stderr, "vigil replay: %llu more bad lines not shown\n",
			(unsigned long long)(r.errors_shown - ERRORS_SHOWN));
	uint64_t errors = st.bad_events + st.rule_errors + st.budget_stops;
	double eps = secs > 0 ? (double)st.events / secs : 0;
	FILE *out = r.verdicts == stdout ? stderr : stdout;
	if (json) {
		fprintf(out, "{\"events\":%llu,\"verdicts\":{", (unsigned long long)st.events);
		for (int a = 0; a < VG_ACTION_COUNT; a++)
			fprintf(out, "%s\"%s\":%llu", a ? "," : "", vg_action_name(a),
				(unsigned long long)st.verdicts[a]);
		fprintf(out, "},\"shadow_verdicts\":{");
		for (int a = 0; a < VG_ACTION_COUNT; a++)
			fprintf(out, "%s\"%s\":%llu", a ? "," : "", vg_action_name(a),
				(unsigned long long)st.shadow_verdicts[a]);
		fprintf(out, "},\"errors\":%llu,\"bad_events\":%llu,\"rule_errors\":%llu,"
			     "\"budget_stops\":%llu,\"events_per_second\":%.0f,\"seconds\":%.3f,"
			     "\"workers\":%d}\n",
			(unsigned long long)errors, (unsigned long long)st.bad_events,
			(unsigned long long)st.rule_errors, (unsigned long long)st.budget_stops, eps,
			secs, opts.workers);
	} else {
		fprintf(out, "events      %llu\nverdicts   ", (unsigned long long)st.events);
		for (int a = 0; a < VG_ACTION_COUNT; a++)
			fprintf(out, " %s %llu", vg_action_name(a), (unsigned long long)st.verdicts[a]);
		fprintf(out, "\nshadow     ");
		for (int a = 0; a < VG_ACTION_COUNT; a++)
			fprintf(out, " %s %llu", vg_action_name(a),
				(unsigned long long)st.shadow_verdicts[a]);
		fprintf(out, "\nerrors      %llu (bad lines %llu, rule errors %llu, budget stops %llu)\n"
			     "events/s    %.0f (%d workers, %.3f s)\n",
			(unsigned long long)errors, (unsigned long long)st.bad_events,
			(unsigned long long)st.rule_errors, (unsigned long long)st.budget_stops, eps,
			opts.workers, secs);
	}
	status = lines < 0 ? VG_EXIT_FAIL : VG_EXIT_OK;
out:
	vg_rules_engine_free(eng);
	if (r.verdicts && r.verdicts != stdout && fclose(r.verdicts) != 0 && status == VG_EXIT_OK) {
		fprintf(stderr, "vigil replay: cannot write %s\n", verdicts_path);
		status = VG_EXIT_FAIL;
	}
	if (in)
		gzclose_r(in);
	vg_rules_banks_free(banks);
	vg_ruleset_free(rs);
	pthread_mutex_destroy(&r.mu);
	return status;
}

const vg_cmd vg_cmd_replay = {
	.name = "replay",
	.summary = "run NDJSON events through a rules folder",
	.help =
		"usage: vigil replay --rules DIR [OPTIONS] FILE|-\n"
		"\n"
		"Runs every event (one JSON object per line, with a string \"type\") through the\n"
		"rules in DIR (every *.lua file) and prints events, verdicts by action, errors\n"
		"and events per second. A bad line is reported with its number and skipped.\n"
		"FILE may be gzip-compressed, standard input too.\n"
		"An event's \"ts\" is its time for count(), distinct() and labels: a number of\n"
		"seconds, milliseconds, microseconds or nanoseconds since the epoch (told by\n"
		"its size), or an RFC 3339 string. An event without one (or with one over 5\n"
		"minutes ahead of the clock) takes the latest time of the events before it,\n"
		"or the wall clock until an event has one.\n"
		"A label set on one worker is seen by the others from their next event on.\n"
		"\n"
		"options:\n"
		"  --rules DIR           the rules folder (required)\n"
		"  --workers N           worker threads, 1..64 (default: all cores)\n"
		"  --partition-key KEY   the field that picks an event's worker, a name or a\n"
		"                        dotted path (user.id); events without it, and by\n"
		"                        default: ip, else user or user.id, else round robin\n"
		"  --verdicts FILE       write each verdict as an NDJSON line {\"rule\", \"action\",\n"
		"                        \"reason\", \"line\", \"event\"} (- for standard output)\n"
		"  --json                the summary as one JSON object: events, verdicts,\n"
		"                        shadow_verdicts, errors, events_per_second, ...\n"
		"  --db PATH             banks for match() and label persistence (labels set by\n"
		"                        rules are stored there and read back at the next start)\n"
		"  --pdq-threshold N     PDQ distance that counts as a match (default 31)\n"
		"  --max-event-bytes N   longest event line (default 65536)\n"
		"  --budget-ms N         CPU milliseconds for the rules of one event (default 50)\n"
		"\n"
		"Exit status: 0 replayed (bad lines are counted, not fatal), 1 the rules, the\n"
		"input, the database or the output failed (input that breaks off, such as\n"
		"truncated gzip, is replayed up to there and summarised; output that cannot be\n"
		"written, such as a full disk, is named on stderr), 2 usage.\n",
	.run = run,
};
