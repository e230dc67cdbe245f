"""The learning loop, end to end on a repository with history, in one run and one JSON.

Run: python tests/bench/learning_loop.py --repo PATH --out learning-loop.json
         [--train-edits 300] [--test-edits 150] [--hole-pairs 150] [--eval-limit 150]
         [--exclude GLOB ...] [--skip-embedder]

PATH is a git repository with the Stage B adapter installed (`ghostwright train`). Steps:

1. embedder: `ghostwright train embedder` (recall@k and MRR on held-out pairs, before and after),
   then `ghostwright eval repo PATH --retrieval on` with the packaged embedder and the trained one
   (the model: the Stage B adapter);
2. a simulated feedback session: lines the history's commits added to training files (the
   harness's split) are typed again, with the Stage B model suggesting; the simulated user
   accepts what matches what was really written, word by word (`git_replay.py`), and the
   outcomes go to the repository's feedback log as the server would write them;
3. the trigger: `ghostwright feedback train-trigger` on that log (acceptance rate vs suggestions
   shown on its newest 30%);
4. DPO: `ghostwright train --stage dpo` on the log's pairs plus wrong holes (gated against Stage
   B on the held-out holes);
5. the DPO stage's effect: lines the commits added to the held-out files (never trained on by
   any stage) replayed with Stage B and with the DPO adapter: acceptance rate, exact lines,
   characters accepted.

The machine is stated; quality is compared within the run (ratios), timings are medians.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import random
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_machine, stats  # noqa: E402
from git_replay import Edit, added_lines, commits, simulated_outcome  # noqa: E402

from ghostwright.indexer.files import iter_source_files, language_for  # noqa: E402
from ghostwright.server.config import Settings  # noqa: E402
from ghostwright.server.feedback.log import FeedbackLog, feedback_path, shown_at  # noqa: E402
from ghostwright.training.evaluate.repo_holes import split_files  # noqa: E402
from ghostwright.training.preference_stage import repository_stage_b  # noqa: E402

GHOSTWRIGHT = [sys.executable, "-m", "ghostwright.server"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("bench-results/learning-loop.json"))
    parser.add_argument("--train-edits", type=int, default=300)
    parser.add_argument("--test-edits", type=int, default=150)
    parser.add_argument("--hole-pairs", type=int, default=150)
    parser.add_argument("--eval-limit", type=int, default=150)
    parser.add_argument("--gate-cases", type=int, default=100)
    parser.add_argument("--exclude", nargs="*", default=[], help="globs of files not replayed")
    parser.add_argument("--skip-embedder", action="store_true")
    parser.add_argument("--dpo", nargs="*", default=["epochs=1", "max_tokens=512"])
    args = parser.parse_args()
    root = args.repo.resolve()
    stage_b = repository_stage_b(root)
    if stage_b is None:
        print(f"{root} has no Stage B adapter: run `ghostwright train` first", file=sys.stderr)
        return 2
    started = time.monotonic()
    report: dict = {"machine": describe_machine(), "repository": str(root)}
    base = Settings(
        adapter=stage_b["path"],
        prompt_format=stage_b.get("prompt_format", "auto"),
        retrieval=False,
    )
    report["stage_b"] = Path(stage_b["path"]).name
    if not args.skip_embedder:
        report["embedder"] = embedder_step(root, base, args.eval_limit)
        write(report, args.out)

    train_edits, test_edits = replay_edits(root, args.exclude, args.train_edits, args.test_edits)
    log_path = feedback_path(root)
    if log_path.exists():
        log_path.unlink()  # the session below is the log
    log = FeedbackLog(log_path)
    try:
        report["session"] = session(base, root, train_edits, log)
    finally:
        log.close()
    write(report, args.out)

    report["trigger"] = cli_json([*GHOSTWRIGHT, "feedback", "train-trigger", "--repo", str(root)])
    dpo_command = [
        *GHOSTWRIGHT, "train", "--stage", "dpo", "--repo", str(root), "--progress-json",
        "--hole-pairs", str(args.hole_pairs), "--gate-cases", str(args.gate_cases), *args.dpo,
    ]  # fmt: skip
    report["dpo"] = cli_json(dpo_command, last_line=True)
    write(report, args.out)

    dpo_run = sorted((root / ".ghostwright" / "runs").glob("dpo-*"))[-1]
    dpo = replace(base, adapter=str(dpo_run / f"{dpo_run.name}.gguf"))
    report["effect"] = effect(base, dpo, root, test_edits, report["trigger"])
    report["seconds"] = round(time.monotonic() - started)
    write(report, args.out)
    print(json.dumps(report["effect"]["summary"], indent=2))
    return 0


def embedder_step(root: Path, base: Settings, limit: int) -> dict:
    """Train the embedder (installed when it wins), then the eval harness with each embedder."""
    trained = cli_json(
        [*GHOSTWRIGHT, "train", "embedder", "--repo", str(root), "--progress-json"],
        last_line=True,
    )
    evaluations = {}
    for name, flag in (("packaged", ["--embedder", "packaged"]), ("trained", [])):
        out = root / ".ghostwright" / f"eval-retrieval-{name}.json"
        subprocess.run(
            [
                *GHOSTWRIGHT, "eval", "repo", str(root), "--retrieval", "on", "--no-progress",
                "--adapter", base.adapter, "--format", base.prompt_format,
                "--limit", str(limit), "--json", str(out), *flag,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        result = json.loads(out.read_text())
        evaluations[name] = {
            "exact_match": result["metrics"]["exact_match"],
            "n": result["n"],
            "embedder": result.get("index", {}).get("embedder"),
        }
    packaged = evaluations["packaged"]["exact_match"]
    ratio = evaluations["trained"]["exact_match"] / packaged if packaged else None
    return {"training": trained, "eval_repo": evaluations, "exact_match_ratio": ratio}


def replay_edits(
    root: Path, exclude: list[str], train_count: int, test_count: int
) -> tuple[list[Edit], list[Edit]]:
    """Lines the history's commits added: in training files (the session and DPO learn from
    them) and in held-out files (the harness's split: nothing was trained on them, not Stage B,
    not the embedder, not DPO). Seeded samples of each."""
    files = [item for item in iter_source_files(root) if item.language]
    held_out = {item.relative for item in split_files(files, 0)[0]}
    history = commits(root)
    if len(history) < 2:
        raise SystemExit(f"{root} needs at least two commits")
    edits = [
        edit
        for before, after in zip(history[:-1], history[1:], strict=True)
        for edit in added_lines(root, before, after)
        if not any(fnmatch.fnmatch(edit.path, pattern) for pattern in exclude)
    ]
    rng = random.Random(0)
    training = [edit for edit in edits if edit.path not in held_out]
    testing = [edit for edit in edits if edit.path in held_out]
    return (
        rng.sample(training, min(train_count, len(training))),
        rng.sample(testing, min(test_count, len(testing))),
    )


def session(settings: Settings, root: Path, edits: list[Edit], log: FeedbackLog | None) -> dict:
    """Type each edit again with `settings`' model suggesting; record outcomes in `log`."""
    from ghostwright.server.engine import open_completer
    from ghostwright.server.pipeline.complete import CompletionRequest

    outcomes: list[dict] = []
    with open_completer(settings) as completer:
        for edit in edits:
            text = edit.document()
            request = CompletionRequest(text, edit.line, edit.column, path=str(root / edit.path))
            result = completer.complete(request)
            outcome, chars = simulated_outcome(result.completion, edit.target)
            outcomes.append(
                {
                    "outcome": outcome if result.completion else "none",
                    "chars": chars or 0,
                    "target": len(edit.target),
                    "latency_ms": result.latency_ms,
                }
            )
            if log is not None and result.completion:
                shown, _ = shown_at(
                    text,
                    edit.line,
                    edit.column,
                    result.completion,
                    path=edit.path,
                    language=language_for(edit.path),
                    model=result.model,
                    latency_ms=round(result.latency_ms, 1),
                )
                identifier = log.shown(shown)
                log.decided(identifier, outcome, chars)
                if outcome == "dismissed":
                    log.written(identifier, edit.target)
                else:
                    log.survived(identifier, 1.0, final=edit.target)
    return summarise(outcomes)


def summarise(outcomes: list[dict]) -> dict:
    shown = [o for o in outcomes if o["outcome"] != "none"]
    names = ("accepted", "partial", "dismissed", "none")
    counts = {name: sum(o["outcome"] == name for o in outcomes) for name in names}
    return {
        "edits": len(outcomes),
        "shown": len(shown),
        "outcomes": counts,
        "acceptance_rate": (counts["accepted"] + counts["partial"]) / len(shown) if shown else 0,
        "exact_lines": counts["accepted"] / len(outcomes) if outcomes else 0,
        "chars_accepted_share": sum(o["chars"] for o in outcomes)
        / max(1, sum(o["target"] for o in outcomes)),
        "latency_ms": stats([o["latency_ms"] for o in outcomes]) if outcomes else None,
        "per_edit": outcomes,
    }


def effect(base: Settings, dpo: Settings, root: Path, edits: list[Edit], trigger: dict) -> dict:
    """The held-out edits with Stage B and with the DPO adapter (same edits, same order), beside
    what the trigger measured on the session log's newest 30%."""
    before = session(base, root, edits, None)
    after = session(dpo, root, edits, None)

    def ratio(key: str) -> float | None:
        return after[key] / before[key] if before[key] else None

    keys = ("acceptance_rate", "exact_lines", "chars_accepted_share")
    summary = {
        "edits": len(edits),
        "stage_b": {key: before[key] for key in keys},
        "dpo": {key: after[key] for key in keys},
        "ratio_acceptance_rate": ratio("acceptance_rate"),
        "ratio_exact_lines": ratio("exact_lines"),
        "ratio_chars_accepted": ratio("chars_accepted_share"),
        "trigger_on_held_out_log": trigger.get("chosen"),
        "trigger_always": trigger.get("always"),
    }
    return {"summary": summary, "stage_b": before, "dpo": after}


def cli_json(command: list[str], last_line: bool = False) -> dict:
    """Run a ghostwright command; its JSON output (the last line of a --progress-json run)."""
    if not last_line and "--json" not in command:
        command = [*command, "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return json.loads(lines[-1] if last_line else "\n".join(lines))


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
