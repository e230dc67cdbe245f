"""The real server process, driven by a real LSP client (pytest-lsp), over the fake backend."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]
URI = "file:///work/demo/module.py"


def capabilities(resolve_edits: bool = True) -> types.ClientCapabilities:
    code_action = types.CodeActionClientCapabilities(
        resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"])
        if resolve_edits
        else None
    )
    return types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(code_action=code_action),
        window=types.WindowClientCapabilities(work_done_progress=True),
        general=types.GeneralClientCapabilities(position_encodings=["utf-16"]),
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):
    params = types.InitializeParams(
        capabilities=capabilities(),
        initialization_options={"ghostwright": {"max_lines": 4, "colour": "blue"}},
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.initialize_result = result
    await wait_until_ready(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def open_workspace(client: LanguageClient, root: Path, **options: object) -> None:
    """A session on the workspace folder `root` (`options`: settings as the editor sends them),
    once the model is loaded; the folder is kept as `client.root`."""
    params = types.InitializeParams(
        capabilities=capabilities(),
        root_uri=root.as_uri(),
        initialization_options={"ghostwright": options} if options else None,
    )
    await client.initialize_session(params)
    client.root = root
    await wait_until_ready(client)


async def wait_until_ready(client: LanguageClient) -> None:
    for _ in range(100):
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="ghostwright.status")
        )
        if status["state"] == "ready":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"server never became ready: {status}")


def open_doc(client: LanguageClient, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )


async def inline(client: LanguageClient, line: int, character: int, uri: str = URI):
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(line, character),
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Automatic),
        )
    )


async def test_initialize_advertises_inline_completion_and_actions(client: LanguageClient):
    capabilities = client.initialize_result.capabilities
    assert capabilities.inline_completion_provider is not None
    assert capabilities.completion_provider is not None
    assert capabilities.code_action_provider.resolve_provider is True
    assert "ghostwright.status" in capabilities.execute_command_provider.commands
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental


async def test_unknown_setting_gives_one_warning(client: LanguageClient):
    warnings = [m for m in client.messages if "colour" in m.message]
    assert len(warnings) == 1 and warnings[0].type == types.MessageType.Warning


async def test_inline_completion_returns_an_item_at_the_cursor(client: LanguageClient):
    open_doc(client, "def f(value):\n    return\n")
    result = await inline(client, 1, 10)
    assert isinstance(result, types.InlineCompletionList)
    (item,) = result.items
    assert item.insert_text == " value + 1"  # no space typed after `return` yet
    assert item.range == types.Range(types.Position(1, 10), types.Position(1, 10))


async def test_incremental_changes_are_followed(client: LanguageClient):
    open_doc(client, "def f(total):\n    x = 1\n")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(1, 4), types.Position(1, 9)), text="ret"
                )
            ],
        )
    )
    result = await inline(client, 1, 7)
    assert result.items[0].insert_text == "urn total"


async def test_completion_fallback_filters_on_the_typed_word(client: LanguageClient):
    open_doc(client, "def f(total):\n    ret\n")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(URI), position=types.Position(1, 7)
        )
    )
    (item,) = result.items
    assert item.filter_text.startswith("ret") and item.text_edit.new_text == "return total"
    assert item.text_edit.range.start == types.Position(1, 4)
    assert item.insert_text_format == types.InsertTextFormat.PlainText


async def test_utf16_positions_with_emoji_and_cjk(client: LanguageClient):
    open_doc(client, 's = "😀漢"\nx = \n')
    result = await inline(client, 1, 4)
    assert result.items[0].insert_text == "value + 1"
    # "😀" is 2 UTF-16 units: the end of this line is UTF-16 column 18 (17 code points).
    open_doc(client, 'label = "😀" + ret', uri="file:///work/demo/emoji.py")
    assert await inline(client, 0, 17, uri="file:///work/demo/emoji.py") is None  # before `t`
    result = await inline(client, 0, 18, uri="file:///work/demo/emoji.py")
    assert result.items[0].insert_text == "urn total"


async def test_unopened_document_and_outside_positions_are_empty(client: LanguageClient):
    assert await inline(client, 0, 0, uri="file:///work/demo/never-opened.py") is None
    open_doc(client, "x = 1\n")
    assert await inline(client, 40, 0) is None
    assert await inline(client, 0, 99) is None


async def test_closed_document_is_empty(client: LanguageClient):
    open_doc(client, "x = \n")
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(URI))
    )
    assert await inline(client, 0, 4) is None


async def test_code_action_offered_cheaply_and_resolved_into_an_edit(client: LanguageClient):
    text = 'def add(a, b):\n    """Return the sum."""\n    pass\n\n\nprint(add(1, 2))\n'
    open_doc(client, text)
    actions = await code_actions(client, 1, 8)
    (action,) = actions
    assert action.title == "Generate code from comment" and action.edit is None
    resolved = await client.code_action_resolve_async(action)
    (change,) = resolved.edit.document_changes
    (edit,) = change.edits
    assert edit.range == types.Range(types.Position(2, 0), types.Position(3, 0))
    assert edit.new_text == "    return a + b\n"


async def test_stale_code_action_gives_no_edit(client: LanguageClient):
    open_doc(client, 'def add(a, b):\n    """Return the sum."""\n    pass\n')
    (action,) = await code_actions(client, 1, 4)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(version=2, uri=URI),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x = 1\n")],
        )
    )
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert await said(client, "nothing written, the file changed")


async def test_code_action_never_writes_a_cut_off_body(client: LanguageClient):
    # VS Code's language client shows window/showMessage as a notification: the same rule there.
    open_doc(client, 'def mean(items):\n    """Average price, cut off."""\n    pass\n')
    (action,) = await code_actions(client, 1, 8)
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert await said(client, "does not parse")


async def code_actions(client: LanguageClient, line: int, character: int) -> list:
    """The actions offered with the cursor at (line, character) of the open document."""
    at = types.Position(line, character)
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(URI),
            range=types.Range(at, at),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )


async def said(client: LanguageClient, text: str) -> bool:
    for _ in range(40):  # the message is a notification: it may trail the response
        if any(text in message.message for message in client.messages):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_newest_request_wins(client: LanguageClient):
    open_doc(client, "x = slow\ny = \n")
    slow = asyncio.ensure_future(inline(client, 0, 8))
    await asyncio.sleep(0.2)
    fast = await inline(client, 1, 4)
    assert fast.items[0].insert_text == "value + 1"
    assert await asyncio.wait_for(slow, 10) is None  # superseded: stopped, nothing shown


async def test_cancel_request_is_honoured(client: LanguageClient):
    open_doc(client, "x = slow\n")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(URI),
        position=types.Position(0, 8),
        context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked),
    )
    pending = client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="slow-1"
    )
    await asyncio.sleep(0.2)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="slow-1"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(pending), 10)
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    assert status["state"] == "ready"


async def test_status_and_reload_with_progress(client: LanguageClient):
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    assert status["model"] == "fake:auto" and status["format"] == "prefix-only"
    assert set(status["latency_ms"]) == {"p50", "p95", "count"}
    reloaded = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.reloadModel")
    )
    assert reloaded["state"] == "ready"
    reports = [r for values in client.progress_reports.values() for r in values]
    kinds = {type(report).__name__ for report in reports}
    assert {"WorkDoneProgressBegin", "WorkDoneProgressEnd"} <= kinds


async def test_cancelled_reload_keeps_the_current_model(client: LanguageClient):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"ghostwright": {"model": "slow"}})
    )
    for _ in range(100):  # wait for the reload's progress to begin
        tokens = [
            token
            for token, reports in client.progress_reports.items()
            if any(
                isinstance(r, types.WorkDoneProgressBegin) and "new model" in r.title
                for r in reports
            )
        ]
        if tokens:
            break
        await asyncio.sleep(0.02)
    (token,) = tokens
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    for _ in range(200):
        if any(isinstance(r, types.WorkDoneProgressEnd) for r in client.progress_reports[token]):
            break
        await asyncio.sleep(0.05)
    end = client.progress_reports[token][-1]
    assert isinstance(end, types.WorkDoneProgressEnd) and end.message == "cancelled"
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    assert status["model"] == "fake:auto" and status["state"] == "ready"
