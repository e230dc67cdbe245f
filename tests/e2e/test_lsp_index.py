"""The repository index through the real server process: built on start, kept current, used.

The fake backend answers `snippets_seen =` with the paths of the repository snippets that reached
its prompt, so these tests see what retrieval put there. The index and its embedder are real.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.e2e.test_lsp_fake import open_doc, open_workspace

SERVER = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]
HELPERS = '''"""Shared helpers."""


def scale_price(amount, factor):
    """Multiply a price by a factor, rounding to cents."""
    return round(amount * factor, 2)
'''
MAIN = "from helpers import scale_price\n\n\ndef checkout(cart):\n    snippets_seen ="


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / "helpers.py").write_text(HELPERS)
    (root / "main.py").write_text(MAIN)
    (root / ".env").write_text("API_KEY=do-not-index\n")
    await open_workspace(lsp_client, root)
    await wait_for_index(lsp_client, lambda index: index.get("state") == "ready")
    yield
    await lsp_client.shutdown_session()


async def status(client: LanguageClient) -> dict:
    params = types.ExecuteCommandParams(command="ghostwright.status")
    return await client.workspace_execute_command_async(params)


async def wait_for_index(client: LanguageClient, condition, timeout_s: float = 30.0) -> dict:
    index: dict = {}
    for _ in range(int(timeout_s / 0.05)):
        index = (await status(client))["index"]
        if condition(index):
            return index
        await asyncio.sleep(0.05)
    raise AssertionError(f"index never reached the expected state: {index}")


async def test_index_is_built_in_the_background_with_progress(client: LanguageClient):
    index = (await status(client))["index"]
    assert index["files"] == 2  # the .env file is a secret: never indexed
    assert index["chunks"] >= 2
    assert (client.root / ".ghostwright" / "meta.sqlite").is_file()
    titles = [
        report.title
        for reports in client.progress_reports.values()
        for report in reports
        if isinstance(report, types.WorkDoneProgressBegin)
    ]
    assert "ghostwright: indexing the workspace" in titles


async def test_completion_prompt_holds_the_imported_definition(client: LanguageClient):
    uri = (client.root / "main.py").as_uri()
    open_doc(client, MAIN, uri=uri)
    lines = MAIN.split("\n")
    position = types.Position(len(lines) - 1, len(lines[-1]))
    result = None
    for _ in range(20):  # the first request may finish retrieval after its time budget
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri),
                position=position,
                context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic),
            )
        )
        if result and "helpers.py" in result.items[0].insert_text:
            break
        await asyncio.sleep(0.1)
    assert result is not None
    assert result.items[0].insert_text == " ['helpers.py']"


async def test_new_changed_and_deleted_files_reach_the_index(client: LanguageClient):
    extra = client.root / "extra.py"
    extra.write_text("def brand_new_function():\n    return 1\n")
    await wait_for_index(client, lambda index: index["files"] == 3)
    extra.unlink()
    await wait_for_index(client, lambda index: index["files"] == 2)
    # The editor's own save notification works too (here for a file the watcher also sees).
    (client.root / "later.py").write_text("VALUE = 1\n")
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            types.TextDocumentIdentifier((client.root / "later.py").as_uri())
        )
    )
    await wait_for_index(client, lambda index: index["files"] == 3)


async def test_reindex_command_reports_the_index(client: LanguageClient):
    params = types.ExecuteCommandParams(command="ghostwright.reindex")
    index = await client.workspace_execute_command_async(params)
    assert index["state"] == "ready"
    assert index["files"] == 2


async def test_a_newly_installed_adapter_is_picked_up_and_announced(client: LanguageClient):
    adapters = client.root / ".ghostwright" / "adapters"
    adapters.mkdir(parents=True, exist_ok=True)
    (adapters / "stage-b.gguf").write_bytes(b"GGUF")
    record = {
        "adapter": "stage-b.gguf",
        "prompt_format": "ghostwright-fim",
        "gain_exact_match": 0.04,
    }
    (adapters / "current.json").write_text(json.dumps(record))
    for _ in range(200):
        current = await status(client)
        if current["adapter"] and current["state"] == "ready":
            break
        await asyncio.sleep(0.05)
    assert current["adapter"] == str(adapters / "stage-b.gguf")
    assert current["format"] == "prefix-only"  # the fake backend's; the setting was applied
    assert current["adapter_gain"] == 0.04
    messages = [m.message for m in client.messages]
    assert any("now using adapter stage-b.gguf (+4.0 points" in m for m in messages)


async def test_a_newly_installed_embedder_rebuilds_the_index(client: LanguageClient):
    from ghostwright.indexer.embedder import default_embedder_gguf

    before = (await status(client))["index"]["embedder"]
    folder = client.root / ".ghostwright" / "embedders"
    folder.mkdir(parents=True, exist_ok=True)
    # A copy of the packaged model under another name: another id, as a trained one would have.
    shutil.copyfile(default_embedder_gguf(), folder / "repo-embedder-0123.gguf")
    (folder / "current.json").write_text(json.dumps({"embedder": "repo-embedder-0123.gguf"}))
    index = await wait_for_index(
        client,
        lambda index: (
            index.get("embedder", "").startswith("repo-embedder-0123")
            and index.get("state") == "ready"
        ),
    )
    assert before.startswith("all-MiniLM-L6-v2")
    assert index["files"] == 2 and index["chunks"] >= 2
