# SPDX-License-Identifier: Apache-2.0
"""Running `vigil serve`: /healthz, /readyz and /metrics (Prometheus text), configuration
precedence (flags > VIGIL_* environment > --config file > defaults, as --print-config
shows it), bad configuration (exit 2, one line on stderr), logs that never hold a
token, however hard the requests try to put one there, and a first admin token that a
failed start does not use up."""
import hashlib
import os
import re
import socket
import subprocess

from conftest import BRIDGE_PDQ, Server, _finish


def test_healthz_and_readyz(server):
    for role in [None, "scanner", "intake"]:
        r = server.get("/healthz", role=role)
        assert (r.status_code, r.json()) == (200, {"status": "ok"})
    r = server.get("/readyz", role=None)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ready" and body["schema_version"] >= 2
    assert set(body["index"]) == {"pdq", "md5", "sha256"}
    assert r.headers["X-Request-Id"] and re.fullmatch(r"[0-9a-f]{16}", r.headers["X-Request-Id"])
    assert server.get("/healthz").headers["X-Request-Id"] != r.headers["X-Request-Id"]


def parse_metrics(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(\{.*\})? (\S+)', line)
        assert m, f"not Prometheus text: {line!r}"
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples


def test_metrics(serve, bridge):
    srv = serve()
    srv.post("/v1/banks", json={"name": "met"})
    srv.post("/v1/banks/met/signals", role="analyst",
             json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ},
                               {"type": "md5", "value": "0" * 32}]})
    for _ in range(3):
        srv.post("/v1/match", role="scanner", json={"pdq": BRIDGE_PDQ})
    srv.get("/v1/nope")
    srv.get("/v1/banks", role=None)
    r = srv.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text
    for name, kind in [("vigil_http_requests_total", "counter"),
                       ("vigil_http_request_seconds", "histogram"),
                       ("vigil_matches_total", "counter"), ("vigil_index_signals", "gauge"),
                       ("vigil_outbox_items", "gauge")]:
        assert f"# TYPE {name} {kind}" in text, name
    m = parse_metrics(text)
    assert m['vigil_http_requests_total{route="/v1/match",method="POST",status="200"}'] == 3
    assert m['vigil_http_requests_total{route="/v1/banks",method="GET",status="401"}'] == 1
    assert any(k.startswith("vigil_http_requests_total") and 'status="404"' in k for k in m)
    assert m['vigil_http_request_seconds_count{route="/v1/match",method="POST"}'] == 3
    assert m['vigil_http_request_seconds_bucket{route="/v1/match",method="POST",le="+Inf"}'] == 3
    assert m['vigil_http_request_seconds_sum{route="/v1/match",method="POST"}'] > 0
    # Buckets are cumulative.
    buckets = [v for k, v in m.items()
               if k.startswith('vigil_http_request_seconds_bucket{route="/v1/match"')]
    assert buckets == sorted(buckets)
    assert m['vigil_matches_total{bank="met"}'] == 3
    assert m['vigil_index_signals{type="pdq"}'] == 1
    assert m['vigil_index_signals{type="md5"}'] == 1
    assert m['vigil_outbox_items{state="pending"}'] == 0
    # Metrics name banks, so only admins read them.
    assert srv.get("/metrics", role="analyst").status_code == 403


def print_config(binary, *args, env=None, cwd=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    e.update(env or {})
    proc = subprocess.run([str(binary), "serve", *args, "--print-config"], capture_output=True,
                          env=e, timeout=30, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    out = {}
    for line in proc.stdout.decode().splitlines():
        k, _, v = line.partition(" = ")
        out[k] = v.strip('"')
    return out


def test_configuration_precedence(vigil_bin, tmp_path):
    conf = tmp_path / "vigil.conf"
    conf.write_text("# a comment\nthreads = 3\nmax_json_bytes = 4KB\nthreshold = 20\n"
                    "webhook_backoff = 2s\nlisten = 127.0.0.1:9001\n")
    d = print_config(vigil_bin, cwd=tmp_path)
    assert (d["listen"], d["db"], d["threads"], d["threshold"]) == \
        ("127.0.0.1:8080", "./vigil.db", "0", "31")
    assert d["max_image_bytes"] == str(20 << 20) and d["max_json_bytes"] == str(1 << 20)

    d = print_config(vigil_bin, "--config", conf)
    assert (d["threads"], d["max_json_bytes"], d["threshold"], d["webhook_backoff"],
            d["listen"]) == ("3", "4096", "20", "2s", "127.0.0.1:9001")

    env = {"VIGIL_THREADS": "5", "VIGIL_THRESHOLD": "25", "VIGIL_DB": "/tmp/env.db"}
    d = print_config(vigil_bin, "--config", conf, env=env)
    assert (d["threads"], d["threshold"], d["max_json_bytes"], d["db"]) == \
        ("5", "25", "4096", "/tmp/env.db")

    d = print_config(vigil_bin, "--config", conf, "--threads", "7", "--db", "/tmp/flag.db",
                     env=env)
    assert (d["threads"], d["threshold"], d["max_json_bytes"], d["db"]) == \
        ("7", "25", "4096", "/tmp/flag.db")
    # The config file may come from the environment too, and = works in flags.
    d = print_config(vigil_bin, "--threads=9", env={"VIGIL_CONFIG": str(conf)})
    assert (d["threads"], d["threshold"]) == ("9", "20")


def test_printed_configuration_reads_back_as_itself(vigil_bin, tmp_path):
    """--print-config's output is a config file: read back, it gives the same values,
    durations under a millisecond included, and it serves rather than prints again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}

    def printed(*args):
        return subprocess.run([str(vigil_bin), "serve", *args, "--print-config"], env=env,
                              capture_output=True, text=True, check=True, timeout=30).stdout
    text = printed("--webhook-backoff", "1500us", "--report-dedup-window", "0.5ms")
    assert "webhook_backoff = 1500us\n" in text and "report_dedup_window = 500us\n" in text
    assert "print_config = false\n" in text
    conf = tmp_path / "printed.conf"
    conf.write_text(text)
    assert printed("--config", conf) == text.replace('config = ""', f'config = "{conf}"')


def test_configuration_reaches_the_server(serve):
    srv = serve("--max-json-bytes", "1KB", env={"VIGIL_THRESHOLD": "5"})
    r = srv.post("/v1/banks", json={"name": "c", "description": "d" * 1100})
    assert r.status_code == 413
    srv.post("/v1/banks", json={"name": "c"})
    near = "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22"
    srv.post("/v1/banks/c/signals", role="analyst",
             json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]})
    # near is more than 5 bits away: no match at the configured default threshold.
    assert srv.post("/v1/match", role="scanner", json={"pdq": near}).json()["matches"] == []
    assert srv.post("/v1/match", role="scanner",
                    json={"pdq": near, "threshold": 31}).json()["matches"] != []


def test_bad_configuration_exits_2_with_one_line(vigil_bin, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("threads = lots\n")
    conf2 = tmp_path / "unknown.conf"
    conf2.write_text("no_such_option = 1\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    cases = [
        (["--threads", "abc"], {}),
        (["--threads", "5000"], {}),
        (["--max-json-bytes", "12XB"], {}),
        (["--max-image-bytes", "1"], {}),
        (["--idle-timeout", "forever"], {}),
        (["--webhook-attempts", "0"], {}),
        (["--threshold", "64"], {}),
        (["--no-such-flag"], {}),
        (["--threads"], {}),
        ([], {"VIGIL_THREADS": "-1"}),
        ([], {"VIGIL_MAX_JSON_BYTES": "huge"}),
        # log_level was never checked: a typo or upper case quietly meant info.
        (["--log-level", "WARN"], {}),
        (["--log-level", "wrn"], {}),
        ([], {"VIGIL_LOG_LEVEL": "Debug"}),
        # Found in review: an htp:// rules webhook made every verdict's delivery dead, and
        # --print-config showed backoffs the server would not start with.
        (["--rules-webhook-url", "htp://hooks.example/x"], {}),
        (["--smtp-url", "http://relay.example"], {}),
        (["--webhook-backoff", "2m", "--webhook-backoff-max", "1m"], {}),
        (["--webhook-backoff", "2m", "--webhook-backoff-max", "1m", "--print-config"], {}),
        (["--trusted-proxies", "proxy.local"], {}),
        (["--config", str(conf)], {}),
        (["--config", str(conf2)], {}),
        (["--config", str(tmp_path / "missing.conf")], {}),
    ]
    for args, env in cases:
        proc = subprocess.run([str(vigil_bin), "serve", "--db", str(tmp_path / "x.db"),
                               "--listen", "127.0.0.1:0", *args],
                              capture_output=True, env={**base, **env}, timeout=30)
        assert proc.returncode == 2, (args, env, proc)
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("vigil serve: "), (args, env, lines)
        assert proc.stdout == b""
    assert not (tmp_path / "x.db").exists()  # nothing was started


def test_logs_never_hold_tokens(serve, bridge):
    """Plants every token secret (and their SHA-256) in every place a request can carry
    one, at debug level, then greps everything the server wrote."""
    srv = serve("--log-level", "debug")
    srv.post("/v1/banks", json={"name": "logs"})
    bad = "vg_" + "e" * 64
    srv.secrets.append(bad)
    for secret in list(srv.secrets):
        for path in ["/v1/banks", "/metrics", "/v1/nope", f"/v1/banks/{secret}",
                     f"/v1/decision?url=https://x.example/{secret}&token={secret}",
                     f"/v1/cases/{secret}"]:
            srv.request("GET", path, token=secret)
        srv.request("GET", "/v1/banks", role=None, headers={"Authorization": secret})
        srv.request("GET", "/v1/banks", role=None, headers={"X-Api-Key": secret,
                                                            "Cookie": f"t={secret}"})
        srv.post("/v1/banks", token=secret, json={"name": secret})
        srv.post("/v1/banks", json={"name": "x", "description": secret, "webhook_secret": secret})
        srv.post("/v1/banks/logs/signals", role="analyst",
                 json={"signals": [{"type": "md5", "value": secret}]})
        srv.post("/v1/scan", role="scanner", params={"url": f"https://x.example/?k={secret}"},
                 data=(bridge / "square-128x128.jpg").read_bytes())
        srv.post("/v1/hash", token=secret, data=secret.encode())
    srv.request("PUT", "/v1/banks", token=bad)
    assert srv.stop() == 0
    text = srv.log_text()
    assert "serve.started" in text  # the log is there, and it is the one we grep
    for secret in srv.secrets:
        assert secret not in text
        assert secret[3:] not in text
        assert hashlib.sha256(secret.encode()).hexdigest() not in text


def test_a_failed_first_start_keeps_the_admin_token_for_the_next(vigil_bin, tmp_path):
    """The first admin token is made once the server listens. Made earlier, a start that
    then failed (a busy port, a rules folder that does not compile) left a token that was
    never shown, and every later start, finding one, printed none."""
    db = tmp_path / "vigil.db"
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.lua").write_text("rule('x', function(e) end")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for flags in (["--listen", f"127.0.0.1:{port}"], ["--rules", str(rules)]):
            r = subprocess.run([str(vigil_bin), "serve", "--db", str(db), *flags],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 1, r
            assert r.stdout == "", "no token printed by a start that failed"
    srv = Server(vigil_bin, tmp_path / "ok", db=db).start()
    try:
        assert "admin" in srv.tokens, "the next start prints the first admin token"
        assert srv.request("GET", "/v1/banks").status_code == 200
    finally:
        _finish([srv])


def test_revoking_every_admin_token_survives_a_restart(vigil_bin, tmp_path):
    """The first admin token is for a database that never had a token. Minted whenever no
    admin token was live, a restart after the operator revoked them all (a leak, or admin
    work kept to the CLI) printed a fresh admin credential into the service's log."""
    srv = Server(vigil_bin, tmp_path / "s").start()
    try:
        first = srv.tokens["admin"]
        name = subprocess.run([str(vigil_bin), "token", "list", "--json", "--db", str(srv.db)],
                              capture_output=True, text=True, check=True).stdout
        name = re.search(r'"name":\s*"(admin-[0-9]+)"', name).group(1)
        assert srv.stop() == 0
        subprocess.run([str(vigil_bin), "token", "revoke", name, "--db", str(srv.db)],
                       capture_output=True, check=True)
        del srv.tokens["admin"]
        srv.start()
        assert "admin" not in srv.tokens, "a restart minted a new admin token"
        assert srv.request("GET", "/v1/banks", token=first).status_code == 401
        listed = subprocess.run([str(vigil_bin), "token", "list", "--db", str(srv.db)],
                                capture_output=True, text=True, check=True).stdout
        assert listed.count("admin-") == 1, listed
    finally:
        _finish([srv])


def test_a_first_admin_token_that_cannot_be_printed_is_revoked(vigil_bin, tmp_path):
    """With stdout on a full disk, the first admin token was minted, audited and lost,
    while stderr said it was "printed above", and no later start made another: a live
    admin token nobody had seen. Now the start fails and the token is revoked."""
    db = tmp_path / "vigil.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    with open("/dev/full", "wb") as full:
        r = subprocess.run([str(vigil_bin), "serve", "--db", str(db), "--listen", "127.0.0.1:0"],
                           stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=30)
    assert r.returncode == 1, r.stderr
    assert "cannot write the first admin token" in r.stderr and "it was revoked" in r.stderr
    assert "printed above" not in r.stderr
    listed = subprocess.run([str(vigil_bin), "token", "list", "--json", "--db", str(db)],
                            capture_output=True, text=True, check=True).stdout
    assert '"revoked": true' in listed.replace('"revoked":true', '"revoked": true'), listed
    assert '"revoked": false' not in listed.replace('"revoked":false', '"revoked": false')
