"""Preference pairs for the DPO stage: from feedback log records, and how they are rendered."""

from __future__ import annotations

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.server.prompt_formats import TRAINED_FIM, select_format
from ghostwright.training.data.preferences import Preference, log_preferences, render_preference
from ghostwright.training.preference_stage import dpo_options


def row(text: str, outcome: str | None, final: str | None = None, **more) -> dict:
    return {
        "path": "a.py",
        "prefix": "def f(x):\n    ",
        "suffix": "\n",
        "text": text,
        "outcome": outcome,
        "accepted_chars": more.get("accepted_chars"),
        "final": final,
    }


def test_pairs_from_the_log():
    rows = [
        row("return x + 1", "dismissed", final="return x * 2"),
        row("return x * 2", "accepted", final="return x * 2"),  # kept as is: no kept-edit pair
        row("return x * 2 + y", "partial", accepted_chars=12, final="return x * 2"),
        row("pass", None),  # never decided
        {**row("return 0", "dismissed"), "prefix": "elsewhere = "},  # another place
    ]
    pairs = log_preferences(rows)
    kept = [(p.chosen, p.rejected) for p in pairs if p.source == "kept-edit"]
    assert kept == [("return x * 2", "return x + 1"), ("return x * 2", "return x * 2 + y")]
    versus = [(p.chosen, p.rejected) for p in pairs if p.source == "accepted-vs-dismissed"]
    assert versus == [("return x * 2", "return x + 1")]  # the partial's kept part is the same


def test_a_pair_is_rendered_like_a_supervised_sample():
    fmt = select_format(TRAINED_FIM, None)
    pair = Preference("a.py", "def f(x):\n    ", "\n", "return x * 2", "pass", "holes")
    rendered = render_preference(fmt, pair, (400, 100))
    # The indentation typed before the cursor moves into both completions, as in Stage B.
    assert rendered == {
        "prompt": "<unused0><unused1>\n<unused2>def f(x):\n",
        "chosen": "    return x * 2<unused3>",
        "rejected": "    pass<unused3>",
    }


def test_dpo_options_from_key_value_overrides():
    options = dpo_options(["beta=0.2", "epochs=1"], None)
    assert options.beta == 0.2 and options.epochs == 1
    with pytest.raises(GhostwrightError, match="unknown DPO setting"):
        dpo_options(["lr=1"], None)
    with pytest.raises(GhostwrightError, match="beta expects a float"):
        dpo_options(["beta=high"], None)
    with pytest.raises(GhostwrightError, match="epochs=N"):
        dpo_options([], 10)
