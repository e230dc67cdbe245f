"""Snippets from the repository index for one completion: related code the model cannot see.

The query is the code around the cursor; dense and lexical results are fused by the index
(reciprocal rank: `indexer/ranking.py`, BM25: `indexer/lexical.py`),
definitions of names the current file imports join them, and chunks inside the current prompt
window are left out (the model sees those already). Snippets fill `tokens` of the prompt.

Two rules keep this off the critical path:
- a hard time budget: when retrieval takes longer, this completion goes without snippets, and the
  result, once ready, serves the next keystrokes;
- stable snippets: the choice is kept while the prompt window starts on the same line, because
  snippets come first in the prompt and a changed first token discards llama.cpp's KV cache.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path

from ghostwright.indexer.chunker import Chunk
from ghostwright.indexer.files import repository_path
from ghostwright.indexer.service import IndexService
from ghostwright.server.pipeline.context import Window
from ghostwright.server.pipeline.snippets import fit_snippets
from ghostwright.server.prompt_formats import ContextFile, PromptFormat

logger = logging.getLogger(__name__)

CACHE_ENTRIES = 256
QUERY_LINES = 24  # lines above the cursor in the query
QUERY_LINES_BELOW = 4  # the cursor line and three below it
PYTHON_FROM_IMPORT = re.compile(r"^\s*from\s+[\w.]+\s+import\s+\(?([\w\s,]+)\)?", re.MULTILINE)
JS_IMPORT = re.compile(r"^\s*import\s+(?:(\w+)\s*,?\s*)?(?:\{([^}]*)\})?\s*from\s", re.MULTILINE)
NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class RetrievalOptions:
    tokens: int = 384
    time_budget_s: float = 0.08
    k: int = 8  # candidates considered before the token budget cuts
    query_lines: int = QUERY_LINES  # lines above the cursor (and a few below): the query


class Retriever:
    """Context files for completions in the repository `index` covers."""

    def __init__(
        self,
        index: IndexService,
        prompt_format: PromptFormat,
        count_tokens: Callable[[str], int],
        options: RetrievalOptions | None = None,
    ) -> None:
        self.index = index
        self.format = prompt_format
        self.count_tokens = count_tokens
        self.options = options or RetrievalOptions()
        self._cache: OrderedDict[tuple, list[ContextFile]] = OrderedDict()
        self._pending: dict[tuple, Future[list[ContextFile]]] = {}
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghostwright-retrieval")

    def context(self, text: str, line: int, path: str, window: Window) -> list[ContextFile]:
        """Snippets for a completion at `line`, or [] when they are not ready within budget."""
        if self.options.tokens <= 0 or self.index.state not in ("ready", "building"):
            return []
        relative = self._relative(path)
        key = (relative, window.first_line, self.index.generation)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            future = self._pending.get(key)
            started = future is None
            if future is None:
                future = self._worker.submit(self._retrieve, text, line, relative, window)
                self._pending[key] = future
        if started:  # outside the lock: a future already done runs the callback right here
            future.add_done_callback(lambda done, key=key: self._store(key, done))
        try:
            return future.result(timeout=self.options.time_budget_s)
        except FutureTimeout:
            logger.debug("retrieval over budget for %s:%d; completing without it", relative, line)
            return []
        except Exception:  # a broken index costs the snippets, never the completion
            logger.exception("retrieval failed")
            return []

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    def _store(self, key: tuple, future: Future[list[ContextFile]]) -> None:
        with self._lock:
            self._pending.pop(key, None)
            if future.cancelled() or future.exception() is not None:
                return
            self._cache[key] = future.result()
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)

    def _retrieve(self, text: str, line: int, relative: str, window: Window) -> list[ContextFile]:
        lines = text.split("\n")
        query = retrieval_query(lines, line, self.options.query_lines)
        window_end = window.first_line + window.prefix.count("\n") + window.suffix.count("\n")

        def inside_window(chunk: Chunk) -> bool:
            same_file = chunk.path == relative
            return (
                same_file and chunk.start_line <= window_end and chunk.end_line >= window.first_line
            )

        hits = self.index.search(query, self.options.k, exclude=inside_window)
        imported = [
            chunk
            for chunk in self.index.store.chunks_by_symbol(imported_names(text), limit=8)
            if not inside_window(chunk)
        ]
        return self._fit(_merge(imported, [hit.chunk for hit in hits]), relative)

    def _fit(self, chunks: Sequence[Chunk], relative: str) -> list[ContextFile]:
        """As many snippets as fit the token budget, best first, each shown once; most relevant
        last: nearest to the cursor, where small models pay most attention."""
        items = [ContextFile(f"{chunk.path}", chunk.text) for chunk in chunks]
        fitted = fit_snippets(items, self.format, self.count_tokens, self.options.tokens, relative)
        return fitted[::-1]

    def _relative(self, path: str) -> str:
        if not path:
            return ""
        # A file outside the repository keeps its own path: its chunks are none of the index's.
        return repository_path(self.index.root, path) or Path(path).as_posix()


def retrieval_query(lines: list[str], line: int, query_lines: int = QUERY_LINES) -> str:
    """What the index is searched with at a cursor on `line`: the lines above and a few below
    (the embedder's trainer builds its call-site queries the same way)."""
    first = max(0, line - query_lines)
    return "\n".join(lines[first : line + QUERY_LINES_BELOW])


def imported_names(text: str) -> list[str]:
    """Names a Python or JavaScript/TypeScript file imports (`from m import a, b as c` -> a, b)."""
    names: list[str] = []
    for match in PYTHON_FROM_IMPORT.finditer(text):
        names += [part.split()[0] for part in match.group(1).split(",") if part.strip()]
    for match in JS_IMPORT.finditer(text):
        default, braced = match.group(1), match.group(2) or ""
        names += [default] if default else []
        names += [part.split()[0] for part in braced.split(",") if part.strip()]
    return [name for name in dict.fromkeys(names) if NAME.fullmatch(name)]


def _merge(first: Sequence[Chunk], second: Sequence[Chunk]) -> list[Chunk]:
    """`first` then `second`, without repeats or chunks that overlap an earlier one."""
    merged: list[Chunk] = []
    for chunk in [*first, *second]:
        if any(_overlaps(chunk, other) for other in merged):
            continue
        merged.append(chunk)
    return merged


def _overlaps(a: Chunk, b: Chunk) -> bool:
    return a.path == b.path and a.start_line <= b.end_line and b.start_line <= a.end_line
