"""Training samples: holes that reassemble the file, the server's prompts, split by file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.prompt_formats import (
    PREFIX_ONLY_FORMAT,
    TRAINED_FIM,
    PromptFormat,
    select_format,
)
from ghostwright.training.data.build import DATASET_VERSION, DataOptions, build_dataset
from ghostwright.training.data.samples import comment_to_code_holes, fim_holes, render

FIM = select_format(TRAINED_FIM, None)
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
PYTHON = '''import os


def area(width, height):
    """Return the area of a rectangle."""
    product = width * height
    return product


# Read the settings file and
# return its lines without blanks.
def read_settings(path):
    with open(path) as handle:
        return [line for line in handle if line.strip()]
'''


def test_every_fim_hole_reassembles_the_file():
    holes = fim_holes(PYTHON, "python", random.Random(0), 30)
    assert {kind for kind, _ in holes} == {"fim-line", "fim-node", "fim-span"}
    for _, (prefix, middle, suffix) in holes:
        assert prefix + middle + suffix == PYTHON and middle


def test_comment_to_code_holes():
    holes = comment_to_code_holes(PYTHON, "python")
    bodies = [middle for _, middle, _ in holes]
    assert "product = width * height\n    return product" in bodies  # after the indentation
    assert any(body.startswith("def read_settings(path):") for body in bodies)
    for prefix, middle, suffix in holes:
        assert prefix + middle + suffix == PYTHON


def test_samples_use_the_servers_prompt_format():
    hole = ("def f():\n    return ", "1\n", "\nprint(f())\n")
    trained = render(FIM, "a.py", hole, "fim-line")  # suffix first: the prefix ends the prompt
    assert trained.prompt == "<unused0><unused1>\nprint(f())\n<unused2>def f():\n    return"
    assert trained.completion == " 1\n<unused3>"  # the trailing space is the model's to write
    assert trained.order == "spm"
    assert trained.prompt == FIM.render("def f():\n    return", "\nprint(f())\n")
    markers = PromptFormat("psm-model", "<P>", "<S>", "<M>", stop=("<E>",))
    psm = render(markers, "a.py", hole, "fim-line")
    assert psm.prompt == "<P>def f():\n    return<S>\nprint(f())\n<M>"
    assert (psm.order, psm.completion) == ("psm", " 1\n<E>")
    spm = render(markers, "a.py", hole, "fim-line", spm=True)
    assert (spm.prompt, spm.order) == ("<P><S>\nprint(f())\n<M>def f():\n    return", "spm")
    prefix_only = render(PREFIX_ONLY_FORMAT, "a.py", hole, "fim-line", spm=True)
    assert prefix_only.prompt == "def f():\n    return"


def make_repo(root: Path, files: int = 12) -> Path:
    root.mkdir()
    for number in range(files):
        (root / f"mod{number}.py").write_text(PYTHON.replace("area", f"area{number}"))
    (root / "secrets_here.py").write_text(f'KEY = "{AWS_KEY}"\n\n\ndef f():\n    return KEY\n')
    (root / "copy.py").write_text(PYTHON.replace("area", "area0"))  # duplicates mod0.py
    return root


def test_build_splits_by_file_scrubs_secrets_and_counts(tmp_path: Path):
    root = make_repo(tmp_path / "repo")
    folder = build_dataset(root, tmp_path / "out", FIM, DataOptions())
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = {
        split: [json.loads(line) for line in (folder / f"{split}.jsonl").open()]
        for split in ("train", "validation")
    }
    paths = {split: {row["path"] for row in items} for split, items in rows.items()}
    assert paths["validation"] and not paths["train"] & paths["validation"]
    for split, items in rows.items():
        assert sum(manifest["samples"][split].values()) == len(items)
    text = (folder / "train.jsonl").read_text() + (folder / "validation.jsonl").read_text()
    assert AWS_KEY not in text and "<redacted>" in text
    assert manifest["duplicates"] > 0  # copy.py repeats mod0.py's holes
    assert manifest["format"] == TRAINED_FIM and manifest["version"] == DATASET_VERSION
    kinds = {kind for split in manifest["samples"].values() for kind in split}
    assert "comment-to-code" in kinds and "fim-line" in kinds


def test_rebuilding_replaces_the_dataset_whole(tmp_path: Path):
    root = make_repo(tmp_path / "repo")
    first = build_dataset(root, tmp_path / "out", FIM)
    (first / "stale.txt").write_text("left over")
    again = build_dataset(root, tmp_path / "out", FIM)
    assert again == first and not (again / "stale.txt").exists()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_a_repository_without_source_files_is_a_clear_error(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("just text\n")
    with pytest.raises(GhostwrightError, match="no source files"):
        build_dataset(tmp_path, tmp_path / "out", FIM)


def test_trailing_indentation_moves_into_the_target_as_the_server_prompts():
    sample = render(FIM, "a.py", ("def f():\n    ", "return 1\n", ""), "fim-line")
    assert sample.prompt == "<unused0><unused1><unused2>def f():\n"
    assert sample.completion == "    return 1\n<unused3>"
