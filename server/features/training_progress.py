"""What a training child process reports (JSON lines from `--progress-json`), as the editor's
progress bar and the closing message of the job."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ghostwright.server.features.progress import Progress


def parse_event(raw: bytes) -> dict:
    try:
        event = json.loads(raw)
    except ValueError:
        return {}  # a stray library print on stdout is not progress
    return event if isinstance(event, dict) else {}


def report_event(progress: Progress, event: dict, phase_end: dict[str, int]) -> None:
    kind = event.get("event")
    if kind == "phase":  # reported as a phase begins; "install" comes once it is done
        name = str(event.get("phase", ""))
        percent = phase_end["install"] if name == "install" else phase_start(name, phase_end)
        progress.report(str(event.get("message", "")), percent)
    elif kind == "step":
        steps = max(1, int(event["steps"]))
        start, end = phase_start("train", phase_end), phase_end["train"]
        percent = start + (end - start) * int(event["step"]) // steps
        eta = int(event.get("eta_s", 0))
        message = (
            f"step {event['step']}/{steps}, loss {event['loss']:.3f}, "
            f"{event['tokens_per_s']:.0f} tok/s, ETA {eta // 60} min {eta % 60:02d} s"
        )
        progress.report(message, percent)
    elif kind == "cases":
        name = str(event.get("phase", ""))
        start, end = phase_start(name, phase_end), phase_end.get(name, 100)
        total = max(1, int(event["total"]))
        percent = start + (end - start) * int(event["done"]) // total
        progress.report(f"{CASES.get(name, name)}: {event['done']}/{total}", percent)


CASES = {  # what a `cases` event counts, per phase
    "teacher": "the teacher labels the training data, shards",
    "pairs": "preference pairs from holes the model gets wrong",
    "gate-before": "measuring the current model, held-out holes",
    "gate-after": "measuring the new model, held-out holes",
}


def phase_start(name: str, phase_end: dict[str, int]) -> int:
    names = list(phase_end)
    index = names.index(name) if name in names else 0
    return phase_end[names[index - 1]] if index > 0 else 0


def outcome_message(result: dict, command: str, title: str) -> str:
    if command == "train-embedder":
        before, after = result["before"]["mrr"], result["after"]["mrr"]
        measured = f"held-out MRR {before:.3f} -> {after:.3f}"
        if result.get("installed"):
            return f"retrieval embedder installed ({measured}); reindexing"
        return f"retrieval embedder not installed: {result.get('reason')} ({measured})"
    gate = result.get("gate") or {}
    if not gate:
        return f"{title} finished ({result.get('steps')} steps)"
    before, after = gate["before"], gate["after"]
    if command == "distill":  # `ghostwright distill` measured both figures once
        measured = (
            f"it keeps {result['retained']:.0%} of the teacher's exact match on {gate['cases']} "
            f"held-out holes at {result['speedup']:.2f}x the speed"
        )
        verdict = "installed" if result.get("installed") else "not installed"
        return f"distilled student {verdict}: {measured}"
    measured = (
        f"exact match {before['exact_match']:.1%} -> {after['exact_match']:.1%} "
        f"on {gate['cases']} held-out holes"
    )
    if result.get("installed"):
        return f"{title} installed ({measured})"
    return f"{title} finished but not installed: it did not beat the current model ({measured})"
