"""Post-processing rules, on hand-made cases and on recorded real outputs of the default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ghostwright.server.pipeline.complete import _strip_healed
from ghostwright.server.pipeline.postprocess import Hole, open_brackets, trim

GOLDEN = json.loads((Path(__file__).parent / "golden" / "postprocess.json").read_text())


@pytest.mark.parametrize("case", GOLDEN, ids=[case["name"] for case in GOLDEN])
def test_golden_outputs_of_the_default_model(case):
    raw = _strip_healed(case["raw"], case["healed"])
    assert trim(raw, Hole(**case["hole"]), complete=case["complete"]).text == case["expected"]


def hole(line_prefix="", line_suffix="", **extra):
    return Hole(line_prefix=line_prefix, line_suffix=line_suffix, **extra)


def test_single_line_when_code_follows_the_cursor():
    assert hole("x = ", "foo()").single_line
    assert hole("x = ", ")").single_line  # after code that opens no block
    assert not hole("    ", "").single_line
    assert not hole("def f():", "").single_line
    assert hole("    ", "", max_lines=1).single_line
    assert hole("    ", '"""').code_after_cursor  # at the indentation of an existing line
    assert not hole("f(", '")').code_after_cursor


def test_single_line_stops_at_the_first_newline():
    result = trim("a + b\nprint(a)\n", hole("    return "))
    assert result == result.__class__("a + b", True, "single-line")


def test_partial_single_line_is_not_finished():
    assert not trim("a + ", hole("    return ")).finished


def test_block_ends_at_dedent():
    raw = "if x:\n        y()\nreturn z\n"
    assert trim(raw, hole("    "), complete=True).text == "if x:\n        y()"


def test_closing_brace_at_block_end_is_kept_unless_the_suffix_has_it():
    opened = hole("function f() {", open_brackets="{")
    assert trim("\n  return 1;\n}\n", opened, complete=True).text == "\n  return 1;\n}"
    with_brace = hole("function f() {", next_line="}", open_brackets="{")
    assert trim("\n  return 1;\n}\n", with_brace, complete=True).text == "\n  return 1;"


def test_blank_line_ends_a_paragraph():
    assert trim("a = 1\nb = 2\n\nc = 3\n", hole(""), complete=True).text == "a = 1\nb = 2"


def test_max_lines_caps_the_suggestion():
    raw = "".join(f"x{i} = {i}\n" for i in range(10))
    result = trim(raw, hole("", max_lines=3))
    assert result.text == "x0 = 0\nx1 = 1\nx2 = 2" and result.reason == "max-lines"


def test_repeated_line_is_cut():
    raw = "print(file)\nprint(file)\nprint(file)\n"
    assert trim(raw, hole("    "), complete=True).text == "print(file)"
    # the line above the cursor counts too
    assert trim(raw, hole("    ", previous_line="    print(file)"), complete=True).text == ""


def test_inline_loop_keeps_one_copy():
    raw = "print(file)print(file)print(file)print(file)print(file)"
    result = trim(raw, hole("    "))
    assert result.text == "print(file)" and result.finished


def test_separator_comment_is_not_a_loop():
    raw = "# ----------------------------------------"
    assert trim(raw, hole("")).text == raw


def test_suffix_echo_of_closer_is_removed_only_when_it_unbalances():
    assert trim("bar(x))", hole("foo(", ")", open_brackets="(")).text == "bar(x)"
    assert trim("bar(x)", hole("foo(", ")", open_brackets="(")).text == "bar(x)"
    assert trim("bar(x))", hole("foo(", ")")).text == "bar(x)"  # without knowing the prefix


def test_full_echo_of_the_rest_of_the_line_is_removed():
    result = trim('x if y else "none"\n', hole("v = ", ' else "none"', sees_suffix=True))
    assert result.text == "x if y"


def test_blind_model_must_agree_with_the_code_after_the_cursor():
    blind = hole("x = ", "compute(a)", sees_suffix=False)
    assert trim("total + compute(a)\n", blind).text == "total + "
    assert trim("something_else()\n", blind).text == ""


def test_pure_echo_gives_nothing():
    assert trim("@property\n", hole("    ", "@property", sees_suffix=False)).text == ""


def test_unmatched_closer_cuts_the_suggestion():
    assert trim("a, b)]\n", hole("f(", open_brackets="(")).text == "a, b)"
    assert trim("x])\n", hole("y = ", open_brackets="")).text == "x"


def test_brackets_in_strings_and_comments_do_not_count():
    assert open_brackets('s = "(" + f(x  # (\n') == "("
    assert open_brackets("it's (fine\n") == ""


def test_whitespace_only_output_is_nothing():
    assert trim("   \n\n", hole("    ")).text == ""


def test_partial_last_line_is_dropped_when_the_model_was_cut_off():
    raw = "a = 1\nb = compute("
    assert trim(raw, hole(""), complete=True).text == "a = 1\nb = compute("
    assert trim(raw, hole(""), complete=False).text == raw  # still generating: keep growing


def test_healed_whitespace_is_stripped_once():
    assert _strip_healed("    return x", "    ") == "return x"
    assert _strip_healed("  return x", "    ") == "return x"  # model dedented: keep its text
    assert _strip_healed(" x", "") == " x"


def test_empty_line_between_siblings_is_single_line():
    between = hole("    ", previous_line="    a = 1", next_line="    b = 2")
    assert between.single_line
    assert not hole("    ", previous_line="    a = 1", next_line="def g():").single_line
    assert not hole("    ", previous_line="    a = 1").single_line  # end of file


def test_column_zero_cursor_infers_indentation_like_an_editor():
    after_opener = hole("", previous_line="        if ok:", next_line="            more()")
    assert after_opener.cursor_indent() == 12 and after_opener.single_line
    deeper_follows = hole("", previous_line='    """', next_line="                deep()")
    assert deeper_follows.cursor_indent() == 4 and not deeper_follows.single_line


def test_block_end_uses_the_inferred_indentation():
    column_zero = hole("", previous_line="        if x:", next_line="        return y")
    raw = "            return False\n        return k % 2 == 0\n"
    assert trim(raw, column_zero, complete=True).text == "            return False"


@pytest.mark.parametrize(
    ("line_prefix", "line", "line_suffix", "whole"),
    [
        ("    return ", "sum(item.price for item in items)", "", True),
        ("    return ", "sum(item.price / len(", "", False),  # issue 21's cut-off edit
        ("    total = ", "price *", "", False),
        ("    name = ", "'unterminated", "", False),
        ("    if ", "value is None:", "", True),
        ("    print(", "total", ")", True),  # the closer is already after the cursor
        ("    x = ", "a and", "", False),
        ("    ", "return", "", False),
        ("    label = ", 'f"{name}: {value}"', "", True),
    ],
)
def test_a_line_cut_off_by_time_is_shown_only_when_it_reads_as_whole(
    line_prefix, line, line_suffix, whole
):
    from ghostwright.server.pipeline.postprocess import reads_as_whole

    assert reads_as_whole(line, hole(line_prefix, line_suffix)) is whole
