"""Per-case scores and their aggregation with bootstrap confidence intervals."""

from __future__ import annotations

import ast
import keyword
import random
import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from ghostwright.indexer.chunker import parser_for

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# tree-sitter grammar names for the languages we score beyond Python.
TREE_SITTER_NAMES = {
    "javascript": "javascript",
    "typescript": "typescript",
    "java": "java",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "cpp": "cpp",
}


def exact_match(prediction: str, target: str) -> bool:
    """Equal after stripping surrounding whitespace (the SantaCoder-FIM definition)."""
    return prediction.strip() == target.strip()


def edit_similarity(prediction: str, target: str) -> float:
    """1 - normalised Levenshtein distance, in [0, 1]."""
    return fuzz.ratio(prediction.strip(), target.strip()) / 100.0


def identifiers(text: str) -> list[str]:
    return [name for name in IDENTIFIER.findall(text) if not keyword.iskeyword(name)]


def identifier_match(prediction: str, target: str) -> bool:
    """The same identifiers in the same order (CrossCodeEval's identifier exact match)."""
    return identifiers(prediction) == identifiers(target)


def parses(source: str, language: str) -> bool | None:
    """Does `source` parse? None when we have no parser for the language."""
    if language == "python":
        try:
            ast.parse(source)
        except (SyntaxError, ValueError):
            return False
        return True
    name = TREE_SITTER_NAMES.get(language)
    parser = parser_for(name) if name else None
    if parser is None:
        return None
    return not parser.parse(source.encode("utf-8")).root_node.has_error  # type: ignore[attr-defined]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def bootstrap_interval(
    values: Sequence[float], resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    size = len(values)
    means = sorted(
        mean([values[rng.randrange(size)] for _ in range(size)]) for _ in range(resamples)
    )
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]
