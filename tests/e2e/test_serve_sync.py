# SPDX-License-Identifier: Apache-2.0
"""Blocks written by another process reach a running server's decision API: two servers
on one database, one blocks and lifts, the other answers accordingly within seconds."""
import time

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
