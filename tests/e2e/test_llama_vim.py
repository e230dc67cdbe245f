"""A real peer client: llama.vim (ggml-org's plugin for llama.cpp's server, from
GHOSTWRIGHT_PEERS or ../shared/peers, never copied here) in headless Neovim 0.12, pointed at
`ghostwright http` with a real repository index; skipped cleanly when any part is absent."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest
from http_process import fake_command, http_server
from test_neovim import HERE, NEOVIMS, run_headless

REPO = HERE.parents[1]


def _llama_vim() -> Path | None:
    for folder in (os.environ.get("GHOSTWRIGHT_PEERS"), REPO.parent / "shared" / "peers"):
        if folder and (Path(folder) / "llama.vim" / "plugin" / "llama.vim").is_file():
            return Path(folder) / "llama.vim"
    return None


LLAMA_VIM = _llama_vim()
pytestmark = [
    pytest.mark.skipif(LLAMA_VIM is None, reason="llama.vim peer absent (GHOSTWRIGHT_PEERS)"),
    pytest.mark.skipif(NEOVIMS["0.12"] is None, reason="Neovim 0.12 (the dev extra) absent"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl (llama.vim needs it) absent"),
]


def wait_for_index(base: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        index = httpx.get(f"{base}/health").json().get("index", {})
        if index.get("state") == "ready" and index.get("chunks", 0) > 0:
            return index
        time.sleep(0.2)
    raise AssertionError(f"the index never became ready: {index}")


def test_llama_vim_shows_a_suggestion_only_the_workspace_index_could_give(tmp_path: Path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "widgets.py").write_text(
        "def frobnicate_widgets(count):\n    return [object() for _ in range(count)]\n"
    )
    main = workspace / "main.py"
    main.write_text("import os\n\n\nsnippets_seen =")
    with http_server(fake_command(workspace, "--retrieval")) as base:
        wait_for_index(base)
        result = tmp_path / "result.txt"
        env = {
            **os.environ,
            "LLAMA_VIM": str(LLAMA_VIM),
            "GHOSTWRIGHT_ENDPOINT": base,
            "GHOSTWRIGHT_FILE": str(main),
            "GHOSTWRIGHT_EXPECT": "widgets.py",  # in no buffer: only the index knows it
            "GHOSTWRIGHT_RESULT": str(result),
        }
        script = HERE / "nvim" / "llama_vim_session.lua"
        assert run_headless(NEOVIMS["0.12"], script, env, workspace, result) == "ok\n"
