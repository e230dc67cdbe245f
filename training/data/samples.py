"""Training samples from one source file: fill-in-the-middle holes and comment-to-code bodies.

A hole is (prefix, middle, suffix) of the file's text, cut where a completion would be asked:
- `line`: one to three whole lines (the cursor after the indentation);
- `node`: a syntax node's text (a statement, an expression, a block), found by tree-sitter;
- `span`: from a word end in a line to somewhere in the same or the next line.
Comment-to-code samples are the body after a Python docstring, or the code right after a block
of line comments, in any language the code action supports.

Every sample is rendered by the server's own `PromptFormat`, so the model learns exactly the
prompts it will be served; the loss belongs on the completion only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from ghostwright.indexer.chunker import parser_for
from ghostwright.server.comment_syntax import LINE_COMMENT
from ghostwright.server.prompt_formats import PromptFormat
from ghostwright.training.evaluate.repo_holes import docstring_bodies, is_word_end

# Code shown around a hole by default: about 300 + 100 tokens, so prompt and completion fit the
# recipe's 512-token sequences whole (a sample cut to fit would lose its opening markers).
PREFIX_CHARS = 1000
SUFFIX_CHARS = 350


def window_for(max_tokens: int) -> tuple[int, int]:
    """Prefix and suffix characters that leave room for the completion in `max_tokens`
    (code runs at about 3.5 characters per token; the defaults are this for 512)."""
    return max_tokens * PREFIX_CHARS // 512, max_tokens * SUFFIX_CHARS // 512


MAX_MIDDLE_CHARS = 600
MIN_NODE_CHARS = 8
FIM_KINDS = ("line", "node", "span")
Hole = tuple[str, str, str]


@dataclass(frozen=True)
class Sample:
    """One training example: the model reads `prompt` and learns to write `completion`."""

    prompt: str
    completion: str
    kind: str  # fim-line | fim-node | fim-span | comment-to-code
    path: str
    order: str = "psm"  # or "spm": suffix before prefix (the format's own order, or chosen)


def fim_holes(text: str, language: str, rng: random.Random, count: int) -> list[tuple[str, Hole]]:
    """Up to `count` holes of the file, kinds drawn evenly, positions at random."""
    lines = text.split("\n")
    code_rows = [i for i, row in enumerate(lines) if row.strip()]
    if not code_rows:
        return []
    holes = []
    for index in range(count * 3):  # some draws find nothing; stop once `count` are found
        kind = FIM_KINDS[index % len(FIM_KINDS)]
        hole = _draw(kind, text, lines, code_rows, language, rng)
        if hole is not None and 0 < len(hole[1]) <= MAX_MIDDLE_CHARS:
            holes.append((f"fim-{kind}", hole))
        if len(holes) == count:
            break
    return holes


def comment_to_code_holes(text: str, language: str) -> list[Hole]:
    """Docstring -> body (Python) and comment block -> the code right after it (all)."""
    lines = text.split("\n")
    holes = docstring_bodies(lines, text) if language == "python" else []
    markers = LINE_COMMENT.get(language)
    if markers:
        holes += _comment_blocks(lines, markers)
    return holes


def render(
    fmt: PromptFormat,
    path: str,
    hole: Hole,
    kind: str,
    spm: bool = False,
    window: tuple[int, int] = (PREFIX_CHARS, SUFFIX_CHARS),
) -> Sample:
    """The sample as the server would prompt for it, with at most `window` characters of
    prefix and suffix (whole lines)."""
    prefix, middle, suffix = hole
    prefix, suffix = _window(prefix, suffix, *window)
    # The server never ends a prompt in spaces (it leaves them for the model to write: see
    # `complete.py`), so neither does training: trailing indentation moves into the target.
    healed = prefix[len(prefix.rstrip(" \t")) :]
    if "\n" in healed:
        healed = healed[healed.rfind("\n") + 1 :]
    prefix, middle = prefix[: len(prefix) - len(healed)], healed + middle
    if spm and fmt.is_fim:
        fmt = replace(fmt, suffix_first=True)
    prompt = fmt.render(prefix, suffix, path=path)
    order = "spm" if fmt.suffix_first and fmt.is_fim else "psm"
    return Sample(prompt, fmt.render_training_target(middle), kind, path, order)


def _draw(
    kind: str, text: str, lines: list[str], rows: list[int], language: str, rng: random.Random
) -> Hole | None:
    if kind == "line":
        first = rng.choice(rows)
        last = min(len(lines), first + rng.randint(1, 3))
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        before = "\n".join(lines[:first])
        prefix = (before + "\n" if first else "") + indent
        middle = "\n".join(lines[first:last])[len(indent) :] + "\n"
        suffix = "\n".join(lines[last:])
        return prefix, middle, suffix
    if kind == "node":
        return _node_hole(text, language, rng)
    row = rng.choice(rows)
    start = sum(len(line) + 1 for line in lines[:row])
    ends = [i for i in range(start + 1, start + len(lines[row])) if is_word_end(text, i)]
    if not ends:
        return None
    cut = rng.choice(ends)
    limit = text.find("\n", text.find("\n", cut) + 1)
    stop = rng.randint(cut + 1, limit if limit > cut else len(text))
    return text[:cut], text[cut:stop], text[stop:]


def _node_hole(text: str, language: str, rng: random.Random) -> Hole | None:
    """A named syntax node's exact text (tree-sitter), for the languages it parses."""
    parser = parser_for(language) if language else None
    if parser is None:
        return None
    data = text.encode("utf-8")
    root = parser.parse(data).root_node  # type: ignore[attr-defined]
    nodes, stack = [], [root]
    while stack:
        node = stack.pop()
        size = node.end_byte - node.start_byte
        if node.is_named and MIN_NODE_CHARS <= size <= MAX_MIDDLE_CHARS and node is not root:
            nodes.append(node)
        stack.extend(node.children)
    if not nodes:
        return None
    node = rng.choice(nodes)
    prefix = data[: node.start_byte].decode("utf-8", errors="replace")
    middle = data[node.start_byte : node.end_byte].decode("utf-8", errors="replace")
    suffix = data[node.end_byte :].decode("utf-8", errors="replace")
    return prefix, middle, suffix


def _comment_blocks(lines: list[str], markers: tuple[str, ...]) -> list[Hole]:
    """A run of two or more comment lines, then up to 12 code lines before a blank line."""
    holes, row = [], 0
    while row < len(lines):
        start = row
        while row < len(lines) and lines[row].lstrip().startswith(markers):
            row += 1
        if row - start >= 2 and row < len(lines) and lines[row].strip():
            end = row
            while end < len(lines) and lines[end].strip() and end - row < 12:
                end += 1
            body = "\n".join(lines[row:end]) + "\n"
            prefix = "\n".join(lines[:row]) + "\n"
            holes.append((prefix, body, "\n".join(lines[end:])))
        row = max(row, start + 1)
    return holes


def _window(prefix: str, suffix: str, prefix_chars: int, suffix_chars: int) -> tuple[str, str]:
    """The code the server would show: the end of the prefix, the start of the suffix, by line."""
    if len(prefix) > prefix_chars:
        cut = prefix.find("\n", len(prefix) - prefix_chars)
        prefix = prefix[cut + 1 :] if cut != -1 else prefix[-prefix_chars:]
    if len(suffix) > suffix_chars:
        cut = suffix.rfind("\n", 0, suffix_chars)
        suffix = suffix[:cut] if cut > 0 else suffix[:suffix_chars]
    return prefix, suffix
