"""`ghostwright index` and `ghostwright search`: build the repository index, query it."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ghostwright.server.config import Settings, project_root
from ghostwright.server.errors import GhostwrightError


def add_index_parsers(commands: argparse._SubParsersAction) -> None:
    """Register both commands; the caller's parser sets `run` through `settings`."""
    index = commands.add_parser("index", help="build or update the repository index")
    index.add_argument("path", nargs="?", type=Path, help="repository (default: this one)")
    index.add_argument("--json", action="store_true", help="print the statistics as JSON")
    index.add_argument("--threads", type=int, help="embedding threads (0 = physical cores)")
    index.set_defaults(run_with_settings=run_index)

    search = commands.add_parser("search", help="search the repository index")
    search.add_argument("query")
    search.add_argument("--path", type=Path, help="a path inside the repository (default: .)")
    search.add_argument("--k", type=int, default=10, help="number of results")
    search.add_argument("--json", action="store_true", help="print a JSON list")
    search.set_defaults(run_with_settings=run_search)


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    from ghostwright.server.indexing.workspace import close_index, open_index

    root = (args.path or project_root(Path.cwd())).resolve()
    index = open_index(root, settings, threads=settings.threads)
    try:
        stats = index.sync(progress=_progress_bar(args.json))
    finally:
        close_index(index)
    if args.json:
        print(json.dumps({"root": str(root), **asdict(stats)}))
        return 0
    print(
        f"indexed {root}: {stats.files} files, {stats.chunks} chunks in {stats.seconds:.1f} s "
        f"({stats.changed} changed, {stats.removed} removed, {stats.embedded} chunks embedded, "
        f"{stats.reused} reused)"
    )
    if stats.skipped:
        print("skipped: " + ", ".join(f"{n} {reason}" for reason, n in stats.skipped.items()))
    if stats.secret_chunks:
        print(f"left out {stats.secret_chunks} chunks that look like they hold secrets")
    return 0


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    from ghostwright.server.indexing.workspace import close_index, indexed_root, open_index

    if args.k < 1:
        raise GhostwrightError("--k must be at least 1")
    start = (args.path or Path.cwd()).resolve()
    root = indexed_root(start if start.is_dir() else start.parent)
    if root is None:
        raise GhostwrightError(f"no index found at or above {start}; run `ghostwright index` first")
    index = open_index(root, settings, threads=settings.threads)
    try:
        hits = index.search(args.query, args.k)
    finally:
        close_index(index)
    results = [
        {
            "path": hit.chunk.path,
            "start_line": hit.chunk.start_line + 1,
            "end_line": hit.chunk.end_line + 1,
            "score": round(hit.score, 6),
            "symbol": hit.chunk.symbol,
            "text": hit.chunk.text,
        }
        for hit in hits
    ]
    if args.json:
        print(json.dumps(results))
        return 0
    for item in results:
        title = f" {item['symbol']}" if item["symbol"] else ""
        print(f"{item['path']}:{item['start_line']}-{item['end_line']}{title}  ({item['score']})")
    return 0


def _progress_bar(quiet: bool):  # noqa: ANN202 - a tqdm-backed callback
    """A progress bar on stderr for a terminal; nothing when piped or asked for JSON."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    bar = tqdm(unit="file", file=sys.stderr, leave=False)

    def update(done: int, total: int, path: str) -> None:
        bar.total = total
        bar.n = done + 1
        bar.set_postfix_str(path[-40:], refresh=False)
        bar.refresh()
        if done + 1 == total:
            bar.close()

    return update
