"""Write a file so that readers see the old version or the new one, never half of either.

The one helper for every file another process may read (DESIGN: state on disk): it lives in
`indexer` because both `server` and `training` may import from here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A temporary path beside `target`: renamed over it when the block succeeds, deleted when
    the block fails (a full disk, a crash in the writer), so no partial file is left behind."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
