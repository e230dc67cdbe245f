"""One completion for an HTTP route: wait for the model, complete, and say why when empty."""

from __future__ import annotations

from dataclasses import dataclass

from ghostwright.server.body_writer import LOAD_WAIT_S
from ghostwright.server.engine import Engine
from ghostwright.server.pipeline.complete import CompletionRequest, CompletionResult

# Why a suggestion came back empty (CompletionResult.stop_reason -> the client's message).
EMPTY_BECAUSE = {
    "blind-suffix": "the model cannot see code after the cursor (a prefix-only model)",
    "time": "the model did not finish a whole line within the time limit",
    "cancelled": "the request was cancelled",
    "superseded": "a newer request from this client took its place",
    "error": "the model failed (see the server log)",
    "secret": "the suggestion held a secret-shaped string, which is never shown",
}


@dataclass(frozen=True)
class Answer:
    """The pipeline's result (None: no model, or superseded before it ran) and, when there is
    no suggestion, why."""

    result: CompletionResult | None
    why: str = ""

    @property
    def text(self) -> str:
        return self.result.completion if self.result is not None else ""


async def answer(engine: Engine, request: CompletionRequest) -> Answer:
    """A request made while the model loads waits for it, as in the editor."""
    if not await engine.wait_until_loaded(LOAD_WAIT_S):
        return Answer(None, f"no model is loaded ({engine.state})")
    result = await engine.complete_async(request)
    if result is None:
        return Answer(None, EMPTY_BECAUSE["superseded"] if engine.ready else "no model is loaded")
    if result.completion:
        return Answer(result)
    why = EMPTY_BECAUSE.get(result.stop_reason, "the model suggested nothing here")
    if result.error:
        why = f"the model failed: {result.error}"
    return Answer(result, why)


def cut_at_stops(text: str, stops: list[str]) -> tuple[str, str]:
    """`text` up to the first of `stops` it contains, and that stop ("" when none)."""
    first, word = len(text), ""
    for stop in stops:
        at = text.find(stop) if stop else -1
        if 0 <= at < first:
            first, word = at, stop
    return text[:first], word
