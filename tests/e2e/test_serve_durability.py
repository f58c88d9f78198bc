# SPDX-License-Identifier: Apache-2.0
"""Acknowledged means durable: `kill -9` the server right after a 2xx write, start it
again on the same database, and the write is there (DESIGN.md, invariant 2). Also the
graceful side: SIGTERM and SIGINT let a request in flight finish, refuse new
connections, and exit 0."""
import signal
import socket
import subprocess
import time

from conftest import BRIDGE_PDQ, assert_error

URL = "https://durable.example/img.jpg"


def restart_after_kill(srv):
    srv.kill()
    srv.start()
    return srv


def test_bank_create_survives_kill_9(serve):
    srv = serve()
    r = srv.post("/v1/banks", json={"name": "kept", "description": "d", "actions": ["block_url"]})
    assert r.status_code == 201
    restart_after_kill(srv)
    r = srv.get("/v1/banks/kept", role="analyst")
    assert r.status_code == 200, r.text
    assert (r.json()["description"], r.json()["actions"]) == ("d", ["block_url"])
    r = srv.post("/c/banks", json={"name": "hma_kept"})
    assert r.status_code == 201
    restart_after_kill(srv)
    assert srv.get("/c/bank/hma_kept", role="analyst").status_code == 200


def test_signals_survive_kill_9_and_are_matched_after_restart(serve):
    srv = serve()
    assert srv.post("/v1/banks", json={"name": "sigs"}).status_code == 201
    r = srv.post("/v1/banks/sigs/signals", role="analyst",
                 json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ},
                                   {"type": "md5", "value": "0" * 32}]})
    assert r.status_code == 200 and r.json()["added"] == 2
    restart_after_kill(srv)
    r = srv.post("/v1/match", role="scanner", json={"pdq": BRIDGE_PDQ})
    assert [m["bank"] for m in r.json()["matches"]] == ["sigs"]
    r = srv.post("/c/bank/sigs/signal", role="analyst", json={"md5": "1" * 32})
    assert r.status_code == 200
    restart_after_kill(srv)
    r = srv.get("/m/raw_lookup", role="scanner", params={"signal_type": "md5", "signal": "1" * 32})
    assert r.json()["matches"] == [r.json()["matches"][0]] and r.json()["matches"]


def test_a_block_survives_kill_9_and_still_answers_451(serve, bridge):
    srv = serve("--webhook-backoff", "1h")
    r = srv.post("/v1/banks", json={"name": "blk", "actions": ["block_url", "open_case", "webhook"],
                                    "webhook_url": "http://127.0.0.1:9/nowhere"})
    assert r.status_code == 201
    assert srv.post("/v1/banks/blk/signals", role="analyst",
                    json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]}).status_code == 200
    r = srv.post("/v1/scan", role="scanner", params={"url": URL},
                 data=(bridge / "blur-a-lot.jpg").read_bytes())
    assert r.status_code == 200 and r.json()["verdict"] == "block"
    out = r.json()
    before = srv.get("/v1/decision", role="scanner", params={"url": URL}).json()
    restart_after_kill(srv)

    r = srv.get("/v1/decision", role="scanner", params={"url": URL})
    assert r.status_code == 451, r.text
    [block] = [a for a in out["actions"] if a["type"] == "block_url"]
    assert r.json()["block_id"] == block["block_id"]
    assert r.json() == before  # the same answer, `since` included
    [case] = [a for a in out["actions"] if a["type"] == "open_case"]
    c = srv.get(f"/v1/cases/{case['case_id']}", role="analyst").json()
    assert c["status"] == "open" and [m["scan_id"] for m in c["matches"]] == [out["scan_id"]]
    # The webhook, written in the same transaction, is still owed.
    [hook] = [a for a in out["actions"] if a["type"] == "webhook"]
    items = srv.get("/v1/outbox", role="analyst").json()["items"]
    assert [(i["id"], i["kind"]) for i in items] == [(hook["outbox_id"], "webhook")]
    assert items[0]["state"] in ("pending", "dead")

    # The decision that lifts it is as durable.
    r = srv.post(f"/v1/cases/{case['case_id']}/decision", role="analyst",
                 json={"decision": "dismiss"})
    assert r.status_code == 200
    restart_after_kill(srv)
    assert srv.get("/v1/decision", role="scanner", params={"url": URL}).status_code == 200
    assert srv.get(f"/v1/cases/{case['case_id']}", role="analyst").json()["status"] == "closed"

    # And so is an unblock through DELETE /v1/blocks/{id}.
    r = srv.post("/v1/scan", role="scanner", params={"url": URL},
                 data=(bridge / "aaa-orig.jpg").read_bytes())
    block_id = [a for a in r.json()["actions"] if a["type"] == "block_url"][0]["block_id"]
    restart_after_kill(srv)
    assert srv.get("/v1/decision", role="scanner", params={"url": URL}).status_code == 451
    assert srv.delete(f"/v1/blocks/{block_id}", role="analyst").status_code == 200
    restart_after_kill(srv)
    assert srv.get("/v1/decision", role="scanner", params={"url": URL}).status_code == 200


def test_restart_keeps_tokens_and_prints_no_new_admin_token(serve):
    srv = serve()
    assert srv.starts == 1
    restart_after_kill(srv)  # start() asserts at most one line before "listening on"
    assert srv.get("/v1/banks", role="analyst").status_code == 200
    assert srv.get("/metrics", role="admin").status_code == 200
    first_log = srv.logs[0].read_text()
    assert "created the first admin token" in first_log
    assert "created the first admin token" not in srv.logs[-1].read_text()


def send_partial(srv, body, cut):
    c = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    head = (f"POST /v1/hash HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {srv.tokens['scanner']}\r\n"
            f"Content-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    c.sendall(head + body[:cut])
    return c


def read_response(c):
    data = b""
    while True:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        if _ and b"Content-Length: " in head:
            n = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            if len(rest) >= n:
                break
    return data


def test_sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0(serve, bridge):
    srv = serve()
    body = (bridge / "aaa-orig.jpg").read_bytes()
    c = send_partial(srv, body, 1000)
    time.sleep(0.1)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    assert srv.proc.poll() is None  # waiting for the request in flight
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    assert refused, "a new connection was accepted after SIGTERM"
    c.sendall(body[1000:])
    data = read_response(c)
    c.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert BRIDGE_PDQ.encode() in data
    assert srv.proc.wait(timeout=15) == 0
    srv.proc = None
    log = srv.log_text()
    assert "serve.stopping" in log and "serve.stopped" in log


def test_sigint_exits_0(serve):
    srv = serve()
    srv.proc.send_signal(signal.SIGINT)
    assert srv.proc.wait(timeout=15) == 0
    srv.proc = None


def test_a_second_server_on_a_busy_port_fails_cleanly(serve, vigil_bin, tmp_path):
    srv = serve()
    proc = subprocess.run([str(vigil_bin), "serve", "--listen", f"127.0.0.1:{srv.port}",
                           "--db", str(tmp_path / "other.db")], capture_output=True, timeout=10)
    assert proc.returncode == 1, proc
    assert b"cannot listen" in proc.stderr
    assert_error(srv.get("/v1/nope"), 404)
