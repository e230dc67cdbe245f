"""Build the ghostwright language server: settings, the model engine, and the LSP features."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from ghostwright.server.backends import create_backend
from ghostwright.server.config import Settings, parse_settings, workspace_settings
from ghostwright.server.engine import BackendFactory, Engine
from ghostwright.server.features import (
    code_action,
    commands,
    inline_completion,
    lifecycle,
    training,
)
from ghostwright.server.feedback import lsp as feedback_lsp
from ghostwright.server.indexing import lsp as indexing_lsp
from ghostwright.server.installs.records import with_installed_adapter

if TYPE_CHECKING:
    from ghostwright.server.feedback.lsp import FeedbackRecorder
    from ghostwright.server.indexing.workspace import LiveIndex

logger = logging.getLogger(__name__)
VERSION = "0.1.0"


class GhostwrightProtocol(LanguageServerProtocol):
    """pygls drops a request whose params do not fit the method; answer it with an error."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "method" in data and isinstance(data.get("id"), int | str):
                self._send_response(data["id"], error=error.to_response_error())
            return None

    def handle_message(self, message: Any) -> None:
        if message is not None:  # None: already answered as malformed
            super().handle_message(message)

    def set_writer(self, writer: Any, include_headers: bool = True) -> None:
        super().set_writer(ClosedPipeTolerant(writer), include_headers)


class ClosedPipeTolerant:
    """A writer that stops sending once the editor has gone: an editor that quits closes our
    stdout while answers are still in flight, and pygls would log each of them as a traceback."""

    def __init__(self, writer: Any) -> None:
        self._writer = writer
        self.gone = False

    def write(self, data: bytes) -> Any:
        if self.gone:
            return None
        try:
            return self._writer.write(data)
        except (BrokenPipeError, ConnectionResetError, ValueError):  # ValueError: closed file
            self.gone = True
            logger.info("the editor closed the connection; nothing more is sent")
            return None

    def close(self) -> Any:
        try:
            return self._writer.close()
        except (BrokenPipeError, ConnectionResetError, ValueError):
            return None


class GhostwrightServer(LanguageServer):
    """The LanguageServer plus our state: where settings came from, and the model engine."""

    def __init__(self, backend_factory: BackendFactory | None = None) -> None:
        super().__init__("ghostwright", VERSION, protocol_cls=GhostwrightProtocol)
        self.engine = Engine(Settings(), backend_factory or create_backend)
        self.client_values: dict[str, Any] = {}
        self.workspace_values: dict[str, Any] = {}
        self._workspace_warnings: list[str] = []
        self._warned: set[str] = set()
        # Problems met before a client was there to hear them, said once it is initialized.
        self.startup_warnings: list[str] = []
        self._tasks: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.index: LiveIndex | None = None
        self.index_state = "not built"
        self.training: dict[str, asyncio.subprocess.Process] = {}  # the running fine-tune
        self.feedback: FeedbackRecorder | None = None  # the feedback log's server side

    def read_workspace_settings(self) -> None:
        root = self.workspace.root_path
        if root:
            self.workspace_values, self._workspace_warnings = workspace_settings(Path(root))

    def effective_settings(self) -> Settings:
        """Defaults, then the editor's settings, then the workspace file (the project decides)."""
        settings, warnings = parse_settings(self.client_values)
        settings, more = parse_settings(self.workspace_values, settings)
        for warning in [*self._workspace_warnings, *warnings, *more]:
            self.warn_once(warning)
        return with_installed_adapter(settings, self.workspace_root())

    def workspace_root(self) -> Path | None:
        root = self.workspace.root_path
        return Path(root) if root else None

    def warn_once(self, message: str) -> None:
        """One popup per distinct problem, never one per keystroke or per settings push."""
        if message in self._warned:
            return
        self._warned.add(message)
        logger.warning("%s", message)
        self.window_show_message(
            types.ShowMessageParams(types.MessageType.Warning, f"ghostwright: {message}")
        )

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` on the event loop; its failure is logged, never raised into a handler."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())


def build_server(backend_factory: BackendFactory | None = None) -> GhostwrightServer:
    """A ready-to-start server; tests pass a factory for the fake backend."""
    server = GhostwrightServer(backend_factory)
    lifecycle.register(server)
    inline_completion.register(server)
    code_action.register(server)
    commands.register(server)
    feedback_lsp.register(server)
    indexing_lsp.register(server)
    training.register(server)
    return server


def serve(tcp: str | None = None, backend_factory: BackendFactory | None = None) -> int:
    """Run until the client says exit: stdio by default, TCP (HOST:PORT) for debugging."""
    from ghostwright.server.errors import GhostwrightError
    from ghostwright.server.logs import setup_logging

    server = build_server(backend_factory)
    path, problem = setup_logging(server)
    if problem:
        server.startup_warnings.append(problem)
    logger.info("ghostwright %s starting; log file %s", VERSION, path)
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not host or not port.isdigit():
            raise GhostwrightError(f"--tcp expects HOST:PORT, got {tcp!r}")
        server.start_tcp(host, int(port))
        return 0
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must never corrupt the protocol stream
    try:
        server.start_io(sys.stdin.buffer, protocol_out)
    finally:
        logger.info("ghostwright exiting")
    return 0
