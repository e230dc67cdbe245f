"""The learnt trigger: features of a cursor, the fit, the held-out threshold, the saved file."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from ghostwright.server.cli import main
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.feedback.log import FeedbackLog, Shown, feedback_path
from ghostwright.server.trigger import (
    FEATURES,
    Trigger,
    features,
    fit,
    load_trigger,
    row_features,
    save_trigger,
    train_trigger,
    trigger_path,
)


def named(vector: np.ndarray) -> dict[str, float]:
    return dict(zip(FEATURES, vector.tolist(), strict=True))


def test_features_of_a_cursor():
    at_end = named(features("    total = ", "", "def f():", "python", 0.25))
    assert at_end["line_end"] == 1 and at_end["after_opener"] == 1 and at_end["after_space"] == 1
    assert at_end["recent_acceptance"] == 0.25 and at_end["language_python"] == 1
    middle = named(features("    print(x", ")", "", "go", 0.5))
    assert middle["closers_right"] == 1 and middle["code_right"] == 0
    assert middle["after_word"] == 1 and middle["previous_blank"] == 1
    assert middle["language_go"] == 1 and middle["language_python"] == 0
    inside = named(features("  x = f(", "a, b) + 1", "", "rust", 0.5))
    assert inside["code_right"] == 1
    comment = named(features("    # compute the", "", "", "python", 0.5))
    assert comment["in_comment"] == 1
    assert named(features("    ", "", "", "python", 0.5))["line_start"] == 1


def synthetic_rows(count: int, seed: int = 0) -> list[dict]:
    """Accepted at line ends, dismissed with code to the right (5% noise either way)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        line_end = rng.random() < 0.5
        accepted = line_end != (rng.random() < 0.05)
        rows.append(
            {
                "prefix": "def f(x):\n    y = ",
                "suffix": "\n" if line_end else "x + 1\n",
                "language": "python",
                "outcome": "accepted" if accepted else "dismissed",
            }
        )
    return rows


def test_fit_learns_a_separable_rule():
    matrix, labels = row_features(synthetic_rows(400))
    weights = fit(matrix, labels)
    predicted = 1 / (1 + np.exp(-(matrix @ weights))) >= 0.5
    assert (predicted == labels.astype(bool)).mean() > 0.85


def test_train_trigger_picks_a_threshold_on_newer_records_and_saves_it(tmp_path):
    trigger, report = train_trigger(synthetic_rows(300))
    assert report["train"] == 210 and report["held_out"] == 90
    always, chosen = report["always"], report["chosen"]
    assert always["shown_share"] == 1.0
    assert chosen["accepted_kept"] >= 0.9
    assert chosen["acceptance_rate"] > always["acceptance_rate"] + 0.2  # about 0.5 -> 0.95
    path = trigger_path(tmp_path)
    save_trigger(trigger, report, path)
    assert load_trigger(path) == trigger
    saved = json.loads(path.read_text())
    saved["features"] = saved["features"][:-1]
    path.write_text(json.dumps(saved))
    assert load_trigger(path) is None  # written for other features: ignored
    with pytest.raises(GhostwrightError, match="needs 50"):
        train_trigger(synthetic_rows(10))


def test_should_suggest_uses_the_threshold():
    weights = [0.0] * len(FEATURES)
    weights[FEATURES.index("line_end")] = 4.0
    weights[0] = -2.0
    trigger = Trigger(weights, 0.5)
    assert trigger.should_suggest(features("    y = ", "", "", "python", 0.5))
    assert not trigger.should_suggest(features("    y = ", "x + 1", "", "python", 0.5))


def test_train_trigger_command(tmp_path, capsys):
    log = FeedbackLog(feedback_path(tmp_path))
    for row in synthetic_rows(120):
        shown = Shown("a.py", "python", 1, 8, row["prefix"], row["suffix"], "x", "m", 1.0)
        log.decided(log.shown(shown), row["outcome"])
    log.close()
    assert main(["feedback", "train-trigger", "--repo", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["records"] == 120 and trigger_path(tmp_path).is_file()
    empty = tmp_path / "empty"
    FeedbackLog(feedback_path(empty)).close()
    with pytest.raises(SystemExit) as exit_info:
        main(["feedback", "train-trigger", "--repo", str(empty)])
    assert exit_info.value.code == 2
    assert "decided suggestions" in capsys.readouterr().err
