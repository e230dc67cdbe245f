"""A deterministic backend for fast tests. Never selectable from user settings."""

from __future__ import annotations

from collections.abc import Callable

from ghostwright.server.backends.base import CancelCheck, Generation, GenerationParams, StopCheck
from ghostwright.server.pipeline.prompts import PREFIX_ONLY_FORMAT, PromptFormat


class FakeBackend:
    """Streams a scripted answer character by character, honouring stop and cancel checks."""

    def __init__(
        self,
        answer: str | Callable[[str], str] = "",
        prompt_format: PromptFormat = PREFIX_ONLY_FORMAT,
    ) -> None:
        self._answer = answer if callable(answer) else (lambda prompt: answer)
        self.prompt_format = prompt_format
        self.model_name = "fake"
        self.prompts: list[str] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + text.count("\n")

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        should_stop: StopCheck | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Generation:
        self.prompts.append(prompt)
        answer, text, reason = self._answer(prompt), "", "eos"
        for char in answer:
            if should_cancel is not None and should_cancel():
                return Generation("", len(prompt), len(text), "cancelled")
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
