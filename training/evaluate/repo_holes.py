"""Holes mined from held-out files of any repository, in labelled strata.

Files are split deterministically (a hash of seed and path) into held-out files, where holes are
mined, and context files, which are all retrieval may ever see. Strata:

- whole-line: the cursor after a line's indentation, the line's code is the target;
- end-of-line: the cursor mid-line at a word boundary, the rest of the line is the target;
- span: 2-8 consecutive lines;
- docstring-body: a Python function's body after its docstring;
- cross-file: a whole line that uses a name defined in another file and not in this one.

Targets that any model gets by pattern (a lone closer, `else:`) are marked `trivial`.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ghostwright.indexer.files import SourceFile
from ghostwright.server.comment_syntax import COMMENT_STARTS
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.data.reader import training_files, training_text
from ghostwright.training.evaluate.data import EvalCase, is_trivial
from ghostwright.training.evaluate.metrics import identifiers

HELD_OUT_SHARE = 0.2
STRATA = ("whole-line", "end-of-line", "span", "docstring-body", "cross-file")
MIN_NAME = 4  # shorter names (i, df, run) are too common to prove a cross-file dependency
DEFINITION = re.compile(
    r"\b(?:def|class|function|func|fn|struct|interface|type|enum|trait)\s+([A-Za-z_]\w*)"
)


@dataclass(frozen=True)
class MinedHoles:
    cases: list[EvalCase]
    description: dict


def split_files(files: list[SourceFile], seed: int) -> tuple[list[SourceFile], list[SourceFile]]:
    """(held_out, context): stable for a seed whatever else changes in the repository."""

    def bucket(item: SourceFile) -> float:
        digest = hashlib.sha256(f"{seed}:{item.relative}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    held_out = [item for item in files if bucket(item) < HELD_OUT_SHARE]
    if not held_out and len(files) > 1:
        held_out = [min(files, key=bucket)]
    return held_out, [item for item in files if item not in held_out]


def mine_repository(
    root: Path,
    seed: int = 0,
    holes_per_file: int = 12,
    languages: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> MinedHoles:
    """Every hole of the held-out files, in file order then stratum order."""
    if not root.is_dir():
        raise GhostwrightError(f"not a directory: {root}")
    files = training_files(root, languages=languages, exclude=exclude)
    if len(files) < 2:
        raise GhostwrightError(f"{root} has fewer than two source files to split")
    held_out, context = split_files(files, seed)
    foreign = names_defined_by_file(context)
    cases: list[EvalCase] = []
    for item in held_out:
        text = training_text(item)
        if text is not None:
            rng = random.Random(f"{seed}:{item.relative}")
            cases += mine_file(item, text, rng, holes_per_file, foreign)
    counts = Counter(case.stratum for case in cases)
    description = {
        "split_seed": seed,
        "held_out_files": [item.relative for item in held_out],
        "context_files": len(context),
        "holes_by_stratum": dict(sorted(counts.items())),
    }
    return MinedHoles(cases, description)


def mine_file(
    item: SourceFile, text: str, rng: random.Random, budget: int, foreign: dict[str, set[str]]
) -> list[EvalCase]:
    """Up to `budget` holes of one file, spread over the strata."""
    lines = text.split("\n")
    per_stratum = max(1, budget // len(STRATA))
    own = _names_defined(text, item.language)
    code = _code_lines(lines, text, item.language)
    candidates = {
        "whole-line": [_whole_line(lines, i) for i in code],
        "end-of-line": [_end_of_line(lines, i, rng) for i in code],
        "span": [_span(lines, i, rng.randint(2, 8)) for i in code],
        "docstring-body": docstring_bodies(lines, text) if item.language == "python" else [],
        "cross-file": [
            _whole_line(lines, i)
            for i in code
            if _uses_foreign(lines[i], own, foreign, item.relative)
        ],
    }
    cases = []
    for stratum in STRATA:
        pool = [hole for hole in candidates[stratum] if hole is not None]
        for index, (prefix, target, suffix) in enumerate(
            rng.sample(pool, min(per_stratum, len(pool)))
        ):
            cases.append(
                EvalCase(
                    case_id=f"{item.relative}#{stratum}-{index}",
                    prefix=prefix,
                    suffix=suffix,
                    target=target,
                    language=item.language,
                    stratum=stratum,
                    trivial=is_trivial(target),
                )
            )
    return cases


Hole = tuple[str, str, str]  # prefix, target, suffix


def _code_lines(lines: list[str], text: str, language: str) -> list[int]:
    """Lines with code on them: not blank, not a comment, not inside a docstring."""
    prose = _docstring_lines(text) if language == "python" else set()
    return [
        i
        for i, line in enumerate(lines)
        if line.strip() and i not in prose and not line.lstrip().startswith(COMMENT_STARTS)
    ]


def _docstring_lines(text: str) -> set[int]:
    """0-based lines covered by string statements (docstrings and other bare strings)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return set()
    covered: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and node.end_lineno is not None
        ):
            covered.update(range(node.lineno - 1, node.end_lineno))
    return covered


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _join(before: list[str], after: list[str]) -> tuple[str, str]:
    prefix = "".join(row + "\n" for row in before)
    suffix = "".join("\n" + row for row in after)
    return prefix, suffix


def _whole_line(lines: list[str], i: int) -> Hole:
    prefix, suffix = _join(lines[:i], lines[i + 1 :])
    return prefix + _indent(lines[i]), lines[i].strip(), suffix


def _end_of_line(lines: list[str], i: int, rng: random.Random) -> Hole | None:
    line = lines[i].rstrip()
    start = len(_indent(line))
    cuts = [j for j in range(start + 1, len(line)) if is_word_end(line, j)]
    if not cuts:
        return None
    j = rng.choice(cuts)
    prefix, suffix = _join(lines[:i], lines[i + 1 :])
    return prefix + line[:j], line[j:], suffix


def _span(lines: list[str], i: int, size: int) -> Hole | None:
    if i + size > len(lines):
        return None
    prefix, suffix = _join(lines[:i], lines[i + size :])
    return prefix + _indent(lines[i]), _block(lines, i, i + size), suffix


def _block(lines: list[str], first: int, end: int) -> str:
    """Lines [first, end) as a target: the first without the indentation the cursor is after."""
    return "\n".join([lines[first].strip()] + [row.rstrip() for row in lines[first + 1 : end]])


def is_word_end(text: str, index: int) -> bool:
    """`index` sits right after an identifier character and before something else."""
    before, here = text[index - 1], text[index]
    return (before.isalnum() or before == "_") and not (here.isalnum() or here == "_")


def docstring_bodies(lines: list[str], text: str) -> list[Hole]:
    """Function bodies after a docstring, at most 15 lines long."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    holes = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or len(node.body) < 2:
            continue
        if ast.get_docstring(node) is None or node.end_lineno is None:
            continue
        first, last = node.body[1].lineno - 1, node.end_lineno  # 0-based start, exclusive end
        if not 0 < last - first <= 15:
            continue
        prefix, suffix = _join(lines[:first], lines[last:])
        holes.append((prefix + _indent(lines[first]), _block(lines, first, last), suffix))
    return holes


def _names_defined(text: str, language: str) -> set[str]:
    if language == "python":
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return set()
        return {
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
    return set(DEFINITION.findall(text))


def names_defined_by_file(files: list[SourceFile]) -> dict[str, set[str]]:
    """Name -> files (relative paths) that define it, for names long enough to be telling."""
    defined: dict[str, set[str]] = defaultdict(set)
    for item in files:
        text = training_text(item)
        if text is None:
            continue
        for name in _names_defined(text, item.language):
            if len(name) >= MIN_NAME:
                defined[name].add(item.relative)
    return defined


def _uses_foreign(line: str, own: set[str], foreign: dict[str, set[str]], relative: str) -> bool:
    return any(
        name not in own and relative not in foreign.get(name, {relative})
        for name in identifiers(line)
        if name in foreign
    )
