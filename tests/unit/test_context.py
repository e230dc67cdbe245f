"""Prefix/suffix windows: budgets, line boundaries, the stable anchor, huge lines."""

from __future__ import annotations

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.pipeline.context import Budget, build_window


def words(text: str) -> int:
    return len(text.split())


def numbered(count: int) -> str:
    return "\n".join(f"line {i} value" for i in range(count))  # 3 tokens per line


def test_small_file_fits_whole():
    text = "a = 1\nb = 2\nc = 3\n"
    window = build_window(text, 1, 2, Budget(prompt_tokens=100), words)
    assert window.prefix == "a = 1\nb " and window.suffix == "= 2\nc = 3\n"
    assert window.line_prefix == "b " and window.line_suffix == "= 2"
    assert window.first_line == 0


def test_prefix_is_cut_at_a_line_boundary_within_budget():
    text = numbered(100)
    budget = Budget(prompt_tokens=40, suffix_share=0.25, anchor_lines=1)
    window = build_window(text, 50, 0, budget, words)
    assert window.prefix.startswith("line ")  # a whole line, not a fragment
    prefix_cost = sum(words(row) + 1 for row in window.prefix.split("\n")[:-1])
    assert prefix_cost <= budget.prefix_tokens
    assert window.first_line == 50 - prefix_cost // 4


def test_suffix_gets_its_share():
    window = build_window(numbered(100), 10, 0, Budget(prompt_tokens=40, suffix_share=0.25), words)
    suffix_lines = window.suffix.split("\n")
    assert 1 < len(suffix_lines) <= 10 // 4 + 2


def test_prefix_start_is_stable_while_typing_down_the_file():
    text = numbered(400)
    budget = Budget(prompt_tokens=400, anchor_lines=32)
    starts = {build_window(text, line, 0, budget, words).first_line for line in range(200, 230)}
    assert len(starts) <= 2  # moves at most once in 30 lines
    assert all(start % 32 == 0 for start in starts)


def test_a_small_window_keeps_its_lines_above_the_cursor():
    """A 24-token window (a cold request's) fits 5 lines: rounding its start up to the 32-line
    grid would leave nothing before the cursor."""
    text = numbered(400)
    for line in range(200, 240):
        window = build_window(text, line, 0, Budget(prompt_tokens=24, anchor_lines=32), words)
        assert line - window.first_line >= 3


def test_huge_single_line_is_clipped_not_tokenized_whole():
    calls = []

    def counting(text: str) -> int:
        calls.append(len(text))
        return len(text) // 4

    line = "x" * 5_000_000
    window = build_window(line, 0, 2_500_000, Budget(prompt_tokens=100), counting)
    assert len(window.line_prefix) <= 75 * 4 and len(window.line_suffix) <= 25 * 4
    assert max(calls) <= 100 * 8


@pytest.mark.parametrize(("line", "column"), [(-1, 0), (3, 0), (0, 6), (0, -1)])
def test_positions_outside_the_document_are_rejected(line, column):
    with pytest.raises(GhostwrightError, match="out of range"):
        build_window("a = 1\nb\n", line, column, Budget(), words)


def test_end_of_line_and_empty_document_are_valid():
    assert build_window("abc", 0, 3, Budget(), words).line_prefix == "abc"
    assert build_window("", 0, 0, Budget(), words).prefix == ""
