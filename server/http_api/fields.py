"""Reading a request body: JSON, size limits, and typed fields, each failure one clear 4xx line."""

from __future__ import annotations

import json
from typing import Any

from ghostwright.server.pipeline.complete import CompletionRequest

# Largest request body: a whole source file, its suffix and llama.vim's 16 extra chunks fit many
# times over; anything larger is a mistake or an attack.
MAX_BODY_BYTES = 4 * 1024 * 1024
MISSING = object()


class BadRequest(Exception):
    """A request the client must change: `status` and one line saying what is wrong."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_json(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"request body over {MAX_BODY_BYTES // (1024 * 1024)} MiB", 413)
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def field(
    body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = MISSING
) -> Any:
    """`body[name]` when it has the type `kind`; `default` when absent (or null)."""
    value = body.get(name)
    if value is None:
        if default is MISSING:
            raise BadRequest(f"missing field '{name}'")
        return default
    # JSON has no int/float distinction for whole numbers, and bool is an int in Python.
    if isinstance(value, bool) and bool not in _kinds(kind):
        raise BadRequest(f"field '{name}' must be {_describe(kind)}")
    if not isinstance(value, kind):
        raise BadRequest(f"field '{name}' must be {_describe(kind)}")
    return value


def count_field(body: dict[str, Any], name: str, default: int, most: int) -> int:
    """A whole number in [0, most] (a negative one means "no limit" in llama.cpp: `most`)."""
    value = field(body, name, int, default)
    return most if value < 0 else min(value, most)


def stop_field(body: dict[str, Any]) -> list[str]:
    """`stop`: one string or a list of strings where the suggestion is cut."""
    stops = field(body, "stop", (list, str), [])
    stops = [stops] if isinstance(stops, str) else stops
    if not all(isinstance(stop, str) for stop in stops):
        raise BadRequest("field 'stop' must be a string or a list of strings")
    return stops


def cursor_request(
    body: dict[str, Any], before: str, after: str, max_tokens: int, **more: Any
) -> CompletionRequest:
    """The request for a cursor between `before` and `after` (`max_tokens` 0: the settings'),
    with ghostwright's own `path` field naming the file for retrieval."""
    return CompletionRequest(
        before + after,
        before.count("\n"),
        len(before) - (before.rfind("\n") + 1),
        path=field(body, "path", str, ""),
        max_tokens=max_tokens or None,
        **more,
    )


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _describe(kind: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list",
        dict: "an object",
    }
    return " or ".join(names.get(k, k.__name__) for k in _kinds(kind))
