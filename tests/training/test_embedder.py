"""`ghostwright train embedder` end to end on a tiny random BERT built here: mined pairs, InfoNCE
training with a resume, GGUF export checked against torch, the gate, the install, and the index
opening with the new embedder."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from ghostwright.indexer.embedder import default_embedder_dir
from ghostwright.server.config import Settings
from ghostwright.server.indexing.workspace import close_index, open_index
from ghostwright.server.installs.embedders import installed_embedder
from ghostwright.training.embedder.contrastive import ContrastiveOptions, Encoder, train
from ghostwright.training.embedder.pairs import mine_pairs
from ghostwright.training.embedder.run import EmbedderRun, train_embedder
from ghostwright.training.progress import TrainProgress

WORDS = ["area", "volume", "margin", "discount", "velocity", "balance", "weight", "height"]


def toy_repo(root: Path, modules: int = 24) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(modules):
        word, other = WORDS[i % len(WORDS)], WORDS[(i + 3) % len(WORDS)]
        callee = (i + 5) % modules
        (root / f"mod{i}.py").write_text(
            f"from mod{callee} import compute_{WORDS[callee % len(WORDS)]}_{callee}\n\n\n"
            f"def compute_{word}_{i}(value, factor):\n"
            f'    """Compute the {word} of a value scaled by a factor, for the {other} table."""\n'
            f"    result = value * factor + {i}\n"
            f"    return result\n\n\n"
            f"def use_{word}_{i}(amount):\n"
            f"    total = amount + {i}\n"
            f"    return compute_{WORDS[callee % len(WORDS)]}_{callee}(total, 2)\n"
        )
    return root


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT with the packaged MiniLM's tokenizer and mean pooling."""
    from transformers import BertConfig, BertModel

    source = default_embedder_dir()
    folder = tmp_path_factory.mktemp("tiny-bert")
    vocabulary = (source / "vocab.txt").read_text(encoding="utf-8").splitlines()
    config = BertConfig(
        vocab_size=len(vocabulary),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(source / name, folder / name)
    shutil.copytree(source / "1_Pooling", folder / "1_Pooling")
    return folder


def test_train_export_gate_install_and_the_index_uses_it(tmp_path, tiny_bert):
    root = toy_repo(tmp_path / "repo")
    options = ContrastiveOptions(epochs=3, batch_size=8, learning_rate=1e-3, temperature=0.1)
    run = EmbedderRun(root, options, force=True, base_dir=tiny_bert)
    report = train_embedder(run, TrainProgress(as_json=True))

    assert report["pairs"]["held_out"]["doc"] > 0 and report["pairs"]["train"]["call"] > 0
    assert report["check"]["passed"], report["check"]  # llama.cpp's vectors match torch's
    for side in ("before", "after"):
        assert 0 < report[side]["mrr"] <= 1 and report[side]["pairs"] >= 10
    assert report["training"]["steps"] == 3 * math.ceil(sum(report["pairs"]["train"].values()) / 8)

    record = installed_embedder(root)
    assert record is not None and record["path"] == report["installed"]
    assert json.loads((root / ".ghostwright/embedders/current.json").read_text())["after"]
    index = open_index(root, Settings(retrieval=True))
    try:
        assert index.embedder.id.startswith("repo-embedder-")  # not the packaged MiniLM
        assert index.sync().chunks > 0
    finally:
        close_index(index)


def test_without_a_gain_nothing_is_installed(tmp_path, tiny_bert):
    root = toy_repo(tmp_path / "repo")
    options = ContrastiveOptions(epochs=1, batch_size=8, learning_rate=1e-12)  # learns nothing
    report = train_embedder(EmbedderRun(root, options, base_dir=tiny_bert), TrainProgress(True))
    assert report["installed"] is None
    assert report["reason"] == "held-out MRR did not improve"
    assert installed_embedder(root) is None


def test_a_resumed_run_continues_where_it_stopped(tmp_path, tiny_bert):
    pairs = mine_pairs(toy_repo(tmp_path / "repo")).train
    run_dir = tmp_path / "run"
    one = ContrastiveOptions(epochs=1, batch_size=8, checkpoint_every=1)
    first = train(Encoder(tiny_bert), pairs, run_dir, one)
    seen: list[int] = []
    two = ContrastiveOptions(epochs=2, batch_size=8, checkpoint_every=1)
    second = train(Encoder(tiny_bert), pairs, run_dir, two, lambda step, *_: seen.append(step))
    assert second["steps"] == 2 * first["steps"]
    assert seen == list(range(first["steps"] + 1, second["steps"] + 1))  # only the new epoch
