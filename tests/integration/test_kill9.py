"""kill -9 at the worst moments, with real processes: during a full index build, during an
incremental one, and during an adapter install. Afterwards SQLite is whole, the FAISS copy is
repaired to match it at the next open, the next run resumes (what was embedded stays), and
`current.json` never names a partial file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghostwright.indexer.database import META_FILE
from ghostwright.server.config import Settings
from ghostwright.server.indexing.workspace import open_index
from ghostwright.server.installs.records import CURRENT, current_adapter

pytestmark = pytest.mark.model
INDEX = [sys.executable, "-m", "ghostwright.server", "index", "--json", "--threads", "1"]
FILES = 300


def repository(root: Path, version: int = 0) -> None:
    root.mkdir(exist_ok=True)
    for number in range(FILES):
        (root / f"module{number}.py").write_text(
            f"def compute_{number}_{version}(values):\n    return sum(values) * {number}\n\n\n"
            f"class Holder{number}v{version}:\n    def __init__(self):\n        self.items = []\n"
        )


def chunks_committed(root: Path, version: int | None = None) -> int:
    """Chunks in SQLite (of that version of the files, when given)."""
    where = "" if version is None else f" WHERE text LIKE '%\\_{version}(values)%' ESCAPE '\\'"
    try:
        db = sqlite3.connect(root / ".ghostwright" / META_FILE, timeout=5)
        try:
            return int(db.execute(f"SELECT count(*) FROM chunks{where}").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0  # not created yet


def kill_midway(root: Path, at_least: int, version: int) -> None:
    """Start `ghostwright index` and kill -9 it once `at_least` functions of the files'
    `version` are committed."""
    run = subprocess.Popen([*INDEX, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while chunks_committed(root, version) < at_least and time.monotonic() < deadline:
        assert run.poll() is None, "the index run finished before it could be killed"
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()


def resumed(root: Path) -> dict:
    """The next run's statistics, after checking the index opens consistent (FAISS repaired)."""
    service = open_index(root, Settings(), threads=1)
    try:
        in_sqlite = service.store.counts()[1]
        assert len(service.store.vectors.ids()) == in_sqlite
    finally:
        service.close()
    done = subprocess.run([*INDEX, str(root)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_kill9_during_a_full_build_and_an_incremental_one(tmp_path: Path):
    root = tmp_path / "repo"
    repository(root)
    kill_midway(root, at_least=20, version=0)
    first = resumed(root)
    assert first["chunks"] == 2 * FILES
    # The files the killed run finished (2 chunks each) are not indexed again.
    assert first["changed"] <= FILES - 20 and first["embedded"] <= 2 * FILES - 40

    repository(root, version=1)  # every file changed: an incremental run over all of them
    kill_midway(root, at_least=20, version=1)
    second = resumed(root)
    assert second["chunks"] == 2 * FILES and chunks_committed(root) == 2 * FILES
    assert second["changed"] <= FILES - 20


INSTALL = """
import shutil, sys, time
from pathlib import Path
from ghostwright.server.installs.write import Candidate, install


def copy_then_stall(source, target):
    # The first MiB lands, then the copy stalls: the kill always falls mid-copy, however fast
    # this machine copies (a real copy of a big file finished before the poll saw it in CI).
    with open(source, "rb") as src, open(target, "wb") as dst:
        dst.write(src.read(1 << 20))
        dst.flush()
    Path(sys.argv[3]).touch()
    time.sleep(600)


shutil.copyfile = copy_then_stall
check = {"passed": True, "kl_mean": 0.0, "top1_agreement": 1.0}
install(Candidate(Path(sys.argv[1]), "ghostwright-fim", "default", check, {"exact_match": 0.1},
                  {"exact_match": 0.2}), Path(sys.argv[2]))
"""


def test_kill9_during_an_adapter_install_leaves_the_previous_one_current(tmp_path: Path):
    from ghostwright.server.installs.write import Candidate, install

    adapters = tmp_path / "adapters"
    small = tmp_path / "old.gguf"
    small.write_bytes(b"GGUF" + b"\1" * 1000)
    check = {"passed": True, "kl_mean": 0.0, "top1_agreement": 1.0}
    install(Candidate(small, "f", "default", check, {"exact_match": 0.1}, {"exact_match": 0.2}),
            adapters)  # fmt: skip
    big = tmp_path / "new.gguf"
    big.write_bytes(b"GGUF" + b"\2" * (4 << 20))
    begun = tmp_path / "copy-begun"
    run = subprocess.Popen([sys.executable, "-c", INSTALL, str(big), str(adapters), str(begun)])
    deadline = time.monotonic() + 60
    while not begun.exists():
        assert time.monotonic() < deadline and run.poll() is None, "the install never began a copy"
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)  # the copy has begun and is far from done
    run.wait()
    record = current_adapter(adapters)
    assert record is not None and record["adapter"] == "old.gguf"
    assert json.loads((adapters / CURRENT).read_text())["adapter"] == "old.gguf"
    # Under its own name only whole (the copy is renamed into place when done), never current.
    copied = adapters / "new.gguf"
    assert not copied.exists() or copied.stat().st_size == big.stat().st_size
