"""Preference pairs for the DPO stage: what the user kept over what the model offered.

From the feedback log (`server/feedback/log.py`):

- `accepted-vs-dismissed`: two suggestions at the same place (same file, same code around the
  cursor), one accepted (the part accepted), one dismissed;
- `kept-edit`: the code the user had in a suggestion's place when the server looked again (the
  `final` column) over the suggestion itself, where they differ.

From the repository (`holes`): holes mined from the training files (never the held-out files the
gate measures on), the real line as chosen and the served model's different prediction as
rejected, so the stage has data before the log has grown.

Every pair is rendered by the same `render` as the supervised samples, so prompt and completion
are what Stage B learnt and what the server sends.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ghostwright.server.prompt_formats import PromptFormat
from ghostwright.training.data.reader import training_files, training_text
from ghostwright.training.data.samples import render
from ghostwright.training.evaluate.data import EvalCase
from ghostwright.training.evaluate.repo_holes import (
    mine_file,
    names_defined_by_file,
    split_files,
)

SOURCES = ("accepted-vs-dismissed", "kept-edit", "holes")
CONTEXT_KEY = 300  # characters each side of the cursor that make two suggestions "the same place"


@dataclass(frozen=True)
class Preference:
    path: str
    prefix: str
    suffix: str
    chosen: str
    rejected: str
    source: str


def log_preferences(rows: Iterable[dict]) -> list[Preference]:
    """Pairs from feedback log records (`FeedbackLog.rows()`, which redacts their code)."""
    places: dict[tuple, list[dict]] = defaultdict(list)
    pairs: list[Preference] = []
    for row in rows:
        key = (row["path"], row["prefix"][-CONTEXT_KEY:], row["suffix"][:CONTEXT_KEY])
        places[key].append(row)
        final, text = row.get("final"), row["text"]
        if final is not None and final.strip() and final.rstrip() != text.rstrip():
            pairs.append(_pair(row, final, text, "kept-edit"))
    for group in places.values():
        kept = [_kept(row) for row in group if row["outcome"] in ("accepted", "partial")]
        dismissed = [row["text"] for row in group if row["outcome"] == "dismissed"]
        for chosen in dict.fromkeys(text for text in kept if text.strip()):
            for rejected in dict.fromkeys(dismissed):
                if rejected.strip() and rejected != chosen:
                    pairs.append(_pair(group[0], chosen, rejected, "accepted-vs-dismissed"))
    return pairs


def hole_preferences(
    root: Path,
    predict: Callable[[EvalCase], str],
    *,
    seed: int = 0,
    limit: int = 200,
    holes_per_file: int = 6,
    progress: Callable[[int, int], None] | None = None,
) -> list[Preference]:
    """Up to `limit` pairs from holes of the training files where the model is wrong."""
    files = training_files(root)
    _, training = split_files(files, seed)
    foreign = names_defined_by_file(training)
    cases: list[tuple[str, EvalCase]] = []
    for item in training:
        text = training_text(item)
        if text is not None:
            rng = random.Random(f"dpo:{seed}:{item.relative}")
            found = mine_file(item, text, rng, holes_per_file, foreign)
            cases += [(item.relative, case) for case in found if not case.trivial]
    random.Random(seed).shuffle(cases)
    pairs: list[Preference] = []
    for path, case in cases:
        if len(pairs) >= limit:
            break
        predicted = predict(case)
        if predicted.strip() and predicted.rstrip() != case.target.rstrip():
            pairs.append(
                Preference(path, case.prefix, case.suffix, case.target, predicted, "holes")
            )
        if progress is not None:
            progress(len(pairs), limit)
    return pairs


def render_preference(
    fmt: PromptFormat, pair: Preference, window: tuple[int, int]
) -> dict[str, str]:
    """{"prompt", "chosen", "rejected"}: the prompt the server would send, and each completion
    as the supervised target would be written (with the format's stop)."""
    chosen = render(fmt, pair.path, (pair.prefix, pair.chosen, pair.suffix), "dpo", window=window)
    rejected = render(
        fmt, pair.path, (pair.prefix, pair.rejected, pair.suffix), "dpo", window=window
    )
    return {"prompt": chosen.prompt, "chosen": chosen.completion, "rejected": rejected.completion}


def _kept(row: dict) -> str:
    text = row["text"]
    if row["outcome"] == "partial" and row.get("accepted_chars") is not None:
        return text[: row["accepted_chars"]]
    return text


def _pair(row: dict, chosen: str, rejected: str, source: str) -> Preference:
    return Preference(row["path"], row["prefix"], row["suffix"], chosen, rejected, source)
