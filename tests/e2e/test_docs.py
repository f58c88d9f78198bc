# SPDX-License-Identifier: Apache-2.0
"""The documentation generated from code stays in step with it."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_config_doc_matches_the_option_table(vigil):
    table = vigil("serve", "--print-config-doc", check=0).stdout.decode()
    doc = (ROOT / "docs" / "config.md").read_text()
    assert table.strip() in doc, "regenerate docs/config.md with `vigil serve --print-config-doc`"
    assert doc.count(table.splitlines()[0]) == 1, "the table's header, once"


def test_every_command_is_in_help_and_the_readme(vigil):
    overview = vigil("help", check=0).stdout.decode()
    readme = (ROOT / "README.md").read_text()
    commands = [line.split()[0] for line in overview.splitlines()
                if line.startswith("  ") and line.strip()]
    assert "serve" in commands and "hash" in commands
    for cmd in commands:
        if cmd == "help":
            continue
        assert vigil("help", cmd, check=0).stdout, cmd
        assert f"vigil {cmd}" in readme, f"README does not mention `vigil {cmd}`"


def doc_block(doc, lang, after):
    """The first ```lang block of doc after the text `after`."""
    start = doc.index(f"```{lang}\n", doc.index(after)) + len(lang) + 4
    return doc[start:doc.index("```", start)]


def test_the_rules_guide_s_fixture_passes_against_its_first_rule(vigil, tmp_path):
    doc = (ROOT / "docs" / "rules.md").read_text()
    rule = doc_block(doc, "lua", "## A first rule")
    assert rule.startswith("-- rules/logins.lua\n"), rule
    (tmp_path / "logins.lua").write_text(rule)
    (tmp_path / "logins.test.ndjson").write_text(doc_block(doc, "json", "## Testing rules"))
    p = vigil("rules", "test", tmp_path)
    assert p.returncode == 0, p.stderr.decode()
    assert b"1 file with fixtures, 6 events, 0 failures" in p.stdout, p.stdout


def test_option_defaults_quoted_elsewhere_are_the_real_ones(vigil):
    # Found in review: docs/webhooks.md said webhook_attempts defaults to 8; it is 12.
    # Every "| option | default | ..." table in docs/ must agree with the option table.
    table = vigil("serve", "--print-config-doc", check=0).stdout.decode()
    defaults = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 2 and cells[0].startswith("`"):
            defaults[cells[0].strip("`")] = cells[2].strip("`")
    checked = 0
    for doc in sorted((ROOT / "docs").glob("*.md")):
        rows = None
        for line in doc.read_text().splitlines():
            if line.startswith("| option | default |"):
                rows = []
                continue
            if rows is None or not line.startswith("|"):
                rows = None
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0].startswith("`"):
                name = cells[0].strip("`")
                assert name in defaults, f"{doc.name}: no option {name}"
                assert cells[1].strip("`") == defaults[name], \
                    f"{doc.name}: {name} defaults to {defaults[name]}, not {cells[1]}"
                checked += 1
    assert checked >= 4


def test_the_webhook_receiver_example_refuses_hostile_timestamps():
    """Found in review: the example receivers are told to copy checked the timestamp with
    str.isdigit(), which accepts "²" and digit strings past int()'s limit: int() then
    raised, so an unauthenticated request crashed the handler instead of getting 401."""
    import hashlib
    import hmac
    import time
    doc = (ROOT / "docs" / "webhooks.md").read_text()
    code = doc_block(doc, "python", "In Python, with only the standard library")
    env = {"__name__": "webhook_example"}
    exec(compile(code, "webhooks.md", "exec"), env)
    ok = env["vigil_signature_ok"]
    secret, body = b"s3cret", b'{"bank":"csam"}'
    ts = str(int(time.time()))
    sig = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert ok(secret, {"X-Vigil-Timestamp": ts, "X-Vigil-Signature": sig}, body)
    for bad in ("\u00b2", "\u0663" * 10, "9" * 5000, "", "-1", " 1", ts + "\u00b2"):
        assert ok(secret, {"X-Vigil-Timestamp": bad, "X-Vigil-Signature": sig}, body) is False


def test_the_outbox_schema_names_every_kind_the_server_queues():
    """Found in review: GET /v1/outbox returns email items; the schema's kind enum did
    not allow them, so a generated client rejected the answer."""
    import re
    spec = (ROOT / "docs" / "openapi.yaml").read_text()
    enum = re.search(r"OutboxItem:.*?kind: \{type: string, enum: \[([^\]]*)\]", spec, re.S)
    kinds = {k.strip() for k in enum.group(1).split(",")}
    queued = set()
    for src in (ROOT / "src" / "api").glob("*.c"):
        text = src.read_text()
        queued |= set(re.findall(r'vg_store_outbox_enqueue\(\s*\w+,\s*"(\w+)"', text))
        for chosen in re.findall(r'const char \*kind = ([^;]*);', text):
            queued |= set(re.findall(r'"(\w+)"', chosen))
    assert {"webhook", "email", "authority_report"} <= queued, queued
    assert queued <= kinds, (queued, kinds)
