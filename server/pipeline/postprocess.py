"""Turn raw model output into a suggestion worth showing, or into nothing.

Rules, in order: keep one line when the cursor sits before code on its line; end a multi-line
suggestion where its block ends (indentation), at a run of blank lines, or at the line limit; cut
where the model starts repeating itself or the code right after the cursor; drop closing brackets
that close nothing; return "" rather than whitespace or an echo of the suffix.

`trim` is also called on the partial output after every token, and its `finished` flag ends
generation as soon as no further token can change the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {value: key for key, value in OPENERS.items()}
BLOCK_OPENERS = tuple(":{[(")
# Text after the cursor that still allows a multi-line suggestion: closers, quotes, separators.
TRAILING_PUNCTUATION = re.compile(r"[\s)\]}\"'`;,:]*")
# String literals (ending at their quote or the line end) and line comments.
NOT_CODE = re.compile(r"""(["'`])(?:\\.|(?!\1)[^\\\n])*\1?|#[^\n]*|//[^\n]*""")
BRACKET = re.compile(r"[()\[\]{}]")
STRING = re.compile(r"""(["'`])(?:\\.|(?!\1)[^\\\n])*(\1)?""")  # group 2: the closing quote
# A line this long (stripped) seen twice in one suggestion means the model is looping.
MIN_REPEATED_LINE = 10
# The same short unit four or more times in a row inside one line: the model is looping.
INLINE_LOOP = re.compile(r"(.{4,}?)\1{3,}")


@dataclass(frozen=True)
class Hole:
    """What post-processing knows about the place being filled."""

    line_prefix: str  # the cursor line, left of the cursor
    line_suffix: str  # the cursor line, right of the cursor
    previous_line: str = ""  # last non-blank line above the cursor line
    next_line: str = ""  # first non-blank line below the cursor line
    open_brackets: str = ""  # brackets the prefix opened and did not close, innermost last
    sees_suffix: bool = True  # FIM prompt; a prefix-only model never saw the code after the cursor
    block: bool = False  # the caller wants a whole block (comment-to-code), not one line
    max_lines: int = 8
    tab_size: int = 4

    @property
    def code_after_cursor(self) -> bool:
        """More than closers and punctuation follow the cursor, or anything after indentation."""
        if not self.line_prefix.strip():
            return bool(self.line_suffix.strip())
        return TRAILING_PUNCTUATION.fullmatch(self.line_suffix) is None

    @property
    def single_line(self) -> bool:
        """One line only: a limit of one, code after the cursor, after code that opens nothing,
        or on an empty line between two statements of the same block (a sibling follows, so
        anything longer would run into it)."""
        if self.max_lines <= 1 or self.code_after_cursor:
            return True
        if self.block:
            return False
        stripped = self.line_prefix.rstrip()
        if stripped:
            return not stripped.endswith(BLOCK_OPENERS)
        return bool(self.next_line.strip()) and (
            _indent(self.next_line, self.tab_size) == self.cursor_indent()
        )

    def cursor_indent(self) -> int:
        """Where code typed on this empty line would start (column 0: infer it like an editor)."""
        if self.line_prefix:
            return _indent(self.line_prefix, self.tab_size)
        above = _indent(self.previous_line, self.tab_size)
        if not self.previous_line.rstrip().endswith(BLOCK_OPENERS):
            return above
        below = _indent(self.next_line, self.tab_size)
        return below if below > above else above + self.tab_size


@dataclass(frozen=True)
class Trimmed:
    text: str
    finished: bool  # a stop rule fired: more tokens cannot change `text`
    reason: str = ""


def trim(raw: str, hole: Hole, *, complete: bool = False) -> Trimmed:
    """The suggestion to show for model output `raw`.

    `complete` says the output is final (the model ended on its own), so the stop rules judge its
    last line too; otherwise that line may still grow and is kept as it is. (Output cut off by the
    token or time limit loses its partial last line in `Completer.complete`, which knows why
    generation stopped.)
    """
    lines = raw.split("\n")
    keep, reason = _cut_lines(lines if complete else lines[:-1], hole)
    kept = lines[:keep] if reason or complete else lines
    text = "\n".join(line.rstrip() for line in kept) if reason else "\n".join(kept)
    text, looped = _cut_inline_loop(text)
    text = _drop_suffix_echo(_balance(text, hole), hole)
    if not text.strip():
        text = ""
    return Trimmed(text, bool(reason) or looped, "loop" if looped and not reason else reason)


def _cut_lines(lines: list[str], hole: Hole) -> tuple[int, str]:
    """How many complete lines survive, and which rule cut the rest ("" when none did)."""
    limit = 1 if hole.single_line else hole.max_lines
    min_indent = _min_indent(hole)
    for index, line in enumerate(lines):
        if line.strip():
            if reason := _ends_before(lines, index, hole, min_indent):
                closes = reason == "block-end" and line.strip()[0] in CLOSERS
                return (index + 1 if closes else index), reason
        elif index > 0 and any(row.strip() for row in lines[:index]):
            # A paragraph ends here and the next one is a new thought; a block may hold one
            # blank line, two end it.
            if not hole.block or not lines[index - 1].strip():
                return (index - 1 if hole.block else index), "blank-line"
        if index + 1 >= limit:
            return index + 1, "single-line" if limit == 1 else "max-lines"
    return len(lines), ""


def _ends_before(lines: list[str], index: int, hole: Hole, min_indent: int) -> str:
    """Why the non-blank line `index` must not be shown, or ""."""
    if index == 0 and hole.line_prefix.strip():
        return ""  # the rest of a line that already has code: nothing to compare
    line = hole.line_prefix + lines[0] if index == 0 else lines[index]
    if hole.next_line.strip() and line.rstrip() == hole.next_line.rstrip():
        return "suffix-echo"
    if _repeats(line, lines[1:index], _previous(lines, index, hole)):
        return "repetition"
    if index > 0 and _indent(line, hole.tab_size) < min_indent:
        return "block-end"
    return ""


def _repeats(line: str, earlier: list[str], previous: str) -> bool:
    """The line just above again, or a substantial line the suggestion already contains."""
    if line.rstrip() == previous.rstrip():
        return True
    body = line.strip()
    return len(body) >= MIN_REPEATED_LINE and any(row.strip() == body for row in earlier)


def _previous(lines: list[str], index: int, hole: Hole) -> str:
    """The line just above completion line `index` once the suggestion is inserted."""
    for line in reversed(lines[1:index]):
        if line.strip():
            return line
    cursor_line = hole.line_prefix + (lines[0] if index > 0 else "")
    return cursor_line if cursor_line.strip() else hole.previous_line


def _min_indent(hole: Hole) -> int:
    """Lines indented less than this have left the block the cursor is in."""
    if not hole.line_prefix.strip():
        return hole.cursor_indent()
    indent = _indent(hole.line_prefix, hole.tab_size)
    return indent + 1 if hole.line_prefix.rstrip().endswith(BLOCK_OPENERS) else indent


def _indent(line: str, tab_size: int) -> int:
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += tab_size - width % tab_size
        else:
            break
    return width


def _cut_inline_loop(text: str) -> tuple[str, bool]:
    """Cut where the model starts repeating a unit within a line (`print(x)print(x)...`).

    On the first line one copy of the unit is kept; a later line that loops is dropped whole.
    """
    for match in INLINE_LOOP.finditer(text):
        if any(char.isalnum() for char in match.group(1)):  # "# ------" is not a loop
            line_start = text.rfind("\n", 0, match.start())
            if line_start >= 0:
                return text[:line_start], True
            return text[: match.start() + len(match.group(1))], True
    return text, False


def _balance(text: str, hole: Hole) -> str:
    """Cut at the first closing bracket that closes nothing opened on the line or in the text."""
    stack = list(hole.open_brackets)
    for index, char in enumerate(_code_chars(text)):
        if char in OPENERS:
            stack.append(char)
        elif char in CLOSERS:
            if not stack or stack[-1] != CLOSERS[char]:
                return text[:index]
            stack.pop()
    return text


def _open_brackets(line: str) -> list[str]:
    stack: list[str] = []
    for char in BRACKET.findall(_code_chars(line)):
        if char in OPENERS:
            stack.append(char)
        elif char in CLOSERS and stack and stack[-1] == CLOSERS[char]:
            stack.pop()
    return stack


def _code_chars(text: str) -> str:
    """`text` with string literals and line comments blanked, so their brackets do not count.

    Quotes end at a newline (an apostrophe in prose must not swallow the rest of the file).
    Same length as `text`, so indexes still match.
    """
    return NOT_CODE.sub(lambda match: " " * len(match.group()), text)


def _drop_suffix_echo(text: str, hole: Hole) -> str:
    """Remove the end of a one-line suggestion that repeats the code right after the cursor.

    Either the whole rest of the line is echoed, or a tail of closers/punctuation whose removal
    leaves the suggestion's own brackets balanced (`foo(|)` + `bar(x))` -> `bar(x)`). A model that
    never saw the suffix must reproduce the rest of the line to show it agrees; otherwise its line
    would clash with the code already there, and nothing is shown.
    """
    suffix = hole.line_suffix.strip()
    if not suffix or "\n" in text:
        return text
    body = text.rstrip()
    if _net_brackets(body) == 0:
        if body.endswith(suffix) and _net_brackets(body[: -len(suffix)]) == 0:
            body = body[: -len(suffix)]
            return body.rstrip() if hole.line_suffix[0].isspace() else body
    else:
        for size in range(min(len(suffix), len(body)), 0, -1):
            if body.endswith(suffix[:size]) and _net_brackets(body[:-size]) == 0:
                return body[:-size]
    return "" if hole.code_after_cursor and not hole.sees_suffix else text


def _net_brackets(text: str) -> int:
    """Openers minus closers outside string literals."""
    chars = _code_chars(text)
    return sum(char in OPENERS for char in chars) - sum(char in CLOSERS for char in chars)


def open_brackets(text: str) -> str:
    """Brackets `text` leaves open, innermost last (string literals skipped)."""
    return "".join(_open_brackets(text))


# A line cut off while it was being written shows it by its end: an operator, a comma or dot, an
# open bracket, a keyword that needs an operand.
DANGLING = re.compile(
    r"([-+*/%=<>&|^~,.(\[{\\@!]|\b(and|or|not|in|is|if|else|return|yield|lambda|await|"
    r"import|from|as|def|class|with|for|while|elif|raise|assert|del|new|let|const|var))\s*$"
)


def reads_as_whole(line: str, hole: Hole) -> bool:
    """A line the model was still writing when time ran out may be shown only when it reads as
    finished: with the code around the cursor its brackets close and no string is left open, and
    it does not end in an operator or a keyword that needs more."""
    whole = hole.line_prefix + line + hole.line_suffix
    if any(match.group(2) is None for match in STRING.finditer(whole)):
        return False
    if _open_brackets(whole) or _balance(line, hole) != line:
        return False
    return bool(line.strip()) and not DANGLING.search(line.rstrip())
