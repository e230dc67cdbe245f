"""Contrastive fine-tuning of the retrieval embedder: InfoNCE with in-batch negatives.

Each batch of (query, code) pairs is embedded the way the index embeds (mean pooling over word
pieces, unit length, the first 256 word pieces); every other pair's code in the batch is a
negative for a query, and the loss is cross-entropy over the similarities divided by a
temperature, in both directions (query -> code and code -> query). Two pairs that share their code
(two calls of the same function) are not each other's negatives. Every `checkpoint_every` steps
the weights, optimizer, schedule and step are written atomically, so a killed run resumes where it
stopped; the data order is a function of the seed and the epoch, so the resumed run sees the
batches it would have seen.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ghostwright.indexer.atomic import atomic_path
from ghostwright.indexer.embedder import MAX_TOKENS
from ghostwright.training.batches import batch_order
from ghostwright.training.embedder.pairs import Pair

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.pt"


@dataclass(frozen=True)
class ContrastiveOptions:
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 3e-5
    temperature: float = 0.05
    warmup_share: float = 0.1
    max_tokens: int = MAX_TOKENS
    checkpoint_every: int = 20
    seed: int = 0


class Encoder:
    """A sentence-transformers BERT model as the index uses it (torch, for training)."""

    def __init__(self, model_dir: Path, max_tokens: int = MAX_TOKENS) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir)
        self.max_tokens = max_tokens
        self.tokens_seen = 0  # word pieces embedded so far (for tokens per second)

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(
            [text or " " for text in texts],
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        self.tokens_seen += int(batch["attention_mask"].sum())
        hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    @torch.no_grad()
    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit rows as numpy, like `LlamaEmbedder.embed`."""
        self.model.eval()
        rows = [self(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return torch.cat(rows).numpy() if rows else np.zeros((0, 0), dtype=np.float32)


def info_nce(
    queries: torch.Tensor, codes: torch.Tensor, same_code: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Symmetric InfoNCE over a batch: row i's positive is column i; `same_code[i, j]` marks
    other columns that are also a right answer, which are left out of the negatives."""
    scores = queries @ codes.T / temperature
    diagonal = torch.eye(len(scores), dtype=torch.bool)
    scores = scores.masked_fill(same_code & ~diagonal, float("-inf"))
    labels = torch.arange(len(scores))
    return (F.cross_entropy(scores, labels) + F.cross_entropy(scores.T, labels)) / 2


def batches(pairs: Sequence[Pair], batch_size: int, seed: int, epoch: int) -> list[list[Pair]]:
    """The epoch's batches: a seeded shuffle, the last short batch dropped when it is tiny."""
    order = [pairs[i] for i in batch_order(len(pairs), seed, epoch)]
    cut = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    return [batch for batch in cut if len(batch) >= 2]


def train(
    encoder: Encoder,
    pairs: Sequence[Pair],
    run_dir: Path,
    options: ContrastiveOptions,
    report: Callable[[int, int, dict], None] | None = None,
) -> dict:
    """Train `encoder` in place on `pairs`, resuming from `run_dir`'s checkpoint if there is one.
    Returns {"steps", "final_loss", "seconds"}."""
    torch.manual_seed(options.seed)
    per_epoch = len(batches(pairs, options.batch_size, options.seed, 0))
    steps = per_epoch * options.epochs
    if steps == 0:
        raise ValueError("too few training pairs for one batch")
    optimizer = torch.optim.AdamW(encoder.model.parameters(), lr=options.learning_rate)
    warmup = max(1, int(steps * options.warmup_share))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / steps)))
        ),
    )
    step = _resume(run_dir, encoder, optimizer, schedule)
    encoder.model.train()
    started, losses, tokens_before = time.monotonic(), [], encoder.tokens_seen
    for epoch in range(step // per_epoch, options.epochs):
        for position, batch in enumerate(batches(pairs, options.batch_size, options.seed, epoch)):
            if epoch * per_epoch + position < step:
                continue  # done before the resume
            codes = [pair.positive for pair in batch]
            same = torch.tensor([[a == b for b in codes] for a in codes])
            loss = info_nce(
                encoder([pair.query for pair in batch]), encoder(codes), same, options.temperature
            )
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder.model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            losses.append(loss.item())
            if report is not None:
                seconds = max(1e-9, time.monotonic() - started)
                speed = (encoder.tokens_seen - tokens_before) / seconds
                report(step, steps, {"loss": loss.item(), "tokens_per_s": speed})
            if step % options.checkpoint_every == 0 or step == steps:
                _save(run_dir, encoder, optimizer, schedule, step)
    encoder.model.eval()
    recent = losses[-per_epoch:]
    return {
        "steps": steps,
        "final_loss": round(sum(recent) / len(recent), 4) if recent else None,
        "seconds": round(time.monotonic() - started, 1),
    }


def _save(
    run_dir: Path,
    encoder: Encoder,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    step: int,
) -> None:
    state = {
        "model": encoder.model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "step": step,
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(run_dir / CHECKPOINT) as partial:
        torch.save(state, partial)


def _resume(
    run_dir: Path,
    encoder: Encoder,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> int:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return 0
    state = torch.load(path, weights_only=True)
    encoder.model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    logger.info("resuming the embedder at step %d", state["step"])
    return int(state["step"])
