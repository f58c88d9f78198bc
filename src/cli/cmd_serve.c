/* SPDX-License-Identifier: Apache-2.0
 *
 * `vigil serve`: the scanning service. Reads the option table (defaults < --config file
 * < VIGIL_* environment < flags), opens the api, serves until SIGTERM or SIGINT, then
 * stops accepting, lets requests in flight finish, flushes and exits 0. On first start
 * (a database that has never held a token) it prints a new admin token once, on stdout. SIGHUP reads the same layers again and
 * applies the reloadable options (vg_api_reconfigure), then reloads the rules folder; a
 * configuration that no longer parses changes nothing and is logged.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "cli.h"
#include "http/http.h"

static volatile sig_atomic_t stop_signal, reload_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* The reload itself runs on the main thread, outside the handler (it allocates). */
static void on_hup(int sig)
{
	(void)sig;
	reload_signal = 1;
}

/* Finds --config before the other layers, since the file sits below them. */
static const char *config_path(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			return argv[i + 1];
		if (!strncmp(argv[i], "--config=", 9))
			return argv[i] + 9;
	}
	const char *env = getenv("VIGIL_CONFIG");
	return env && *env ? env : NULL;
}

/* log_level's value, or -1 for anything else: a typo or "WARN" must fail like any other
 * bad value, not quietly mean info (an operator turning on debug for an incident would
 * get nothing more, and no error saying why). */
static int parse_level(const char *s)
{
	static const struct {
		const char *name;
		vg_log_level level;
	} levels[] = {{"debug", VG_LOG_DEBUG},
		      {"info", VG_LOG_INFO},
		      {"warn", VG_LOG_WARN},
		      {"error", VG_LOG_ERROR}};
	for (size_t i = 0; i < VG_ARRAY_LEN(levels); i++)
		if (!strcmp(s, levels[i].name))
			return (int)levels[i].level;
	return -1;
}

static bool has_scheme(const char *url, const char *a, const char *b)
{
	return !strncmp(url, a, strlen(a)) || !strncmp(url, b, strlen(b));
}

/* What the table's types and bounds cannot say: words and URLs, and options that must
 * agree. Checked wherever a configuration is read (start, SIGHUP, --print-config), so a
 * value the server would refuse or misread is refused at once: an htp:// rules webhook
 * made every verdict's delivery dead, and --print-config showed as effective settings
 * the server then would not start with. */
static int check_config(const vg_api_config *cfg, vg_error *err)
{
	if (parse_level(cfg->log_level) < 0)
		return vg_error_set(err, VG_EINVAL,
				    "log_level takes debug, info, warn or error, not '%.64s'",
				    cfg->log_level);
	if (cfg->rules_webhook_url[0] && !has_scheme(cfg->rules_webhook_url, "http://", "https://"))
		return vg_error_set(err, VG_EINVAL,
				    "rules_webhook_url must be an http:// or https:// URL, not '%.64s'",
				    cfg->rules_webhook_url);
	if (cfg->smtp_url[0] && !has_scheme(cfg->smtp_url, "smtp://", "smtps://"))
		return vg_error_set(err, VG_EINVAL,
				    "smtp_url must be an smtp:// or smtps:// URL, not '%.64s'",
				    cfg->smtp_url);
	if (cfg->webhook_backoff > cfg->webhook_backoff_max)
		return vg_error_set(err, VG_EINVAL,
				    "webhook_backoff must not be longer than webhook_backoff_max");
	return vg_http_trusted_proxies_check(cfg->trusted_proxies, err);
}

/* defaults < --config file < VIGIL_* environment < flags, into cfg. */
static int load_config(int argc, char **argv, vg_api_config *cfg, vg_error *err)
{
	int rc = vg_config_defaults(vg_api_options, vg_api_option_count, cfg, err);
	const char *file = config_path(argc, argv);
	if (!rc && file)
		rc = vg_config_file(vg_api_options, vg_api_option_count, cfg, file, err);
	if (!rc)
		rc = vg_config_env(vg_api_options, vg_api_option_count, cfg, err);
	if (!rc)
		rc = vg_config_flags(vg_api_options, vg_api_option_count, cfg, argc, argv, err);
	if (!rc)
		rc = check_config(cfg, err);
	return rc;
}

/* SIGHUP: the options first (the rules' banks read the threshold), then the rules. */
static void reload(vg_api *api, int argc, char **argv)
{
	vg_api_config next;
	vg_error err;
	int rc = load_config(argc, argv, &next, &err);
	if (!rc)
		rc = vg_api_reconfigure(api, &next, &err);
	/* A Lua error quotes the rules source: quoted, a message stays one line. */
	char msg[sizeof(err.msg) * 6 + 3];
	if (rc) {
		vg_json_quote(err.msg, strlen(err.msg), msg, sizeof(msg));
		vg_log(VG_LOG_ERROR, "serve.reload_failed", "msg=%s what=config", msg);
	} else {
		vg_log_set_level((vg_log_level)parse_level(next.log_level));
		if (vg_api_reload(api, &err) != 0) {
			vg_json_quote(err.msg, strlen(err.msg), msg, sizeof(msg));
			vg_log(VG_LOG_ERROR, "serve.reload_failed", "msg=%s", msg);
		} else {
			vg_log(VG_LOG_INFO, "serve.reloaded", NULL);
		}
	}
}

static int run(int argc, char **argv)
{
	vg_api_config cfg;
	vg_error err;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			fputs(vg_cmd_serve.help, stdout);
			return VG_EXIT_OK;
		}
		if (!strcmp(argv[i], "--print-config-doc")) {
			vg_config_markdown(vg_api_options, vg_api_option_count, stdout);
			return VG_EXIT_OK;
		}
	}
	if (load_config(argc, argv, &cfg, &err) != 0)
		return vg_cli_usage_error("serve", "%s", err.msg);
	if (cfg.print_config) {
		cfg.print_config = false; /* so that the output, read back as a file, serves */
		vg_config_print(vg_api_options, vg_api_option_count, &cfg, stdout);
		return VG_EXIT_OK;
	}
	vg_log_set_level((vg_log_level)parse_level(cfg.log_level));

	/* Before the slow start (a big bank's index takes seconds): a SIGHUP from logrotate
	 * meanwhile would otherwise end the process, and a SIGTERM is answered once up. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction hup = {.sa_handler = on_hup};
	sigemptyset(&hup.sa_mask);
	sigaction(SIGHUP, &hup, NULL);

	vg_api *api;
	char *admin = NULL;
	if (vg_api_open(&cfg, &api, &err) != 0) {
		fprintf(stderr, "vigil serve: %s\n", err.msg);
		return VG_EXIT_FAIL;
	}
	vg_http_config hc;
	vg_http_config_init(&hc);
	snprintf(hc.listen, sizeof(hc.listen), "%s", cfg.listen);
	hc.threads = (int)cfg.threads;
	hc.max_body_bytes = (size_t)cfg.max_json_bytes;
	hc.max_header_bytes = (size_t)cfg.max_header_bytes;
	hc.max_connections = (unsigned)cfg.max_connections;
	hc.max_connections_per_address = (unsigned)cfg.max_connections_per_address;
	snprintf(hc.trusted_proxies, sizeof(hc.trusted_proxies), "%s", cfg.trusted_proxies);
	hc.idle_timeout_s = (unsigned)(cfg.idle_timeout / 1000000);
	size_t nroutes;
	const vg_http_route *routes = vg_api_routes(api, &nroutes);
	vg_http_server *srv;
	if (vg_http_start(&hc, routes, nroutes, &srv, &err) != 0) {
		fprintf(stderr, "vigil serve: %s\n", err.msg);
		vg_api_close(api);
		/* A listen address or proxy list that does not parse is a bad configuration;
		 * one that cannot be bound is a failure. */
		return err.code == VG_EINVAL ? VG_EXIT_USAGE : VG_EXIT_FAIL;
	}
	if (vg_api_bootstrap_admin(api, &admin, &err) != 0) {
		fprintf(stderr, "vigil serve: %s\n", err.msg);
		vg_http_stop(srv);
		vg_api_close(api);
		return VG_EXIT_FAIL;
	}
	vg_api_attach_server(api, srv);
	/* Erases reporter personal data past report_retention, now and on a timer. */
	vg_api_retention *retention = vg_api_retention_start(api);
	if (admin) {
		/* Printed once; the store keeps only its digest. A token that cannot be
		 * written (stdout on a full disk, a closed pipe) is revoked, not left live
		 * with nobody knowing it: this start then fails, and an admin token comes from
		 * `vigil token create --role admin`. */
		bool shown = printf("%s\n", admin) > 0 && fflush(stdout) == 0 && !ferror(stdout);
		if (!shown) {
			int rc = vg_api_bootstrap_revoke(api, admin, &err);
			fprintf(stderr,
				"vigil serve: cannot write the first admin token to standard "
				"output; %s%s; create one with `vigil token create --role admin`\n",
				rc ? "and could not revoke it: " : "it was revoked",
				rc ? err.msg : "");
		}
		memset(admin, 0, strlen(admin));
		free(admin);
		if (!shown) {
			vg_http_stop(srv);
			vg_api_retention_stop(retention);
			vg_api_close(api);
			return VG_EXIT_FAIL;
		}
		fprintf(stderr,
			"vigil serve: created the first admin token (printed above, once)\n");
	}
	printf("listening on %s (port %d)\n", cfg.listen, vg_http_port(srv));
	fflush(stdout);
	vg_log(VG_LOG_INFO, "serve.started", "listen=%s port=%d", cfg.listen, vg_http_port(srv));

	while (!stop_signal) {
		if (reload_signal) {
			reload_signal = 0;
			reload(api, argc, argv);
			continue;
		}
		pause();
	}

	vg_log(VG_LOG_INFO, "serve.stopping", "signal=%d", (int)stop_signal);
	vg_http_stop(srv);
	vg_api_retention_stop(retention);
	vg_api_close(api);
	vg_log(VG_LOG_INFO, "serve.stopped", NULL);
	return VG_EXIT_OK;
}

const vg_cmd vg_cmd_serve = {
	.name = "serve",
	.summary = "run the scanning service (REST API)",
	.help = "usage: vigil serve [--listen ADDR:PORT] [--db PATH] [--config FILE] [OPTION...]\n"
		"\n"
		"Runs the REST API (docs/openapi.yaml). With no configuration at all it listens "
		"on\n"
		"127.0.0.1:8080, keeps its data in ./vigil.db and, on first start (a database\n"
		"that has never held a token), prints a new admin token once on stdout. Revoking\n"
		"every admin token does not make a later start print another: use\n"
		"`vigil token create --role admin`.\n"
		"\n"
		"Every option (docs/config.md) can be given as --name VALUE, as the environment\n"
		"variable VIGIL_NAME, or as `name = value` in the --config file; flags win over\n"
		"the environment, which wins over the file.\n"
		"\n"
		"  --print-config       print the effective configuration and exit\n"
		"  --print-config-doc   print the option table as Markdown and exit\n"
		"\n"
		"SIGTERM or SIGINT: stop accepting connections, give requests in flight 10 s to\n"
		"finish, then answer 503 to any that has not reached its handler (nothing of it\n"
		"ran: retry it); a request whose handler has started is always finished and\n"
		"answered, however long it takes. Then exit 0.\n"
		"SIGHUP: read the configuration again (file, environment, flags) and apply the\n"
		"options docs/config.md marks reload: yes, then reload the --rules folder\n"
		"(events in flight finish on the old rules). Other options that changed are\n"
		"logged and wait for a restart; a file that no longer parses changes nothing.\n",
	.run = run,
};
