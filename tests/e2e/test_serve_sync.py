# SPDX-License-Identifier: Apache-2.0
"""Another process's writes reach a running server within seconds: blocks and lifts made
by a second server on the same database reach its decision API, and banks changed with
the CLI (add, import, disable, delete) reach its matching, while its own bank edits cost
no rebuild."""
import subprocess
import time

from conftest import BRIDGE_PDQ
from test_serve_flow import decision, make_bank, scan

URL = "https://sync.example/img.jpg"


def wait_for(srv, url, status, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if decision(srv, url).status_code == status:
            return True
        time.sleep(0.1)
    return False


def test_a_second_server_follows_blocks_and_lifts(serve, pdq_dir):
    a = serve()
    b = serve(db=a.db, roles=False)
    b.tokens = a.tokens  # one database, one set of tokens
    make_bank(a, name="shared", actions=("block_url",))
    assert decision(b, URL).status_code == 200
    out = scan(a, URL, pdq_dir / "images" / "bridge-mods" / "aaa-orig.jpg")
    assert out["verdict"] == "block"
    assert wait_for(b, URL, 451), "the other server never saw the block"
    block_id = [x for x in out["actions"] if x["type"] == "block_url"][0]["block_id"]
    assert a.delete(f"/v1/blocks/{block_id}", role="analyst").status_code == 200
    assert wait_for(b, URL, 200), "the other server never saw the lift"


def cli(vigil_bin, srv, *args):
    out = subprocess.run([str(vigil_bin), "bank", *args, "--db", str(srv.db)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def matched_banks(srv, **query):
    r = srv.post("/v1/match", role="scanner", json=query or {"pdq": BRIDGE_PDQ})
    assert r.status_code == 200, r.text
    return sorted({m["bank"] for m in r.json()["matches"]})


def eventually(what, cond, seconds=10):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_banks_changed_with_the_cli_reach_a_running_server(vigil_bin, serve, tmp_path, pdq_dir):
    srv = serve()
    make_bank(srv, name="api-made", actions=("block_url",))
    assert matched_banks(srv) == ["api-made"]
    # A bank made and filled by the CLI, one signal added and one imported.
    cli(vigil_bin, srv, "create", "cli-made")
    cli(vigil_bin, srv, "add", "cli-made", BRIDGE_PDQ)
    eventually("the server never saw the CLI's bank", lambda: matched_banks(srv) == ["api-made", "cli-made"])
    (tmp_path / "list.txt").write_text(BRIDGE_PDQ + "\n")
    cli(vigil_bin, srv, "create", "imported")
    cli(vigil_bin, srv, "import", "imported", str(tmp_path / "list.txt"), "--type", "pdq")
    eventually("the server never saw the import",
               lambda: matched_banks(srv) == ["api-made", "cli-made", "imported"])
    # Disabled by the CLI: no match, and a scan no longer blocks through it.
    cli(vigil_bin, srv, "disable", "api-made")
    eventually("a disabled bank kept matching", lambda: matched_banks(srv) == ["cli-made", "imported"])
    out = scan(srv, "https://cli.example/a.jpg", pdq_dir / "images" / "bridge-mods" / "aaa-orig.jpg")
    assert out["verdict"] != "block" and decision(srv, "https://cli.example/a.jpg").status_code == 200, out
    cli(vigil_bin, srv, "delete", "cli-made")
    cli(vigil_bin, srv, "remove", "imported", BRIDGE_PDQ)
    eventually("a deleted bank or removed signal kept matching", lambda: matched_banks(srv) == [])
    # The server's own edits keep the index in step without waiting for the follower.
    cli(vigil_bin, srv, "enable", "api-made")
    eventually("the enable was never seen", lambda: matched_banks(srv) == ["api-made"])
    r = srv.post("/v1/banks/api-made/signals", role="analyst",
                 json={"signals": [{"type": "md5", "value": "0" * 32}]})
    assert r.status_code == 200, r.text
    assert matched_banks(srv, md5="0" * 32) == ["api-made"]


def test_a_server_s_own_blocks_do_not_make_it_reread_every_block(serve, tmp_path):
    """Found in review: each block or lift, this server's own included, moved the block
    watermark and made the sync thread reload the whole block table (O(active blocks)
    per change, driven by event traffic). Now it applies only what changed: a block row
    edited behind its back (here its reason, which nothing in vigil changes that way) is
    not re-read when the server places another block, while blocks and lifts by other
    processes still arrive (test above)."""
    import sqlite3
    d = tmp_path / "rules"
    d.mkdir()
    (d / "r.lua").write_text(
        'rule("blk", function(e) if e.type == "post" then verdict("block", "x") end end)\n')
    srv = serve("--rules", str(d))

    def block(url):
        r = srv.post("/v1/events", role="ingest", data='{"type":"post","url":"%s"}' % url,
                     headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 200 and r.json()["actions"]["blocks"] == 1, r.text

    block("https://own.example/1")
    time.sleep(2.5)  # the sync thread's first look, after which only changes count
    db = sqlite3.connect(str(srv.db))
    db.execute("UPDATE blocks SET reason = 'edited behind its back' WHERE id = 1")
    db.commit()
    db.close()
    block("https://own.example/2")
    time.sleep(2.5)  # past a look that saw the watermark move
    r = decision(srv, "https://own.example/1")
    assert r.status_code == 451 and r.json()["reason"] == "rule blk: x", r.text
    assert decision(srv, "https://own.example/2").status_code == 451


# Found in review: any change by another process made the server read every enabled
# bank again (a one-signal `vigil bank add` to a small bank cost a full second re-reading
# an unrelated bank of a million signals, and rewrote the whole PDQ snapshot). Only the
# bank that changed is read now, whether the others were filled by the CLI or the API.
def test_a_cli_change_reads_only_the_bank_it_changed(vigil_bin, serve, tmp_path):
    db = tmp_path / "pre.db"
    subprocess.run([str(vigil_bin), "bank", "create", "big", "--db", str(db)], check=True,
                   capture_output=True)
    (tmp_path / "big.txt").write_text("".join("%032x\n" % i for i in range(3000)))
    cli_db = lambda *a: subprocess.run([str(vigil_bin), "bank", *a, "--db", str(db)],
                                       check=True, capture_output=True)
    cli_db("import", "big", str(tmp_path / "big.txt"))
    cli_db("create", "small")
    cli_db("add", "small", BRIDGE_PDQ)
    srv = serve("--log-level", "debug", db=db)
    # The server's own add to the big bank is in its index already: not read again.
    r = srv.post("/v1/banks/big/signals", role="analyst",
                 json={"signals": [{"type": "md5", "value": "f" * 32}]})
    assert r.status_code == 200, r.text
    other = "0" * 63 + "1"
    cli(vigil_bin, srv, "add", "small", other)
    eventually("the server never saw the CLI's add", lambda: matched_banks(srv, pdq=other) == ["small"])
    assert matched_banks(srv, md5="f" * 32) == ["big"]
    assert matched_banks(srv, md5="%032x" % 2999) == ["big"]
    follows = [l for l in srv.log_text().splitlines() if "event=index.follow " in l]
    assert follows and "banks_read=1 signals=2 " in follows[-1], follows
