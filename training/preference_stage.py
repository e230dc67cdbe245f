"""`ghostwright train --stage dpo`: preference pairs, the DPO recipe, then the usual gate.

Runs after Stage B and starts from its adapter (the installed one, or the teacher of an installed
distilled student). Pairs come from the repository's feedback log and from holes of its training
files that the Stage B model gets wrong (its own predictions, through the served pipeline, are
the rejected side); they are written to the run folder once, so `--resume` trains on the same.
The result is exported, checked, gated against the Stage B adapter on the held-out holes and
installed like any adapter.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from ghostwright.server.config import Settings, project_root
from ghostwright.server.errors import GhostwrightError
from ghostwright.training.progress import TrainProgress

KIND = "dpo"
PAIRS_FILE = "pairs.jsonl"


def run_dpo_stage(args: argparse.Namespace, settings: Settings) -> int:
    from ghostwright.server.installs.records import ADAPTERS_DIR
    from ghostwright.training.data.build import DataOptions
    from ghostwright.training.data.samples import window_for
    from ghostwright.training.publish import Target, publish
    from ghostwright.training.recipes.dpo import train_dpo
    from ghostwright.training.run_setup import run_folder

    root = (args.repo or project_root(Path.cwd())).resolve()
    if not root.is_dir():
        raise GhostwrightError(f"not a directory: {root}")
    stage_b = repository_stage_b(root)
    peft_dir = Path(stage_b.get("peft_dir") or "") if stage_b else None
    if stage_b is None or peft_dir is None or not (peft_dir / "adapter_config.json").is_file():
        raise GhostwrightError(
            f"the DPO stage starts from {root}'s Stage B adapter; run `ghostwright train` first"
        )
    options = dpo_options(args.overrides, args.max_steps)
    if args.hole_pairs < 0:
        raise GhostwrightError("--hole-pairs must be 0 or more")
    progress = TrainProgress(args.progress_json)
    run_dir = run_folder(root / ".ghostwright", KIND, args.resume)
    stage_b_settings = replace(
        settings,
        model=str(stage_b.get("base_model") or settings.model),  # the base Stage B fits
        adapter=stage_b["path"],
        prompt_format=stage_b.get("prompt_format", "auto"),
        retrieval=False,
    )
    rows = _pairs(root, run_dir, stage_b_settings, options, args, progress)
    progress.phase("train", f"DPO on {len(rows)} preference pairs in {run_dir}")
    trained = train_dpo(peft_dir, rows, run_dir, options, progress.step)
    summary: dict[str, Any] = dict(trained.summary)
    if not args.no_install:
        config = trained.config
        window = window_for(config["max_tokens"])
        data = DataOptions(prefix_chars=window[0], suffix_chars=window[1])
        target = Target(root, data, root, root / ADAPTERS_DIR)
        summary |= publish(
            trained,
            target,
            settings,
            progress,
            force=args.force,
            gate_limit=args.gate_cases,
            before=replace(stage_b_settings, retrieval=settings.retrieval),
        )
        outcome = summary["installed"] or f"not installed: {summary.get('not_installed')}"
        progress.phase("install", str(outcome))
    progress.result(summary)
    return 0


def repository_stage_b(root: Path) -> dict | None:
    """The repository's own Stage B adapter record: the installed one, or the teacher of an
    installed student (never the user-wide Stage A adapter)."""
    from ghostwright.server.installs.records import ADAPTERS_DIR, current_adapter, is_student

    record = current_adapter(root / ADAPTERS_DIR)
    if is_student(record):
        record = (record or {}).get("teacher")
    return record if record and Path(record.get("path", "")).is_file() else None


def dpo_options(overrides: list[str], max_steps: int | None) -> Any:
    """DpoOptions from key=value overrides (beta=0.2 epochs=1 ...); unknown keys are errors."""
    from ghostwright.training.recipes.dpo import DpoOptions

    values: dict[str, Any] = {}
    known = asdict(DpoOptions())
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or key not in known:
            raise GhostwrightError(f"unknown DPO setting {item!r} (known: {', '.join(known)})")
        try:
            values[key] = type(known[key])(raw)
        except ValueError as exc:
            raise GhostwrightError(f"{key} expects a {type(known[key]).__name__}") from exc
    if max_steps is not None:
        raise GhostwrightError("the DPO stage runs whole epochs: use epochs=N")
    return DpoOptions(**values)


def _pairs(
    root: Path,
    run_dir: Path,
    settings: Settings,
    options: Any,
    args: argparse.Namespace,
    progress: TrainProgress,
) -> list[dict[str, str]]:
    """The run's rendered pairs: read back on resume, else built and written once."""
    from ghostwright.server.engine import open_completer
    from ghostwright.server.feedback.log import FeedbackLog, feedback_path
    from ghostwright.training.data.preferences import (
        hole_preferences,
        log_preferences,
        render_preference,
    )
    from ghostwright.training.data.samples import window_for
    from ghostwright.training.evaluate.runner import model_predictor
    from ghostwright.training.run_setup import training_format

    saved = run_dir / PAIRS_FILE
    if saved.is_file():
        return [json.loads(line) for line in saved.read_text().splitlines()]
    logged = []
    if feedback_path(root).is_file():
        log = FeedbackLog(feedback_path(root))
        try:
            logged = log_preferences(log.rows())
        finally:
            log.close()
    limit = args.hole_pairs
    progress.phase("data", f"{len(logged)} pairs from the feedback log; mining up to {limit} holes")
    holes = []
    if limit:
        with open_completer(settings) as completer:
            predict = model_predictor(completer)
            holes = hole_preferences(
                root,
                lambda case: predict(case).completion,
                limit=limit,
                progress=lambda done, total: progress.cases("pairs", done, total),
            )
    fmt = training_format(settings.model)  # the Stage B base (see run_dpo_stage)
    window = window_for(options.max_tokens)
    rows = [
        {**render_preference(fmt, pair, window), "source": pair.source}
        for pair in [*logged, *holes]
    ]
    if not rows:
        raise GhostwrightError(f"no preference pairs in {root}: no feedback and no wrong holes")
    run_dir.mkdir(parents=True, exist_ok=True)
    saved.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows
