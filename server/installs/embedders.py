"""The repository's own retrieval embedder, installed by `ghostwright train embedder`.

`.ghostwright/embedders/current.json` names a GGUF embedding model beside it. It serves the
repository's index wherever the `embedder` setting is left at `default`; a user who named an
embedder keeps it. Its id (name and content hash) differs from the packaged one's, so the index
built by the old embedder is rebuilt, never searched with mismatched vectors. The server polls the
record (`installs/lsp.py`) and reopens the index when it changes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ghostwright.indexer.embedder import DEFAULT_EMBEDDER
from ghostwright.server.config import Settings
from ghostwright.server.installs.records import CURRENT, current_record, mtime

EMBEDDERS_DIR = Path(".ghostwright") / "embedders"


def installed_embedder(root: Path | None) -> dict | None:
    """The installed embedder's record with `path` resolved, or None (none, or damaged)."""
    return current_record(root / EMBEDDERS_DIR, ("embedder",)) if root is not None else None


def with_installed_embedder(settings: Settings, root: Path | None) -> Settings:
    """`settings` with the repository's embedder, unless the user chose one."""
    record = installed_embedder(root)
    if record is None or settings.embedder not in ("", DEFAULT_EMBEDDER):
        return settings
    return replace(settings, embedder=record["path"])


def embedder_stamp(root: Path | None) -> float | None:
    """When the record last changed, for cheap polling."""
    return mtime(root / EMBEDDERS_DIR / CURRENT) if root else None
