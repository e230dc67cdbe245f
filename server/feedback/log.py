"""The local feedback log: each suggestion shown and what became of it.

One SQLite file per repository, `.ghostwright/feedback.sqlite3`, never sent anywhere. A row is
written when a suggestion is shown (where, the code around it and the text with secret-shaped
strings redacted as `indexer/secrets.py` finds them, the model, latency); its
outcome follows when the editor reports it: `accepted` (through the inline completion item's
command), `partial` (a word or line of it), `dismissed` (Escape, or typing on), `overwritten`
(accepted, then edited away); and `survived`, the share of an accepted suggestion still in the
file 30 seconds later. The learning loop reads it: preference pairs for DPO (accepted vs
dismissed at the same place; a surviving edit vs the original suggestion) and the features of
when not to suggest. `ghostwright feedback stats|export|purge` shows, exports or deletes it.
"""

from __future__ import annotations

import difflib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from ghostwright.indexer.secrets import scrub
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.pipeline.context import cursor_offset

FILE_NAME = "feedback.sqlite3"
CONTEXT_CHARS = 2000  # code kept on each side of the cursor: what preference training needs
# Scrubbed with this much more code around it, so a secret cut by the window's edge is still seen
# whole (and redacted) before the window is trimmed.
SCRUB_MARGIN_CHARS = 4096
OUTCOMES = ("accepted", "partial", "dismissed", "overwritten")
TEXT_COLUMNS = ("prefix", "suffix", "text", "final")  # the columns that hold code
SCHEMA_VERSION = 2
# Version 2 adds `final`: the code in the suggestion's place when survival was measured.
MIGRATIONS = {1: "ALTER TABLE suggestions ADD COLUMN final TEXT"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS suggestions (
    id TEXT PRIMARY KEY,
    shown_at REAL NOT NULL,
    path TEXT NOT NULL,
    language TEXT NOT NULL,
    line INTEGER NOT NULL,
    column INTEGER NOT NULL,
    prefix TEXT NOT NULL,
    suffix TEXT NOT NULL,
    text TEXT NOT NULL,
    model TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    outcome TEXT,
    accepted_chars INTEGER,
    decided_at REAL,
    survived REAL,
    final TEXT
);
CREATE INDEX IF NOT EXISTS suggestions_shown_at ON suggestions (shown_at);
"""


@dataclass(frozen=True)
class Shown:
    """A suggestion as the editor showed it: `prefix` / `suffix` are the code around the cursor
    (the end of what came before, the start of what came after) the preference data needs."""

    path: str
    language: str
    line: int
    column: int
    prefix: str
    suffix: str
    text: str
    model: str
    latency_ms: float


def shown_at(
    text: str, line: int, column: int, suggestion: str, **details: str | float
) -> tuple[Shown, int]:
    """The record of `suggestion` at (line, column) of `text` (lines split on "\\n", columns in
    code points, as the pipeline counts them), and the cursor's offset in `text`. `details`:
    path, language, model, latency_ms."""
    offset = cursor_offset(text, line, column)
    wide = CONTEXT_CHARS + SCRUB_MARGIN_CHARS
    shown = Shown(
        line=line,
        column=column,
        prefix=scrub(text[max(0, offset - wide) : offset])[-CONTEXT_CHARS:],
        suffix=scrub(text[offset : offset + wide])[:CONTEXT_CHARS],
        text=suggestion,
        **details,  # type: ignore[arg-type]
    )
    return shown, offset


def feedback_path(root: Path) -> Path:
    return root / ".ghostwright" / FILE_NAME


class FeedbackLog:
    """The log of one repository; every write is its own transaction."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # read-only, a file in the folder's place, a full disk
            raise GhostwrightError(f"cannot create {path.parent}: {exc.strerror}") from exc
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise GhostwrightError(f"{path} was written by a newer ghostwright")
            if 0 < version < SCHEMA_VERSION:
                for step in range(version, SCHEMA_VERSION):
                    self._db.execute(MIGRATIONS[step])
            self._db.executescript(SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise GhostwrightError(f"cannot open the feedback log {path}: {exc}") from exc
        self.path = path

    def close(self) -> None:
        self._db.close()

    def shown(self, suggestion: Shown, at: float | None = None) -> str:
        """Record a suggestion shown; returns its id (the editor reports the outcome by it)."""
        identifier = uuid.uuid4().hex
        shown_at = time.time() if at is None else at
        # Secrets never reach the log (or the training data made from it): redacted here too,
        # whoever built the record.
        row = {"id": identifier, "shown_at": shown_at, **asdict(suggestion)}
        row |= {key: scrub(row[key]) for key in TEXT_COLUMNS if row.get(key)}
        columns = ", ".join(row)
        self._db.execute(
            f"INSERT INTO suggestions ({columns}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
        return identifier

    def decided(self, identifier: str, outcome: str, accepted_chars: int | None = None) -> bool:
        """Record what became of a suggestion; False when the id is unknown. `overwritten` may
        follow `accepted` or `partial`; any other outcome is recorded once."""
        if outcome not in OUTCOMES:
            raise GhostwrightError(f"outcome must be one of {', '.join(OUTCOMES)}")
        undecided = "outcome IS NULL"
        if outcome == "overwritten":
            undecided += " OR outcome IN ('accepted', 'partial')"
        cursor = self._db.execute(
            "UPDATE suggestions SET outcome = ?, accepted_chars = COALESCE(?, accepted_chars), "
            f"decided_at = ? WHERE id = ? AND ({undecided})",
            (outcome, accepted_chars, time.time(), identifier),
        )
        return cursor.rowcount == 1

    def survived(self, identifier: str, share: float, final: str | None = None) -> bool:
        """The share (0-1) of an accepted suggestion still in the file some time later, and the
        code in its place then (`final`: what the user kept, for preference pairs)."""
        cursor = self._db.execute(
            "UPDATE suggestions SET survived = ?, final = ? "
            "WHERE id = ? AND outcome IN ('accepted', 'partial')",
            (min(1.0, max(0.0, share)), scrub(final) if final else final, identifier),
        )
        return cursor.rowcount == 1

    def written(self, identifier: str, final: str) -> bool:
        """The code the user had in a suggestion's place later, whatever its outcome."""
        cursor = self._db.execute(
            "UPDATE suggestions SET final = ? WHERE id = ?", (scrub(final), identifier)
        )
        return cursor.rowcount == 1

    def rows(self) -> Iterator[dict]:
        """Every record, oldest first, its code redacted again on the way out: a log written
        before ghostwright redacted on the way in holds the code as it was typed."""
        cursor = self._db.execute("SELECT * FROM suggestions ORDER BY shown_at, id")
        names = [column[0] for column in cursor.description]
        for values in cursor:
            row = dict(zip(names, values, strict=True))
            yield row | {key: scrub(row[key]) for key in TEXT_COLUMNS if row.get(key)}

    def stats(self) -> dict:
        """Counts per outcome, acceptance rate (accepted or partial / decided), mean survival."""
        shown = self._scalar("SELECT COUNT(*) FROM suggestions")
        outcomes = dict.fromkeys(OUTCOMES, 0)
        query = "SELECT outcome, COUNT(*) FROM suggestions WHERE outcome IS NOT NULL GROUP BY 1"
        outcomes.update(dict(self._db.execute(query).fetchall()))
        decided = sum(outcomes.values())
        kept = outcomes["accepted"] + outcomes["partial"] + outcomes["overwritten"]
        return {
            "shown": shown,
            "undecided": shown - decided,
            "outcomes": outcomes,
            "acceptance_rate": kept / decided if decided else None,
            "mean_survival": self._scalar(
                "SELECT AVG(survived) FROM suggestions WHERE survived IS NOT NULL"
            ),
            "first_shown": self._scalar("SELECT MIN(shown_at) FROM suggestions"),
            "last_shown": self._scalar("SELECT MAX(shown_at) FROM suggestions"),
        }

    def export(self, handle: IO[str]) -> int:
        """Every record as one JSON object per line; how many."""
        count = 0
        for row in self.rows():
            handle.write(json.dumps(row) + "\n")
            count += 1
        return count

    def purge(self) -> int:
        """Delete every record (and the space it took); how many there were."""
        count = self._db.execute("DELETE FROM suggestions").rowcount
        self._db.execute("VACUUM")
        return count

    def _scalar(self, query: str) -> float | int | None:
        return self._db.execute(query).fetchone()[0]


def surviving_share(suggestion: str, text_now: str) -> float:
    """How much of `suggestion` is still in `text_now` (the region of the file where it was
    inserted, some time later): matched characters / suggestion length, in order."""
    if not suggestion:
        return 0.0
    matcher = difflib.SequenceMatcher(None, suggestion, text_now, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return matched / len(suggestion)
