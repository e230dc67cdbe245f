"""Read a source file the way the CLI and the evaluation harness need it: text or a clear error."""

from __future__ import annotations

from pathlib import Path

from ghostwright.indexer.files import looks_binary
from ghostwright.server.errors import GhostwrightError


def read_source(path: Path) -> str:
    """The file's text with newlines normalised to "\\n"; binary or non-UTF-8 files are refused."""
    if not path.exists():
        raise GhostwrightError(f"file not found: {path}")
    if path.is_dir():
        raise GhostwrightError(f"{path} is a directory, not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GhostwrightError(f"cannot read {path}: {exc.strerror}") from exc
    if looks_binary(data):
        raise GhostwrightError(f"{path} is a binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GhostwrightError(
            f"{path} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from exc
    return text.removeprefix("\ufeff").replace("\r\n", "\n")
