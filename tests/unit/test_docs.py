"""The README's settings table and test command stay true to the code and to CI."""

from __future__ import annotations

import re
from pathlib import Path

from ghostwright.server.config import settings_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_settings_table_is_generated_from_the_schema():
    pattern = r"<!-- settings-table:start -->\n(.*)\n<!-- settings-table:end -->"
    table = re.search(pattern, README, re.S)
    assert table is not None and table.group(1) == settings_table()


def test_ci_runs_the_readme_test_command_verbatim():
    commands = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = next(command for command in commands if "pytest" in command)
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_readme_has_exactly_two_setup_commands():
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"```sh\n", setup)) == 2
