"""Notice a newly installed adapter or distilled student (`.ghostwright/adapters/current.json`)
or retrieval embedder (`.ghostwright/embedders/current.json`) and switch to it.

A stat every few seconds is enough: installs are rare and the records are replaced atomically. A
new adapter is an ordinary model reload: the old model keeps answering until the new one is
loaded, and requests already running on it finish there. A new embedder reopens the index, which
rebuilds its vectors (the embedder's id changed) while completions go on without snippets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.features.commands import is_served, load_model
from ghostwright.server.indexing.lsp import close_index, start_index
from ghostwright.server.installs.records import installed_adapter, is_student
from ghostwright.server.installs.watch import watch_records

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer


async def watch_installs(server: GhostwrightServer) -> None:
    """Runs for the server's lifetime (a background task)."""

    async def new_embedder() -> None:
        if server.index is not None:
            close_index(server)
            await start_index(server)

    async def new_adapter() -> None:
        if server.engine.apply(server.effective_settings()):
            await load_model(server, "ghostwright: switching to the new adapter")
            _announce(server)

    await watch_records(server.workspace_root(), new_adapter, new_embedder)


def _announce(server: GhostwrightServer) -> None:
    record = installed_adapter(server.workspace_root())
    if record is None:
        message = "ghostwright: adapter removed; using the base model"
    elif is_student(record):
        student = Path(record["path"]).name
        figures = (
            f"{record.get('retained', 0):.0%} of the teacher's exact match, "
            f"{record.get('speedup', 0):.2f}x its speed"
        )
        served = server.engine.status()
        if is_served(record, server.engine.settings, served["model"]):
            message = f"ghostwright: now using the distilled student {student} ({figures})"
        else:  # `auto` weighed it and kept a better tier that fits this machine
            message = (
                f"ghostwright: distilled student {student} ({figures}) is ready; `model = auto` "
                f"keeps {served['model']} here: {served['selection']}"
            )
    else:
        gain = record.get("gain_exact_match", 0.0) * 100
        message = (
            f"ghostwright: now using adapter {record['adapter']} ({gain:+.1f} points exact match)"
        )
    server.window_show_message(types.ShowMessageParams(types.MessageType.Info, message))
