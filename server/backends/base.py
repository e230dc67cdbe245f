"""The narrow interface between the pipeline and a model, so tests can swap the model out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ghostwright.server.pipeline.prompts import PromptFormat

# Called with the text generated so far; True ends generation (post-processing has its answer).
StopCheck = Callable[[str], bool]
# Called between tokens; True means the caller no longer wants the answer.
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class GenerationParams:
    """How much to generate and when to give up."""

    max_tokens: int = 128
    time_limit_s: float = 3.0


@dataclass(frozen=True)
class Generation:
    """Raw model output plus the numbers the CLI, status and benchmarks report."""

    text: str
    prompt_tokens: int
    generated_tokens: int
    # eos | stop | length | time | cancelled | superseded | error
    stop_reason: str
    prompt_ms: float = 0.0
    generate_ms: float = 0.0
    error: str = ""


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
    ) -> Generation:
        """Greedy continuation of `prompt`; aborts early when a newer request arrives."""
        ...

    def close(self) -> None:
        """Free the model; the backend is unusable afterwards."""
        ...
