"""Typing along a suggestion: when what was typed since the last suggestion is its beginning,
the rest of it is still the answer, and the model is not asked again.

Copilot and llama.vim do the same. On a slow CPU a request costs hundreds of milliseconds; a
user typing through a right suggestion then sees the rest of it at once instead of waiting at
every word end for the model to say it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ghostwright.server.pipeline.context import cursor_offset


@dataclass(frozen=True)
class LastSuggestion:
    """The last suggestion and the document around the cursor it was made for."""

    path: str
    before: str  # the document up to the cursor
    after: str  # the document from the cursor on
    completion: str


def split_at(text: str, line: int, column: int) -> tuple[str, str]:
    """The document before and after (line, column), both 0-based, columns in code points."""
    offset = cursor_offset(text, line, column)
    return text[:offset], text[offset:]


def remainder(shown: LastSuggestion | None, path: str, before: str, after: str) -> str | None:
    """What is left of `shown` after the characters typed since, or None when the user did
    anything else: typed something the suggestion did not say, deleted, moved, edited after
    the cursor, typed a line break, or typed all of it."""
    if shown is None or shown.path != path or after != shown.after:
        return None
    if len(before) <= len(shown.before) or not before.startswith(shown.before):
        return None
    typed = before[len(shown.before) :]
    if "\n" in typed or not shown.completion.startswith(typed):
        return None
    rest = shown.completion[len(typed) :]
    return rest if rest.strip() else None
