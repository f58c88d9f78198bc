# SPDX-License-Identifier: Apache-2.0
"""The banks bench-events-gen writes (BANK.TYPE.txt, one value per line), put into a
vigil database with `vigil bank create` and `vigil bank import --type TYPE`: shared by
bench_events.py and replay.py."""
import subprocess
import sys


def import_banks(vigil, banks, db, who):
    """Imports every bank file under banks into db; returns [(bank, type, values)]. Exits
    with who's name and vigil's message when an import fails."""
    done = []
    for f in sorted(banks.glob("*.txt")):
        bank, kind = f.name[:-len(".txt")].rsplit(".", 1)
        subprocess.run([str(vigil), "bank", "create", bank, "--db", str(db)],
                       check=True, stdout=subprocess.DEVNULL)
        r = subprocess.run([str(vigil), "bank", "import", bank, str(f), "--type", kind,
                            "--db", str(db)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"{who}: `vigil bank import {bank} --type {kind}` failed: "
                     f"{r.stderr.strip()}")
        with open(f) as lines:
            done.append((bank, kind, sum(1 for _ in lines)))
    return done
