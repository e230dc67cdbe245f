"""The pipeline end to end over the fake backend: prompts, healing, gating, cancellation."""

from __future__ import annotations

import pytest

from ghostwright.server.backends.base import Generation
from ghostwright.server.backends.calibration import Speed
from ghostwright.server.backends.fake import FakeBackend
from ghostwright.server.pipeline.complete import Completer, CompletionOptions, CompletionRequest
from ghostwright.server.prompt_formats import PromptFormat

QWEN = PromptFormat("qwen2.5-coder", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
TEXT = "def area(w, h):\n    return \n\nprint(area(2, 3))\n"


def test_prefix_only_prompt_leaves_out_trailing_spaces_and_strips_them_back():
    backend = FakeBackend(" w * h\n")
    result = Completer(backend).complete(CompletionRequest(TEXT, 1, 11))
    assert backend.prompts == ["def area(w, h):\n    return"]
    assert result.completion == "w * h"
    assert result.model == "fake" and result.format == "prefix-only"


def test_fim_prompt_carries_the_suffix():
    backend = FakeBackend("w * h", prompt_format=QWEN)
    result = Completer(backend).complete(CompletionRequest(TEXT, 1, 11))
    assert backend.prompts == [
        "<|fim_prefix|>def area(w, h):\n    return<|fim_suffix|>\n\nprint(area(2, 3))\n"
        "<|fim_middle|>"
    ]
    assert result.completion == "w * h"


def test_blank_line_indentation_is_written_by_the_model():
    backend = FakeBackend("    return w * h\n")
    result = Completer(backend).complete(CompletionRequest("def area(w, h):\n    \n", 1, 4))
    assert backend.prompts == ["def area(w, h):\n"]
    assert result.completion == "return w * h"


def test_blind_model_is_not_asked_to_fill_before_code():
    backend = FakeBackend("anything")
    result = Completer(backend).complete(CompletionRequest("x = foo(a, b)\n", 0, 4))
    assert backend.prompts == [] and result.completion == ""
    assert result.stop_reason == "blind-suffix"


def test_fim_model_fills_before_code():
    backend = FakeBackend("bar(", prompt_format=QWEN)
    result = Completer(backend).complete(CompletionRequest("x = foo(a, b))\n", 0, 4))
    assert result.completion == "bar("


def test_generation_stops_as_soon_as_the_answer_is_known():
    backend = FakeBackend(" w * h\n" + "junk " * 100)
    result = Completer(backend).complete(CompletionRequest(TEXT, 1, 11))
    assert result.stop_reason == "stop" and result.generated_tokens == len(" w * h\n")


def test_cancelled_request_returns_nothing():
    backend = FakeBackend(" w * h\n")
    result = Completer(backend).complete(CompletionRequest(TEXT, 1, 11), should_cancel=lambda: True)
    assert result.completion == "" and result.stop_reason == "cancelled"


def test_request_max_lines_overrides_the_option():
    backend = FakeBackend("a = 1\nb = 2\nc = 3\n")
    request = CompletionRequest("x = 0\n\n", 1, 0, max_lines=1)
    assert Completer(backend).complete(request).completion == "a = 1"


class TimedOut(FakeBackend):
    """A model that ran out of time two lines into its answer."""

    def generate(self, prompt, params, should_stop=None, should_cancel=None, alternative=None):
        self.limits = getattr(self, "limits", []) + [params.time_limit_s]
        return Generation("total = 0\n    for item in items:\n        total +=", 10, 12, "time")


def test_a_body_cut_by_time_is_never_written_but_a_line_may_be_shown():
    backend = TimedOut()
    completer = Completer(backend, CompletionOptions(time_limit_s=3.0))
    text = "def total(items):\n    \n"
    body = completer.complete(CompletionRequest(text, 1, 4, block=True, time_limit_s=90.0))
    assert body.completion == "" and body.stop_reason == "time"
    assert backend.limits == [90.0]  # the code action's own limit, not a keystroke's
    inline = completer.complete(CompletionRequest(text, 1, 4, max_lines=4))
    assert inline.completion.startswith("total = 0") and backend.limits[-1] == 3.0
    assert "total +=" not in inline.completion  # the cut line is dropped, whole lines stay


def test_typing_along_a_suggestion_shows_the_rest_without_asking_the_model():
    backend = FakeBackend(" w * h\n")
    completer = Completer(backend)
    assert completer.complete(CompletionRequest(TEXT, 1, 11)).completion == "w * h"
    typed = TEXT.replace("return \n", "return w *\n")
    along = completer.complete(CompletionRequest(typed, 1, 14))
    assert along.completion == " h" and along.stop_reason == "typed-ahead"
    assert len(backend.prompts) == 1  # the model was asked once
    other = TEXT.replace("return \n", "return x\n")  # not what it said: the model is asked
    assert completer.complete(CompletionRequest(other, 1, 12)).stop_reason != "typed-ahead"
    assert len(backend.prompts) == 2


def test_a_suggestion_is_not_reused_after_an_edit_elsewhere_or_in_another_file():
    backend = FakeBackend(" w * h\n")
    completer = Completer(backend)
    completer.complete(CompletionRequest(TEXT, 1, 11, path="a.py"))
    typed = TEXT.replace("return \n", "return w\n")
    assert completer.complete(CompletionRequest(typed, 1, 12, path="b.py")).stop_reason != (
        "typed-ahead"
    )
    completer.complete(CompletionRequest(TEXT, 1, 11, path="a.py"))
    edited = typed.replace("area(2, 3)", "area(4, 3)")  # the text after the cursor changed
    assert completer.complete(CompletionRequest(edited, 1, 12, path="a.py")).stop_reason != (
        "typed-ahead"
    )
    assert len(backend.prompts) == 4


def test_the_latency_budget_bounds_an_inline_request_but_not_a_code_action():
    backend = TimedOut()
    backend.speed = Speed(prompt_tps=200.0, generate_tps=40.0)  # a calibrated model
    completer = Completer(backend, CompletionOptions(time_limit_s=3.0, latency_budget_ms=800))
    text = "def total(items):\n    \n"
    completer.complete(CompletionRequest(text, 1, 4))
    assert backend.limits == [pytest.approx(0.8)]
    completer.complete(CompletionRequest(text, 1, 4, block=True, time_limit_s=90.0))
    assert backend.limits[-1] == 90.0


class CutShort(FakeBackend):
    """A model whose only line ran out of time in the middle of a call."""

    def generate(self, prompt, params, should_stop=None, should_cancel=None, alternative=None):
        return Generation(" total = compute(items, ", 10, 6, "time")


def test_a_first_line_cut_by_time_keeps_its_longest_piece_that_reads_as_finished():
    result = Completer(CutShort()).complete(CompletionRequest("def f(items):\n    \n", 1, 4))
    assert result.completion == "total = compute"  # not "compute(items, ", not nothing


def test_a_suggestion_holding_a_secret_is_never_shown():
    # The window holds a key; a model that copies it (or makes up one of its shape) shows nothing.
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0kLmN0pQrStUvWxYz"  # split: no scanner trips here
    text = f'OLD = "{token}"\nheaders = {{"Authorization": \n'
    backend = FakeBackend(f'"token {token}"}}\n')
    result = Completer(backend).complete(CompletionRequest(text, 1, 28))
    assert result.completion == "" and result.stop_reason == "secret"
    assert token not in result.raw
