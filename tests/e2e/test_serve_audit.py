# SPDX-License-Identifier: Apache-2.0
"""The audit log behind `vigil serve` (DESIGN.md, invariant 4): every change made through
the API appends an entry naming the token that made it, GET /v1/audit pages through them
in a SHA-256 chain, `vigil audit verify` accepts the log the server wrote, and any edit
made straight in the database file afterwards makes it fail."""
import shutil
import sqlite3
import subprocess

from conftest import BRIDGE_PDQ

SECRET = "audit-webhook-secret-77"


def all_entries(srv):
    items, after = [], 0
    while True:
        page = srv.get("/v1/audit", role="analyst", params={"after": after, "limit": 3}).json()
        items += page["items"]
        if page["next_after"] is None:
            return items
        after = page["next_after"]


def verify(binary, db):
    return subprocess.run([str(binary), "audit", "verify", "--db", str(db)],
                          capture_output=True, timeout=30)


def test_every_change_is_audited_chained_and_verifiable(serve, bridge, tmp_path):
    srv = serve()
    def ok(r, status=200):
        assert r.status_code == status, r.text
        return r.json()

    ok(srv.post("/v1/banks", json={"name": "aud", "actions": ["block_url", "open_case"],
                                   "webhook_secret": SECRET}), 201)
    ok(srv.patch("/v1/banks/aud", json={"description": "x", "webhook_secret": SECRET + "2"}))
    sigs = ok(srv.post("/v1/banks/aud/signals", role="analyst",
                       json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ},
                                         {"type": "md5", "value": "ab" * 16}]}))
    assert sigs["added"] == 2
    listed = ok(srv.get("/v1/banks/aud/signals", role="analyst"))["items"]
    md5_id = [s["id"] for s in listed if s["type"] == "md5"][0]
    ok(srv.delete(f"/v1/banks/aud/signals/{md5_id}", role="analyst"))
    scan = ok(srv.post("/v1/scan", role="scanner", params={"url": "https://a.example/1"},
                       data=(bridge / "aaa-orig.jpg").read_bytes()))
    case_id = [a for a in scan["actions"] if a["type"] == "open_case"][0]["case_id"]
    ok(srv.post(f"/v1/cases/{case_id}/decision", role="analyst", json={"decision": "dismiss"}))
    scan2 = ok(srv.post("/v1/scan", role="scanner", params={"url": "https://a.example/2"},
                        data=(bridge / "aaa-orig.jpg").read_bytes()))
    block_id = [a for a in scan2["actions"] if a["type"] == "block_url"][0]["block_id"]
    ok(srv.delete(f"/v1/blocks/{block_id}", role="analyst"))
    ok(srv.post("/c/banks", json={"name": "hma_aud"}), 201)
    ok(srv.put("/c/bank/hma_aud", json={"enabled": False}))
    ok(srv.post("/c/bank/hma_aud/signal", role="analyst", json={"md5": "cd" * 16}))
    ok(srv.delete("/c/bank/hma_aud"))
    ok(srv.delete("/v1/banks/aud"))
    # Reads are not changes.
    before = len(all_entries(srv))
    srv.get("/v1/banks", role="analyst")
    srv.post("/v1/match", role="scanner", json={"pdq": BRIDGE_PDQ})
    srv.get("/v1/decision", role="scanner", params={"url": "https://a.example/2"})
    entries = all_entries(srv)
    assert len(entries) == before

    seen = [(e["actor"], e["action"], e["object_type"]) for e in entries]
    assert ("cli", "token.create", "token") in seen  # the fixture's tokens
    admin = [e for e in entries
             if e["action"] == "token.create" and e["detail"] == {"role": "admin"}]
    assert admin and admin[0]["actor"] == "vigil-serve"
    expected = [
        ("e2e-admin-actor", "bank.create", "bank"),
        ("e2e-admin-actor", "bank.update", "bank"),
        ("e2e-analyst", "signal.add", "bank"),
        ("e2e-analyst", "signal.remove", "bank"),
        ("e2e-scanner", "case.open", "case"),
        ("e2e-scanner", "block.create", "block"),
        ("e2e-scanner", "scan.match", "scan"),
        ("e2e-analyst", "case.decide", "case"),
        ("e2e-analyst", "block.lift", "block"),
        ("e2e-admin-actor", "bank.update", "bank"),
        ("e2e-admin-actor", "bank.delete", "bank"),
    ]
    admin_name = admin[0]["object_id"]
    for actor, action, otype in expected:
        actor = admin_name if actor == "e2e-admin-actor" else actor
        assert (actor, action, otype) in seen, (actor, action, otype)
    # Dismissing lifted the scan's block: the case decision says so.
    decide = [e for e in entries if e["action"] == "case.decide"][0]
    assert decide["detail"] == {"decision": "dismiss", "blocks_lifted": 1}
    assert decide["object_id"] == str(case_id)
    # Each entry chains to the one before it.
    assert entries[0]["prev_hash"] == "0" * 64
    for a, b in zip(entries, entries[1:]):
        assert b["prev_hash"] == a["hash"] and b["id"] > a["id"]
    assert len({e["hash"] for e in entries}) == len(entries)
    # Secrets never reach the log.
    assert SECRET not in srv.get("/v1/audit", role="analyst", params={"limit": 1000}).text

    assert srv.stop() == 0
    proc = verify(srv.binary, srv.db)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == f"ok: {len(entries)} entries"

    # Now tamper with a copy of the file in a few ways; each must be caught.
    target = entries[len(entries) // 2]["id"]
    for sql in [f"UPDATE audit SET actor = 'someone-else' WHERE id = {target}",
                f"UPDATE audit SET detail = '{{}}' WHERE id = {decide['id']}",
                f"UPDATE audit SET at = at + 1 WHERE id = {target}",
                f"DELETE FROM audit WHERE id = {target}",
                f"DELETE FROM audit WHERE id = {entries[-1]['id']}",
                f"UPDATE audit SET action = 'bank.update' WHERE id = {entries[-1]['id']}"]:
        copy = tmp_path / "tampered.db"
        for suffix in ("", "-wal", "-shm"):
            src = srv.db.with_name(srv.db.name + suffix)
            dst = copy.with_name(copy.name + suffix)
            if dst.exists():
                dst.unlink()
            if src.exists():
                shutil.copy(src, dst)
        con = sqlite3.connect(str(copy))
        con.execute(sql)
        con.commit()
        con.close()
        proc = verify(srv.binary, copy)
        assert proc.returncode == 1, (sql, proc.stdout, proc.stderr)
        assert b"broken" in proc.stderr or b"chain" in proc.stderr, proc.stderr


def test_a_client_can_recompute_every_hash_from_the_api(serve, bridge):
    # Found in review: /v1/audit gave `at` in milliseconds (the hash covers microseconds)
    # and `detail` parsed and written again, so no client could check a hash. Each entry
    # now carries at_usec and detail_text, exactly as hashed (docs/openapi.yaml).
    import datetime
    import hashlib
    import json
    srv = serve()
    # Details whose bytes a parse-and-dump changes: key order, non-ASCII, escapes.
    assert srv.post("/v1/banks", json={"name": "recompute", "actions": ["block_url"],
                                       "description": "Bücher / \"quoted\" \u2028 tab\t"}
                    ).status_code == 201
    assert srv.post("/v1/banks/recompute/signals", role="analyst",
                    json={"signals": [{"type": "pdq", "value": BRIDGE_PDQ}]}).status_code == 200
    r = srv.post("/v1/scan", role="scanner", params={"url": "https://h.example/ü?a=1&b=2"},
                 data=(bridge / "aaa-orig.jpg").read_bytes())
    assert r.status_code == 200 and r.json()["verdict"] == "block", r.text
    entries = all_entries(srv)
    assert len(entries) >= 4
    prev = "0" * 64
    for e in entries:
        assert e["prev_hash"] == prev
        text = "\n".join([e["prev_hash"], str(e["id"]), str(e["at_usec"]), e["actor"],
                          e["action"], e["object_type"], e["object_id"], e["detail_text"]])
        assert hashlib.sha256(text.encode()).hexdigest() == e["hash"], e
        assert json.loads(e["detail_text"]) == e["detail"]
        second = datetime.datetime.fromtimestamp(e["at_usec"] // 1000000, datetime.timezone.utc)
        assert e["at"].startswith(second.strftime("%Y-%m-%dT%H:%M:%S")), e
        prev = e["hash"]


def test_an_analyst_cannot_forge_lines_in_the_audit_listing(serve, vigil_bin):
    """Found in review: a label entity with a newline or a terminal escape reached `vigil
    audit list` raw, so an analyst could print a fabricated entry (an admin revoking a
    token) or erase lines on the reader's terminal. Every field is escaped now."""
    import urllib.parse
    srv = serve()
    forged = "u1 {}\n99     2026-11-28T01:00:00.000000Z  admin-boss       token.revoke"
    for entity in (forged, "esc\x1b[2K\x1b[1Ahid", "bidi\u202egnp.exe", "c1\u009bx"):
        q = urllib.parse.quote(entity, safe="")
        assert srv.put(f"/v1/labels/user/{q}/bad", role="analyst").status_code == 200
    srv.stop()
    proc = subprocess.run([str(vigil_bin), "audit", "list", "--db", str(srv.db)],
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    lines = text.decode().splitlines()
    assert not any(line.startswith("99 ") for line in lines), text
    assert all(line[:1] in ("I", "") or line.split()[0].isdigit() for line in lines)
    for raw in (b"\x1b", b"\xe2\x80\xae", b"\xc2\x9b"):
        assert raw not in text
    assert b"u1 {}\\x0a99" in text and b"esc\\x1b[2K" in text and b"\\u{202e}" in text
    # --json keeps the exact bytes for programs.
    proc = subprocess.run([str(vigil_bin), "audit", "list", "--json", "--db", str(srv.db)],
                          capture_output=True, timeout=30, text=True)
    assert json_has(proc.stdout, forged)


def json_has(ndjson_text, value):
    import json
    return any(json.loads(l)["object_id"] == value for l in ndjson_text.splitlines())


def test_bank_create_audits_its_actions_and_webhook_but_not_the_secret(serve):
    """Found in review: bank.create recorded only the description, so who set a bank to
    block URLs or to post every match to some URL left no trace when done at creation."""
    srv = serve()
    r = srv.post("/v1/banks", json={"name": "hooked", "actions": ["webhook", "block_url"],
                                     "webhook_url": "https://hook.example/h",
                                     "webhook_secret": SECRET})
    assert r.status_code == 201, r.text
    [e] = [e for e in all_entries(srv) if e["action"] == "bank.create"]
    assert e["detail"] == {"description": "", "actions": ["webhook", "block_url"],
                           "webhook_url": "https://hook.example/h",
                           "webhook_secret": "(set)"}, e
    assert SECRET not in e["detail_text"]
    r = srv.post("/c/banks", json={"name": "HMA_OFF", "enabled_ratio": 0.0})
    assert r.status_code == 201, r.text
    [e] = [e for e in all_entries(srv)
           if e["action"] == "bank.create" and e["object_id"] == "hma_off"]
    assert e["detail"] == {"description": "", "enabled": False}, e
