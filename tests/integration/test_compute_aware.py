"""Budgets on the real model: a cold request is answered from a window that fits, the full window
keeps being evaluated in the background, and the next request finds it warm. No timings are
asserted: the budget is set from this machine's own calibration, so the same path runs on any CPU.
"""

from __future__ import annotations

import sysconfig
from dataclasses import replace
from pathlib import Path

import pytest

from ghostwright.server.backends.calibration import budgets
from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions
from ghostwright.server.pipeline.complete import Completer, CompletionOptions, CompletionRequest
from ghostwright.server.pipeline.context import Budget

pytestmark = pytest.mark.model
COLD_WINDOW = 300  # tokens a cold request may evaluate, whatever this CPU's speed


def long_document(before: int = 1990) -> tuple[str, int, int]:
    """About 2,000 lines of real code (standard-library sources) and a cursor after the last
    `return ` above line `before`."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lines: list[str] = []
    for name in ("argparse.py", "textwrap.py", "configparser.py"):
        lines += (stdlib / name).read_text().split("\n")
    lines = lines[:2000]
    line = max(i for i, row in enumerate(lines) if row.strip().startswith("return ") and i < before)
    column = lines[line].index("return ") + len("return ")
    lines[line] = lines[line][:column]
    return "\n".join(lines), line, column


@pytest.fixture(scope="module")
def backend(default_model_path):
    loaded = LlamaCppBackend(default_model_path, LlamaOptions(threads=0))
    yield loaded
    loaded.close()


def completer_for(backend, **options) -> Completer:
    """A budget whose cold window is COLD_WINDOW tokens at this machine's calibrated speed."""
    speed = backend.speed
    budget_ms = speed.generate_ms(12) + speed.prompt_ms(COLD_WINDOW)
    assert budgets(speed, budget_ms).cold_window in range(COLD_WINDOW - 2, COLD_WINDOW + 2)
    defaults = {"budget": Budget(prompt_tokens=1536), "max_lines": 1, "time_limit_s": 120}
    return Completer(backend, CompletionOptions(latency_budget_ms=budget_ms, **defaults | options))


def test_a_cold_request_on_a_long_document_is_answered_then_the_window_is_warm(backend):
    text, line, column = long_document()
    request = CompletionRequest(text, line, column, path="long.py")
    completer = completer_for(backend)
    first = completer.complete(request)
    assert first.cold and first.completion.strip(), first
    assert first.evaluated_tokens <= COLD_WINDOW + 16  # only the cold window was evaluated
    backend.settle()  # the user paused: the full window was evaluated in the background
    second = completer.complete(request)
    assert not second.cold and second.completion.strip(), second
    assert second.prompt_tokens > 1000 and second.evaluated_tokens < 32  # the full window, warm


def test_a_request_that_ran_out_of_time_leaves_its_work_for_the_next(backend):
    text, line, column = long_document(before=1000)  # a window the cache has not seen
    request = CompletionRequest(text, line, column, path="long.py")
    hurried = replace(completer_for(backend).options, latency_budget_ms=0, time_limit_s=0.05)
    timed_out = Completer(backend, hurried).complete(request)
    assert timed_out.stop_reason == "time" and timed_out.completion == ""
    backend.settle()
    unhurried = Completer(backend, replace(hurried, time_limit_s=120))
    again = unhurried.complete(request)
    assert again.completion.strip() and again.evaluated_tokens < 32, again
