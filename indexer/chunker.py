"""Split a file into retrievable chunks: one per symbol where tree-sitter knows the language.

A function, method or class small enough to show whole becomes one chunk, with its decorators,
docstring and the comments right above it. A larger class gives a header chunk (its first lines,
up to the first method) and one chunk per method. What no symbol covers (imports, module-level
code), files in other languages and symbols too long to show are cut into overlapping line
windows.

A chunk's id depends only on its path and text (and which repeat of that text it is), so an
unchanged function keeps its id when lines above it move, and only changed chunks are embedded.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import cache

logger = logging.getLogger(__name__)

MAX_SYMBOL_LINES = 80
WINDOW_LINES = 40
WINDOW_OVERLAP = 10
MAX_LINE_CHARS = 400  # longer lines are minified or generated: cut for the chunk text
# Node types that make a chunk of their own, per tree-sitter grammar.
SYMBOL_NODES = {
    "python": {"function_definition", "class_definition", "decorated_definition"},
    "javascript": {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "method_definition",
    },
    "typescript": {
        "function_declaration",
        "generator_function_declaration",
        "class_declaration",
        "abstract_class_declaration",
        "method_definition",
        "interface_declaration",
        "type_alias_declaration",
        "enum_declaration",
    },
    "go": {"function_declaration", "method_declaration", "type_declaration"},
    "rust": {"function_item", "impl_item", "struct_item", "enum_item", "trait_item", "mod_item"},
    "java": {
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "method_declaration",
        "constructor_declaration",
    },
    "c": {"function_definition", "struct_specifier", "enum_specifier"},
    "cpp": {
        "function_definition",
        "class_specifier",
        "struct_specifier",
        "enum_specifier",
        "namespace_definition",
    },
}
COMMENT_NODES = {"comment", "line_comment", "block_comment"}
NAME_FIELDS = ("name", "declarator", "type")


@dataclass(frozen=True)
class Chunk:
    """Lines `start_line`..`end_line` (0-based, inclusive) of one file."""

    id: int  # positive int64, stable for the same path and text
    path: str
    start_line: int
    end_line: int
    text: str
    language: str
    symbol: str  # "Class.method" for symbol chunks, "" for line windows
    hash: str  # of the text: the embedding cache key


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    symbol: str


def chunk_file(path: str, text: str, language: str) -> list[Chunk]:
    """The chunks of one file, in line order; [] for an empty file."""
    lines = text.split("\n")
    if not text.strip():
        return []
    spans = _symbol_spans(text, language, len(lines)) if language in SYMBOL_NODES else []
    spans += _window_spans(_uncovered_runs(spans, lines), lines)
    spans.sort(key=lambda span: (span.start, span.end))
    return _make_chunks(path, lines, spans, language)


def _symbol_spans(text: str, language: str, line_count: int) -> list[_Span]:
    parser = parser_for(language)
    if parser is None:
        return []
    tree = parser.parse(text.encode("utf-8", errors="surrogatepass"))
    spans: list[_Span] = []
    _collect(tree.root_node, SYMBOL_NODES[language], "", spans)
    return [span for span in spans if span.start < line_count]


def _collect(node: object, kinds: set[str], scope: str, spans: list[_Span]) -> None:
    """Depth-first: a small symbol is one span; a big one yields a header and its members."""
    for child in node.children:  # type: ignore[attr-defined]
        if child.type not in kinds:
            _collect(child, kinds, scope, spans)
            continue
        symbol = _qualified(scope, _symbol_name(child))
        start = _leading_comments_start(child)
        end = child.end_point.row
        inner: list[_Span] = []
        if end - start + 1 > MAX_SYMBOL_LINES:
            _collect(child, kinds, symbol, inner)
        if not inner:
            spans += _split_long(_Span(start, end, symbol))
            continue
        header_end = min(inner[0].start - 1, start + MAX_SYMBOL_LINES - 1)
        if header_end >= start:
            spans.append(_Span(start, header_end, symbol))
        spans += inner


def _split_long(span: _Span) -> list[_Span]:
    """A symbol too long to show whole: overlapping windows that keep its name."""
    if span.end - span.start + 1 <= MAX_SYMBOL_LINES:
        return [span]
    step = WINDOW_LINES - WINDOW_OVERLAP
    return [
        _Span(first, min(first + WINDOW_LINES - 1, span.end), span.symbol)
        for first in range(span.start, span.end + 1 - WINDOW_OVERLAP, step)
    ]


def _leading_comments_start(node: object) -> int:
    """The first line of the comments directly above `node` (no blank line between)."""
    start = node.start_point.row  # type: ignore[attr-defined]
    sibling = node.prev_sibling  # type: ignore[attr-defined]
    while (
        sibling is not None and sibling.type in COMMENT_NODES and sibling.end_point.row >= start - 1
    ):
        start = sibling.start_point.row
        sibling = sibling.prev_sibling
    return start


def _symbol_name(node: object) -> str:
    if node.type == "decorated_definition":  # type: ignore[attr-defined]
        definition = node.child_by_field_name("definition")  # type: ignore[attr-defined]
        return _symbol_name(definition) if definition is not None else ""
    for field in NAME_FIELDS:
        named = node.child_by_field_name(field)  # type: ignore[attr-defined]
        if named is not None:
            # C/C++ declarators nest the name inside (pointer, function) declarators.
            while named.child_by_field_name("declarator") is not None:
                named = named.child_by_field_name("declarator")
            text = named.text.decode("utf-8", errors="replace")
            return text.split("(")[0].strip()[:80]
    return ""


def _qualified(scope: str, name: str) -> str:
    return f"{scope}.{name}" if scope and name else scope or name


def _uncovered_runs(spans: list[_Span], lines: list[str]) -> list[tuple[int, int]]:
    """Maximal runs of lines that no symbol span covers and that hold more than blank lines."""
    covered = [False] * len(lines)
    for span in spans:
        for row in range(span.start, min(span.end, len(lines) - 1) + 1):
            covered[row] = True
    runs, start = [], None
    for row, is_covered in enumerate([*covered, True]):
        if not is_covered and start is None:
            start = row
        elif is_covered and start is not None:
            filled = [i for i in range(start, row) if lines[i].strip()]
            if filled:
                runs.append((filled[0], filled[-1]))
            start = None
    return runs


def _window_spans(runs: list[tuple[int, int]], lines: list[str]) -> list[_Span]:
    step = WINDOW_LINES - WINDOW_OVERLAP
    spans = []
    for first, last in runs:
        for start in range(first, last + 1, step):
            end = min(start + WINDOW_LINES - 1, last)
            if any(lines[row].strip() for row in range(start, end + 1)):
                spans.append(_Span(start, end, ""))
            if end == last:
                break
    return spans


def _make_chunks(path: str, lines: list[str], spans: list[_Span], language: str) -> list[Chunk]:
    chunks, seen = [], {}
    for span in spans:
        text = "\n".join(row[:MAX_LINE_CHARS] for row in lines[span.start : span.end + 1])
        digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
        repeat = seen.get(digest, 0)
        seen[digest] = repeat + 1
        chunks.append(
            Chunk(
                id=chunk_id(path, digest, repeat),
                path=path,
                start_line=span.start,
                end_line=span.end,
                text=text,
                language=language,
                symbol=span.symbol,
                hash=digest,
            )
        )
    return chunks


def chunk_id(path: str, text_hash: str, repeat: int = 0) -> int:
    """A positive int64 (FAISS ids are int64) from the path and the text's hash."""
    key = f"{path}\0{text_hash}\0{repeat}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") >> 1


@cache
def parser_for(language: str) -> object | None:
    try:
        from tree_sitter_language_pack import get_parser

        return get_parser(language)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - a missing grammar means windows, not a failed index
        logger.warning("no tree-sitter grammar for %s; using line windows", language)
        return None
