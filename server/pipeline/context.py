"""Prefix/suffix windows around the cursor, inside a token budget, cut at line boundaries.

The prefix window starts on a line number rounded to a grid (`anchor_lines`), so while the user
types further down the file the start of the prompt does not move, and llama.cpp's
longest-common-prefix KV cache reuses almost the whole prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ghostwright.server.errors import GhostwrightError

TokenCounter = Callable[[str], int]
# No tokenizer we support averages more characters per token than this on real code.
MAX_CHARS_PER_TOKEN = 8


@dataclass(frozen=True)
class Budget:
    """Token budget of the prompt text; the suffix gets a share, the prefix the rest."""

    prompt_tokens: int = 1536
    suffix_share: float = 0.25
    anchor_lines: int = 32
    # Prefix-only formats never put the suffix in the prompt: the prefix gets the whole budget and
    # the suffix window is read only by post-processing.
    suffix_in_prompt: bool = True
    # At most this many suffix tokens (0: no cap): every keystroke re-evaluates a FIM prompt's
    # suffix, so a slow machine gets fewer lines after the cursor (calibration.suffix_cap).
    suffix_cap: int = 0

    @property
    def suffix_tokens(self) -> int:
        share = int(self.prompt_tokens * self.suffix_share)
        return min(share, self.suffix_cap) if self.suffix_cap else share

    @property
    def prefix_tokens(self) -> int:
        if not self.suffix_in_prompt:
            return self.prompt_tokens
        return self.prompt_tokens - self.suffix_tokens


@dataclass(frozen=True)
class Window:
    """The text the model sees around the cursor."""

    prefix: str  # from a line start up to the cursor
    suffix: str  # from the cursor up to a line end
    line_prefix: str  # the cursor line, left of the cursor
    line_suffix: str  # the cursor line, right of the cursor
    first_line: int  # 0-based line where `prefix` starts


def check_position(lines: list[str], line: int, column: int) -> None:
    """Reject a cursor outside the document with a message that names the valid range."""
    if not 0 <= line < len(lines):
        raise GhostwrightError(f"line {line + 1} is out of range (the file has {len(lines)} lines)")
    width = len(lines[line])
    if not 0 <= column <= width:
        raise GhostwrightError(
            f"column {column + 1} is out of range (line {line + 1} has columns 1-{width + 1})"
        )


def cursor_offset(text: str, line: int, column: int) -> int:
    """The offset of (line, column) in `text`: lines split on "\n", both 0-based, columns in
    code points, as the pipeline counts them."""
    return sum(len(row) + 1 for row in text.split("\n")[:line]) + column


def build_window(
    text: str, line: int, column: int, budget: Budget, count_tokens: TokenCounter
) -> Window:
    """Cut `text` around (line, column) (0-based, code points) to fit `budget`."""
    lines = text.split("\n")
    check_position(lines, line, column)
    current = lines[line]
    # A minified or generated line can be megabytes long: clip it before tokenizing anything.
    line_prefix = _clip(current[:column], budget.prefix_tokens, count_tokens, keep_end=True)
    line_suffix = _clip(current[column:], budget.suffix_tokens, count_tokens, keep_end=False)
    first = _prefix_start(lines, line, budget, count_tokens, count_tokens(line_prefix))
    last = _suffix_end(lines, line, budget, count_tokens, count_tokens(line_suffix))
    prefix = "".join(f"{row}\n" for row in lines[first:line]) + line_prefix
    suffix = line_suffix + "".join(f"\n{row}" for row in lines[line + 1 : last + 1])
    return Window(prefix, suffix, line_prefix, line_suffix, first)


def _prefix_start(
    lines: list[str], line: int, budget: Budget, count_tokens: TokenCounter, used: int
) -> int:
    """Earliest line that fits, moved down to the anchor grid when the file does not fit."""
    start = line
    while start > 0:
        cost = _line_cost(lines[start - 1], budget.prefix_tokens, count_tokens)
        if used + cost > budget.prefix_tokens:
            break
        used += cost
        start -= 1
    # Rounding up may cost a step's worth of lines: a small window (a cold request's, a low
    # `prompt_tokens`) halves the step until it costs at most half of the lines that fit, or it
    # would lose everything above the cursor. Halving keeps each step a divisor of the grid.
    step = budget.anchor_lines
    while step > 1 and step > (line - start) // 2:
        step //= 2
    if start == 0 or step <= 1:
        return start
    anchored = -(-start // step) * step
    return min(anchored, line)


def _suffix_end(
    lines: list[str], line: int, budget: Budget, count_tokens: TokenCounter, used: int
) -> int:
    """Last line after the cursor line that still fits the suffix budget."""
    end = line
    while end + 1 < len(lines):
        cost = _line_cost(lines[end + 1], budget.suffix_tokens, count_tokens)
        if used + cost > budget.suffix_tokens:
            break
        used += cost
        end += 1
    return end


def _line_cost(row: str, limit: int, count_tokens: TokenCounter) -> int:
    """Tokens of one line plus its newline; a line too long to ever fit is not tokenized."""
    if len(row) > limit * MAX_CHARS_PER_TOKEN:
        return limit + 1
    return count_tokens(row) + 1


def _clip(text: str, limit: int, count_tokens: TokenCounter, *, keep_end: bool) -> str:
    """Shorten one line to at most `limit` tokens, keeping the end nearest the cursor."""
    text = text[-limit * MAX_CHARS_PER_TOKEN :] if keep_end else text[: limit * MAX_CHARS_PER_TOKEN]
    while text and count_tokens(text) > limit:
        keep = len(text) * 3 // 4
        text = text[-keep:] if keep_end and keep else text[:keep]
    return text
