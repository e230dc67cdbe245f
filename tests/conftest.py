"""Shared fixtures: the packaged default model is assembled once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    from ghostwright.server.models import ensure_default_model

    return ensure_default_model()


@pytest.fixture(scope="session")
def sample_file() -> Path:
    return DATA / "sample.py"
