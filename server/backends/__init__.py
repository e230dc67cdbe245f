"""Model backends. `create_backend` maps user settings to a real backend only.

The fake backend in `fake.py` is for tests and is deliberately not reachable from settings.
"""

from __future__ import annotations

from ghostwright.server.backends.base import Backend
from ghostwright.server.config import Settings


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
    from ghostwright.server.models import resolve_model

    options = LlamaOptions(
        settings.context_tokens, settings.threads, settings.prompt_format, settings.adapter
    )
    return LlamaCppBackend(resolve_model(settings.model), options)
