"""A training run's checkpoints: everything needed to continue exactly where it stopped (trained
weights, optimizer, scheduler, RNG states, data position), written atomically; the newest two kept.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError

if TYPE_CHECKING:
    from ghostwright.training.loop import Run

logger = logging.getLogger(__name__)

CHECKPOINTS_KEPT = 2


def save_checkpoint(run: Run) -> Path:
    """Everything needed to continue, written to a temp file and renamed into place."""
    state = {
        "step": run.step,
        "epoch": run.epoch,
        "position": run.position,
        "weights": trainable_state(run),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": run.scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate()},
        "history": run.history,
    }
    target = run.run_dir / f"checkpoint-{run.step:06d}.pt"
    with atomic_path(target) as partial:
        torch.save(state, partial)
    for old in sorted(run.run_dir.glob("checkpoint-*.pt"))[:-CHECKPOINTS_KEPT]:
        old.unlink(missing_ok=True)
    return target


def load_checkpoint(run: Run) -> bool:
    """Continue from the newest checkpoint in the run folder; False when there is none."""
    found = sorted(run.run_dir.glob("checkpoint-*.pt"))
    if not found:
        return False
    state = torch.load(found[-1], weights_only=False)
    load_trainable_state(run, state.get("weights", state.get("adapter")))
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"]["torch"])
    random.setstate(state["rng"]["python"])
    run.step, run.epoch, run.position = state["step"], state["epoch"], state["position"]
    run.history = state["history"]
    logger.info("resumed %s at step %d", run.run_dir, run.step)
    return True


def trainable_state(run: Run) -> dict[str, torch.Tensor]:
    if run.peft:
        from peft import get_peft_model_state_dict

        return get_peft_model_state_dict(run.model)
    return {
        name: parameter.detach().clone()
        for name, parameter in run.model.named_parameters()
        if parameter.requires_grad
    }


def load_trainable_state(run: Run, weights: dict[str, torch.Tensor]) -> None:
    if run.peft:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(run.model, weights)
        return
    trained = {name for name, p in run.model.named_parameters() if p.requires_grad}
    missing = trained - set(weights)
    if missing:
        raise GhostwrightError(f"the checkpoint lacks {sorted(missing)[:3]}: another model")
    run.model.load_state_dict(weights, strict=False)


def save_adapter(run: Run) -> Path:
    """The trained peft adapter folder in the run folder."""
    target = run.run_dir / "adapter"
    run.model.save_pretrained(target)
    return target
