#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench/events/replay.py: `vigil replay` end to end, events per second by worker count.

Writes the benchmarks' synthetic stream once (build/bench/bench-events-gen: logins,
uploads with PDQ hashes, HTTP requests, attack campaigns; a million users) to a
temporary file with the banks it hits, imports the banks into a database with `vigil
bank create` and `vigil bank import`, then runs

    vigil replay --rules bench/rules --db DB --workers N --json EVENTS

--runs times for each worker count, the counts interleaved so a noisy neighbour hits
them alike. Each run starts from a fresh copy of the database, since replay writes the
labels its rules set there and would read them back at the next start. Prints, per
worker count, the median events/s with min and max (as replay measures it: reading,
decoding and evaluating, from the first line to the last verdict), the wall time of
the whole command (with start-up: loading the rules and the banks), the CPU time it used
per event and how many cores that kept busy, the ratio to one worker, and the verdicts
by action. Prints figures; never passes or fails on time
(DESIGN.md, Tests).

usage: bench/events/replay.py [--events 5000000] [--keys 1000000] [--runs 3]
                              [--workers 1,2] [--rules DIR] [--keep DIR]
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from banks import import_banks

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VIGIL_BUILD", ROOT / "build"))
VIGIL = BUILD / "vigil"
GEN = BUILD / "bench" / "bench-events-gen"


def make_input(work, events, keys):
    """The events file and a database holding the banks; returns their paths."""
    ev, banks, db = work / "events.ndjson", work / "banks", work / "banks.db"
    banks.mkdir(exist_ok=True)
    t0 = time.monotonic()
    with open(ev, "wb") as out:
        subprocess.run([str(GEN), "--events", str(events), "--keys", str(keys),
                        "--bank-out", str(banks)], stdout=out, check=True)
    print(f"events        {events} ({ev.stat().st_size / events:.0f} bytes each, {keys} keys), "
          f"written in {time.monotonic() - t0:.1f} s")
    for suffix in ("", "-wal", "-shm"):  # a --keep folder's last run made one
        pathlib.Path(str(db) + suffix).unlink(missing_ok=True)
    for bank, kind, lines in import_banks(VIGIL, banks, db, "replay.py"):
        print(f"bank          {bank}: {lines} {kind}")
    return ev, db


def replay(rules, db, ev, workers, work):
    """One run on a fresh copy of db: (replay's summary, wall seconds, CPU seconds)."""
    run_db = work / "run.db"
    for suffix in ("", "-wal", "-shm"):
        pathlib.Path(str(run_db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(db, run_db)
    t0, c0 = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([str(VIGIL), "replay", "--rules", str(rules), "--db", str(run_db),
                        "--workers", str(workers), "--json", str(ev)],
                       capture_output=True, text=True)
    wall, c1 = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"replay.py: vigil replay failed: {r.stderr.strip()}")
    cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
    return json.loads(r.stdout), wall, cpu


def tally(by_action, events):
    """"block 12 challenge 3 (0.15% of events)": the actions that occurred, and their share."""
    n = sum(by_action.values())
    return (" ".join(f"{k} {v}" for k, v in by_action.items() if v) or "none") + \
        f" ({100 * n / events:.2f}% of events)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=5000000)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--rules", default=str(ROOT / "bench" / "rules"))
    ap.add_argument("--keep", help="work in this folder and keep it (default: a temp folder)")
    a = ap.parse_args()
    for b in (VIGIL, GEN):
        if not b.exists():
            sys.exit(f"replay.py: {b} is missing: build first (make)")
    workers = [int(w) for w in a.workers.split(",")]
    work = pathlib.Path(a.keep or tempfile.mkdtemp(prefix="vigil-bench-replay-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"machine       {os.cpu_count()} cores")
        ev, db = make_input(work, a.events, a.keys)
        rates = {w: [] for w in workers}
        walls = {w: [] for w in workers}
        cpus = {w: [] for w in workers}
        last = {}
        for _ in range(a.runs):
            for w in workers:
                summary, wall, cpu = replay(a.rules, db, ev, w, work)
                rates[w].append(summary["events_per_second"])
                walls[w].append(wall)
                cpus[w].append(cpu)
                last[w] = summary
        base = statistics.median(rates[workers[0]])
        for w in workers:
            med = statistics.median(rates[w])
            ratio = f"  {med / base:.2f}x {workers[0]} worker" if w != workers[0] else ""
            # CPU per event shows what a worker count costs beside what it gains; cores
            # busy, whether the machine was saturated (or a thread waited on another).
            wall, cpu = statistics.median(walls[w]), statistics.median(cpus[w])
            print(f"replay {w:2d} worker{'s' if w > 1 else ' '} {med:10.0f} events/s "
                  f"(min {min(rates[w]):.0f}, max {max(rates[w]):.0f}; wall {wall:.2f} s, "
                  f"CPU {1e6 * cpu / a.events:.2f} us/event, {cpu / wall:.2f} cores busy)"
                  f"{ratio}")
        for w in workers:
            s = last[w]
            print(f"verdicts, {w} worker{'s' if w > 1 else ''}: live {tally(s['verdicts'], s['events'])}; "
                  f"shadow {tally(s['shadow_verdicts'], s['events'])}; errors {s['errors']}")
        print("target        1000000 events/s with 2 workers, 500000 with 1 (issue 6)")
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
