"""One completion, start to finish: window -> prompt -> model -> post-processing.

Both the CLI and the language server call `Completer.complete`, and so does the evaluation
harness, so every number we measure is the number a user gets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

from ghostwright.server.backends.base import Backend, CancelCheck, GenerationParams
from ghostwright.server.pipeline.context import Budget, Window, build_window
from ghostwright.server.pipeline.postprocess import Hole, open_brackets, trim


@dataclass(frozen=True)
class CompletionOptions:
    """Pipeline settings (the config tree fills these in)."""

    budget: Budget = Budget()
    max_lines: int = 8
    max_tokens: int = 128
    time_limit_s: float = 3.0
    tab_size: int = 4


@dataclass(frozen=True)
class CompletionRequest:
    """A cursor in a document: 0-based line and column in code points."""

    text: str
    line: int
    column: int
    path: str = ""
    max_lines: int | None = None  # overrides CompletionOptions.max_lines


@dataclass(frozen=True)
class CompletionResult:
    """The suggestion (possibly empty) and what it cost."""

    completion: str
    latency_ms: float
    model: str
    format: str
    prompt_tokens: int
    generated_tokens: int
    stop_reason: str
    raw: str = ""
    error: str = ""


class Completer:
    """Runs the pipeline stages against one backend."""

    def __init__(self, backend: Backend, options: CompletionOptions | None = None) -> None:
        self.backend = backend
        self.options = options or CompletionOptions()
        self._count_tokens = lru_cache(maxsize=65536)(backend.count_tokens)

    def complete(
        self, request: CompletionRequest, should_cancel: CancelCheck | None = None
    ) -> CompletionResult:
        """The suggestion for `request`; "" when there is nothing worth showing."""
        started = time.perf_counter()
        window = build_window(
            request.text, request.line, request.column, self.options.budget, self._count_tokens
        )
        hole = self._hole(request, window)
        # A prompt ending in spaces splits tokens where training never did ("return" + " x" is
        # one token pair, "return " + "x" another): leave the spaces out, let the model write them.
        healed = window.line_prefix[len(window.line_prefix.rstrip(" \t")) :]
        prompt_prefix = window.prefix[: len(window.prefix) - len(healed)]
        prompt = self.backend.prompt_format.render(prompt_prefix, window.suffix, path=request.path)

        def finish(raw: str) -> str:
            return trim(_strip_healed(raw, healed), hole).text

        def should_stop(raw: str) -> bool:
            return trim(_strip_healed(raw, healed), hole).finished

        params = GenerationParams(self.options.max_tokens, self.options.time_limit_s)
        generation = self.backend.generate(prompt, params, should_stop, should_cancel)
        usable = generation.stop_reason not in ("cancelled", "superseded", "error")
        return CompletionResult(
            completion=finish(generation.text) if usable else "",
            latency_ms=(time.perf_counter() - started) * 1000.0,
            model=self.backend.model_name,
            format=self.backend.prompt_format.name,
            prompt_tokens=generation.prompt_tokens,
            generated_tokens=generation.generated_tokens,
            stop_reason=generation.stop_reason,
            raw=generation.text,
            error=generation.error,
        )

    def _hole(self, request: CompletionRequest, window: Window) -> Hole:
        prefix_lines = window.prefix.split("\n")[:-1]
        suffix_lines = window.suffix.split("\n")[1:]
        max_lines = request.max_lines if request.max_lines is not None else self.options.max_lines
        return Hole(
            line_prefix=window.line_prefix,
            line_suffix=window.line_suffix,
            previous_line=next((row for row in reversed(prefix_lines) if row.strip()), ""),
            next_line=next((row for row in suffix_lines if row.strip()), ""),
            open_brackets=open_brackets(window.prefix),
            max_lines=max_lines,
            tab_size=self.options.tab_size,
        )


def _strip_healed(raw: str, healed: str) -> str:
    """Remove the whitespace the prompt left out, which the user has already typed."""
    if not healed:
        return raw
    if raw.startswith(healed):
        return raw[len(healed) :]
    return raw.lstrip(" \t")
