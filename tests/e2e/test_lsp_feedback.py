"""The feedback log through the real server process: suggestions recorded, outcomes reported.

The test server measures survival after 1 second instead of 30.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from ghostwright.server.feedback.log import FeedbackLog, feedback_path
from tests.e2e.test_lsp_fake import inline, open_doc, open_workspace

SERVER = [sys.executable, str(Path(__file__).with_name("fake_server.py"))]
SOURCE = "def f(value):\n    return\n"  # the fake model answers " value + 1" at (1, 10)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    (root / ".ghostwright.toml").write_text("retrieval = false\n")
    await open_workspace(lsp_client, root)
    yield
    await lsp_client.shutdown_session()


def records(client: LanguageClient) -> dict[str, dict]:
    log = FeedbackLog(feedback_path(client.root))
    try:
        return {row["id"]: row for row in log.rows()}
    finally:
        log.close()


async def shown(client: LanguageClient, name: str) -> tuple[str, types.InlineCompletionItem]:
    uri = (client.root / name).as_uri()
    open_doc(client, SOURCE, uri=uri)
    result = await inline(client, 1, 10, uri=uri)
    (item,) = result.items
    return uri, item


def insert(client: LanguageClient, uri: str, version: int, at: int, text: str) -> None:
    """Type `text` at column `at` of line 1."""
    here = types.Position(1, at)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(version=version, uri=uri),
            content_changes=[
                types.TextDocumentContentChangePartial(range=types.Range(here, here), text=text)
            ],
        )
    )


async def run(client: LanguageClient, *arguments: object) -> bool:
    params = types.ExecuteCommandParams(command="ghostwright.feedback", arguments=list(arguments))
    return await client.workspace_execute_command_async(params)


async def test_an_accepted_suggestion_is_recorded_with_its_context_and_survival(client):
    uri, item = await shown(client, "accepted.py")
    assert item.command.command == "ghostwright.feedback"
    identifier, outcome = item.command.arguments
    assert outcome == "accepted"
    row = records(client)[identifier]
    where = (row["path"], row["language"], row["line"], row["column"])
    assert where == ("accepted.py", "python", 1, 10)
    assert row["prefix"] == "def f(value):\n    return" and row["suffix"] == "\n"
    assert row["text"] == " value + 1" and row["model"] == "fake:auto"
    assert row["outcome"] is None

    insert(client, uri, 2, 10, item.insert_text)  # what the editor does on accept
    assert await run(client, *item.command.arguments) is True
    assert await run(client, identifier, "dismissed") is False  # decided once
    await asyncio.sleep(1.6)
    row = records(client)[identifier]
    assert row["outcome"] == "accepted" and row["accepted_chars"] == len(" value + 1")
    assert row["survived"] == 1.0


async def test_an_acceptance_edited_away_is_overwritten(client):
    uri, item = await shown(client, "overwritten.py")
    insert(client, uri, 2, 10, item.insert_text)
    await run(client, *item.command.arguments)
    client.text_document_did_change(  # the user replaces the accepted text
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(version=3, uri=uri),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(1, 10), types.Position(1, 20)), text=" None"
                )
            ],
        )
    )
    await asyncio.sleep(1.6)
    row = records(client)[item.command.arguments[0]]
    assert row["outcome"] == "overwritten" and row["survived"] < 0.5


async def test_dismissed_and_typed_anyway(client):
    _, dismissed = await shown(client, "dismissed.py")
    assert await run(client, dismissed.command.arguments[0], "dismissed") is True

    uri, typed = await shown(client, "typed.py")
    insert(client, uri, 2, 10, " valu")  # the user typed the first word instead of accepting
    assert await run(client, typed.command.arguments[0], "dismissed") is True

    await asyncio.sleep(1.6)  # the server looks at what was written instead
    rows = records(client)
    assert rows[dismissed.command.arguments[0]]["outcome"] == "dismissed"
    assert rows[typed.command.arguments[0]]["outcome"] == "partial"
    assert rows[typed.command.arguments[0]]["accepted_chars"] == 5
    assert rows[typed.command.arguments[0]]["final"] == " valu"


async def test_partial_acceptance_reported_by_the_editor(client):
    _, item = await shown(client, "partial.py")
    assert await run(client, item.command.arguments[0], "partial", 6) is True
    assert records(client)[item.command.arguments[0]]["accepted_chars"] == 6


async def test_bad_reports_are_refused_quietly(client):
    _, item = await shown(client, "bad.py")
    identifier = item.command.arguments[0]
    for arguments in ([], [identifier], [1, 2], [identifier, "loved"], [identifier, "overwritten"]):
        assert await run(client, *arguments) is False
    assert await run(client, "no-such-id", "accepted") is False
    assert records(client)[identifier]["outcome"] is None
    assert (await inline(client, 1, 10, uri=(client.root / "bad.py").as_uri())).items


async def test_the_setting_turns_recording_off(client):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"ghostwright": {"feedback": False}})
    )
    before = len(records(client))
    _, item = await shown(client, "off.py")
    assert item.command is None
    assert len(records(client)) == before


async def test_the_learnt_trigger_skips_automatic_suggestions_only(client):
    from ghostwright.server.trigger import FEATURES, Trigger, save_trigger, trigger_path

    never = Trigger([-10.0] + [0.0] * (len(FEATURES) - 1), 0.5)
    save_trigger(never, {}, trigger_path(client.root))
    uri = (client.root / "trigger.py").as_uri()
    open_doc(client, SOURCE, uri=uri)
    assert await inline(client, 1, 10, uri=uri) is None
    invoked = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri),
            position=types.Position(1, 10),
            context=types.InlineCompletionContext(types.InlineCompletionTriggerKind.Invoked),
        )
    )
    assert invoked.items  # the user asked: always answered
    status = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="ghostwright.status")
    )
    assert status["feedback"] == {"recording": True, "trigger_threshold": 0.5, "skipped": 1}
