"""textDocument/inlineCompletion (LSP 3.18) and the textDocument/completion fallback."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ghostwright.server.body_writer import LOAD_WAIT_S
from ghostwright.server.features.documents import completion_request, open_document
from ghostwright.server.pipeline.complete import CompletionRequest, CompletionResult

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer

WORD_BEFORE = re.compile(r"[A-Za-z0-9_]*$")
# Sent by the editors when the user arrives at a place (a buffer entered, the cursor resting):
# {"textDocument": {"uri": ...}, "position": {"line": ..., "character": ...}}.
PREFILL = "ghostwright/prefill"


async def suggest(
    server: GhostwrightServer, request: CompletionRequest | None
) -> CompletionResult | None:
    """The result for a request; None for no suggestion. A request made while the model loads
    waits for it (the editor cancels it if the user types on), so the user who starts typing
    at once gets the first suggestion as soon as the model is up, without typing again."""
    if request is None or not await server.engine.wait_until_loaded(LOAD_WAIT_S):
        return None
    result = await server.engine.complete_async(request)
    return result if result is not None and result.completion else None


def register(server: GhostwrightServer) -> None:
    """Serve ghost text, and one plain-text completion item for clients without it."""

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: GhostwrightServer,
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList | None:
        uri = params.text_document.uri
        request = completion_request(ls, uri, params.position)
        automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
        if request is None or (
            ls.feedback and not ls.feedback.should_suggest(uri, request, automatic)
        ):
            return None
        result = await suggest(ls, request)
        if result is None:
            return None
        here = types.Range(params.position, params.position)
        item = types.InlineCompletionItem(
            insert_text=result.completion,
            range=here,
            command=ls.feedback.shown(uri, request, result) if ls.feedback else None,
        )
        return types.InlineCompletionList(items=[item])

    @server.feature(PREFILL)
    def prefill(ls: GhostwrightServer, params: Any) -> None:
        """Evaluate the window at the user's cursor before anything is asked there."""
        where = _prefill_position(params)
        if where is None or not ls.engine.ready:
            return
        request = completion_request(ls, *where)
        if request is not None:
            ls.engine.prefill(request)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(
        ls: GhostwrightServer,
        params: types.CompletionParams,
    ) -> types.CompletionList | None:
        uri = params.text_document.uri
        request = completion_request(ls, uri, params.position)
        result = await suggest(ls, request)
        document = open_document(ls, uri)
        if result is None or request is None or document is None:
            return None
        text = result.completion
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
            command=ls.feedback.shown(uri, request, result) if ls.feedback else None,
        )
        return types.CompletionList(is_incomplete=True, items=[item])


def _prefill_position(params: Any) -> tuple[str, types.Position] | None:
    """(uri, position) from the notification's parameters; None when they are malformed."""

    def field(value: Any, name: str) -> Any:
        return value.get(name) if isinstance(value, dict) else getattr(value, name, None)

    uri = field(field(params, "textDocument"), "uri")
    position = field(params, "position")
    line, character = field(position, "line"), field(position, "character")
    if not isinstance(uri, str) or not isinstance(line, int) or not isinstance(character, int):
        return None
    return uri, types.Position(line, character)
