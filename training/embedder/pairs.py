"""(query, code) pairs mined from a repository, for the retrieval embedder's contrastive training.

Two kinds, both what retrieval is asked at a cursor:

- `doc`: a definition's signature and docstring (or the comments right above it) -> the
  definition's code without them: "I described it, find code that does it";
- `call`: the code before a call, searched the way the retriever searches (the lines above the
  cursor, cut right after the called name) -> the chunk that defines the called name, when the
  repository defines that name exactly once and somewhere else.

Queries come from files split like the evaluation harness splits them (`split_files`, same
seed): pairs from held-out files measure recall, the rest train. The corpus a query is ranked
against is the repository's chunks as the index holds them, except that a documented definition
appears without its docstring, so a `doc` query cannot find its own words.
"""

from __future__ import annotations

import ast
import random
import re
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ghostwright.indexer.chunker import Chunk, chunk_file
from ghostwright.server.comment_syntax import COMMENT_STARTS
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.pipeline.retrieval import retrieval_query
from ghostwright.training.data.reader import training_files, training_text
from ghostwright.training.evaluate.repo_holes import MIN_NAME, split_files

KINDS = ("doc", "call")
MIN_DOC_WORDS = 4
MIN_CODE_LINES = 2
CALLS_PER_FILE = 24  # so one long file does not make the call pairs its own
CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


@dataclass(frozen=True)
class Pair:
    query: str
    positive: str  # the corpus text that answers the query
    kind: str
    path: str  # the file the query comes from


@dataclass(frozen=True)
class MinedPairs:
    train: list[Pair]
    held_out: list[Pair]
    corpus: list[str]  # every retrievable text, positives included, each once

    def counts(self) -> dict:
        def by_kind(pairs: list[Pair]) -> dict[str, int]:
            return {kind: sum(p.kind == kind for p in pairs) for kind in KINDS}

        return {
            "train": by_kind(self.train),
            "held_out": by_kind(self.held_out),
            "corpus": len(self.corpus),
        }


def mine_pairs(root: Path, seed: int = 0, max_pairs: int = 4000) -> MinedPairs:
    """Pairs of `root` split by file, at most `max_pairs` per kind and split (a seeded sample)."""
    files = training_files(root)
    if not files:
        raise GhostwrightError(f"{root} has no source files to mine retrieval pairs from")
    held_out_files, _ = split_files(files, seed)
    held_out_paths = {item.relative for item in held_out_files}
    chunks: dict[str, list[Chunk]] = {}
    texts: dict[str, str] = {}
    for item in files:
        text = training_text(item)
        if text is None:
            continue  # unreadable or binary: the index skips it too
        texts[item.relative] = text
        chunks[item.relative] = chunk_file(item.relative, texts[item.relative], item.language)
    documented = dict(_documented(chunks))
    # The corpus shows documented definitions without their docstrings (see the module doc).
    shown = {
        chunk.id: documented[chunk][1] if chunk in documented else chunk.text
        for items in chunks.values()
        for chunk in items
    }
    pairs = [Pair(query, code, "doc", chunk.path) for chunk, (query, code) in documented.items()]
    pairs += _call_pairs(chunks, texts, shown)
    rng = random.Random(seed)
    train, held_out = [], []
    for kind in KINDS:
        for split, keep in ((held_out, True), (train, False)):
            chosen = [p for p in pairs if p.kind == kind and (p.path in held_out_paths) == keep]
            rng.shuffle(chosen)
            split += chosen[:max_pairs]
    return MinedPairs(train, held_out, list(dict.fromkeys(shown.values())))


def _documented(chunks: dict[str, list[Chunk]]) -> list[tuple[Chunk, tuple[str, str]]]:
    """(chunk, (signature and docstring or comments, code without them)) for each documented
    symbol chunk."""
    found = []
    for items in chunks.values():
        for chunk in items:
            if not chunk.symbol:
                continue
            split = (
                _python_docstring(chunk.text)
                if chunk.language == "python"
                else _leading_comments(chunk.text)
            )
            if split is None:
                continue
            query, code = split
            words = len(re.findall(r"[A-Za-z]{2,}", query))
            code_lines = [line for line in code.splitlines() if line.strip()]
            if words >= MIN_DOC_WORDS and len(code_lines) >= MIN_CODE_LINES:
                found.append((chunk, (query, code)))
    return found


def _python_docstring(text: str) -> tuple[str, str] | None:
    """(the lines up to and including the docstring, the chunk without the docstring)."""
    try:
        tree = ast.parse(textwrap.dedent(text))
    except SyntaxError:
        return None
    definition = next(
        (node for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)),
        None,
    )
    if definition is None or ast.get_docstring(definition) is None:
        return None
    docstring = definition.body[0]
    lines = text.split("\n")
    first, last = docstring.lineno - 1, docstring.end_lineno or docstring.lineno
    query = "\n".join(lines[:last])
    code = "\n".join(lines[:first] + lines[last:])
    return query, code


def _leading_comments(text: str) -> tuple[str, str] | None:
    """(the comment lines above the definition and its first line, the chunk without them)."""
    lines = text.split("\n")
    count = 0
    while count < len(lines) and lines[count].strip().startswith(COMMENT_STARTS):
        count += 1
    if count == 0 or count == len(lines):
        return None
    query = "\n".join(lines[: count + 1])
    return query, "\n".join(lines[count:])


def _call_pairs(
    chunks: dict[str, list[Chunk]], texts: dict[str, str], shown: dict[int, str]
) -> list[Pair]:
    definitions: dict[str, list[Chunk]] = defaultdict(list)
    for items in chunks.values():
        for chunk in items:
            name = chunk.symbol.rsplit(".", 1)[-1]
            if len(name) >= MIN_NAME and not name.startswith("__"):
                definitions[name].append(chunk)
    unique = {name: found[0] for name, found in definitions.items() if len(found) == 1}
    pairs = []
    for path, text in texts.items():
        lines = text.split("\n")
        seen: Counter[str] = Counter()
        for number, line in enumerate(lines):
            for match in CALL.finditer(line):
                name = match.group(1)
                target = unique.get(name)
                if target is None or seen[name] or _inside(target, path, number):
                    continue
                if line.lstrip().startswith(("def ", "class ", "function ", "fn ", "func ")):
                    continue
                seen[name] += 1
                cut = [*lines[:number], line[: match.end(1)], *lines[number + 1 :]]
                pairs.append(Pair(retrieval_query(cut, number), shown[target.id], "call", path))
            if sum(seen.values()) >= CALLS_PER_FILE:
                break
    return pairs


def _inside(chunk: Chunk, path: str, line: int) -> bool:
    """The call is in the defining chunk itself (recursion): nothing to retrieve."""
    return chunk.path == path and chunk.start_line <= line <= chunk.end_line
