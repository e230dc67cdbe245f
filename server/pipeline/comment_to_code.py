"""Find where code should be generated from a comment or docstring: cheap, pure, no model.

Two shapes are recognised around the cursor line:

- a docstring or doc comment on a function whose body is empty or a stub (`pass`, `...`,
  `raise NotImplementedError`, `// TODO`, `todo!()`, `unimplemented!()`, `panic("TODO")`,
  `throw new UnsupportedOperationException()`): the stub is replaced by the generated body;
- a block of line comments followed by nothing (a blank line or the end of its block): the code
  is inserted right after the comments.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from ghostwright.server.comment_syntax import LINE_COMMENT
from ghostwright.server.pipeline.complete import CompletionRequest

STUB = re.compile(
    r"""^\s*(pass|\.\.\.|raise\s+NotImplementedError(\(.*\))?|todo!\(.*\)|unimplemented!\(.*\)
    |panic\(\s*"(?i:todo)[^"]*"\s*\);?|throw\s+new\s+UnsupportedOperationException\(.*\);?
    |(//|\#)\s*(?i:todo)\b.*|return\s*;?)\s*$""",
    re.VERBOSE,
)
BLOCK_COMMENT_END = re.compile(r"\*/\s*$")
DOCSTRING_QUOTES = ('"""', "'''")


@dataclass(frozen=True)
class GenerationSite:
    """Where generated code goes: replace lines [first, end) (end == first: insert)."""

    first: int
    end: int
    indent: str
    kind: str  # "docstring-stub" | "comment-block"

    @property
    def inserts(self) -> bool:
        return self.first == self.end


def find_site(lines: list[str], line: int, language: str) -> GenerationSite | None:
    """The generation site for a cursor on `line`, or None when there is nothing to offer."""
    if not 0 <= line < len(lines) or language not in LINE_COMMENT:
        return None
    if language == "python":
        site = _python_docstring_stub(lines, line)
    else:
        site = _brace_doc_comment_stub(lines, line, language)
    return site or _comment_block(lines, line, language)


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _python_docstring_stub(lines: list[str], line: int) -> GenerationSite | None:
    """A `def` whose docstring contains (or is on) the cursor line and whose body is a stub."""
    start = _docstring_start(lines, line)
    if start is None or start == 0 or not lines[start - 1].rstrip().endswith(":"):
        return None
    if not lines[start - 1].lstrip().startswith(("def ", "async def ")):
        return None
    end = _docstring_end(lines, start)
    if end is None:
        return None
    body = _indent(lines[start])
    rest = end + 1
    stub_end = rest
    while stub_end < len(lines) and (
        not lines[stub_end].strip() or len(_indent(lines[stub_end])) >= len(body)
    ):
        if lines[stub_end].strip() and not STUB.match(lines[stub_end]):
            return None  # the function already has a body
        stub_end += 1
    while stub_end > rest and not lines[stub_end - 1].strip():
        stub_end -= 1  # keep the blank lines that separate it from what follows
    if stub_end == rest:  # nothing after the docstring: insert a new line
        return GenerationSite(rest, rest, body, "docstring-stub")
    return GenerationSite(rest, stub_end, body, "docstring-stub")


def _docstring_start(lines: list[str], line: int) -> int | None:
    """First line of the triple-quoted string around `line`, scanning a few lines up."""
    for row in range(line, max(-1, line - 40), -1):
        stripped = lines[row].strip()
        if stripped.startswith(DOCSTRING_QUOTES):
            closing = _docstring_end(lines, row)
            return row if closing is not None and closing >= line else None
    return None


def _docstring_end(lines: list[str], start: int) -> int | None:
    stripped = lines[start].strip()
    quote = stripped[:3]
    if stripped.count(quote) >= 2 and len(stripped) > 3:
        return start
    for row in range(start + 1, min(len(lines), start + 200)):
        if quote in lines[row]:
            return row
    return None


def _brace_doc_comment_stub(lines: list[str], line: int, language: str) -> GenerationSite | None:
    """A doc comment right above `signature {`, whose body is empty or a stub."""
    last = _comment_run_end(lines, line, language)
    if last is None or last + 1 >= len(lines):
        return None
    signature = last + 1
    if not lines[signature].rstrip().endswith("{"):
        return None
    closing = _matching_brace_line(lines, signature)
    if closing is None:
        return None
    body = [row for row in range(signature + 1, closing) if lines[row].strip()]
    if any(not STUB.match(lines[row]) for row in body):
        return None
    if body:
        indent = _indent(lines[body[0]])
    else:
        indent = _indent(lines[signature]) + _indent_unit(lines, language)
    return GenerationSite(signature + 1, closing, indent, "docstring-stub")


def _indent_unit(lines: list[str], language: str) -> str:
    """The file's own indentation unit; gofmt's tab when the file has no indented line yet."""
    tabs = sum(line.startswith("\t") for line in lines)
    spaces = sum(line.startswith(" ") for line in lines)
    if tabs == spaces == 0:
        return "\t" if language == "go" else "    "
    return "\t" if tabs > spaces else "    "


def _comment_run_end(lines: list[str], line: int, language: str) -> int | None:
    """Last line of the comment (line comments or a /* */ block) that contains `line`."""
    markers = LINE_COMMENT[language]
    stripped = lines[line].lstrip()
    if stripped.startswith(markers):
        row = line
        while row + 1 < len(lines) and lines[row + 1].lstrip().startswith(markers):
            row += 1
        return row
    if stripped.startswith(("/*", "*")) and language != "python":
        for row in range(line, min(len(lines), line + 100)):
            if BLOCK_COMMENT_END.search(lines[row]):
                return row
    return None


def _matching_brace_line(lines: list[str], start: int) -> int | None:
    depth = 0
    for row in range(start, min(len(lines), start + 400)):
        depth += lines[row].count("{") - lines[row].count("}")
        if depth <= 0 and row > start:
            return row
        if depth <= 0 and row == start and lines[row].count("{"):
            return None  # `{ }` on one line: nothing to replace line-wise
    return None


def _comment_block(lines: list[str], line: int, language: str) -> GenerationSite | None:
    """Line comments with no code right after them: generate code below the block."""
    markers = LINE_COMMENT[language]
    if not lines[line].lstrip().startswith(markers):
        return None
    last = _comment_run_end(lines, line, language)
    assert last is not None
    after = last + 1
    if after < len(lines) and lines[after].strip():
        if len(_indent(lines[after])) >= len(_indent(lines[last])):
            return None  # code already follows the comment
    return GenerationSite(after, after, _indent(lines[last]), "comment-block")


def generation_request(
    lines: list[str], site: GenerationSite, path: str, max_lines: int, max_tokens: int
) -> CompletionRequest:
    """The stub taken out and the cursor on an empty, indented line where the body goes."""
    text = "\n".join([*lines[: site.first], site.indent, *lines[site.end :]])
    return CompletionRequest(
        text, site.first, len(site.indent), path, max_lines, max_tokens, block=True
    )


def replacement(site: GenerationSite, completion: str) -> str:
    """What replaces lines [first, end): the indented body, ending with a line break."""
    return site.indent + completion.rstrip("\n") + "\n"


def complete_body(site: GenerationSite, completion: str, language: str) -> str:
    """The generated body where it parses, else its longest run of leading lines that does, else
    "": never a cut-off body. Python is checked with its own parser; a language without one
    here is taken as generated (the model stopped on its own or at a whole line)."""
    if language != "python" or not completion.strip():
        return completion
    if _parses_as_python_body(replacement(site, completion)):
        return completion
    lines = completion.rstrip("\n").split("\n")
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end])
        if candidate.strip() and _parses_as_python_body(replacement(site, candidate)):
            return candidate
    return ""


def _parses_as_python_body(text: str) -> bool:
    """Whether `text` (indented statements) parses as the body of a function."""
    body = textwrap.indent(textwrap.dedent(text), "    ")
    try:
        ast.parse("def _generated():\n" + body)
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return False
    return True
