"""Replay typing through real source files, as an editor would send completion requests.

The cursor walks forward through a few consecutive functions of each file. The document at each
step is everything typed so far plus the rest of the file after the region (the code that already
existed), and a request is made at each word end and at the start of each new line.
"""

from __future__ import annotations

import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from ghostwright.server.pipeline.complete import CompletionRequest
from ghostwright.training.evaluate.repo_holes import is_word_end

DEF_LINE = re.compile(r"^\s*(async\s+)?def\s", re.MULTILINE)

# Standard-library files: real code that exists on every machine with Python.
DEFAULT_SOURCES = ("json/encoder.py", "textwrap.py", "argparse.py", "configparser.py")


def default_sources() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [stdlib / name for name in DEFAULT_SOURCES if (stdlib / name).is_file()]


def region(text: str, skip_functions: int = 2, functions: int = 3) -> tuple[int, int]:
    """Character span of `functions` consecutive functions after the first `skip_functions`."""
    starts = [match.start() for match in DEF_LINE.finditer(text)]
    if len(starts) < skip_functions + functions + 1:
        return (starts[0], len(text)) if starts else (0, len(text))
    return starts[skip_functions], starts[skip_functions + functions]


def cursor_positions(text: str, start: int, end: int) -> Iterator[int]:
    """Word ends, and the first non-blank column of every line, inside [start, end)."""
    for index in range(start + 1, end):
        here = text[index]
        word_end = is_word_end(text, index)
        indentation = text[text.rfind("\n", 0, index) + 1 : index]
        line_start = here not in " \t\n" and not indentation.strip()
        if word_end or line_start:
            yield index


def typing_requests(path: Path, limit: int = 60, max_lines: int = 1) -> Iterator[CompletionRequest]:
    """At most `limit` requests replaying the typing of one region of `path`."""
    text = path.read_text()
    start, end = region(text)
    rest = text[end:]
    for count, position in enumerate(cursor_positions(text, start, end)):
        if count >= limit:
            return
        typed = text[:position]
        line = typed.count("\n")
        column = position - (typed.rfind("\n") + 1)
        yield CompletionRequest(typed + "\n" + rest, line, column, str(path), max_lines)
