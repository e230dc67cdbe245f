"""The training loop the recipes share (torchtune-style, one device), as functions over a `Run`.

A recipe loads its model and examples, makes a `Run` with its loss, and calls `train_to_end`.
Every `checkpoint_every` optimizer steps the trained weights, optimizer, scheduler, RNG states and
data position are written atomically (`checkpoints.py`), so a killed run resumes on the very batch
it would have trained on next. The recipes' losses run in bf16 autocast where the CPU has
avx512_bf16.
"""

from __future__ import annotations

import json
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ghostwright.server.backends.hardware import cpu_flags
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.batches import Example, batch_order, collate, length_batches
from ghostwright.training.checkpoints import load_checkpoint, save_checkpoint
from ghostwright.training.curves import plot_curve

logger = logging.getLogger(__name__)

Loss = Callable[["Run", dict[str, torch.Tensor]], tuple[torch.Tensor, int]]  # -> (mean, labels)


@dataclass
class Run:
    """One training run in `config["output_dir"]`: what it trains, on what, and where it is."""

    config: dict[str, Any]
    model: Any
    tokenizer: Any
    train_examples: list[Example]
    validation_examples: list[Example]
    loss: Loss
    peft: bool = True  # the trained weights are a peft adapter (else the model's own tensors)
    bf16: bool = False
    step: int = 0
    epoch: int = 0
    position: int = 0  # batches of this epoch already trained on
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    stop_requested: bool = False  # set by SIGTERM / Ctrl-C: checkpoint after this step, end
    too_long: int = 0  # samples left out for being longer than max_tokens
    facts: dict = field(default_factory=dict)  # the recipe's own entries in the summary
    # What a distillation adds (None elsewhere): the cached teacher logits, the pruned
    # student's blocks, the student's trimmed vocabulary (read by the export).
    teacher_cache: Any = None
    keep: list[int] | None = None
    vocabulary: Any = None
    optimizer: Any = None
    scheduler: Any = None
    batches: list[list[int]] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return Path(self.config["output_dir"])


def seed_everything(config: dict[str, Any]) -> None:
    """Before the model is built: a fresh LoRA's initial weights come from these generators."""
    torch.manual_seed(config["seed"])
    random.seed(config["seed"])


def use_bf16(config: dict[str, Any]) -> bool:
    precision = config["precision"]
    return precision == "bf16" or (precision == "auto" and "avx512_bf16" in cpu_flags())


def require_a_batch(run: Run) -> None:
    config = run.config
    if len(run.train_examples) < config["batch_size"]:
        raise GhostwrightError(
            f"the dataset has {len(run.train_examples)} training samples that fit "
            f"max_tokens={config['max_tokens']} ({run.too_long} longer), fewer than one batch "
            f"of {config['batch_size']}"
        )


def start(run: Run) -> Run:
    """Batches, optimizer and schedule for the examples and model the recipe gave `run`."""
    config = run.config
    require_a_batch(run)
    run.batches = length_batches(run.train_examples, config["batch_size"])
    run.run_dir.mkdir(parents=True, exist_ok=True)
    params = [p for p in run.model.parameters() if p.requires_grad]
    run.optimizer = torch.optim.AdamW(params, lr=config["lr"], weight_decay=config["weight_decay"])
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(
        run.optimizer, lambda step: lr_factor(config, step)
    )
    return run


def lr_factor(config: dict[str, Any], step: int) -> float:
    """Linear warmup, then cosine decay to 10% of the peak."""
    warmup, total = config["warmup_steps"], max(1, config["max_steps"])
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def train_to_end(run: Run, resume: bool = True, progress: Callable | None = None) -> Run:
    """Resume when a checkpoint exists (and `resume`), then train; stops early on a signal."""
    if resume:
        load_checkpoint(run)
    with _stop_after_step_on_signal(run):
        run.summary = train(run, progress)
    return run


def train(run: Run, progress: Callable | None = None) -> dict:
    """Run to `max_steps` from where `run` is; returns the summary."""
    max_steps = run.config["max_steps"]
    started, tokens_done = time.perf_counter(), 0
    run.model.train()
    while run.step < max_steps:
        loss, tokens = _optimizer_step(run)
        run.step += 1
        tokens_done += tokens
        record = {
            "step": run.step,
            "loss": loss,
            "lr": run.scheduler.get_last_lr()[0],
            "tokens": tokens,
            "tokens_per_s": tokens_done / (time.perf_counter() - started),
        }
        if _due(run, "eval_every") and run.validation_examples:
            record["validation_loss"] = validation_loss(run)
        _log(run, record)
        if progress is not None:
            progress(run.step, max_steps, record)
        if _due(run, "checkpoint_every") or run.step == max_steps or run.stop_requested:
            save_checkpoint(run)
        if run.stop_requested:
            break
    return {**_summary(run), "stopped": run.step < max_steps}


def _due(run: Run, key: str) -> bool:
    every = run.config[key]
    return bool(every) and run.step % every == 0


def _optimizer_step(run: Run) -> tuple[float, int]:
    total_loss, total_tokens = 0.0, 0
    accumulate = run.config["grad_accum"]
    for _ in range(accumulate):
        batch = _next_batch(run)
        loss, _ = run.loss(run, batch)
        (loss / accumulate).backward()
        total_loss += float(loss.detach()) / accumulate
        total_tokens += int(batch["attention_mask"].sum())
    params = [p for p in run.model.parameters() if p.requires_grad]
    torch.nn.utils.clip_grad_norm_(params, run.config["max_grad_norm"])
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return total_loss, total_tokens


def _next_batch(run: Run) -> dict[str, torch.Tensor]:
    seed = run.config["seed"]
    order = batch_order(len(run.batches), seed, run.epoch)
    if run.position >= len(order):
        run.epoch, run.position = run.epoch + 1, 0
        order = batch_order(len(run.batches), seed, run.epoch)
    indices = run.batches[order[run.position]]
    run.position += 1
    batch = collate([run.train_examples[i] for i in indices], run.tokenizer.pad_token_id or 0)
    batch["index"] = torch.tensor(indices)  # which training examples, in row order
    return batch


@torch.no_grad()
def validation_loss(run: Run) -> float:
    """Mean loss per completion token over the same seeded sample of validation examples at
    every evaluation (batches of one length class alone are too noisy to compare)."""
    run.model.eval()
    chosen = validation_sample(run)
    total, tokens = 0.0, 0
    pad = run.tokenizer.pad_token_id or 0
    for indices in length_batches(chosen, run.config["batch_size"]):
        loss, count = run.loss(run, collate([chosen[i] for i in indices], pad))
        total, tokens = total + float(loss) * count, tokens + count
    run.model.train()
    return total / max(1, tokens)


def validation_sample(run: Run) -> list[Example]:
    """The seeded validation examples every evaluation measures on."""
    size = run.config["batch_size"] * run.config["eval_batches"]
    wanted = min(len(run.validation_examples), size)
    return random.Random(run.config["seed"]).sample(run.validation_examples, wanted)


def _log(run: Run, record: dict) -> None:
    run.history.append(record)
    with (run.run_dir / "metrics.jsonl").open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def _summary(run: Run) -> dict:
    summary = {
        "steps": run.step,
        "final_loss": run.history[-1]["loss"] if run.history else None,
        "bf16": run.bf16,
        "history": run.history,
        **run.facts,
    }
    (run.run_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    plot_curve(run.history, run.run_dir / "training-curve.png")
    return summary


@contextmanager
def _stop_after_step_on_signal(run: Run) -> Iterator[None]:
    """SIGTERM (the editor's Cancel) or Ctrl-C: finish the step, checkpoint, stop, so the
    resumed run loses nothing; a second signal stops at once. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(number: int, frame: object) -> None:
        run.stop_requested = True
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, previous[name])

    previous = {name: signal.signal(name, request_stop) for name in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)
