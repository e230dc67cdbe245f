"""The install gate: the current model and a new adapter (or student), scored on the same
held-out holes.

The cases are the eval harness's `repo` holes in the files the data step held out (the same
file split, the same seed), so neither side has trained on them. "Current" is what the server
would run now (the installed adapter, if any). Retrieval is off on both sides (the gate compares
models, not indexes), except for a context-distilled student's teacher, which is measured as the
editor serves it: with snippets from an index of the repository without its held-out files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.server.config import Settings
from ghostwright.training.data.build import DataOptions
from ghostwright.training.evaluate.data import EvalCase

if TYPE_CHECKING:
    from ghostwright.indexer.service import IndexService
    from ghostwright.training.evaluate.repo_holes import MinedHoles

GATE_CASES = 200  # about a minute per side on this 2-core CPU


def gate_cases(root: Path, options: DataOptions, limit: int = GATE_CASES) -> MinedHoles:
    """A seeded sample of the held-out files' holes (and which files those are)."""
    from ghostwright.training.evaluate.repo_holes import mine_repository
    from ghostwright.training.evaluate.runner import select

    holes = mine_repository(
        root, seed=options.seed, languages=options.languages, exclude=options.exclude
    )
    return replace(holes, cases=select(holes.cases, limit, options.seed))


def measure(
    settings: Settings,
    cases: list[EvalCase],
    report_path: Path,
    on_case: Callable[[int, int], None] | None = None,
    *,
    benchmark: str = "repo",
    executes: bool = False,
    index: IndexService | None = None,
) -> dict:
    """Exact match and friends of `settings`' model on `cases`, and its median latency (an
    adapter costs time per token: the user should see both); the eval report is kept.
    `benchmark` and `executes` name other eval-harness benchmarks (HumanEval: executed); with an
    `index` (of the repository without its held-out files) retrieval runs as `settings` say."""
    from ghostwright.server.engine import open_completer, unhurried
    from ghostwright.training.evaluate.cli import EVAL_RETRIEVAL_S
    from ghostwright.training.evaluate.runner import model_predictor, run_report

    settings = unhurried(settings)
    if index is None:
        settings = replace(settings, retrieval=False)
    with open_completer(settings, index, retrieval_budget_s=EVAL_RETRIEVAL_S) as completer:
        predict = model_predictor(completer)
        done = 0

        def counted(case: EvalCase):  # noqa: ANN202 - the predictor's own result type
            nonlocal done
            result = predict(case)
            done += 1
            if on_case is not None:
                on_case(done, len(cases))
            return result

        context = {
            "model": completer.backend.model_name,
            "adapter": settings.adapter or None,
            "format": completer.backend.prompt_format.name,
            "retrieval": "on" if index is not None and settings.retrieval else "off",
            "prompt_tokens": settings.prompt_tokens,
        }
        report = run_report(
            benchmark,
            cases,
            counted,
            report_path,
            executes=executes,
            context=context,
            progress=False,
        )
    return {**report["metrics"], "n": report["n"], "latency_p50_ms": report["latency_ms"]["p50"]}
