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
