"""Planted-secret sweep: a toy repository holds secrets of every shape the scrubber knows, and a
feedback log holds one more; the index (real FAISS, SQLite and the packaged embedder), every data
builder, a repository evaluation (real model) and the feedback export run at toy size; then
every file under `.ghostwright/`, the logs, and whatever the run wrote to the user cache is
searched byte for byte for each secret. None may be found."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import platformdirs
import pytest

from ghostwright.server.feedback.log import FeedbackLog, feedback_path, shown_at
from ghostwright.server.prompt_formats import TRAINED_FIM, select_format
from ghostwright.training.data.build import build_dataset
from ghostwright.training.data.preferences import (
    hole_preferences,
    log_preferences,
    render_preference,
)
from ghostwright.training.embedder.pairs import mine_pairs

pytestmark = pytest.mark.model

# Split so that this file itself trips no scanner.
SECRETS = {
    "env file": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "code string": "Zr7Tw3Vb5Nm1" + "x8Kf2Lq9",
    "docstring": "ghp_" + "a1B2c3D4e5F6g7H8i9J0kLmN0pQrStUvWxYz",
    "comment": "AKIA" + "IOSFODNN7EXAMPLE",
    "notebook cell": "xoxb-" + "2817263541-a8B7c6D5e4F3",
    "feedback log": "hf_" + "Tz9Qw8Ex7Rc6Vb5Nm4Lk3Jh2Gf1Ds0Pa",
}
MODULE = '''"""Orders and their totals."""


def order_total(items):
    total = 0
    for item in items:
        total += item.price * item.quantity
    return total


def apply_discount(total, rate):
    if rate < 0 or rate > 1:
        raise ValueError("rate must be between 0 and 1")
    return total * (1 - rate)
'''


def toy_repository(root: Path) -> None:
    root.mkdir()
    for number in range(6):
        (root / f"orders{number}.py").write_text(MODULE.replace("order", f"order{number}_"))
    (root / ".env").write_text(f"STRIPE_KEY={SECRETS['env file']}\n")
    (root / "settings.py").write_text(
        f'API_KEY = "{SECRETS["code string"]}"\n\n\n'
        f'def connect():\n    """Connect with {SECRETS["docstring"]} as the token."""\n'
        f"    # fallback key {SECRETS['comment']}\n    return API_KEY\n\n\n"
        + MODULE.replace("order", "settings_order")
    )
    cell = {"cell_type": "code", "source": [f'SLACK = "{SECRETS["notebook cell"]}"\n']}
    (root / "analysis.ipynb").write_text(json.dumps({"cells": [cell], "nbformat": 4}))


def test_no_planted_secret_reaches_anything_ghostwright_writes(tmp_path: Path):
    started = time.time()
    root = tmp_path / "repo"
    toy_repository(root)
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),  # the logs
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    ghostwright = [sys.executable, "-m", "ghostwright.server"]

    # The feedback log: a suggestion shown right after the key, and what the user kept.
    log = FeedbackLog(feedback_path(root))
    text = f'HF_TOKEN = "{SECRETS["feedback log"]}"\nclient = Client(\n'
    record, _ = shown_at(text, 1, 15, "HF_TOKEN)", path="settings.py", language="python",
                         model="m", latency_ms=1.0)  # fmt: skip
    log.decided(log.shown(record), "dismissed")
    kept = log.shown(record)
    log.decided(kept, "accepted")
    log.survived(kept, 0.5, f'token="{SECRETS["feedback log"]}")')
    logged = log_preferences(log.rows())
    log.close()

    def run(*args: str) -> None:
        done = subprocess.run([*ghostwright, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]

    run("index", str(root))
    run("feedback", "export", "--repo", str(root), "--out", str(root / ".ghostwright" / "f.jsonl"))
    report = root / ".ghostwright" / "eval" / "repo.json"
    run("eval", "repo", str(root), "--limit", "4", "--model", "gemma-3-270m", "--no-progress",
        "--retrieval", "off", "--json", str(report))  # fmt: skip

    runs = root / ".ghostwright" / "runs"
    fmt = select_format(TRAINED_FIM, None)
    build_dataset(root, root / ".ghostwright" / "datasets", fmt)
    holes = hole_preferences(root, lambda case: "wrong_answer()", limit=20)
    pairs = [render_preference(fmt, pair, (1000, 350)) for pair in [*logged, *holes]]
    assert logged and holes  # both kinds of pairs were made, so both were swept
    (runs / "dpo").mkdir(parents=True)
    (runs / "dpo" / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    mined = mine_pairs(root)
    (runs / "embedder").mkdir()
    (runs / "embedder" / "pairs.json").write_text(
        json.dumps({"train": [asdict(p) for p in mined.train], "corpus": mined.corpus})
    )

    cache = Path(platformdirs.user_cache_dir("ghostwright"))
    written = [path for path in (root / ".ghostwright").rglob("*") if path.is_file()]
    written += [path for path in (tmp_path / "state").rglob("*") if path.is_file()]
    written += [
        path
        for path in cache.rglob("*")
        if path.is_file() and "models" not in path.parts and path.stat().st_mtime >= started
    ]
    assert len(written) > 8  # index files, the log, datasets, pairs, eval report and cases
    found = [
        f"{where} in {path}"
        for path in written
        for where, secret in SECRETS.items()
        if secret.encode() in path.read_bytes()
    ]
    assert found == []
