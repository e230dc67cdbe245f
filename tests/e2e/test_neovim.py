"""Headless Neovim (Debian's 0.7.2 in CI) as a real LSP client of the server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ghostwright.server.feedback import FeedbackLog, feedback_path

HERE = Path(__file__).parent
NVIM = shutil.which("nvim")


@pytest.mark.skipif(NVIM is None, reason="neovim is not installed (.ci/run installs it)")
def test_neovim_session_inline_completion_and_code_action(tmp_path):
    result = tmp_path / "result.txt"
    env = {
        **os.environ,
        "GHOSTWRIGHT_SERVER_CMD": json.dumps([sys.executable, str(HERE / "fake_server.py")]),
        "GHOSTWRIGHT_RESULT": str(result),
    }
    subprocess.run(
        [NVIM, "--headless", "-u", "NONE", "-c", f"luafile {HERE / 'nvim' / 'lsp_session.lua'}"],
        env=env,
        cwd=tmp_path,
        timeout=120,
        capture_output=True,
    )
    assert result.read_text() == "ok\n"


@pytest.mark.skipif(NVIM is None, reason="neovim is not installed (.ci/run installs it)")
def test_neovim_plugin_ghost_text_accept_code_action_commands_and_health(tmp_path):
    result = tmp_path / "result.txt"
    env = {
        **os.environ,
        "GHOSTWRIGHT_SERVER_CMD": json.dumps([sys.executable, str(HERE / "fake_server.py")]),
        "GHOSTWRIGHT_PLUGIN": str(HERE.parents[1] / "editors" / "nvim"),
        "GHOSTWRIGHT_RESULT": str(result),
    }
    script = HERE / "nvim" / "plugin_session.lua"
    done = subprocess.run(
        [NVIM, "--headless", "-u", "NONE", "-c", f"luafile {script}"],
        env=env,
        cwd=tmp_path,
        timeout=120,
        capture_output=True,
        text=True,
    )
    assert result.exists(), done.stderr
    assert result.read_text() == "ok\n"
    # The plugin reported each outcome to the feedback log: <Tab> accepted, a word then <C-]>
    # partial (3 characters of "urn total"), leaving insert mode dismissed.
    log = FeedbackLog(feedback_path(tmp_path))
    outcomes = {(row["outcome"], row["accepted_chars"]) for row in log.rows()}
    assert {("accepted", 9), ("partial", 3), ("dismissed", None)} <= outcomes, outcomes
