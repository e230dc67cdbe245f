"""One completion, start to finish: window -> prompt -> model -> post-processing.

Both the CLI and the language server call `Completer.complete`, and so does the evaluation
harness, so every number we measure is the number a user gets.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from ghostwright.indexer.secrets import contains_secret, scrub
from ghostwright.server.backends.base import Backend, CancelCheck, GenerationParams, StopCheck
from ghostwright.server.backends.calibration import MIN_COLD_WINDOW, budgets, suffix_cap
from ghostwright.server.pipeline.context import Budget, Window, build_window
from ghostwright.server.pipeline.postprocess import Hole, open_brackets, reads_as_whole, trim
from ghostwright.server.pipeline.snippets import fit_snippets
from ghostwright.server.pipeline.typed_ahead import LastSuggestion, remainder, split_at
from ghostwright.server.prompt_formats import ContextFile

if TYPE_CHECKING:
    from ghostwright.server.pipeline.retrieval import Retriever


@dataclass(frozen=True)
class CompletionOptions:
    """Pipeline settings (the config tree fills these in)."""

    budget: Budget = Budget()
    max_lines: int = 8
    max_tokens: int = 128
    time_limit_s: float = 3.0
    tab_size: int = 4
    # A visible suggestion's latency budget (0: none, as for evaluation): with a calibrated
    # backend, a request whose window cannot be evaluated in time is answered from a window
    # sized to fit it (the cold window), while the full one keeps being evaluated.
    latency_budget_ms: float = 0.0
    # Prompt tokens for snippets: the index's, then the client's own (`context_files`).
    snippet_tokens: int = 384


@dataclass(frozen=True)
class CompletionRequest:
    """A cursor in a document: 0-based line and column in code points."""

    text: str
    line: int
    column: int
    path: str = ""
    max_lines: int | None = None  # overrides CompletionOptions.max_lines
    max_tokens: int | None = None  # overrides CompletionOptions.max_tokens
    block: bool = False  # generate a whole block (comment-to-code) rather than decide per line
    time_limit_s: float | None = None  # overrides CompletionOptions.time_limit_s
    retrieval: bool = True  # add repository snippets when the completer has an index
    # Code the client sends as context (llama.cpp's `input_extra`): joins the index's snippets
    # within the same token budget.
    context_files: tuple[ContextFile, ...] = ()
    client: str = ""  # whose request: the newest wins within one client's lane


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
    evaluated_tokens: int = -1  # prompt tokens computed for it (the rest came from the cache)
    cold: bool = False  # answered from the cold window: the full one was not evaluated in time
    prompt_ms: float = 0.0  # evaluating the prompt
    generate_ms: float = 0.0  # generating after it


@dataclass(frozen=True)
class Prepared:
    """Everything decided before the model runs, and how its output will be judged."""

    prompt: str
    hole: Hole
    healed: str  # whitespace left out of the prompt that the model is expected to write

    def should_stop(self, raw: str) -> bool:
        """Generation can end: no further token would change the suggestion."""
        return trim(_strip_healed(raw, self.healed), self.hole).finished

    def finish(self, raw: str, complete: bool) -> str:
        """The suggestion for the final output; `complete` when the model ended on its own."""
        return trim(_strip_healed(raw, self.healed), self.hole, complete=complete).text


class Completer:
    """Runs the pipeline stages against one backend."""

    def __init__(
        self,
        backend: Backend,
        options: CompletionOptions | None = None,
        retriever: Retriever | None = None,
    ) -> None:
        self.backend = backend
        self.options = options or CompletionOptions()
        self.retriever = retriever
        self._count_tokens = lru_cache(maxsize=65536)(backend.count_tokens)
        self._shown: LastSuggestion | None = None  # the last suggestion, for typing along it
        budget = self.options.budget
        if retriever is not None:  # snippets take their share of the prompt
            tokens = max(64, budget.prompt_tokens - retriever.options.tokens)
            budget = replace(budget, prompt_tokens=tokens)
        self._budget = replace(budget, suffix_in_prompt=backend.prompt_format.is_fim)
        speed = getattr(backend, "speed", None)
        if speed is not None and self.options.latency_budget_ms > 0:
            cap = suffix_cap(speed, self.options.latency_budget_ms)
            self._budget = replace(self._budget, suffix_cap=cap)

    def prepare(self, request: CompletionRequest, budget: Budget | None = None) -> Prepared:
        """Window, prompt and post-processing context for `request` (no model call)."""
        budget = budget or self._budget
        if request.context_files and request.retrieval and self.retriever is None:
            # The client's snippets take the share the index's would have taken.
            tokens = max(64, budget.prompt_tokens - self.options.snippet_tokens)
            budget = replace(budget, prompt_tokens=tokens)
        window = build_window(
            request.text, request.line, request.column, budget, self._count_tokens
        )
        # A prompt ending in spaces splits tokens where training never did ("return" + " x" is
        # one token pair, "return " + "x" another): leave the spaces out, let the model write them.
        healed = window.line_prefix[len(window.line_prefix.rstrip(" \t")) :]
        prompt_prefix = window.prefix[: len(window.prefix) - len(healed)]
        hole = self._hole(request, window)
        context: list[ContextFile] = []
        if request.retrieval and not _blind(hole):
            context = self._context(request, window)
        prompt = self.backend.prompt_format.render(
            prompt_prefix, window.suffix, path=request.path, context_files=context
        )
        return Prepared(prompt, hole, healed)

    def _context(self, request: CompletionRequest, window: Window) -> list[ContextFile]:
        """The index's snippets, then as many of the client's as fit the rest of the budget
        (before them: the index's come last, nearest the cursor)."""
        found = []
        if self.retriever is not None:
            found = self.retriever.context(request.text, request.line, request.path, window)
        if not request.context_files:
            return found
        fmt = self.backend.prompt_format
        used = sum(self._count_tokens(fmt.context_cost_text(item, request.path)) for item in found)
        left = self.options.snippet_tokens - used
        own = fit_snippets(request.context_files, fmt, self._count_tokens, left, request.path)
        return [*own[::-1], *found]

    def complete(
        self, request: CompletionRequest, should_cancel: CancelCheck | None = None
    ) -> CompletionResult:
        """The suggestion for `request`; "" when there is nothing worth showing."""
        started = time.perf_counter()
        before, after = split_at(request.text, request.line, request.column)
        if not request.block:
            rest = remainder(self._shown, request.path, before, after)
            if rest is not None:
                self._shown = replace(self._shown, before=before, completion=rest)
                return self._answer(started, rest, "typed-ahead")
        self._shown = None
        prepared = self.prepare(request)
        if _blind(prepared.hole):
            return self._empty(started, "blind-suffix")
        max_tokens = request.max_tokens or self.options.max_tokens
        cold_budget, prompt_budget_ms, time_limit_s = self._plan(request)
        params = GenerationParams(max_tokens, time_limit_s, prompt_budget_ms, lane=request.client)
        cold: list[Prepared] = []

        def alternative() -> tuple[str, StopCheck]:
            # No snippets: retrieval's tokens would cost the cold request what it lacks.
            cold.append(self.prepare(replace(request, retrieval=False), cold_budget))
            return cold[0].prompt, cold[0].should_stop

        generation = self.backend.generate(
            prepared.prompt,
            params,
            prepared.should_stop,
            should_cancel,
            alternative if cold_budget is not None else None,
        )
        if generation.alternative and cold:
            prepared = cold[0]
        usable = generation.stop_reason not in ("cancelled", "superseded", "error")
        # A body cut short by time is not a body: comment-to-code never writes half of one.
        usable = usable and not (request.block and generation.stop_reason == "time")
        raw = _whole_lines(generation.text, generation.stop_reason, prepared)
        completion = prepared.finish(raw, generation.stop_reason == "eos") if usable else ""
        stop_reason, output = generation.stop_reason, generation.text
        if contains_secret(completion):
            # The window may hold a key the model copies or makes up one of the same shape:
            # neither is ever shown (nor logged, nor accepted into the file by a Tab).
            completion, stop_reason, output = "", SECRET, scrub(output)
        if completion.strip() and not request.block:
            self._shown = LastSuggestion(request.path, before, after, completion)
        return CompletionResult(
            completion=completion,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            model=self.backend.model_name,
            format=self.backend.prompt_format.name,
            prompt_tokens=generation.prompt_tokens,
            generated_tokens=generation.generated_tokens,
            stop_reason=stop_reason,
            raw=output,
            error=generation.error,
            evaluated_tokens=generation.evaluated,
            cold=generation.alternative,
            prompt_ms=generation.prompt_ms,
            generate_ms=generation.generate_ms,
        )

    def _plan(self, request: CompletionRequest) -> tuple[Budget | None, float, float]:
        """The cold window's budget (None: the full window always), the prompt's share of the
        latency budget and the time limit. The latency budget bounds an inline request as a
        whole; a code action or an unhurried caller gets the configured limit alone."""
        time_limit_s = request.time_limit_s or self.options.time_limit_s
        speed = getattr(self.backend, "speed", None)
        if speed is None or self.options.latency_budget_ms <= 0 or request.block:
            return None, 0.0, time_limit_s
        fim = self.backend.prompt_format.is_fim
        plan = budgets(speed, self.options.latency_budget_ms, fim=fim)
        time_limit_s = min(time_limit_s, plan.deadline_ms / 1000.0)
        if plan.cold_window >= self._budget.prompt_tokens:
            return None, plan.prompt_ms, time_limit_s
        cold = replace(self._budget, prompt_tokens=max(MIN_COLD_WINDOW, plan.cold_window))
        return cold, plan.prompt_ms, time_limit_s

    def _empty(self, started: float, reason: str) -> CompletionResult:
        return self._answer(started, "", reason)

    def _answer(self, started: float, completion: str, reason: str) -> CompletionResult:
        """An answer the model was not asked for."""
        latency = (time.perf_counter() - started) * 1000.0
        fmt = self.backend.prompt_format.name
        return CompletionResult(completion, latency, self.backend.model_name, fmt, 0, 0, reason)

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
            sees_suffix=self.backend.prompt_format.is_fim,
            block=request.block,
            tab_size=self.options.tab_size,
        )


def _whole_lines(raw: str, stop_reason: str, prepared: Prepared) -> str:
    """Output cut off by the token or time limit, without the line it was still writing: a
    shorter suggestion is fine, a syntactically cut one is not. A first line cut off is kept
    only when it reads as finished."""
    if stop_reason not in ("length", "time"):
        return raw
    if "\n" in raw:
        return raw[: raw.rfind("\n")]
    text = _strip_healed(raw, prepared.healed)
    healed = len(raw) - len(text)
    # The longest piece of the cut line that ends at a word or closing bracket and reads as
    # finished: "x = foo(a, b" shows "x = foo", the rest comes as the user types along it.
    for end in [len(text), *reversed([m.end() for m in WORD_END.finditer(text)])]:
        if reads_as_whole(text[:end], prepared.hole):
            return raw[: healed + end]
    return ""


# Where a cut line may end: after a name, a number, a closing bracket or a closed string.
# The stop reason of a suggestion withheld because it held a secret-shaped string.
SECRET = "secret"
WORD_END = re.compile(r"[\w)\]}'\"](?![\w])")


def _blind(hole: Hole) -> bool:
    """Code after the cursor a prefix-only model cannot see: it cannot fill a hole before it."""
    return hole.code_after_cursor and not hole.sees_suffix


def _strip_healed(raw: str, healed: str) -> str:
    """Remove the whitespace the prompt left out, which the user has already typed."""
    if not healed:
        return raw
    if raw.startswith(healed):
        return raw[len(healed) :]
    return raw.lstrip(" \t")
