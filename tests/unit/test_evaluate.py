"""Evaluation pieces without a model: data loading, metrics, repo holes, reports, comparison."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.evaluate import data, metrics
from ghostwright.training.evaluate.compare import compare_reports
from ghostwright.training.evaluate.repo_holes import mine_repository, split_files
from ghostwright.training.evaluate.runner import oracle_predictor, run_report, select


def write_gz(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)


HUMANEVAL_ROW = {
    "task_id": "SingleLineInfilling/HumanEval/0/L1",
    "entry_point": "add",
    "prompt": "def add(a, b):\n",
    "canonical_solution": "    return a + b\n",
    "suffix": "\n",
    "test": "def check(f):\n    assert f(1, 2) == 3\n",
}


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "evaldata"
    write_gz(
        root / "humaneval-infilling" / "HumanEval-SingleLineInfilling.jsonl.gz", [HUMANEVAL_ROW]
    )
    write_gz(
        root / "santacoder-fim" / "santacoder-fim-task.jsonl.gz",
        [
            {
                "name": "a",
                "language": "py",
                "prompt": "if x:\n    y()\nelse:",
                "suffix": "\n",
                "canonical_solution": "    z()",
                "tests": "",
            },
            {
                "name": "b",
                "language": "js",
                "prompt": "function f() {\n  return 1;",
                "suffix": "g();",
                "canonical_solution": "}",
                "tests": "",
            },
        ],
    )
    return root


def test_data_dir_precedence_and_error(data_dir, monkeypatch, tmp_path):
    assert data.find_data_dir(data_dir) == data_dir.resolve()
    monkeypatch.setenv(data.ENV_VARIABLE, str(data_dir))
    assert data.find_data_dir() == data_dir.resolve()
    monkeypatch.setenv(data.ENV_VARIABLE, str(tmp_path / "nowhere"))
    with pytest.raises(GhostwrightError, match="--data DIR or set GHOSTWRIGHT_EVALDATA"):
        data.find_data_dir()


def test_whole_line_holes_put_the_cursor_on_an_empty_line(data_dir):
    (case,) = data.load_humaneval(data_dir, "humaneval-single")
    assert case.prefix == "def add(a, b):\n" and case.suffix == "\n\n"
    assert case.target == "    return a + b" and (case.line, case.column) == (1, 0)
    assert case.prefix + case.target + case.suffix == "def add(a, b):\n    return a + b\n\n"


def test_santacoder_languages_and_trivial_targets(data_dir):
    cases = data.load_santacoder(data_dir)
    assert [case.language for case in cases] == ["python", "javascript"]
    assert not cases[0].trivial and cases[1].trivial
    assert cases[1].text == "function f() {\n  return 1;\n\ng();"
    assert [case.case_id for case in data.load_santacoder(data_dir, ("javascript",))] == ["b"]


def test_metrics():
    assert metrics.exact_match("  x = 1 ", "x = 1")
    assert metrics.edit_similarity("abcd", "abce") == pytest.approx(0.75)
    assert metrics.identifier_match("foo(bar)", "foo( bar )")
    assert not metrics.identifier_match("foo(baz)", "foo(bar)")
    assert metrics.parses("x = (1,\n)", "python") and not metrics.parses("x = (", "python")
    assert metrics.parses("function f() { return 1; }", "javascript")
    assert metrics.parses("function f( { return 1; }", "javascript") is False
    assert metrics.parses("anything", "cobol") is None
    low, high = metrics.bootstrap_interval([0, 1] * 50)
    assert low < 0.5 < high


def test_select_is_reproducible_and_keeps_order():
    cases = list(range(100))
    assert select(cases, 10, seed=3) == select(cases, 10, seed=3)
    assert select(cases, 10, seed=3) == sorted(select(cases, 10, seed=3))
    assert select(cases, None, seed=0) == cases


def test_oracle_report_and_its_cases_file(data_dir, tmp_path):
    cases = data.load_humaneval(data_dir, "humaneval-single")
    out = tmp_path / "out" / "result.json"
    report = run_report(
        "humaneval-single",
        cases,
        oracle_predictor("canonical"),
        out,
        executes=True,
        context={"model": "oracle"},
        progress=False,
    )
    assert report["metrics"]["pass@1"] == 1.0 and report["n"] == 1 and not report["partial"]
    assert json.loads(out.read_text())["latency_ms"] == {"p50": 0.0, "p95": 0.0}
    log = out.with_name("result.cases.jsonl").read_text()
    logged = [json.loads(line) for line in log.splitlines()]
    assert logged[0]["scores"]["passed"] is True


def test_interrupted_run_leaves_a_valid_partial_result(data_dir, tmp_path):
    cases = data.load_humaneval(data_dir, "humaneval-single") * 3
    calls = []

    def predict(case):
        calls.append(case)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return oracle_predictor("canonical")(case)

    out = tmp_path / "partial.json"
    report = run_report(
        "humaneval-single", cases, predict, out, executes=True, context={}, progress=False
    )
    assert report["partial"] and report["n"] == 1 and report["planned"] == 3
    assert json.loads(out.read_text())["partial"] is True


def make_repo(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "shapes.py").write_text(
        "class Rectangle:\n    def __init__(self, width, height):\n        self.width = width\n"
        "        self.height = height\n\n    def area(self):\n"
        '        """Width times height."""\n        return self.width * self.height\n'
    )
    for index in range(8):
        (root / "pkg" / f"use_{index}.py").write_text(
            "from pkg.shapes import Rectangle\n\n\n"
            f"def build_{index}(size):\n"
            '    """A square made of a rectangle."""\n'
            "    shape = Rectangle(size, size)\n    total = shape.area()\n    return total\n"
        )
    (root / ".env").write_text("SECRET=1\n")
    return root


def test_repo_holes_are_deterministic_labelled_and_split_by_file(tmp_path):
    root = make_repo(tmp_path / "repo")
    first = mine_repository(root, seed=1)
    again = mine_repository(root, seed=1)
    assert [c.case_id for c in first.cases] == [c.case_id for c in again.cases]
    held_out = set(first.description["held_out_files"])
    assert held_out and ".env" not in held_out
    assert {case.case_id.split("#")[0] for case in first.cases} <= held_out
    assert {case.stratum for case in first.cases} <= set(
        ["whole-line", "end-of-line", "span", "docstring-body", "cross-file"]
    )
    for case in first.cases:
        original = (root / case.case_id.split("#")[0]).read_text()
        assert case.prefix + case.target + case.suffix == original.rstrip("\n") + "\n" * (
            original.endswith("\n")
        )


def test_cross_file_holes_use_names_from_context_files(tmp_path):
    root = make_repo(tmp_path / "repo")
    for seed in range(10):
        mined = mine_repository(root, seed=seed)
        if "pkg/shapes.py" in mined.description["held_out_files"]:
            continue
        cross = [case for case in mined.cases if case.stratum == "cross-file"]
        if cross:
            assert all("Rectangle" in case.target for case in cross)
            return
    pytest.fail("no seed produced a cross-file hole")


def test_split_never_empties_either_side(tmp_path):
    root = make_repo(tmp_path / "repo")
    from ghostwright.indexer.files import iter_source_files

    files = list(iter_source_files(root))
    for seed in range(20):
        held_out, context = split_files(files, seed)
        assert held_out and context and not set(held_out) & set(context)


def test_compare_reports_table_and_chart(data_dir, tmp_path):
    cases = data.load_humaneval(data_dir, "humaneval-single")
    paths = []
    for kind in ("empty", "canonical"):
        out = tmp_path / f"{kind}.json"
        run_report(
            "humaneval-single",
            cases,
            oracle_predictor(kind),
            out,
            executes=True,
            context={"model": f"oracle:{kind}"},
            progress=False,
        )
        paths.append(out)
    table = compare_reports(paths, tmp_path / "chart.png")
    assert "| canonical | oracle:canonical | 1 |" in table
    assert "Δ +1.000" in table
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_one_percentile_rule_for_status_and_reports():
    from ghostwright.server.percentiles import percentile

    latencies = [40.0, 10.0, 30.0, 20.0]
    assert percentile(latencies, 0.5) == 20.0  # a value that was measured: nearest rank
    assert percentile(latencies, 0.95) == 40.0 and percentile([], 0.5) == 0.0
