"""Retrieval pairs mined from a repository, InfoNCE, ranking metrics, the installed embedder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ghostwright.indexer.files import iter_source_files
from ghostwright.server.config import Settings
from ghostwright.server.installs.embedders import EMBEDDERS_DIR, with_installed_embedder
from ghostwright.training.embedder.contrastive import batches, info_nce
from ghostwright.training.embedder.measure import ranks, summarise
from ghostwright.training.embedder.pairs import Pair, mine_pairs
from ghostwright.training.evaluate.repo_holes import split_files

PRICES = '''"""Prices."""


def scale_price(amount, factor):
    """Multiply a price by a factor, rounding the result to whole cents."""
    cents = round(amount * factor * 100)
    return cents / 100
'''
CHECKOUT = """from prices import scale_price


def checkout(cart, discount):
    total = sum(item.price for item in cart)
    return scale_price(total, 1 - discount)
"""


def write_repo(root: Path, copies: int = 1) -> Path:
    for number in range(copies):
        suffix = str(number) if copies > 1 else ""
        name = f"scale{suffix}_price"
        (root / f"prices{suffix}.py").write_text(PRICES.replace("scale_price", name))
        (root / f"checkout{suffix}.py").write_text(
            CHECKOUT.replace("scale_price", f"scale{suffix}_price").replace(
                "prices", f"prices{suffix}"
            )
        )
    return root


def test_doc_and_call_pairs(tmp_path):
    mined = mine_pairs(write_repo(tmp_path), max_pairs=100)
    pairs = mined.train + mined.held_out
    (doc,) = [pair for pair in pairs if pair.kind == "doc"]
    docstring = '"""Multiply a price by a factor, rounding the result to whole cents."""'
    assert doc.query.endswith(docstring)
    assert "Multiply" not in doc.positive and "cents = round" in doc.positive
    (call,) = [pair for pair in pairs if pair.kind == "call"]
    assert call.path == "checkout.py"
    assert call.query.endswith("    return scale_price\n")  # cut right after the called name
    assert call.positive == doc.positive  # the definition as the corpus shows it
    assert doc.positive in mined.corpus
    assert not any("Multiply" in text for text in mined.corpus)  # docstrings not findable


def test_pairs_are_split_by_the_harness_split(tmp_path):
    root = write_repo(tmp_path, copies=10)
    mined = mine_pairs(root, seed=3, max_pairs=100)
    held_out, _ = split_files([f for f in iter_source_files(root) if f.language], 3)
    held_out_paths = {item.relative for item in held_out}
    assert mined.held_out and mined.train
    assert {pair.path for pair in mined.held_out} <= held_out_paths
    assert not {pair.path for pair in mined.train} & held_out_paths


def test_info_nce_by_hand_and_shared_code_is_no_negative():
    queries = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    codes = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=-1)
    none = torch.zeros(2, 2, dtype=torch.bool)
    scores = (queries @ codes.T / 0.1).tolist()

    def ce(row: list[float], label: int) -> float:
        return -row[label] + math.log(sum(math.exp(value) for value in row))

    columns = [list(column) for column in zip(*scores, strict=True)]
    expected = (ce(scores[0], 0) + ce(scores[1], 1) + ce(columns[0], 0) + ce(columns[1], 1)) / 4
    assert info_nce(queries, codes, none, 0.1).item() == pytest.approx(expected, rel=1e-5)
    same = torch.ones(2, 2, dtype=torch.bool)  # both pairs answer with the same code
    assert info_nce(queries, codes, same, 0.1).item() == pytest.approx(0.0, abs=1e-6)


def test_batches_are_seeded_and_drop_a_lone_pair():
    pairs = [Pair(f"q{i}", f"c{i}", "doc", "a.py") for i in range(9)]
    first = batches(pairs, 4, seed=1, epoch=0)
    assert first == batches(pairs, 4, seed=1, epoch=0)
    assert first != batches(pairs, 4, seed=1, epoch=1)
    assert [len(batch) for batch in first] == [4, 4]  # the ninth pair alone is no batch


def test_ranks_and_metrics():
    def embed(texts):
        vocabulary = ["apple", "pear", "plum", "fig"]
        rows = np.array([[text.count(word) for word in vocabulary] for text in texts], float)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)

    corpus = ["apple apple", "pear", "plum fig", "fig"]
    pairs = [
        Pair("apple", "apple apple", "doc", "a.py"),  # rank 1
        Pair("fig", "plum fig", "call", "a.py"),  # "fig" beats it: rank 2
    ]
    found = ranks(embed, pairs, corpus)
    assert found == [1, 2]
    figures = summarise([1, 3, 12], [pairs[0]] * 3)
    assert figures["recall@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert figures["recall@5"] == figures["recall@10"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 12) / 3, abs=1e-4)
    assert figures["by_kind"]["call"] == {"pairs": 0}


def test_the_installed_embedder_serves_where_the_setting_is_default(tmp_path):
    folder = tmp_path / EMBEDDERS_DIR
    folder.mkdir(parents=True)
    (folder / "current.json").write_text(json.dumps({"embedder": "repo-embedder.gguf"}))
    assert with_installed_embedder(Settings(), tmp_path) == Settings()  # the file is missing
    (folder / "repo-embedder.gguf").write_bytes(b"GGUF")
    assert with_installed_embedder(Settings(), tmp_path).embedder == str(
        folder / "repo-embedder.gguf"
    )
    own = Settings(embedder="/models/code.gguf")
    assert with_installed_embedder(own, tmp_path) == own
    assert with_installed_embedder(Settings(), None) == Settings()
