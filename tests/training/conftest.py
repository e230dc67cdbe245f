"""Tiny random models and a toy dataset built inside the tests: no weights are committed or
downloaded."""

from __future__ import annotations

import json
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
    from ghostwright.server.prompt_formats import TRAINED_FIM, select_format
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


# Qwen2.5-Coder's special tokens: with them a tiny qwen2 GGUF gets the Qwen FIM format.
QWEN_SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
]


@pytest.fixture(scope="session")
def tiny_qwen2_teacher(tmp_path_factory) -> Path:
    """A random qwen2 GGUF with a Qwen-shaped vocabulary: the family teacher. Like the 1.5B and
    the 0.5B, which learnt from the same data, it is related to the student: the student's
    weights, moved by noise, drawn wide enough that it predicts with some confidence."""
    folder = tmp_path_factory.mktemp("qwen2-teacher")
    return tiny_qwen2_gguf(folder, layers=2, seed=2, spread=0.1, moved=0.1)


@pytest.fixture(scope="session")
def tiny_qwen2_student(tmp_path_factory) -> Path:
    """A 2-layer one with the same vocabulary: the family student."""
    return tiny_qwen2_gguf(tmp_path_factory.mktemp("qwen2-student"), layers=2, seed=2, spread=0.1)


def tiny_qwen2_gguf(
    folder: Path, layers: int, seed: int, spread: float = 0.02, moved: float = 0.0
) -> Path:
    """`folder/model.gguf`: a seeded random Qwen2 (tied embedding, q/k/v biases, as the packaged
    tiers) written by the project's own exporter over a metadata-only qwen2 GGUF, so the
    family path reads it exactly as it reads the 1.5B and the 0.5B."""
    import gguf
    import numpy as np

    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    from ghostwright.training.export import export_model_gguf

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=QWEN_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    vocab = json.loads(tokenizer.to_str())["model"]
    tokens = sorted(vocab["vocab"], key=vocab["vocab"].get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in vocab["merges"]]
    types = [
        gguf.TokenType.CONTROL if token in QWEN_SPECIALS else gguf.TokenType.NORMAL
        for token in tokens
    ]
    template = folder / "template.gguf"
    writer = gguf.GGUFWriter(str(template), "qwen2")
    writer.add_context_length(256)
    writer.add_embedding_length(32)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(64)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_eos_token_id(tokens.index("<|endoftext|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    torch.manual_seed(seed)
    config = transformers.Qwen2Config(
        vocab_size=len(tokens),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        initializer_range=spread,
    )
    model = transformers.Qwen2ForCausalLM(config)
    with torch.no_grad():  # random biases, so a wrong bias layout would show
        for layer in model.model.layers:
            for projection in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                projection.bias.normal_(0, 0.5)
        generator = torch.Generator().manual_seed(seed + 1000)
        for name, weight in model.named_parameters():
            if moved and ".layers." in name:
                weight.add_(torch.randn(weight.shape, generator=generator) * moved)
    np.random.seed(seed)
    return export_model_gguf(model, template, folder / "model.gguf", quantization="f16")
