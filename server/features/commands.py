"""workspace/executeCommand: ghostwright.status and ghostwright.reloadModel."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.features.indexing import index_status
from ghostwright.server.features.progress import work_done

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

STATUS = "ghostwright.status"
RELOAD_MODEL = "ghostwright.reloadModel"


def register(server: GhostwrightServer) -> None:
    @server.command(STATUS)
    def status(ls: GhostwrightServer, *args: object) -> dict:
        """Model, format, adapter, index and recent latency percentiles."""
        return {**ls.engine.status(), "index": index_status(ls)}

    @server.command(RELOAD_MODEL)
    async def reload_model(ls: GhostwrightServer, *args: object) -> dict:
        await load_model(ls, "ghostwright: reloading the model")
        return {**ls.engine.status(), "index": index_status(ls)}


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
