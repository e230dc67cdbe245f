"""One repository's index as a subsystem: build, keep current, search.

All writes run on one worker thread (`submit_sync`, `submit_update`), so a completion never
waits for indexing; `search` runs on the caller's thread against the store's current state. A
file is re-chunked only when its content hash changed, and a chunk is embedded only when no
vector for its text is stored yet (the embedding cache), so a save costs about one file's chunks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ghostwright.indexer.chunker import Chunk, chunk_file
from ghostwright.indexer.embedder import Embedder
from ghostwright.indexer.files import (
    DEFAULT_MAX_BYTES,
    SourceFile,
    iter_source_files,
)
from ghostwright.indexer.ranking import SearchHit, fuse
from ghostwright.indexer.secrets import contains_secret
from ghostwright.indexer.store import FileRecord, IndexStore
from ghostwright.indexer.terms import query_terms

logger = logging.getLogger(__name__)

INDEX_DIR = ".ghostwright"
FLUSH_INTERVAL_S = 30.0
Progress = Callable[[int, int, str], None]  # (done, total, current path)


@dataclass(frozen=True)
class FileRules:
    """Which files the index takes (settings fill these in)."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class IndexStats:
    """What one sync or update did."""

    files: int = 0  # files in the index afterwards
    chunks: int = 0
    seconds: float = 0.0
    scanned: int = 0
    changed: int = 0
    removed: int = 0
    embedded: int = 0
    reused: int = 0  # chunks whose vector came from the cache
    secret_chunks: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


class IndexService:
    """Build, update and search the index of `root` (stored under `root/.ghostwright`)."""

    def __init__(
        self,
        root: Path,
        embedder: Embedder,
        rules: FileRules | None = None,
        *,
        index_dir: Path | None = None,
    ) -> None:
        self.root = root.resolve()
        self.embedder = embedder
        self.rules = rules or FileRules()
        self.index_dir = index_dir or self.root / INDEX_DIR
        self.store = IndexStore(self.index_dir, embedder.id, embedder.dim)
        _ignore_index_dir(self.index_dir)
        self.state = "not built" if not self.store.counts()[1] else "ready"
        self.last_stats: IndexStats | None = None
        self.generation = 0  # changes whenever search results may have changed
        self._flushed_at = time.monotonic()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghostwright-index")
        self._closed = threading.Event()

    # -- background -------------------------------------------------------------------------

    def submit_sync(self, progress: Progress | None = None) -> Future[IndexStats]:
        return self._worker.submit(self._guarded, self.sync, progress)

    def submit_update(self, paths: Iterable[str]) -> Future[IndexStats]:
        return self._worker.submit(self._guarded, self.update, list(paths))

    def _guarded(self, job: Callable, *args: object) -> IndexStats:
        try:
            return job(*args)
        except Exception as exc:  # a failed index must never take completions down with it
            logger.exception("indexing %s failed", self.root)
            self.state = f"error: {exc}"
            raise

    # -- work ---------------------------------------------------------------------------------

    def sync(self, progress: Progress | None = None) -> IndexStats:
        """Bring the whole index in line with the files on disk."""
        started = time.perf_counter()
        self.state = "building"
        stats, skipped = IndexStats(), Counter()
        files = list(self._files(None, skipped))
        known = self.store.files()
        for done, source in enumerate(files):
            if self._closed.is_set():
                break
            if progress:
                progress(done, len(files), source.relative)
            self._index_file(source, known.get(source.relative), stats)
        stats.removed = self.store.remove_files(set(known) - {f.relative for f in files})
        self.store.prune_vectors()
        self.flush()
        return self._finish(stats, skipped, len(files), started)

    def update(self, paths: Sequence[str]) -> IndexStats:
        """Re-index these repository-relative paths (saved, created, deleted or renamed)."""
        started = time.perf_counter()
        stats, skipped = IndexStats(), Counter()
        wanted = {_relative(self.root, path) for path in paths} - {""}
        files = list(self._files(wanted, skipped))
        known = self.store.files()
        for source in files:
            self._index_file(source, known.get(source.relative), stats)
        stats.removed = self.store.remove_files(wanted - {f.relative for f in files})
        if time.monotonic() - self._flushed_at > FLUSH_INTERVAL_S:
            self.flush()  # SQLite has every change already; this only shortens repair at start
        return self._finish(stats, skipped, len(files), started)

    def flush(self) -> None:
        self.store.flush()
        self._flushed_at = time.monotonic()

    def close(self) -> None:
        self._closed.set()
        self._worker.shutdown(wait=True, cancel_futures=True)
        self.store.close()

    # -- search -------------------------------------------------------------------------------

    def search(
        self, query: str, k: int = 10, *, exclude: Callable[[Chunk], bool] | None = None
    ) -> list[SearchHit]:
        """Dense and lexical results fused by reciprocal rank, best first (`ranking.py`)."""
        pool = max(k * 4, 20)
        vector = self.embedder.embed([query])[0]
        rankings = [
            self.store.dense_search(vector, pool),
            self.store.lexical_search(query_terms(query), pool),
        ]
        return fuse(rankings, self.store.chunks, k, exclude)

    # -- internals ----------------------------------------------------------------------------

    def _files(self, only: set[str] | None, skipped: Counter[str]) -> Iterable[SourceFile]:
        return iter_source_files(
            self.root,
            include=self.rules.include,
            exclude=self.rules.exclude,
            max_bytes=self.rules.max_bytes,
            only=only,
            skipped=skipped,
        )

    def _index_file(self, source: SourceFile, known: FileRecord | None, stats: IndexStats) -> None:
        stats.scanned += 1
        try:
            stat = source.path.stat()
            if known and (known.size, known.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
                return  # untouched since it was indexed
            data = source.path.read_bytes()
        except OSError as exc:
            logger.info("skipping %s: %s", source.relative, exc)
            return
        digest = hashlib.sha256(data).hexdigest()
        record = FileRecord(source.relative, digest, stat.st_size, stat.st_mtime_ns)
        if known and known.hash == digest:
            self.store.touch_file(record)  # same content, new timestamp
            return
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
        chunks = chunk_file(source.relative, text, source.language)
        safe = [chunk for chunk in chunks if not contains_secret(chunk.text)]
        stats.secret_chunks += len(chunks) - len(safe)
        self.store.replace_file(record, safe, self._vectors_for(safe, stats))
        stats.changed += 1

    def _vectors_for(self, chunks: Sequence[Chunk], stats: IndexStats) -> dict[str, np.ndarray]:
        vectors = self.store.cached_vectors(chunk.hash for chunk in chunks)
        missing = list(
            {chunk.hash: chunk.text for chunk in chunks if chunk.hash not in vectors}.items()
        )
        if missing:
            embedded = self.embedder.embed([text for _, text in missing])
            vectors.update(
                {digest: row for (digest, _), row in zip(missing, embedded, strict=True)}
            )
        stats.embedded += len(missing)
        stats.reused += len(chunks) - len(missing)
        return vectors

    def _finish(
        self, stats: IndexStats, skipped: Counter[str], total: int, started: float
    ) -> IndexStats:
        stats.files, stats.chunks = self.store.counts()
        stats.skipped = dict(sorted(skipped.items()))
        stats.seconds = time.perf_counter() - started
        if stats.changed or stats.removed:
            self.generation += 1
        self.state = "ready"
        self.last_stats = stats
        logger.info(
            "index of %s: %d files, %d chunks (%d changed, %d removed, %d embedded) in %.2f s",
            self.root,
            stats.files,
            stats.chunks,
            stats.changed,
            stats.removed,
            stats.embedded,
            stats.seconds,
        )
        return stats


def _relative(root: Path, path: str) -> str:
    """A repository-relative POSIX path, or "" for a path outside the repository."""
    candidate = Path(path)
    if not candidate.is_absolute():
        return candidate.as_posix()
    try:
        return candidate.resolve().relative_to(root).as_posix()
    except ValueError:
        try:
            return candidate.relative_to(root).as_posix()  # deleted: cannot resolve
        except ValueError:
            return ""


def _ignore_index_dir(directory: Path) -> None:
    """Keep the index out of the user's commits, whatever their .gitignore says."""
    marker = directory / ".gitignore"
    if not marker.exists():
        marker.write_text("# written by ghostwright: the index is local state\n*\n")
