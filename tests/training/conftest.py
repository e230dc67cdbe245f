"""Tiny random models and a toy dataset built inside the tests: no weights are committed or
downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "class Cart:\n    def total(self):\n        return sum(self.items)\n",
    "import os\nprint(os.getcwd())\n",
] * 20

SHAPES = '''def area(width, height):
    """Return the area."""
    return width * height


def perimeter(width, height):
    return 2 * (width + height)
'''


@pytest.fixture(scope="session")
def dataset(tmp_path_factory) -> Path:
    """A ghostwright-fim training dataset from eight small files, for the recipe tests."""
    from ghostwright.server.pipeline.prompts import TRAINED_FIM, select_format
    from ghostwright.training.data.build import DataOptions, build_dataset

    repo = tmp_path_factory.mktemp("repo")
    for number in range(8):
        (repo / f"shape{number}.py").write_text(SHAPES.replace("area", f"area{number}"))
    out = tmp_path_factory.mktemp("data")
    options = DataOptions(fim_per_file=6, prefix_chars=80, suffix_chars=30)
    return build_dataset(repo, out, select_format(TRAINED_FIM, None), options)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer Llama with a byte-level BPE tokenizer trained on a few lines of code."""
    return _tiny_llama(tmp_path_factory.mktemp("tiny-model"), layers=2)


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory) -> Path:
    """The same with 4 layers: a teacher to prune and distill."""
    return _tiny_llama(tmp_path_factory.mktemp("tiny-teacher"), layers=4)


def _tiny_llama(folder: Path, layers: int) -> Path:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    fast.save_pretrained(folder)
    tiny_llama_model(len(fast), layers).save_pretrained(folder)
    return folder


def tiny_llama_model(vocab_size: int, layers: int, tied: bool = False):  # noqa: ANN201
    """A seeded random Llama of the tests' tiny shape (<s> = 1, </s> = 2, <pad> = 0)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        tie_word_embeddings=tied,
    )
    return transformers.LlamaForCausalLM(config)


@pytest.fixture(scope="session")
def make_tiny_llama():  # noqa: ANN201
    """`tiny_llama_model` for tests that need the model in memory (a size or tying of their own)."""
    return tiny_llama_model
