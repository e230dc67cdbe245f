"""The pipeline for one workspace outside the LSP: settings, engine, live index, installs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ghostwright.server.backends import create_backend
from ghostwright.server.config import Settings
from ghostwright.server.engine import BackendFactory, Engine
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.indexing.workspace import LiveIndex, attach_live_index, detach_live_index
from ghostwright.server.installs.records import with_installed_adapter
from ghostwright.server.installs.watch import watch_records
from ghostwright.server.shutdown import stop_all

logger = logging.getLogger(__name__)


class Host:
    """Serves one workspace folder: loads the model and index in the background, follows
    installed adapters, students and embedders, and closes everything on `stop`."""

    def __init__(
        self, root: Path, settings: Settings, backend_factory: BackendFactory | None = None
    ) -> None:
        self.root = root
        self._base = settings  # defaults, the project's file and the command line
        self.engine = Engine(self.settings(), backend_factory or create_backend)
        self.index: LiveIndex | None = None
        self.index_state = "not built"
        self._tasks: list[asyncio.Task] = []

    def settings(self) -> Settings:
        """The settings with the workspace's (or the user's) installed adapter or student."""
        return with_installed_adapter(self._base, self.root)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._load("loading")),
            asyncio.create_task(self._open_index()),
            asyncio.create_task(watch_records(self.root, self._new_adapter, self._new_embedder)),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        stop_all([("index", self._close_index), ("model", self.engine.close)])

    async def _load(self, why: str) -> None:
        logger.info("%s the model (%s)", why, self.engine.settings.model)
        try:
            await asyncio.to_thread(self.engine.load, self.settings())
        except GhostwrightError as exc:  # the engine's state says so; /health reports it
            logger.error("model not loaded: %s", exc)
            return
        logger.info("model ready: %s", self.engine.status()["model"])

    async def _open_index(self) -> None:
        settings = self.settings()
        if not settings.retrieval:
            self.index_state = "off"
            return
        self.index, self.index_state = await attach_live_index(self.root, settings, self.engine)
        if self.index is None:
            return
        try:
            stats = await asyncio.wrap_future(self.index.service.submit_sync())
        except Exception as exc:  # noqa: BLE001 - completions go on without the new chunks
            logger.warning("indexing failed: %s", exc)
            return
        logger.info("index ready: %d files, %d chunks", stats.files, stats.chunks)

    def index_status(self) -> dict:
        return self.index.status() if self.index is not None else {"state": self.index_state}

    def _close_index(self) -> None:
        detach_live_index(self.index, self.engine)
        self.index = None

    async def _new_adapter(self) -> None:
        if self.engine.apply(self.settings()):
            await self._load("switching to the newly installed")

    async def _new_embedder(self) -> None:
        if self.index is not None:
            self._close_index()
            await self._open_index()
