"""How comments are written, in one place: the comment-to-code action and its training samples
read a language's line comments, the prompt writes its snippet headers as comments of the file
being edited, and hole mining (evaluation, embedder pairs) skips comment lines."""

from __future__ import annotations

# Our languages (indexer/files.py) -> line-comment markers, longest first (Rust's doc
# comments are recognised whole before a plain `//`).
LINE_COMMENT = {
    "python": ("#",),
    "javascript": ("//",),
    "typescript": ("//",),
    "go": ("//",),
    "rust": ("///", "//!", "//"),
    "java": ("//",),
    "c": ("//",),
    "cpp": ("//",),
}
# The marker a comment is written with, by file suffix, for every file type a snippet may
# come from (`#` where unknown: most scripting languages).
SLASH_COMMENT_SUFFIXES = (
    "c h cc cpp cxx hpp hh java js mjs cjs jsx ts tsx go rs swift kt kts scala cs dart php"
)
WRITTEN_COMMENT = {
    **{suffix: "//" for suffix in SLASH_COMMENT_SUFFIXES.split()},
    **{suffix: "--" for suffix in ("lua", "sql", "hs", "elm")},
    **{suffix: "%" for suffix in ("tex", "erl")},
    **{suffix: ";" for suffix in ("clj", "lisp", "el", "scm")},
}
# A line starting with one of these is a comment (or inside a block comment) in any language
# we mine holes from.
COMMENT_STARTS = ("#", "//", "/*", "*", "--")


def line_comment(path: str) -> str:
    """The line-comment marker to write in a file of this name."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return WRITTEN_COMMENT.get(suffix, "#")
