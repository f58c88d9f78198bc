/* SPDX-License-Identifier: Apache-2.0
 *
 * The option table of `vigil serve`: every setting, its default, bounds and unit, its
 * environment variable (VIGIL_ + NAME) and whether SIGHUP reloads it. docs/config.md is
 * generated from this table (`vigil serve --print-config-doc`) and a test checks the two
 * agree.
 */
#include <stddef.h>

#include "api.h"

#define OPT(name, type, def, min, max, unit, reload, help) \
	{#name, type, def, min, max, unit, reload, false, help, offsetof(vg_api_config, name)}

const vg_opt vg_api_options[] = {
	OPT(listen, VG_OPT_STRING, "127.0.0.1:8080", 0, 0, NULL, false,
	    "address and port to listen on: HOST:PORT (an IPv4 or IPv6 address, or localhost), "
	    "[IPv6]:PORT, or :PORT for all addresses; PORT is 0 to 65535 in digits"),
	OPT(db, VG_OPT_STRING, "./vigil.db", 0, 0, NULL, false, "the SQLite database file"),
	OPT(config, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "a file of `name = value` lines read before the environment and flags"),
	OPT(index_snapshot, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "PDQ index snapshot for fast start-up; empty means <db>.pdq-index"),
	OPT(log_level, VG_OPT_STRING, "info", 0, 0, NULL, true, "debug, info, warn or error"),
	OPT(threads, VG_OPT_INT, "0", 0, 1024, "threads", false,
	    "HTTP worker threads; 0 means four per CPU, at most 64"),
	OPT(max_image_bytes, VG_OPT_BYTES, "20MB", 1024, 1LL << 30, "bytes", false,
	    "largest image body accepted (413 above)"),
	OPT(decode_memory, VG_OPT_BYTES, "2GB", 64LL << 20, 1LL << 40, "bytes", false,
	    "memory all image decodes in flight may hold together; more wait their turn, and an "
	    "image needing more than all of it is refused (413)"),
	OPT(max_json_bytes, VG_OPT_BYTES, "1MB", 1024, 256LL << 20, "bytes", false,
	    "largest JSON body accepted (413 above)"),
	OPT(max_header_bytes, VG_OPT_BYTES, "32KB", 4096, 1 << 20, "bytes", false,
	    "largest request line and headers (431 above; a connection may use twice this)"),
	OPT(max_connections, VG_OPT_INT, "1024", 1, 100000, "connections", false,
	    "open connections at once; more wait in the kernel's backlog"),
	OPT(max_connections_per_address, VG_OPT_INT, "256", 0, 100000, "connections", false,
	    "open connections one client address may hold (more are closed at once), so one "
	    "client cannot take every slot; 0: no limit. A reverse proxy in front is one "
	    "address: raise it (or set 0) to its connection count"),
	OPT(trusted_proxies, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For "
	    "names the client, for rate limits and reports; empty: the peer is the client"),
	OPT(idle_timeout, VG_OPT_DURATION, "60s", 1000000, 3600000000LL, "us", false,
	    "a connection idle this long is closed"),
	OPT(quality_floor, VG_OPT_INT, "50", 0, 100, NULL, true,
	    "PDQ hashes of lower quality are reported but not matched"),
	OPT(threshold, VG_OPT_INT, "31", 0, 63, "bits", true,
	    "default PDQ match distance (the reference recommends 31)"),
	OPT(webhook_attempts, VG_OPT_INT, "12", 1, 100, NULL, true,
	    "delivery attempts before an outbox item is dead (12: tried for 17 to 34 minutes; "
	    "14 ride out an hour-long outage)"),
	OPT(webhook_backoff, VG_OPT_DURATION, "1s", 1000, 3600000000LL, "us", true,
	    "delay before the first retry; doubled each attempt, with jitter"),
	OPT(webhook_backoff_max, VG_OPT_DURATION, "1h", 1000, 86400000000LL, "us", true,
	    "longest delay between two attempts"),
	OPT(webhook_timeout, VG_OPT_DURATION, "10s", 100000, 300000000LL, "us", true,
	    "time allowed for one webhook delivery"),
	OPT(print_config, VG_OPT_BOOL, "false", 0, 0, NULL, false,
	    "print the effective configuration and exit"),
	OPT(rules, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "rules folder (every *.lua) for POST /v1/events; SIGHUP reloads it; empty: no rules"),
	OPT(rules_workers, VG_OPT_INT, "0", 0, 64, "lanes", false,
	    "Lua states evaluating events, each owning its counters; 0 means one per CPU"),
	OPT(rules_partition_key, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "the event field (a name or a dotted path such as user.id) whose value picks an "
	    "event's lane; empty: ip, else user or user.id; events without it go round robin"),
	OPT(max_events_bytes, VG_OPT_BYTES, "16MB", 1024, 1LL << 30, "bytes", false,
	    "largest POST /v1/events body, after gzip decompression (413 above)"),
	OPT(max_event_bytes, VG_OPT_BYTES, "64KB", 16, 256 << 10, "bytes", false,
	    "longest event line; a longer line is rejected, the others go on"),
	OPT(rules_budget_ms, VG_OPT_INT, "50", 1, 60000, "milliseconds", false,
	    "CPU time the rules of one event may use before the one running is stopped"),
	OPT(rules_webhook_url, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "where live non-allow verdicts are posted through the outbox; empty: no webhooks"),
	{"rules_webhook_secret", VG_OPT_STRING, "", 0, 0, NULL, false, true,
	 "HMAC secret signing the rules' webhooks (never printed)",
	 offsetof(vg_api_config, rules_webhook_secret)},
	OPT(report_rate, VG_OPT_INT, "10", 1, 100000, "reports/min", true,
	    "POST /v1/reports a client address may make per minute (429 with Retry-After above)"),
	OPT(report_burst, VG_OPT_INT, "20", 1, 100000, "reports", true,
	    "POST /v1/reports a client address may make at once before the rate applies"),
	OPT(report_routing_file, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "a file of `category = action, ...` lines overriding the default routing "
	    "(docs/reports.md)"),
	OPT(report_dedup_window, VG_OPT_DURATION, "24h", 0, 31536000000000LL, "us", true,
	    "a report for the same category and URL within this time joins the existing case"),
	OPT(report_org_name, VG_OPT_STRING, "vigil operator", 0, 0, NULL, true,
	    "the reporting organisation named in authority reports"),
	OPT(report_org_email, VG_OPT_STRING, "", 0, 0, NULL, true,
	    "the contact address named in authority reports; empty: none"),
	OPT(report_retention, VG_OPT_DURATION, "180d", 1000000, 3650LL * 86400000000LL, "us", true,
	    "reporter personal data (name, email, client address) is erased after this"),
	OPT(retention_interval, VG_OPT_DURATION, "1h", 1000000, 86400000000LL, "us", false,
	    "how often the retention job runs in vigil serve"),
	OPT(smtp_url, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "SMTP relay for email notifications (smtp://host:port or smtps://...); empty: none"),
	OPT(smtp_from, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "envelope sender and From address of email notifications"),
	OPT(smtp_user, VG_OPT_STRING, "", 0, 0, NULL, false,
	    "SMTP user name; empty: no authentication"),
	{"smtp_password", VG_OPT_STRING, "", 0, 0, NULL, false, true,
	 "SMTP password (never printed)", offsetof(vg_api_config, smtp_password)},
	OPT(smtp_plaintext_auth, VG_OPT_BOOL, "false", 0, 0, NULL, false,
	    "with smtp_user set, also log in (and send) over smtp:// when the relay offers no "
	    "STARTTLS; false: such a relay gets nothing"),
};

const size_t vg_api_option_count = sizeof(vg_api_options) / sizeof(vg_api_options[0]);
