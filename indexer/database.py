"""The index's SQLite database (`meta.sqlite`, WAL mode): its schema, and opening it healthy.

It is the index's truth (`store.py`): chunks with their text and line range, one row per file
with its content hash, every vector keyed by the chunk text's hash, an FTS5 table for lexical
search and the per-term chunk counts.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "2"  # 2: term_df table, FTS5-shaped terms
META_FILE = "meta.sqlite"
FAISS_FILE = "index.faiss"  # the fast copy, derived from the vectors (store.py)
WRITE_WAIT_S = 30.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, hash TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL, hash TEXT NOT NULL, language TEXT NOT NULL, symbol TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_symbol ON chunks(symbol);
CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS lexical USING fts5(terms);
-- Chunks per term, kept by hand: fts5vocab would walk a common term's whole posting list.
CREATE TABLE IF NOT EXISTS term_df (term TEXT PRIMARY KEY, df INTEGER NOT NULL) WITHOUT ROWID;
"""


def open_database(directory: Path, embedder_id: str, dim: int) -> sqlite3.Connection:
    """The index's database, with the schema; a damaged one, or one of another schema or
    embedder, is replaced by an empty one (and the FAISS copy with it), with a warning."""
    path = directory / META_FILE
    # Processes opening one index take turns, so one never rebuilds what another is creating.
    with FileLock(directory / f"{META_FILE}.lock"):
        return _open_or_rebuild(path, directory, embedder_id, dim)


def _open_or_rebuild(path: Path, directory: Path, embedder_id: str, dim: int) -> sqlite3.Connection:
    db = _connect(path)
    if db is not None and _compatible(db, embedder_id, dim):
        _write_meta(db, embedder_id, dim)
        return db
    if db is not None:
        db.close()
        logger.warning("index at %s was built by another embedder or schema: rebuilding", path)
    else:
        logger.warning("index at %s is damaged or unreadable: rebuilding", path)
    for name in (META_FILE, f"{META_FILE}-wal", f"{META_FILE}-shm", FAISS_FILE):
        (directory / name).unlink(missing_ok=True)
    db = _connect(path)
    if db is None:
        raise sqlite3.DatabaseError(f"cannot create an index at {path}")
    _write_meta(db, embedder_id, dim)
    return db


def _write_meta(db: sqlite3.Connection, embedder_id: str, dim: int) -> None:
    meta = [("schema", SCHEMA_VERSION), ("embedder", embedder_id), ("dim", str(dim))]
    with db:
        db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", meta)


def _connect(path: Path) -> sqlite3.Connection | None:
    """An open, healthy database with the schema, or None when the file is damaged. A database
    another process holds ("database is locked": SQLite skips its busy wait for some locks) is
    not damaged: it is waited for, and after WRITE_WAIT_S the error is raised, never taken for
    damage (that would delete the other process's index under it)."""
    deadline = time.monotonic() + WRITE_WAIT_S
    while True:
        try:
            return _connect_once(path)
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _connect_once(path: Path) -> sqlite3.Connection | None:
    db = None
    try:
        # Another process's write transaction (one file's chunks) is waited for, not an error.
        db = sqlite3.connect(
            path, check_same_thread=False, isolation_level="DEFERRED", timeout=WRITE_WAIT_S
        )
        # Switching to WAL takes an exclusive lock: only a new file needs it (the mode persists).
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            db.close()
            return None
        db.executescript(SCHEMA)
        return db
    except sqlite3.DatabaseError as exc:
        if db is not None:
            db.close()
        if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
            raise
        logger.debug("cannot open %s: %s", path, exc)
        return None


def _busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _compatible(db: sqlite3.Connection, embedder_id: str, dim: int) -> bool:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if not meta:
        return not db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    expected = {"schema": SCHEMA_VERSION, "embedder": embedder_id, "dim": str(dim)}
    return all(meta.get(key) == value for key, value in expected.items())


def stored_vectors(db: sqlite3.Connection, hashes: Iterable[str]) -> dict[str, np.ndarray]:
    """The stored vector of each chunk-text hash that has one (the embedding cache)."""
    hashes = list(set(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), 500):
        part = hashes[start : start + 500]
        marks = ",".join("?" * len(part))
        query = f"SELECT hash, vector FROM vectors WHERE hash IN ({marks})"
        for digest, blob in db.execute(query, part):
            found[digest] = np.frombuffer(blob, dtype=np.float32)
    return found


def store_vectors(db: sqlite3.Connection, vectors: dict[str, np.ndarray]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO vectors VALUES (?, ?)",
        [(digest, np.asarray(v, dtype=np.float32).tobytes()) for digest, v in vectors.items()],
    )


def stack_vectors(rows: Sequence[np.ndarray], dim: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, dim), dtype=np.float32)
    return np.ascontiguousarray(np.vstack(rows), dtype=np.float32)
