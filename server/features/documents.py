"""From an LSP document and position to a pipeline request, with positions in the client's units."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.workspace import TextDocument

from ghostwright.indexer.files import language_for
from ghostwright.server.pipeline.complete import CompletionRequest

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer


def open_document(server: GhostwrightServer, uri: str) -> TextDocument | None:
    """The document the client opened; None for unopened or closed ones (never read from disk)."""
    return server.workspace.text_documents.get(uri)


def to_code_points(document: TextDocument, position: types.Position) -> tuple[int, int] | None:
    """(line, column in code points) for a client position, or None when it is outside."""
    lines = document.lines
    if position.line < 0 or position.character < 0:
        return None
    if position.line >= len(lines):
        if (
            position.line == len(lines)
            and position.character == 0
            and (not lines or lines[-1].endswith("\n"))
        ):
            return position.line, 0  # the empty last line after a final newline
        return None
    line = lines[position.line].rstrip("\r\n")
    if position.character > document.position_codec.client_num_units(line):
        return None
    converted = document.position_codec.position_from_client_units(lines, position)
    return converted.line, converted.character


def completion_request(
    server: GhostwrightServer,
    uri: str,
    position: types.Position,
) -> CompletionRequest | None:
    document = open_document(server, uri)
    if document is None:
        return None
    where = to_code_points(document, position)
    if where is None:
        return None
    text = document.source
    return CompletionRequest(text, where[0], where[1], path=document.path)


def language_of(document: TextDocument) -> str:
    """Our language name: from the path, else from the client's languageId."""
    return language_for(document.path, document.language_id or "")
