# SPDX-License-Identifier: Apache-2.0
"""SIGHUP and the configuration: `vigil serve` reads its configuration again (the file,
the environment, the flags) and applies at once every option docs/config.md marks
`reload: yes`; an option that takes a restart is logged and kept; a file that no longer
parses changes nothing. Found in review: docs/config.md promised reloads of webhook_*,
threshold, report_* and log_level, and SIGHUP only reloaded the rules."""
import signal
import time

from conftest import BRIDGE_PDQ
from test_serve_webhooks import Receiver

# BRIDGE_PDQ with one bit flipped: a PDQ distance of 1.
NEAR = format(int(BRIDGE_PDQ[0], 16) ^ 1, "x") + BRIDGE_PDQ[1:]

BASE = "webhook_backoff = 20ms\nwebhook_backoff_max = 20ms\nreport_rate = 1000\n"


def hup(srv, cfg, text):
    """Writes the config file, sends SIGHUP and waits until the server has taken it."""
    cfg.write_text(text)
    done = ("event=serve.reloaded", "event=serve.reload_failed")
    before = sum(srv.log_text().count(d) for d in done)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while sum(srv.log_text().count(d) for d in done) == before:
        assert time.monotonic() < deadline, "no reload in the log"
        time.sleep(0.02)


def matches(srv):
    r = srv.post("/v1/match", role="scanner", json={"pdq": NEAR})
    assert r.status_code == 200, r.text
    return [m["bank"] for m in r.json()["matches"]]


def test_sighup_applies_the_reloadable_options(serve, tmp_path, bridge):
    cfg = tmp_path / "vigil.conf"
    cfg.write_text(BASE + "webhook_attempts = 1\nreport_burst = 100\n")
    srv = serve("--config", cfg)
    hook = Receiver()
    hook.then = 500
    try:
        assert srv.post("/v1/banks", json={"name": "b", "actions": ["webhook"],
                                           "webhook_url": hook.url}).status_code == 201
        assert srv.post("/v1/banks/b/signals", role="analyst",
                        json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]}).status_code == 200
        assert matches(srv) == ["b"]  # threshold 31

        hup(srv, cfg, BASE + "webhook_attempts = 3\nreport_burst = 1\nreport_rate = 1\n"
                             "threshold = 0\nlog_level = debug\n")
        log = srv.log_text()
        for name in ("webhook_attempts", "report_burst", "report_rate", "threshold",
                     "log_level"):
            assert f"event=config.reloaded option={name}\n" in log, name
        assert matches(srv) == [], "threshold 0: distance 1 no longer matches"

        # The outbox worker follows: three attempts, not one, before the item is dead.
        r = srv.post("/v1/scan", role="scanner", params={"url": "https://r.example/a.jpg"},
                     data=(bridge / "aaa-orig.jpg").read_bytes())
        assert r.status_code == 200, r.text
        hook.wait(3)
        deadline = time.monotonic() + 10
        while True:
            [item] = srv.get("/v1/outbox", role="analyst").json()["items"]
            if item["state"] == "dead" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (item["state"], item["attempts"]) == ("dead", 3), item
        time.sleep(0.2)
        assert len(hook.requests) == 3
        # log_level debug: the worker's debug events are written now.
        assert "event=outbox.attempt" in srv.log_text()

        # report_burst 1: a second report from one address at once is refused.
        body = {"category": "spam", "urls": ["https://spam.example/"]}
        assert srv.post("/v1/reports", role=None, json=body).status_code == 201
        assert srv.post("/v1/reports", role=None, json=body).status_code == 429
    finally:
        hook.close()


def test_sighup_keeps_what_takes_a_restart_and_a_broken_file_changes_nothing(serve, tmp_path):
    cfg = tmp_path / "vigil.conf"
    cfg.write_text("threshold = 31\n")
    srv = serve("--config", cfg)
    assert srv.post("/v1/banks", json={"name": "b"}).status_code == 201
    assert srv.post("/v1/banks/b/signals", role="analyst",
                    json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]}).status_code == 200

    hup(srv, cfg, "threshold = 31\nmax_image_bytes = 4KB\n")
    assert "event=config.reload_ignored option=max_image_bytes" in srv.log_text()
    assert "event=config.reloaded" not in srv.log_text()

    # A file that no longer parses: logged, and not even its good lines apply.
    hup(srv, cfg, "threshold = 0\nwebhook_attempts = many\n")
    assert "event=serve.reload_failed" in srv.log_text()
    assert matches(srv) == ["b"]
    # Settings that do not fit together are refused as a whole too.
    hup(srv, cfg, "threshold = 0\nwebhook_backoff = 1h\nwebhook_backoff_max = 1s\n")
    assert srv.log_text().count("event=serve.reload_failed") == 2
    assert matches(srv) == ["b"]
    # An unknown log level is refused too, not read as info.
    hup(srv, cfg, "threshold = 0\nlog_level = Debug\n")
    assert srv.log_text().count("event=serve.reload_failed") == 3
    assert "log_level takes debug, info, warn or error" in srv.log_text()
    assert matches(srv) == ["b"]
    # A flag still wins over the file on a reload, as at start.
    cfg.write_text("threshold = 31\n")
    srv2 = serve("--config", cfg, "--threshold", "31", db=tmp_path / "other.db")
    assert srv2.post("/v1/banks", json={"name": "b"}).status_code == 201
    assert srv2.post("/v1/banks/b/signals", role="analyst",
                     json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]}).status_code == 200
    hup(srv2, cfg, "threshold = 0\n")
    assert matches(srv2) == ["b"]
