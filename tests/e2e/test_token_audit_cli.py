# SPDX-License-Identifier: Apache-2.0
"""`vigil token` and `vigil audit` end to end: a token is printed once and stored only as
its SHA-256, listing never shows secrets or hashes, revocation is soft and audited, and
`audit verify` holds on an untouched log and fails loudly, naming the entry, after any
edit, deletion or reordering made straight in the database file."""
import hashlib
import json
import re
import sqlite3

import pytest


@pytest.fixture
def db(tmp_path):
    return tmp_path / "v.db"


@pytest.fixture
def token(vigil, db):
    def run(*args, check=None):
        return vigil("token", *args, "--db", db, check=check)
    return run


@pytest.fixture
def audit(vigil, db):
    def run(*args, check=None):
        return vigil("audit", *args, "--db", db, check=check)
    return run


def out(proc):
    return proc.stdout.decode()


def jlines(proc):
    return [json.loads(l) for l in out(proc).splitlines() if l.strip()]


def rows(db, sql, *params):
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def tamper(db, *statements):
    con = sqlite3.connect(db)
    try:
        for sql in statements:
            con.execute(sql)
        con.commit()
    finally:
        con.close()


def test_create_prints_the_token_alone_and_stores_only_its_hash(token, db):
    proc = token("create", "--role", "admin", "--name", "ops", check=0)
    lines = out(proc).splitlines()
    assert len(lines) == 1, "the token alone on stdout"
    secret = lines[0]
    assert re.fullmatch(r"vg_[0-9a-f]{64}", secret)
    assert secret not in proc.stderr.decode()

    stored = rows(db, "SELECT name, role, hash, revoked_at FROM tokens")
    assert stored == [("ops", "admin", hashlib.sha256(secret.encode()).hexdigest(), None)]
    # The secret is nowhere in the file (WAL included: read every byte there is).
    for f in db.parent.iterdir():
        assert secret.encode() not in f.read_bytes(), f
        assert secret[3:].encode() not in f.read_bytes(), f

    second = out(token("create", "--role", "scanner", "--name", "scan-1", check=0)).strip()
    assert second != secret and re.fullmatch(r"vg_[0-9a-f]{64}", second)


def test_every_role_and_the_usage_errors(token):
    for role in ("admin", "analyst", "scanner", "intake", "ingest"):
        token("create", "--role", role, "--name", f"t-{role}", check=0)
    token("create", "--role", "root", "--name", "x", check=2)
    token("create", "--role", "admin", check=2)
    token("create", "--name", "x", check=2)
    token("create", "--role", "admin", "--name", "has space", check=2)
    token("create", "--role", "admin", "--name", "a" * 65, check=2)
    token("create", "--role", "admin", "--name", "x", "extra", check=2)
    token("revoke", check=2)
    token("list", "extra", check=2)
    token("frobnicate", check=2)
    token("list", "--bogus", check=2)
    assert len(jlines(token("list", "--json", check=0))) == 5


def test_a_live_name_is_unique_until_revoked(token, audit, db):
    token("create", "--role", "admin", "--name", "ops", check=0)
    dup = token("create", "--role", "analyst", "--name", "ops", check=1)
    assert b"ops" in dup.stderr and dup.stdout == b""
    token("revoke", "ops", check=0)
    token("revoke", "ops", check=1)
    token("revoke", "never-was", check=1)
    token("create", "--role", "analyst", "--name", "ops", check=0)

    listed = jlines(token("list", "--json", check=0))
    assert [(t["name"], t["role"], t["revoked"]) for t in listed] == [
        ("ops", "admin", True), ("ops", "analyst", False)]
    assert listed[0]["revoked_at"] and listed[1]["revoked_at"] is None
    assert all(set(t) == {"name", "role", "created_at", "revoked", "revoked_at"} for t in listed)
    hashes = [h for (h,) in rows(db, "SELECT hash FROM tokens")]
    text = out(token("list", check=0))
    assert "NAME" in text and "ops" in text and "analyst" in text
    for h in hashes:
        assert h not in text and h[:16] not in text

    # Creating and revoking are audited as the CLI's, in order.
    entries = jlines(audit("list", "--json", check=0))
    assert [(e["actor"], e["action"], e["object_type"], e["object_id"]) for e in entries] == [
        ("cli", "token.create", "token", "ops"),
        ("cli", "token.revoke", "token", "ops"),
        ("cli", "token.create", "token", "ops")]
    assert entries[0]["detail"] == {"role": "admin"}
    assert entries[0]["prev_hash"] == "0" * 64
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    # A failed command leaves no audit entry.
    assert len(entries) == 3


def test_revoked_token_is_kept_and_json_revoke(token, db):
    token("create", "--role", "intake", "--name", "form", check=0)
    assert jlines(token("revoke", "form", "--json", check=0)) == [
        {"name": "form", "revoked": True}]
    assert rows(db, "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NOT NULL") == [(1,)]


def make_log(token, n):
    for i in range(n):
        token("create", "--role", "scanner", "--name", f"s{i}", check=0)


def test_verify_ok_list_and_paging(token, audit):
    make_log(token, 6)
    assert out(audit("verify", check=0)).strip() == "ok: 6 entries"
    assert jlines(audit("verify", "--json", check=0)) == [{"ok": True, "entries": 6}]

    every = jlines(audit("list", "--json", check=0))
    assert [e["id"] for e in every] == [1, 2, 3, 4, 5, 6]
    for prev, e in zip([None] + every, every):
        want = hashlib.sha256("\n".join([
            prev["hash"] if prev else "0" * 64, str(e["id"]), str(e["at_usec"]), e["actor"],
            e["action"], e["object_type"], e["object_id"], e["detail_text"]]).encode()).hexdigest()
        assert json.loads(e["detail_text"]) == e["detail"]
        assert e["hash"] == want, "the chain's documented layout"
    page = jlines(audit("list", "--json", "--after", "2", "--limit", "3", check=0))
    assert [e["id"] for e in page] == [3, 4, 5]
    assert jlines(audit("list", "--json", "--after", "6", check=0)) == []
    text = out(audit("list", check=0))
    assert "token.create" in text and "s5" in text

    audit("list", "--limit", "0", check=2)
    audit("list", "--after", "x", check=2)
    audit("verify", "--after", "1", check=2)
    audit("verify", "extra", check=2)
    audit("nothing", check=2)


def test_a_missing_or_foreign_database_fails_and_is_left_alone(vigil, audit, token, db,
                                                               tmp_path):
    # Found in review: `audit verify` on a mistyped path made a new database and said
    # "ok: 0 entries", exit 0. Commands that only read open without creating.
    for args in (["verify"], ["verify", "--json"], ["list"]):
        p = audit(*args, check=1)
        assert p.stdout == b"", p.stdout
        assert p.stderr.decode() == f"vigil audit {args[0]}: {db}: no such database " \
                                    "(the file does not exist)\n", p.stderr
    token("list", check=1)
    token("revoke", "x", check=1)
    for args in (["bank", "list"], ["bank", "show", "b"], ["bank", "export", "b"],
                 ["bank", "delete", "b"], ["bank", "add", "b", "0" * 32],
                 ["match", "--hash", "0" * 32]):
        p = vigil(*args, "--db", db, check=1)
        assert b"no such database" in p.stderr, (args, p.stderr)
    assert list(tmp_path.iterdir()) == [], "nothing was created"
    # A file that is not vigil's (empty, or another program's database) is not touched.
    db.write_bytes(b"")
    p = audit("verify", check=1)
    assert b"not a vigil database" in p.stderr, p.stderr
    assert db.read_bytes() == b""
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.commit()
    con.close()
    before = db.read_bytes()
    assert b"not a vigil database" in audit("list", check=1).stderr
    assert db.read_bytes() == before and rows(db, "SELECT name FROM sqlite_master") == [("notes",)]
    # Making one is still what create does.
    db.unlink()
    token("create", "--role", "admin", "--name", "a", check=0)
    assert out(audit("verify", check=0)).strip() == "ok: 1 entries"


@pytest.mark.parametrize("statements, bad, words", [
    (["UPDATE audit SET detail = '{\"role\":\"admin\"}' WHERE id = 3"], 3, "edited"),
    (["UPDATE audit SET actor = 'someone' WHERE id = 1"], 1, "edited"),
    (["UPDATE audit SET at = at + 1 WHERE id = 5"], 5, "edited"),
    (["DELETE FROM audit WHERE id = 4"], 5, "prev_hash"),
    (["DELETE FROM audit WHERE id = 1"], 2, "prev_hash"),
    (["UPDATE audit SET id = -1 WHERE id = 2", "UPDATE audit SET id = 2 WHERE id = 3",
      "UPDATE audit SET id = 3 WHERE id = -1"], 2, ""),
    (["DELETE FROM audit WHERE id = 6"], 6, "removed"),
])
def test_verify_fails_loudly_after_tampering(token, audit, db, statements, bad, words):
    make_log(token, 6)
    audit("verify", check=0)
    tamper(db, *statements)
    proc = audit("verify", check=1)
    err = proc.stderr.decode()
    assert f"entry {bad}" in err, err
    assert words in err
    assert b"ok:" not in proc.stdout
    report = jlines(audit("verify", "--json", check=1))
    assert report == [{"ok": False, "bad_id": bad, "error": report[0]["error"]}]


def test_a_forged_hash_does_not_hide_an_edit(token, audit, db):
    make_log(token, 4)
    # Recompute entry 2's hash after editing it, as a careful forger would: entry 3's
    # link to it breaks instead.
    (prev, id_, at, actor, action, otype, oid, detail), = rows(
        db, "SELECT prev_hash, id, at, actor, action, object_type, object_id, detail "
            "FROM audit WHERE id = 2")
    forged = hashlib.sha256("\n".join(
        [prev, str(id_), str(at), "intruder", action, otype, oid, detail]).encode()).hexdigest()
    tamper(db, f"UPDATE audit SET actor = 'intruder', hash = '{forged}' WHERE id = 2")
    err = audit("verify", check=1).stderr.decode()
    assert "entry 3" in err


def test_audit_commands_need_a_database_they_can_open(vigil, tmp_path):
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not a database at all, just bytes " * 10)
    vigil("audit", "verify", "--db", bad, check=1)
    vigil("token", "list", "--db", bad, check=1)


def test_a_recomputed_chain_passes_verify_but_not_its_kept_head(token, audit, db):
    """Found in review: an edit whose chain (and audit_head) was recomputed with the
    public recipe passed verify, and nothing outside the database could anchor it. Now
    `audit head` prints ID:HASH to keep elsewhere and `verify --expect ID:HASH` fails on
    any rewrite of that entry or one before it."""
    make_log(token, 4)
    kept = out(audit("head", check=0)).strip()
    last_id, last_hash = kept.split(":")
    assert last_id == "4" and re.fullmatch(r"[0-9a-f]{64}", last_hash)
    assert jlines(audit("head", "--json", check=0)) == [{"id": 4, "hash": last_hash}]
    assert out(audit("verify", "--expect", kept, check=0)).strip() == "ok: 4 entries"

    # The careful forger: edit entry 2, recompute every hash after it and the head.
    entries = rows(db, "SELECT prev_hash, id, at, actor, action, object_type, object_id, "
                       "detail FROM audit ORDER BY id")
    prev, statements = "0" * 64, []
    for (_, id_, at, actor, action, otype, oid, detail) in entries:
        if id_ == 2:
            actor = "intruder"
        h = hashlib.sha256("\n".join([prev, str(id_), str(at), actor, action, otype, oid,
                                      detail]).encode()).hexdigest()
        statements.append(f"UPDATE audit SET actor = '{actor}', prev_hash = '{prev}', "
                          f"hash = '{h}' WHERE id = {id_}")
        prev = h
    statements.append(f"UPDATE audit_head SET last_hash = '{prev}' WHERE id = 1")
    tamper(db, *statements)
    audit("verify", check=0)  # the chain alone cannot tell: the help says so
    proc = audit("verify", "--expect", kept, check=1)
    assert "entry 4" in proc.stderr.decode() and b"ok:" not in proc.stdout
    assert jlines(audit("verify", "--json", "--expect", kept, check=1))[0]["bad_id"] == 4
    audit("verify", "--expect", "9:" + last_hash, check=1)  # an entry that is gone
    audit("verify", "--expect", "4:xyz", check=2)
    audit("verify", "--expect", last_hash, check=2)
    audit("list", "--expect", kept, check=2)
    assert "--expect" in out(audit("--help", check=0))
