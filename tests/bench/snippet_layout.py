"""Repo-level header or commented code: which layout of retrieved snippets a model does better with.

Qwen2.5-Coder was trained on a repo-level format (`<|repo_name|>`, `<|file_sep|>` before each
file); the packaged model is the Instruct variant, whose tuning may have weakened it. This runs
the `repo` benchmark's held-out holes of one repository through the served pipeline three times,
in one process and on one index (of the repository without its held-out files): snippets in the
repo-level header, snippets as commented code opening the prefix, and no snippets (the
reference). It writes JSON with the machine and the ratios against the reference.

    python tests/bench/snippet_layout.py PATH [--model qwen2.5-coder-1.5b] [--limit 80]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ghostwright.server.backends import create_backend  # noqa: E402
from ghostwright.server.config import Settings  # noqa: E402
from ghostwright.server.engine import build_completer, unhurried  # noqa: E402
from ghostwright.training.evaluate.cli import EVAL_RETRIEVAL_S, index_without  # noqa: E402
from ghostwright.training.evaluate.repo_holes import mine_repository  # noqa: E402
from ghostwright.training.evaluate.runner import model_predictor, run_report, select  # noqa: E402
from tests.bench.common import describe_machine  # noqa: E402

LAYOUTS = ("repo-header", "commented-code", "no-snippets")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repository", type=Path)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--limit", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-results/snippet_layout.json"))
    args = parser.parse_args(argv)

    settings = unhurried(replace(Settings(), model=args.model, threads=args.threads))
    holes = mine_repository(args.repository, seed=args.seed)
    cases = select(holes.cases, args.limit, args.seed)
    held_out = holes.description["held_out_files"]
    index, described = index_without(args.repository, settings, held_out, args.seed)
    backend = create_backend(settings)
    native = backend.prompt_format
    if not native.is_repo_level:
        parser.error(f"{args.model}'s format {native.name} has no repo-level layout to compare")
    report: dict = {
        "benchmark": "snippet_layout",
        "machine": describe_machine(),
        "model": backend.model_name,
        "repository": str(args.repository),
        "n": len(cases),
        "index": described,
        "layouts": {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for layout in LAYOUTS:
            # Commented code: the same family without its repo-level markers renders each
            # snippet as code under a `# file: PATH` comment (PromptFormat.render).
            backend.prompt_format = (
                native if layout == "repo-header" else replace(native, repo_name="", file_sep="")
            )
            run_settings = replace(settings, retrieval=layout != "no-snippets")
            completer = build_completer(
                backend, run_settings, index, retrieval_budget_s=EVAL_RETRIEVAL_S
            )
            summary = run_report(
                "repo",
                cases,
                model_predictor(completer),
                args.out.with_name(f"{args.out.stem}-{layout}.json"),
                executes=False,
                context={"layout": layout},
            )
            if completer.retriever is not None:
                completer.retriever.close()
            report["layouts"][layout] = {
                "metrics": summary["metrics"],
                "strata": summary.get("strata"),
                "latency_ms": summary["latency_ms"],
            }
    finally:
        backend.close()
        index.close()
        index.embedder.close()
    reference = report["layouts"]["no-snippets"]["metrics"]["exact_match"]
    report["exact_match_ratio_vs_no_snippets"] = {
        layout: (values["metrics"]["exact_match"] / reference if reference else None)
        for layout, values in report["layouts"].items()
    }
    header, commented = (report["layouts"][name]["metrics"]["exact_match"] for name in LAYOUTS[:2])
    report["better_layout"] = "repo-header" if header >= commented else "commented-code"
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({key: report[key] for key in ("n", "better_layout")}, indent=2))
    for layout, values in report["layouts"].items():
        print(layout, json.dumps(values["metrics"]), json.dumps(values["latency_ms"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
