"""Stopping the server's subsystems (training child, index, model) one after another, each on
its own: one that fails is logged and the rest still stop, so a failing index close never leaves
the model loaded or a training child running. Shared by the language server and the HTTP face."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

Step = tuple[str, Callable[[], object]]


def stop_all(steps: Sequence[Step]) -> list[str]:
    """Run every `(name, stop)` in order; returns the names of those that failed."""
    failed = []
    for name, stop in steps:
        try:
            stop()
        except Exception:  # noqa: BLE001 - the next subsystem must still stop
            logger.exception("stopping the %s failed", name)
            failed.append(name)
    return failed
