"""llama.cpp server's `POST /infill`, as llama.vim and llama.vscode send and read it.

The request's `input_prefix` + `prompt` (what is typed on the cursor's line) + `input_suffix` is
the document, the cursor after `prompt`; `input_extra` chunks join the index's snippets. Sampling
fields (`samplers`, `top_k`, `temperature`, ...) and llama.cpp's own timing limits
(`t_max_prompt_ms`, `t_max_predict_ms`) and `cache_prompt` are accepted; ghostwright decodes
greedily within the latency budget calibrated for this CPU and always reuses its KV cache.
"""

from __future__ import annotations

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
from ghostwright.server.pipeline.complete import CompletionRequest
from ghostwright.server.prompt_formats import ContextFile

MAX_PREDICT = 1024
MAX_EXTRA_CHUNKS = 64


@dataclass(frozen=True)
class InfillRequest:
    request: CompletionRequest
    stops: list[str]
    warm_up: bool  # n_predict 0: llama.vim sending context ahead of time; nothing to generate


def parse_infill(body: dict[str, Any], client: str) -> InfillRequest:
    before = field(body, "input_prefix", str, "") + field(body, "prompt", str, "")
    n_predict = count_field(body, "n_predict", -1, MAX_PREDICT)
    request = cursor_request(
        body,
        before,
        field(body, "input_suffix", str, ""),
        n_predict,
        context_files=tuple(_extra(field(body, "input_extra", list, []))),
        client=client,
    )
    return InfillRequest(request, stop_field(body), warm_up=n_predict == 0)


def _extra(chunks: list[Any]) -> list[ContextFile]:
    if len(chunks) > MAX_EXTRA_CHUNKS:
        raise BadRequest(f"'input_extra' holds more than {MAX_EXTRA_CHUNKS} chunks")
    files = []
    for chunk in chunks:
        if not isinstance(chunk, dict):
            raise BadRequest("each 'input_extra' chunk must be an object with 'text'")
        text = field(chunk, "text", str)
        if text.strip():
            files.append(ContextFile(field(chunk, "filename", str, ""), text))
    return files


def infill_response(answer: Answer, stops: list[str], model: str) -> dict[str, Any]:
    """llama.cpp's response shape: `content`, `stop`, `timings`, `tokens_cached`, ..."""
    result = answer.result
    content, word = cut_at_stops(answer.text, stops)
    prompt_n = result.prompt_tokens if result else 0
    evaluated = result.evaluated_tokens if result and result.evaluated_tokens >= 0 else prompt_n
    predicted_n = result.generated_tokens if result else 0
    prompt_ms = result.prompt_ms if result else 0.0
    predicted_ms = result.generate_ms if result else 0.0
    reason = result.stop_reason if result else "none"
    response = {
        "index": 0,
        "content": content,
        "tokens": [],
        "id_slot": 0,
        "stop": True,
        "model": model,
        "tokens_predicted": predicted_n,
        "tokens_evaluated": prompt_n,
        "has_new_line": "\n" in content,
        "truncated": False,
        "stop_type": "word" if word else ("limit" if reason in ("length", "time") else "eos"),
        "stopping_word": word,
        "tokens_cached": max(0, prompt_n - evaluated),
        "timings": {
            "cache_n": max(0, prompt_n - evaluated),
            "prompt_n": evaluated,
            "prompt_ms": prompt_ms,
            "prompt_per_token_ms": prompt_ms / evaluated if evaluated else 0.0,
            "prompt_per_second": 1000.0 * evaluated / prompt_ms if prompt_ms else 0.0,
            "predicted_n": predicted_n,
            "predicted_ms": predicted_ms,
            "predicted_per_token_ms": predicted_ms / predicted_n if predicted_n else 0.0,
            "predicted_per_second": 1000.0 * predicted_n / predicted_ms if predicted_ms else 0.0,
        },
        # Ours: what the pipeline did, and why there is no suggestion when there is none.
        "ghostwright": {
            "stop_reason": reason,
            "latency_ms": round(result.latency_ms, 1) if result else 0.0,
            "cold": bool(result and result.cold),
            "why": answer.why if not content else "",
        },
    }
    return response


def select_fields(response: dict[str, Any], fields: list[Any]) -> dict[str, Any]:
    """llama.cpp's `response_fields`: only these, each a path (`timings/prompt_n`) kept as the
    key it was asked by; paths that do not exist are left out."""
    chosen: dict[str, Any] = {}
    for path in fields:
        if not isinstance(path, str):
            raise BadRequest("'response_fields' must be a list of strings")
        value: Any = response
        for part in path.split("/"):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            chosen[path] = value
    return chosen
