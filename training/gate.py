"""The install gate: the current model and a new adapter, scored on the same held-out holes.

The cases are the eval harness's `repo` holes in the files the data step held out (the same
file split, the same seed), so neither side has trained on them. "Current" is what the server
would run now (the installed adapter, if any). Retrieval is off on both sides: the gate compares
models, not indexes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ghostwright.server.config import Settings
from ghostwright.training.data.build import DataOptions
from ghostwright.training.evaluate.data import EvalCase

GATE_CASES = 200  # about a minute per side on this 2-core CPU


def gate_cases(root: Path, options: DataOptions, limit: int = GATE_CASES) -> list[EvalCase]:
    """A seeded sample of the held-out files' holes."""
    from ghostwright.training.evaluate.repo_holes import mine_repository
    from ghostwright.training.evaluate.runner import select

    holes = mine_repository(
        root, seed=options.seed, languages=options.languages, exclude=options.exclude
    )
    return select(holes.cases, limit, options.seed)


def measure(
    settings: Settings,
    cases: list[EvalCase],
    report_path: Path,
    on_case: Callable[[int, int], None] | None = None,
) -> dict:
    """Exact match and friends of `settings`' model on `cases`, and its median latency (an
    adapter costs time per token: the user should see both); the eval report is kept."""
    from ghostwright.server.engine import open_completer
    from ghostwright.training.evaluate.runner import model_predictor, run_report

    with open_completer(replace(settings, retrieval=False)) as completer:
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
            "retrieval": "off",
        }
        report = run_report(
            "repo",
            cases,
            counted,
            report_path,
            executes=False,
            context=context,
            progress=False,
        )
    return {**report["metrics"], "n": report["n"], "latency_p50_ms": report["latency_ms"]["p50"]}
