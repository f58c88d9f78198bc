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
