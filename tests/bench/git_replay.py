"""Real edits from a repository's git history, replayed as a user typing them.

Each line a commit added to a source file becomes a moment where the user has typed the line's
indentation and waits for a suggestion: the document is the file as of that commit with the
line's code removed. A simulated user accepts a suggestion that is exactly what they went on to
write, accepts the first line of one that starts with it, accepts the words it got right (the
editor's accept-word) and dismisses the rest; what they wrote is the record's `final` code.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
WORD_CHAR = re.compile(r"\w")
MIN_TARGET = 4  # shorter lines (`)`, `pass`) say little about the model
MIN_WORD_ACCEPT = 3


@dataclass(frozen=True)
class Edit:
    """A line as a commit wrote it: the file then, the line's position, and its code."""

    commit: str
    path: str
    text: str
    line: int
    column: int  # after the indentation
    target: str  # the code after the indentation

    def document(self) -> str:
        """The file with this line's code not yet typed."""
        lines = self.text.split("\n")
        lines[self.line] = lines[self.line][: self.column]
        return "\n".join(lines)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def commits(repo: Path) -> list[str]:
    """Oldest first."""
    return git(repo, "rev-list", "--reverse", "HEAD").split()


def added_lines(repo: Path, before: str, after: str, suffix: str = ".py") -> list[Edit]:
    """The code lines `after` added to files ending in `suffix`, relative to `before`."""
    diff = git(repo, "diff", "-U0", "--no-color", "--no-renames", before, after)
    edits: list[Edit] = []
    path, text = "", ""
    for row in diff.splitlines():
        if row.startswith("+++ "):
            name = row[4:].removeprefix("b/")
            path = name if name.endswith(suffix) and name != "/dev/null" else ""
            text = git(repo, "show", f"{after}:{path}") if path else ""
            continue
        match = HUNK.match(row)
        if not match or not path:
            continue
        first, count = int(match.group(1)) - 1, int(match.group(2) or 1)
        lines = text.split("\n")
        for number in range(first, min(first + count, len(lines))):
            code = lines[number].strip()
            if len(code) < MIN_TARGET or code.startswith(("#", '"""', "'''")):
                continue
            column = len(lines[number]) - len(lines[number].lstrip())
            edits.append(Edit(after, path, text, number, column, lines[number][column:].rstrip()))
    return edits


def simulated_outcome(suggestion: str, target: str) -> tuple[str, int | None]:
    """(outcome, accepted characters) of a user who goes on to write `target`."""
    suggestion = suggestion.rstrip()
    if not suggestion:
        return "dismissed", None
    if suggestion == target:
        return "accepted", len(target)
    if suggestion.startswith(target + "\n"):
        return "partial", len(target)  # the first line, then the user moves on
    shared = 0
    for mine, theirs in zip(suggestion, target, strict=False):
        if mine != theirs:
            break
        shared += 1

    # Accept-word takes whole words of the suggestion, and the user keeps only words they
    # meant: back off to where a word ends in both.
    def splits_a_word(text: str, at: int) -> bool:
        return 0 < at < len(text) and bool(
            WORD_CHAR.match(text[at]) and WORD_CHAR.match(text[at - 1])
        )

    def inside_word(at: int) -> bool:
        return splits_a_word(target, at) or splits_a_word(suggestion, at)

    while inside_word(shared):
        shared -= 1
    if shared >= MIN_WORD_ACCEPT and target[:shared].strip():
        return "partial", shared
    return "dismissed", None
