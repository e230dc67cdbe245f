"""The repository's installed adapter (`.ghostwright/adapters/current.json`) as settings.

A user who set `adapter` (or `prompt_format`) explicitly keeps it; otherwise the installed adapter
applies with the prompt format it was trained on. The server polls the record and reloads when
it changes, so a finished fine-tune takes effect without a restart.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from ghostwright.server.config import Settings

ADAPTERS_DIR = Path(".ghostwright") / "adapters"
CURRENT = "current.json"


def current_adapter(adapters_dir: Path) -> dict | None:
    """The installed adapter's record with `path` resolved, or None when there is none."""
    try:
        record = json.loads((adapters_dir / CURRENT).read_text())
    except (OSError, ValueError):
        return None
    path = adapters_dir / str(record.get("adapter", ""))
    return {**record, "path": str(path)} if record.get("adapter") and path.is_file() else None


def installed_adapter(root: Path | None) -> dict | None:
    return current_adapter(root / ADAPTERS_DIR) if root is not None else None


def with_installed_adapter(settings: Settings, root: Path | None) -> Settings:
    """`settings` with the installed adapter, unless the user chose an adapter themselves."""
    record = installed_adapter(root)
    if settings.adapter or record is None:
        return settings
    prompt_format = settings.prompt_format
    if prompt_format == "auto":
        prompt_format = record.get("prompt_format", "auto")
    return replace(settings, adapter=record["path"], prompt_format=prompt_format)


def record_stamp(root: Path | None) -> float | None:
    """When current.json last changed (None: no record), for cheap polling."""
    if root is None:
        return None
    try:
        return (root / ADAPTERS_DIR / CURRENT).stat().st_mtime
    except OSError:
        return None
