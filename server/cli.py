"""The `ghostwright` command. Errors the user can fix print one line and exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.server.adapters import with_installed_adapter
from ghostwright.server.config import (
    BACKENDS,
    Settings,
    parse_settings,
    project_root,
    workspace_settings,
)
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.feedback_commands import add_feedback_parser
from ghostwright.server.index_commands import add_index_parsers
from ghostwright.server.packaged_models import tier_names
from ghostwright.server.pipeline.prompts import format_names

if TYPE_CHECKING:
    from ghostwright.indexer.service import IndexService

PROG = "ghostwright"
ONE_SHOT_RETRIEVAL_S = 10.0


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    from ghostwright.training.embedder.cli import embedder_argv

    args = _build_parser().parse_args(embedder_argv(list(sys.argv[1:] if argv is None else argv)))
    _log_to_stderr()
    try:
        return args.run(args)
    except GhostwrightError as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


class _OneLineFormatter(logging.Formatter):
    """Warnings for the terminal: never a traceback (those belong in a log file)."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def _log_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])


def _fail(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Private, local code completion.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    complete = commands.add_parser("complete", help="print the completion at a cursor position")
    complete.add_argument("file", type=Path)
    complete.add_argument("--line", type=int, required=True, help="1-based line of the cursor")
    complete.add_argument("--col", type=int, required=True, help="1-based column of the cursor")
    complete.add_argument("--max-lines", type=int, help="longest suggestion in lines")
    complete.add_argument("--json", action="store_true", help="print one JSON object")
    complete.add_argument("--no-retrieval", action="store_true", help="ignore the repository index")
    _add_model_options(complete)
    complete.set_defaults(run=_run_complete)

    doctor = commands.add_parser("doctor", help="check the model, threads and a test completion")
    _add_model_options(doctor)
    doctor.set_defaults(run=_run_doctor)

    serve = commands.add_parser("serve", help="run the language server on stdio")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead (debugging)")
    serve.set_defaults(run=_run_serve)

    http = commands.add_parser(
        "http",
        help="serve completions over HTTP: llama.cpp's /infill, OpenAI's /v1/completions",
        description="Serve the workspace's completions over HTTP for llama.vim, llama.vscode, "
        "Continue and other clients of llama.cpp's or OpenAI's API (see the README).",
    )
    http.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    http.add_argument("--port", type=int, default=8012, help="port (8012, llama.vim's default)")
    http.add_argument("--workspace", type=Path, help="the repository to serve (the current one)")
    http.add_argument(
        "--api-key",
        help="required beyond loopback; or set GHOSTWRIGHT_API_KEY (not visible in `ps`)",
    )
    _add_model_options(http)
    http.set_defaults(run=_run_http)

    add_index_parsers(commands)
    add_feedback_parser(commands)
    for name in ("index", "search"):
        command = commands.choices[name]
        command.set_defaults(run=lambda args: args.run_with_settings(args, _settings(args)))

    from ghostwright.training.cli import (
        add_distill_parser,
        add_train_parser,
        run_distill,
        run_train,
    )
    from ghostwright.training.evaluate.cli import add_eval_parser, run_eval

    train = add_train_parser(commands)
    train.set_defaults(run=lambda args: run_train(args, _settings(args)))
    distill = add_distill_parser(commands)
    distill.set_defaults(run=lambda args: run_distill(args, _settings(args)))

    from ghostwright.training.embedder.cli import add_train_embedder_parser, run_train_embedder

    embedder = add_train_embedder_parser(commands)
    embedder.set_defaults(run=lambda args: run_train_embedder(args, _settings(args)))

    evaluate = add_eval_parser(commands, _add_model_options)
    evaluate.set_defaults(run=lambda args: run_eval(args, _settings(args)))
    return parser


# Command-line flag -> setting. Flags left out keep what the project's settings file says.
FLAG_SETTINGS = {
    "model": "model",
    "backend": "backend",
    "endpoint": "endpoint",
    "format": "prompt_format",
    "threads": "threads",
    "max_lines": "max_lines",
    "adapter": "adapter",
    "draft": "draft",
}


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help=f"auto (default), a packaged tier ({', '.join(tier_names())}), a .gguf path or "
        "hf:OWNER/REPO/FILE.gguf",
    )
    parser.add_argument("--backend", choices=BACKENDS)
    parser.add_argument("--endpoint", help="OpenAI-compatible base URL")
    parser.add_argument("--format", choices=format_names(), help="prompt format (auto detects)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads (0 = physical cores)")
    parser.add_argument(
        "--draft", help="speculative decoding: off, prompt-lookup, or a draft tier or .gguf"
    )


def _settings(args: argparse.Namespace) -> Settings:
    """Defaults, then the project's .ghostwright.toml / [tool.ghostwright], then the flags."""
    file = getattr(args, "file", None)
    workspace = getattr(args, "workspace", None)
    start = file.parent if file else (workspace if workspace is not None else Path.cwd())
    values, warnings = workspace_settings(project_root(start))
    settings, more = parse_settings(values)
    for warning in [*warnings, *more]:
        logging.getLogger(PROG).warning("%s", warning)
    flags = {
        name: getattr(args, flag)
        for flag, name in FLAG_SETTINGS.items()
        if getattr(args, flag, None) is not None
    }
    if flags.get("max_lines", 1) < 1:
        raise GhostwrightError("--max-lines must be at least 1")
    if flags.get("threads", 0) < 0:
        raise GhostwrightError("--threads must be 0 (automatic) or more")
    settings = replace(settings, **flags)
    if args.command not in ("complete", "doctor"):
        return settings  # eval and train name their adapter explicitly; http follows installs
    return with_installed_adapter(settings, project_root(start))


def _run_complete(args: argparse.Namespace) -> int:
    from ghostwright.server.engine import open_completer, unhurried
    from ghostwright.server.indexing import close_index
    from ghostwright.server.pipeline.complete import CompletionRequest
    from ghostwright.server.pipeline.context import check_position
    from ghostwright.server.sources import read_source

    text = read_source(args.file)
    line, column = args.line - 1, args.col - 1
    check_position(text.split("\n"), line, column)  # before the model loads: fail fast
    # A one-shot command has no next keystroke to make way for: it waits for the whole window.
    settings = unhurried(_settings(args))
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
    from ghostwright.server.indexing import indexed_root, open_index

    root = indexed_root(file.parent)
    if root is None:
        return None
    index = open_index(root, settings, threads=settings.threads)
    index.update([str(file.resolve())])
    return index


def _run_serve(args: argparse.Namespace) -> int:
    from ghostwright.server.app import serve

    return serve(args.tcp)


def _run_http(args: argparse.Namespace) -> int:
    import os

    from ghostwright.server.http_api.app import API_KEY_ENV, run
    from ghostwright.server.http_api.host import Host

    if not 0 <= args.port <= 65535:
        raise GhostwrightError(f"--port must be 0-65535, got {args.port}")
    root = _workspace(args)
    api_key = args.api_key or os.environ.get(API_KEY_ENV, "")
    return run(Host(root, _settings(args)), args.host, args.port, api_key)


def _workspace(args: argparse.Namespace) -> Path:
    """The folder `--workspace` names (else the project around the current directory)."""
    if args.workspace is None:
        return project_root(Path.cwd())
    if not args.workspace.is_dir():
        raise GhostwrightError(f"--workspace: not a directory: {args.workspace}")
    return args.workspace.resolve()


def _run_doctor(args: argparse.Namespace) -> int:
    from ghostwright.server.doctor import run_doctor

    for name, value in run_doctor(_settings(args)):
        print(f"{name:>18}: {value}")
    return 0
