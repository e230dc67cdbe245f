"""kill -9 while the teacher labels (a tiny random teacher in a real child process): the shards
already written are whole and kept, the next run labels only the rest, and the cache equals an
uninterrupted one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ghostwright.training.batches import Example  # noqa: E402
from ghostwright.training.losses import IGNORE  # noqa: E402
from ghostwright.training.student import load_teacher  # noqa: E402
from ghostwright.training.teacher_cache import (  # noqa: E402
    SHARD,
    build_teacher_cache,
    torch_labeller,
)

SHARDS = 6
LABEL = """
import sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_teacher_cache_kill9 import examples
from ghostwright.training.student import load_teacher
from ghostwright.training.teacher_cache import build_teacher_cache, torch_labeller

model, _ = load_teacher(sys.argv[1])
label = torch_labeller(model, top_k=3, batch_size=16, bf16=False, pad_id=0)

def slow(batch):  # time to be killed between shards, as a real teacher gives
    time.sleep(0.5)
    return label(batch)

build_teacher_cache(slow, examples(), Path(sys.argv[2]), identity={{"model": "tiny"}}, top_k=3)
"""


def examples() -> list[Example]:
    return [
        Example([1, 5 + n % 50, 6, 7 + n % 40, 8], [IGNORE, IGNORE, IGNORE, 7 + n % 40, 8])
        for n in range(SHARDS * SHARD)
    ]


def test_a_killed_labelling_run_resumes_without_relabelling(tiny_teacher, tmp_path: Path):
    folder = tmp_path / "cache"
    script = LABEL.format(tests=str(Path(__file__).parent))
    run = subprocess.Popen([sys.executable, "-c", script, str(tiny_teacher), str(folder)])
    deadline = time.monotonic() + 120
    while len(list(folder.glob("shard-*.npz"))) < 2:
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    kept = sorted(path.name for path in folder.glob("shard-*.npz"))
    assert 2 <= len(kept) < SHARDS

    model, _ = load_teacher(str(tiny_teacher))
    label = torch_labeller(model, top_k=3, batch_size=16, bf16=False, pad_id=0)
    labelled: list[int] = []

    def counting(batch: list[Example]) -> dict:
        labelled.append(len(batch))
        return label(batch)

    build = dict(identity={"model": "tiny"}, top_k=3)
    resumed = build_teacher_cache(counting, examples(), folder, **build)
    assert len(labelled) == SHARDS - len(kept)  # only the missing shards
    whole = build_teacher_cache(label, examples(), tmp_path / "whole", **build)
    order = list(range(len(examples())))
    for mine, theirs in zip(resumed.batch(order), whole.batch(order), strict=True):
        assert torch.equal(mine, theirs)
