"""`ghostwright http` as users start it, on a real packaged model: llama.cpp's /infill with
llama.vim's extra context and OpenAI's /v1/completions, through real HTTP on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
from http_process import http_server  # noqa: E402

pytestmark = pytest.mark.model


def test_real_model_over_infill_and_openai(qwen_05b_path, tmp_path: Path):
    # A whole answer, not a keystroke's: this test is about the routes, not the CPU's speed.
    (tmp_path / ".ghostwright.toml").write_text(
        "time_limit_ms = 120000\nlatency_budget_ms = 120000\nretrieval = false\nmax_lines = 1\n"
    )
    command = [sys.executable, "-m", "ghostwright.server", "http", "--port", "0",
               "--workspace", str(tmp_path), "--model", "qwen2.5-coder-0.5b"]  # fmt: skip
    with http_server(command, timeout_s=600) as base:
        (model,) = httpx.get(f"{base}/v1/models").json()["data"]
        assert "0.5b" in model["id"].lower() or "0.5B" in model["id"]
        # A name only the client's extra context holds: the model must have seen the chunk.
        pricing = "def gross_price_with_vat(item):\n    return item.net * 1.2\n"
        extra = [{"filename": "shop/pricing.py", "text": pricing}]
        request = {"input_prefix": "from shop.pricing import *\n\n\ndef price(item):\n",
                   "prompt": "    return ", "input_suffix": "\n", "input_extra": extra,
                   "n_predict": 24}  # fmt: skip
        infill = httpx.post(f"{base}/infill", json=request, timeout=300).json()
        assert "gross_price_with_vat" in infill["content"], infill
        assert infill["timings"]["predicted_n"] > 0 and infill["timings"]["prompt_n"] > 0
        completion = httpx.post(
            f"{base}/v1/completions",
            json={"prompt": "def add(a, b):\n    return", "max_tokens": 16},
            timeout=300,
        ).json()
        assert "a + b" in completion["choices"][0]["text"], completion
