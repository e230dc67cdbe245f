"""Comment/docstring -> code: cheap detection in codeAction, generation in codeAction/resolve."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.features.documents import language_of, open_document
from ghostwright.server.features.inline_completion import LOAD_WAIT_S
from ghostwright.server.pipeline.comment_to_code import (
    GenerationSite,
    complete_body,
    find_site,
    generation_request,
    replacement,
)

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from ghostwright.server.app import GhostwrightServer

TITLE = "Generate code from comment"
BLOCK_MAX_LINES = 40
BLOCK_MAX_TOKENS = 384
# The user asked for a body and waits for it: a keystroke's time limit would cut it short (a
# 1.5B model writes about 30 tokens/s on 2 cores). A body cut by this limit is not written.
BLOCK_TIME_LIMIT_S = 90.0
# Why nothing was written, in the user's words (CompletionResult.stop_reason -> message).
NOTHING_WRITTEN = {
    "time": f"the model did not finish within {BLOCK_TIME_LIMIT_S:.0f} s",
    "superseded": "a newer request took its place",
    "cancelled": "it was cancelled",
    "error": "the model failed (see the log)",
    "no-model": "no model is loaded",
}


def register(server: GhostwrightServer) -> None:
    options = types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True
    )

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, options)
    async def code_action(
        ls: GhostwrightServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        document = open_document(ls, params.text_document.uri)
        if document is None:
            return None
        line = params.range.start.line
        site = find_site(_lines(document), line, language_of(document))
        if site is None:
            return None
        action = types.CodeAction(
            title=TITLE,
            kind=types.CodeActionKind.RefactorRewrite,
            data={"uri": document.uri, "version": document.version, "line": line},
        )
        if _client_resolves_edits(ls):
            return [action]
        return [await _resolve(ls, action)]  # no resolve support: generate right away

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: GhostwrightServer, action: types.CodeAction) -> types.CodeAction:
        return await _resolve(ls, action)


def _lines(document: TextDocument) -> list[str]:
    return document.source.split("\n")


def _client_resolves_edits(server: GhostwrightServer) -> bool:
    capability = server.client_capabilities.text_document
    code_action = capability.code_action if capability else None
    support = code_action.resolve_support if code_action else None
    return bool(support and "edit" in support.properties)


async def _resolve(server: GhostwrightServer, action: types.CodeAction) -> types.CodeAction:
    """Add the edit; when there is none, say why (a user must never meet silence)."""
    data = action.data if isinstance(action.data, dict) else {}
    document = open_document(server, str(data.get("uri", "")))
    if document is None or document.version != data.get("version"):
        # No edit rather than one that lands in the wrong place.
        return _nothing_written(server, action, "the file changed since it was offered; try again")
    lines = _lines(document)
    language = language_of(document)
    site = find_site(lines, int(data.get("line", -1)), language)
    if site is None:
        return _nothing_written(server, action, "the comment is no longer there")
    body, reason = await _generate(server, lines, site, document.path)
    complete = complete_body(site, body, language)
    if not complete.strip():
        why = NOTHING_WRITTEN.get(reason, "the model suggested nothing for it")
        if body.strip():
            why = "the model wrote no complete code for it (what it wrote does not parse)"
        return _nothing_written(server, action, why)
    if open_document(server, document.uri) is None or document.version != data.get("version"):
        return _nothing_written(server, action, "the file was edited while the model wrote")
    edit = types.TextEdit(_site_range(site), replacement(site, complete))
    identifier = types.OptionalVersionedTextDocumentIdentifier(document.uri, document.version)
    action.edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(identifier, [edit])])
    return action


def _nothing_written(
    server: GhostwrightServer, action: types.CodeAction, why: str
) -> types.CodeAction:
    message = f"ghostwright: {TITLE.lower()}: nothing written, {why}"
    server.window_show_message(types.ShowMessageParams(types.MessageType.Warning, message))
    return action


async def _generate(
    server: GhostwrightServer, lines: list[str], site: GenerationSite, path: str
) -> tuple[str, str]:
    """The body and why it ended (the result's stop reason)."""
    request = generation_request(lines, site, path, BLOCK_MAX_LINES, BLOCK_MAX_TOKENS)
    request = replace(request, time_limit_s=BLOCK_TIME_LIMIT_S)
    if not await server.engine.wait_until_loaded(LOAD_WAIT_S):
        return "", "no-model"
    result = await server.engine.complete_async(request)
    if result is None:
        return "", "superseded" if server.engine.ready else "no-model"
    return result.completion, result.stop_reason


def _site_range(site: GenerationSite) -> types.Range:
    """Whole lines [first, end): their start columns are 0 in every position encoding."""
    return types.Range(types.Position(site.first, 0), types.Position(site.end, 0))
