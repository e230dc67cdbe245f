"""Two writers on one index, as real processes: `ghostwright index` while another process (the
server) has the index open, and two `ghostwright index` runs at once. SQLite stays whole, no
vector is lost, and the open index searches the other process's new chunks without reopening."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghostwright.indexer.database import FAISS_FILE, META_FILE
from ghostwright.indexer.vectors import VectorIndex
from ghostwright.server.config import Settings
from ghostwright.server.indexing.workspace import open_index

pytestmark = pytest.mark.model
INDEX = [sys.executable, "-m", "ghostwright.server", "index"]


def repository(root: Path, files: int) -> None:
    root.mkdir()
    for number in range(files):
        (root / f"module{number}.py").write_text(
            f"def compute_{number}(values):\n    return sum(values) * {number}\n\n\n"
            f"class Holder{number}:\n    def __init__(self):\n        self.items = []\n"
        )


def consistent(root: Path) -> tuple[int, int]:
    """(chunks in SQLite, vectors in the FAISS file): equal when nothing was lost."""
    import sqlite3

    folder = root / ".ghostwright"
    chunks = sqlite3.connect(folder / META_FILE).execute("SELECT count(*) FROM chunks").fetchone()
    return int(chunks[0]), len(VectorIndex.load(folder / FAISS_FILE, 384).ids())


def test_the_cli_indexes_while_the_server_has_the_index_open(tmp_path: Path):
    root = tmp_path / "repo"
    repository(root, 4)
    service = open_index(root, Settings(), threads=1)  # the server's side, no watcher
    try:
        service.sync()
        (root / "payments.py").write_text(
            "def refund_duplicate_charge(charge):\n    return charge.amount * -1\n"
        )
        done = subprocess.run([*INDEX, str(root)], capture_output=True, text=True, env=os.environ)
        assert done.returncode == 0, done.stderr
        hits = service.search("refund a duplicate charge", k=3)
        assert hits and hits[0].chunk.path == "payments.py" and hits[0].dense is not None
        in_sqlite = service.store.counts()[1]
        assert len(service.store.vectors.ids()) == in_sqlite  # the other's chunks taken in
    finally:
        service.close()
    assert consistent(root)[0] == consistent(root)[1] == in_sqlite


def test_two_index_runs_at_once_lose_nothing(tmp_path: Path):
    root = tmp_path / "repo"
    repository(root, 40)
    runs = [subprocess.Popen([*INDEX, str(root)], stderr=subprocess.PIPE, text=True)]
    runs.append(subprocess.Popen([*INDEX, str(root)], stderr=subprocess.PIPE, text=True))
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()
        # A database the other process holds is waited for, never taken for a damaged one (which
        # would delete the other's index under it: "database disk image is malformed").
        assert "rebuilding" not in run.stderr.read()
    chunks, vectors = consistent(root)
    assert chunks == vectors == 80  # a function and a class per file
