"""`ghostwright http` through real HTTP on loopback, over the fake backend: the routes in the
shapes their clients read, bad input, the API key, newest-wins per client, load-time requests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from http_process import fake_command, http_server

# What llama.vim sends (autoload/llama.vim, llama#fim), field for field.
LLAMA_VIM_FIELDS = [
    "content",
    "timings/prompt_n",
    "timings/prompt_ms",
    "timings/prompt_per_token_ms",
    "timings/prompt_per_second",
    "timings/predicted_n",
    "timings/predicted_ms",
    "timings/predicted_per_token_ms",
    "timings/predicted_per_second",
    "truncated",
    "tokens_cached",
]


def llama_vim_request(prefix: str, middle: str, suffix: str, extra: list | None = None) -> dict:
    return {
        "id_slot": 0,
        "input_prefix": prefix,
        "input_suffix": suffix,
        "input_extra": extra or [],
        "prompt": middle,
        "n_predict": 128,
        "stop": [],
        "n_indent": 4,
        "top_k": 40,
        "top_p": 0.90,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": False,
        "cache_prompt": True,
        "t_max_prompt_ms": 500,
        "t_max_predict_ms": 250,
        "response_fields": LLAMA_VIM_FIELDS,
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[str]:
    workspace = tmp_path_factory.mktemp("workspace")
    with http_server(fake_command(workspace)) as url:
        yield url


def test_health_and_models(base: str):
    health = httpx.get(f"{base}/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    (model,) = httpx.get(f"{base}/v1/models").json()["data"]
    assert model["id"] == "fake:fake" and model["object"] == "model"


def test_infill_answers_llama_vim_in_its_shape(base: str):
    request = llama_vim_request("def f(value):\n", "    return", "")
    response = httpx.post(f"{base}/infill", json=request)
    assert response.status_code == 200
    assert '"content":"' in response.text  # llama.vim's check on the raw text before decoding
    body = response.json()
    assert set(body) == set(LLAMA_VIM_FIELDS) - {"truncated"} | {"truncated"}
    assert body["content"] == " value + 1"
    assert body["timings/predicted_n"] > 0 and body["tokens_cached"] >= 0


def test_infill_full_response_says_why_when_empty(base: str):
    # The fake is prefix-only: code after the cursor is a hole it cannot see.
    full = httpx.post(
        f"{base}/infill", json={"input_prefix": "print(", "input_suffix": "x)\n"}
    ).json()
    assert full["content"] == "" and full["stop"] is True
    assert "cannot see code after the cursor" in full["ghostwright"]["why"]
    assert {"prompt_n", "predicted_n", "predicted_ms"} <= set(full["timings"])


def test_warm_up_request_is_answered_at_once(base: str):
    request = {
        "input_extra": [{"filename": "a.py", "text": "x = 1\n"}],
        "n_predict": 0,
        "response_fields": [""],
    }
    response = httpx.post(f"{base}/infill", json=request)
    assert response.status_code == 200 and response.json() == {}


def test_input_extra_chunks_are_context(base: str):
    extra = [{"filename": "helpers/only_here.py", "text": "def only_here():\n    return 42\n"}]
    body = httpx.post(f"{base}/infill", json=llama_vim_request("", "snippets_seen =", "", extra))
    assert "helpers/only_here.py" in body.json()["content"]


def test_openai_completion_with_suffix_and_stop(base: str):
    request = {
        "model": "ghostwright",
        "prompt": "def f(value):\n    return",
        "suffix": "",
        "max_tokens": 32,
        "stop": ["+"],
    }
    body = httpx.post(f"{base}/v1/completions", json=request).json()
    (choice,) = body["choices"]
    assert choice["text"] == " value " and choice["finish_reason"] == "stop"
    assert body["object"] == "text_completion" and body["usage"]["completion_tokens"] > 0


def test_openai_completion_streams(base: str):
    request = {"prompt": "def f(value):\n    return", "stream": True}
    with httpx.stream("POST", f"{base}/v1/completions", json=request) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks) == " value + 1"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len({chunk["id"] for chunk in chunks}) == 1


@pytest.mark.parametrize(
    ("route", "body", "status", "says"),
    [
        ("/infill", b"{not json", 400, "not valid JSON"),
        ("/infill", b"[1, 2]", 400, "must be a JSON object"),
        (
            "/infill",
            json.dumps({"input_prefix": 3}).encode(),
            400,
            "'input_prefix' must be a string",
        ),
        ("/infill", json.dumps({"input_extra": [5]}).encode(), 400, "'input_extra' chunk"),
        ("/infill", json.dumps({"n_predict": "many"}).encode(), 400, "'n_predict' must be"),
        ("/v1/completions", b"{}", 400, "missing field 'prompt'"),
        ("/v1/completions", json.dumps({"prompt": "x", "n": 2}).encode(), 400, "only one"),
        (
            "/ghostwright/comment-to-code",
            json.dumps({"text": "x", "line": 0}).encode(),
            400,
            "give 'path' or 'language'",
        ),
        ("/nowhere", b"{}", 404, "no route /nowhere"),
    ],
)
def test_bad_requests_get_one_clear_line(
    base: str, route: str, body: bytes, status: int, says: str
):
    response = httpx.post(f"{base}{route}", content=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status and says in error["message"] and "\n" not in error["message"]


def test_oversized_body_and_wrong_method(base: str):
    big = httpx.post(f"{base}/infill", content=b"{" + b" " * (5 * 1024 * 1024) + b"}")
    assert big.status_code == 413 and "MiB" in big.json()["error"]["message"]
    assert httpx.get(f"{base}/infill").status_code == 405
    assert httpx.get(f"{base}/health").status_code == 200  # still serving


def test_comment_to_code_route(base: str):
    text = 'def add(a, b):\n    """Return the sum."""\n    pass\n'
    request = {"text": text, "line": 1, "path": "calc.py"}
    body = httpx.post(f"{base}/ghostwright/comment-to-code", json=request, timeout=30).json()
    assert body["edit"] == {"start_line": 2, "end_line": 3, "new_text": "    return a + b\n"}
    cut = {
        "text": 'def mean(items):\n    """Average price, cut off."""\n    pass\n',
        "line": 1,
        "language": "python",
    }
    body = httpx.post(f"{base}/ghostwright/comment-to-code", json=cut, timeout=30).json()
    assert body["edit"] is None and "does not parse" in body["why"]
    nowhere = httpx.post(
        f"{base}/ghostwright/comment-to-code",
        json={"text": "x = 1\n", "line": 0, "language": "python"},
    )
    assert nowhere.status_code == 422 and "no comment" in nowhere.json()["error"]["message"]


def test_newest_wins_within_a_client_never_across_clients(base: str):
    slow = {"input_prefix": "x = slow", "n_predict": 128}  # ~500 characters at 5 ms each

    async def scenario() -> list[dict]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:

            async def ask(who: str, delay: float) -> dict:
                await asyncio.sleep(delay)
                response = await client.post("/infill", json=slow, headers={"X-Client-Id": who})
                return response.json()

            return await asyncio.gather(ask("a", 0), ask("b", 0.3), ask("a", 0.6))

    first_a, only_b, second_a = asyncio.run(scenario())
    assert first_a["content"] == "" and "newer request" in first_a["ghostwright"]["why"]
    assert only_b["content"].lstrip().startswith("0 1 2")  # queued behind a, never cancelled by it
    assert second_a["content"].lstrip().startswith("0 1 2")


def test_request_while_loading_is_answered_when_ready(tmp_path: Path):
    command = fake_command(tmp_path, "--model", "slow")  # the fake takes 2 s to load
    with http_server(command, ready=False) as base:
        early = httpx.get(f"{base}/health")
        assert early.status_code == 503 and early.json()["error"]["message"] == "Loading model"
        request = llama_vim_request("def f(value):\n", "    return", "")
        body = httpx.post(f"{base}/infill", json=request, timeout=60).json()
        assert body["content"] == " value + 1"


def test_api_key(tmp_path: Path):
    with http_server(fake_command(tmp_path, "--api-key", "s3cret")) as base:
        request = {"input_prefix": "def f(value):\n    return"}
        assert httpx.post(f"{base}/infill", json=request).status_code == 401
        wrong = httpx.post(f"{base}/infill", json=request, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "Invalid API Key"
        right = httpx.post(
            f"{base}/infill", json=request, headers={"Authorization": "Bearer s3cret"}
        )
        assert right.status_code == 200 and right.json()["content"] == " value + 1"
        assert httpx.get(f"{base}/v1/models").status_code == 401
        assert httpx.get(f"{base}/health").status_code == 200  # as llama.cpp's


def test_cli_refuses_beyond_loopback_without_a_key_and_a_busy_port(tmp_path: Path):
    cli = [sys.executable, "-m", "ghostwright.server", "http", "--workspace", str(tmp_path)]
    open_wide = subprocess.run(
        [*cli, "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env={**os.environ, "GHOSTWRIGHT_API_KEY": ""},
    )
    assert open_wide.returncode == 2
    assert open_wide.stderr.startswith("ghostwright: error: listening on 0.0.0.0")
    assert "GHOSTWRIGHT_API_KEY" in open_wide.stderr and "Traceback" not in open_wide.stderr
    missing = subprocess.run([*cli[:-1], str(tmp_path / "nope")], capture_output=True, text=True)
    assert missing.returncode == 2 and "not a directory" in missing.stderr
    with http_server(fake_command(tmp_path)) as base:
        port = base.rsplit(":", 1)[1]
        busy = subprocess.run([*cli, "--port", port], capture_output=True, text=True)
        assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_a_model_that_fails_to_load_is_named_in_every_answer(tmp_path: Path):
    missing = tmp_path / "nowhere.gguf"
    command = [sys.executable, "-m", "ghostwright.server", "http", "--port", "0",
               "--workspace", str(tmp_path), "--model", str(missing)]  # fmt: skip
    with http_server(command, ready=False) as base:
        for _ in range(100):
            health = httpx.get(f"{base}/health")
            if "failed" in health.json()["error"]["message"]:
                break
            time.sleep(0.05)
        assert (
            health.status_code == 503
            and "model file not found" in health.json()["error"]["message"]
        )
        body = httpx.post(f"{base}/infill", json={"input_prefix": "x = "}).json()
        assert body["content"] == "" and "model file not found" in body["ghostwright"]["why"]
