"""The installed adapter as settings: the repository's own (`.ghostwright/adapters/`, Stage B),
else the user's general one (`<user data>/ghostwright/adapters/`, Stage A: it teaches the default
model fill-in-the-middle, so it serves every repository without one of its own).

A user who set `adapter` (or `prompt_format`) explicitly keeps it; otherwise the installed adapter
applies with the prompt format it was trained on. A distilled student is installed the same way but
names a whole `model` instead of an `adapter` (and keeps its teacher's record, which the next
distillation starts from); under `model = auto` it is one more tier `auto` weighs
(`auto_model.candidates`), under `default` it replaces the model, and a model the user named
wins. A context-distilled
student also names the window it was trained for (`serve`: a shorter `prompt_tokens`, no
retrieval), applied where the user kept the defaults. The server polls the
records and reloads when one changes, so a finished fine-tune takes effect without a restart."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from ghostwright.server.config import Settings

logger = logging.getLogger(__name__)

ADAPTERS_DIR = Path(".ghostwright") / "adapters"
CURRENT = "current.json"


def current_adapter(adapters_dir: Path) -> dict | None:
    """The installed adapter's (or student model's) record with `path` resolved, or None when
    there is none or its file is damaged (the model it would replace serves; one warning)."""
    return current_record(adapters_dir, ("model", "adapter"))


def current_record(folder: Path, keys: tuple[str, ...]) -> dict | None:
    """`folder/current.json` (written by `write.install_file`) with `path`, the file its first
    present key names, resolved; None when there is none or the file is damaged."""
    try:
        record = json.loads((folder / CURRENT).read_text())
    except (OSError, ValueError):
        return None
    name = next((str(record[key]) for key in keys if record.get(key)), "")
    path = folder / name
    if not name or not path.is_file():
        return None
    damage = _damage(path, record.get("bytes"))
    if damage:
        if (str(path), damage) not in _WARNED:
            _WARNED.add((str(path), damage))
            logger.warning("installed %s is %s: serving without it", path, damage)
        return None
    return {**record, "path": str(path)}


_WARNED: set[tuple[str, str]] = set()


def _damage(path: Path, expected_bytes: object) -> str:
    """Why an installed GGUF cannot be what was installed ("" when it can): the wrong size (a
    copy cut short, a disk that filled up) or no GGUF header."""
    size = path.stat().st_size
    if isinstance(expected_bytes, int) and size != expected_bytes:
        return f"truncated or damaged ({size:,} of {expected_bytes:,} bytes)"
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            return "not a GGUF file"
    return ""


def is_student(record: dict | None) -> bool:
    """Installed by `ghostwright distill` (a whole student model)."""
    return bool(record and record.get("distilled"))


def teacher_record(root: Path | None) -> dict | None:
    """The installed adapter a distillation learns from: the current one, or the teacher a
    currently installed student was distilled from."""
    record = installed_adapter(root)
    if is_student(record):
        teacher = record.get("teacher")
        return teacher if teacher and Path(teacher.get("path", "")).is_file() else None
    return record


def user_adapters_dir() -> Path:
    """Where Stage A adapters are installed (`$XDG_DATA_HOME/ghostwright/adapters` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("ghostwright")) / "adapters"


def installed_adapter(root: Path | None) -> dict | None:
    """The repository's adapter, else the user's general one, else None."""
    own = current_adapter(root / ADAPTERS_DIR) if root is not None else None
    return own or current_adapter(user_adapters_dir())


def with_installed_adapter(settings: Settings, root: Path | None) -> Settings:
    """`settings` with the installed adapter, unless the user chose an adapter themselves."""
    record = installed_adapter(root)
    if settings.adapter or record is None:
        return settings
    prompt_format = settings.prompt_format
    if prompt_format == "auto":
        prompt_format = record.get("prompt_format", "auto")
    settings = _serve_as_trained(settings, record.get("serve") or {})
    chosen_by_user = settings.model not in UNCHOSEN_MODELS
    if record.get("model"):
        if chosen_by_user:  # the user's own model choice wins
            return settings
        if settings.model.strip() == "auto" and not record.get("serve"):
            # `auto` weighs the student against the packaged tiers at this machine's speed. A
            # context student is bound to its own window, so it is served as installed.
            return replace(settings, installed_student=str(Path(record["path"]).parent))
        return replace(settings, model=record["path"], prompt_format=prompt_format)
    # An adapter only fits the model it was trained on: `auto` serves that model with it, and a
    # model the user named that is another one is served without it.
    base = str(record.get("base_model") or "default")
    if chosen_by_user and model_file(settings.model) != model_file(base):
        return settings
    model = settings.model if chosen_by_user else base
    return replace(settings, model=model, adapter=record["path"], prompt_format=prompt_format)


def model_file(spec: str) -> str:
    """What a `model` value names, comparable across spellings (a tier, `default`, a path)."""
    from ghostwright.server.packaged_models import cached_path, tier_for_spec

    tier = tier_for_spec(spec)
    return str(cached_path(tier) if tier else Path(spec.strip()).expanduser().resolve())


# `model` values that leave the choice to ghostwright (an installed adapter or student decides).
UNCHOSEN_MODELS = ("auto", "default", "")


# What an installed student may ask to be served with: a context student's window and retrieval.
SERVED_KEYS = ("prompt_tokens", "retrieval")


def _serve_as_trained(settings: Settings, serve: dict) -> Settings:
    """The settings a distilled student was trained for (a shorter window, no snippets), where
    the user left the defaults."""
    defaults = Settings()
    chosen = {
        key: serve[key]
        for key in SERVED_KEYS
        if key in serve and getattr(settings, key) == getattr(defaults, key)
    }
    return replace(settings, **chosen) if chosen else settings


def record_stamp(root: Path | None) -> tuple[float | None, ...]:
    """When the repository's and the user's current.json last changed, for cheap polling."""
    folders = ([root / ADAPTERS_DIR] if root is not None else []) + [user_adapters_dir()]
    return tuple(mtime(folder / CURRENT) for folder in folders)


def mtime(path: Path) -> float | None:
    """When `path` last changed (None: it does not exist)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None
