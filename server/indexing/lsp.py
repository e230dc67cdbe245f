"""The repository index in the editor: built after `initialized`, kept current, reindexed on demand.

The index is a subsystem of its own: when it cannot be opened (no embedding model, a read-only
folder), completions go on without retrieval and the status says why.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

from ghostwright.server.features.progress import Progress, work_done

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

logger = logging.getLogger(__name__)

REINDEX = "ghostwright.reindex"


def register(server: GhostwrightServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: GhostwrightServer, params: types.DidSaveTextDocumentParams) -> None:
        _notify(ls, [params.text_document.uri])

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(
        ls: GhostwrightServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        _notify(ls, [change.uri for change in params.changes])

    @server.command(REINDEX)
    async def reindex(*args: object) -> dict:
        if server.index is None:  # the server from the closure (see commands.py)
            await start_index(server)
        else:
            await _sync(server, "ghostwright: reindexing the workspace")
        return index_status(server)


async def start_index(server: GhostwrightServer) -> None:
    """Open the workspace's index, attach it to completions, then bring it up to date."""
    from ghostwright.server.indexing.workspace import attach_live_index

    root = server.workspace.root_path
    settings = server.effective_settings()
    if not root or not settings.retrieval:
        server.index_state = "off" if root else "no workspace folder"
        return
    server.index, server.index_state = await attach_live_index(Path(root), settings, server.engine)
    if server.index is None:
        server.warn_once(f"repository index {server.index_state}; suggestions go on without it")
        return
    await _sync(server, "ghostwright: indexing the workspace")


def index_status(server: GhostwrightServer) -> dict:
    if server.index is None:
        return {"state": server.index_state}
    return server.index.status()


def close_index(server: GhostwrightServer) -> None:
    from ghostwright.server.indexing.workspace import detach_live_index

    detach_live_index(server.index, server.engine)
    server.index = None


async def _sync(server: GhostwrightServer, title: str) -> None:
    live = server.index
    if live is None:
        return
    async with work_done(server, title) as progress:
        report = _throttled(server, progress)
        try:
            stats = await asyncio.wrap_future(live.service.submit_sync(report))
        except Exception as exc:  # noqa: BLE001 - logged by the service; the editor hears once
            server.warn_once(f"indexing failed: {exc}")
            return
        progress.report(f"{stats.files} files, {stats.chunks} chunks", 100)


def _throttled(server: GhostwrightServer, progress: Progress):  # noqa: ANN202
    """A progress callback for the index thread: at most one report per percent, on the loop."""
    last = [-1]

    def report(done: int, total: int, path: str) -> None:
        percent = int(100 * done / max(total, 1))
        if percent == last[0] or server.loop is None:
            return
        last[0] = percent
        server.loop.call_soon_threadsafe(progress.report, f"{done}/{total} files", percent)

    return report


def _notify(server: GhostwrightServer, uris: list[str]) -> None:
    if server.index is None:
        return
    paths = [to_fs_path(uri) for uri in uris]
    server.index.notify([path for path in paths if path])
