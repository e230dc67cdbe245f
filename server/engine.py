"""Build a ready Completer from settings, and release the model afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ghostwright.server.backends import create_backend
from ghostwright.server.config import Settings
from ghostwright.server.pipeline.complete import Completer, CompletionOptions
from ghostwright.server.pipeline.context import Budget


def completion_options(settings: Settings) -> CompletionOptions:
    """The pipeline part of the settings tree."""
    return CompletionOptions(
        budget=Budget(
            prompt_tokens=min(settings.prompt_tokens, settings.context_tokens - settings.max_tokens)
        ),
        max_lines=settings.max_lines,
        max_tokens=settings.max_tokens,
        time_limit_s=settings.time_limit_ms / 1000.0,
    )


@contextmanager
def open_completer(settings: Settings) -> Iterator[Completer]:
    """A Completer over the configured backend; the model is closed on exit."""
    backend = create_backend(settings)
    try:
        yield Completer(backend, completion_options(settings))
    finally:
        backend.close()
