"""DPO recipe (trl): the Stage B adapter learns what the user keeps over what it offered.

The policy is the base model with the Stage B adapter, trainable; trl's reference is a frozen copy
of that same adapter (it adds one named "ref" to a peft model that already has an adapter), so
the stage moves the model away from Stage B only as far as the preferences pull it (`beta`).
Examples are tokenized here by the supervised recipe's rule (the model's opening tokens, then
the prompt, then the completion tokenized alone), so DPO sees exactly the token sequences Stage B
learnt and llama.cpp serves; trl's own text preparation is skipped. trl's Trainer checkpoints
every `save_every` steps, and a rerun resumes from the newest checkpoint.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.batches import prompt_and_completion_ids
from ghostwright.training.models import load_adapter_weights, load_model

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DpoOptions:
    beta: float = 0.1
    learning_rate: float = 5e-5
    epochs: int = 2
    batch_size: int = 2
    grad_accum: int = 4
    max_tokens: int = 768
    save_every: int = 10
    seed: int = 0


@dataclass
class TrainedAdapter:
    """What `publish` needs from a finished run: its config (`model`, `output_dir`, `dataset`),
    its saved peft folder (`summary["adapter"]`) and the model for the logit check."""

    config: dict[str, Any]
    summary: dict[str, Any]
    model: Any


def tokenized(rows: list[dict[str, str]], tokenizer: Any, max_tokens: int) -> list[dict]:
    """prompt_ids / chosen_ids / rejected_ids per row; rows longer than `max_tokens` left out."""
    opening = tokenizer("", add_special_tokens=True)["input_ids"]

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    examples = []
    for row in rows:
        prompt, chosen = prompt_and_completion_ids(row["prompt"], row["chosen"], ids, opening)
        rejected = ids(row["rejected"])
        if len(prompt) + max(len(chosen), len(rejected)) <= max_tokens:
            examples.append({"prompt_ids": prompt, "chosen_ids": chosen, "rejected_ids": rejected})
    return examples


def train_dpo(
    stage_b_dir: Path,
    rows: list[dict[str, str]],
    run_dir: Path,
    options: DpoOptions,
    progress: Any = None,
) -> TrainedAdapter:
    """Train on `rows` ({"prompt", "chosen", "rejected"} texts) from the Stage B adapter in
    `stage_b_dir` (a peft folder beside its run's train-config.json)."""
    config = {**stage_b_config(stage_b_dir), "init_adapter": str(stage_b_dir)}
    config["output_dir"] = str(run_dir)
    model, tokenizer = policy(config, stage_b_dir)
    examples = tokenized(rows, tokenizer, options.max_tokens)
    if len(examples) < options.batch_size:
        raise GhostwrightError(
            f"{len(examples)} preference pairs fit {options.max_tokens} tokens; "
            f"the DPO stage needs at least {options.batch_size}"
        )
    trainer = dpo_trainer(model, tokenizer, examples, run_dir, options, progress)
    checkpoints = sorted((run_dir / "trainer").glob("checkpoint-*"), key=_step_of)
    result = trainer.train(resume_from_checkpoint=str(checkpoints[-1]) if checkpoints else None)
    if "ref" in model.peft_config:  # trl's frozen reference copy: not part of the result
        model.delete_adapter("ref")
    model.set_adapter("default")
    adapter_dir = run_dir / "adapter"
    model.save_pretrained(adapter_dir)
    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    summary = {
        "adapter": str(adapter_dir),
        "steps": trainer.state.global_step,
        "pairs": len(examples),
        "final_loss": history[-1]["loss"] if history else None,
        "reward_accuracy": history[-1].get("rewards/accuracies") if history else None,
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
        "options": asdict(options),
    }
    (run_dir / "train-config.json").write_text(json.dumps(config, indent=2))
    (run_dir / "dpo-summary.json").write_text(json.dumps(summary, indent=2))
    return TrainedAdapter(config, summary, trainer.model)


def stage_b_config(stage_b_dir: Path) -> dict[str, Any]:
    """The Stage B run's config: the policy is its model with its LoRA shape."""
    path = stage_b_dir.parent / "train-config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GhostwrightError(f"cannot read the Stage B run's config {path}: {exc}") from exc


def policy(config: dict[str, Any], stage_b_dir: Path) -> tuple[Any, Any]:
    """The base model with the Stage B adapter, trainable."""
    model, tokenizer = load_model(config)
    load_adapter_weights(model, stage_b_dir)
    # transformers turns a GGUF into float32 weights on load but still marks the model as
    # quantized, and its Trainer refuses to train such a model; only LoRA weights train here.
    base = model.get_base_model()
    base.is_quantized, base.hf_quantizer = False, None
    return model, tokenizer


def dpo_trainer(
    model: Any,
    tokenizer: Any,
    examples: list[dict],
    run_dir: Path,
    options: DpoOptions,
    progress: Any,
) -> Any:
    """trl's DPOTrainer on the tokenized `examples`, on the CPU, reporting to `progress`."""
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import DPOConfig, DPOTrainer

    class SkipTextPreparation(DPOTrainer):
        def _prepare_dataset(self, dataset: Any, *args: Any, **kwargs: Any) -> Any:
            return dataset  # already tokenized by `tokenized`

    class Report(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any):  # noqa: ANN201
            if progress is not None and logs and "loss" in logs:
                record = {"loss": float(logs["loss"]), "tokens_per_s": 0.0}
                progress(state.global_step, state.max_steps, record)

    arguments = DPOConfig(
        output_dir=str(run_dir / "trainer"),
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        num_train_epochs=options.epochs,
        learning_rate=options.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=0.1,  # a share of the steps
        beta=options.beta,
        max_length=options.max_tokens,
        save_steps=options.save_every,
        save_total_limit=2,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        seed=options.seed,
        disable_tqdm=True,
        remove_unused_columns=False,
    )
    trainer = SkipTextPreparation(
        model=model,
        args=arguments,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        callbacks=[Report()],
    )
    # Without tqdm the Trainer prints each log dict on stdout, which --progress-json owns.
    trainer.remove_callback(PrinterCallback)
    return trainer


def _step_of(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[-1])
