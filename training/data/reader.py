"""The one way repository and log text enters training data, evaluation cases and caches.

Files are picked by the index's rules (secret files refused by name, `.gitignore`, size, binary)
plus the workspace's own `index_include` / `index_exclude` / `index_max_kb`, so a file the user
kept out of the index never reaches a dataset either; every text read has its secrets replaced by
`<redacted>` (`indexer/secrets.py`) before anything is cut from it. The feedback log's text
comes redacted from `FeedbackLog.rows()` (redacted when written, and again when read). What is
written under `.ghostwright/` or the cache (datasets, DPO pairs, teacher labels of those
datasets, retrieval pairs, held-out cases) is therefore scrubbed at the source.
`tests/unit/test_training_reader.py` fails when a training module reads source text another way.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ghostwright.indexer.files import SourceFile, iter_source_files
from ghostwright.indexer.secrets import scrub
from ghostwright.server.config import parse_settings, workspace_settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.indexing.workspace import file_rules
from ghostwright.server.sources import read_source


def training_files(
    root: Path, *, languages: Sequence[str] = (), exclude: Sequence[str] = ()
) -> list[SourceFile]:
    """The source files under `root` the index would take, in a stable order, with a language."""
    values, _ = workspace_settings(root)
    rules = file_rules(parse_settings(values)[0])
    listed = iter_source_files(
        root,
        include=rules.include,
        exclude=(*rules.exclude, *exclude),
        max_bytes=rules.max_bytes,
        languages=languages,
    )
    return [item for item in listed if item.language]


def training_text(item: SourceFile) -> str | None:
    """The file's text with its secrets redacted; None when it has none now (binary, gone)."""
    try:
        return scrub(read_source(item.path))
    except GhostwrightError:
        return None
