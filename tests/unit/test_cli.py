"""`ghostwright complete` on bad input: exit 2 and exactly one line on stderr, before any model."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "ghostwright.server", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_one_line_error(proc, fragment):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ghostwright: error: ") and fragment in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "mod.py"
    path.write_text("x = 1\ny = \n")
    return path


def test_missing_file(tmp_path):
    assert_one_line_error(run("complete", tmp_path / "no.py", "--line", 1, "--col", 1), "not found")


def test_directory(tmp_path):
    assert_one_line_error(run("complete", tmp_path, "--line", 1, "--col", 1), "is a directory")


def test_binary_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\x7fELF\x00\x01\x02")
    assert_one_line_error(run("complete", path, "--line", 1, "--col", 1), "binary file")


def test_invalid_utf8(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes("name = 'café'\n".encode("latin-1"))
    assert_one_line_error(run("complete", path, "--line", 1, "--col", 1), "not valid UTF-8")


@pytest.mark.parametrize(
    ("line", "col", "fragment"),
    [
        (0, 1, "line 0 is out of range"),
        (9, 1, "line 9 is out of range"),
        (2, 9, "column 9 is out of range"),
        (1, 0, "column 0 is out of range"),
    ],
)
def test_position_out_of_range(source, line, col, fragment):
    assert_one_line_error(run("complete", source, "--line", line, "--col", col), fragment)


def test_not_a_number(source):
    assert_one_line_error(run("complete", source, "--line", "x", "--col", 1), "invalid int value")


def test_bad_model_paths(source, tmp_path):
    args = ("complete", source, "--line", 2, "--col", 5, "--model")
    assert_one_line_error(run(*args, tmp_path / "missing.gguf"), "model file not found")
    assert_one_line_error(run(*args, source), "not a GGUF model file")


def test_corrupt_model_is_refused_by_llama_cpp(source, tmp_path):
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 5, 2) + b"\xff" * 64)
    proc = run("complete", source, "--line", 2, "--col", 5, "--model", corrupt)
    assert_one_line_error(proc, "llama.cpp rejected it")


def test_truncated_default_model_copy_is_refused(source, tmp_path, default_model_path):
    truncated = tmp_path / "truncated.gguf"
    with default_model_path.open("rb") as handle:
        truncated.write_bytes(handle.read(20_000_000))
    proc = run("complete", source, "--line", 2, "--col", 5, "--model", truncated)
    assert_one_line_error(proc, "llama.cpp rejected it")


def test_project_settings_file_is_read_and_flags_win(tmp_path):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / ".ghostwright.toml").write_text('model = "/nowhere/model.gguf"\nmax_lines = "x"\n')
    source = project / "pkg" / "mod.py"
    source.write_text("x = \n")
    proc = run("complete", source, "--line", 1, "--col", 5)
    assert proc.returncode == 2
    warning, error = proc.stderr.strip().splitlines()
    assert "max_lines" in warning and "warning" in warning
    assert error == "ghostwright: error: model file not found: /nowhere/model.gguf " + (
        "(set `model` to auto, a packaged tier (qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, "
        "gemma-3-270m) or a .gguf path)"
    )
    flagged = run("complete", source, "--line", 1, "--col", 5, "--model", tmp_path / "other.gguf")
    assert "other.gguf" in flagged.stderr
