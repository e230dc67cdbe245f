"""How the index ranks chunks for a query: the dense (FAISS, cosine) and lexical (SQLite FTS5,
BM25: `lexical.py`) result lists fused by reciprocal rank, which needs no score calibration
between the two. The completion pipeline asks through `IndexService.search`
(`server/pipeline/retrieval.py` decides what to ask and what fits the prompt)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ghostwright.indexer.chunker import Chunk

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.): damps the top ranks' weight


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    score: float  # fused: higher is better
    dense: float | None  # cosine similarity when the dense search found it
    lexical: float | None  # bm25 when the lexical search found it


def fuse(
    rankings: Sequence[Sequence[tuple[int, float]]],
    chunks_of: Callable[[list[int]], dict[int, Chunk]],
    k: int,
    exclude: Callable[[Chunk], bool] | None = None,
) -> list[SearchHit]:
    """Reciprocal rank fusion of (id, score) lists: the first is dense, the second lexical."""
    fused: Counter[int] = Counter()
    for ranking in rankings:
        for rank, (chunk_id, _) in enumerate(ranking):
            fused[chunk_id] += 1.0 / (RRF_K + rank + 1)
    chunks = chunks_of(list(fused))
    scores = [dict(ranking) for ranking in rankings]
    hits = []
    for chunk_id, score in fused.most_common():
        chunk = chunks.get(chunk_id)
        if chunk is None or (exclude is not None and exclude(chunk)):
            continue
        dense = scores[0].get(chunk_id) if scores else None
        lexical = scores[1].get(chunk_id) if len(scores) > 1 else None
        hits.append(SearchHit(chunk, score, dense, lexical))
        if len(hits) == k:
            break
    return hits
