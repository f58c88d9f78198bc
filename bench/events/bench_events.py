#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/events: POST /v1/events throughput and latency against a local `vigil serve`.

Starts `build/vigil serve --rules bench/rules` (or --rules DIR) on a free loopback port
with a fresh database, mints an ingest token, then runs C client threads that each post
batches of NDJSON events (logins, uploads, HTTP requests; many keys). Prints events/s and
the request latency percentiles: each request's time from send to answer is the bound
on "HTTP receipt to verdict" for every event in it, since the server answers only after
every event of the batch has been evaluated and its actions committed. Prints figures;
never passes or fails on time (DESIGN.md, Tests).

usage: bench/events/bench_events.py [--seconds 5] [--clients 4] [--batch 1000] [--rules DIR]
"""
import argparse
import http.client
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def events(n, rnd):
    out = []
    for i in range(n):
        k = rnd.random()
        ip = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        if k < 0.4:
            out.append('{"type":"login","ip":"%s","user":{"id":"u%d"},"ok":%s}'
                       % (ip, rnd.randrange(1000000), "true" if rnd.random() < 0.8 else "false"))
        elif k < 0.7:
            out.append('{"type":"http","ip":"%s","url":"https://s%d.example/p/%d"}'
                       % (ip, rnd.randrange(10000), rnd.randrange(1000)))
        else:
            out.append('{"type":"upload","ip":"%s","user":"u%d","pdq":"%064x"}'
                       % (ip, rnd.randrange(1000000), rnd.getrandbits(256)))
    return ("\n".join(out) + "\n").encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rules", default=None)
    ap.add_argument("--binary", default=str(ROOT / "build" / "vigil"))
    a = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="vigil-bench-events-"))
    rules = pathlib.Path(a.rules) if a.rules else ROOT / "bench" / "rules"
    if not rules.is_dir():
        rules = work / "rules"
        rules.mkdir()
        (rules / "r.lua").write_text(
            'rule("fails", function(e) if e.type == "login" and not e.ok and '
            'count("f:" .. e.ip, "1m") > 5 then verdict("challenge", "many failures") end end)\n'
            'rule("seen", function(e) if e.type == "http" then count("u:" .. e.ip, "10s") end end)\n')
    srv = subprocess.Popen([a.binary, "serve", "--listen", "127.0.0.1:0", "--db", str(work / "v.db"),
                            "--rules", str(rules), "--log-level", "warn"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(work))
    try:
        admin = srv.stdout.readline().decode().strip()
        port = int(srv.stdout.readline().decode().rsplit("port ", 1)[1].rstrip(")\n"))
        tok = subprocess.run([a.binary, "token", "create", "--role", "ingest", "--name", "bench",
                              "--db", str(work / "v.db")], capture_output=True, check=True)
        token = tok.stdout.decode().split()[0]
        del admin
        bodies = [events(a.batch, random.Random(s)) for s in range(8)]
        lat, count, lock = [], [0], threading.Lock()
        deadline = time.monotonic() + a.seconds

        def client(k):
            c = http.client.HTTPConnection("127.0.0.1", port)
            hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/x-ndjson"}
            i = k
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                c.request("POST", "/v1/events", body=bodies[i % len(bodies)], headers=hdr)
                r = c.getresponse()
                r.read()
                dt = time.perf_counter() - t0
                i += 1
                with lock:
                    lat.append(dt)
                    count[0] += a.batch if r.status == 200 else 0
        t0 = time.monotonic()
        ts = [threading.Thread(target=client, args=(k,)) for k in range(a.clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        secs = time.monotonic() - t0
        lat.sort()

        def pct(p):
            return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else 0.0
        print(f"machine       {os.cpu_count()} cores")
        print(f"events        {count[0]} in {secs:.2f} s ({a.clients} clients, batches of {a.batch})")
        print(f"events/s      {count[0] / secs:.0f}")
        print(f"latency ms    p50 {pct(0.5):.2f}  p99 {pct(0.99):.2f}  max {pct(1.0):.2f}"
              " (send to answer of one batch: bounds receipt-to-verdict)")
        print("target        300000 events/s; p99 under 10 ms at 100000 events/s (issue 6)")
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
