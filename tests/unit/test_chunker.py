"""Symbol chunks per language, line windows elsewhere, ids stable across runs."""

from __future__ import annotations

import pytest

from ghostwright.indexer.chunker import MAX_SYMBOL_LINES, WINDOW_LINES, chunk_file

PYTHON = '''"""Module docstring."""
import os

# Reads the file.
@cache
def read(path):
    """Return the text."""
    return open(path).read()


class Store:
    """Keeps things."""

    def put(self, key, value):
        self.items[key] = value
'''


def spans(chunks):
    return [(c.start_line, c.end_line, c.symbol) for c in chunks]


def test_python_symbols_keep_decorators_comments_and_docstrings():
    chunks = chunk_file("pkg/store.py", PYTHON, "python")
    assert spans(chunks) == [(0, 1, ""), (3, 7, "read"), (10, 14, "Store")]
    read = chunks[1]
    assert read.text.startswith("# Reads the file.\n@cache\ndef read(path):")
    assert '"""Return the text."""' in read.text


def test_a_large_class_is_split_into_a_header_and_its_methods():
    methods = "".join(f"    def m{i}(self):\n" + "        x = 1\n" * 8 + "\n" for i in range(12))
    text = 'class Big:\n    """Doc."""\n\n' + methods
    chunks = chunk_file("big.py", text, "python")
    symbols = [c.symbol for c in chunks]
    assert symbols[0] == "Big" and chunks[0].end_line < 3
    assert symbols[1:] == [f"Big.m{i}" for i in range(12)]


def test_an_overlong_function_becomes_overlapping_windows_that_keep_its_name():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_SYMBOL_LINES + 40))
    chunks = chunk_file("long.py", "def huge():\n" + body, "python")
    assert all(c.symbol == "huge" for c in chunks)
    assert all(c.end_line - c.start_line + 1 <= WINDOW_LINES for c in chunks)
    assert chunks[1].start_line < chunks[0].end_line  # overlap
    assert chunks[-1].end_line == MAX_SYMBOL_LINES + 40


@pytest.mark.parametrize(
    ("language", "path", "text", "expected"),
    [
        (
            "go",
            "a.go",
            "package m\n\n// Add adds.\nfunc Add(a, b int) int {\n\treturn a + b\n}\n",
            "Add",
        ),
        ("rust", "a.rs", "/// Doc.\nfn add(a: i32) -> i32 {\n    a\n}\n", "add"),
        ("javascript", "a.js", "// c\nfunction total(xs) {\n  return 1;\n}\n", "total"),
        ("typescript", "a.ts", "export function f(): number {\n  return 1;\n}\n", "f"),
        ("java", "A.java", "class A {\n  int m() { return 1; }\n}\n", "A"),
        (
            "c",
            "a.c",
            "#include <x.h>\n/* doc */\nstatic int *add(int a) {\n  return 0;\n}\n",
            "add",
        ),
        ("cpp", "a.cpp", "namespace n {\nint f() { return 1; }\n}\n", "n"),
    ],
)
def test_symbols_in_other_languages(language: str, path: str, text: str, expected: str):
    chunks = chunk_file(path, text, language)
    assert expected in [c.symbol for c in chunks]
    covered = {row for c in chunks for row in range(c.start_line, c.end_line + 1)}
    code_rows = {i for i, row in enumerate(text.split("\n")) if row.strip()}
    assert code_rows <= covered  # nothing is lost between symbols


def test_plain_text_gets_overlapping_windows():
    text = "\n".join(f"line {i}" for i in range(100))
    chunks = chunk_file("notes.md", text, "")
    assert [c.symbol for c in chunks] == [""] * len(chunks)
    assert chunks[0].start_line == 0 and chunks[-1].end_line == 99
    assert chunks[1].start_line < chunks[0].end_line


def test_ids_are_stable_for_unchanged_text_even_when_lines_move():
    first = {c.text: c.id for c in chunk_file("pkg/store.py", PYTHON, "python")}
    moved = chunk_file("pkg/store.py", "# new first line\n" + PYTHON, "python")
    kept = [c for c in moved if c.text in first]
    assert kept and all(first[c.text] == c.id for c in kept)
    assert {c.id for c in chunk_file("other.py", PYTHON, "python")}.isdisjoint(first.values())


def test_empty_and_broken_files():
    assert chunk_file("empty.py", "", "python") == []
    assert chunk_file("blank.py", "\n\n  \n", "python") == []
    broken = chunk_file("broken.py", "def f(:\n    return (\nclass\n", "python")
    assert broken  # a parse error still yields chunks
