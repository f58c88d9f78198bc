# SPDX-License-Identifier: Apache-2.0
"""Webhook delivery from the outbox to a receiver running in the test: a match POSTs
signed JSON (X-Vigil-Signature = "sha256=" + HMAC-SHA256(bank secret, timestamp "." body),
as src/action/action.h specifies) with an Idempotency-Key; a 5xx is retried with backoff
and the same key; after --webhook-attempts failures the item is dead; a 4xx is dead at
once. Backoffs are made tiny with --webhook-backoff so this runs in well under a second."""
import hashlib
import hmac
import http.server
import json
import threading
import time

import pytest

from conftest import BRIDGE_PDQ

SECRET = "whsec-e2e-3f1c9a"


class Receiver:
    """An HTTP server on a free loopback port that records each POST and answers with
    the next status from a script (200 once the script runs out, or `then`)."""

    def __init__(self):
        self.requests = []
        self.script = []
        self.then = 200
        self.delay = 0  # seconds before each answer
        self.cond = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.cond:
                    status = outer.script.pop(0) if outer.script else outer.then
                    outer.requests.append({"at": time.monotonic(), "path": self.path,
                                           "headers": dict(self.headers), "body": body,
                                           "status": status})
                    outer.cond.notify_all()
                time.sleep(outer.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, n, timeout=10):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.requests) >= n, timeout), \
                f"{len(self.requests)} deliveries, wanted {n}"
            return list(self.requests)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def setup_bank(srv, receiver, secret=SECRET):
    body = {"name": "hooked", "actions": ["webhook", "block_url"], "webhook_url": receiver.url}
    if secret:
        body["webhook_secret"] = secret
    assert srv.post("/v1/banks", json=body).status_code == 201
    r = srv.post("/v1/banks/hooked/signals", role="analyst",
                 json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]})
    assert r.status_code == 200


def scan(srv, bridge, url="https://hook.example/a.jpg"):
    r = srv.post("/v1/scan", role="scanner", params={"url": url},
                 data=(bridge / "aaa-orig.jpg").read_bytes())
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
    [hook] = [a for a in r.json()["actions"] if a["type"] == "webhook"]
    return r.json(), hook["outbox_id"]


def outbox_item(srv, oid, state=None):
    params = {"state": state} if state else {}
    items = srv.get("/v1/outbox", role="analyst", params=params).json()["items"]
    found = [i for i in items if i["id"] == oid]
    return found[0] if found else None


def wait_state(srv, oid, state, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = outbox_item(srv, oid, state)
        if item:
            return item
        time.sleep(0.02)
    raise AssertionError(f"outbox item {oid} never reached {state}: {outbox_item(srv, oid)}")


def verify(secret, headers, body):
    ts = headers["X-Vigil-Timestamp"]
    want = "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, headers["X-Vigil-Signature"])


def test_delivery_is_signed_and_carries_the_match(serve, receiver, bridge):
    srv = serve("--webhook-backoff", "50ms")
    setup_bank(srv, receiver)
    out, oid = scan(srv, bridge)
    [got] = receiver.wait(1)
    h = got["headers"]
    assert got["path"] == "/hook"
    assert h["Content-Type"] == "application/json"
    assert h["User-Agent"].startswith("vigil/")
    assert abs(int(h["X-Vigil-Timestamp"]) - time.time()) < 60
    assert h["X-Vigil-Signature"].startswith("sha256=")
    assert verify(SECRET, h, got["body"])
    # Any change to the body, the timestamp or the secret breaks the signature.
    assert not verify(SECRET, h, got["body"] + b" ")
    assert not verify("another-secret", h, got["body"])
    assert not verify(SECRET, {**h, "X-Vigil-Timestamp": str(int(h["X-Vigil-Timestamp"]) + 1)},
                      got["body"])

    payload = json.loads(got["body"])
    assert (payload["event"], payload["bank"], payload["scan_id"]) == \
        ("match", "hooked", out["scan_id"])
    assert payload["url"] == "https://hook.example/a.jpg"
    assert payload["pdq"] == BRIDGE_PDQ and payload["md5"] == out["md5"]
    assert [m["bank"] for m in payload["matches"]] == ["hooked"]

    item = wait_state(srv, oid, "done")
    assert item["kind"] == "webhook" and item["attempts"] == 1
    assert h["Idempotency-Key"] == item["idempotency_key"] and len(h["Idempotency-Key"]) >= 16
    assert item["target"] == receiver.url
    # The secret is never shown back.
    listing = srv.get("/v1/outbox", role="analyst").text + srv.get("/v1/banks", role="analyst").text
    assert SECRET not in listing

    # Another scan is another delivery with another key.
    _, oid2 = scan(srv, bridge, "https://hook.example/b.jpg")
    second = receiver.wait(2)[1]
    assert second["headers"]["Idempotency-Key"] != h["Idempotency-Key"]
    assert verify(SECRET, second["headers"], second["body"])
    wait_state(srv, oid2, "done")


def test_without_a_secret_there_is_no_signature(serve, receiver, bridge):
    srv = serve("--webhook-backoff", "50ms")
    setup_bank(srv, receiver, secret=None)
    _, oid = scan(srv, bridge)
    [got] = receiver.wait(1)
    assert "X-Vigil-Signature" not in got["headers"]
    assert got["headers"]["Idempotency-Key"]
    wait_state(srv, oid, "done")


def test_a_500_is_retried_with_the_same_key_and_body(serve, receiver, bridge):
    srv = serve("--webhook-backoff", "50ms")
    receiver.script = [500, 503]
    setup_bank(srv, receiver)
    _, oid = scan(srv, bridge)
    got = receiver.wait(3)
    assert [g["status"] for g in got] == [500, 503, 200]
    assert len({g["headers"]["Idempotency-Key"] for g in got}) == 1
    assert len({g["body"] for g in got}) == 1
    assert all(verify(SECRET, g["headers"], g["body"]) for g in got)
    # Backoff: the second wait is about twice the first (50 ms, then 100 ms, with jitter
    # over the upper half of each).
    gaps = [b["at"] - a["at"] for a, b in zip(got, got[1:])]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04, gaps
    item = wait_state(srv, oid, "done")
    assert item["attempts"] == 3


def test_after_the_last_attempt_the_item_is_dead(serve, receiver, bridge):
    srv = serve("--webhook-backoff", "20ms", "--webhook-attempts", "3")
    receiver.then = 500
    setup_bank(srv, receiver)
    _, oid = scan(srv, bridge)
    item = wait_state(srv, oid, "dead")
    assert item["attempts"] == 3
    assert "500" in item["last_error"]
    assert len(receiver.requests) == 3
    assert outbox_item(srv, oid, "pending") is None
    time.sleep(0.2)
    assert len(receiver.requests) == 3  # never tried again
    metrics = srv.get("/metrics").text
    assert 'vigil_outbox_items{state="dead"} 1' in metrics


def test_a_4xx_is_dead_at_once(serve, receiver, bridge):
    srv = serve("--webhook-backoff", "20ms")
    receiver.then = 410
    setup_bank(srv, receiver)
    _, oid = scan(srv, bridge)
    item = wait_state(srv, oid, "dead")
    assert item["attempts"] == 1 and "410" in item["last_error"]
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_is_retried_then_dead(serve, bridge):
    srv = serve("--webhook-backoff", "20ms", "--webhook-attempts", "2")
    rec = Receiver()
    rec.close()  # nothing listens there any more
    setup_bank(srv, rec)
    _, oid = scan(srv, bridge)
    item = wait_state(srv, oid, "dead")
    assert item["attempts"] == 2 and item["last_error"]


def test_an_interim_1xx_then_a_timeout_is_retried_not_dead(serve, bridge):
    """An interim "100 Continue" (or "102 Processing") is no answer: when the transfer
    then times out, the item is tried again, not dead at once with "HTTP 100"."""
    import socket
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    lsock.settimeout(0.2)
    attempts = []
    stop = threading.Event()

    def answer(c):
        with c:
            c.settimeout(2)
            try:
                c.recv(65536)
                attempts.append(time.monotonic())
                if len(attempts) == 1:
                    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    stop.wait(1.5)  # then nothing past the 300 ms timeout
                else:
                    c.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            except OSError:
                pass

    def serve_raw():
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
            except OSError:
                continue
            threading.Thread(target=answer, args=(c,), daemon=True).start()
    t = threading.Thread(target=serve_raw, daemon=True)
    t.start()
    try:
        srv = serve("--webhook-backoff", "20ms", "--webhook-timeout", "300ms")
        rec = type("R", (), {"url": f"http://127.0.0.1:{lsock.getsockname()[1]}/hook"})
        setup_bank(srv, rec)
        _, oid = scan(srv, bridge)
        deadline = time.monotonic() + 10
        while True:
            item = outbox_item(srv, oid)
            if item["state"] in ("done", "dead") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert item["state"] == "done" and item["attempts"] == 2, item
        assert len(attempts) == 2
    finally:
        stop.set()
        t.join(3)
        lsock.close()


def outbox_secrets(srv):
    import sqlite3
    db = sqlite3.connect(str(srv.db))
    try:
        return db.execute("SELECT id, state, target, secret FROM outbox ORDER BY id").fetchall()
    finally:
        db.close()


def test_a_rotated_secret_and_url_reach_queued_items_and_no_secret_stays(serve, bridge):
    """Found in review: each queued item kept the bank's webhook URL and secret as they
    were at the match, so after a rotation (a leaked secret) retries still went to the old
    URL signed with the old secret, and the secret stayed in the row for ever. Now a
    queued item follows the bank's current webhook, and a finished item keeps no secret."""
    old, new = Receiver(), Receiver()
    try:
        old.then = 503
        srv = serve("--webhook-backoff", "100ms", "--webhook-backoff-max", "200ms",
                    "--webhook-attempts", "50")
        setup_bank(srv, old, secret="old-leaked-secret")
        _, oid = scan(srv, bridge)
        old.wait(1)
        r = srv.patch("/v1/banks/hooked", json={"webhook_url": new.url,
                                               "webhook_secret": "new-secret"})
        assert r.status_code == 200, r.text
        [got] = new.wait(1)
        assert verify("new-secret", got["headers"], got["body"])
        item = wait_state(srv, oid, "done")
        assert item["target"] == new.url
        n_old = len(old.requests)
        time.sleep(0.3)
        assert len(old.requests) == n_old
        assert outbox_secrets(srv) == [(oid, "done", new.url, None)]
    finally:
        old.close()
        new.close()


def test_deleting_a_bank_gives_up_its_queued_webhooks_and_their_secret(serve, receiver,
                                                                      bridge):
    receiver.then = 503
    srv = serve("--webhook-backoff", "100ms", "--webhook-backoff-max", "200ms",
                "--webhook-attempts", "50")
    setup_bank(srv, receiver)
    _, oid = scan(srv, bridge)
    receiver.wait(1)
    assert srv.delete("/v1/banks/hooked").status_code == 200
    item = wait_state(srv, oid, "dead")
    assert "deleted" in item["last_error"], item
    n = len(receiver.requests)
    time.sleep(0.4)
    assert len(receiver.requests) <= n + 1  # at most one attempt in flight at the delete
    assert [(i, st, sec) for i, st, _, sec in outbox_secrets(srv)] == [(oid, "dead", None)]


def test_rule_verdicts_post_signed_webhooks_with_their_event(serve, receiver, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.lua").write_text('rule("bad", {on = "bad"}, function(e) verdict("block", "bad") end)\n'
                                 'rule("ok", function(e) verdict("allow", "fine") end)\n')
    srv = serve("--rules", str(rules), "--webhook-backoff", "50ms",
                env={"VIGIL_RULES_WEBHOOK_URL": receiver.url, "VIGIL_RULES_WEBHOOK_SECRET": SECRET})
    # The second event holds an integer past int64, which the event decoder reads as a
    # real: its webhook must carry the event all the same.
    body = (json.dumps({"type": "bad", "url": "https://w.example/1", "user": {"id": "u1"}}) + "\n" +
            '{"type":"bad","url":"https://w.example/2","n":123456789012345678901234567890}\n' +
            json.dumps({"type": "fine"}) + "\n")
    r = srv.post("/v1/events", role="ingest", data=body.encode(),
                 headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["actions"]["webhooks"] == 2, r.text
    got = sorted(receiver.wait(2), key=lambda q: json.loads(q["body"])["line"])
    for q in got:
        ts = q["headers"]["X-Vigil-Timestamp"]
        want = hmac.new(SECRET.encode(), ts.encode() + b"." + q["body"], hashlib.sha256).hexdigest()
        assert q["headers"]["X-Vigil-Signature"] == "sha256=" + want
    first, second = (json.loads(q["body"]) for q in got)
    assert (first["event"], first["rule"], first["action"], first["line"]) == ("verdict", "bad", "block", 1)
    assert first["data"] == {"type": "bad", "url": "https://w.example/1", "user": {"id": "u1"}}
    assert second["line"] == 2 and second["data"]["url"] == "https://w.example/2"
    assert second["data"]["n"] == pytest.approx(1.2345678901234568e29)
    time.sleep(0.3)
    assert len(receiver.requests) == 2, "an allow verdict posts nothing"


def test_two_servers_on_one_database_send_a_webhook_once(serve, receiver, bridge):
    # Found in review: each server's outbox worker claimed items in its own memory, so
    # while one server's attempt waited on a slow receiver the other sent the same item.
    # Claims are in the database now.
    receiver.delay = 1.0
    a = serve()
    serve(db=a.db, roles=False)  # the second server: its worker polls the same outbox
    setup_bank(a, receiver)
    _, oid = scan(a, bridge)
    receiver.wait(1)
    time.sleep(1.5)  # both workers polled several times meanwhile
    assert len(receiver.requests) == 1, [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    item = wait_state(a, oid, "done")
    assert item["attempts"] == 1


def test_a_banks_webhook_carries_only_its_own_matches(serve, receiver, bridge):
    # Found in review: a bank's webhook (often a partner's receiver) got the scan's every
    # match, so the receiver read the names, stored hashes and metadata of the operator's
    # other, confidential banks.
    srv = serve("--webhook-backoff", "50ms")
    setup_bank(srv, receiver)
    assert srv.post("/v1/banks", json={"name": "confidential"}).status_code == 201
    md5 = hashlib.md5((bridge / "aaa-orig.jpg").read_bytes()).hexdigest()
    r = srv.post("/v1/banks/confidential/signals", role="analyst",
                 json={"signals": [{"type": "md5", "value": md5,
                                    "metadata": {"investigation": "op-x"}}]})
    assert r.status_code == 200, r.text
    out, oid = scan(srv, bridge)
    assert {m["bank"] for m in out["matches"]} == {"hooked", "confidential"}
    [got] = receiver.wait(1)
    payload = json.loads(got["body"])
    assert [m["bank"] for m in payload["matches"]] == ["hooked"]
    assert b"confidential" not in got["body"] and b"op-x" not in got["body"]
    wait_state(srv, oid, "done")


def test_a_zone_contact_with_a_secret_gets_signed_notifications(serve, receiver):
    # Found in review: notifications to a zone's owner or host were never signed, and a
    # zone could not be given a secret, so a receiver that checks X-Vigil-Signature (as
    # this page's example does) refused every one. The owner's secret signs the owner's.
    srv = serve("--webhook-backoff", "50ms", "--report-burst", "100")
    r = srv.post("/v1/zones", json={
        "name": "signed.example",
        "owner_contact": {"webhook_url": receiver.url, "webhook_secret": SECRET},
        "host_contact": {"webhook_url": receiver.url + "/host"}})
    assert r.status_code == 201, r.text
    assert r.json()["owner_contact"]["webhook_secret_set"] is True
    assert r.json()["host_contact"]["webhook_secret_set"] is False
    listing = srv.get("/v1/zones", role="admin").text
    assert SECRET not in listing
    r = srv.post("/v1/reports", role=None, json={"category": "phishing",
                                                  "urls": ["https://signed.example/login"]})
    assert r.status_code == 201, r.text
    got = {g["path"]: g for g in receiver.wait(2)}
    owner, host = got["/hook"], got["/hook/host"]
    assert json.loads(owner["body"])["party"] == "owner"
    assert verify(SECRET, owner["headers"], owner["body"])
    assert "X-Vigil-Signature" not in host["headers"]  # no secret, no signature, as before
    # Write-only: the audit says it was set, never what it is; null clears it.
    audit = srv.get("/v1/audit", role="admin").text
    assert SECRET not in audit and '"owner_webhook_secret":"(set)"' in audit.replace(" ", "")
    zid = srv.get("/v1/zones", role="admin").json()["items"][0]["id"]
    r = srv.patch(f"/v1/zones/{zid}", json={"owner_contact": {"webhook_secret": None}})
    assert r.status_code == 200 and r.json()["owner_contact"]["webhook_secret_set"] is False
    r = srv.patch(f"/v1/zones/{zid}", json={"owner_contact": {"webhook_secret": "x" * 257}})
    assert r.status_code == 422
