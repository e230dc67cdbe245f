"""Distilled student vs its teacher, in one run: completion latency and held-out quality.

Run: python tests/bench/distill.py --repo PATH [--data EVALDATA]
         [--repo-limit N] [--humaneval-limit N] [--out bench-results/distill.json]

Teacher: what the server ran before the student was installed (the model plus the teacher's
adapter, named in the installed student's record); student: the installed student as the
server runs it (a whole GGUF; a context student with its shorter window). Interleaved request
by request so noise hits both alike:

- latency: typing replay over the repository's held-out files, each model with the prompt its
  own pipeline builds and its own KV cache (as in the editor), then cold (cache reset), each
  generating exactly `--tokens` tokens; medians of the per-request ratios;
- quality: the eval harness's `repo` holes of the held-out files and HumanEval single-line (when
  the evaluation data is found; skipped otherwise), same cases: exact match, parses, pass@1, and
  the share of the teacher's exact match the student keeps (a context student's teacher with
  snippets from an index of the repository without its held-out files).

Targets (the issue's): student at least 1.6x as fast, keeping at least 90% of held-out exact match.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_machine, stats  # noqa: E402
from latency import raw_generate  # noqa: E402
from typing_replay import typing_requests  # noqa: E402

from ghostwright.server.config import Settings  # noqa: E402
from ghostwright.server.errors import GhostwrightError  # noqa: E402
from ghostwright.server.installs.records import installed_adapter, is_student  # noqa: E402

TARGETS = {"speedup_min": 1.6, "retained_exact_match_min": 0.9}


def latency(
    teacher: Settings, student: Settings, files: list[Path], limit: int, tokens: int
) -> dict:
    """Each model gets the prompt its own pipeline builds (a context student: its shorter
    window; a sequence student: its own format; retrieval off on both) for the same requests.
    A third side, the teacher's model without its adapter on the teacher's prompts, shows how
    much of the speed-up a teacher merged into one GGUF would have had anyway."""
    from ghostwright.indexer.llama_native import load_quietly
    from ghostwright.server.engine import open_completer

    requests = [r for path in files for r in typing_requests(path, limit=limit)]
    prompts = {}
    for name, settings in (("teacher", teacher), ("student", student)):
        with open_completer(replace(settings, retrieval=False)) as completer:
            prompts[name] = [completer.prepare(request).prompt for request in requests]
    prompts["teacher_without_adapter"] = prompts["teacher"]
    load = dict(n_ctx=2048, n_threads=teacher.threads or None)
    sides = {
        "teacher": (teacher.model, teacher.adapter),
        "student": (student.model, student.adapter),
        "teacher_without_adapter": (teacher.model, ""),
    }
    if not teacher.adapter:
        del sides["teacher_without_adapter"]
    llms = {
        name: load_quietly(model_path=model, lora_path=adapter or None, **load)
        for name, (model, adapter) in sides.items()
    }
    report: dict = {
        "requests": len(requests),
        "tokens_generated": tokens,
        "prompt_tokens": {
            name: stats([len(llm.tokenize(p.encode(), special=True)) for p in prompts[name]])
            for name, llm in llms.items()
        },
    }
    try:
        for mode in ("typing", "cold"):
            cold = mode == "cold"
            times: dict[str, list[float]] = {name: [] for name in llms}
            for index in range(len(requests)):
                for name, llm in llms.items():
                    times[name].append(raw_generate(llm, prompts[name][index], tokens, cold))
            report[mode] = {f"{name}_ms": stats(values) for name, values in times.items()}
            for name in llms:
                if name == "student":
                    continue
                ratios = np.array(times[name]) / np.array(times["student"])
                prefix = "speedup" if name == "teacher" else f"speedup_vs_{name}"
                report[mode][f"{prefix}_median_of_ratios"] = float(np.median(ratios))
                report[mode][f"{prefix}_p50_ratio"] = (
                    stats(times[name])["p50"] / stats(times["student"])["p50"]
                )
    finally:
        for llm in llms.values():
            llm.close()
    return report


def quality(
    teacher: Settings,
    student: Settings,
    benchmark: str,
    cases: list,
    out: Path,
    index=None,  # noqa: ANN001
) -> dict:
    """Both on the same cases; the teacher with `index` (snippets) when given, as it is served."""
    from ghostwright.training.gate import measure

    executes = benchmark != "repo"
    sides = {}
    for name, settings in (("teacher", teacher), ("student", student)):
        path = out.with_name(f"{out.stem}-{benchmark}-{name}.json")
        side_index = index if name == "teacher" else None
        sides[name] = measure(
            settings, cases, path, benchmark=benchmark, executes=executes, index=side_index
        )
    before, after = sides["teacher"]["exact_match"], sides["student"]["exact_match"]
    sides["retained_exact_match"] = after / before if before else None
    if executes:
        was, now = sides["teacher"].get("pass@1"), sides["student"].get("pass@1")
        sides["retained_pass_at_1"] = now / was if was else None
    return sides


def models(repo: Path) -> tuple[Settings, Settings, dict]:
    """(teacher settings, student settings as served, the installed student's record)."""
    from ghostwright.server.installs.records import with_installed_adapter
    from ghostwright.server.models import resolve_model

    record = installed_adapter(repo)
    if not is_student(record):
        raise GhostwrightError(f"no distilled student is installed in {repo}")
    student = with_installed_adapter(Settings(), repo)
    student = replace(student, model=str(resolve_model(student.model)))
    teacher_record = record.get("teacher") or {}
    teacher = replace(
        Settings(),
        # The teacher's own model (a sequence student's record names the student's base).
        model=str(resolve_model(teacher_record.get("base_model", "default"))),
        adapter=teacher_record.get("path", ""),
        prompt_format=teacher_record.get("prompt_format", record.get("prompt_format", "auto")),
    )
    return teacher, student, record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--data", type=Path, help="evaluation data (HumanEval); else skipped")
    parser.add_argument("--repo-limit", type=int, help="held-out holes (default: all)")
    parser.add_argument("--humaneval-limit", type=int, default=200)
    parser.add_argument("--latency-files", type=int, default=4)
    parser.add_argument("--latency-limit", type=int, default=15, help="requests per file")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--skip", nargs="*", default=[], choices=("latency", "repo", "humaneval"))
    parser.add_argument("--out", type=Path, default=Path("bench-results/distill.json"))
    args = parser.parse_args(argv)

    from ghostwright.training.evaluate import data
    from ghostwright.training.evaluate.repo_holes import mine_repository
    from ghostwright.training.evaluate.runner import select

    repo = args.repo.resolve()
    teacher, student, record = models(repo)
    holes = mine_repository(repo)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "machine": describe_machine(),
        "repository": str(repo),
        "teacher": {"model": teacher.model, "adapter": teacher.adapter or None},
        "student": {
            "model": student.model,
            "record": {k: record.get(k) for k in ("retained", "speedup", "keep_layers")},
        },
        "prompt_format": teacher.prompt_format,
        "targets": TARGETS,
    }
    if "latency" not in args.skip:
        # The largest held-out files: a typing replay in a ten-line file measures nothing.
        held_out = [repo / name for name in holes.description["held_out_files"]]
        files = sorted(held_out, key=lambda path: path.stat().st_size, reverse=True)
        files = files[: args.latency_files]
        report["latency"] = latency(teacher, student, files, args.latency_limit, args.tokens)
    if "repo" not in args.skip:
        cases = select(holes.cases, args.repo_limit, 0)
        index = None
        if record.get("distilled") == "context":  # its teacher is served with snippets
            from ghostwright.training.evaluate.cli import index_without

            index = index_without(repo, teacher, holes.description["held_out_files"], 0)[0]
        try:
            report["repo"] = quality(teacher, student, "repo", cases, args.out, index)
        finally:
            if index is not None:
                index.close()
                index.embedder.close()
    if "humaneval" not in args.skip:
        try:
            found = data.load_humaneval(data.find_data_dir(args.data), "humaneval-single")
            cases = select(found, args.humaneval_limit, 0)
            report["humaneval_single"] = quality(
                teacher, student, "humaneval-single", cases, args.out
            )
        except GhostwrightError as exc:
            report["humaneval_single"] = {"skipped": str(exc)}
    measured = report.get("latency", {})
    speedups = {
        mode: measured.get(mode, {}).get("speedup_median_of_ratios") for mode in ("cold", "typing")
    }
    retained = report.get("repo", {}).get("retained_exact_match")
    report["verdict"] = {
        **{f"speedup_{mode}": value for mode, value in speedups.items()},
        "retained_exact_match": retained,
        **{
            f"meets_speedup_{mode}": value is not None and value >= TARGETS["speedup_min"]
            for mode, value in speedups.items()
        },
        "meets_retained": retained is not None and retained >= TARGETS["retained_exact_match_min"],
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["verdict"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
