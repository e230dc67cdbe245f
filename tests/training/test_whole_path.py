"""The whole fine-tune path at toy size on the real default model: data -> train -> kill ->
resume -> export -> logit check -> install -> load in llama.cpp -> complete."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytestmark = pytest.mark.model

SOURCE = '''def area(width, height):
    """Return the area."""
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
'''
TOY = [
    "batch_size=2",
    "max_tokens=64",
    "lr=1.0e-3",
    "warmup_steps=1",
    "checkpoint_every=1",
    "eval_every=0",
    "lora.rank=2",
    "lora.alpha=4",
    "lora.targets=[q_proj, v_proj]",
    "max_steps=3",
]


def test_toy_fine_tune_end_to_end(tmp_path: Path, default_model_path: Path):
    from ghostwright.server.adapters import with_installed_adapter
    from ghostwright.server.config import Settings
    from ghostwright.server.engine import open_completer
    from ghostwright.server.pipeline.complete import CompletionRequest
    from ghostwright.server.pipeline.prompts import TRAINED_FIM, select_format
    from ghostwright.training.config import load_config
    from ghostwright.training.data.build import DataOptions, build_dataset
    from ghostwright.training.export import export_lora_gguf
    from ghostwright.training.install import Candidate, install
    from ghostwright.training.recipes import lora_finetune
    from ghostwright.training.verify import check_adapter

    repo = tmp_path / "repo"
    repo.mkdir()
    for number in range(6):
        (repo / f"shape{number}.py").write_text(SOURCE.replace("area", f"area{number}"))
    data = build_dataset(
        repo,
        tmp_path / "data",
        select_format(TRAINED_FIM, None),
        DataOptions(fim_per_file=4, prefix_chars=100, suffix_chars=40),
    )
    run = tmp_path / "run"
    overrides = [f"dataset={data}", f"output_dir={run}", *TOY]

    command = [sys.executable, "-m", "ghostwright.training.recipes.lora_finetune", *overrides]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (run / "checkpoint-000001.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert (run / "checkpoint-000001.pt").exists() and not (run / "metrics.json").exists()

    recipe = lora_finetune.LoRAFinetuneRecipe(load_config(None, overrides, "lora_default.yaml"))
    recipe.setup()
    assert recipe.load_checkpoint() and 1 <= recipe.step < 3
    assert recipe.train()["steps"] == 3
    adapter_dir = recipe.save_adapter()

    gguf_adapter = export_lora_gguf(adapter_dir, default_model_path, run / "toy.gguf")
    check = check_adapter(
        recipe.model, recipe.tokenizer, default_model_path, gguf_adapter, [SOURCE], max_tokens=48
    )
    assert check.passed, check
    installed = install(
        Candidate(
            gguf_adapter,
            TRAINED_FIM,
            "default",
            check.as_dict(),
            {"exact_match": 0.0},
            {"exact_match": 0.0},
        ),
        repo / ".ghostwright" / "adapters",
        force=True,  # a 3-step toy adapter is not expected to beat anything
    )
    settings = with_installed_adapter(replace(Settings(), max_tokens=8), repo)
    assert settings.adapter == str(installed) and settings.prompt_format == TRAINED_FIM
    with open_completer(settings) as completer:
        assert completer.backend.prompt_format.name == TRAINED_FIM
        result = completer.complete(CompletionRequest("def f(x):\n    return ", 1, 11))
    assert result.error == "" and result.stop_reason not in ("error",)
