"""Each packaged tier, assembled from its PyPI pieces and run for real."""

from __future__ import annotations

import pytest

from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions
from ghostwright.server.pipeline.complete import Completer, CompletionOptions, CompletionRequest
from ghostwright.server.prompt_formats import ContextFile

pytestmark = pytest.mark.model

# The answer depends on the code after the cursor: only a model that reads the suffix names it.
SUFFIX_HOLE = "def order_total(items):\n    \n    return subtotal_with_tax\n"
UNHURRIED = CompletionOptions(time_limit_s=120)


def complete(backend, text: str, line: int, column: int) -> str:
    result = Completer(backend, UNHURRIED).complete(
        CompletionRequest(text, line, column, path="orders.py")
    )
    assert result.stop_reason in ("eos", "stop", "length"), result
    return result.completion


def test_the_15b_fills_in_the_middle_and_reads_repository_snippets(qwen_15b_path):
    backend = LlamaCppBackend(qwen_15b_path, LlamaOptions(threads=0))
    try:
        fmt = backend.prompt_format
        assert fmt.name == "qwen2.5-coder" and fmt.is_repo_level
        assert {"<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>"} <= set(fmt.stop)
        assert "subtotal" in complete(backend, SUFFIX_HOLE, 1, 4)
        assert backend.speed.prompt_tps > 0 and backend.speed.generate_tps > 0
        # A name only a snippet knows: the repo-level header carries it into the prompt.
        snippet = ContextFile("shop/pricing.py", "def gross_price_with_vat(item):\n    ...\n")
        text = "from shop.pricing import *\n\n\ndef price(item):\n    return \n"
        completer = Completer(backend, UNHURRIED)
        prompt = fmt.render(text[: text.index("return ") + 7], "\n", path="app.py",
                            context_files=[snippet])  # fmt: skip
        assert prompt.startswith("<|repo_name|>repo\n<|file_sep|>shop/pricing.py\n")
        assert "<|file_sep|>app.py\n<|fim_prefix|>" in prompt
        assert completer.prepare(CompletionRequest(text, 4, 11, path="app.py")).prompt
    finally:
        backend.close()


def test_the_05b_tier_is_served_as_a_prefix_continuation(qwen_05b_path):
    from ghostwright.server.packaged_models import QWEN_05B

    backend = LlamaCppBackend(qwen_05b_path, LlamaOptions(prompt_format=QWEN_05B.prompt_format))
    try:
        assert backend.prompt_format.name == "prefix-only"
        text = "def fahrenheit(celsius):\n    return "
        assert "celsius" in complete(backend, text, 1, len("    return "))
    finally:
        backend.close()
