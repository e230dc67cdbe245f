"""One typed, fully defaulted settings tree; every setting documents itself here.

The same field metadata drives validation, CLI help and the README's settings table. Invalid values
never crash anything: they produce one warning each and fall back to the default.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ghostwright.server.prompt_formats import format_names

BACKENDS = ("llama_cpp", "openai")


def _setting(
    default: Any, doc: str, *, choices: tuple[str, ...] = (), minimum: float | None = None
) -> Any:
    return field(default=default, metadata={"doc": doc, "choices": choices, "minimum": minimum})


def _derived(default: Any, why: str) -> Any:
    """A value ghostwright fills in from what is installed; never read from the user's config."""
    return field(default=default, metadata={"derived": why})


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure; defaults work offline with no configuration."""

    model: str = _setting(
        "auto",
        "`auto` (the best packaged tier fast enough for this machine's calibrated speed), a tier "
        "(`qwen2.5-coder-1.5b`, `qwen2.5-coder-0.5b`, `gemma-3-270m`; `default` is gemma), a path "
        "to a .gguf file, or hf:OWNER/REPO/FILE.gguf",
    )
    adapter: str = _setting(
        "", "Path to a GGUF LoRA adapter applied on top of the model (empty: none)"
    )
    draft: str = _setting(
        "off",
        "Speculative decoding for the served model: `off`, `prompt-lookup` (drafts copied from "
        "the window) or a draft model of the same vocabulary (a tier such as "
        "`qwen2.5-coder-0.5b` for the 1.5B, or a .gguf path); the output stays the model's own. "
        "On a CPU it pays only where tests/bench/speculative.py measures it faster",
    )
    backend: str = _setting(
        "llama_cpp",
        "`llama_cpp` runs the model in-process; `openai` calls an OpenAI-compatible endpoint",
        choices=BACKENDS,
    )
    endpoint: str = _setting(
        "http://127.0.0.1:8080",
        "Base URL of the OpenAI-compatible server (llama-server, vLLM, Ollama) when backend=openai",
    )
    endpoint_model: str = _setting(
        "", "Model name sent to the endpoint (empty: the server's default)"
    )
    prompt_format: str = _setting(
        "auto",
        "FIM template: `auto` detects it from the model's vocabulary",
        choices=tuple(format_names()),
    )
    threads: int = _setting(0, "CPU threads for llama.cpp; 0 = one per physical core", minimum=0)
    context_tokens: int = _setting(2048, "llama.cpp context size in tokens", minimum=256)
    prompt_tokens: int = _setting(
        1536, "Token budget for the code around the cursor (prefix and suffix)", minimum=64
    )
    max_lines: int = _setting(8, "Longest suggestion in lines (1 = single-line only)", minimum=1)
    max_tokens: int = _setting(128, "Most tokens generated for one suggestion", minimum=1)
    time_limit_ms: int = _setting(3000, "Give up on a suggestion after this many ms", minimum=50)
    latency_budget_ms: int = _setting(
        1000,
        "A suggestion should be visible within this many ms: generating a line is reserved, "
        "evaluating the prompt gets the rest; `model = auto` picks a model that fits it on this "
        "machine's calibrated speed",
        minimum=100,
    )
    retrieval: bool = _setting(
        True, "Show the model related code from the repository index (built in `.ghostwright/`)"
    )
    retrieval_tokens: int = _setting(
        384, "Token budget for repository snippets, taken from `prompt_tokens`", minimum=0
    )
    retrieval_time_ms: int = _setting(
        80, "Skip retrieval for a suggestion when it takes longer than this", minimum=1
    )
    embedder: str = _setting(
        "default", "`default` (packaged all-MiniLM-L6-v2) or a path to a GGUF embedding model"
    )
    index_include: tuple[str, ...] = _setting(
        (), "Gitignore-style patterns: when set, index only matching files"
    )
    index_exclude: tuple[str, ...] = _setting(
        (), "Gitignore-style patterns of files never to index (besides .gitignore and secrets)"
    )
    index_max_kb: int = _setting(512, "Larger files are not indexed", minimum=1)
    feedback: bool = _setting(
        True,
        "Record each suggestion shown and its outcome in `.ghostwright/feedback.sqlite3` "
        "(local only; the learning loop trains on it)",
    )
    learned_trigger: bool = _setting(
        True,
        "Skip automatic suggestions where `ghostwright feedback train-trigger` learnt they are "
        "rarely accepted (no effect until it has run)",
    )
    installed_student: str = _derived(
        "", "the folder whose current.json names a distilled student `model = auto` may pick"
    )


def user_fields() -> list[Any]:
    """The settings a user can set (documented, validated, offered to editors)."""
    return [item for item in fields(Settings) if "derived" not in item.metadata]


def setting_docs() -> list[tuple[str, str, str]]:
    """(name, default, description) for every setting, in definition order."""
    rows = []
    for item in user_fields():
        doc, choices = item.metadata["doc"], item.metadata["choices"]
        if choices:
            doc += " (one of: " + ", ".join(f"`{choice}`" for choice in choices) + ")"
        rows.append((item.name, json.dumps(item.default), doc))
    return rows


def settings_table() -> str:
    """The README's settings table, generated so it can never drift from the schema."""
    rows = ["| setting | default | description |", "|---|---|---|"]
    for name, default, doc in setting_docs():
        rows.append(f"| `{name}` | `{default}` | {doc} |")
    return "\n".join(rows)


JSON_TYPES = {bool: "boolean", int: "integer", str: "string", tuple: "array"}


def vscode_properties() -> dict[str, dict[str, Any]]:
    """`contributes.configuration.properties` for the VS Code extension, from this schema."""
    properties: dict[str, dict[str, Any]] = {}
    for item in user_fields():
        entry: dict[str, Any] = {
            "type": JSON_TYPES[type(item.default)],
            "default": list(item.default) if isinstance(item.default, tuple) else item.default,
            "markdownDescription": item.metadata["doc"],
        }
        if isinstance(item.default, tuple):
            entry["items"] = {"type": "string"}
        if item.metadata["choices"]:
            entry["enum"] = list(item.metadata["choices"])
        if item.metadata["minimum"] is not None:
            entry["minimum"] = item.metadata["minimum"]
        properties[f"ghostwright.{item.name}"] = entry
    return properties


def parse_settings(
    values: Mapping[str, Any], base: Settings | None = None
) -> tuple[Settings, list[str]]:
    """Apply `values` over `base`; unknown or invalid entries become warnings, not errors."""
    settings = base or Settings()
    known = {item.name: item for item in user_fields()}
    changes: dict[str, Any] = {}
    warnings: list[str] = []
    for name, value in values.items():
        key = name.replace("-", "_")
        if key not in known:
            warnings.append(f"unknown setting {name!r} ignored")
            continue
        problem = _check(known[key], value)
        if problem:
            default = known[key].default if known[key].default is not MISSING else None
            warnings.append(f"setting {name!r}: {problem}; using {default!r}")
            continue
        changes[key] = tuple(value) if isinstance(value, list) else value
    return replace(settings, **changes), warnings


def setting_problem(name: str, value: Any) -> str:
    """Why `value` cannot be setting `name` ("" when it can): the settings file's own rule, so a
    command-line flag and the file accept the same values."""
    return _check({item.name: item for item in user_fields()}[name], value)


def _check(item: Any, value: Any) -> str:
    expected = type(item.default)
    if expected is bool and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if expected is tuple and (
        not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value)
    ):
        return f"expected a list of strings, got {value!r}"
    if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
        return f"expected an integer, got {value!r}"
    if expected is str and not isinstance(value, str):
        return f"expected a string, got {value!r}"
    choices, minimum = item.metadata["choices"], item.metadata["minimum"]
    if choices and value not in choices:
        return f"{value!r} is not one of {', '.join(choices)}"
    if minimum is not None and value < minimum:
        return f"{value!r} is below the minimum {minimum}"
    return ""


def workspace_settings(root: Path) -> tuple[dict[str, Any], list[str]]:
    """`.ghostwright.toml`, else `[tool.ghostwright]` of pyproject.toml, in the workspace root."""
    for name, table in ((".ghostwright.toml", ()), ("pyproject.toml", ("tool", "ghostwright"))):
        path = root / name
        if not path.is_file():
            continue
        try:
            values: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            return {}, [f"{path} could not be read ({exc}); using the defaults"]
        for key in table:
            values = values.get(key, {}) if isinstance(values, dict) else {}
        if values:
            return (values, []) if isinstance(values, dict) else ({}, [f"{path}: not a table"])
    return {}, []


def project_root(start: Path) -> Path:
    """The nearest folder at or above `start` with a settings file or a .git, else `start`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any(
            (folder / name).exists() for name in (".ghostwright.toml", "pyproject.toml", ".git")
        ):
            return folder
    return start


def client_settings(value: Any) -> dict[str, Any]:
    """Editor settings arrive flat or under a `ghostwright` key; anything else is empty (Lua
    encodes an empty table as `[]`, so `{"ghostwright": []}` means no settings)."""
    if not isinstance(value, dict):
        return {}
    if "ghostwright" in value:
        nested = value["ghostwright"]
        return nested if isinstance(nested, dict) else {}
    return value


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--vscode"]:
        print(json.dumps(vscode_properties(), indent=2))
    else:
        print(settings_table())
