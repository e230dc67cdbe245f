"""The real packaged models through the CLI and the in-process backend: the README's command on
`model = auto` (whichever tier this machine gets), the rest on the smallest tier."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ghostwright.server.backends.base import GenerationParams
from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions

pytestmark = pytest.mark.model


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "ghostwright.server", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def backend(default_model_path):
    loaded = LlamaCppBackend(default_model_path, LlamaOptions(threads=0))
    yield loaded
    loaded.close()


def test_readme_sample_gives_a_completion(sample_file):
    proc = run_cli("complete", sample_file, "--line", 20, "--col", 27)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "the README's first command must print a completion"
    assert proc.stderr == ""


SMALLEST = ("--model", "gemma-3-270m")


def test_json_output_has_the_documented_fields(sample_file):
    proc = run_cli("complete", sample_file, "--line", 20, "--col", 27, "--json", *SMALLEST)
    payload = json.loads(proc.stdout)
    assert payload["completion"]
    assert payload["model"] == "gemma-3-270m-q4_k_m.gguf" and payload["format"] == "prefix-only"
    assert payload["prompt_tokens"] > 0 and payload["generated_tokens"] > 0
    assert payload["latency_ms"] > 0


def test_a_completion_reads_no_training_code(sample_file):
    """`ghostwright complete` (and so the server's start) never imports training, torch or
    transformers: a future top-level `import torch` there would slow every keystroke's server."""
    from tests.unit.test_structure import run_listing_modules

    words = ["complete", str(sample_file), "--line", "20", "--col", "27", *SMALLEST]
    completion, loaded = run_listing_modules(words)
    assert completion.strip() and loaded == []


def test_real_file_of_an_installed_package():
    import httpx

    source = Path(httpx.__file__).parent / "_models.py"
    lines = source.read_text().split("\n")
    line = next(i for i, row in enumerate(lines) if row.rstrip().endswith("("))
    column = len(lines[line]) + 1
    proc = run_cli("complete", source, "--line", line + 1, "--col", column, "--json", *SMALLEST)
    assert proc.returncode == 0, proc.stderr
    assert "completion" in json.loads(proc.stdout)


def test_doctor_reports_the_choice_speed_and_a_test_completion():
    proc = run_cli("doctor")  # model = auto: which tier depends on this machine
    assert proc.returncode == 0, proc.stderr
    rows = dict(line.strip().split(": ", 1) for line in proc.stdout.splitlines() if ": " in line)
    assert "the best installed tier that fits" in rows["why this model"] or (
        "no packaged model fits" in rows["why this model"]
    )
    assert "tokens/s" in rows["speed"] and "cold window" in rows["budget"]
    assert rows["cpu"] and rows["test completion"] and rows["warm latency"].endswith(" ms")


def test_doctor_on_a_named_tier_says_it_was_named():
    proc = run_cli("doctor", *SMALLEST)
    assert proc.returncode == 0, proc.stderr
    assert "prompt format: prefix-only" in proc.stdout
    assert "why this model: named in the settings" in proc.stdout


def test_gemma_vocabulary_has_no_fim_markers(backend):
    assert backend.prompt_format.name == "prefix-only"
    assert backend.threads >= 1


def test_newest_request_wins(backend):
    prompt = "def fibonacci(n):\n" * 40
    first: list = []
    started = threading.Event()

    def cancel_check():
        started.set()
        return False

    worker = threading.Thread(
        target=lambda: first.append(
            backend.generate(
                prompt,
                GenerationParams(max_tokens=400, time_limit_s=60),
                should_cancel=cancel_check,
            )
        )
    )
    worker.start()
    started.wait(30)
    second = backend.generate("x = ", GenerationParams(max_tokens=2))
    worker.join(60)
    assert first[0].stop_reason == "superseded"
    assert second.stop_reason in ("length", "eos")


def test_cancel_and_time_cap_stop_generation(backend):
    params = GenerationParams(max_tokens=500, time_limit_s=60)
    cancelled = backend.generate("import os\n", params, should_cancel=lambda: True)
    assert cancelled.stop_reason == "cancelled" and cancelled.generated_tokens == 0
    capped = backend.generate("import os\n", GenerationParams(max_tokens=500, time_limit_s=0.05))
    assert capped.stop_reason == "time"


def test_greedy_generation_is_repeatable_with_a_warm_cache(backend):
    params = GenerationParams(max_tokens=12)
    prompt = "def add(a, b):\n    return"
    assert backend.generate(prompt, params).text == backend.generate(prompt, params).text


def test_an_empty_prompt_for_a_model_without_bos_is_an_empty_answer(smollm2_model_path):
    """The top of an empty file in prefix-only format gives SmolLM2 (no BOS) zero tokens:
    an empty answer, not a llama.cpp exception logged on every keystroke."""
    backend = LlamaCppBackend(smollm2_model_path, LlamaOptions(threads=0))
    try:
        generation = backend.generate("", GenerationParams(max_tokens=4))
        assert (generation.text, generation.stop_reason, generation.error) == ("", "empty", "")
        assert backend.generate("def add(a, b):", GenerationParams(max_tokens=4)).text
    finally:
        backend.close()
