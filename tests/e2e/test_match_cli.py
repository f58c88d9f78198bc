# SPDX-License-Identifier: Apache-2.0
"""`vigil match` end to end: the PDQ matching conformance pairs (needles against the
haystack at distance 31), the bridge modifications against their original, exact MD5 and
SHA-256 matches, quality floors, bank selection, snapshots, and usage errors."""
import hashlib
import json

import pytest


@pytest.fixture
def db(tmp_path):
    return tmp_path / "v.db"


def jlines(proc):
    return [json.loads(l) for l in proc.stdout.decode().splitlines() if l.strip()]


def hashes(path):
    return [l.strip() for l in path.read_text().splitlines() if l.strip()]


def expected_pairs(path):
    pairs = set()
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            n, h, d = map(int, line.split(","))
            pairs.add((n, h, d))
    return pairs


@pytest.mark.parametrize("snapshot_min", ["0", "100000000"])
def test_needles_against_haystack_at_31(vigil, pdq_dir, db, snapshot_min):
    vigil("bank", "create", "haystack", "--db", db, check=0)
    vigil("bank", "import", "haystack", pdq_dir / "haystack.txt", "--type", "pdq", "--db", db,
          check=0)
    hay = hashes(pdq_dir / "haystack.txt")
    needles = hashes(pdq_dir / "needles.txt")
    line_of = {h: i + 1 for i, h in enumerate(hay)}
    got = set()
    # Twice: the second run starts from the snapshot when one was written.
    for _ in range(2):
        out = jlines(vigil("match", "--hashes", pdq_dir / "needles.txt", "--threshold", "31",
                           "--snapshot-min", snapshot_min, "--json", "--db", db, check=0))
        assert [o["query"] for o in out] == needles
        got = set()
        for n, o in enumerate(out, 1):
            ds = [m["distance"] for m in o["matches"]]
            assert ds == sorted(ds)
            for m in o["matches"]:
                assert m["type"] == "pdq" and m["bank"] == "haystack"
                got.add((n, line_of[m["value"]], m["distance"]))
        assert got == expected_pairs(pdq_dir / "expected-matches-d31.txt")
    snap = db.parent / (db.name + ".pdq-index")
    assert snap.exists() == (snapshot_min == "0")


def test_bridge_mods_match_the_original(vigil, pdq_dir, db):
    images = pdq_dir / "images" / "bridge-mods"
    orig = vigil("hash", images / "aaa-orig.jpg", check=0).stdout.decode().split(",")[0]
    vigil("bank", "create", "bridge", "--db", db, check=0)
    vigil("bank", "add", "bridge", orig, "--metadata", '{"source": "test"}', "--db", db, check=0)
    out = jlines(vigil("match", images, "--json", "--db", db, check=0))
    assert len(out) == len(list(images.iterdir())) >= 10
    for o in out:
        assert len(o["matches"]) == 1, o["query"]
        m = o["matches"][0]
        assert m["bank"] == "bridge" and m["value"] == orig and m["distance"] <= 31
        assert m["metadata"] == {"source": "test"}
    people = vigil("match", images / "aaa-orig.jpg", "--db", db, check=0).stdout.decode()
    assert "1 match" in people and "bridge/" in people


def test_exact_digests_of_image_bytes(vigil, pdq_dir, db):
    img = pdq_dir / "images" / "bridge-mods" / "aaa-orig.jpg"
    data = img.read_bytes()
    md5, sha = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    vigil("bank", "create", "digests", "--db", db, check=0)
    vigil("bank", "add", "digests", md5, "--db", db, check=0)
    vigil("bank", "add", "digests", "--type", "sha256", sha, "--db", db, check=0)
    out = jlines(vigil("match", img, "--json", "--db", db, check=0))[0]
    assert sorted((m["type"], m["distance"]) for m in out["matches"]) == [
        ("md5", 0), ("sha256", 0)]
    # A 64-digit value is looked up as PDQ and as SHA-256.
    out = jlines(vigil("match", "--hash", sha.upper(), "--json", "--db", db, check=0))[0]
    assert [m["type"] for m in out["matches"]] == ["sha256"]
    out = jlines(vigil("match", "--hash", md5, "--json", "--db", db, check=0))[0]
    assert [m["type"] for m in out["matches"]] == ["md5"]


def test_hash_and_md5sum_output_pipe_into_match(vigil, pdq_dir, db):
    images = pdq_dir / "images" / "bridge-mods"
    hashed = vigil("hash", images, check=0).stdout  # HASH,QUALITY,PATH lines
    orig = vigil("hash", images / "aaa-orig.jpg", check=0).stdout.decode().split(",")[0]
    md5 = hashlib.md5((images / "aaa-orig.jpg").read_bytes()).hexdigest()
    vigil("bank", "create", "b", "--db", db, check=0)
    vigil("bank", "add", "b", orig, md5, "--db", db, check=0)
    out = jlines(vigil("match", "--hashes", "-", "--json", "--db", db, input=hashed, check=0))
    assert len(out) == len(hashed.splitlines()) >= 10
    assert all(o["matches"] and o["matches"][0]["value"] == orig for o in out)
    sums = f"{md5}  {images / 'aaa-orig.jpg'}\n{md5} *x.jpg\n".encode()  # md5sum, text and binary
    out = jlines(vigil("match", "--hashes", "-", "--json", "--db", db, input=sums, check=0))
    assert [[m["type"] for m in o["matches"]] for o in out] == [["md5"], ["md5"]]


def test_banks_selection_disable_and_removal(vigil, db):
    h1 = "f" * 64
    h2 = "f" * 63 + "0"  # distance 4 from h1
    for name, h in (("one", h1), ("two", h2)):
        vigil("bank", "create", name, "--db", db, check=0)
        vigil("bank", "add", name, h, "--db", db, check=0)

    def banks(*args):
        out = jlines(vigil("match", "--hash", h1, "--json", "--db", db, *args, check=0))[0]
        return [m["bank"] for m in out["matches"]]
    assert banks() == ["one", "two"]
    assert banks("--bank", "two") == ["two"]
    assert banks("--threshold", "3") == ["one"]
    vigil("bank", "disable", "one", "--db", db, check=0)
    assert banks() == ["two"]
    assert banks("--bank", "one") == []
    vigil("bank", "enable", "one", "--db", db, check=0)
    vigil("bank", "remove", "one", h1, "--db", db, check=0)
    assert banks() == ["two"]
    vigil("match", "--hash", h1, "--bank", "nope", "--db", db, check=1)


def test_low_quality_images_are_not_pdq_matched(vigil, pdq_dir, db):
    img = pdq_dir / "images" / "bridge-mods" / "aaa-orig.jpg"
    h = vigil("hash", img, check=0).stdout.decode().split(",")[0]
    vigil("bank", "create", "b", "--db", db, check=0)
    vigil("bank", "add", "b", h, "--db", db, check=0)
    out = jlines(vigil("match", img, "--min-quality", "100", "--json", "--db", db, check=0))[0]
    assert out["low_quality"] is False and out["matches"]
    # Find a low-quality image in the conformance set, if any, and check the floor on it.
    rows = [l.split(",") for l in (pdq_dir / "expected.txt").read_text().splitlines()
            if l and not l.startswith("#")]
    low = [(r[0], int(r[1]), r[2].split(" ")[0]) for r in rows if int(r[1]) < 50]
    if not low:
        pytest.skip("no image under quality 50 in the conformance set")
    lh, q, rel = low[0]
    vigil("bank", "add", "b", lh, "--db", db, check=0)
    out = jlines(vigil("match", pdq_dir / "images" / rel, "--json", "--db", db, check=0))[0]
    assert out["low_quality"] is True and out["quality"] == q
    assert all(m["type"] != "pdq" for m in out["matches"])
    out = jlines(vigil("match", pdq_dir / "images" / rel, "--all-qualities", "--json",
                       "--db", db, check=0))[0]
    assert any(m["value"] == lh for m in out["matches"])


def test_dihedral_matches_rotations(vigil, pdq_dir, db):
    rows = [l.split(",") for l in (pdq_dir / "expected-dihedral.txt").read_text().splitlines()
            if l and not l.startswith("#")]
    hashes8, rel = rows[0][:8], rows[0][9].split(" ")[0]
    img = pdq_dir / "images" / rel
    vigil("bank", "create", "rot", "--db", db, check=0)
    vigil("bank", "add", "rot", hashes8[1], "--db", db, check=0)  # rotate90 variant
    plain = jlines(vigil("match", img, "--all-qualities", "--threshold", "0", "--json",
                         "--db", db, check=0))[0]
    dih = jlines(vigil("match", img, "--all-qualities", "--threshold", "0", "--dihedral",
                       "--json", "--db", db, check=0))[0]
    assert [m["distance"] for m in dih["matches"]] == [0]
    assert plain["matches"] == [] or hashes8[0] == hashes8[1]


def test_bad_inputs_and_usage(vigil, db, tmp_path):
    vigil("bank", "create", "b", "--db", db, check=0)
    f = tmp_path / "h.txt"
    f.write_text("# comment\n" + "a" * 64 + "\nnothex\n" + "b" * 32 + "\n")
    proc = vigil("match", "--hashes", f, "--json", "--db", db, check=1)
    assert len(jlines(proc)) == 2 and b"h.txt:3:" in proc.stderr
    vigil("match", "--hashes", "-", "--db", db, input=b"c" * 64 + b"\n", check=0)
    # A byte order mark, as Windows tools write, is not part of the first hash.
    proc = vigil("match", "--hashes", "-", "--db", db, input=b"\xef\xbb\xbf" + b"c" * 64 + b"\r\n", check=0)
    assert proc.stdout.startswith(b"c" * 64 + b"\t"), proc.stdout
    vigil("match", tmp_path / "missing.jpg", "--db", db, check=1)
    for args in (["--threshold", "64", "--hash", "a" * 64], ["--threshold", "-1", "--hash",
                 "a" * 64], ["--hash", "xyz"], [], ["--hash", "a" * 64, "--hashes", f],
                 ["--min-quality", "101", "x.jpg"], ["--bogus"]):
        vigil("match", "--db", db, *args, check=2)
    vigil("match", "--threshold", "63", "--hash", "a" * 64, "--db", db, check=0)
