"""textDocument/inlineCompletion (LSP 3.18) and the textDocument/completion fallback."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.features.documents import completion_request, open_document
from ghostwright.server.pipeline.complete import CompletionRequest

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

WORD_BEFORE = re.compile(r"[A-Za-z0-9_]*$")


async def suggest(server: GhostwrightServer, request: CompletionRequest | None) -> str:
    """The suggestion for a request ("" for none, or before the model is loaded)."""
    if request is None or not server.engine.ready:
        return ""
    return await server.engine.complete_async(request)


def register(server: GhostwrightServer) -> None:
    """Serve ghost text, and one plain-text completion item for clients without it."""

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: GhostwrightServer,
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList | None:
        request = completion_request(ls, params.text_document.uri, params.position)
        text = await suggest(ls, request)
        if not text:
            return None
        here = types.Range(params.position, params.position)
        item = types.InlineCompletionItem(insert_text=text, range=here)
        return types.InlineCompletionList(items=[item])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(
        ls: GhostwrightServer,
        params: types.CompletionParams,
    ) -> types.CompletionList | None:
        request = completion_request(ls, params.text_document.uri, params.position)
        text = await suggest(ls, request)
        document = open_document(ls, params.text_document.uri)
        if not text or request is None or document is None:
            return None
        # The item replaces the word being typed, so the client's filter sees that word first.
        line = document.lines[request.line] if request.line < len(document.lines) else ""
        typed = WORD_BEFORE.search(line[: request.column]).group()
        width = document.position_codec.client_num_units(typed)
        start = types.Position(params.position.line, params.position.character - width)
        item = types.CompletionItem(
            label=(typed + text).split("\n", 1)[0][:80],
            kind=types.CompletionItemKind.Text,
            detail="ghostwright",
            filter_text=typed + text,
            sort_text="0",
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(types.Range(start, params.position), typed + text),
        )
        return types.CompletionList(is_incomplete=True, items=[item])
