"""Comment/docstring -> code: cheap detection in codeAction, generation in codeAction/resolve."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.body_writer import write_body
from ghostwright.server.features.documents import language_of, open_document
from ghostwright.server.pipeline.comment_to_code import GenerationSite, find_site

if TYPE_CHECKING:
    from pygls.workspace import TextDocument

    from ghostwright.server.app import GhostwrightServer

TITLE = "Generate code from comment"


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
    body = await write_body(server.engine, lines, site, document.path, language)
    if not body.text:
        return _nothing_written(server, action, body.why)
    if open_document(server, document.uri) is None or document.version != data.get("version"):
        return _nothing_written(server, action, "the file was edited while the model wrote")
    edit = types.TextEdit(_site_range(site), body.text)
    identifier = types.OptionalVersionedTextDocumentIdentifier(document.uri, document.version)
    action.edit = types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(identifier, [edit])])
    return action


def _nothing_written(
    server: GhostwrightServer, action: types.CodeAction, why: str
) -> types.CodeAction:
    message = f"ghostwright: {TITLE.lower()}: nothing written, {why}"
    server.window_show_message(types.ShowMessageParams(types.MessageType.Warning, message))
    return action


def _site_range(site: GenerationSite) -> types.Range:
    """Whole lines [first, end): their start columns are 0 in every position encoding."""
    return types.Range(types.Position(site.first, 0), types.Position(site.end, 0))
