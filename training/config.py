"""Recipe configs: a commented YAML file, then `key=value` overrides (dotted for sections)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ghostwright.server.errors import GhostwrightError

CONFIGS = Path(__file__).parent / "configs"


def load_config(path: Path | None, overrides: list[str], default: str) -> dict[str, Any]:
    """The YAML at `path` (or the packaged `default`), with `a.b=value` overrides applied."""
    source = path or CONFIGS / default
    try:
        config = yaml.safe_load(source.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GhostwrightError(f"cannot read config {source}: {exc}") from exc
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise GhostwrightError(f"override {override!r} is not key=value")
        _assign(config, key.split("."), yaml.safe_load(raw) if raw else "", override)
    return config


def _assign(config: dict, keys: list[str], value: Any, override: str) -> None:
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise GhostwrightError(f"override {override!r}: {key} is not a section")
    if keys[-1] not in node:
        raise GhostwrightError(f"override {override!r}: no setting {'.'.join(keys)}")
    node[keys[-1]] = _like(node[keys[-1]], value, override)


def _like(default: Any, value: Any, override: str) -> Any:
    """`value` as the default's type: YAML reads `lr=1e-3` as a string, the recipe needs a float."""
    kind = type(default)
    if default is None or isinstance(value, kind) or kind not in (int, float):
        return value
    try:
        return kind(value) if not isinstance(value, bool) else _reject(override)
    except (TypeError, ValueError):
        return _reject(override)


def _reject(override: str) -> Any:
    raise GhostwrightError(f"override {override!r}: not a number")
