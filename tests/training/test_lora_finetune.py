"""The LoRA recipe on a tiny random model: it learns, checkpoints, resumes exactly after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from ghostwright.server.errors import GhostwrightError  # noqa: E402
from ghostwright.training.config import load_config  # noqa: E402
from ghostwright.training.data.build import DATASET_VERSION  # noqa: E402
from ghostwright.training.recipes import lora_finetune  # noqa: E402

SOURCE = '''def area(width, height):
    """Return the area."""
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
'''


def config_for(model: Path, data: Path, run: Path, **overrides) -> dict:
    values = [
        f"model={model}",
        f"dataset={data}",
        f"output_dir={run}",
        "batch_size=2",
        "max_tokens=128",
        "lr=0.01",
        "warmup_steps=2",
        "checkpoint_every=2",
        "eval_every=5",
        "eval_batches=2",
        "precision=fp32",
        "lora.rank=4",
        "lora.alpha=8",
        "lora.targets=[q_proj, v_proj]",
        *(f"{key}={value}" for key, value in overrides.items()),
    ]
    return load_config(None, values, "lora_default.yaml")


def adapter_tensors(run: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(run / "adapter" / "adapter_model.safetensors"))


def test_training_lowers_the_loss_and_writes_its_records(tiny_model, dataset, tmp_path):
    summary = lora_finetune.run(
        config_for(tiny_model, dataset, tmp_path, max_steps=30), False
    ).summary
    losses = [record["loss"] for record in summary["history"]]
    assert summary["steps"] == 30 and sum(losses[-5:]) < sum(losses[:5])
    assert any("validation_loss" in record for record in summary["history"])
    assert (tmp_path / "training-curve.png").stat().st_size > 1000
    assert len(list(tmp_path.glob("checkpoint-*.pt"))) == 2  # the newest two are kept
    assert adapter_tensors(tmp_path)


def test_a_run_killed_mid_way_resumes_to_the_same_adapter(tiny_model, dataset, tmp_path):
    steps = 400
    straight = tmp_path / "straight"
    lora_finetune.run(config_for(tiny_model, dataset, straight, max_steps=steps), False)

    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "ghostwright.training.recipes.lora_finetune"]
    overrides = [
        f"{key}={value}"
        for key, value in {
            "model": tiny_model,
            "dataset": dataset,
            "output_dir": killed,
            "batch_size": 2,
            "max_tokens": 128,
            "lr": 0.01,
            "warmup_steps": 2,
            "checkpoint_every": 2,
            "eval_every": 5,
            "eval_batches": 2,
            "precision": "fp32",
            "lora.rank": 4,
            "lora.alpha": 8,
            "lora.targets": "[q_proj, v_proj]",
            "max_steps": steps,
        }.items()
    ]
    process = subprocess.Popen([*command, *overrides], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(killed.glob("checkpoint-000010.pt")) and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "metrics.json").exists(), "the run finished before it was killed"

    lora_finetune.run(config_for(tiny_model, dataset, killed, max_steps=steps), True)
    expected, resumed = adapter_tensors(straight), adapter_tensors(killed)
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.allclose(expected[name], resumed[name], atol=1e-6), name


def test_bad_configs_are_clear_errors(tiny_model, dataset, tmp_path):
    with pytest.raises(GhostwrightError, match="fewer than one batch"):
        lora_finetune.run(config_for(tiny_model, dataset, tmp_path, batch_size=10_000), False)
    with pytest.raises(GhostwrightError, match="needs a CUDA GPU"):
        lora_finetune.run(config_for(tiny_model, dataset, tmp_path, quantize_4bit=True), False)
    with pytest.raises(GhostwrightError, match="cannot load model weights"):
        lora_finetune.run(config_for(tmp_path / "nothing", dataset, tmp_path), False)
    with pytest.raises(GhostwrightError, match="no setting"):
        config_for(tiny_model, dataset, tmp_path, learning_rate=1)


def test_train_command_stage_b_builds_data_and_trains(tiny_model, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    # The tiny model has no GGUF for llama.cpp: export and gate run on the real model elsewhere.
    command = [
        sys.executable,
        "-m",
        "ghostwright.server",
        "train",
        "--repo",
        str(repo),
        "--no-install",
    ]
    settings = [
        f"model={tiny_model}",
        "max_steps=3",
        "batch_size=2",
        "max_tokens=128",
        "precision=fp32",
        "lora.rank=4",
        "lora.targets=[q_proj, v_proj]",
        "replay_share=0",
    ]
    done = subprocess.run([*command, *settings], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 3
    assert (
        repo / ".ghostwright" / "datasets" / f"stage-b-v{DATASET_VERSION}" / "manifest.json"
    ).is_file()
    runs = list((repo / ".ghostwright" / "runs").glob("stage-b-*"))
    assert len(runs) == 1 and (runs[0] / "adapter" / "adapter_model.safetensors").is_file()
    resumed = subprocess.run(
        [*command, "--resume", *settings[:-1], "max_steps=4"], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["steps"] == 4


def test_train_command_errors_are_one_line(tmp_path):
    command = [sys.executable, "-m", "ghostwright.server", "train"]
    for args, message in [
        (["--repo", str(tmp_path / "missing")], "not a directory"),
        (["--repo", str(tmp_path), "--resume"], "no stage-b run to resume"),
        (["--repo", str(tmp_path)], "no source files"),
        (["--repo", str(tmp_path), "lr"], "is not key=value"),
    ]:
        done = subprocess.run([*command, *args], capture_output=True, text=True)
        assert done.returncode == 2, (args, done.stderr)
        # At most a progress line ("building the training data ...") before the one error line.
        *before, last = done.stderr.splitlines()
        assert last.startswith("ghostwright: error: ") and message in last, done.stderr
        assert len(before) <= 1 and "Traceback" not in done.stderr
