"""When not to suggest: a small classifier over cheap features, learnt from the feedback log.

Before the model runs, the server knows where the cursor is and what the user did with recent
suggestions; that is enough to tell many places where a suggestion is nearly always dismissed
(in the middle of code, after a closing bracket, in a comment). `ghostwright feedback
train-trigger` fits a logistic regression on the log's decided suggestions (the older 70%) and
picks the threshold that keeps most of what the user accepts on the newer 30%; the server then
skips the model below it. Twelve weights do not justify importing scikit-learn into the server, so
the fit is a few lines of numpy (gradient descent on the L2-regularised log loss).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ghostwright.server.errors import GhostwrightError

TRIGGER_FILE = "trigger.json"
RECENT = 20  # decided suggestions the "recent acceptance" feature looks back over
HELD_OUT_SHARE = 0.3
MIN_KEEP = 0.9  # the threshold may drop at most 10% of the held-out accepted suggestions
ACCEPTED = ("accepted", "partial", "overwritten")
LANGUAGES = ("python", "javascript", "typescript", "go", "rust")
CLOSERS = set(")]}>\"'`;:,")
FEATURES = (
    "bias",
    "line_end",  # nothing but spaces right of the cursor
    "closers_right",  # only closing brackets and quotes right of the cursor
    "code_right",  # other code right of the cursor
    "line_start",  # only indentation left of the cursor
    "after_space",  # a space just before the cursor (after code)
    "after_word",  # a letter, digit or _ is the last thing typed
    "after_dot",
    "after_opener",  # ( [ { , = :
    "after_closer",  # ) ] } " '
    "in_comment",
    "previous_blank",
    "log_line_length",
    "recent_acceptance",
    *(f"language_{name}" for name in LANGUAGES),
)


def trigger_path(root: Path) -> Path:
    return root / ".ghostwright" / TRIGGER_FILE


def features(
    line_prefix: str, line_suffix: str, previous_line: str, language: str, recent: float
) -> np.ndarray:
    """The feature vector of a cursor (what is left and right of it on its line, the line
    above, the language and the recent acceptance rate), in `FEATURES` order."""
    right = line_suffix.strip()
    closers_only = all(char in CLOSERS or char.isspace() for char in right)
    last = line_prefix.rstrip()[-1:]  # the last thing typed, spaces aside
    stripped = line_prefix.lstrip()
    values = [
        1.0,
        float(not right),
        float(bool(right) and closers_only),
        float(bool(right) and not closers_only),
        float(not stripped),
        float(bool(stripped) and line_prefix.endswith(" ")),
        float(bool(last) and (last.isalnum() or last == "_")),
        float(last == "."),
        float(last in "([{,=:"),
        float(last in ")]}\"'"),
        float(stripped.startswith(("#", "//", "/*", "*", "--"))),
        float(not previous_line.strip()),
        math.log1p(len(line_prefix)),
        recent,
        *(float(language == name) for name in LANGUAGES),
    ]
    return np.asarray(values, dtype=np.float64)


def row_features(rows: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of decided log records, in order; the recent acceptance of each is
    that of the decided records before it (0.5 before any)."""
    recent: deque[float] = deque(maxlen=RECENT)
    matrix, labels = [], []
    for row in rows:
        if row["outcome"] is None:
            continue
        before = row["prefix"].split("\n")
        rate = sum(recent) / len(recent) if recent else 0.5
        matrix.append(
            features(
                before[-1],
                row["suffix"].split("\n", 1)[0],
                before[-2] if len(before) > 1 else "",
                row["language"],
                rate,
            )
        )
        accepted = float(row["outcome"] in ACCEPTED)
        labels.append(accepted)
        recent.append(accepted)
    return np.asarray(matrix).reshape(len(matrix), len(FEATURES)), np.asarray(labels)


def fit(matrix: np.ndarray, labels: np.ndarray, l2: float = 1e-2, steps: int = 2000) -> np.ndarray:
    """Logistic regression weights by full-batch gradient descent (the loss is convex)."""
    weights = np.zeros(matrix.shape[1])
    rate = 0.5
    for _ in range(steps):
        predicted = _sigmoid(matrix @ weights)
        gradient = matrix.T @ (predicted - labels) / len(labels) + l2 * weights
        gradient[0] -= l2 * weights[0]  # the bias is not regularised
        weights -= rate * gradient
    return weights


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(values, -30, 30)))


@dataclass(frozen=True)
class Trigger:
    """A fitted classifier: skip a suggestion when p(accepted) < threshold."""

    weights: list[float]
    threshold: float
    features: tuple[str, ...] = FEATURES

    def probability(self, vector: np.ndarray) -> float:
        return float(_sigmoid(np.asarray(self.weights) @ vector))

    def should_suggest(self, vector: np.ndarray) -> bool:
        return self.probability(vector) >= self.threshold


def operating_points(probabilities: np.ndarray, labels: np.ndarray) -> list[dict]:
    """For each threshold: share of suggestions still shown, of accepted ones kept, and the
    acceptance rate of those shown."""
    points = []
    for threshold in np.round(np.arange(0.0, 1.0, 0.05), 2):
        shown = probabilities >= threshold
        accepted = labels.sum()
        points.append(
            {
                "threshold": float(threshold),
                "shown_share": round(float(shown.mean()), 4),
                "accepted_kept": round(float(labels[shown].sum() / accepted), 4) if accepted else 0,
                "acceptance_rate": round(float(labels[shown].mean()), 4) if shown.any() else 0,
            }
        )
    return points


def train_trigger(rows: Iterable[dict], min_records: int = 50) -> tuple[Trigger, dict]:
    """Fit on the older 70% of decided records, choose the threshold on the newer 30%, and say
    what it does there; refit on everything with that threshold."""
    matrix, labels = row_features(list(rows))
    if len(labels) < min_records:
        raise GhostwrightError(
            f"the feedback log has {len(labels)} decided suggestions; "
            f"the trigger needs {min_records}"
        )
    cut = int(len(labels) * (1 - HELD_OUT_SHARE))
    weights = fit(matrix[:cut], labels[:cut])
    held_out = _sigmoid(matrix[cut:] @ weights)
    points = operating_points(held_out, labels[cut:])
    chosen = max(
        (point for point in points if point["accepted_kept"] >= MIN_KEEP),
        key=lambda point: point["threshold"],
        default=points[0],
    )
    report = {
        "records": len(labels),
        "train": cut,
        "held_out": len(labels) - cut,
        "held_out_accepted": int(labels[cut:].sum()),
        "always": points[0],
        "chosen": chosen,
        "operating_points": points,
    }
    return Trigger(fit(matrix, labels).tolist(), chosen["threshold"]), report


def save_trigger(trigger: Trigger, report: dict, path: Path) -> None:
    from ghostwright.indexer.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        partial.write_text(json.dumps({**asdict(trigger), "report": report}, indent=2))


def load_trigger(path: Path) -> Trigger | None:
    """The repository's trigger, or None (absent, unreadable or for other features)."""
    try:
        saved = json.loads(path.read_text())
        trigger = Trigger(
            [float(w) for w in saved["weights"]],
            float(saved["threshold"]),
            tuple(saved["features"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (
        trigger if trigger.features == FEATURES and len(trigger.weights) == len(FEATURES) else None
    )
