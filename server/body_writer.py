"""Comment/docstring -> code over the engine: a complete body or the reason there is none.

One rule for every face of the server: the LSP code action and the HTTP route both write what
`write_body` returns, and say its `why` when it wrote nothing (never a cut-off body, never
silence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ghostwright.server.pipeline.comment_to_code import (
    GenerationSite,
    complete_body,
    generation_request,
    replacement,
)

if TYPE_CHECKING:
    from ghostwright.server.engine import Engine

BLOCK_MAX_LINES = 40
BLOCK_MAX_TOKENS = 384
# The user asked for a body and waits for it: a keystroke's time limit would cut it short (a
# 1.5B model writes about 30 tokens/s on 2 cores). A body cut by this limit is not written.
BLOCK_TIME_LIMIT_S = 90.0
# How long a request made during start-up waits for the model (a first start that calibrates
# the CPU takes about a minute on 2 slow cores).
LOAD_WAIT_S = 300.0
# Why nothing was written, in the user's words (CompletionResult.stop_reason -> message).
NOTHING_WRITTEN = {
    "time": f"the model did not finish within {BLOCK_TIME_LIMIT_S:.0f} s",
    "superseded": "a newer request took its place",
    "cancelled": "it was cancelled",
    "error": "the model failed (see the log)",
    "no-model": "no model is loaded",
    "secret": "the body held a secret-shaped string, which is never written",
}


@dataclass(frozen=True)
class WrittenBody:
    """What replaces the site's lines ("" when nothing is written) and why not."""

    text: str
    why: str = ""


async def write_body(
    engine: Engine,
    lines: list[str],
    site: GenerationSite,
    path: str,
    language: str,
    client: str = "",
) -> WrittenBody:
    """The generated body for `site`, complete (it parses where we have a parser), or a reason."""
    request = generation_request(lines, site, path, BLOCK_MAX_LINES, BLOCK_MAX_TOKENS)
    request = replace(request, time_limit_s=BLOCK_TIME_LIMIT_S, client=client)
    if not await engine.wait_until_loaded(LOAD_WAIT_S):
        return WrittenBody("", NOTHING_WRITTEN["no-model"])
    result = await engine.complete_async(request)
    if result is None:
        return WrittenBody("", NOTHING_WRITTEN["superseded" if engine.ready else "no-model"])
    complete = complete_body(site, result.completion, language)
    if complete.strip():
        return WrittenBody(replacement(site, complete))
    if result.completion.strip():
        return WrittenBody(
            "", "the model wrote no complete code for it (what it wrote does not parse)"
        )
    return WrittenBody(
        "", NOTHING_WRITTEN.get(result.stop_reason, "the model suggested nothing for it")
    )
