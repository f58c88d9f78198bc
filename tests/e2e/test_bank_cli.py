# SPDX-License-Identifier: Apache-2.0
"""`vigil bank` end to end: the bank lifecycle, adding and removing signals, the three
import formats with their bad-line reports, export round trips, durability across
processes, and what users see for bad usage."""
import json

import pytest

PDQ = "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
MD5 = "d35c785545392755e7e4164457657269"
SHA = "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298"


@pytest.fixture
def bank(vigil, tmp_path):
    db = tmp_path / "v.db"

    def run(*args, input=None, check=None):
        return vigil("bank", *args, "--db", db, input=input, check=check)
    run.db = db
    return run


def jlines(proc):
    return [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]


def test_lifecycle(bank):
    bank("create", "csam-list", "--description", "test list", check=0)
    bank("create", "csam-list", check=1)
    bank("create", "Bad Name", check=1)
    bank("create", "-starts-with-dash", check=2)  # read as an option
    bank("create", "_x", check=1)
    bank("create", "a" * 65, check=1)
    bank("create", "other", check=0)
    listed = jlines(bank("list", "--json", check=0))
    assert [b["name"] for b in listed] == ["csam-list", "other"]
    shown = jlines(bank("show", "csam-list", "--json", check=0))[0]
    assert shown["description"] == "test list" and shown["enabled"] is True
    assert shown["signals"] == 0
    bank("disable", "csam-list", check=0)
    assert jlines(bank("show", "csam-list", "--json", check=0))[0]["enabled"] is False
    bank("enable", "csam-list", check=0)
    assert jlines(bank("show", "csam-list", "--json", check=0))[0]["enabled"] is True
    bank("delete", "other", check=0)
    bank("delete", "other", check=1)
    bank("show", "other", check=1)
    bank("enable", "nope", check=1)


def test_add_normalises_dedupes_and_survives_the_process(bank):
    bank("create", "b", check=0)
    out = jlines(bank("add", "b", PDQ.upper(), MD5, "--json", check=0))
    assert [(o["type"], o["value"], o["result"]) for o in out] == [
        ("pdq", PDQ, "added"), ("md5", MD5, "added")]
    again = jlines(bank("add", "b", PDQ, "--json", check=0))[0]
    assert again["result"] == "duplicate" and again["signal_id"] == out[0]["signal_id"]
    sha = jlines(bank("add", "b", "--type", "sha256", SHA, "--json", check=0))[0]
    assert sha["type"] == "sha256"
    # The same 64 digits as a different type is a different signal.
    bank("add", "b", "--type", "sha256", PDQ, check=0)
    # A fresh process sees every acknowledged write (durability).
    assert jlines(bank("show", "b", "--json", check=0))[0]["signals"] == 4
    bad = bank("add", "b", "abc", "zz" * 16, PDQ[:-1] + "0", check=1)
    assert b"abc" in bad.stderr and b"zz" in bad.stderr
    assert jlines(bank("show", "b", "--json", check=0))[0]["signals"] == 5
    bank("add", "b", "--type", "sha1", PDQ, check=2)
    bank("add", "b", "--type", "url", PDQ, check=1)  # a known type, but not a URL
    bank("add", "nope", PDQ, check=1)


def test_remove_is_soft_and_a_re_add_revives(bank):
    bank("create", "b", check=0)
    first = jlines(bank("add", "b", PDQ, "--json", check=0))[0]
    bank("remove", "b", PDQ.upper(), check=0)
    shown = jlines(bank("show", "b", "--json", check=0))[0]
    assert (shown["signals"], shown["removed_signals"]) == (0, 1)
    assert bank("export", "b", check=0).stdout == b""
    bank("remove", "b", PDQ, check=1)  # not live any more
    back = jlines(bank("add", "b", PDQ, "--json", check=0))[0]
    assert back["result"] == "revived" and back["signal_id"] == first["signal_id"]


def test_import_plain_reports_bad_lines_and_keeps_the_rest(bank, tmp_path):
    bank("create", "b", check=0)
    f = tmp_path / "list.txt"
    f.write_text("# a comment\n\n"
                 f"{PDQ}\n"
                 "not-a-hash\n"
                 f"{MD5},seen in report 12\n"
                 f"{PDQ}\n"
                 "abcd\n"
                 f"{SHA.upper()},{{\"source\": \"ncmec\", \"tags\": [\"a\"]}}\n")
    proc = bank("import", "b", f, "--json", check=1)
    summary = jlines(proc)[0]
    assert (summary["added"], summary["duplicates"], summary["rejected"]) == (3, 1, 2)
    assert [r["line"] for r in summary["rejected_lines"]] == [4, 7]
    err = proc.stderr.decode()
    assert "list.txt:4:" in err and "list.txt:7:" in err
    out = jlines(bank("export", "b", "--format", "ndjson", check=0))
    assert {o["value"]: o.get("metadata") for o in out} == {
        PDQ: None, MD5: {"note": "seen in report 12"}, SHA: {"source": "ncmec", "tags": ["a"]}}
    # Without --type a 64-digit value is PDQ, as documented.
    assert {o["value"]: o["type"] for o in out}[SHA] == "pdq"


def test_import_plain_reads_md5sum_and_sha256sum_output(bank, tmp_path):
    bank("create", "b", check=0)
    # md5sum's text mode, sha256sum's binary mode, a tab, and the comma form beside them.
    files = {"md5": f"{MD5}  evidence/a.jpg\n",
             "sha256": f"{SHA} *evidence/b c.png\n",
             "pdq": f"{PDQ}\t95\n{PDQ[:-1]}0 , from a partner\n"}
    for t, text in files.items():
        f = tmp_path / f"{t}.txt"
        f.write_text(text)
        assert jlines(bank("import", "b", f, "--type", t, "--json", check=0))[0]["rejected"] == 0
    out = {(o["type"], o["value"]): o.get("metadata") for o in
           jlines(bank("export", "b", "--format", "ndjson", check=0))}
    assert out == {("md5", MD5): {"note": "evidence/a.jpg"},
                   ("sha256", SHA): {"note": "evidence/b c.png"},
                   ("pdq", PDQ): {"note": "95"},
                   ("pdq", PDQ[:-1] + "0"): {"note": "from a partner"}}, out


def test_import_csv_with_quotes_and_extra_columns(bank, tmp_path):
    bank("create", "b", check=0)
    f = tmp_path / "list.csv"
    f.write_bytes(("value,type,category,note\r\n"
                   f"{PDQ},pdq,\"A1, B\",\"said \"\"hi\"\"\r\nover two lines\"\r\n"
                   f"{SHA},sha256,,\r\n"
                   "xyz,pdq,,\r\n"
                   f"\"{MD5}\",,\"unterminated\r\n"
                   f"{MD5},md5,c,\r\n").encode())
    proc = bank("import", "b", f, "--json", check=1)
    summary = jlines(proc)[0]
    assert summary["added"] == 3
    assert [r["line"] for r in summary["rejected_lines"]] == [5, 6]
    out = {o["value"]: o for o in jlines(bank("export", "b", "--format", "ndjson", check=0))}
    assert out[PDQ]["metadata"] == {"category": "A1, B", "note": 'said "hi"\r\nover two lines'}
    assert out[SHA]["type"] == "sha256" and "metadata" not in out[SHA]
    assert out[MD5]["metadata"] == {"category": "c"}
    g = tmp_path / "nohead.csv"
    g.write_text("type,hash\npdq," + PDQ + "\n")
    assert b"value" in bank("import", "b", g, check=1).stderr


def test_import_ndjson_and_stdin(bank):
    bank("create", "b", check=0)
    lines = [json.dumps({"type": "sha256", "value": SHA, "metadata": {"source": "x"}}),
             json.dumps({"value": MD5}),
             "{not json",
             json.dumps({"value": PDQ, "metadata": [1]}),
             json.dumps([PDQ]),
             json.dumps({"value": PDQ, "type": "url"})]
    proc = bank("import", "b", "-", "--format", "ndjson", "--json",
                input="\n".join(lines).encode(), check=1)
    summary = jlines(proc)[0]
    assert summary["added"] == 2
    assert [r["line"] for r in summary["rejected_lines"]] == [3, 4, 5, 6]
    assert b"<stdin>:3:" in proc.stderr


def test_import_refuses_over_long_lines_and_files(bank, tmp_path):
    bank("create", "b", check=0)
    f = tmp_path / "long.txt"
    f.write_text(PDQ + "," + "x" * 70000 + "\n" + MD5 + "\n")
    summary = jlines(bank("import", "b", f, "--json", check=1))[0]
    assert summary["added"] == 1 and summary["rejected_lines"][0]["line"] == 1
    assert "limit" in summary["rejected_lines"][0]["reason"]
    proc = bank("import", "b", f, "--max-bytes", "100", check=1)
    assert b"limit" in proc.stderr


@pytest.mark.parametrize("fmt", ["plain", "csv", "ndjson"])
def test_export_import_round_trip(bank, tmp_path, fmt):
    bank("create", "src", check=0)
    bank("add", "src", PDQ, "--metadata", '{"source": "a,b", "n": 1}', check=0)
    bank("add", "src", MD5, check=0)
    # Plain carries no type, and reads 64 hex digits back as pdq: it refuses a sha256
    # beside them (test_bank_types), so its round trip is of md5 and pdq.
    if fmt != "plain":
        bank("add", "src", "--type", "sha256", SHA, "--metadata", '{"q": "say \\"x\\""}', check=0)
    exported = bank("export", "src", "--format", fmt, check=0).stdout
    f = tmp_path / ("out." + fmt)
    f.write_bytes(exported)
    bank("create", "dst", check=0)
    bank("import", "dst", f, "--format", fmt, check=0)

    def content(name):
        return sorted((o["type"], o["value"], json.dumps(o.get("metadata"), sort_keys=True))
                      for o in jlines(bank("export", name, "--format", "ndjson", check=0)))
    assert content("src") == content("dst")


def test_usage_errors(bank, vigil):
    bank(check=2)
    bank("frobnicate", check=2)
    bank("create", check=2)
    bank("create", "a", "b", check=2)
    bank("import", "x", check=2)
    bank("list", "--format", "xml", check=2)
    bank("list", "--bogus", check=2)
    assert vigil("help", "bank", check=0).stdout.startswith(b"usage: vigil bank")


def test_db_from_environment(vigil_bin, tmp_path):
    import os
    import subprocess
    env = dict(os.environ, VIGIL_DB=str(tmp_path / "env.db"))
    subprocess.run([str(vigil_bin), "bank", "create", "e"], env=env, check=True,
                   capture_output=True)
    assert (tmp_path / "env.db").exists()


def test_every_change_is_audited_as_cli(bank, vigil, tmp_path):
    # Found in review: bank changes through the API were audited, the same changes
    # through the CLI were not. Each now appends its entry (actor "cli") in the same
    # transaction; a refused change appends none.
    def entries():
        p = vigil("audit", "list", "--json", "--db", bank.db, check=0)
        return [(e["actor"], e["action"], e["object_type"], e["object_id"], e["detail"])
                for e in jlines(p)]

    bank("create", "b", "--description", "d", check=0)
    bank("create", "b", check=1)             # exists: refused, not audited
    bank("add", "b", PDQ, MD5, "nothex", check=1)  # one bad value: the others go in
    bank("add", "b", PDQ, check=0)
    bank("remove", "b", MD5, check=0)
    bank("remove", "b", MD5, check=1)        # not there any more: nothing to audit
    bank("disable", "b", check=0)
    bank("enable", "b", check=0)
    f = tmp_path / "list.txt"
    f.write_text(f"{SHA}\nnot a hash\n")
    bank("import", "b", f, "--type", "sha256", check=1)
    bank("delete", "b", check=0)
    bank("delete", "b", check=1)
    assert entries() == [
        ("cli", "bank.create", "bank", "b", {"description": "d"}),
        ("cli", "signal.add", "bank", "b", {"added": 2, "revived": 0, "duplicates": 0}),
        ("cli", "signal.add", "bank", "b", {"added": 0, "revived": 0, "duplicates": 1}),
        ("cli", "signal.remove", "bank", "b", {"type": "md5", "value": MD5, "removed": 1}),
        ("cli", "bank.update", "bank", "b", {"enabled": False}),
        ("cli", "bank.update", "bank", "b", {"enabled": True}),
        ("cli", "signal.import", "bank", "b", {"file": str(f), "added": 1, "duplicates": 0,
                                              "revived": 0, "rejected": 1}),
        ("cli", "bank.delete", "bank", "b", {}),
    ]
    assert vigil("audit", "verify", "--db", bank.db, check=0).stdout == b"ok: 8 entries\n"


def test_the_servers_config_names_the_database(vigil_bin, tmp_path):
    # Found in review: with the server's config exported (VIGIL_CONFIG, as config.md
    # suggests), `vigil bank` and `vigil token` made ./vigil.db in the shell's folder, and
    # the hash list and tokens went where the server never looks.
    import subprocess
    server_db = tmp_path / "server.db"
    conf = tmp_path / "vigil.conf"
    conf.write_text(f"db = {server_db}\nlisten = 127.0.0.1:0\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "VIGIL_CONFIG": str(conf)}
    run = lambda *a, **kw: subprocess.run([str(vigil_bin), *a], capture_output=True,
                                          cwd=elsewhere, env={**env, **kw})
    assert run("bank", "create", "csam").returncode == 0
    assert run("token", "create", "--role", "scanner", "--name", "edge").returncode == 0
    assert server_db.exists() and not list(elsewhere.iterdir())
    listed = run("bank", "list", "--json").stdout.decode()
    assert json.loads(listed)["name"] == "csam"
    # VIGIL_DB is the layer above the file, as in vigil serve.
    other = tmp_path / "other.db"
    assert run("bank", "create", "x", VIGIL_DB=str(other)).returncode == 0
    assert other.exists()
    conf.write_text("db = \nno_such_option = 1\n")
    p = run("bank", "list")
    assert p.returncode == 2 and b"no_such_option" in p.stderr, p.stderr


def test_a_bank_set_up_from_the_shell_acts(vigil_bin, serve, bridge, tmp_path):
    # Found in review: following the README, a bank made with `vigil bank create` had no
    # actions and the CLI could neither set nor show them, so a CSAM match answered
    # "allow". --actions, --webhook-url and --webhook-secret-file set what PATCH does.
    import subprocess
    from conftest import BRIDGE_PDQ
    db = tmp_path / "v.db"
    run = lambda *a: subprocess.run([str(vigil_bin), "bank", *a, "--db", str(db)],
                                    capture_output=True)
    secret = tmp_path / "secret"
    secret.write_text("s3cret-key\n")
    assert run("create", "csam", "--actions", "block_url,open_case", "--webhook-url",
               "http://127.0.0.1:9/h", "--webhook-secret-file", str(secret)).returncode == 0
    assert run("add", "csam", BRIDGE_PDQ).returncode == 0
    shown = json.loads(run("show", "csam", "--json").stdout)
    assert shown["actions"] == ["block_url", "open_case"]
    assert shown["webhook_url"] == "http://127.0.0.1:9/h" and shown["webhook_secret_set"]
    assert b"(signed)" in run("show", "csam").stdout
    for bad in (["--actions", "block_url,nope"], ["--webhook-url", "ftp://x"], []):
        p = run("set", "csam", *bad)
        assert p.returncode == 2 and p.stderr, bad
    p = run("set", "csam", "--webhook-secret-file", str(tmp_path / "missing"))
    assert p.returncode == 1 and b"missing" in p.stderr
    audit = subprocess.run([str(vigil_bin), "audit", "list", "--json", "--db", str(db)],
                           capture_output=True, check=True).stdout.decode()
    assert "s3cret-key" not in audit and '"webhook_secret":"(set)"' in audit

    srv = serve(db=db)
    url = "https://host.example/a.jpg"
    r = srv.post("/v1/scan", role="scanner", params={"url": url},
                 data=(bridge / "aaa-orig.jpg").read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert r.json()["verdict"] == "block", r.text
    assert srv.get("/v1/decision", role="scanner", params={"url": url}).status_code == 451
    # `set` reaches the running server: without actions, a match only reports.
    assert run("set", "csam", "--actions", "none").returncode == 0
    r = srv.post("/v1/scan", role="scanner", params={"url": url + "?2"},
                 data=(bridge / "aaa-orig.jpg").read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert r.json()["verdict"] == "allow" and r.json()["matches"], r.text
