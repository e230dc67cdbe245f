"""The model subsystem: settings -> backend -> Completer, with a lifecycle of its own.

The CLI opens one for a single completion (`open_completer`); the language server keeps an
`Engine` that loads in the background, serves completions on worker threads (newest request
wins), reloads on demand and reports its state. A failing load never takes the server down: the
engine reports the failure and completions come back empty.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from ghostwright.server.backend_reports import draft_report, speed_report
from ghostwright.server.backends import create_backend
from ghostwright.server.backends.base import Backend, CancelCheck, NewestWins
from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.percentiles import percentile
from ghostwright.server.pipeline.complete import (
    Completer,
    CompletionOptions,
    CompletionRequest,
    CompletionResult,
)
from ghostwright.server.pipeline.context import Budget

if TYPE_CHECKING:
    from ghostwright.indexer.service import IndexService

logger = logging.getLogger(__name__)

BackendFactory = Callable[[Settings], Backend]
RECENT_LATENCIES = 200
# Settings that need a new backend; the rest only change the pipeline options.
BACKEND_SETTINGS = (
    "model",
    "adapter",
    "backend",
    "endpoint",
    "endpoint_model",
    "prompt_format",
    "threads",
    "context_tokens",
)
# Quality measurements (eval, training gates) and the one-shot CLI have no next keystroke to make
# way for: no time limit may cut their cases. Ten minutes means stuck, not slow.
UNHURRIED_MS = 600_000


def unhurried(settings: Settings) -> Settings:
    """`settings` for a caller that waits for the whole answer (latency is still reported)."""
    return replace(settings, time_limit_ms=UNHURRIED_MS)


def completion_options(settings: Settings) -> CompletionOptions:
    """The pipeline part of the settings tree."""
    budget = min(settings.prompt_tokens, settings.context_tokens - settings.max_tokens)
    unhurried_settings = settings.time_limit_ms >= UNHURRIED_MS
    return CompletionOptions(
        budget=Budget(prompt_tokens=budget),
        max_lines=settings.max_lines,
        max_tokens=settings.max_tokens,
        time_limit_s=settings.time_limit_ms / 1000.0,
        # Waiting for the whole answer means the whole window too.
        latency_budget_ms=0 if unhurried_settings else settings.latency_budget_ms,
        snippet_tokens=settings.retrieval_tokens,
    )


def build_completer(
    backend: Backend,
    settings: Settings,
    index: IndexService | None = None,
    *,
    retrieval_budget_s: float | None = None,
) -> Completer:
    """The pipeline over `backend`, with retrieval when an index is given and enabled."""
    retriever = None
    if index is not None and settings.retrieval and settings.retrieval_tokens > 0:
        from ghostwright.server.indexing.workspace import retriever_for

        retriever = retriever_for(index, backend, settings, time_budget_s=retrieval_budget_s)
    return Completer(backend, completion_options(settings), retriever)


@contextmanager
def open_completer(
    settings: Settings,
    index: IndexService | None = None,
    *,
    retrieval_budget_s: float | None = None,
) -> Iterator[Completer]:
    """A Completer over the configured backend; the model is closed on exit."""
    backend = create_backend(settings)
    completer = build_completer(backend, settings, index, retrieval_budget_s=retrieval_budget_s)
    try:
        yield completer
    finally:
        if completer.retriever is not None:
            completer.retriever.close()
        backend.close()


class Engine:
    """A loaded model behind the language server."""

    def __init__(self, settings: Settings, backend_factory: BackendFactory = create_backend):
        self.settings = settings
        self._factory = backend_factory
        self._completer: Completer | None = None
        self._swap = threading.Lock()
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ghostwright-req")
        self._requests = NewestWins()  # per client lane, as the backend decides too
        self.latencies: deque[float] = deque(maxlen=RECENT_LATENCIES)
        self.last: dict | None = None  # what the latest answered request cost
        self.state = "not loaded"
        self.index: IndexService | None = None

    @property
    def ready(self) -> bool:
        return self._completer is not None

    async def wait_until_loaded(self, timeout_s: float, poll_s: float = 0.05) -> bool:
        """Whether a model is ready, waiting up to `timeout_s` while one is being loaded."""
        deadline = time.monotonic() + timeout_s
        while not self.ready and self.state in ("not loaded", "loading"):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll_s)
        return self.ready

    def load(
        self, settings: Settings | None = None, keep: Callable[[], bool] | None = None
    ) -> bool:
        """(Re)build the backend from `settings`; the old model serves until the new one is up.

        `keep` is asked once the new model is loaded: False (the user cancelled) discards it and
        leaves the old one in place. Returns whether the new model was installed.
        """
        settings = settings or self.settings
        previous_state = self.state
        self.state = "loading"
        try:
            backend = self._factory(settings)
        except GhostwrightError as exc:
            self.state = f"failed: {exc}"
            raise
        except Exception as exc:  # an unexpected failure must not take the server down
            logger.exception("model load failed")
            self.state = f"failed: {exc}"
            raise GhostwrightError(str(exc)) from exc
        if keep is not None and not keep():
            backend.close()
            self.state = previous_state
            return False
        with self._swap:
            old = self._completer
            self._completer = build_completer(backend, settings, self.index)
            self.settings = settings
        _close_retriever(old)
        self.state = "ready"
        if old is not None:
            old.backend.close()
        return True

    def apply(self, settings: Settings) -> bool:
        """New settings; returns True when the model must be reloaded for them to apply."""
        needs_backend = any(
            getattr(settings, name) != getattr(self.settings, name) for name in BACKEND_SETTINGS
        )
        if needs_backend:
            return True
        self._rebuild(settings)
        return False

    def attach_index(self, index: IndexService | None) -> None:
        """Use `index` for retrieval from now on (None: complete without it)."""
        self.index = index
        self._rebuild(self.settings)

    def _rebuild(self, settings: Settings) -> None:
        """A new pipeline over the same backend (settings or index changed)."""
        with self._swap:
            self.settings = settings
            old = self._completer
            if old is not None:
                self._completer = build_completer(old.backend, settings, self.index)
        _close_retriever(old)

    def submit(
        self, request: CompletionRequest, should_cancel: CancelCheck | None = None
    ) -> Future[CompletionResult | None]:
        """Complete on a worker thread; a request superseded before it starts never runs."""
        ticket = self._requests.issue(request.client)
        return self._workers.submit(self._complete, ticket, request, should_cancel)

    async def complete_async(self, request: CompletionRequest) -> CompletionResult | None:
        """The result for an async caller (None when superseded or no model); cancelling it
        stops the model."""
        cancelled = threading.Event()
        try:
            result = await asyncio.wrap_future(self.submit(request, cancelled.is_set))
        except asyncio.CancelledError:
            cancelled.set()  # $/cancelRequest or shutdown: the worker stops at its next check
            raise
        return result

    def prefill(self, request: CompletionRequest) -> bool:
        """Evaluate the prompt `request` would have, in the background, so the first real
        request there finds it warm (llama.vim's idea). False when the backend cannot."""
        completer = self._completer
        if completer is None or not hasattr(completer.backend, "warm"):
            return False
        self._workers.submit(self._prefill, completer, request)
        return True

    @staticmethod
    def _prefill(completer: Completer, request: CompletionRequest) -> None:
        try:
            # The very prompt a request here would send, snippets included: a prefix that
            # differed anywhere (the repo-level header comes first) would be of no use.
            completer.backend.warm(completer.prepare(request).prompt)
        except Exception:  # a prefill is a favour: it must never break anything
            logger.exception("prefill failed")

    def _complete(
        self, ticket: int, request: CompletionRequest, should_cancel: CancelCheck | None
    ) -> CompletionResult | None:
        completer = self._completer
        if completer is None or not self._requests.is_latest(ticket, request.client):
            return None
        if should_cancel is not None and should_cancel():
            return None
        result = completer.complete(request, should_cancel)
        logger.debug(
            "completion: %.0f ms, %d prompt tokens, %d generated, %s",
            result.latency_ms,
            result.prompt_tokens,
            result.generated_tokens,
            result.stop_reason,
        )
        if result.stop_reason not in ("cancelled", "superseded", "blind-suffix"):
            self.latencies.append(result.latency_ms)
            self.last = {
                "prompt_tokens": result.prompt_tokens,
                "evaluated_tokens": result.evaluated_tokens,
                "cold": result.cold,
                "latency_ms": round(result.latency_ms, 1),
                "stop_reason": result.stop_reason,
            }
        if result.error:
            logger.warning("completion failed: %s", result.error)
        return result

    def status(self) -> dict:
        """Model, format, adapter, state and recent latency percentiles."""
        completer = self._completer
        recent = list(self.latencies)

        def at(share: float) -> float | None:
            return round(percentile(recent, share), 1) if recent else None

        backend = completer.backend if completer else None
        return {
            "state": self.state,
            "model": backend.model_name if backend else None,
            "format": backend.prompt_format.name if backend else None,
            "adapter": self.settings.adapter or None,
            "backend": self.settings.backend,
            "selection": getattr(backend, "selection", None) or None,
            "speed": speed_report(backend, self.settings) if backend else None,
            "latency_ms": {"p50": at(0.5), "p95": at(0.95), "count": len(recent)},
            "last_request": self.last,
            "background": dict(getattr(backend, "background", None) or {}) or None,
            "draft": draft_report(backend, self.settings) if backend else None,
        }

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
        with self._swap:
            completer, self._completer = self._completer, None
        if completer is not None:
            _close_retriever(completer)
            completer.backend.close()
        self.state = "closed"


def _close_retriever(completer: Completer | None) -> None:
    if completer is not None and completer.retriever is not None:
        completer.retriever.close()
