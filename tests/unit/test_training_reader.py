"""Every training path reads repository text through `training/data/reader.py`: the index's file
rules with the workspace's own, and secrets redacted."""

from __future__ import annotations

import ast
from pathlib import Path

from ghostwright.indexer.secrets import REDACTED
from ghostwright.training.data.reader import training_files, training_text

TRAINING = Path(__file__).parents[2] / "training"
READER = TRAINING / "data" / "reader.py"
# What reads or lists source text, or redacts it: only the reader may use these.
RAW_READERS = {"read_source", "iter_source_files", "scrub"}
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # split so this file does not trip scanners itself


def test_no_training_module_reads_source_text_around_the_reader():
    bypasses = []
    for module in sorted(TRAINING.rglob("*.py")):
        if module == READER:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                used = {alias.name for alias in node.names} & RAW_READERS
            elif isinstance(node, ast.Attribute | ast.Name):
                used = {getattr(node, "attr", None) or getattr(node, "id", None)} & RAW_READERS
            else:
                continue
            bypasses += [f"{module.relative_to(TRAINING)}:{node.lineno} {name}" for name in used]
    assert bypasses == []


def test_the_reader_redacts_and_follows_the_workspaces_own_rules(tmp_path: Path):
    (tmp_path / "app.py").write_text(f"# deploy key {AWS_KEY}\ndef run():\n    return 1\n")
    (tmp_path / "vendored.py").write_text("def other():\n    return 2\n")
    (tmp_path / ".env").write_text(f"AWS_KEY={AWS_KEY}\n")  # a secret file: never listed
    (tmp_path / ".ghostwright.toml").write_text('index_exclude = ["vendored.py"]\n')
    files = training_files(tmp_path)
    assert [item.relative for item in files] == ["app.py"]
    text = training_text(files[0])
    assert AWS_KEY not in text and REDACTED in text and "def run():" in text
    files[0].path.unlink()
    assert training_text(files[0]) is None  # gone since it was listed: skipped, not an error
