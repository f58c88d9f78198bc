#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/events: POST /v1/events throughput and latency against a local `vigil serve`.

Writes the benchmarks' synthetic stream (build/bench/bench-events-gen: logins, uploads
with PDQ hashes, HTTP requests, attack campaigns; a million users) and its banks to a
temporary folder, imports the banks into a fresh database (`vigil bank import`), starts
`vigil serve --rules bench/rules` on a free loopback port, mints an ingest token, then
drives the server with build/bench/bench-events-load (C, libcurl; one thread per
keep-alive connection), which cycles through the events in batches:

  throughput  closed loop: each connection posts its next batch (--batch, 1000 events)
              as soon as the last one is answered. Events/s, and latency from send to
              answer.
  paced       open loop at --rate events/s (100,000) in batches of --paced-batch (100):
              request k is due at start + k * batch / rate, and its latency counts from
              that due time, so a server that falls behind shows as latency
              (no coordinated omission). The server answers once every event of the
              batch has been evaluated and its actions committed, so a request's
              latency bounds "HTTP receipt to verdict" for each of its events.

The load client and the server share the machine's cores, so the figures are a floor for
the server alone. Prints figures; never passes or fails on time (DESIGN.md, Tests).

usage: bench/events/bench_events.py [--mode both|throughput|paced] [--seconds 10]
           [--connections 4] [--batch 1000] [--rate 100000] [--paced-batch 100]
           [--events 2000000] [--rules DIR]
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from banks import import_banks

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VIGIL_BUILD", ROOT / "build"))
VIGIL = BUILD / "vigil"
GEN = BUILD / "bench" / "bench-events-gen"
LOAD = BUILD / "bench" / "bench-events-load"


def prepare(work, events, db):
    """Writes the events and imports the banks into db; returns the events' path."""
    ev, banks = work / "events.ndjson", work / "banks"
    banks.mkdir()
    with open(ev, "wb") as out:
        subprocess.run([str(GEN), "--events", str(events), "--bank-out", str(banks)],
                       stdout=out, check=True)
    import_banks(VIGIL, banks, db, "bench_events.py")
    return ev


def serve(work, db, rules):
    """Starts `vigil serve` on a free port; returns (process, port)."""
    srv = subprocess.Popen([str(VIGIL), "serve", "--listen", "127.0.0.1:0", "--db", str(db),
                            "--rules", str(rules), "--log-level", "warn"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(work),
                           text=True)
    # The first start prints the admin token, then "listening on ... (port N)".
    for line in srv.stdout:
        m = re.search(r"\(port (\d+)\)", line)
        if m:
            return srv, int(m.group(1))
    srv.wait()
    sys.exit("bench_events.py: vigil serve did not start")


def load(port, token, ev, a, batch, rate):
    print(flush=True)
    cmd = [str(LOAD), "--url", f"http://127.0.0.1:{port}/v1/events", "--token", token,
           "--file", str(ev), "--batch", str(batch), "--connections", str(a.connections),
           "--seconds", str(a.seconds)]
    if rate:
        cmd += ["--rate", str(rate)]
    subprocess.run(cmd, check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("both", "throughput", "paced"), default="both")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000, help="events per request, throughput")
    ap.add_argument("--rate", type=float, default=100000, help="events/s offered, paced")
    ap.add_argument("--paced-batch", type=int, default=100, help="events per request, paced")
    ap.add_argument("--events", type=int, default=2000000, help="events generated, cycled")
    ap.add_argument("--rules", default=str(ROOT / "bench" / "rules"))
    a = ap.parse_args()
    for b in (VIGIL, GEN, LOAD):
        if not b.exists():
            sys.exit(f"bench_events.py: {b} is missing: build first (make)")
    work = pathlib.Path(tempfile.mkdtemp(prefix="vigil-bench-events-"))
    db = work / "v.db"
    srv = None
    try:
        ev = prepare(work, a.events, db)
        srv, port = serve(work, db, a.rules)
        tok = subprocess.run([str(VIGIL), "token", "create", "--role", "ingest", "--name",
                              "bench", "--db", str(db)], capture_output=True, check=True,
                             text=True)
        token = tok.stdout.split()[0]
        print(f"machine       {os.cpu_count()} cores; vigil serve --rules {a.rules}; "
              f"{a.events} events cycled")
        if a.mode in ("both", "throughput"):
            load(port, token, ev, a, a.batch, 0)
        if a.mode in ("both", "paced"):
            load(port, token, ev, a, a.paced_batch, a.rate)
        print("\ntarget        300000 events/s; p99 under 10 ms at 100000 events/s (issue 6)")
    finally:
        if srv:
            srv.terminate()
            srv.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
