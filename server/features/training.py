"""`ghostwright.train`, `ghostwright.distill`, `ghostwright.trainPreferences` and
`ghostwright.trainEmbedder`: fine-tune on the workspace, distill the served model into a faster
student, learn from the feedback log (the DPO stage) or teach the retrieval embedder the
workspace, from the editor, with `$/progress` and cancel.

Each runs as `ghostwright train|distill|train-embedder --progress-json` in a child process at
low CPU priority: the server keeps answering completions, a crash in torch cannot take it down,
and cancelling is a SIGTERM (the run keeps its checkpoints; `{"resume": true}` continues it).
When the child installs an adapter, a student or an embedder, the install watcher switches to it.
One job at a time.

Arguments (optional, one object): {"stage": "a" | "b" (train only), "maxSteps": N,
"resume": bool, "force": bool, "config": "recipe.yaml", "gateCases": N,
"minRetained": 0..1 (distill only)}; the embedder takes only "resume" and "force".
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ghostwright.server.features.progress import Progress, work_done
from ghostwright.server.features.training_progress import (
    outcome_message,
    parse_event,
    report_event,
)

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

logger = logging.getLogger(__name__)

TRAIN = "ghostwright.train"
DISTILL = "ghostwright.distill"
TRAIN_PREFERENCES = "ghostwright.trainPreferences"
TRAIN_EMBEDDER = "ghostwright.trainEmbedder"
CHILD_NICENESS = 10


@dataclass(frozen=True)
class Job:
    """What the editor started: the CLI subcommand, its title, and the share of the progress
    bar each phase ends at (training takes most of the time)."""

    command: str
    title: str
    doing: str  # the progress title
    phase_end: dict[str, int]
    stage: str = ""  # a fixed `--stage` (train only; empty: the caller's, default b)


JOBS = {
    TRAIN: Job(
        "train",
        "fine-tune",
        "fine-tuning",
        {"data": 3, "train": 80, "export": 82, "verify": 85, "gate-before": 92}
        | {"gate-after": 99, "install": 100},
    ),
    DISTILL: Job(
        "distill",
        "distillation",
        "distilling a faster student",
        {"data": 3, "teacher": 20, "train": 80, "export": 84, "verify": 86, "gate-before": 92}
        | {"gate-after": 99, "install": 100},
    ),
    TRAIN_PREFERENCES: Job(
        "train",
        "preference stage",
        "learning from the suggestions you kept (DPO)",
        {"data": 3, "pairs": 25, "train": 80, "export": 82, "verify": 85, "gate-before": 92}
        | {"gate-after": 99, "install": 100},
        stage="dpo",
    ),
    TRAIN_EMBEDDER: Job(
        "train-embedder",
        "embedder fine-tune",
        "teaching the retrieval embedder this workspace",
        {"data": 2, "before": 15, "train": 80, "export": 83, "after": 100},
    ),
}
EMBEDDER_OPTIONS = {"resume", "force"}


def register(server: GhostwrightServer) -> None:
    for name, job in JOBS.items():
        _register_job(server, name, job)


def _register_job(server: GhostwrightServer, name: str, job: Job) -> None:
    running = server.training  # {"process": ...} while a fine-tune or distillation runs

    # The server comes from this closure (see commands.register for why).
    @server.command(name)
    async def start(*args: object) -> dict:
        # pygls passes the server first to a handler taking only *args.
        options = _options(tuple(arg for arg in args if arg is not server), job)
        if "error" in options:
            return _fail(server, options["error"])
        if running:
            return _fail(server, f"a {running['title']} is already running")
        root = server.workspace_root()
        if root is None and options["stage"] != "a":
            return _fail(server, f"open a folder first: the {job.title} learns the workspace")
        command = [sys.executable, "-m", "ghostwright.server", job.command, "--progress-json"]
        command += ["--stage", job.stage or options["stage"]] if job.command == "train" else []
        command += ["--repo", str(root)] if root is not None else []
        command += [f"--max-steps={options['maxSteps']}"] if options.get("maxSteps") else []
        command += ["--resume"] if options.get("resume") else []
        command += ["--force"] if options.get("force") else []
        command += ["--config", str(options["config"])] if options.get("config") else []
        command += [f"--gate-cases={options['gateCases']}"] if options.get("gateCases") else []
        if options.get("minRetained") is not None:
            command += [f"--min-retained={options['minRetained']}"]
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=str(root) if root else None,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        running.update(process=process, title=job.title)
        try:
            os.setpriority(os.PRIO_PROCESS, process.pid, CHILD_NICENESS)
        except OSError:
            pass  # a priority is a courtesy, not a requirement
        try:
            return await _follow(server, process, job)
        finally:
            running.clear()


def stop_training(server: GhostwrightServer) -> None:
    """SIGTERM a running fine-tune (its checkpoints stay for `resume`)."""
    process = server.training.get("process")
    if process is not None and process.returncode is None:
        process.send_signal(signal.SIGTERM)


async def _follow(server: GhostwrightServer, process: asyncio.subprocess.Process, job: Job) -> dict:
    errors: deque[str] = deque(maxlen=20)
    result: dict[str, Any] = {}
    async with work_done(server, f"ghostwright: {job.doing}") as progress:
        stderr = asyncio.ensure_future(_collect(process.stderr, errors))
        cancel = asyncio.ensure_future(_cancel_when_asked(progress, process))
        assert process.stdout is not None
        async for raw in process.stdout:
            event = parse_event(raw)
            if event.get("event") == "done":
                result = event
            elif event:
                report_event(progress, event, job.phase_end)
        code = await process.wait()
        cancel.cancel()
        await stderr
        cancelled = progress.cancelled
    if cancelled:
        message = f"{job.title} cancelled; its checkpoints are kept (resume: true continues it)"
        _show(server, types.MessageType.Info, message)
        return {"cancelled": True}
    if code != 0 or not result:
        failure = next((line for line in reversed(errors) if "error" in line), "")
        logger.error("%s exited with %s:\n%s", job.command, code, "\n".join(errors))
        return _fail(server, failure.removeprefix("ghostwright: error: ") or f"exit {code}")
    _show(
        server,
        types.MessageType.Info,
        f"ghostwright: {outcome_message(result, job.command, job.title)}",
    )
    return result


def _options(args: tuple[object, ...], job: Job) -> dict[str, Any]:
    """The one optional argument object (Neovim sends {} for none, VS Code [] or [{...}])."""
    given = args[0] if args else {}
    if isinstance(given, list | tuple):  # the arguments list itself, as some clients nest it
        given = given[0] if given else {}
    if not isinstance(given, dict):
        return {"error": f"the argument must be an object like {{'maxSteps': 100}}, not {given!r}"}
    stage = str(given.get("stage", "b")).lower()
    if stage not in ("a", "b") or ((job.command != "train" or job.stage) and stage != "b"):
        return {"error": f"stage must be 'a' or 'b' (train only), not {given.get('stage')!r}"}
    if job.command == "train-embedder" and set(given) - EMBEDDER_OPTIONS:
        unknown = ", ".join(sorted(set(given) - EMBEDDER_OPTIONS))
        return {"error": f"the embedder takes only resume and force, not {unknown}"}
    for key in ("maxSteps", "gateCases"):
        value = given.get(key)
        whole = isinstance(value, int) and not isinstance(value, bool)
        if value is not None and not (whole and value >= 1):
            return {"error": f"{key} must be a whole number of at least 1, not {value!r}"}
    share = given.get("minRetained")
    if share is not None and (
        job.command != "distill"
        or isinstance(share, bool)
        or not isinstance(share, int | float)
        or not 0 <= share <= 1
    ):
        return {"error": f"minRetained must be a number from 0 to 1 (distill only), not {share!r}"}
    return {**given, "stage": stage}


async def _cancel_when_asked(progress: Progress, process: asyncio.subprocess.Process) -> None:
    while process.returncode is None:
        if progress.cancelled:
            process.send_signal(signal.SIGTERM)
            return
        await asyncio.sleep(0.2)


async def _collect(stream: asyncio.StreamReader | None, lines: deque[str]) -> None:
    if stream is None:
        return
    async for raw in stream:
        # tqdm-free in JSON mode, but library warnings still come here: keep the tail.
        text = raw.decode(errors="replace").strip()
        if text:
            lines.append(text)


def _fail(server: GhostwrightServer, message: str) -> dict:
    _show(server, types.MessageType.Error, f"ghostwright: {message}")
    return {"error": message}


def _show(server: GhostwrightServer, kind: types.MessageType, message: str) -> None:
    server.window_show_message(types.ShowMessageParams(kind, message))
