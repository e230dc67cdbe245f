"""A deterministic backend for fast tests. Never selectable from user settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from ghostwright.server.backends.base import (
    Alternative,
    CancelCheck,
    Generation,
    GenerationParams,
    NewestWins,
    StopCheck,
)
from ghostwright.server.prompt_formats import PREFIX_ONLY_FORMAT, PromptFormat


class FakeBackend:
    """Streams a scripted answer character by character, honouring stop and cancel checks."""

    def __init__(
        self,
        answer: str | Callable[[str], str] = "",
        prompt_format: PromptFormat = PREFIX_ONLY_FORMAT,
        delay_s: float = 0.0,
    ) -> None:
        self._delay_s = delay_s  # per character: lets tests cancel a generation mid-way
        self._answer = answer if callable(answer) else (lambda prompt: answer)
        self.prompt_format = prompt_format
        self.model_name = "fake"
        self.prompts: list[str] = []
        self._requests = NewestWins()

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + text.count("\n")

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        should_stop: StopCheck | None = None,
        should_cancel: CancelCheck | None = None,
        alternative: Alternative | None = None,
    ) -> Generation:
        self.prompts.append(prompt)
        interrupted = self._requests.interruption(
            self._requests.issue(params.lane), should_cancel, params.time_limit_s, params.lane
        )
        answer, text, reason = self._answer(prompt), "", "eos"
        for char in answer:
            if stop := interrupted():
                return Generation("", len(prompt), len(text), stop)
            if self._delay_s:
                time.sleep(self._delay_s)
            text += char
            if should_stop is not None and should_stop(text):
                reason = "stop"
                break
            if len(text) >= params.max_tokens:
                reason = "length"
                break
        return Generation(text, self.count_tokens(prompt), len(text), reason)

    def close(self) -> None:
        pass
