"""`ghostwright eval` on the real evaluation data (skipped cleanly where it is absent)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.evaluate.data import find_data_dir

try:
    DATA = find_data_dir()
except GhostwrightError:
    DATA = None

SMALLEST = ("--model", "gemma-3-270m")  # any real model serves these tests: the smallest
needs_data = pytest.mark.skipif(DATA is None, reason="evaluation data not available")


def run_eval(*args, tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ghostwright.server",
            "eval",
            *map(str, args),
            "--json",
            str(out),
            "--data",
            str(DATA),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


@needs_data
def test_self_check_canonical_solutions_score_everything(tmp_path):
    report = run_eval("humaneval-single", "--oracle", "canonical", tmp_path=tmp_path)
    assert report["n"] == 1033 and report["metrics"]["pass@1"] == 1.0


@needs_data
def test_self_check_empty_completion_scores_the_known_floor(tmp_path):
    report = run_eval("humaneval-single", "--oracle", "empty", tmp_path=tmp_path)
    assert report["metrics"]["pass@1"] == pytest.approx(27 / 1033)  # about 2.6%


@needs_data
@pytest.mark.model
def test_the_smallest_tier_on_fifty_single_line_cases(tmp_path):
    report = run_eval("humaneval-single", "--limit", "50", *SMALLEST, tmp_path=tmp_path)
    assert report["benchmark"] == "humaneval-single" and report["n"] == 50
    assert report["model"] == "gemma-3-270m-q4_k_m.gguf" and report["adapter"] is None
    assert 0.0 <= report["metrics"]["pass@1"] <= 1.0
    assert set(report["latency_ms"]) == {"p50", "p95"}
    assert report["isolation"] in ("bubblewrap", "audit-hook") and not report["partial"]
    cases = (tmp_path / "result.cases.jsonl").read_text().splitlines()
    assert len(cases) == 50


@pytest.mark.model
def test_repo_on_an_installed_package(tmp_path):
    from pathlib import Path

    import rapidfuzz

    package = Path(rapidfuzz.__file__).parent
    report = run_eval("repo", package, "--limit", "10", *SMALLEST, tmp_path=tmp_path)
    assert report["n"] == 10 and "strata" in report and report["held_out_files"]
