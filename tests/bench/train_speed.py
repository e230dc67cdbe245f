"""Training speed of the LoRA recipe vs a naive peft loop, same model, data and batch, same run.

    python -m tests.bench.train_speed --dataset DIR [--steps 3] [--json OUT.json]

Variants, each in its own process (so each peak RSS is its own):
- naive: fp32, `model(..., labels=...)`: logits over the whole 262k vocabulary at every position;
- ours-fp32: the recipe's loss, output layer only on labelled positions;
- ours: the same plus bf16 autocast when the CPU has avx512_bf16 (the recipe's `precision=auto`).
Default model, LoRA r=16 on all projections, batch 4 x 512 tokens of real samples (the dataset's
longest batches, so little padding). Reported: median seconds per optimizer step, tokens/s, peak
RSS, and the speed-up over naive.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BATCH, TOKENS, RANK = 4, 512, 16


def measure(variant: str, dataset: Path, steps: int) -> dict:
    import torch

    from ghostwright.training.batches import collate
    from ghostwright.training.config import load_config
    from ghostwright.training.recipes import lora_finetune

    config = load_config(
        None,
        [
            f"dataset={dataset}",
            "output_dir=/tmp/ghostwright-train-speed",
            f"batch_size={BATCH}",
            f"max_tokens={TOKENS}",
            f"lora.rank={RANK}",
            f"lora.alpha={2 * RANK}",
            f"precision={'auto' if variant == 'ours' else 'fp32'}",
        ],
        "lora_default.yaml",
    )
    recipe = lora_finetune.setup(config)
    longest = recipe.batches[-(steps + 1) :]  # the longest batches: full 512-token rows
    pad = recipe.tokenizer.pad_token_id or 0
    timings, tokens = [], []
    for indices in longest:
        batch = collate([recipe.train_examples[i] for i in indices], pad)
        started = time.perf_counter()
        if variant == "naive":
            loss = recipe.model(**batch).loss
        else:
            loss, _ = recipe.loss(recipe, batch)
        loss.backward()
        recipe.optimizer.step()
        recipe.optimizer.zero_grad(set_to_none=True)
        timings.append(time.perf_counter() - started)
        tokens.append(int(batch["attention_mask"].sum()))
    timings, tokens = timings[1:], tokens[1:]  # the first step warms caches up
    seconds = statistics.median(timings)
    return {
        "variant": variant,
        "bf16": recipe.bf16,
        "steps_timed": len(timings),
        "seconds_per_step": seconds,
        "tokens_per_step": statistics.median(tokens),
        "tokens_per_s": statistics.median(tokens) / seconds,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--json", type=Path, default=Path("bench-results/train_speed.json"))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args.dataset, args.steps)))
        return
    from tests.bench.common import describe_machine

    report = {"machine": describe_machine(), "batch": [BATCH, TOKENS], "lora_rank": RANK}
    results = {}
    for variant in ("naive", "ours-fp32", "ours"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.train_speed",
                "--variant",
                variant,
                "--dataset",
                str(args.dataset),
                "--steps",
                str(args.steps),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(results[variant]), flush=True)
    naive = results["naive"]["tokens_per_s"]
    report["variants"] = results
    report["speedup_vs_naive"] = {k: v["tokens_per_s"] / naive for k, v in results.items()}
    report["meets_targets"] = {
        "speedup_ge_5x": report["speedup_vs_naive"]["ours"] >= 5,
        "peak_rss_le_8gib": results["ours"]["peak_rss_gib"] <= 8,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
