"""A model file on disk: is it a GGUF llama.cpp can read, and what to call it.

Apart from `models.py` (which resolves the `model` setting, `auto` included) so the backend can
check a file without importing the resolution that loads backends.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.packaged_models import tier_names

GGUF_MAGIC = b"GGUF"
SUPPORTED_GGUF_VERSIONS = (2, 3)
# magic + version + tensor count + metadata count: anything shorter cannot be a GGUF file.
GGUF_HEADER_BYTES = 4 + 4 + 8 + 8
SETTING_HINT = (
    "set `model` to auto, a packaged tier (" + ", ".join(tier_names()) + ") or a .gguf path"
)


def check_gguf_file(path: Path) -> Path:
    """Reject a missing, unreadable, truncated-header or non-GGUF file with a one-line reason."""
    if not path.exists():
        raise GhostwrightError(f"model file not found: {path} ({SETTING_HINT})")
    if not path.is_file():
        raise GhostwrightError(f"model path is not a file: {path} ({SETTING_HINT})")
    try:
        with path.open("rb") as handle:
            header = handle.read(GGUF_HEADER_BYTES)
    except OSError as exc:
        raise GhostwrightError(f"cannot read model file {path}: {exc.strerror}") from exc
    if header[:4] != GGUF_MAGIC:
        raise GhostwrightError(f"not a GGUF model file: {path} ({SETTING_HINT})")
    if len(header) < GGUF_HEADER_BYTES:
        raise GhostwrightError(f"model file is truncated: {path}")
    (version,) = struct.unpack("<I", header[4:8])
    if version not in SUPPORTED_GGUF_VERSIONS:
        raise GhostwrightError(f"unsupported GGUF version {version} in {path}")
    return path


def model_display_name(path: Path) -> str:
    """A short name for status lines and JSON output."""
    return path.name
