"""Notice a newly installed adapter or distilled student (`.ghostwright/adapters/current.json`)
and switch to it.

A stat every few seconds is enough: installs are rare and the record is replaced atomically. The
switch is an ordinary model reload: the old model keeps answering until the new one is loaded,
and requests already running on it finish there.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.adapters import installed_adapter, is_student, record_stamp
from ghostwright.server.features.commands import load_model

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

POLL_S = 2.0


async def watch_installed_adapter(server: GhostwrightServer) -> None:
    """Runs for the server's lifetime (a background task)."""
    seen = record_stamp(server.workspace_root())
    while True:
        await asyncio.sleep(POLL_S)
        stamp = record_stamp(server.workspace_root())
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
