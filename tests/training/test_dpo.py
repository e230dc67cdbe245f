"""The DPO stage (trl) on a tiny random Llama: it starts from the Stage B adapter, raises the
chosen completions' likelihood over the rejected ones, saves a peft adapter, and resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ghostwright.training.models import load_model  # noqa: E402
from ghostwright.training.recipes.dpo import DpoOptions, tokenized, train_dpo  # noqa: E402

ROWS = [
    {"prompt": f"def add{i}(a, b):\n    ", "chosen": "return a + b\n", "rejected": "pass\n"}
    for i in range(8)
]


@pytest.fixture
def stage_b(tmp_path, tiny_model) -> Path:
    """A Stage B run folder: train-config.json beside a saved peft adapter."""
    config = {
        "model": str(tiny_model),
        "quantize_4bit": False,
        "lora": {"rank": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj"]},
        "max_tokens": 128,
    }
    run = tmp_path / "stage-b"
    model, _ = load_model(config)
    model.save_pretrained(run / "adapter")
    (run / "train-config.json").write_text(json.dumps(config))
    return run / "adapter"


def margin(model, tokenizer) -> float:
    """Mean log-likelihood of chosen minus rejected completions, over ROWS."""
    total = 0.0
    with torch.no_grad():
        for example in tokenized(ROWS, tokenizer, 128):
            for sign, key in ((1, "chosen_ids"), (-1, "rejected_ids")):
                ids = torch.tensor([example["prompt_ids"] + example[key]])
                logits = model(ids).logits[0, :-1].log_softmax(-1)
                targets = ids[0, 1:]
                picked = logits.gather(-1, targets[:, None])[:, 0]
                total += sign * picked[len(example["prompt_ids"]) - 1 :].sum().item()
    return total / len(ROWS)


def test_dpo_prefers_the_chosen_completions_and_resumes(tmp_path, stage_b):
    options = DpoOptions(
        batch_size=2, grad_accum=1, epochs=2, max_tokens=128, save_every=2, learning_rate=3e-2
    )
    trained = train_dpo(stage_b, ROWS, tmp_path / "dpo", options)
    assert trained.summary["steps"] == 8 and trained.summary["pairs"] == 8
    assert (Path(trained.summary["adapter"]) / "adapter_model.safetensors").is_file()
    assert list(trained.model.peft_config) == ["default"]  # trl's frozen copy is gone

    config = json.loads((tmp_path / "dpo" / "train-config.json").read_text())
    before, tokenizer = load_model({**config, "init_adapter": str(stage_b)})
    from ghostwright.training.models import load_adapter_weights

    load_adapter_weights(before, stage_b)
    assert margin(trained.model, tokenizer) > margin(before, tokenizer) + 1.0

    longer = DpoOptions(**{**options.__dict__, "epochs": 3})
    resumed = train_dpo(stage_b, ROWS, tmp_path / "dpo", longer)
    assert resumed.summary["steps"] == 12  # 8 from the checkpoint, 4 more


def test_rows_that_do_not_fit_are_left_out_and_too_few_is_an_error(tmp_path, stage_b, tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    long = {"prompt": "x = 1\n" * 200, "chosen": "y", "rejected": "z"}
    assert len(tokenized([long, ROWS[0]], tokenizer, 128)) == 1
    from ghostwright.server.errors import GhostwrightError

    with pytest.raises(GhostwrightError, match="preference pairs fit"):
        train_dpo(stage_b, [long], tmp_path / "dpo", DpoOptions(max_tokens=128))
