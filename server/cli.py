"""The `ghostwright` command. Errors the user can fix print one line and exit 2."""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ghostwright.server.config import (
    BACKENDS,
    Settings,
    parse_settings,
    project_root,
    setting_problem,
    workspace_settings,
)
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.feedback.commands import add_feedback_parser
from ghostwright.server.indexing.commands import add_index_parsers
from ghostwright.server.installs.records import with_installed_adapter
from ghostwright.server.packaged_models import tier_names
from ghostwright.server.prompt_formats import format_names

if TYPE_CHECKING:
    pass

PROG = "ghostwright"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        _fail(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["train", "embedder"]:  # argparse cannot nest it: train takes key=value words
        words = ["train-embedder", *words[2:]]
    command = next((word for word in words if not word.startswith("-")), None)
    args = _build_parser(command).parse_args(words)
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


def _build_parser(requested: str | None = None) -> argparse.ArgumentParser:
    """Every command; a training command's options only when it is the `requested` one."""
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

    for name, spec in TRAINING_COMMANDS.items():
        command = commands.add_parser(name, help=spec.help, prog=spec.prog or f"{PROG} {name}")
        if name == requested:  # the others stay names with a help line, their modules unread
            code = importlib.import_module(spec.module)
            getattr(code, spec.add_arguments)(command)
            if spec.model_options:
                _add_model_options(command)
            command.set_defaults(run=functools.partial(_run_training, getattr(code, spec.run)))
    return parser


class TrainingCommand(NamedTuple):
    help: str
    module: str
    add_arguments: str  # adds the command's options to its parser
    run: str  # (args, settings) -> exit code
    model_options: bool = False
    prog: str = ""


# Commands whose code lives in training/. A module is imported only when its command is named,
# so `serve`, `complete` and `http` never read training code, nor torch should one of those
# modules import it at the top (tests/unit/test_structure.py).
TRAINING_COMMANDS = {
    "train": TrainingCommand(
        "fine-tune the model on your repository (LoRA)",
        "ghostwright.training.cli",
        "add_train_arguments",
        "run_train",
    ),
    "distill": TrainingCommand(
        "distill the served model into a faster student for your repository",
        "ghostwright.training.cli",
        "add_distill_arguments",
        "run_distill",
    ),
    "train-embedder": TrainingCommand(
        "teach the retrieval embedder your repository (`ghostwright train embedder`)",
        "ghostwright.training.embedder.cli",
        "add_train_embedder_arguments",
        "run_train_embedder",
        prog=f"{PROG} train embedder",
    ),
    "eval": TrainingCommand(
        "measure completion quality on a benchmark",
        "ghostwright.training.evaluate.cli",
        "add_eval_arguments",
        "run_eval",
        model_options=True,
    ),
}


def _run_training(
    run: Callable[[argparse.Namespace, Settings], int], args: argparse.Namespace
) -> int:
    return run(args, _settings(args))


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
    flag_of = {name: flag for flag, name in FLAG_SETTINGS.items()}
    for name, value in flags.items():
        if problem := setting_problem(name, value):
            raise GhostwrightError(f"--{flag_of[name].replace('_', '-')}: {problem}")
    settings = replace(settings, **flags)
    if args.command not in ("complete", "doctor"):
        return settings  # eval and train name their adapter explicitly; http follows installs
    return with_installed_adapter(settings, project_root(start))


def _run_complete(args: argparse.Namespace) -> int:
    from ghostwright.server.complete_command import complete_once

    return complete_once(args, _settings(args))


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
