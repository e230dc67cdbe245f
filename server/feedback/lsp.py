"""The feedback log over LSP: each suggestion the server returns, and what the editor did with it.

When the `feedback` setting is on and the workspace has a root folder, every suggestion returned
is written to `.ghostwright/feedback.sqlite3` and its item carries the command
`ghostwright.feedback [id, "accepted"]`, which editors run when the user accepts all of it.
Editors report the rest with the same command: `[id, "partial", characters]` and
`[id, "dismissed"]`. A dismissal whose beginning the user typed anyway counts as partial (VS Code
accepts a word without running the item's command, so its client can only say "not accepted").
Thirty seconds after an acceptance the server measures how much of it is still in the document;
less than half is `overwritten`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.indexer.files import repository_path
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.features.documents import language_of, open_document
from ghostwright.server.feedback.log import (
    OUTCOMES,
    FeedbackLog,
    feedback_path,
    shown_at,
    surviving_share,
)
from ghostwright.server.trigger import RECENT, Trigger, features, load_trigger, trigger_path

if TYPE_CHECKING:
    from pathlib import Path

    from ghostwright.server.app import GhostwrightServer
    from ghostwright.server.pipeline.complete import CompletionRequest, CompletionResult

logger = logging.getLogger(__name__)

FEEDBACK = "ghostwright.feedback"
SURVIVAL_SECONDS = 30.0  # the test server shortens it
OVERWRITTEN_BELOW = 0.5  # an acceptance with less than this share left was edited away
PLACES_KEPT = 256  # suggestions whose place in their document is remembered for the outcome


@dataclass(frozen=True)
class Placed:
    """Where a recorded suggestion went: the document, the offset in code points, the text,
    and the code that followed the cursor then (to tell typed-in text from what was there)."""

    uri: str
    offset: int
    text: str
    suffix: str


class FeedbackRecorder:
    """Writes the server's side of the log; the workspace's log is opened on first use."""

    def __init__(self, server: GhostwrightServer) -> None:
        self.server = server
        self._log: FeedbackLog | None = None
        self._root: Path | None = None
        self._placed: OrderedDict[str, Placed] = OrderedDict()
        self._recent: deque[float] = deque(maxlen=RECENT)  # 1.0 accepted, 0.0 dismissed
        self._trigger: tuple[float | None, Trigger | None] = (None, None)  # (file mtime, it)
        self.skipped = 0

    def should_suggest(self, uri: str, request: CompletionRequest, automatic: bool) -> bool:
        """False where the learnt trigger says a suggestion is rarely accepted; an explicit
        request (the user asked) always gets one."""
        root = self.server.workspace_root()
        if not automatic or root is None or not self.server.engine.settings.learned_trigger:
            return True
        trigger = self._load_trigger(root)
        document = open_document(self.server, uri)
        if trigger is None or document is None:
            return True
        lines = request.text.split("\n")
        line = lines[request.line] if request.line < len(lines) else ""
        previous = lines[request.line - 1] if 0 < request.line <= len(lines) else ""
        recent = sum(self._recent) / len(self._recent) if self._recent else 0.5
        vector = features(
            line[: request.column], line[request.column :], previous, language_of(document), recent
        )
        if trigger.should_suggest(vector):
            return True
        self.skipped += 1
        return False

    def status(self) -> dict:
        stamp, trigger = self._trigger
        return {
            "recording": self.log() is not None,
            "trigger_threshold": trigger.threshold if trigger else None,
            "skipped": self.skipped,
        }

    def _load_trigger(self, root: Path) -> Trigger | None:
        """The repository's trigger, reread when its file changes."""
        path = trigger_path(root)
        try:
            stamp: float | None = path.stat().st_mtime
        except OSError:
            stamp = None
        if stamp != self._trigger[0]:
            self._trigger = (stamp, load_trigger(path) if stamp is not None else None)
        return self._trigger[1]

    def log(self) -> FeedbackLog | None:
        """The workspace's log, or None when the setting is off or there is no root folder."""
        root = self.server.workspace_root()
        if root is None or not self.server.engine.settings.feedback:
            return None
        if self._log is None or self._root != root:
            try:
                self._log, self._root = FeedbackLog(feedback_path(root)), root
            except GhostwrightError as exc:
                self.server.warn_once(f"feedback is not recorded: {exc}")
                return None
        return self._log

    def shown(
        self, uri: str, request: CompletionRequest, result: CompletionResult
    ) -> types.Command | None:
        """Record a suggestion about to be returned; the command that reports its acceptance."""
        log = self.log()
        document = open_document(self.server, uri)
        if log is None or document is None:
            return None
        suggestion, offset = shown_at(
            request.text,
            request.line,
            request.column,
            result.completion,
            path=self._relative(document.path),
            language=language_of(document),
            model=result.model,
            latency_ms=round(result.latency_ms, 1),
        )
        try:
            identifier = log.shown(suggestion)
        except Exception as exc:  # a full disk or a locked file must not cost a suggestion
            logger.debug("could not record a suggestion", exc_info=True)
            self.server.warn_once(f"feedback is not recorded: {exc}")
            return None
        self._placed[identifier] = Placed(uri, offset, result.completion, suggestion.suffix)
        while len(self._placed) > PLACES_KEPT:
            self._placed.popitem(last=False)
        return types.Command(
            title="ghostwright: accepted", command=FEEDBACK, arguments=[identifier, "accepted"]
        )

    def report(self, identifier: str, outcome: str, accepted_chars: int | None = None) -> bool:
        """An outcome from the editor; False when it is unknown or was already decided."""
        log = self.log()
        if log is None or outcome not in OUTCOMES or outcome == "overwritten":
            return False  # only the server decides that an acceptance was edited away
        placed = self._placed.get(identifier)
        if outcome != "partial":
            accepted_chars = None
        if outcome == "dismissed" and placed is not None:
            typed = self._typed_in(placed)
            if typed:
                outcome, accepted_chars = "partial", typed
        if outcome == "accepted" and placed is not None:
            accepted_chars = len(placed.text)
        if not log.decided(identifier, outcome, accepted_chars):
            return False
        self._recent.append(float(outcome != "dismissed"))
        if placed is not None:
            kept = placed.text[: accepted_chars or len(placed.text)]
            if outcome == "dismissed":
                kept = ""  # nothing to survive; what the user wrote instead is still wanted
            self.server.background(self._look_again(log, identifier, placed, kept))
        return True

    def _typed_in(self, placed: Placed) -> int:
        """How many characters of the suggestion now follow its place in the document, beyond
        what followed it when it was shown."""
        now = self._text_after(placed, len(placed.text))
        if now is None:
            return 0
        return max(0, _common_prefix(placed.text, now) - _common_prefix(placed.text, placed.suffix))

    def _text_after(self, placed: Placed, length: int) -> str | None:
        document = open_document(self.server, placed.uri)
        if document is None:
            return None
        return document.source[placed.offset : placed.offset + length]

    async def _look_again(
        self, log: FeedbackLog, identifier: str, placed: Placed, kept: str
    ) -> None:
        """After SURVIVAL_SECONDS: the code in the suggestion's place (`final`), and for an
        acceptance (`kept` is what was accepted) the share of it still there."""
        await asyncio.sleep(SURVIVAL_SECONDS)
        # Twice the length: an accepted line that was edited into a longer one still counts.
        length = len(kept or placed.text)
        now = self._text_after(placed, 2 * length)
        if now is None:
            return  # closed: no way to tell without reading the disk, which may be stale
        final = _through_line_end(now, length)
        if not kept:
            log.written(identifier, final)
            return
        share = surviving_share(kept, now)
        log.survived(identifier, share, final=final)
        if share < OVERWRITTEN_BELOW:
            log.decided(identifier, "overwritten")

    def _relative(self, path: str) -> str:
        root = self.server.workspace_root()
        return (repository_path(root, path) if root else None) or path


def _through_line_end(text: str, length: int) -> str:
    """`text` cut after the line on which its first `length` characters end."""
    end = text.find("\n", max(0, length - 1))
    return text if end < 0 else text[:end]


def _common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def register(server: GhostwrightServer) -> None:
    server.feedback = FeedbackRecorder(server)

    # pygls passes the server in a first parameter named `ls` (see commands.py for its type).
    @server.command(FEEDBACK)
    def feedback(ls: object, *args: object) -> bool:
        """[id, outcome] or [id, "partial", accepted characters]; never an error to the editor."""
        if len(args) < 2 or not all(isinstance(arg, str) for arg in args[:2]):
            return False
        chars = args[2] if len(args) > 2 and type(args[2]) is int and args[2] >= 0 else None
        return server.feedback.report(str(args[0]), str(args[1]), chars)
