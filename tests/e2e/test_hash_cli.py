# SPDX-License-Identifier: Apache-2.0
"""`vigil hash` end to end: the reference's hashes on the conformance set, the output
formats, ordering under -j, and what users see for bad input and bad usage."""
import hashlib
import json
import os
import pathlib
import shutil
import struct
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def hamming(a, b):
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def rows(path, ncols):
    """Parses a conformance file: ncols comma-separated fields, then the path."""
    out = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(",")
        out[parts[ncols].split(" ")[0]] = parts[:ncols]
    return out


def hashed(vigil, *args):
    proc = vigil("hash", *args, check=0)
    result = {}
    for line in proc.stdout.decode().splitlines():
        fields = line.split(",")
        result[fields[-1]] = fields[:-1]
    return result


def test_reproduces_every_reference_row(vigil, pdq_dir):
    images = pdq_dir / "images"
    expected = rows(pdq_dir / "expected.txt", 2)
    got = hashed(vigil, images)
    assert len(expected) >= 40
    for rel, (h, q) in expected.items():
        assert got[str(images / rel)] == [h, q], rel


def test_reproduces_every_dihedral_row(vigil, pdq_dir):
    images = pdq_dir / "images"
    expected = rows(pdq_dir / "expected-dihedral.txt", 9)
    got = hashed(vigil, "--dihedral", images)
    assert len(expected) >= 40
    for rel, fields in expected.items():
        assert got[str(images / rel)] == fields, rel


def test_cmyk_and_transformed_files_land_close(vigil, pdq_dir):
    images = pdq_dir / "images"
    got = hashed(vigil, "--dihedral", images)
    modes = images / "misc-images" / "modes"
    assert hamming(got[str(modes / "CMYK.jpg")][0], got[str(modes / "original.jpg")][0]) <= 16
    dih = images / "reg-test-input" / "dih"
    base = got[str(dih / "bridge-1-original.jpg")][:8]
    names = ["1-original", "2-rotate-90", "3-rotate-180", "4-rotate-270", "5-flipx",
             "6-flipy", "7-flip-plus-1", "8-flip-minus-1"]
    for i, name in enumerate(names):
        assert hamming(got[str(dih / f"bridge-{name}.jpg")][0], base[i]) <= 20, name


def test_json_output_fields_and_digests(vigil, pdq_dir):
    f = pdq_dir / "images" / "misc-images" / "modes" / "RGBA.png"
    proc = vigil("hash", "--json", f, check=0)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    data = f.read_bytes()
    assert obj["path"] == str(f)
    assert obj["md5"] == hashlib.md5(data).hexdigest()
    assert obj["sha256"] == hashlib.sha256(data).hexdigest()
    assert (obj["width"], obj["height"], obj["format"]) == (1600, 1004, "png")
    assert obj["quality"] == 100
    assert obj["pdq"] == "d8f8f0cee0f4a84f0637022a078f67f0b36e2ed596621e1d33e6339c4e9c9b22"
    dih = json.loads(vigil("hash", "--json", "--dihedral", f, check=0).stdout)["dihedral"]
    assert list(dih) == ["original", "rotate90", "rotate180", "rotate270", "flipx", "flipy",
                         "flip_plus1", "flip_minus1"]
    assert dih["original"] == obj["pdq"]


def test_json_survives_hostile_file_names(vigil, pdq_dir, tmp_path):
    name = tmp_path / 'we"ird\\na\tme\xe9.jpg'
    shutil.copy(pdq_dir / "images" / "misc-images" / "wee.jpg", name)
    obj = json.loads(vigil("hash", "--json", name, check=0).stdout)
    assert obj["path"] == str(name)


def test_a_newline_in_a_file_name_cannot_forge_a_line(vigil, pdq_dir, tmp_path):
    # Printed raw, this name added a well-formed line that `vigil bank import` banked.
    good = pdq_dir / "images" / "misc-images" / "wee.jpg"
    forged = "0123456789abcdef" * 4 + ",100,upload2.png"
    name = tmp_path / ("upload1.png\n" + forged)
    shutil.copy(good, name)
    (tmp_path / "back\\slash.jpg").write_bytes(b"no")
    proc = vigil("hash", tmp_path)
    assert proc.returncode == 1
    out = proc.stdout.decode().splitlines()
    assert len(out) == 1, out
    assert out[0].endswith("/upload1.png\\n" + forged)
    assert "back\\\\slash.jpg" in proc.stderr.decode()


def test_parallel_output_keeps_input_order(vigil, pdq_dir):
    images = pdq_dir / "images"
    one = vigil("hash", "-j", "1", images, check=0).stdout
    many = vigil("hash", "-j", "4", images, check=0).stdout
    assert one == many
    paths = [line.split(b",")[-1] for line in one.splitlines()]
    assert paths == sorted(paths), "folders are walked in name order"


def test_formats_are_found_from_content_not_name(vigil, pdq_dir, tmp_path):
    src = pdq_dir / "images" / "misc-images" / "modes" / "F.webp"
    disguised = tmp_path / "actually-webp.jpg"
    shutil.copy(src, disguised)
    a = hashed(vigil, src)[str(src)]
    b = hashed(vigil, disguised)[str(disguised)]
    assert a == b


def test_gif_decodes_plain_and_interlaced_alike(vigil):
    fixtures = ROOT / "tests" / "fixtures"
    got = hashed(vigil, *sorted(fixtures.glob("plasma*")))
    plain = got[str(fixtures / "plasma.gif")]
    assert got[str(fixtures / "plasma-interlaced.gif")] == plain
    # The PNG holds the same 256 colours; GIF encoding re-quantises a little.
    assert hamming(plain[0], got[str(fixtures / "plasma.png")][0]) <= 8
    assert int(plain[1]) >= 80


def test_a_gif_screen_smaller_than_its_frame_hashes_as_browsers_show_it(vigil, tmp_path):
    # Browsers grow the canvas to the first frame; refusing these let anyone patch four
    # header bytes of a banked GIF so that it was never hashed, so never matched.
    src = (ROOT / "tests" / "fixtures" / "plasma.gif").read_bytes()
    paths = []
    for w, h in ((0, 0), (16, 16), (320, 10)):
        p = tmp_path / f"screen{w}x{h}.gif"
        p.write_bytes(src[:6] + struct.pack("<HH", w, h) + src[10:])
        paths.append(p)
    proc = vigil("hash", "--json", ROOT / "tests" / "fixtures" / "plasma.gif", *paths)
    assert proc.returncode == 0, proc.stderr
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(got) == 4
    for g in got[1:]:
        assert (g["pdq"], g["width"], g["height"]) == (got[0]["pdq"], 320, 240), g["path"]


def test_bad_files_are_reported_and_the_rest_still_hash(vigil, pdq_dir, tmp_path):
    good = pdq_dir / "images" / "misc-images" / "wee.jpg"
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.read_bytes()[:300])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.jpg"
    proc = vigil("hash", text, good, truncated, empty, missing)
    assert proc.returncode == 1
    out = proc.stdout.decode().splitlines()
    assert len(out) == 1 and out[0].endswith(str(good))
    err = proc.stderr.decode()
    for bad in (text, truncated, empty, missing):
        assert str(bad) in err
    assert "not an image" in err or "unsupported" in err or "JPEG, PNG" in err


def test_a_fifo_is_reported_not_waited_for(vigil_bin, pdq_dir, tmp_path):
    # Opening a FIFO with no writer blocked for ever: nothing printed, not even the
    # lines of the files before it.
    good = pdq_dir / "images" / "misc-images" / "wee.jpg"
    shutil.copy(good, tmp_path / "a.jpg")
    os.mkfifo(tmp_path / "b.pipe")
    shutil.copy(good, tmp_path / "c.jpg")
    for args in ([tmp_path], ["-j", "1", tmp_path / "b.pipe", tmp_path / "a.jpg"]):
        proc = subprocess.run([str(vigil_bin), "hash", *map(str, args)], capture_output=True,
                              timeout=20)
        assert proc.returncode == 1
        assert "b.pipe: not a regular file" in proc.stderr.decode()
        assert proc.stdout.count(b"\n") == (2 if args == [tmp_path] else 1)


def test_hidden_entries_are_hashed_and_skipped_folders_are_reported(vigil, pdq_dir, tmp_path):
    # Hidden files and folders were skipped silently, and symlinked folders too, with
    # exit status 0: an upload tree was "all hashed" while parts were never looked at.
    good = pdq_dir / "images" / "misc-images" / "wee.jpg"
    tree, real = tmp_path / "tree", tmp_path / "real"
    (tree / ".cache").mkdir(parents=True)
    real.mkdir()
    for p in (tree / "a.jpg", tree / ".b.jpg", tree / ".cache" / "c.jpg", real / "d.jpg"):
        shutil.copy(good, p)
    (tree / "linkdir").symlink_to(real)
    proc = vigil("hash", tree)
    assert proc.returncode == 1
    names = sorted(line.rsplit(b"/", 1)[-1] for line in proc.stdout.splitlines())
    assert names == [b".b.jpg", b"a.jpg", b"c.jpg"]
    assert "linkdir: a symbolic link to a folder: not followed" in proc.stderr.decode()


def test_oversized_images_are_refused(vigil, pdq_dir):
    f = pdq_dir / "images" / "bridge-mods" / "aaa-orig.jpg"
    proc = vigil("hash", "--max-pixels", "1000000", f)
    assert proc.returncode == 1
    assert b"limit" in proc.stderr
    assert vigil("hash", "--max-side", "1600", f).returncode == 0
    assert vigil("hash", "--max-side", "1599", f).returncode == 1


def test_fast_mode_stays_close_to_exact(vigil, pdq_dir):
    images = pdq_dir / "images"
    exact = hashed(vigil, images)
    fast = hashed(vigil, "--fast", images)
    dists = [hamming(exact[p][0], fast[p][0]) for p in exact]
    assert max(dists) <= 24
    assert sum(d <= 10 for d in dists) >= 0.95 * len(dists)


def test_hma_compat_skips_the_pre_resize(vigil, pdq_dir):
    small = pdq_dir / "images" / "bridge-mods" / "square-256x256.jpg"
    large = pdq_dir / "images" / "bridge-mods" / "aaa-orig.jpg"
    ref = hashed(vigil, small, large)
    hma = hashed(vigil, "--compat", "hma", small, large)
    assert ref[str(small)] == hma[str(small)], "no resize below 512 either way"
    d = hamming(ref[str(large)][0], hma[str(large)][0])
    assert 0 < d <= 32, d


@pytest.mark.parametrize("args", [
    ["frobnicate"],
    ["hash"],
    ["hash", "--bogus", "x.jpg"],
    ["hash", "-j", "0", "x.jpg"],
    ["hash", "-j"],
    ["hash", "--compat", "nope", "x.jpg"],
    ["help", "nope"],
])
def test_usage_errors_exit_2_with_one_line(vigil, args):
    proc = vigil(*args)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vigil")
    assert proc.stdout == b""


def test_help_and_version(vigil):
    out = vigil("help", check=0).stdout.decode()
    assert "hash" in out and "version" in out
    assert "--dihedral" in vigil("help", "hash", check=0).stdout.decode()
    assert vigil("version", check=0).stdout.startswith(b"vigil ")
    assert json.loads(vigil("version", "--json", check=0).stdout)["version"]


@pytest.mark.parametrize("args", [
    ["version", "--help"], ["rules", "check", "--help"], ["rules", "test", "x", "-h"],
    ["bank", "list", "--help"], ["token", "--help"], ["report", "ingest-mail", "--help"],
    ["replay", "--help"], ["audit", "verify", "--help"], ["match", "--help"],
])
def test_every_command_takes_help_anywhere(vigil, args):
    # Found in review: `vigil version --help` was a usage error and `vigil rules check
    # --help` looked for a folder named --help.
    out = vigil(*args, check=0).stdout.decode()
    assert out.startswith("usage: vigil " + args[0]), out


def test_rules_test_takes_db_before_or_after_the_folder(vigil, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "a.lua").write_text('rule("a", function(e) verdict("block", "x") end)\n')
    (rules / "a.test.ndjson").write_text('{"type":"t","expect":["block"]}\n')
    db = tmp_path / "v.db"
    vigil("bank", "create", "b", "--db", db, check=0)
    vigil("rules", "test", "--db", db, rules, check=0)
    vigil("rules", "test", rules, "--db", db, check=0)
