"""Recipe configs: the packaged commented YAML, the user's YAML laid over it (only the keys it
names change; an unknown key is an error, not a silent no-op), then `key=value` overrides
(dotted for sections)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ghostwright.server.errors import GhostwrightError

CONFIGS = Path(__file__).parent / "configs"


def load_config(path: Path | None, overrides: list[str], default: str) -> dict[str, Any]:
    """The packaged `default`, then the YAML at `path`, then `a.b=value` overrides."""
    config = _read(CONFIGS / default)
    if path is not None:
        for keys, value in _leaves(_read(path)):
            _assign(config, keys, value, f"{path}")
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key:
            raise GhostwrightError(f"override {override!r} is not key=value")
        _assign(
            config, key.split("."), yaml.safe_load(raw) if raw else "", f"override {override!r}"
        )
    return config


def _read(source: Path) -> dict[str, Any]:
    try:
        config = yaml.safe_load(source.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GhostwrightError(f"cannot read config {source}: {exc}") from exc
    if not isinstance(config, dict):
        raise GhostwrightError(f"config {source} is not a mapping of settings")
    return config


def _leaves(config: dict[str, Any], above: tuple[str, ...] = ()) -> list[tuple[list[str], Any]]:
    """(dotted key path, value) of every setting; sections are walked into."""
    found = []
    for key, value in config.items():
        if isinstance(value, dict):
            found += _leaves(value, (*above, str(key)))
        else:
            found.append(([*above, str(key)], value))
    return found


def _assign(config: dict, keys: list[str], value: Any, where: str) -> None:
    node = config
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise GhostwrightError(f"{where}: {key} is not a section")
    if keys[-1] not in node:
        raise GhostwrightError(f"{where}: no setting {'.'.join(keys)}")
    node[keys[-1]] = _like(node[keys[-1]], value, f"{where}: {'.'.join(keys)}")


def _like(default: Any, value: Any, where: str) -> Any:
    """`value` as the default's type: YAML reads `lr=1e-3` as a string, the recipe needs a float."""
    kind = type(default)
    if default is None or isinstance(value, kind) or kind not in (int, float):
        return value
    try:
        return kind(value) if not isinstance(value, bool) else _reject(where)
    except (TypeError, ValueError):
        return _reject(where)


def _reject(where: str) -> Any:
    raise GhostwrightError(f"{where}: not a number")
