"""Recall@k and MRR of an embedder on held-out (query, code) pairs, ranked against the corpus."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ghostwright.training.embedder.pairs import KINDS, Pair

Embed = Callable[[Sequence[str]], np.ndarray]
KS = (1, 5, 10)


def ranks(embed: Embed, pairs: Sequence[Pair], corpus: Sequence[str]) -> list[int]:
    """The 1-based rank of each pair's code among all corpus texts, by cosine similarity."""
    position = {text: index for index, text in enumerate(corpus)}
    documents = embed(list(corpus))
    queries = embed([pair.query for pair in pairs])
    scores = queries @ documents.T
    found = []
    for row, pair in enumerate(pairs):
        target = scores[row, position[pair.positive]]
        found.append(1 + int((scores[row] > target).sum()))
    return found


def summarise(found: Sequence[int], pairs: Sequence[Pair]) -> dict:
    """Recall@1/5/10 and MRR, over all pairs and per kind."""

    def figures(selected: list[int]) -> dict:
        if not selected:
            return {"pairs": 0}
        array = np.asarray(selected)
        return {
            "pairs": len(selected),
            **{f"recall@{k}": round(float((array <= k).mean()), 4) for k in KS},
            "mrr": round(float((1.0 / array).mean()), 4),
        }

    by_kind = {
        kind: figures([rank for rank, pair in zip(found, pairs, strict=True) if pair.kind == kind])
        for kind in KINDS
    }
    return {**figures(list(found)), "by_kind": by_kind}


def retrieval_scores(embed: Embed, pairs: Sequence[Pair], corpus: Sequence[str]) -> dict:
    return summarise(ranks(embed, pairs, corpus), pairs)
