"""`ghostwright complete`: one completion at a cursor, printed (the README's first command)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.server.config import Settings
from ghostwright.server.engine import open_completer, unhurried
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.indexing.workspace import close_index, indexed_root, open_index
from ghostwright.server.pipeline.complete import CompletionRequest
from ghostwright.server.pipeline.context import check_position
from ghostwright.server.sources import read_source

if TYPE_CHECKING:
    from ghostwright.indexer.service import IndexService

# A one-shot command has no next keystroke to make way for: retrieval gets time to finish.
ONE_SHOT_RETRIEVAL_S = 10.0


def complete_once(args: argparse.Namespace, settings: Settings) -> int:
    """Print the completion at `args.file`:`args.line`:`args.col` (1-based)."""
    text = read_source(args.file)
    line, column = args.line - 1, args.col - 1
    check_position(text.split("\n"), line, column)  # before the model loads: fail fast
    # A one-shot command has no next keystroke to make way for: it waits for the whole window.
    settings = unhurried(settings)
    index = (
        None if args.no_retrieval or not settings.retrieval else _file_index(args.file, settings)
    )
    try:
        # A one-shot command has no next keystroke to wait for: retrieval gets time to finish.
        with open_completer(settings, index, retrieval_budget_s=ONE_SHOT_RETRIEVAL_S) as completer:
            request = CompletionRequest(text, line, column, path=str(args.file))
            result = completer.complete(request)
    finally:
        close_index(index)
    if result.error:
        raise GhostwrightError(result.error)
    if args.json:
        fields = (
            "completion",
            "latency_ms",
            "model",
            "format",
            "prompt_tokens",
            "generated_tokens",
            "stop_reason",
        )
        print(json.dumps({key: asdict(result)[key] for key in fields}))
    elif result.completion:
        print(result.completion)
    return 0


def _file_index(file: Path, settings: Settings) -> IndexService | None:
    """The index of the file's repository, brought up to date for this file; None if unbuilt."""
    root = indexed_root(file.parent)
    if root is None:
        return None
    index = open_index(root, settings, threads=settings.threads)
    index.update([str(file.resolve())])
    return index
