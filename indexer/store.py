"""The index on disk: SQLite (metadata, vectors, full-text) is the truth, FAISS a fast copy.

`<repo>/.ghostwright/meta.sqlite` (`database.py`) holds every chunk, file hash and vector (keyed
by the chunk text's hash: the embedding cache) and the FTS5 table of `lexical.py`, all updated
in one transaction. `index.faiss`, derived from the vectors, is saved atomically but not after
every change: `open` repairs a lagging copy from the stored vectors, embedding nothing again.

Two writers (`ghostwright index` while the server runs) share SQLite; each process's FAISS copy
takes in the other's commits before a search or a write, as `PRAGMA data_version` shows them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from ghostwright.indexer import lexical
from ghostwright.indexer.chunker import Chunk
from ghostwright.indexer.database import (
    FAISS_FILE,
    open_database,
    stack_vectors,
    store_vectors,
    stored_vectors,
)
from ghostwright.indexer.terms import identifier_terms
from ghostwright.indexer.vectors import VectorIndex

logger = logging.getLogger(__name__)

# In the order of Chunk's fields, so a row builds a Chunk directly.
CHUNK_COLUMNS = "id, path, start_line, end_line, text, language, symbol, hash"


@dataclass(frozen=True)
class FileRecord:
    path: str
    hash: str
    size: int
    mtime_ns: int


class IndexStore:
    """One repository's index; every method is safe from any thread (one lock)."""

    def __init__(self, directory: Path, embedder_id: str, dim: int) -> None:
        self.directory = directory
        self.embedder_id = embedder_id
        self.dim = dim
        self._lock = threading.RLock()
        directory.mkdir(parents=True, exist_ok=True)
        self._db = open_database(self.directory, self.embedder_id, self.dim)
        self.vectors = self._open_vectors()
        self._data_version = self._version()
        self._dirty = False
        # Kept in step with every write: counting 100k rows costs more than a whole search.
        self._chunk_count = self.counts()[1]

    # -- reading -----------------------------------------------------------------------------

    def files(self) -> dict[str, FileRecord]:
        with self._lock:
            rows = self._db.execute("SELECT path, hash, size, mtime_ns FROM files").fetchall()
        return {row[0]: FileRecord(*row) for row in rows}

    def chunks(self, ids: Sequence[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks})",
                [int(i) for i in ids],
            ).fetchall()
        return {row[0]: Chunk(*row) for row in rows}

    def chunks_by_symbol(self, names: Iterable[str], limit: int = 20) -> list[Chunk]:
        names = list(dict.fromkeys(names))
        if not names:
            return []
        marks = ",".join("?" * len(names))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE symbol IN ({marks}) LIMIT ?",
                [*names, limit],
            ).fetchall()
        return [Chunk(*row) for row in rows]

    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        with self._lock:
            return stored_vectors(self._db, hashes)

    def lexical_search(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(chunk id, bm25 score: higher is better) for chunks sharing terms with the query."""
        with self._lock:
            return lexical.search(self._db, terms, k, self._chunk_count)

    def dense_search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        with self._lock:
            self.refresh()
            return self.vectors.search(query, k)

    def refresh(self) -> bool:
        """Take in what another process committed since we last looked; True when it had."""
        with self._lock:
            version = self._version()
            if version == self._data_version:
                return False
            self._data_version = version
            missing, extra = self._reconcile(self.vectors)
            self._chunk_count = self.counts()[1]
            self._dirty = self._dirty or bool(missing or extra)
            if missing or extra:
                logger.info("index: %d chunks added, %d removed by another process", missing, extra)
            return True

    def counts(self) -> tuple[int, int]:
        """(files, chunks)."""
        with self._lock:
            files = self._db.execute("SELECT count(*) FROM files").fetchone()[0]
            chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(files), int(chunks)

    # -- writing -----------------------------------------------------------------------------

    def replace_file(
        self, record: FileRecord, chunks: Sequence[Chunk], vectors: dict[str, np.ndarray]
    ) -> None:
        """Make `chunks` the file's chunks: remove ids that went away, add the new ones."""
        with self._lock:
            with self._writing():
                old = {
                    row[0]
                    for row in self._db.execute(
                        "SELECT id FROM chunks WHERE path = ?", (record.path,)
                    )
                }
                new = {chunk.id: chunk for chunk in chunks}
                gone = sorted(old - new.keys())
                added = [chunk for chunk in chunks if chunk.id not in old]
                self._delete_chunks(gone)
                store_vectors(self._db, vectors)
                self._insert_chunks(added)
                # Kept chunks may have moved when lines above them changed.
                self._db.executemany(
                    "UPDATE chunks SET start_line = ?, end_line = ? WHERE id = ?",
                    [(c.start_line, c.end_line, c.id) for c in chunks if c.id in old],
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?)",
                    (record.path, record.hash, record.size, record.mtime_ns),
                )
            self.vectors.remove(gone)
            self.vectors.add(
                [c.id for c in added], stack_vectors([vectors[c.hash] for c in added], self.dim)
            )
            self._chunk_count += len(added) - len(gone)
            self._dirty = True

    def touch_file(self, record: FileRecord) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE files SET size = ?, mtime_ns = ? WHERE path = ?",
                (record.size, record.mtime_ns, record.path),
            )

    def remove_files(self, paths: Iterable[str]) -> int:
        """Forget files (deleted, renamed away, now ignored); returns how many were known."""
        removed = 0
        with self._lock:
            for path in paths:
                with self._writing():
                    ids = [
                        row[0]
                        for row in self._db.execute("SELECT id FROM chunks WHERE path = ?", (path,))
                    ]
                    self._delete_chunks(ids)
                    removed += self._db.execute(
                        "DELETE FROM files WHERE path = ?", (path,)
                    ).rowcount
                self.vectors.remove(ids)
                self._chunk_count -= len(ids)
            self._dirty = self._dirty or removed > 0
        return removed

    def prune_vectors(self) -> None:
        """Drop cached vectors no chunk uses any more (after a full scan)."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM vectors WHERE hash NOT IN (SELECT hash FROM chunks)")

    def flush(self) -> None:
        """Write the FAISS copy when it changed since the last write (atomically), with what
        other processes committed: processes take turns, and each refreshes before it saves, so
        the last copy written holds every chunk SQLite does."""
        with self._lock:
            if not self._dirty and self._version() == self._data_version:
                return
            with FileLock(self.directory / f"{FAISS_FILE}.lock"):
                self.refresh()
                self.vectors.save(self.directory / FAISS_FILE)
            self._dirty = False

    def close(self) -> None:
        with self._lock:
            self.flush()
            self._db.close()

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One transaction that holds SQLite's write lock from its first read: another process
        writing the same file lands wholly before or after it, never between read and write."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()

    def _delete_chunks(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT terms FROM lexical WHERE rowid IN ({marks})", part)
            lexical.count_terms(self._db, [row[0] for row in rows], -1)
        self._db.executemany("DELETE FROM lexical WHERE rowid = ?", [(i,) for i in ids])
        self._db.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in ids])

    def _insert_chunks(self, chunks: Sequence[Chunk]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.id, c.path, c.start_line, c.end_line, c.hash, c.language, c.symbol, c.text)
                for c in chunks
            ],
        )
        terms = [" ".join(identifier_terms(f"{c.path} {c.symbol} {c.text}")) for c in chunks]
        self._db.executemany(
            "INSERT INTO lexical (rowid, terms) VALUES (?, ?)",
            [(c.id, text) for c, text in zip(chunks, terms, strict=True)],
        )
        lexical.count_terms(self._db, terms, +1)

    def _open_vectors(self) -> VectorIndex:
        """The FAISS copy, brought back in line with SQLite when it lags or is damaged."""
        path = self.directory / FAISS_FILE
        vectors = VectorIndex.load(path, self.dim)
        missing, extra = self._reconcile(vectors)
        if missing or extra:
            logger.warning(
                "FAISS index at %s was out of date (%d missing, %d stale): repaired from SQLite",
                path,
                missing,
                extra,
            )
            vectors.save(path)
        return vectors

    def _reconcile(self, vectors: VectorIndex) -> tuple[int, int]:
        """Make `vectors` hold exactly SQLite's chunks, from the stored vectors (nothing is
        embedded); (added, removed)."""
        wanted = {row[0] for row in self._db.execute("SELECT id FROM chunks")}
        present = vectors.ids()
        missing, extra = wanted - present, present - wanted
        vectors.remove(sorted(extra))
        ids, matrix = self._stored_vectors(sorted(missing))
        vectors.add(ids, matrix)
        return len(missing), len(extra)

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _stored_vectors(self, ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
        pairs: list[tuple[int, str]] = []
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            pairs += self._db.execute(
                f"SELECT id, hash FROM chunks WHERE id IN ({marks})", part
            ).fetchall()
        cached = self.cached_vectors(digest for _, digest in pairs)
        kept = [(chunk_id, cached[digest]) for chunk_id, digest in pairs if digest in cached]
        if len(kept) < len(pairs):
            # A chunk without its vector cannot be searched: forget it so a rescan embeds it.
            orphans = [chunk_id for chunk_id, digest in pairs if digest not in cached]
            with self._db:
                self._delete_chunks(orphans)
                self._db.execute("DELETE FROM files WHERE path NOT IN (SELECT path FROM chunks)")
        return [i for i, _ in kept], stack_vectors([v for _, v in kept], self.dim)
