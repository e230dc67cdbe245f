"""The real server process with a real packaged model (the smallest tier), through a real LSP
client."""

from __future__ import annotations

import asyncio
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

pytestmark = pytest.mark.model
SERVER = [sys.executable, "-m", "ghostwright.server", "serve"]
URI = "file:///work/demo/inventory.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            initialization_options={"model": "gemma-3-270m"},
        )
    )
    for _ in range(300):
        status = await lsp_client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ghostwright.status")
        )
        if status["state"] == "ready":
            break
        await asyncio.sleep(0.1)
    assert status["state"] == "ready", status
    yield
    await lsp_client.shutdown_session()


async def test_inline_completion_from_the_default_model(client: LanguageClient, sample_file):
    text = sample_file.read_text()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text)
        )
    )
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(URI),
            position=types.Position(19, 26),
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked),
        )
    )
    assert result is not None and result.items[0].insert_text.strip()
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    assert status["model"] == "gemma-3-270m-q4_k_m.gguf" and status["latency_ms"]["count"] >= 1
    assert status["selection"] == "named in the settings"
    speed = status["speed"]  # calibrated on this machine when the model loaded
    assert speed["prompt_tokens_per_s"] > 0 and speed["generate_tokens_per_s"] > 0
    assert speed["cold_window_tokens"] > 0 and speed["latency_budget_ms"] == 1000


async def test_code_action_generates_a_body(client: LanguageClient):
    text = 'def add(a, b):\n    """Return the sum of a and b."""\n    pass\n'
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=URI, language_id="python", version=1, text=text)
        )
    )
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(URI),
            range=types.Range(types.Position(1, 6), types.Position(1, 6)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    (action,) = actions
    assert action.edit is not None  # this client has no resolve support: generated eagerly
    (change,) = action.edit.document_changes
    (edit,) = change.edits
    assert edit.range.start == types.Position(2, 0) and edit.new_text.strip()
    assert edit.new_text.startswith("    ")


async def test_prefill_makes_the_first_request_warm(client: LanguageClient):
    """The editor says where the cursor rests; the window there is evaluated before anyone
    asks, so the first request only evaluates what changed."""
    from tests.integration.test_compute_aware import long_document

    text, line, column = long_document(before=1500)
    uri = "file:///work/demo/long.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    client.protocol.notify(
        "ghostwright/prefill",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": column}},
    )
    for _ in range(600):  # until the background evaluation has run and finished
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ghostwright.status")
        )
        if status["background"]["tokens"] > 1000 and not status["background"]["running"]:
            break
        await asyncio.sleep(0.1)
    assert status["background"]["tokens"] > 1000, status
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(line, column),
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked),
        )
    )
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    last = status["last_request"]
    assert last["prompt_tokens"] > 1000 and last["evaluated_tokens"] < 32, last
    assert not last["cold"] and result is not None and result.items[0].insert_text.strip()
