#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""FAISS side by side with bench-match: the same banks and queries, run through FAISS's
multi-index hashing for binary codes, IndexBinaryMultiHash(256, 16, 16) with nflip = 1
(exact for d <= 31 by the same pigeonhole argument as vigil's index), on one thread.

    build/bench/bench-match --sizes 1000000 --dump /tmp/vg-match-data
    /usr/bin/python3 bench/match_faiss.py /tmp/vg-match-data

Prints, per bank, build time, RSS growth per hash (each bank in a fresh process, so the
figure is not blurred by the previous one), queries/s at d = 31 for near and unrelated
queries (FAISS searches a batch at once, its best case; vigil's figure is one query per
call), and whether FAISS's hit count agrees with vigil's on every query. Figures only:
nothing here passes or fails. Needs Debian's python3-faiss; without it, says so.
"""
import glob
import os
import subprocess
import sys
import time

D = 31  # PDQ's usual threshold
RUNS = 3


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(path, dtype=None):
    import numpy as np
    if dtype:
        return np.fromfile(path, dtype=dtype)
    return np.fromfile(path, dtype=np.uint8).reshape(-1, 32)


def qps(index, queries):
    import numpy as np
    rates = []
    counts = None
    for _ in range(RUNS):
        t0 = time.perf_counter()
        # FAISS's range search keeps distances strictly below the radius.
        lims, _, _ = index.range_search(queries, D + 1)
        rates.append(len(queries) / (time.perf_counter() - t0))
        counts = np.diff(lims)
    rates.sort()
    return rates[len(rates) // 2], counts


def one(stem):
    import faiss
    faiss.omp_set_num_threads(1)
    xb, near, far = load(stem + ".base"), load(stem + ".near"), load(stem + ".far")
    # FAISS is ~100x slower per query: bound the run time at large sizes.
    cap = max(500, int(5e9 // len(xb)))
    near, far = near[:cap], far[:cap]
    print(f"\n== {os.path.basename(stem)}: {len(xb)} hashes, {len(near)} queries ==")
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    index = faiss.IndexBinaryMultiHash(256, 16, 16)
    index.nflip = 1
    index.add(xb)
    build = time.perf_counter() - t0
    grown = rss_bytes() - rss0
    print(f"build             {build:.3f} s")
    print(f"memory            {grown / len(xb):.1f} bytes/hash RSS growth "
          f"(FAISS keeps its own copy of the codes, 32 bytes/hash)")
    q_near, c_near = qps(index, near)
    q_far, c_far = qps(index, far)
    print(f"d=31 MultiHash    {q_near:9.0f} q/s near ({c_near.mean():.1f} hits/query)   "
          f"{q_far:9.0f} q/s unrelated ({c_far.mean():.2f} hits/query)   [1 thread, batch]")
    hits_path = stem + ".near-hits"
    if os.path.exists(hits_path):
        vigil = load(hits_path, dtype="<u4")[: len(near)]
        same = int((vigil == c_near).sum())
        print(f"agreement         FAISS and vigil return the same number of hits on "
              f"{same} of {len(near)} near queries")
    del index
    flat = faiss.IndexBinaryFlat(256)
    flat.add(xb)
    sample = near[: max(10, min(len(near), int(2e8 // len(xb))))]
    q_flat, c_flat = qps(flat, sample)
    print(f"d=31 flat scan    {q_flat:9.1f} q/s near ({len(sample)} queries)")
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        return one(sys.argv[2])
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    try:
        import faiss
        import numpy  # noqa: F401
    except ImportError:
        print("match_faiss: python3-faiss (and numpy) not installed; skipping")
        return 0
    print(f"match_faiss: FAISS {faiss.__version__}, 1 thread, {os.cpu_count()} cores")
    bases = glob.glob(os.path.join(sys.argv[1], "*.base"))
    for base in sorted(bases, key=lambda p: (os.path.basename(p).split("-")[0],
                                             int(p.rsplit("-", 1)[1][:-5]))):
        sys.stdout.flush()
        subprocess.run([sys.executable, os.path.abspath(__file__), "--one", base[:-5]],
                       check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
