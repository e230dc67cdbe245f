"""workspace/executeCommand: ghostwright.status and ghostwright.reloadModel."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.features.progress import work_done

STATUS = "ghostwright.status"
RELOAD_MODEL = "ghostwright.reloadModel"


def register(server) -> None:  # noqa: ANN001 - GhostwrightServer
    @server.command(STATUS)
    def status(ls, *args: object) -> dict:  # noqa: ANN001
        """Model, format, adapter, index and recent latency percentiles."""
        return {**ls.engine.status(), "index": "not built"}

    @server.command(RELOAD_MODEL)
    async def reload_model(ls, *args: object) -> dict:  # noqa: ANN001
        await load_model(ls, "ghostwright: reloading the model")
        return {**ls.engine.status(), "index": "not built"}


async def load_model(server, title: str) -> None:  # noqa: ANN001
    """Load (or reload) the model on a thread, with progress; failures become one message."""
    async with work_done(server, title) as progress:
        progress.report(f"loading {server.engine.settings.model}")
        try:
            await asyncio.to_thread(server.engine.load, server.effective_settings())
        except GhostwrightError as exc:
            server.window_show_message(
                types.ShowMessageParams(types.MessageType.Error, f"ghostwright: {exc}")
            )
