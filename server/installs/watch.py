"""Notice installs while serving: a stat of the adapter and embedder records every few seconds
(installs are rare and the records are replaced atomically)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from ghostwright.server.installs.embedders import embedder_stamp
from ghostwright.server.installs.records import record_stamp

POLL_S = 2.0


async def watch_records(
    root: Path | None,
    on_adapter: Callable[[], Awaitable[None]],
    on_embedder: Callable[[], Awaitable[None]],
    poll_s: float = POLL_S,
) -> None:
    """Call `on_adapter` / `on_embedder` when the installed adapter (or student) / embedder
    record of `root` changes; runs until cancelled. Shared by the LSP server and the HTTP face."""
    seen = record_stamp(root)
    seen_embedder = embedder_stamp(root)
    while True:
        await asyncio.sleep(poll_s)
        stamp = record_stamp(root)
        embedder = embedder_stamp(root)
        if embedder != seen_embedder:
            seen_embedder = embedder
            await on_embedder()
        if stamp != seen:
            seen = stamp
            await on_adapter()
