"""File changes -> debounced, coalesced batches of paths for the index service.

Sources: a watchdog observer on the repository (changes made by any program: git checkout, a
formatter, another editor) and the editor's own `didSave` / `didChangeWatchedFiles`, which call
`ChangeQueue.add`. A burst of events (a branch switch touches hundreds of files) becomes one
batch once `quiet_s` passed without a new event; a directory event asks for a full rescan,
which is cheap because unchanged files are recognised by size and modification time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

logger = logging.getLogger(__name__)

RESCAN = "*"  # a batch holding this asks for a full rescan
IGNORED_PARTS = {".git", ".ghostwright", "__pycache__", "node_modules", ".venv"}
Deliver = Callable[[set[str]], None]


class ChangeQueue:
    """Collects changed paths; delivers them as one batch after `quiet_s` without news."""

    def __init__(self, deliver: Deliver, quiet_s: float = 0.2) -> None:
        self._deliver = deliver
        self._quiet_s = quiet_s
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def add(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._pending.update(paths)
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self._quiet_s, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending, self._timer = self._pending, set(), None
        if batch:
            try:
                self._deliver(batch)
            except Exception:  # the watcher thread must survive a failed delivery
                logger.exception("delivering %d changed paths failed", len(batch))

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._pending.clear()


class _Handler(FileSystemEventHandler):
    def __init__(self, root: Path, queue: ChangeQueue) -> None:
        self._root = root
        self._queue = queue

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        relevant = [_text(path) for path in paths if path and not self._ignored(_text(path))]
        if not relevant:
            return
        self._queue.add([RESCAN] if event.is_directory else relevant)

    def _ignored(self, path: str) -> bool:
        try:
            parts = Path(path).relative_to(self._root).parts
        except ValueError:
            return True
        return not parts or any(part in IGNORED_PARTS for part in parts)


class RepositoryWatcher:
    """A watchdog observer on `root` feeding a `ChangeQueue`."""

    def __init__(self, root: Path, queue: ChangeQueue) -> None:
        self.queue = queue
        self._observer = Observer()
        self._observer.schedule(_Handler(root.resolve(), queue), str(root), recursive=True)
        self._observer.daemon = True

    def start(self) -> None:
        self._observer.start()

    def close(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=2)
        self.queue.close()


def _text(path: str | bytes) -> str:
    return path.decode("utf-8", errors="surrogateescape") if isinstance(path, bytes) else path
