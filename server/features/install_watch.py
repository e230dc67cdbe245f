"""Notice a newly installed adapter or distilled student (`.ghostwright/adapters/current.json`)
or retrieval embedder (`.ghostwright/embedders/current.json`) and switch to it.

A stat every few seconds is enough: installs are rare and the records are replaced atomically. A
new adapter is an ordinary model reload: the old model keeps answering until the new one is
loaded, and requests already running on it finish there. A new embedder reopens the index, which
rebuilds its vectors (the embedder's id changed) while completions go on without snippets.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.adapters import installed_adapter, is_student, record_stamp
from ghostwright.server.embedders import embedder_stamp
from ghostwright.server.features.commands import load_model
from ghostwright.server.features.indexing import close_index, start_index

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

POLL_S = 2.0


async def watch_installs(server: GhostwrightServer) -> None:
    """Runs for the server's lifetime (a background task)."""
    seen = record_stamp(server.workspace_root())
    seen_embedder = embedder_stamp(server.workspace_root())
    while True:
        await asyncio.sleep(POLL_S)
        stamp = record_stamp(server.workspace_root())
        embedder = embedder_stamp(server.workspace_root())
        if embedder != seen_embedder:
            seen_embedder = embedder
            if server.index is not None:
                close_index(server)
                await start_index(server)
        if stamp == seen:
            continue
        seen = stamp
        if server.engine.apply(server.effective_settings()):
            await load_model(server, "ghostwright: switching to the new adapter")
            _announce(server)


def _announce(server: GhostwrightServer) -> None:
    record = installed_adapter(server.workspace_root())
    if record is None:
        message = "ghostwright: adapter removed; using the base model"
    elif is_student(record):
        message = (
            f"ghostwright: now using the distilled student {Path(record['path']).name} "
            f"({record.get('retained', 0):.0%} of the teacher's exact match, "
            f"{record.get('speedup', 0):.2f}x its speed)"
        )
    else:
        gain = record.get("gain_exact_match", 0.0) * 100
        message = (
            f"ghostwright: now using adapter {record['adapter']} ({gain:+.1f} points exact match)"
        )
    server.window_show_message(types.ShowMessageParams(types.MessageType.Info, message))
