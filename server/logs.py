"""Where the server's log goes: a rotating file in the user state directory and the client's
window/logMessage. Never stdout, which carries only protocol messages."""

from __future__ import annotations

import logging
import os
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from lsprotocol import types

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class ClientLogHandler(logging.Handler):
    """Forwards ghostwright's own records to window/logMessage, from any thread."""

    def __init__(self, server: GhostwrightServer) -> None:
        super().__init__(level=logging.INFO)
        self._server = server
        self._sending = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("ghostwright") or getattr(self._sending, "busy", False):
            return
        loop = self._server.loop
        if loop is None or loop.is_closed():
            return
        kind = next(
            (kind for level, kind in LEVELS.items() if record.levelno >= level),
            types.MessageType.Log,
        )
        params = types.LogMessageParams(type=kind, message=record.getMessage())
        loop.call_soon_threadsafe(self._send, params)

    def _send(self, params: types.LogMessageParams) -> None:
        self._sending.busy = True
        try:
            self._server.window_log_message(params)
        except Exception:  # the client went away: nothing left to tell
            pass
        finally:
            self._sending.busy = False


def log_file() -> Path:
    return Path(platformdirs.user_state_dir("ghostwright")) / "logs" / "server.log"


def setup_logging(server: GhostwrightServer) -> tuple[Path | None, str]:
    """File (rotating, 3 x 1 MB) plus the client; GHOSTWRIGHT_DEBUG=1 adds debug records. A
    log folder that cannot be written (read-only, disk full) leaves the client's log alone: the
    server runs on without its file ((None, why), said to the user once a client is there)."""
    path: Path | None = log_file()
    handlers: list[logging.Handler] = [ClientLogHandler(server)]
    problem = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = RotatingFileHandler(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8")
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        handlers.insert(0, file_handler)
    except OSError as exc:
        problem = (
            f"the log file {log_file()} cannot be written ({exc.strerror}): logging to the "
            "editor only"
        )
        path = None
    root = logging.getLogger()
    root.handlers[:] = handlers
    root.setLevel(logging.DEBUG if os.environ.get("GHOSTWRIGHT_DEBUG") else logging.INFO)
    logging.getLogger("pygls").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return path, problem
