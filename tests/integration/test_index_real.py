"""The index with the real embedder: kill -9 mid-build, the embedder against its reference, CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ghostwright.indexer.service import IndexService

CLI = [sys.executable, "-m", "ghostwright.server"]


def write_repo(root: Path, files: int) -> Path:
    for number in range(files):
        body = "\n\n".join(
            f"def handler_{number}_{k}(request):\n"
            f'    """Handle request {k} of module {number}."""\n'
            f"    return request.get('field_{k}', {number * k})"
            for k in range(6)
        )
        (root / f"module_{number}.py").write_text(body + "\n")
    return root


def indexed_files(meta: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{meta}?mode=ro", uri=True, timeout=0.1)
        try:
            return db.execute("SELECT count(*) FROM files").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_kill_9_during_a_build_then_restart_gives_a_consistent_index(tmp_path: Path):
    root = write_repo(tmp_path, 120)
    meta = root / ".ghostwright" / "meta.sqlite"
    build = subprocess.Popen([*CLI, "index", str(root), "--threads", "1"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while indexed_files(meta) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    partial = indexed_files(meta)
    assert 10 <= partial < 120, "kill the build while it is running"

    done = subprocess.run([*CLI, "index", str(root), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert stats["files"] == 120 and stats["chunks"] == 720
    assert stats["changed"] <= 120 - partial + 1  # the killed run's files were kept

    from ghostwright.indexer.embedder import open_embedder

    embedder = open_embedder(threads=1)
    service = IndexService(root, embedder)
    db_ids = {row[0] for row in service.store._db.execute("SELECT id FROM chunks")}
    assert db_ids == service.store.vectors.ids() and len(db_ids) == 720
    service.close()
    embedder.close()


def test_embedder_matches_the_reference_model(real_embedder):
    """llama.cpp's MiniLM against transformers' (mean pooling, normalised): cosine >= 0.999."""
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    import importlib

    from ghostwright.indexer.embedder import DEFAULT_PACKAGE

    model_dir = Path(importlib.import_module(DEFAULT_PACKAGE).__file__).parent / "model"
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    texts = [
        "def read_config(path):\n    return json.load(open(path))",
        "class HTTPClient:\n    def get(self, url): ...",
        "The quick brown fox jumps over the lazy dog.",
    ]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    ours = real_embedder.embed(texts)
    assert ours.shape == (3, 384)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (ours * reference).sum(1).min() >= 0.999


def test_index_and_search_commands(tmp_path: Path):
    root = write_repo(tmp_path, 3)
    (root / "billing.py").write_text(
        "def compute_invoice_total(lines):\n"
        '    """Sum the invoice lines with tax."""\n'
        "    return sum(line.amount * 1.2 for line in lines)\n"
    )
    built = subprocess.run([*CLI, "index", str(root), "--json"], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["files"] == 4
    found = subprocess.run(
        [*CLI, "search", "invoice total with tax", "--path", str(root), "--k", "2", "--json"],
        capture_output=True,
        text=True,
    )
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)
    assert len(results) == 2
    assert results[0]["path"] == "billing.py" and results[0]["start_line"] == 1
    assert set(results[0]) == {"path", "start_line", "end_line", "score", "symbol", "text"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "x", "--path", "/"], "no index found"),
        (["search", "x", "--k", "0"], "--k must be at least 1"),
        (["index", "/definitely/not/here"], "not a directory"),
    ],
)
def test_index_command_errors_are_one_line(args: list[str], message: str):
    result = subprocess.run([*CLI, *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("ghostwright: error: ")
