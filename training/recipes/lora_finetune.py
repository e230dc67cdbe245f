"""LoRA fine-tune recipe: setup / train / save / resume (torchtune-style, one device).

Starts from exactly the model the server runs (transformers loads the GGUF) or an HF checkpoint;
trains a peft LoRA on a dataset from `training/data`; the loss runs the output layer only on
labelled positions (`losses.supervised_cross_entropy`), in bf16 autocast where the CPU has
avx512_bf16. Every `checkpoint_every` optimizer steps the adapter, optimizer, scheduler, RNG
states and data position are written atomically, so a killed run resumes on the very batch it
would have trained on next.

Multi-GPU: `accelerate launch -m ghostwright.training.recipes.lora_finetune CONFIG` is the
documented path; this file drives one device.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.batches import (
    Example,
    batch_order,
    collate,
    length_batches,
    load_examples,
)
from ghostwright.training.losses import softcapped, supervised_cross_entropy

logger = logging.getLogger(__name__)

CHECKPOINTS_KEPT = 2


def cpu_has_bf16() -> bool:
    try:
        return "avx512_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


class LoRAFinetuneRecipe:
    """One training run in `config["output_dir"]`."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.run_dir = Path(config["output_dir"])
        self.step = 0
        self.epoch = 0
        self.position = 0  # batches of this epoch already trained on
        self.history: list[dict] = []
        self.summary: dict = {}
        self.stop_requested = False  # set by SIGTERM / Ctrl-C: checkpoint after this step, end

    # -- setup --------------------------------------------------------------------------------

    def setup(self) -> None:
        torch.manual_seed(self.config["seed"])
        random.seed(self.config["seed"])
        self.model, self.tokenizer = self._build_model()
        self.too_long = 0
        self.train_examples = self._examples("train") + self._replay()
        self.validation_examples = self._examples("validation", required=False)
        if len(self.train_examples) < self.config["batch_size"]:
            raise GhostwrightError(
                f"the dataset has {len(self.train_examples)} training samples that fit "
                f"max_tokens={self.config['max_tokens']} ({self.too_long} longer), fewer than "
                f"one batch of {self.config['batch_size']}"
            )
        self.batches = length_batches(self.train_examples, self.config["batch_size"])
        self.bf16 = self._use_bf16()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._before_training()
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            params, lr=self.config["lr"], weight_decay=self.config["weight_decay"]
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)

    def _before_training(self) -> None:
        """Hook between loading the data and building the optimizer (distillation uses it)."""

    def _build_model(self) -> tuple[Any, Any]:
        from ghostwright.training.export import round_embedding

        model, tokenizer = load_model(self.config)
        if start := starting_adapter(self.config):
            load_adapter_weights(model, start)
        # A sequence-level student is exported whole: it trains with the embedding it will have.
        round_embedding(model, self.config.get("embedding_quantization", "default"))
        return model, tokenizer

    def _replay(self) -> list[Example]:
        """Stage A samples mixed into Stage B (`replay_share` of the result): it must not forget."""
        share, folder = self.config.get("replay_share", 0.0), self.config.get("replay_dataset")
        if not folder or share <= 0:
            return []
        own = sum(1 for _ in (Path(self.config["dataset"]) / "train.jsonl").open())
        replay = self._examples("train", folder=folder)
        wanted = min(len(replay), round(own * share / (1 - share)))
        return random.Random(self.config["seed"]).sample(replay, wanted)

    def _examples(self, split: str, required: bool = True, folder: str = "") -> list[Example]:
        path = Path(folder or self.config["dataset"]) / f"{split}.jsonl"
        if not path.is_file():
            if required:
                raise GhostwrightError(f"no {split}.jsonl in dataset {self.config['dataset']}")
            return []

        examples, too_long = load_examples(
            path, self._tokenize, self.config["max_tokens"], self._opening()
        )
        if too_long:
            logger.info("%s: %d samples longer than max_tokens left out", path, too_long)
            self.too_long += too_long
        return examples

    def _tokenize(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _opening(self) -> list[int]:
        """What the tokenizer opens a text with (Gemma: BOS), as llama.cpp does for every prompt."""
        return self.tokenizer("", add_special_tokens=True)["input_ids"]

    def _lr_factor(self, step: int) -> float:
        """Linear warmup, then cosine decay to 10% of the peak."""
        warmup, total = self.config["warmup_steps"], max(1, self.config["max_steps"])
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    def _use_bf16(self) -> bool:
        precision = self.config["precision"]
        if precision == "bf16":
            return True
        return precision == "auto" and cpu_has_bf16()

    # -- training -----------------------------------------------------------------------------

    def train(self, progress: Any = None) -> dict:
        """Run to `max_steps` (from a checkpoint when one exists); returns the summary."""
        max_steps = self.config["max_steps"]
        started, tokens_done = time.perf_counter(), 0
        self.model.train()
        while self.step < max_steps:
            loss, tokens = self._optimizer_step()
            self.step += 1
            tokens_done += tokens
            elapsed = time.perf_counter() - started
            record = {
                "step": self.step,
                "loss": loss,
                "lr": self.scheduler.get_last_lr()[0],
                "tokens": tokens,
                "tokens_per_s": tokens_done / elapsed,
            }
            if self._due("eval_every") and self.validation_examples:
                record["validation_loss"] = self.validation_loss()
            self._log(record)
            if progress is not None:
                progress(self.step, max_steps, record)
            if self._due("checkpoint_every") or self.step == max_steps or self.stop_requested:
                self.save_checkpoint()
            if self.stop_requested:
                break
        return {**self._summary(), "stopped": self.step < max_steps}

    def _due(self, key: str) -> bool:
        every = self.config[key]
        return bool(every) and self.step % every == 0

    def _optimizer_step(self) -> tuple[float, int]:
        total_loss, total_tokens = 0.0, 0
        accumulate = self.config["grad_accum"]
        for _ in range(accumulate):
            batch = self._next_batch()
            loss, count = self._loss(batch)
            (loss / accumulate).backward()
            total_loss += float(loss.detach()) / accumulate
            total_tokens += int(batch["attention_mask"].sum())
        params = [p for p in self.model.parameters() if p.requires_grad]
        torch.nn.utils.clip_grad_norm_(params, self.config["max_grad_norm"])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total_loss, total_tokens

    def _next_batch(self) -> dict[str, torch.Tensor]:
        order = batch_order(len(self.batches), self.config["seed"], self.epoch)
        if self.position >= len(order):
            self.epoch, self.position = self.epoch + 1, 0
            order = batch_order(len(self.batches), self.config["seed"], self.epoch)
        indices = self.batches[order[self.position]]
        self.position += 1
        pad = self.tokenizer.pad_token_id or 0
        batch = collate([self.train_examples[i] for i in indices], pad)
        batch["index"] = torch.tensor(indices)  # which training examples, in row order
        return batch

    def _loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        causal_lm = self.model.get_base_model()
        head = softcapped(
            causal_lm.get_output_embeddings(),
            getattr(causal_lm.config, "final_logit_softcapping", None),
        )
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            hidden = causal_lm.get_decoder()(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            return supervised_cross_entropy(hidden, batch["labels"], head)

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean loss per completion token over the same seeded sample of validation examples
        at every evaluation (batches of one length class alone are too noisy to compare)."""
        self.model.eval()
        size = self.config["batch_size"]
        chosen = self.validation_sample()
        total, tokens = 0.0, 0
        pad = self.tokenizer.pad_token_id or 0
        for indices in length_batches(chosen, size):
            loss, count = self._loss(collate([chosen[i] for i in indices], pad))
            total, tokens = total + float(loss) * count, tokens + count
        self.model.train()
        return total / max(1, tokens)

    def validation_sample(self) -> list[Example]:
        """The seeded validation examples every evaluation measures on."""
        size = self.config["batch_size"] * self.config["eval_batches"]
        wanted = min(len(self.validation_examples), size)
        return random.Random(self.config["seed"]).sample(self.validation_examples, wanted)

    # -- checkpoints --------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """Everything needed to continue, written to a temp file and renamed into place."""
        state = {
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "weights": self.trainable_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
            "history": self.history,
        }
        target = self.run_dir / f"checkpoint-{self.step:06d}.pt"
        with atomic_path(target) as partial:
            torch.save(state, partial)
        for old in sorted(self.run_dir.glob("checkpoint-*.pt"))[:-CHECKPOINTS_KEPT]:
            old.unlink(missing_ok=True)
        return target

    def load_checkpoint(self) -> bool:
        """Continue from the newest checkpoint in the run folder; False when there is none."""
        found = sorted(self.run_dir.glob("checkpoint-*.pt"))
        if not found:
            return False
        state = torch.load(found[-1], weights_only=False)
        self.load_trainable_state(state.get("weights", state.get("adapter")))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"]["torch"])
        random.setstate(state["rng"]["python"])
        self.step, self.epoch, self.position = state["step"], state["epoch"], state["position"]
        self.history = state["history"]
        logger.info("resumed %s at step %d", self.run_dir, self.step)
        return True

    def trainable_state(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(self.model)

    def load_trainable_state(self, weights: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(self.model, weights)

    def save_weights(self) -> Path:
        """The trained result in the run folder (here: the peft adapter folder)."""
        target = self.run_dir / "adapter"
        self.model.save_pretrained(target)
        return target

    # -- metrics ------------------------------------------------------------------------------

    def _log(self, record: dict) -> None:
        self.history.append(record)
        with (self.run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(record) + "\n")

    def _summary(self) -> dict:
        summary = {
            "steps": self.step,
            "final_loss": self.history[-1]["loss"] if self.history else None,
            "bf16": self.bf16,
            "history": self.history,
        }
        (self.run_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
        plot_curve(self.history, self.run_dir / "training-curve.png")
        return summary


def load_adapter_weights(model: Any, folder: Path) -> None:
    """Start from a trained adapter (Stage B from Stage A) instead of a fresh LoRA."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    try:
        weights = load_file(str(folder / "adapter_model.safetensors"))
        set_peft_model_state_dict(model, weights)
    except (OSError, RuntimeError) as exc:  # missing, damaged, or another rank or target set
        raise GhostwrightError(f"cannot start from the adapter in {folder}: {exc}") from exc


def starting_adapter(config: dict[str, Any]) -> Path | None:
    """The peft folder `init_adapter` names (None: a fresh LoRA; `none` asks for one)."""
    value = str(config.get("init_adapter") or "")
    return Path(value).expanduser() if value and value != "none" else None


def adapter_shape(folder: Path) -> dict[str, Any]:
    """rank, alpha and targets of a saved peft adapter, as the config's `lora` keys."""
    try:
        saved = json.loads((folder / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise GhostwrightError(f"cannot start from the adapter in {folder}: {exc}") from exc
    return {
        "rank": saved["r"],
        "alpha": saved["lora_alpha"],
        "targets": sorted(saved["target_modules"]),
    }


def load_model(config: dict[str, Any]) -> tuple[Any, Any]:
    """The base model (GGUF through transformers, or an HF folder) wrapped in a peft LoRA."""
    from peft import LoraConfig, get_peft_model

    if config.get("quantize_4bit") and not torch.cuda.is_available():
        raise GhostwrightError("quantize_4bit (QLoRA) needs a CUDA GPU; set quantize_4bit=false")
    model, tokenizer = load_causal_lm(config["model"])
    lora = dict(config["lora"])
    if start := starting_adapter(config):  # its shape wins: the weights must fit
        lora |= adapter_shape(start)
    peft_config = LoraConfig(
        r=lora["rank"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["targets"],
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config), tokenizer


def load_causal_lm(source: str) -> tuple[Any, Any]:
    """(model in fp32, tokenizer) from a model spec the server resolves (`default`, a .gguf) or
    an HF checkpoint folder: for a GGUF, the very file the server loads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ghostwright.server.models import is_gguf_spec, resolve_model

    if is_gguf_spec(source):
        source = str(resolve_model(source))
    path = Path(source).expanduser()
    kwargs: dict[str, Any] = {}
    if path.suffix == ".gguf":
        path, kwargs = path.parent, {"gguf_file": path.name}
    try:
        # transformers draws a bar per GGUF load that no setting turns off; errors still raise.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as exc:
        raise GhostwrightError(f"cannot load model weights from {source}: {exc}") from exc
    return model, tokenizer


def plot_curve(history: list[dict], target: Path) -> None:
    """Training (and validation) loss per step, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot([r["step"] for r in history], [r["loss"] for r in history], label="train")
    validation = [r for r in history if "validation_loss" in r]
    if validation:
        axes.plot(
            [r["step"] for r in validation],
            [r["validation_loss"] for r in validation],
            "o-",
            label="validation",
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)


def train_run(
    config: dict[str, Any],
    resume: bool = True,
    progress: Callable | None = None,
    recipe_class: type[LoRAFinetuneRecipe] | None = None,
) -> LoRAFinetuneRecipe:
    """Set up, resume when a checkpoint exists (and `resume`), train, save the weights; the
    trained recipe (model in memory) is returned for export and verification."""
    recipe = (recipe_class or LoRAFinetuneRecipe)(config)
    recipe.setup()
    if resume:
        recipe.load_checkpoint()
    with _stop_after_step_on_signal(recipe):
        recipe.summary = recipe.train(progress)
    recipe.summary["adapter"] = str(recipe.save_weights())
    return recipe


@contextmanager
def _stop_after_step_on_signal(recipe: LoRAFinetuneRecipe) -> Iterator[None]:
    """SIGTERM (the editor's Cancel) or Ctrl-C: finish the step, checkpoint, stop, so the
    resumed run loses nothing; a second signal stops at once. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(number: int, frame: object) -> None:
        recipe.stop_requested = True
        for name in (signal.SIGTERM, signal.SIGINT):
            signal.signal(name, previous[name])

    previous = {name: signal.signal(name, request_stop) for name in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


def run(config: dict[str, Any], resume: bool = True, progress_bar: bool = True) -> dict:
    """`train_run` with a progress bar; returns the summary."""
    bar = progress_bar_from(config["max_steps"]) if progress_bar else None
    return train_run(config, resume, bar).summary


def progress_bar_from(total: int) -> Callable[[int, int, dict], None]:
    """A tqdm bar (ETA, loss, tokens/s) fed by `train`'s progress callback."""
    from tqdm import tqdm

    bar = None

    def update(step: int, steps: int, record: dict) -> None:
        nonlocal bar
        if bar is None:  # opened at the first step, so a resumed run starts where it was
            bar = tqdm(total=total, initial=step - 1, unit="step", dynamic_ncols=True)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
        if step == steps:
            bar.close()

    return update


def main(argv: list[str] | None = None) -> int:
    """`python -m ghostwright.training.recipes.lora_finetune [--config F] [key=value ...]`."""
    import argparse
    import sys

    from ghostwright.training.config import load_config

    parser = argparse.ArgumentParser(description="LoRA fine-tune (one device)")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("overrides", nargs="*", help="key=value")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides, "lora_default.yaml")
        summary = run(config, resume=not args.no_resume, progress_bar=sys.stderr.isatty())
    except GhostwrightError as exc:
        print(f"ghostwright: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({key: summary[key] for key in ("steps", "final_loss", "bf16", "adapter")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
