"""Speculative decoding's pure parts: which drafts are kept, and what the `draft` setting loads."""

from __future__ import annotations

import pytest

from ghostwright.server.backends import draft_source
from ghostwright.server.backends.drafting import PROMPT_LOOKUP, accepted_count
from ghostwright.server.errors import GhostwrightError


@pytest.mark.parametrize(
    ("drafts", "picks", "kept"),
    [
        ([], [7], 0),
        ([4, 5], [4, 5, 6], 2),
        ([4, 5], [4, 9, 6], 1),
        ([4, 5], [3, 5, 6], 0),  # a later match after a miss does not count
    ],
)
def test_drafts_are_kept_up_to_the_first_disagreement(drafts, picks, kept):
    assert accepted_count(drafts, picks) == kept


def test_the_draft_setting_names_off_prompt_lookup_or_a_model(tmp_path):
    assert draft_source("off") == "" and draft_source(" ") == ""
    assert draft_source("prompt-lookup") == PROMPT_LOOKUP
    with pytest.raises(GhostwrightError, match="draft model not found: .*set `draft`"):
        draft_source(str(tmp_path / "missing.gguf"))
