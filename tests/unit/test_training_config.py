"""Recipe configs: packaged defaults, the user's YAML over them, then key=value overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from ghostwright.server.errors import GhostwrightError
from ghostwright.training.config import load_config

DEFAULT = "lora_default.yaml"


def test_a_user_file_changes_only_the_keys_it_names(tmp_path: Path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("lr: 1e-3\nlora: {rank: 4}\n")
    config = load_config(mine, ["lora.alpha=8", "max_steps=7"], DEFAULT)
    assert config["lr"] == 0.001 and isinstance(config["lr"], float)  # YAML reads 1e-3 as text
    assert config["lora"]["rank"] == 4 and config["lora"]["alpha"] == 8
    assert config["max_steps"] == 7 and config["batch_size"] == 4  # untouched default
    assert config["lora"]["targets"][0] == "q_proj"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rate: 1\n", "no setting learning_rate"),
        ("lora: {rnak: 4}\n", "no setting lora.rnak"),
        ("max_steps: many\n", "max_steps: not a number"),
        ("- a list\n", "not a mapping"),
        ("lr: [1\n", "cannot read config"),
    ],
)
def test_a_bad_user_file_is_one_clear_error(tmp_path: Path, text: str, message: str):
    mine = tmp_path / "mine.yaml"
    mine.write_text(text)
    with pytest.raises(GhostwrightError, match=message):
        load_config(mine, [], DEFAULT)


def test_overrides_are_checked_against_the_settings():
    with pytest.raises(GhostwrightError, match="override 'lr=fast': lr: not a number"):
        load_config(None, ["lr=fast"], DEFAULT)
    with pytest.raises(GhostwrightError, match="is not key=value"):
        load_config(None, ["lr"], DEFAULT)
