"""The remote backend against a real `python -m llama_cpp.server` on loopback, and its failures."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from ghostwright.server.backends.base import GenerationParams
from ghostwright.server.backends.openai_compat import OpenAICompatBackend
from ghostwright.server.pipeline.complete import Completer, CompletionRequest

pytestmark = pytest.mark.model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(default_model_path):
    port = free_port()
    command = [
        sys.executable,
        "-c",
        # The peer loads its model as ghostwright does: off llama.cpp's AMX kernels, which
        # crash on CPUs that have AMX (indexer/llama_native.py).
        "import runpy\nfrom ghostwright.indexer.llama_native import amx_safe_loading\n"
        "with amx_safe_loading():\n"
        "    runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)",
        "--model",
        str(default_model_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--verbose",
        "False",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("llama_cpp.server did not start")
    yield url
    process.terminate()
    process.wait(30)


def test_completion_through_the_server(llama_server, sample_file):
    backend = OpenAICompatBackend(llama_server, timeout_s=60)
    assert backend.prompt_format.name == "prefix-only"  # detected over /extras/tokenize
    text = sample_file.read_text()
    result = Completer(backend).complete(CompletionRequest(text, 19, 26))
    backend.close()
    assert result.completion and not result.error
    assert result.generated_tokens > 0


def test_http_error_is_an_empty_suggestion_with_a_reason(llama_server):
    backend = OpenAICompatBackend(f"{llama_server}/no-such-prefix", prompt_format="prefix-only")
    generation = backend.generate("x = ", GenerationParams(max_tokens=4))
    assert generation.text == "" and generation.stop_reason == "error"
    assert "answered HTTP 404" in generation.error


def test_connection_refused():
    backend = OpenAICompatBackend(f"http://127.0.0.1:{free_port()}", prompt_format="prefix-only")
    generation = backend.generate("x = ", GenerationParams(max_tokens=4))
    assert generation.stop_reason == "error" and "cannot connect" in generation.error


def test_timeout_of_a_server_that_never_answers():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    backend = OpenAICompatBackend(url, prompt_format="prefix-only", timeout_s=0.5)
    generation = backend.generate("x = ", GenerationParams(max_tokens=4, time_limit_s=0.5))
    listener.close()
    assert generation.stop_reason == "error" and "did not answer" in generation.error
