"""Where comment-to-code applies, per language, and the request and edit it builds."""

from __future__ import annotations

import pytest

from ghostwright.server.pipeline.comment_to_code import (
    GenerationSite,
    complete_body,
    find_site,
    generation_request,
    replacement,
)


@pytest.mark.parametrize(
    ("language", "text", "line", "expected"),
    [
        (
            "python",
            'def add(a, b):\n    """Sum."""\n    pass\n\n\nx = 1\n',
            1,
            GenerationSite(2, 3, "    ", "docstring-stub"),
        ),
        (
            "python",
            'def add(a, b):\n    """Sum.\n\n    More.\n    """\n\ny = 2\n',
            2,
            GenerationSite(5, 5, "    ", "docstring-stub"),
        ),
        (
            "python",
            'class A:\n    def f(self):\n        """Do."""\n        raise NotImplementedError\n',
            2,
            GenerationSite(3, 4, "        ", "docstring-stub"),
        ),
        (
            "python",
            'def f():\n    """Do."""\n    ...\n',
            1,
            GenerationSite(2, 3, "    ", "docstring-stub"),
        ),
        (
            "python",
            "import os\n# list the python files\n\nprint(1)\n",
            1,
            GenerationSite(2, 2, "", "comment-block"),
        ),
        (
            "javascript",
            "/**\n * Add.\n */\nfunction add(a, b) {\n  // TODO\n}\n",
            1,
            GenerationSite(4, 5, "  ", "docstring-stub"),
        ),
        (
            "typescript",
            "// Add two numbers.\nfunction add(a: number, b: number): number {\n}\n",
            0,
            GenerationSite(2, 2, "    ", "docstring-stub"),
        ),
        (
            "rust",
            "/// Adds.\nfn add(a: i32, b: i32) -> i32 {\n    todo!()\n}\n",
            0,
            GenerationSite(2, 3, "    ", "docstring-stub"),
        ),
        (
            "go",
            "// Add adds.\nfunc Add(a, b int) int {\n}\n",
            0,
            GenerationSite(2, 2, "\t", "docstring-stub"),
        ),
        (
            "java",
            "  /** Adds. */\n  int add(int a, int b) {\n"
            "    throw new UnsupportedOperationException();\n  }\n",
            0,
            GenerationSite(2, 3, "    ", "docstring-stub"),
        ),
        (
            "cpp",
            "// largest of two\nint max(int a, int b) {\n    // TODO\n}\n",
            0,
            GenerationSite(2, 3, "    ", "docstring-stub"),
        ),
        (
            "c",
            "int x;\n// compute the max of two ints\n",
            1,
            GenerationSite(2, 2, "", "comment-block"),
        ),
    ],
)
def test_sites(language, text, line, expected):
    assert find_site(text.split("\n"), line, language) == expected


@pytest.mark.parametrize(
    ("language", "text", "line"),
    [
        ("python", 'def add(a, b):\n    """Sum."""\n    return a + b\n', 1),  # has a body
        ("python", "# list files\nfiles = os.listdir()\n", 0),  # code follows the comment
        ("python", "x = 1\n", 0),  # not a comment
        ("c", "// adds\nint add(int a, int b) {\n    return a + b;\n}\n", 0),
        ("cobol", "* comment\n", 0),
        ("python", "# only\n", 7),  # outside the document
    ],
)
def test_no_site(language, text, line):
    assert find_site(text.split("\n"), line, language) is None


def test_request_removes_the_stub_and_the_edit_restores_indentation():
    lines = 'def add(a, b):\n    """Sum."""\n    pass\n\nx = 1\n'.split("\n")
    site = find_site(lines, 1, "python")
    request = generation_request(lines, site, "m.py", max_lines=40, max_tokens=300)
    assert request.text == 'def add(a, b):\n    """Sum."""\n    \n\nx = 1\n'
    assert (request.line, request.column, request.block) == (2, 4, True)
    assert replacement(site, "return a + b\n") == "    return a + b\n"


DOCSTRING_SITE = GenerationSite(2, 3, "    ", "docstring-stub")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("return a + b\n", "return a + b\n"),
        # Cut off by the model: the longest run of leading lines that parses, else nothing.
        (
            "total = 0\n    for x in items:\n        total += x\n    return sum(x / len(\n",
            "total = 0\n    for x in items:\n        total += x",
        ),
        ("return sum(item.price / len(\n", ""),
        ("for x in items:\n", ""),
        ("# only a comment\n", ""),
        ("", ""),
    ],
)
def test_a_python_body_is_written_only_as_far_as_it_parses(body, expected):
    assert complete_body(DOCSTRING_SITE, body, "python") == expected


def test_a_language_without_a_parser_here_is_taken_as_generated():
    assert complete_body(DOCSTRING_SITE, "return a +\n", "go") == "return a +\n"
