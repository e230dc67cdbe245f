"""Run evaluation cases through the server's own completion pipeline and score them.

Each case goes through `Completer.complete`, exactly as an editor request would. Per-case results
are appended to a JSONL file as they come, and the summary JSON is written atomically at the end or
when the run is interrupted (Ctrl-C), so a stopped run still leaves a valid partial result.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.percentiles import percentile
from ghostwright.server.pipeline.complete import Completer, CompletionRequest, CompletionResult
from ghostwright.training.evaluate import metrics
from ghostwright.training.evaluate.data import EvalCase
from ghostwright.training.evaluate.sandbox import isolation, run_python

SCORERS = max(1, min(4, os.cpu_count() or 1))  # sandboxed test runs at once
EXTENSIONS = {
    "python": "py",
    "javascript": "js",
    "typescript": "ts",
    "java": "java",
    "go": "go",
    "rust": "rs",
    "c": "c",
    "cpp": "cpp",
}


@dataclass
class CaseResult:
    """One case: what the model suggested, what was expected, and the scores."""

    case_id: str
    stratum: str
    language: str
    trivial: bool
    prediction: str
    target: str
    latency_ms: float
    prompt_tokens: int
    generated_tokens: int
    stop_reason: str
    scores: dict = field(default_factory=dict)


def select(cases: Sequence[EvalCase], limit: int | None, seed: int) -> list[EvalCase]:
    """A reproducible subset (spread over the whole set, kept in its original order)."""
    if limit is None or limit >= len(cases):
        return list(cases)
    chosen = set(random.Random(seed).sample(range(len(cases)), limit))
    return [case for index, case in enumerate(cases) if index in chosen]


def score_execution(case: EvalCase, prediction: str) -> dict:
    """pass@1 by running prompt + completion + suffix + test + check(entry_point), sandboxed."""
    program = f"{case.prefix}{prediction}{case.suffix}\n{case.test}\ncheck({case.entry_point})\n"
    outcome = run_python(program)
    return {
        "passed": outcome.passed,
        "exec_status": outcome.status,
        "exec_detail": outcome.detail,
        **score_match(case, prediction, parse=False),
    }


def score_match(case: EvalCase, prediction: str, parse: bool = True) -> dict:
    """Exact match, edit similarity, identifier match and (when the truth parses) parses."""
    scores = {
        "exact_match": metrics.exact_match(prediction, case.target),
        "edit_similarity": metrics.edit_similarity(prediction, case.target),
        "identifier_match": metrics.identifier_match(prediction, case.target),
    }
    if parse and metrics.parses(case.prefix + case.target + case.suffix, case.language):
        scores["parses"] = bool(
            metrics.parses(case.prefix + prediction + case.suffix, case.language)
        )
    return scores


Predictor = Callable[[EvalCase], CompletionResult]


def model_predictor(completer: Completer) -> Predictor:
    """Predictions from the real pipeline, as the editor would get them."""

    def predict(case: EvalCase) -> CompletionResult:
        extension = EXTENSIONS.get(case.language, "txt")
        request = CompletionRequest(
            case.text, case.line, case.column, path=f"{case.case_id}.{extension}"
        )
        return completer.complete(request)

    return predict


def oracle_predictor(kind: str) -> Predictor:
    """The harness self-check: `canonical` must score 100%, `empty` the benchmark's floor."""

    def predict(case: EvalCase) -> CompletionResult:
        text = case.target if kind == "canonical" else ""
        return CompletionResult(text, 0.0, f"oracle:{kind}", "none", 0, 0, "oracle")

    return predict


def run_cases(
    cases: Sequence[EvalCase],
    predict: Predictor,
    score: Callable[[EvalCase, str], dict],
    cases_path: Path,
    progress: bool = True,
) -> tuple[list[CaseResult], bool]:
    """Complete every case in order and score it; returns (results, interrupted).

    Scoring (a sandboxed test run) happens on worker threads while the model works on the next
    case; results are still logged in case order.
    """
    results: list[CaseResult] = []
    pending: deque[tuple[EvalCase, CompletionResult, Future]] = deque()
    cases_path.parent.mkdir(parents=True, exist_ok=True)
    interrupted = False
    with (
        cases_path.open("w", encoding="utf-8") as log,
        tqdm(total=len(cases), disable=not progress, unit="case", dynamic_ncols=True) as bar,
        ThreadPoolExecutor(max_workers=SCORERS, thread_name_prefix="ghostwright-score") as pool,
    ):

        def record(case: EvalCase, completion: CompletionResult, scores: Future) -> None:
            result = _case_result(case, completion, scores.result())
            results.append(result)
            log.write(json.dumps(asdict(result)) + "\n")
            log.flush()
            bar.update()

        try:
            for case in cases:
                completion = predict(case)
                pending.append((case, completion, pool.submit(score, case, completion.completion)))
                while pending and (pending[0][2].done() or len(pending) > 2 * SCORERS):
                    record(*pending.popleft())
        except KeyboardInterrupt:
            interrupted = True
        while pending:  # what was already predicted is scored and kept
            record(*pending.popleft())
    return results, interrupted


def _case_result(case: EvalCase, completion: CompletionResult, scores: dict) -> CaseResult:
    return CaseResult(
        case_id=case.case_id,
        stratum=case.stratum,
        language=case.language,
        trivial=case.trivial,
        prediction=completion.completion,
        target=case.target,
        latency_ms=completion.latency_ms,
        prompt_tokens=completion.prompt_tokens,
        generated_tokens=completion.generated_tokens,
        stop_reason=completion.stop_reason,
        scores=scores,
    )


def summarize(results: Sequence[CaseResult]) -> dict:
    """Mean of every score, overall, per stratum, and split into trivial / non-trivial targets."""
    summary = {"n": len(results), "metrics": _means(results)}
    by_stratum: dict[str, list[CaseResult]] = defaultdict(list)
    for result in results:
        by_stratum[result.stratum].append(result)
    if len(by_stratum) > 1 or any(by_stratum):
        summary["strata"] = {
            name: {"n": len(group), "metrics": _means(group)}
            for name, group in sorted(by_stratum.items())
        }
    trivial = [result for result in results if result.trivial]
    if trivial:
        rest = [result for result in results if not result.trivial]
        summary["trivial"] = {"n": len(trivial), "metrics": _means(trivial)}
        summary["non_trivial"] = {"n": len(rest), "metrics": _means(rest)}
    latencies = [result.latency_ms for result in results]
    summary["latency_ms"] = {
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
    }
    return summary


def _means(results: Sequence[CaseResult]) -> dict:
    names = sorted(
        {
            name
            for result in results
            for name, value in result.scores.items()
            if isinstance(value, bool | float | int)
        }
    )
    means = {}
    for name in names:
        values = [float(result.scores[name]) for result in results if name in result.scores]
        means["pass@1" if name == "passed" else name] = metrics.mean(values)
    return means


def write_report(path: Path, report: dict) -> None:
    """Atomic: a reader never sees half a file, even if the run is killed while writing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(report, indent=2), encoding="utf-8")


def cases_path_for(json_path: Path) -> Path:
    return json_path.with_name(json_path.stem + ".cases.jsonl")


def run_report(
    benchmark: str,
    cases: Sequence[EvalCase],
    predict: Predictor,
    json_path: Path,
    *,
    executes: bool,
    context: dict,
    progress: bool = True,
) -> dict:
    """Run, summarise and write the report; returns it."""
    started = time.time()
    score = score_execution if executes else score_match
    results, interrupted = run_cases(cases, predict, score, cases_path_for(json_path), progress)
    report = {
        "benchmark": benchmark,
        **context,
        **summarize(results),
        "planned": len(cases),
        "partial": interrupted,
        "isolation": isolation() if executes else None,
        "seconds": round(time.time() - started, 1),
        "cases_file": str(cases_path_for(json_path)),
    }
    write_report(json_path, report)
    return report
