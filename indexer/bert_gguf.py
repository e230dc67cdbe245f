"""Convert a sentence-transformers BERT checkpoint (safetensors) into a GGUF embedding model.

llama.cpp's own converter does this too, but it needs torch, which the language server must not
import. This follows its BERT rules: tensor names through `gguf`'s name map, the WordPiece
vocabulary turned into the "phantom space" form llama.cpp's WPM tokenizer expects ("##ing" -> "ing",
"word" -> "\u2581word"), non-causal attention, and the pooling sentence-transformers uses.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
from safetensors import safe_open

POOLING = {
    "pooling_mode_mean_tokens": gguf.PoolingType.MEAN,
    "pooling_mode_cls_token": gguf.PoolingType.CLS,
}
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
F32_TABLES = ("position_embd", "token_types")
SKIPPED_TENSORS = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def convert_bert_to_gguf(model_dir: Path, output: Path, *, name: str) -> None:
    """Write `output` from `model_dir` (config.json, model.safetensors, vocab.txt, 1_Pooling/)."""
    config = json.loads((model_dir / "config.json").read_text())
    writer = gguf.GGUFWriter(str(output), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    _write_parameters(writer, config, model_dir, name)
    _write_vocabulary(writer, model_dir)
    _write_tensors(writer, model_dir / "model.safetensors", config["num_hidden_layers"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _write_parameters(writer: gguf.GGUFWriter, config: dict, model_dir: Path, name: str) -> None:
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    mode = next((POOLING[key] for key in POOLING if pooling.get(key)), None)
    if mode is None:
        raise ValueError(f"unsupported pooling in {model_dir / '1_Pooling'}")
    writer.add_pooling_type(mode)


def _write_vocabulary(writer: gguf.GGUFWriter, model_dir: Path) -> None:
    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    kinds = [
        gguf.TokenType.CONTROL if word in SPECIAL_TOKENS else gguf.TokenType.NORMAL
        for word in words
    ]
    tokens = [_phantom_space(word, kind) for word, kind in zip(words, kinds, strict=True)]
    writer.add_token_type_count(2)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(kinds)
    index = {word: position for position, word in enumerate(words)}
    writer.add_unk_token_id(index["[UNK]"])
    writer.add_sep_token_id(index["[SEP]"])
    writer.add_pad_token_id(index["[PAD]"])
    writer.add_mask_token_id(index["[MASK]"])
    writer.add_bos_token_id(index["[CLS]"])
    writer.add_eos_token_id(index["[SEP]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)


def _phantom_space(word: str, kind: gguf.TokenType) -> str:
    if kind == gguf.TokenType.CONTROL:
        return word
    return word[2:] if word.startswith("##") else "\u2581" + word


def _write_tensors(writer: gguf.GGUFWriter, weights: Path, blocks: int) -> None:
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, blocks)
    with safe_open(str(weights), framework="np") as tensors:
        for key in tensors.keys():
            source = key.removeprefix("bert.")
            if source in SKIPPED_TENSORS:
                continue
            target = names.get_name(source, try_suffixes=(".weight", ".bias"))
            if target is None:
                raise ValueError(f"no GGUF name for tensor {key}")
            data = tensors.get_tensor(key)
            # Weight matrices in f16 (half the file, as llama.cpp's converter writes them); norms
            # and the position and token-type tables stay f32: llama.cpp adds them to f32 values.
            half = data.ndim == 2 and not target.startswith(F32_TABLES)
            data = data.astype(np.float16 if half else np.float32)
            writer.add_tensor(target, data)
