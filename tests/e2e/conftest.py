# SPDX-License-Identifier: Apache-2.0
"""Fixtures for black-box tests of the vigil binary (build/vigil)."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def vigil():
    path = pathlib.Path(os.environ.get("VIGIL_BIN", ROOT / "build" / "vigil"))
    assert path.exists(), f"{path} is missing: run make first"

    def run(*args, input=None, check=None):
        proc = subprocess.run([str(path), *map(str, args)], input=input,
                              capture_output=True, timeout=300)
        if check is not None:
            assert proc.returncode == check, (proc.returncode, proc.stderr.decode(errors="replace"))
        return proc
    return run


@pytest.fixture(scope="session")
def pdq_dir():
    shared = pathlib.Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    d = shared / "conformance" / "pdq"
    assert (d / "expected.txt").exists(), f"{d} is missing: set VIGIL_SHARED"
    return d
