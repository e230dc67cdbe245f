"""Work-done progress ($/progress) for long operations, cancellable from the client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer


class Progress:
    """One progress report; `cancelled` turns true when the user cancels it in the editor."""

    def __init__(self, server: GhostwrightServer, token: str | None) -> None:
        self._server = server
        self._token = token

    @property
    def cancelled(self) -> bool:
        future = self._server.work_done_progress.tokens.get(self._token) if self._token else None
        return bool(future is not None and future.cancelled())

    def report(self, message: str, percentage: int | None = None) -> None:
        if self._token:
            value = types.WorkDoneProgressReport(message=message, percentage=percentage)
            self._server.work_done_progress.report(self._token, value)


@asynccontextmanager
async def work_done(server: GhostwrightServer, title: str) -> AsyncIterator[Progress]:
    """Begin/end notifications around a block; silent for clients without progress support."""
    window = server.client_capabilities.window
    token = str(uuid.uuid4()) if window and window.work_done_progress else None
    if token:
        await server.work_done_progress.create_async(token)
        begin = types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
        server.work_done_progress.begin(token, begin)
    progress = Progress(server, token)
    try:
        yield progress
    finally:
        if token:
            message = "cancelled" if progress.cancelled else "done"
            server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
            server.work_done_progress.tokens.pop(token, None)
