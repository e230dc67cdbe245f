"""FAISS behind four verbs (add, remove, search, save), switching structure with size.

Below `IVF_THRESHOLD` vectors: `IndexIDMap2` over an exact inner-product `IndexFlatIP`. Above it:
an `IndexIVFFlat` (inner product, ids stored natively, so removal stays correct), trained on the
vectors it starts with and searched with `nprobe` lists. Vectors are unit length, so inner
product is cosine similarity. FAISS keeps duplicates for a reused id: callers remove before add.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import faiss
import numpy as np

from ghostwright.indexer.atomic import atomic_path

logger = logging.getLogger(__name__)

IVF_THRESHOLD = 50_000
NPROBE = 16


class VectorIndex:
    """An id -> vector map with nearest-neighbour search; not thread-safe (the store locks)."""

    def __init__(self, index: faiss.Index, dim: int) -> None:
        self.index = index
        self.dim = dim

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dim)

    @classmethod
    def load(cls, path: Path, dim: int) -> VectorIndex:
        """The saved index, or an empty one when the file is missing, damaged or of another size."""
        if not path.is_file():
            return cls.empty(dim)
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            logger.warning("FAISS index %s is damaged (%s): rebuilding it", path, exc)
            return cls.empty(dim)
        if index.d != dim:
            logger.warning(
                "FAISS index %s has dimension %d, not %d: rebuilding", path, index.d, dim
            )
            return cls.empty(dim)
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = NPROBE
        return cls(index, dim)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> set[int]:
        if isinstance(self.index, faiss.IndexIVF):
            invlists = self.index.invlists
            found: set[int] = set()
            for list_no in range(self.index.nlist):
                count = invlists.list_size(list_no)
                if count:
                    ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), count)
                    found.update(int(i) for i in ids)
            return found
        return {int(i) for i in faiss.vector_to_array(self.index.id_map)}

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        self.index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64)
        )
        if not isinstance(self.index, faiss.IndexIVF) and self.size >= IVF_THRESHOLD:
            self._to_ivf()

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(id, cosine similarity) of the `k` nearest vectors, best first."""
        if self.size == 0 or k <= 0:
            return []
        scores, ids = self.index.search(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def save(self, path: Path) -> None:
        with atomic_path(path) as partial:
            faiss.write_index(self.index, str(partial))

    def _to_ivf(self) -> None:
        """Move every vector into an IVF index trained on them (when the flat one grew large)."""
        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        vectors = self.index.index.reconstruct_n(0, self.size)
        lists = int(4 * math.sqrt(len(ids)))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, lists, faiss.METRIC_INNER_PRODUCT)
        ivf.train(vectors)
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = NPROBE
        quantizer.this.disown()  # the IVF index owns its quantizer from here on
        self.index = ivf
        logger.info("vector index switched to IVF with %d lists at %d vectors", lists, len(ids))
