"""workspace/executeCommand: ghostwright.status and ghostwright.reloadModel."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.features.progress import work_done
from ghostwright.server.indexing.lsp import index_status
from ghostwright.server.installs.records import installed_adapter, is_student

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer
    from ghostwright.server.config import Settings

STATUS = "ghostwright.status"
RELOAD_MODEL = "ghostwright.reloadModel"


def register(server: GhostwrightServer) -> None:
    # Command handlers take the server from this closure, not as a typed first parameter:
    # pygls resolves parameter annotations when a client sends `arguments` as an object
    # (Neovim sends {} for an empty list), and the server's type is only known to checkers.
    @server.command(STATUS)
    def status(*args: object) -> dict:
        """Model, format, adapter, index and recent latency percentiles."""
        return status_of(server)

    @server.command(RELOAD_MODEL)
    async def reload_model(*args: object) -> dict:
        await load_model(server, "ghostwright: reloading the model")
        return status_of(server)


def status_of(server: GhostwrightServer) -> dict:
    """Engine state, the index, what the installed adapter measured when it was installed and,
    for a distilled student, its figures beside its teacher's."""
    record = installed_adapter(server.workspace_root())
    engine = server.engine.status()
    active = record is not None and is_served(record, server.engine.settings, engine["model"])
    gain = record.get("gain_exact_match") if active else None
    status = {
        **engine,
        "index": index_status(server),
        "adapter_gain": gain,
        "training": bool(server.training),
        "feedback": server.feedback.status() if server.feedback else None,
    }
    if active and is_student(record):
        status |= student_figures(record)
    return status


def is_served(record: dict, settings: Settings, served_model: str | None) -> bool:
    """The installed adapter or student is in use: named in the engine's `settings`, or the
    student `model = auto` picked (`served_model`, the file the engine serves, is its file)."""
    if record["path"] in (settings.adapter, settings.model):
        return True
    return is_student(record) and served_model == Path(record["path"]).name


def student_figures(record: dict) -> dict:
    """{"teacher": ..., "student": ...}: held-out exact match and median latency of each on the
    same gate cases, from the installed student's record."""
    before, after = record.get("before") or {}, record.get("after") or {}
    teacher = record.get("teacher") or {}
    return {
        "teacher": {
            "adapter": Path(teacher["path"]).name if teacher.get("path") else None,
            "exact_match": before.get("exact_match"),
            "latency_p50_ms": before.get("latency_p50_ms"),
        },
        "student": {
            "kind": record.get("distilled"),
            "file": Path(record["path"]).name,
            "served_with": record.get("serve") or {},
            "exact_match": after.get("exact_match"),
            "latency_p50_ms": after.get("latency_p50_ms"),
            "retained": record.get("retained"),
            "speedup": record.get("speedup"),
            "cases": after.get("n"),
        },
    }


async def load_model(server: GhostwrightServer, title: str) -> None:
    """Load (or reload) the model on a thread, with progress; failures become one message."""
    async with work_done(server, title) as progress:
        progress.report(f"loading {server.engine.settings.model}")
        try:
            installed = await asyncio.to_thread(
                server.engine.load, server.effective_settings(), lambda: not progress.cancelled
            )
            if not installed:
                progress.report("cancelled: the previous model stays")
        except GhostwrightError as exc:
            server.window_show_message(
                types.ShowMessageParams(types.MessageType.Error, f"ghostwright: {exc}")
            )
