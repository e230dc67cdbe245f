"""Disk trouble through the real server process: nothing can be written where ghostwright keeps
its index, feedback log and server log (here a file stands where each folder should be, which
fails like a read-only or full disk does, also for root). Suggestions go on; each problem is
said once; nothing is left half-written."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.test_lsp_fake import inline, open_workspace
from tests.e2e.test_lsp_index import wait_for_index

BLOCKED_STATE = Path(tempfile.mkdtemp()) / "state"
BLOCKED_STATE.write_text("a file where the log folder should be\n")
SERVER = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]
ENV = {**os.environ, "XDG_STATE_HOME": str(BLOCKED_STATE)}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=ENV))
async def client(lsp_client: LanguageClient, tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "main.py").write_text("x = \n")
    (root / ".ghostwright").write_text("a file where the index folder should be\n")
    await open_workspace(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


async def test_suggestions_go_on_and_each_problem_is_said_once(client: LanguageClient):
    uri = (client.root / "main.py").as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, "x = \n"))
    )
    for _ in range(3):
        result = await inline(client, 0, 4, uri=uri)
        assert result and result.items[0].insert_text  # a suggestion every time
    index = await wait_for_index(client, lambda index: index["state"] != "not built")
    assert index["state"].startswith("unavailable: cannot open the index")
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert sum("repository index unavailable" in m for m in warnings) == 1, warnings
    assert sum("feedback is not recorded" in m for m in warnings) == 1, warnings
    assert sum("log file" in m and "logging to the editor only" in m for m in warnings) == 1
    assert (client.root / ".ghostwright").read_text().startswith("a file")  # untouched
    assert BLOCKED_STATE.read_text().startswith("a file")
