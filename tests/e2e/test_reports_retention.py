# SPDX-License-Identifier: Apache-2.0
"""Retention of reporter personal data against a real `vigil serve`: the background job
erases name, email and client address past report_retention and audits it; the report
stays countable; the test clock (`now` on POST /v1/admin/retention/run) is honoured only
with VIGIL_TEST_CLOCK=1 and refused otherwise. The same run deletes expired labels."""
import datetime
import json
import sqlite3
import time

from conftest import assert_error


def reporter_fields(db, rid):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT reporter_name, reporter_email, client_addr, erased_at "
                           "FROM reports WHERE id = ?", (rid,)).fetchone()
    finally:
        con.close()


def new_report(s, name="Retained Person"):
    r = s.post("/v1/reports", role=None, json={
        "category": "spam", "urls": ["https://ret.invalid/"],
        "reporter": {"name": name, "email": "kept@example.org"}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_test_clock_erases_past_retention_and_audits(serve):
    s = serve(env={"VIGIL_TEST_CLOCK": "1"})
    rid = new_report(s)
    assert reporter_fields(s.db, rid)[0] == "Retained Person"
    now = datetime.datetime.now(datetime.timezone.utc)
    r = s.post("/v1/admin/retention/run", params={"now": iso(now + datetime.timedelta(days=179))})
    assert r.status_code == 200 and r.json()["erased"] == 0, r.text
    r = s.post("/v1/admin/retention/run", params={"now": iso(now + datetime.timedelta(days=181))})
    assert r.status_code == 200 and r.json()["erased"] == 1, r.text
    name, email, addr, erased_at = reporter_fields(s.db, rid)
    assert name is None and email is None and addr is None and erased_at
    audit = s.get("/v1/audit", params={"limit": 1000}).json()["items"]
    (entry,) = [a for a in audit if a["action"] == "report.erase_personal_data"]
    assert "Retained" not in str(entry) and "kept@" not in str(entry) and rid in entry["detail"]["reports"]
    # Still counted.
    f = s.get("/v1/transparency", role="analyst").json()
    assert f["reports"]["by_category"].get("spam") == 1
    assert_error(s.post("/v1/admin/retention/run", params={"now": "tomorrow"}), 422)
    assert_error(s.post("/v1/admin/retention/run", role="analyst"), 403)
    assert "VIGIL_TEST_CLOCK" in s.log_text()


def test_now_is_refused_without_the_test_clock(serve):
    s = serve()
    rid = new_report(s)
    far = iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=400))
    assert_error(s.post("/v1/admin/retention/run", params={"now": far}), 422)
    r = s.post("/v1/admin/retention/run")
    assert r.status_code == 200 and r.json()["erased"] == 0
    assert reporter_fields(s.db, rid)[0] == "Retained Person"


def test_background_job_erases_on_its_own(serve):
    s = serve("--report-retention", "1s", "--retention-interval", "1s")
    rid = new_report(s, "Short Lived")
    end = time.time() + 8
    while time.time() < end and reporter_fields(s.db, rid)[0] is not None:
        time.sleep(0.2)
    name, email, addr, erased_at = reporter_fields(s.db, rid)
    assert name is None and email is None and addr is None and erased_at
    assert "Short Lived" not in s.log_text()


def label_rows(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT entity FROM labels"))
    finally:
        con.close()


def test_expired_labels_are_purged(serve):
    s = serve()
    for entity, body in (("brief", {"ttl": 0.2}), ("day", {"ttl": "1d"}), ("forever", None)):
        r = s.put(f"/v1/labels/user/{entity}/x", role="analyst", **({"json": body} if body else {}))
        assert r.status_code == 200, r.text
    time.sleep(0.3)
    assert label_rows(s.db) == ["brief", "day", "forever"]  # expired, but still a row
    r = s.post("/v1/admin/retention/run")
    assert r.status_code == 200 and r.json()["labels_purged"] == 1, r.text
    assert label_rows(s.db) == ["day", "forever"]
    assert s.post("/v1/admin/retention/run").json()["labels_purged"] == 0


def outbox_of(db, rid):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT idempotency_key, state, payload FROM outbox "
                           "WHERE idempotency_key LIKE ? ORDER BY id", (f"report-{rid}-%",))
        return {k: (st, json.loads(p)) for k, st, p in rows.fetchall()}
    finally:
        con.close()


def test_retention_erases_the_reporter_from_outbox_payloads(serve):
    # Found in review: where share was full, the reporter's name and email were copied
    # into the outbox payloads, and retention erased only the report's own columns.
    from test_reports import Receiver
    hook = Receiver()
    try:
        s = serve("--webhook-attempts", "1", env={"VIGIL_TEST_CLOCK": "1"})
        for name, owner in (("kept.example", f"{hook.url}/owner"),
                            ("lost.example", "http://127.0.0.1:1/gone")):
            z = s.post("/v1/zones", json={"name": name, "owner_contact": {"webhook_url": owner},
                                          "host_contact": {"email": "abuse@host.example"}})
            assert z.status_code == 201, z.text
        r = s.post("/v1/reports", role=None, json={
            "category": "phishing", "urls": ["https://kept.example/a", "https://lost.example/b"],
            "reporter": {"name": "Retained Person", "email": "kept@example.org"},
            "share": {"owner": "full", "host": "full"}})
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        # Delivered to the receiver (done), refused by a closed port (dead), and email with
        # no SMTP relay (pending).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            states = sorted(st for st, _ in outbox_of(s.db, rid).values())
            if states == ["dead", "done", "pending", "pending"]:
                break
            time.sleep(0.1)
        assert states == ["dead", "done", "pending", "pending"], outbox_of(s.db, rid)
        assert all(p["reporter"]["email"] == "kept@example.org"
                   for _, p in outbox_of(s.db, rid).values())
        now = datetime.datetime.now(datetime.timezone.utc)
        r = s.post("/v1/admin/retention/run", params={"now": iso(now + datetime.timedelta(days=179))})
        assert r.status_code == 200 and r.json()["erased"] == 0, r.text
        assert all("reporter" in p for _, p in outbox_of(s.db, rid).values())
        r = s.post("/v1/admin/retention/run", params={"now": iso(now + datetime.timedelta(days=181))})
        assert r.status_code == 200 and r.json()["erased"] == 1, r.text
        items = outbox_of(s.db, rid)
        assert len(items) == 4
        for st, p in items.values():
            assert "reporter" not in p, (st, p)
            assert p["report_id"] == rid and p["urls"] and p["category"] == "phishing"
        text = json.dumps(items)
        assert "Retained" not in text and "kept@example.org" not in text
    finally:
        hook.httpd.shutdown()


def test_retention_erases_the_receivers_answer_quoting_the_reporter(serve):
    # Found in review: a receiver that refused a notification and quoted the reporter in
    # its answer left the reporter in outbox.last_error after retention.
    import http.server
    import threading

    class Quoting(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            rep = body.get("reporter") or {}
            msg = json.dumps({"error": f"unknown {rep.get('email')} ({rep.get('name')})"}).encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)

        def log_message(self, *a):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Quoting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        s = serve("--webhook-attempts", "1", "--report-burst", "1000",
                  env={"VIGIL_TEST_CLOCK": "1"})
        url = f"http://127.0.0.1:{httpd.server_port}"
        assert s.post("/v1/zones", json={"name": "quote.example",
                                         "owner_contact": {"webhook_url": url + "/o"},
                                         "host_contact": {"webhook_url": url + "/h"}}).status_code == 201
        r = s.post("/v1/reports", role=None, json={
            "category": "phishing", "urls": ["https://quote.example/a"],
            "reporter": {"name": "Quentin Quoted", "email": "quentin@quoted.example"},
            "share": {"owner": "full", "host": "full"}})
        assert r.status_code == 201, r.text
        deadline = time.time() + 10
        while time.time() < deadline and "quoted.example" not in s.get(
                "/v1/outbox", params={"state": "dead"}).text:
            time.sleep(0.1)
        assert "quoted.example" in s.get("/v1/outbox", params={"state": "dead"}).text
        far = iso(datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=400))
        assert s.post("/v1/admin/retention/run", params={"now": far}).json()["erased"] == 1
        dead = s.get("/v1/outbox", params={"state": "dead"}).text
        assert "quoted.example" not in dead and "Quentin" not in dead
        con = sqlite3.connect(f"file:{s.db}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT payload, last_error FROM outbox").fetchall()
        finally:
            con.close()
        assert rows and all("quoted.example" not in f"{p}{e}" for p, e in rows), rows
        assert all(e is None or e.startswith("[erased") for _, e in rows), rows
    finally:
        httpd.shutdown()
