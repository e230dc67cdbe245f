"""The index as the server and the CLI use it: opened from settings, wrapped for completions."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.indexer.database import META_FILE
from ghostwright.indexer.errors import IndexerError
from ghostwright.indexer.service import INDEX_DIR, FileRules, IndexService
from ghostwright.server.backends.base import Backend
from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.installs.embedders import with_installed_embedder
from ghostwright.server.pipeline.retrieval import RetrievalOptions, Retriever

if TYPE_CHECKING:
    from ghostwright.server.engine import Engine

logger = logging.getLogger(__name__)

# The completion model gets the CPU first: background embedding runs on one thread.
EMBEDDING_THREADS = 1
CHANGE_QUIET_S = 0.1  # a save's burst of file events is over after this long


def file_rules(settings: Settings) -> FileRules:
    return FileRules(
        include=tuple(settings.index_include),
        exclude=tuple(settings.index_exclude),
        max_bytes=settings.index_max_kb * 1024,
    )


def open_index(
    root: Path, settings: Settings, *, threads: int = 0, index_dir: Path | None = None
) -> IndexService:
    """The index of `root` (created empty when absent), embedded by the repository's installed
    embedder where the setting is `default`; errors become one-line messages."""
    from ghostwright.indexer.embedder import open_embedder

    if not root.is_dir():
        raise GhostwrightError(f"not a directory: {root}")
    settings = with_installed_embedder(settings, root)
    try:
        embedder = open_embedder(settings.embedder, threads=threads)
    except IndexerError as exc:
        raise GhostwrightError(str(exc)) from exc
    try:
        return IndexService(root, embedder, file_rules(settings), index_dir=index_dir)
    except (OSError, IndexerError) as exc:
        embedder.close()
        raise GhostwrightError(f"cannot open the index of {root}: {exc}") from exc


def indexed_root(path: Path) -> Path | None:
    """The nearest folder at or above `path` that holds a built index."""
    start = path.resolve()
    for folder in (start, *start.parents):
        if (folder / INDEX_DIR / META_FILE).is_file():
            return folder
    return None


def retriever_for(
    index: IndexService, backend: Backend, settings: Settings, *, time_budget_s: float | None = None
) -> Retriever:
    """Retrieval over `index` in the backend's prompt format, within the settings' budgets."""
    options = RetrievalOptions(
        tokens=settings.retrieval_tokens,
        time_budget_s=time_budget_s or settings.retrieval_time_ms / 1000.0,
    )
    return Retriever(index, backend.prompt_format, backend.count_tokens, options)


def close_index(index: IndexService | None) -> None:
    if index is not None:
        index.close()
        index.embedder.close()


async def attach_live_index(
    root: Path, settings: Settings, engine: Engine
) -> tuple[LiveIndex | None, str]:
    """Open the workspace's index off the event loop and give completions its snippets:
    (the live index, "open"), or (None, "unavailable: why") when it cannot be opened."""
    try:
        service = await asyncio.to_thread(open_index, root, settings, threads=EMBEDDING_THREADS)
    except GhostwrightError as exc:
        logger.warning("repository index unavailable: %s", exc)
        return None, f"unavailable: {exc}"
    engine.attach_index(service)
    return LiveIndex(service), "open"


def detach_live_index(live: LiveIndex | None, engine: Engine) -> None:
    """Completions stop using the index, then it closes (watcher, store, embedder)."""
    if live is not None:
        engine.attach_index(None)
        live.close()


class LiveIndex:
    """An index kept current by a file watcher and the editor's save notifications."""

    def __init__(self, service: IndexService, *, watch: bool = True) -> None:
        from ghostwright.indexer.watcher import ChangeQueue, RepositoryWatcher

        self.service = service
        self.queue = ChangeQueue(self._deliver, quiet_s=CHANGE_QUIET_S)
        self._watcher = RepositoryWatcher(service.root, self.queue) if watch else None
        if self._watcher is not None:
            self._watcher.start()

    def notify(self, paths: list[str]) -> None:
        """Files the editor saved or saw change (`didSave`, `didChangeWatchedFiles`)."""
        self.queue.add(paths)

    def status(self) -> dict:
        files, chunks = self.service.store.counts()
        stats = self.service.last_stats
        return {
            "state": self.service.state,
            "root": str(self.service.root),
            "files": files,
            "chunks": chunks,
            "embedder": self.service.embedder.id,
            "last_update_s": round(stats.seconds, 3) if stats else None,
        }

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.close()
        self.queue.close()
        close_index(self.service)

    def _deliver(self, batch: set[str]) -> None:
        from ghostwright.indexer.watcher import RESCAN

        if RESCAN in batch:
            self.service.submit_sync()
        else:
            self.service.submit_update(sorted(batch))
