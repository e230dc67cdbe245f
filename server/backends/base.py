"""The narrow interface between the pipeline and a model, so tests can swap the model out."""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ghostwright.server.prompt_formats import PromptFormat

# Called with the text generated so far; True ends generation (post-processing has its answer).
StopCheck = Callable[[str], bool]
# Called between tokens; True means the caller no longer wants the answer.
CancelCheck = Callable[[], bool]
# Called between steps of one generation: why to stop now ("superseded", "cancelled", "time") or "".
Interruption = Callable[[], str]
# Clients remembered for newest-wins; more than this many at once are not told apart.
MAX_LANES = 256


@dataclass(frozen=True)
class GenerationParams:
    """How much to generate and when to give up."""

    max_tokens: int = 128
    time_limit_s: float = 3.0
    # Prompt evaluation this request may spend before its first token (0: no budget). A prompt
    # that needs longer is answered from the `alternative` prompt, if the caller gave one.
    prompt_budget_ms: float = 0.0
    # Whose request this is: the newest request wins within one client's lane, never across
    # lanes (the LSP server has one editor; the HTTP face may serve several).
    lane: str = ""


@dataclass(frozen=True)
class Generation:
    """Raw model output plus the numbers the CLI, status and benchmarks report."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    # eos | stop | length | time | cancelled | superseded | empty | error
    stop_reason: str
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    error: str = ""
    # Prompt tokens actually computed (the rest came from the KV cache); -1 when not known.
    evaluated: int = -1
    alternative: bool = False  # answered from the alternative (shorter, cold) prompt


# Builds a shorter prompt and its stop check, for when the full prompt cannot be evaluated in
# time: called only then, so a warm request never pays for a second window.
Alternative = Callable[[], tuple[str, StopCheck | None]]


class Backend(Protocol):
    """A loaded model. Implementations are thread-safe and let the newest request win."""

    model_name: str
    prompt_format: PromptFormat

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in a prompt (no BOS)."""
        ...

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        should_stop: StopCheck | None = None,
        should_cancel: CancelCheck | None = None,
        alternative: Alternative | None = None,
    ) -> Generation:
        """Greedy continuation of `prompt`; aborts early when a newer request arrives.

        A backend that knows its speed may answer from `alternative` when `prompt` would not
        be evaluated within `params.prompt_budget_ms` (and says so in the result); the others
        ignore it."""
        ...

    def close(self) -> None:
        """Free the model; the backend is unusable afterwards."""
        ...


class NewestWins:
    """Newest request wins: issuing a ticket makes every older ticket of its lane stale.

    Editors fire a request per keystroke; only the latest one can still be shown, so older ones
    stop at their next check (and one that has not started yet never runs). Each client has a
    lane of its own: one editor's keystroke never cancels another editor's request.
    """

    def __init__(self) -> None:
        self._tickets = itertools.count(1)
        self._latest = 0
        self._latest_in: OrderedDict[str, int] = OrderedDict()

    def issue(self, lane: str = "") -> int:
        self._latest = ticket = next(self._tickets)
        self._latest_in[lane] = ticket
        self._latest_in.move_to_end(lane)
        while len(self._latest_in) > MAX_LANES:  # a forgotten lane's requests simply run
            self._latest_in.popitem(last=False)
        return ticket

    @property
    def latest(self) -> int:
        """The newest ticket issued in any lane (background work stops once one exists)."""
        return self._latest

    def is_latest(self, ticket: int, lane: str = "") -> bool:
        return self._latest_in.get(lane, ticket) == ticket

    def interruption(
        self, ticket: int, should_cancel: CancelCheck | None, time_limit_s: float, lane: str = ""
    ) -> Interruption:
        """The check a generation with `ticket` runs between steps; the time cap starts now."""
        deadline = time.perf_counter() + time_limit_s

        def interrupted() -> str:
            if not self.is_latest(ticket, lane):
                return "superseded"
            if should_cancel is not None and should_cancel():
                return "cancelled"
            return "time" if time.perf_counter() > deadline else ""

        return interrupted
