"""LoRA fine-tune recipe, top to bottom: load, read the data, train, save.

Starts from exactly the model the server runs (transformers loads the GGUF) or an HF checkpoint;
trains a peft LoRA on a dataset from `training/data` with the loss `losses.supervised_cross_entropy`
(the output layer only on labelled positions). Stage B mixes in a share of Stage A's samples so
it does not forget. The loop, checkpoints and exact resume are `training/loop.py`'s.

Multi-GPU: `accelerate launch -m ghostwright.training.recipes.lora_finetune CONFIG` is the
documented path; this file drives one device.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ghostwright.server.errors import GhostwrightError
from ghostwright.training import checkpoints, loop
from ghostwright.training.batches import read_split, replay
from ghostwright.training.embeddings import round_embedding
from ghostwright.training.losses import softcapped, supervised_cross_entropy
from ghostwright.training.models import load_adapter_weights, load_model, starting_adapter

logger = logging.getLogger(__name__)


def run(config: dict[str, Any], resume: bool = True, progress: Callable | None = None) -> loop.Run:
    """Set up, resume when a checkpoint exists (and `resume`), train, save the adapter; the run
    (model in memory) is returned for export and verification."""
    trained = loop.train_to_end(setup(config), resume, progress)
    trained.summary["adapter"] = str(checkpoints.save_adapter(trained))
    return trained


def setup(config: dict[str, Any]) -> loop.Run:
    loop.seed_everything(config)
    model, tokenizer = load_model(config)
    if start := starting_adapter(config):
        load_adapter_weights(model, start)
    # A sequence-level student is exported whole: it trains with the embedding it will have.
    round_embedding(model, config.get("embedding_quantization", "default"))
    train, too_long = read_split(config, tokenizer, "train")
    replayed, _ = replay(config, tokenizer, len(train))
    validation, _ = read_split(config, tokenizer, "validation", required=False)
    run = loop.Run(config, model, tokenizer, train + replayed, validation, supervised_loss)
    run.bf16, run.too_long = loop.use_bf16(config), too_long
    return loop.start(run)


def supervised_loss(run: loop.Run, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    causal_lm = run.model.get_base_model()
    head = softcapped(
        causal_lm.get_output_embeddings(),
        getattr(causal_lm.config, "final_logit_softcapping", None),
    )
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=run.bf16):
        hidden = causal_lm.get_decoder()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        return supervised_cross_entropy(hidden, batch["labels"], head)


def main(argv: list[str] | None = None) -> int:
    """`python -m ghostwright.training.recipes.lora_finetune [--config F] [key=value ...]`."""
    import argparse

    from ghostwright.training.config import load_config
    from ghostwright.training.progress import progress_bar_from

    parser = argparse.ArgumentParser(description="LoRA fine-tune (one device)")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--no-resume", action="store_true", help="ignore existing checkpoints")
    parser.add_argument("overrides", nargs="*", help="key=value")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, args.overrides, "lora_default.yaml")
        bar = progress_bar_from(config["max_steps"]) if sys.stderr.isatty() else None
        summary = run(config, resume=not args.no_resume, progress=bar).summary
    except GhostwrightError as exc:
        print(f"ghostwright: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({key: summary[key] for key in ("steps", "final_loss", "bf16", "adapter")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
