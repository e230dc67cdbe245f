"""`ghostwright train embedder` (also spelt `train-embedder`): the retrieval embedder's fine-tune.
Only argparse is imported until the command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ghostwright.server.config import Settings, project_root
from ghostwright.server.errors import GhostwrightError


def add_train_embedder_arguments(parser: argparse.ArgumentParser) -> None:
    """`ghostwright train embedder`'s options (server/cli.py registers the command)."""
    parser.add_argument("--repo", type=Path, help="repository (default: this one)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="pairs per batch (negatives)")
    parser.add_argument("--learning-rate", type=float, default=3e-5)
    parser.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature")
    parser.add_argument("--max-pairs", type=int, default=4000, help="per kind and split")
    parser.add_argument("--seed", type=int, default=0, help="the held-out split's seed")
    parser.add_argument("--resume", action="store_true", help="continue the newest run")
    parser.add_argument("--force", action="store_true", help="install even without a gain")
    parser.add_argument("--no-install", action="store_true", help="measure only")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the report here")
    parser.add_argument("--progress-json", action="store_true", help="progress as JSON lines")
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: auto)")


def run_train_embedder(args: argparse.Namespace, settings: Settings) -> int:
    from ghostwright.training.cli import quiet_libraries
    from ghostwright.training.embedder.contrastive import ContrastiveOptions
    from ghostwright.training.embedder.run import (
        EmbedderRun,
        check_embedder_setting,
        train_embedder,
    )
    from ghostwright.training.progress import TrainProgress

    for name in ("epochs", "batch_size", "max_pairs"):
        if getattr(args, name) < 1:
            raise GhostwrightError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.temperature <= 1 or args.learning_rate <= 0:
        raise GhostwrightError("--temperature must be in (0, 1] and --learning-rate above 0")
    root = (args.repo or project_root(Path.cwd())).expanduser()
    if not root.is_dir():
        raise GhostwrightError(f"not a directory: {root}")
    check_embedder_setting(settings.embedder)
    quiet_libraries()
    options = ContrastiveOptions(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        temperature=args.temperature,
        seed=args.seed,
    )
    run = EmbedderRun(
        root,
        options,
        max_pairs=args.max_pairs,
        threads=args.threads,
        resume=args.resume,
        install=not args.no_install,
        force=args.force,
    )
    progress = TrainProgress(args.progress_json)
    report = train_embedder(run, progress)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2))
    progress.result(_summary(report))
    return 0


def _summary(report: dict) -> dict:
    def short(figures: dict) -> dict:
        return {key: figures[key] for key in ("recall@1", "recall@5", "recall@10", "mrr")}

    return {
        "pairs": report["pairs"],
        "before": short(report["before"]),
        "after": short(report["after"]),
        "check_min_cosine": report["check"]["min_cosine"],
        "installed": report["installed"],
        **({"reason": report["reason"]} if "reason" in report else {}),
    }
