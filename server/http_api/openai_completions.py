"""OpenAI's `POST /v1/completions` with `suffix` for fill-in-the-middle (Continue and others).

`prompt` is the code before the cursor and `suffix` the code after it: ghostwright builds its own
window and prompt from them, as for the editor. With `stream`, the finished suggestion is sent
as server-sent events, a line per event, then `[DONE]`: post-processing needs the whole output
to decide where a suggestion ends, so nothing is sent before that.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ghostwright.server.http_api.answer import Answer, cut_at_stops
from ghostwright.server.http_api.fields import (
    BadRequest,
    count_field,
    cursor_request,
    field,
    stop_field,
)
from ghostwright.server.http_api.infill import MAX_PREDICT
from ghostwright.server.pipeline.complete import CompletionRequest


@dataclass(frozen=True)
class OpenAIRequest:
    request: CompletionRequest
    stops: list[str]
    stream: bool


def parse_completion(body: dict[str, Any], client: str) -> OpenAIRequest:
    prompt = field(body, "prompt", (str, list))
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise BadRequest("field 'prompt' must be a string (or a list of one string)")
        prompt = prompt[0]
    if field(body, "n", int, 1) != 1 or field(body, "best_of", int, 1) != 1:
        raise BadRequest("only one completion per request ('n' and 'best_of' must be 1)")
    if field(body, "echo", bool, False):
        raise BadRequest("'echo' is not supported")
    request = cursor_request(
        body,
        prompt,
        field(body, "suffix", str, ""),
        count_field(body, "max_tokens", 0, MAX_PREDICT),
        client=field(body, "user", str, "") or client,
    )
    return OpenAIRequest(request, stop_field(body), field(body, "stream", bool, False))


def completion_response(answer: Answer, stops: list[str], model: str) -> dict[str, Any]:
    text, finish = _text_and_finish(answer, stops)
    result = answer.result
    prompt_tokens = result.prompt_tokens if result else 0
    completion_tokens = result.generated_tokens if result else 0
    return {
        **_envelope(model),
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "ghostwright": {"why": answer.why if not text else ""},
    }


def completion_events(answer: Answer, stops: list[str], model: str) -> Iterator[str]:
    """Server-sent events: the suggestion a line at a time, the finish reason, `[DONE]`."""
    text, finish = _text_and_finish(answer, stops)
    envelope = _envelope(model)
    for piece in text.splitlines(keepends=True):
        choice = {"text": piece, "index": 0, "logprobs": None, "finish_reason": None}
        yield _event({**envelope, "choices": [choice]})
    last = {"text": "", "index": 0, "logprobs": None, "finish_reason": finish}
    yield _event(
        {**envelope, "choices": [last], "ghostwright": {"why": answer.why if not text else ""}}
    )
    yield "data: [DONE]\n\n"


def _text_and_finish(answer: Answer, stops: list[str]) -> tuple[str, str]:
    text, word = cut_at_stops(answer.text, stops)
    reason = answer.result.stop_reason if answer.result else ""
    return text, "length" if reason in ("length", "time") and not word else "stop"


def _envelope(model: str) -> dict[str, Any]:
    return {
        "id": f"cmpl-{uuid.uuid4().hex}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
    }


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"
