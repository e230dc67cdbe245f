"""Words for lexical search: identifiers and their parts, the same for chunks and queries."""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
# Words in nearly every chunk of code: they cost query time and rank nothing.
STOP_WORDS = frozenset(
    "self this def return if else elif for while in is not and or the a an of to import from "
    "as none true false null nil let const var function class public private static void int "
    "str new try except catch finally with pass break continue end fn func pub use mut".split()
)
MIN_LENGTH = 2


def identifier_terms(text: str) -> list[str]:
    """`parseHTTPResponse(x_max)` -> parsehttpresponse parse http response xmax max."""
    terms: list[str] = []
    for identifier in IDENTIFIER.findall(text):
        parts = [part.lower() for piece in identifier.split("_") for part in PART.findall(piece)]
        # Letters and digits only, as SQLite's FTS5 tokenizer splits them: read_config and
        # readConfig both become "readconfig".
        whole = identifier.lower().replace("_", "")
        for term in (whole, *parts) if len(parts) > 1 else (whole,):
            if len(term) >= MIN_LENGTH and term not in STOP_WORDS:
                terms.append(term)
    return terms


def query_terms(text: str, limit: int = 64) -> list[str]:
    """The distinct terms of `text`, rarest-looking (longest) first, at most `limit`."""
    distinct = dict.fromkeys(identifier_terms(text))
    return sorted(distinct, key=len, reverse=True)[:limit]
