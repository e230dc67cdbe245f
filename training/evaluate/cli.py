"""`ghostwright eval`: public FIM benchmarks, held-out files of any repository, and comparisons.

Only argparse is imported at start-up; the model and the benchmark code load when a command runs,
and nothing here needs the `[train]` extra.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError

if TYPE_CHECKING:
    from ghostwright.indexer.service import IndexService

EVAL_RETRIEVAL_S = 30.0

EXECUTION_BENCHMARKS = (
    "humaneval-single",
    "humaneval-multi",
    "humaneval-span",
    "humaneval-span-light",
)
MATCH_BENCHMARKS = ("santacoder-fim",)
BENCHMARKS = (*EXECUTION_BENCHMARKS, *MATCH_BENCHMARKS, "repo", "compare")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """`ghostwright eval`'s options (server/cli.py registers the command and adds the model
    options)."""
    parser.add_argument("benchmark", choices=BENCHMARKS)
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="repo: the repository; compare: two or more result JSON files",
    )
    parser.add_argument("--adapter", default="", help="GGUF LoRA adapter to apply")
    parser.add_argument("--limit", type=int, help="evaluate a seeded sample of N cases")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, dest="json_out", help="result file")
    parser.add_argument("--data", type=Path, help="evaluation data folder")
    parser.add_argument(
        "--language",
        action="append",
        default=[],
        help="santacoder-fim / repo: only this language (repeatable)",
    )
    parser.add_argument("--max-lines", type=int, help="longest suggestion in lines")
    parser.add_argument("--holes-per-file", type=int, default=12, help="repo: holes mined per file")
    parser.add_argument("--png", type=Path, help="compare: where to write the bar chart")
    parser.add_argument(
        "--oracle",
        choices=("canonical", "empty"),
        help="harness self-check: score the canonical (or an empty) completion",
    )
    parser.add_argument(
        "--retrieval",
        choices=("on", "off"),
        default="off",
        help="repo: add snippets from an index of the repository's context files",
    )
    parser.add_argument(
        "--embedder",
        help="repo --retrieval on: `packaged` (all-MiniLM-L6-v2) or a GGUF path (default: the "
        "repository's installed embedder, else the packaged one)",
    )
    parser.add_argument("--no-progress", action="store_true")


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Run one benchmark (or a comparison) and print its summary."""
    if args.benchmark == "compare":
        return _run_compare(args)
    if args.limit is not None and args.limit < 1:
        raise GhostwrightError("--limit must be at least 1")
    cases, context = _load_cases(args)
    if not cases:
        raise GhostwrightError(f"no cases to evaluate for {args.benchmark}")
    from ghostwright.training.evaluate.runner import oracle_predictor, run_report, select

    chosen = select(cases, args.limit, args.seed)
    settings = replace(settings, adapter=args.adapter)
    json_out = args.json_out or Path("eval-results") / f"{args.benchmark}.json"
    context |= {"seed": args.seed, "limit": args.limit, "max_lines": settings.max_lines}
    run = functools.partial(
        run_report,
        args.benchmark,
        chosen,
        json_path=json_out,
        executes=args.benchmark in EXECUTION_BENCHMARKS,
        progress=not args.no_progress,
    )
    if args.oracle:
        context |= {"model": f"oracle:{args.oracle}", "adapter": None, "format": None}
        report = run(predict=oracle_predictor(args.oracle), context=context)
    else:
        index = _eval_index(args, settings, context) if args.retrieval == "on" else None
        context["retrieval"] = args.retrieval
        try:
            report = _run_model(settings, run, context, index)
        finally:
            if index is not None:
                index.close()
                index.embedder.close()
    _print_summary(report, json_out)
    return 130 if report["partial"] else 0


def _run_model(
    settings: Settings, run: Callable[..., dict], context: dict, index: IndexService | None
) -> dict:
    from ghostwright.server.engine import open_completer, unhurried
    from ghostwright.training.evaluate.runner import model_predictor

    # Evaluation measures what retrieval adds, not whether it beat a keystroke's time budget.
    settings = unhurried(settings)
    with open_completer(settings, index, retrieval_budget_s=EVAL_RETRIEVAL_S) as completer:
        context |= {
            "model": completer.backend.model_name,
            "adapter": settings.adapter or None,
            "format": completer.backend.prompt_format.name,
        }
        return run(predict=model_predictor(completer), context=context)


def _eval_index(args: argparse.Namespace, settings: Settings, context: dict) -> IndexService:
    if args.benchmark != "repo":
        raise GhostwrightError("--retrieval on applies to the repo benchmark only")
    root = Path(context["repository"])
    if args.embedder:
        settings = replace(settings, embedder=_embedder_setting(args.embedder))
    index, context["index"] = index_without(root, settings, context["held_out_files"], args.seed)
    return index


def index_without(
    root: Path, settings: Settings, held_out: list[str], seed: int
) -> tuple[IndexService, dict]:
    """An index of the repository without its held-out files, kept in the cache, not the repo;
    and what it holds."""
    import hashlib

    import platformdirs

    from ghostwright.server.indexing.workspace import open_index
    from ghostwright.server.installs.embedders import with_installed_embedder

    settings = with_installed_embedder(settings, root)  # the cache is per embedder
    # Anchored ("/pkg/x.py"), so a held-out pkg/x.py does not also hide other/x.py.
    anchored = sorted(f"/{path}" for path in held_out)
    key = hashlib.sha256(f"{root}:{seed}:{settings.embedder}".encode()).hexdigest()[:16]
    directory = Path(platformdirs.user_cache_dir("ghostwright")) / "eval-indexes" / key
    settings = replace(settings, index_exclude=(*settings.index_exclude, *anchored))
    index = open_index(root, settings, threads=settings.threads, index_dir=directory)
    stats = index.sync()
    described = {"files": stats.files, "chunks": stats.chunks, "excluded": len(anchored)}
    return index, described | {"embedder": index.embedder.id}


def _embedder_setting(value: str) -> str:
    """`packaged` -> the packaged embedder's GGUF (which an installed one would replace)."""
    if value != "packaged":
        return value
    from ghostwright.indexer.embedder import default_embedder_gguf
    from ghostwright.indexer.errors import IndexerError

    try:
        return str(default_embedder_gguf())
    except IndexerError as exc:
        raise GhostwrightError(str(exc)) from exc


def _load_cases(args: argparse.Namespace) -> tuple[list, dict]:
    from ghostwright.training.evaluate import data

    if args.benchmark == "repo":
        if len(args.paths) != 1:
            raise GhostwrightError("eval repo takes exactly one repository path")
        from ghostwright.training.evaluate.repo_holes import mine_repository

        holes = mine_repository(
            args.paths[0],
            seed=args.seed,
            holes_per_file=args.holes_per_file,
            languages=tuple(args.language),
        )
        return holes.cases, {"repository": str(args.paths[0].resolve()), **holes.description}
    data_dir = data.find_data_dir(args.data)
    if args.benchmark in EXECUTION_BENCHMARKS:
        return data.load_humaneval(data_dir, args.benchmark), {"data": str(data_dir)}
    return data.load_santacoder(data_dir, tuple(args.language)), {"data": str(data_dir)}


def _run_compare(args: argparse.Namespace) -> int:
    from ghostwright.training.evaluate.compare import compare_reports

    if len(args.paths) < 2:
        raise GhostwrightError("eval compare takes two or more result JSON files")
    png = args.png or args.paths[0].with_name("compare.png")
    print(compare_reports(args.paths, png, seed=args.seed))
    print(f"chart: {png}", file=sys.stderr)
    return 0


def _print_summary(report: dict, json_out: Path) -> None:
    shown = {key: report[key] for key in ("benchmark", "model", "n", "metrics", "latency_ms")}
    print(json.dumps(shown, indent=2))
    state = "partial result" if report["partial"] else "result"
    print(f"{state}: {json_out}; cases: {report['cases_file']}", file=sys.stderr)
