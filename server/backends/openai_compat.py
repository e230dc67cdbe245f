"""A remote OpenAI-compatible `/v1/completions` endpoint, so a team can share one bigger model.

Works with llama-server, vLLM, Ollama and llama-cpp-python's own `llama_cpp.server`. Responses are
streamed, so a superseded or cancelled request closes its connection and the server stops working
on it. Every transport failure becomes an empty suggestion plus a one-line reason.
"""

from __future__ import annotations

import json
import logging
import time

import httpx

from ghostwright.server.backends.base import (
    Alternative,
    CancelCheck,
    Generation,
    GenerationParams,
    Interruption,
    NewestWins,
    StopCheck,
)
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.prompt_formats import select_format

logger = logging.getLogger(__name__)

# Remote tokenizers are a round trip away; budgets use a conservative character estimate.
CHARS_PER_TOKEN = 3.0


class RemoteVocabulary:
    """Format detection through the server's tokenize endpoint, when it has one."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self._empty = self._length("")

    def _length(self, text: str) -> int:
        # llama-server: /tokenize; llama_cpp.server: /extras/tokenize (adds BOS, hence `_empty`).
        for path, body in (
            ("/tokenize", {"content": text, "add_special": False, "parse_special": True}),
            ("/extras/tokenize", {"input": text}),
        ):
            response = self._client.post(path, json=body)
            if response.status_code == 200:
                return len(response.json()["tokens"])
        raise GhostwrightError("the endpoint has no tokenize route")

    def is_single_token(self, text: str) -> bool:
        return self._length(text) - self._empty == 1


class OpenAICompatBackend:
    """Generation over HTTP; same interface and newest-request-wins rule as the local backend."""

    def __init__(
        self, endpoint: str, *, model: str = "", prompt_format: str = "auto", timeout_s: float = 3.0
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._model = model
        self._client = httpx.Client(base_url=self.endpoint, timeout=httpx.Timeout(timeout_s))
        self.model_name = model or self.endpoint
        self.prompt_format = select_format(prompt_format, self._vocabulary(prompt_format))
        self._requests = NewestWins()

    def _vocabulary(self, setting: str) -> RemoteVocabulary | None:
        try:
            return RemoteVocabulary(self._client) if setting != "prefix-only" else None
        except (httpx.HTTPError, GhostwrightError, ValueError, KeyError) as exc:
            if setting == "auto":
                logger.warning(
                    "cannot detect the prompt format at %s (%s); using prefix-only, "
                    "set `prompt_format` to the model's family",
                    self.endpoint,
                    exc,
                )
            return None

    def count_tokens(self, text: str) -> int:
        return int(len(text) / CHARS_PER_TOKEN) + 1

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        should_stop: StopCheck | None = None,
        should_cancel: CancelCheck | None = None,
        alternative: Alternative | None = None,
    ) -> Generation:
        interrupted = self._requests.interruption(
            self._requests.issue(params.lane), should_cancel, params.time_limit_s, params.lane
        )
        body = {
            "prompt": prompt,
            "max_tokens": params.max_tokens,
            "temperature": 0.0,
            "stream": True,
            "stop": list(self.prompt_format.stop),
        }
        if self._model:
            body["model"] = self._model
        try:
            return self._stream(body, should_stop, interrupted)
        except httpx.HTTPStatusError as exc:
            message = f"{self.endpoint} answered HTTP {exc.response.status_code}"
        except httpx.TimeoutException:
            message = f"{self.endpoint} did not answer within {params.time_limit_s:.1f} s"
        except httpx.ConnectError:
            message = f"cannot connect to {self.endpoint} (is the server running? see `endpoint`)"
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            message = f"bad response from {self.endpoint}: {exc}"
        logger.warning("%s", message)
        return Generation("", 0, 0, "error", error=message)

    def _stream(
        self, body: dict, should_stop: StopCheck | None, interrupted: Interruption
    ) -> Generation:
        started = time.perf_counter()
        text, count, reason, usage = "", 0, "length", {}
        with self._client.stream("POST", "/v1/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                usage = chunk.get("usage") or usage
                choice = chunk["choices"][0]
                text += choice.get("text", "")
                count += 1
                if choice.get("finish_reason"):
                    reason = "eos" if choice["finish_reason"] == "stop" else "length"
                    break
                if should_stop is not None and should_stop(text):
                    reason = "stop"
                    break
                if reason_now := interrupted():
                    reason = reason_now
                    break
        prompt_tokens = usage.get("prompt_tokens", self.count_tokens(body["prompt"]))
        elapsed = (time.perf_counter() - started) * 1000.0
        return Generation(text, prompt_tokens, count, reason, generate_ms=elapsed)

    def close(self) -> None:
        self._client.close()
