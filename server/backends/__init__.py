"""Model backends. `create_backend` maps user settings to a real backend only.

The fake backend in `fake.py` is for tests and is deliberately not reachable from settings.
"""

from __future__ import annotations

from dataclasses import replace

from ghostwright.server.backends.base import Backend
from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError


def create_backend(settings: Settings) -> Backend:
    """Load the model the settings name (may take seconds: assembly, download, mmap)."""
    if settings.backend == "openai":
        from ghostwright.server.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(
            settings.endpoint,
            model=settings.endpoint_model,
            prompt_format=settings.prompt_format,
            timeout_s=settings.time_limit_ms / 1000.0,
        )
    from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions
    from ghostwright.server.models import AUTO_MODEL, resolve_model
    from ghostwright.server.packaged_models import served_format, tier_named

    selection, draft = "", draft_source(settings.draft)
    if settings.model.strip() == AUTO_MODEL:
        from ghostwright.server.auto_model import choose_model, settings_for

        # A model loaded to measure it is handed over only when nothing else shapes its load.
        choice = choose_model(settings, keep_loaded=not (settings.adapter or draft))
        settings, selection = settings_for(choice, settings), choice.reason
        if choice.backend is not None:
            choice.backend.selection = selection
            return choice.backend
    elif (tier := tier_named(settings.model.strip())) is not None:
        settings = replace(settings, prompt_format=served_format(tier, settings.prompt_format))
    options = LlamaOptions(
        settings.context_tokens, settings.threads, settings.prompt_format, settings.adapter, draft
    )
    backend = LlamaCppBackend(resolve_model(settings.model), options)
    backend.selection = selection or "named in the settings"
    return backend


def draft_source(setting: str) -> str:
    """What `LlamaOptions.draft` takes for the `draft` setting: "", prompt lookup or a file."""
    from pathlib import Path

    from ghostwright.server.backends.drafting import PROMPT_LOOKUP
    from ghostwright.server.models import resolve_model
    from ghostwright.server.packaged_models import tier_named

    setting = setting.strip()
    if setting in ("", "off"):
        return ""
    if setting == PROMPT_LOOKUP:
        return PROMPT_LOOKUP
    named = tier_named(setting) is not None or setting.startswith("hf:")
    if not named and not Path(setting).expanduser().is_file():
        raise GhostwrightError(
            f"draft model not found: {setting} (set `draft` to off, {PROMPT_LOOKUP}, a packaged "
            "tier or a .gguf path)"
        )
    return str(resolve_model(setting))
