# SPDX-License-Identifier: Apache-2.0
"""`vigil replay` and `vigil rules` end to end: the summary (people and --json), verdict
lines, bad lines reported with their number without stopping the run, errors and loops
in rules isolated, the same counts on 1 and 2 workers, labels kept across runs in the
database, match() against a bank, and `rules check` / `rules test` with their exit
statuses."""
import gzip
import json
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tests" / "fixtures" / "rules"

FAILS = """
rule("failed-logins", function(e)
	if e.type == "login" and not e.ok then
		if count("f:" .. e.ip, "5m") == 3 then verdict("block", "3 failures " .. e.ip) end
	end
end)
"""


def write_rules(d, **files):
    d.mkdir(exist_ok=True)
    for name, src in files.items():
        (d / f"{name}.lua").write_text(src)
    return d


def events(*evs):
    return "".join(json.dumps(e) + "\n" for e in evs).encode()


def logins(n_ips, per_ip):
    return [{"type": "login", "ip": f"10.0.{i // 256}.{i % 256}", "ok": False,
             "ts": 1700000000 + k} for k in range(per_ip) for i in range(n_ips)]


def test_replay_summary_and_verdicts(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", fails=FAILS)
    inp = tmp_path / "ev.ndjson"
    inp.write_bytes(events(*logins(50, 4)))
    out = tmp_path / "verdicts.ndjson"
    p = vigil("replay", "--rules", rules, "--workers", "2", "--json", "--verdicts", out, inp,
              check=0)
    s = json.loads(p.stdout)
    assert s["events"] == 200
    assert s["verdicts"] == {"allow": 0, "block": 50, "challenge": 0, "review": 0, "report": 0}
    assert s["errors"] == 0 and s["events_per_second"] > 0
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert len(lines) == 50
    assert {l["rule"] for l in lines} == {"failed-logins"}
    assert all(l["action"] == "block" and l["event"]["type"] == "login" for l in lines)
    assert all(l["reason"] == "3 failures " + l["event"]["ip"] for l in lines)
    human = vigil("replay", "--rules", rules, inp, check=0).stdout.decode()
    assert "events      200" in human and "block 50" in human and "events/s" in human


def test_same_counts_on_one_and_two_workers(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", fails=FAILS)
    inp = tmp_path / "ev.ndjson"
    inp.write_bytes(events(*logins(500, 7)))
    got = [json.loads(vigil("replay", "--rules", rules, "--workers", w, "--json", inp,
                            check=0).stdout) for w in ("1", "2")]
    assert got[0]["verdicts"] == got[1]["verdicts"]
    assert got[0]["verdicts"]["block"] == 500


def test_bad_lines_and_bad_rules_do_not_stop_the_replay(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", fails=FAILS, broken="""
rule("raises", function(e) if e.type == "boom" then error("nope") end end)
rule("loops", function(e) if e.type == "loop" then while true do end end end)
rule("escapes", function(e) if e.type == "esc" then os.execute("touch /tmp/x") end end)
""")
    body = (events(*logins(1, 3)) + b"not json\n" + b'{"no_type":1}\n' + b"\n" +
            b'{"type":"x"' + b"\n" + b'{"type":"big","pad":"' + b"x" * 70000 + b'"}\n' +
            events({"type": "boom"}, {"type": "loop"}, {"type": "esc"}) +
            events(*logins(1, 3)))
    p = vigil("replay", "--rules", rules, "--workers", "1", "--json", "-", input=body, check=0)
    s = json.loads(p.stdout)
    err = p.stderr.decode()
    assert s["events"] == 9
    assert s["bad_events"] == 4
    assert s["rule_errors"] == 2 and s["budget_stops"] == 1
    assert s["errors"] == 7
    assert s["verdicts"]["block"] == 1
    assert "line 4:" in err and "line 5:" in err and "line 7:" in err and "line 8:" in err
    assert "line 6:" not in err  # a blank line is not an event


def test_a_rule_error_from_event_data_cannot_forge_log_lines(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", kinds="""
rule("kinds", function(e) error("unknown kind " .. e.kind, 0) end)
""")
    forged = 'x" admin=yes\nts=2026-01-01T00:00:00.000Z level=info event=audit.ok msg="forged'
    p = vigil("replay", "--rules", rules, "--workers", "1", "-",
              input=events({"type": "t", "kind": forged}), check=0)
    lines = [l for l in p.stderr.decode().splitlines() if l.startswith("ts=")]
    assert len(lines) == 1 and "event=rules.error" in lines[0], lines
    # The message is one quoted value, as the other log values are.
    assert lines[0].endswith(' msg="unknown kind x\\" admin=yes\\u000ats=2026-01-01T00:00:00.000Z'
                             ' level=info event=audit.ok msg=\\"forged"'), lines[0]


def test_output_that_cannot_be_written_is_a_failure(vigil_bin, tmp_path):
    rules = write_rules(tmp_path / "r", fails=FAILS)
    inp = tmp_path / "ev.ndjson"
    inp.write_bytes(events(*logins(3, 4)))
    for args in (["replay", "--rules", rules, "--workers", "1", "--verdicts", "-", inp],
                 ["replay", "--rules", rules, "--workers", "1", "--json", inp],
                 ["rules", "check", rules],
                 ["version"]):
        with open("/dev/full", "wb") as full:
            p = subprocess.run([str(vigil_bin), *map(str, args)], stdout=full,
                               stderr=subprocess.PIPE, timeout=60)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        assert f"vigil {args[0]}: cannot write standard output: No space left on device" in \
            p.stderr.decode(), (args, p.stderr)


def test_gzip_input_and_byte_order_mark(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", fails=FAILS)
    body = events(*logins(300, 4))
    plain = tmp_path / "ev.ndjson"
    plain.write_bytes(body)
    packed = tmp_path / "ev.ndjson.gz"
    packed.write_bytes(gzip.compress(body))

    def summary(*args, **kw):
        s = json.loads(vigil("replay", "--rules", rules, "--json", *args, check=0, **kw).stdout)
        return s["events"], s["verdicts"]["block"], s["errors"]

    assert summary(plain) == (1200, 300, 0)
    assert summary(packed) == (1200, 300, 0)
    assert summary("-", input=gzip.compress(body)) == (1200, 300, 0)
    # Concatenated members (rotated logs joined with cat) are one input; the rule blocks
    # at the third failure only, so the second copy adds events and no verdicts.
    assert summary("-", input=gzip.compress(body) + gzip.compress(body)) == (2400, 300, 0)
    assert summary("-", input=b"\xef\xbb\xbf" + body) == (1200, 300, 0)
    assert summary("-", input=gzip.compress(b"\xef\xbb\xbf" + body)) == (1200, 300, 0)
    # Not at the start, a byte order mark is part of its line: a bad line.
    second = body.index(b"\n") + 1
    assert summary("-", input=body[:second] + b"\xef\xbb\xbf" + body[second:])[2] == 1

    z = gzip.compress(body)
    p = vigil("replay", "--rules", rules, "--json", "-", input=z[:len(z) // 2], check=1)
    assert b"cannot read -: the gzip data ends early" in p.stderr, p.stderr
    assert 0 < json.loads(p.stdout)["events"] < 1200  # what came before is replayed
    bad = z[:len(z) - 8] + bytes(b ^ 0xff for b in z[-8:])  # a wrong CRC and length
    err = vigil("replay", "--rules", rules, "-", input=bad, check=1).stderr
    assert b"cannot read -: incorrect data check" in err, err
    err = vigil("replay", "--rules", rules, tmp_path / "none.ndjson", check=1).stderr
    assert b"No such file or directory" in err, err


def test_ts_in_rfc3339_and_any_unit_sets_the_windows(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", fails=FAILS)
    t = 1700000000  # 2023-11-14T22:13:20Z
    # The rule blocks at the third failure in 5m. Each time is a minute or more from the
    # edge of a window, so the counters' granularity cannot change the answer.
    ts = ["2023-11-14T22:13:20Z",  # t
          "2023-11-14T23:17:20.5+01:00",  # t + 4m 0.5s
          (t + 420) * 1000,  # t + 7m, in milliseconds: the first has dropped out
          (t + 480) * 1000000000]  # t + 8m, in nanoseconds: the third in 5m
    body = events(*({"type": "login", "ip": "192.0.2.1", "ok": False, "ts": x} for x in ts))
    out = tmp_path / "v.ndjson"
    vigil("replay", "--rules", rules, "--verdicts", out, "-", input=body, check=0)
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    assert [l["line"] for l in lines] == [4], lines


def test_an_event_without_a_believable_ts_takes_the_streams_time(vigil, tmp_path):
    # Past events, with a time from a broken clock (the year 4822), one without a ts and
    # one with a ts that is no time among them: none of those may move the key's window
    # out of the past, so every event counts with the ones before it.
    rules = write_rules(tmp_path / "r", n="""
rule("n", function(e) verdict("allow", tostring(count("k", "1m"))) end)
""")
    ts = [1700000000, 1700000001, 90000000000, 1700000002, None, "garbage", 1700000003]
    body = events(*({"type": "t", "ip": "192.0.2.1"} | ({"ts": x} if x is not None else {})
                    for x in ts))
    out = tmp_path / "v.ndjson"
    vigil("replay", "--rules", rules, "--workers", "2", "--verdicts", out, "-", input=body,
          check=0)
    got = sorted((json.loads(l) for l in out.read_text().splitlines()), key=lambda v: v["line"])
    assert [v["reason"] for v in got] == [str(i) for i in range(1, 8)], got


def test_partition_key_as_a_dotted_path(vigil, tmp_path):
    rules = write_rules(tmp_path / "r", u="""
rule("u", function(e) verdict("allow", tostring(count("u", e.user.id, "1h"))) end)
""")
    # One user from 40 addresses: only a key on the user keeps its count on one worker.
    body = events(*({"type": "t", "ip": f"10.0.0.{i}", "user": {"id": "alice"}}
                    for i in range(40)))

    def top(key):
        p = vigil("replay", "--rules", rules, "--workers", "2", "--partition-key", key,
                  "--verdicts", "-", "-", input=body, check=0)
        counts = [int(json.loads(l)["reason"]) for l in p.stdout.decode().splitlines()]
        return max(counts), p.stderr.decode().count("event=rules.partition_key_missing")

    assert top("user.id") == (40, 0)
    assert top("user") == (40, 0)
    most, warned = top("user.name")  # not in the events: round robin, said once
    assert most < 40 and warned == 1


def test_labels_persist_across_runs_and_match_uses_banks(vigil, tmp_path):
    db = tmp_path / "v.db"
    vigil("bank", "create", "phish", "--db", db, check=0)
    vigil("bank", "add", "phish", "--db", db, "--type", "url", "https://phish.test/login",
          check=None)
    rules = EXAMPLES
    first = events({"type": "report", "subject": "mallory"})
    vigil("replay", "--rules", rules, "--db", db, "-", input=first, check=0)
    second = events({"type": "upload", "user": {"id": "mallory"}},
                    {"type": "upload", "user": {"id": "alice"}})
    p = vigil("replay", "--rules", rules, "--db", db, "--json", "-", input=second, check=0)
    assert json.loads(p.stdout)["verdicts"]["review"] == 1


def test_a_bank_name_that_is_no_banks_is_logged_once(vigil, tmp_path):
    db = tmp_path / "v.db"
    vigil("bank", "create", "phish", "--db", db, check=0)
    rules = write_rules(tmp_path / "r", m="""
rule("typo", function(e)
	if match("phish-url", e.url) or match("phish", e.url) then verdict("block", "x") end
end)
""")
    body = events(*({"type": "http", "url": f"https://a.example/{i}"} for i in range(5)))
    for db_args in (["--db", db], []):
        p = vigil("replay", "--rules", rules, "--workers", "1", *db_args, "-", input=body,
                  check=0)
        err = p.stderr.decode()
        assert err.count("event=rules.no_bank") == (1 if db_args else 2), err
        assert 'bank="phish-url"' in err


def test_rules_check(vigil, tmp_path):
    p = vigil("rules", "check", EXAMPLES, check=0)
    out = p.stdout.decode()
    assert "failed-logins" in out and "accounts-per-ip (shadow)" in out
    on = write_rules(tmp_path / "on", a="rule('x', {on = {'login', 'signup'}}, function(e) end)\n"
                     "rule('y', {on = 'http', shadow = true}, function(e) end)")
    out = vigil("rules", "check", on, check=0).stdout.decode()
    assert "x (on login, signup)\n" in out and "y (on http; shadow)\n" in out, out
    bad = write_rules(tmp_path / "bad", a="rule('x', function(e) end")
    p = vigil("rules", "check", bad, check=1)
    assert b"a.lua" in p.stderr
    dup = write_rules(tmp_path / "dup", a="rule('x', function(e) end)",
                      b="rule('x', function(e) end)")
    assert b"twice" in vigil("rules", "check", dup, check=1).stderr
    esc = write_rules(tmp_path / "esc", a="io.open('/etc/passwd')\nrule('x', function(e) end)")
    vigil("rules", "check", esc, check=1)
    vigil("rules", "check", tmp_path / "missing", check=1)
    vigil("rules", check=2)


def test_a_misspelt_option_is_refused_with_its_file_and_line(vigil, tmp_path):
    # {shaddow = true} made a live rule of one meant to be measured.
    for opts, why in (('{on = "signup", shaddow = true}', "unknown option 'shaddow'"),
                      ('{one = "login"}', "unknown option 'one'"),
                      ('{"login"}', "unknown option a number key"),
                      ('{on = "signup", shadow = "yes"}', "shadow is true or false, not string")):
        d = write_rules(tmp_path / f"o{len(why)}", a=f'\nrule("new-rule", {opts}, function(e) end)\n')
        (d / "a.test.ndjson").write_text(json.dumps({"type": "signup", "expect": []}) + "\n")
        for cmd in ("check", "test"):
            err = vigil("rules", cmd, d, check=1).stderr.decode()
            assert f"a.lua:2: rule 'new-rule': {why}" in err, (cmd, err)
    ok = write_rules(tmp_path / "ok", a='rule("x", {on = "a", shadow = false}, function(e) end)')
    vigil("rules", "check", ok, check=0)


def test_rules_test_fixtures(vigil, tmp_path):
    p = vigil("rules", "test", EXAMPLES, check=0)
    assert b"0 failures" in p.stdout
    d = write_rules(tmp_path / "t", fails=FAILS)
    (d / "fails.test.ndjson").write_text(
        json.dumps({"type": "login", "ip": "1.2.3.4", "ok": False, "expect": []}) + "\n" +
        json.dumps({"type": "login", "ip": "1.2.3.4", "ok": False, "expect": "block"}) + "\n")
    p = vigil("rules", "test", d, check=1)
    err = p.stderr.decode()
    assert "fails.test.ndjson:2" in err and "expected block" in err
    # A fixture saved with a byte order mark reads as one without.
    (d / "fails.test.ndjson").write_bytes(b"\xef\xbb\xbf" + (
        json.dumps({"type": "login", "ip": "1.2.3.4", "ok": False, "expect": []}) + "\n").encode())
    assert b"0 failures" in vigil("rules", "test", d, check=0).stdout


def test_rules_test_reports_rule_errors_and_stops_at_their_line(vigil, tmp_path):
    d = write_rules(tmp_path / "t", a="""
rule("a", function(e)
  if e.type == "x" then count("k", "5min") end
  if e.type == "y" then while true do end end
end)
""")
    (d / "a.test.ndjson").write_text(events({"type": "z", "expect": []}, {"type": "x", "expect": []},
                                            {"type": "y", "expect": []}).decode())
    err = vigil("rules", "test", d, check=1).stderr.decode()
    fx = d / "a.test.ndjson"
    assert f"FAIL {fx}:2: rule a: a.lua:3: count's window must be a duration" in err, err
    assert f"FAIL {fx}:3: rule a: budget of 50 ms of CPU time exceeded" in err, err
    assert "event=rules." not in err, err  # told once, as a failure, not also as a log line
    # A file that loops as it loads is named.
    loop = write_rules(tmp_path / "loop", a='rule("x", function(e) end)', b="while true do end")
    for cmd in ("check", "test"):
        err = vigil("rules", cmd, loop, check=1).stderr.decode()
        assert "b.lua: budget of 50 ms of CPU time exceeded" in err, err


def test_a_misnamed_fixture_is_an_error_not_a_pass(vigil, tmp_path):
    d = write_rules(tmp_path / "t", logins=FAILS)
    # login.test.ndjson beside logins.lua: before, nothing ran and the exit was 0.
    fx = d / "login.test.ndjson"
    fx.write_text(json.dumps({"type": "login", "ip": "1.2.3.4", "ok": False, "expect": "block"}) + "\n")
    err = vigil("rules", "test", d, check=1).stderr.decode()
    assert f"FAIL {fx}: no login.lua beside it to test" in err, err
    assert "nothing was tested" in err, err
    # No fixture at all, or one without events, tests nothing either.
    fx.unlink()
    assert "nothing was tested" in vigil("rules", "test", d, check=1).stderr.decode()
    (d / "logins.test.ndjson").write_text("\n")
    assert "nothing was tested" in vigil("rules", "test", d, check=1).stderr.decode()
    # A fixture that cannot be read fails; it is not taken for none.
    (d / "logins.test.ndjson").unlink()
    (d / "logins.test.ndjson").mkdir()
    err = vigil("rules", "test", d, check=1).stderr.decode()
    assert f"FAIL {d / 'logins.test.ndjson'}: not a regular file" in err, err


def test_rules_test_fixtures_match_against_a_database(vigil, tmp_path):
    db = tmp_path / "v.db"
    vigil("bank", "create", "nets", "--db", db, check=0)
    vigil("bank", "add", "nets", "--db", db, "--type", "ip", "203.0.113.0/24", check=0)
    d = write_rules(tmp_path / "m", nets="""
rule("bad-net", function(e) if match("nets", e.ip) then verdict("block", "bad network") end end)
""")
    (d / "nets.test.ndjson").write_text(
        json.dumps({"type": "http", "ip": "203.0.113.9", "expect": "block"}) + "\n" +
        json.dumps({"type": "http", "ip": "198.51.100.1", "expect": []}) + "\n")
    p = vigil("rules", "test", d, "--db", db, check=0)
    assert b"1 file with fixtures, 2 events, 0 failures" in p.stdout, p.stdout
    # Without the database match() finds nothing, so the first event fails its expectation.
    p = vigil("rules", "test", d, check=1)
    assert b"nets.test.ndjson:1" in p.stderr
    missing = tmp_path / "no" / "x.db"
    err = vigil("rules", "test", d, "--db", missing, check=1).stderr
    assert err == f"vigil rules test: {missing}: no such database (the file does not exist)\n" \
        .encode(), err
    vigil("rules", "test", d, "--db", check=2)

