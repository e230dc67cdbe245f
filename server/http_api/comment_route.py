"""`POST /ghostwright/comment-to-code`: the editor's "Generate code from comment" over HTTP.

Request: `text` (the file), `line` (0-based, on the comment or docstring), and `path` or
`language`. Response: `edit` (`start_line`, `end_line`: replace lines [start, end), `new_text`)
or `edit: null` and `why`: never a cut-off body, never silence.
"""

from __future__ import annotations

from typing import Any

from ghostwright.indexer.files import language_for
from ghostwright.server.body_writer import write_body
from ghostwright.server.comment_syntax import LINE_COMMENT
from ghostwright.server.engine import Engine
from ghostwright.server.http_api.fields import BadRequest, field
from ghostwright.server.pipeline.comment_to_code import find_site


async def comment_to_code(engine: Engine, body: dict[str, Any], client: str) -> dict[str, Any]:
    text = field(body, "text", str)
    line = field(body, "line", int)
    path = field(body, "path", str, "")
    language = field(body, "language", str, "") or language_for(path)
    if language not in LINE_COMMENT:
        known = ", ".join(sorted(LINE_COMMENT))
        raise BadRequest(f"give 'path' or 'language' ({known}); got {language or 'neither'!r}")
    lines = text.split("\n")
    site = find_site(lines, line, language)
    if site is None:
        raise BadRequest(f"no comment or docstring to write code for on line {line}", 422)
    written = await write_body(engine, lines, site, path, language, client)
    if not written.text:
        return {"edit": None, "why": f"nothing written, {written.why}"}
    edit = {"start_line": site.first, "end_line": site.end, "new_text": written.text}
    return {"edit": edit, "why": ""}
