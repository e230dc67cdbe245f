"""Trained weights -> GGUF files llama.cpp loads: a LoRA adapter, or a whole (student) model.

Adapters follow llama.cpp's own `convert_lora_to_gguf.py`: `general.type=adapter`,
`adapter.type=lora`, `adapter.lora.alpha`; for each adapted weight, `<gguf name>.lora_a` (rank x in)
and `.lora_b` (out x rank), names through `gguf`'s tensor name map for the base model's
architecture. For the `llama` architecture llama.cpp stores q/k weights with rows permuted per head,
so lora_b of q and k is permuted the same way (without it the output is clearly wrong; gemma needs
none).

A whole model (the distilled student) keeps the teacher GGUF's metadata and tokenizer word for
word, with its own block count and per-block attention pattern; its tensors are the transformers
weights put back into llama.cpp's layout (the inverse of what transformers does when it loads a
GGUF: Gemma 2/3 store norm weights plus one, llama permutes q/k), written in float32 and then
quantized by llama.cpp itself through llama-cpp-python's `llama_model_quantize`.

The token embedding can be quantized apart from the rest (`EMBEDDING_QUANTIZATIONS`). In a small
model with a large vocabulary it decides the time per generated token: Gemma 3 270M ties its
262,144 x 640 embedding to the output layer, which every token reads whole (178 MB at the
published Q8_0, against about 60 MB for all 18 blocks). At Q4_0 it is half of that, and Q4_0 is
the type llama.cpp repacks for its fastest CPU kernels (measured: 13.1 -> 9.0 ms per token).
Rounding it costs quality (KL 0.24-0.34 against the unrounded model) unless the student is
trained with the rounded embedding in place (`round_embedding`): then the export keeps exactly
the values the student learned with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gguf
import numpy as np
from safetensors import safe_open

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.prompt_formats import PromptFormat
from ghostwright.training.embeddings import EMBEDDING_QUANTIZATIONS

if TYPE_CHECKING:
    from ghostwright.training.vocabulary import Vocabulary

PEFT_PREFIX = "base_model.model."
PERMUTED_ARCHS = {"llama"}
NORM_PLUS_ONE_ARCHS = {"gemma2", "gemma3"}  # transformers subtracts 1 when it loads these
QUANTIZATIONS = {"q4_k_m": 15, "q5_k_m": 17, "q6_k": 18, "q8_0": 7, "f16": 1}  # llama_ftype
# `quantization: auto` tries these in order; the first to pass the logit check is kept. No q6_k:
# Gemma's 640-wide rows do not fit its 256-blocks, so most tensors fall back to q8_0 anyway, and
# the q6_k rest runs slower than q8_0 here (8.45 against 8.12 ms per token, interleaved).
AUTO_QUANTIZATIONS = ("q4_k_m", "q8_0")
# Written by GGUFWriter itself or changed for the student; everything else is copied.
REWRITTEN_KEYS = ("GGUF.", "general.architecture", "general.file_type", "general.name")


def base_architecture(model_gguf: Path) -> tuple[str, dict[str, int]]:
    """`general.architecture` of a GGUF model and the head counts the permutation needs."""
    reader = gguf.GGUFReader(str(model_gguf))
    arch = _field(reader, "general.architecture")
    heads = {
        "blocks": int(_field(reader, f"{arch}.block_count")),
        "heads": int(_field(reader, f"{arch}.attention.head_count")),
        "kv_heads": int(_field(reader, f"{arch}.attention.head_count_kv") or 0),
    }
    heads["kv_heads"] = heads["kv_heads"] or heads["heads"]
    return arch, heads


def export_lora_gguf(adapter_dir: Path, base_gguf: Path, output: Path) -> Path:
    """Write `output` (atomically) from a peft adapter folder trained on `base_gguf`'s model."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    arch, heads = base_architecture(base_gguf)
    arch_id = next((k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch), None)
    if arch_id is None:
        raise GhostwrightError(f"gguf does not know the architecture {arch!r}")
    names = gguf.get_tensor_name_map(arch_id, heads["blocks"])
    pairs = _lora_pairs(adapter_dir / "adapter_model.safetensors")
    with atomic_path(output) as partial:
        _write_adapter(partial, arch, float(config["lora_alpha"]), names, heads, pairs)
    return output


def export_model_gguf(
    model: Any,
    teacher_gguf: Path,
    output: Path,
    quantization: str = "q4_k_m",
    embedding: str = "default",
    vocabulary: Vocabulary | None = None,
) -> Path:
    """Write `output` (atomically): the transformers `model` as a GGUF model with the teacher's
    metadata and vocabulary (trimmed to `vocabulary` when the student has one), quantized
    (`QUANTIZATIONS`), its token embedding (and output layer) as `embedding`
    (`EMBEDDING_QUANTIZATIONS`)."""
    if quantization not in QUANTIZATIONS:
        raise GhostwrightError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")
    if embedding not in EMBEDDING_QUANTIZATIONS:
        allowed = ", ".join(EMBEDDING_QUANTIZATIONS)
        raise GhostwrightError(f"embedding quantization must be one of {allowed}")
    arch, heads = base_architecture(teacher_gguf)
    blocks = model.config.num_hidden_layers
    full = output.with_name(f".{output.stem}.f32.gguf")  # the quantizer's input, then gone
    try:
        teacher = gguf.GGUFReader(str(teacher_gguf))
        _write_model(full, model, teacher, arch, heads, blocks, vocabulary)
        with atomic_path(output) as partial:
            quantize_gguf(
                full, partial, QUANTIZATIONS[quantization], EMBEDDING_QUANTIZATIONS[embedding]
            )
    finally:
        full.unlink(missing_ok=True)
    return output


def quantize_gguf(
    source: Path, target: Path, ftype: int, embedding: gguf.GGMLQuantizationType | None = None
) -> None:
    """llama.cpp's own quantizer (the `llama-quantize` tool's code) through the bindings;
    `embedding`: the token embedding's and output layer's type instead of llama.cpp's choice."""
    import ctypes
    import os

    import llama_cpp

    import ghostwright.indexer.llama_native  # noqa: F401  (routes llama.cpp's log to ours)

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = os.cpu_count() or 1
    if embedding is not None:
        params.token_embedding_type = int(embedding)
        params.output_tensor_type = int(embedding)
    status = llama_cpp.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0:
        raise GhostwrightError(f"llama.cpp could not quantize {source} (status {status})")


def _write_model(
    path: Path,
    model: Any,
    teacher: gguf.GGUFReader,
    arch: str,
    heads: dict,
    blocks: int,
    vocabulary: Vocabulary | None,
) -> None:
    from ghostwright.training.vocabulary import trimmed_field

    writer = gguf.GGUFWriter(str(path), arch)
    block_count = gguf.Keys.LLM.BLOCK_COUNT.format(arch=arch)
    pattern_key = gguf.Keys.Attention.SLIDING_WINDOW_PATTERN.format(arch=arch)
    for field in teacher.fields.values():
        if field.name.startswith(REWRITTEN_KEYS) or field.name in (block_count, pattern_key):
            continue
        sub_type = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        contents = field.contents()
        if vocabulary is not None:
            contents = trimmed_field(field.name, contents, vocabulary)
        writer.add_key_value(field.name, contents, field.types[0], sub_type=sub_type)
    writer.add_name(f"{_field(teacher, 'general.name') or arch} distilled ({blocks} blocks)")
    writer.add_block_count(blocks)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    pattern = sliding_window_pattern(model)
    if pattern is not None and _field(teacher, f"{arch}.attention.sliding_window"):
        writer.add_sliding_window_pattern(pattern)
    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    names = gguf.get_tensor_name_map(arch_id, blocks)
    tied = not any(tensor.name == "output.weight" for tensor in teacher.tensors)
    for name, weight in model.state_dict().items():
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise GhostwrightError(f"no GGUF name for {name} in architecture {arch}")
        if tied and target == "output.weight":
            continue  # the token embedding, which llama.cpp reuses as the output layer
        array = _gguf_layout(name, weight.detach().float().numpy(), arch, heads)
        writer.add_tensor(target, np.ascontiguousarray(array, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def sliding_window_pattern(model: Any) -> list[bool] | None:
    """Per block: does it attend through a sliding window (None: the model has one kind)."""
    types = getattr(model.config, "layer_types", None)
    return [kind == "sliding_attention" for kind in types] if types else None


def _gguf_layout(name: str, array: np.ndarray, arch: str, heads: dict) -> np.ndarray:
    """The inverse of transformers' GGUF loading for this tensor."""
    if arch in NORM_PLUS_ONE_ARCHS and name.endswith("norm.weight"):
        return array + 1
    if arch in PERMUTED_ARCHS and name.endswith(("q_proj.weight", "k_proj.weight")):
        count = heads["heads"] if "q_proj" in name else heads["kv_heads"]
        return permute_rows(array, count)
    return array


def write_modelfile(target: Path, base_gguf: Path, adapter: Path, fmt: PromptFormat) -> Path:
    """An Ollama Modelfile serving base + adapter with the format the adapter was trained on:
    `ollama create NAME -f Modelfile`, then FIM through the API's `prompt` and `suffix`. The
    template is the server's own prompt text with Ollama's placeholders in the holes."""
    template = fmt.render("{{ .Prompt }}", "{{ .Suffix }}")
    lines = [f"FROM {base_gguf.resolve()}", f"ADAPTER {adapter.resolve()}"]
    lines.append(f'TEMPLATE """{template}"""')
    lines += [f"PARAMETER stop {json.dumps(stop)}" for stop in fmt.stop]
    lines += ["PARAMETER temperature 0", "PARAMETER num_predict 128"]
    with atomic_path(target) as partial:
        partial.write_text("\n".join(lines) + "\n")
    return target


def _write_adapter(
    path: Path,
    arch: str,
    alpha: float,
    names: gguf.TensorNameMap,
    heads: dict[str, int],
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for module, (lora_a, lora_b) in sorted(pairs.items()):
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None:
            raise GhostwrightError(f"no GGUF name for {module} in architecture {arch}")
        if arch in PERMUTED_ARCHS and module.endswith(("q_proj", "k_proj")):
            count = heads["heads"] if module.endswith("q_proj") else heads["kv_heads"]
            lora_b = permute_rows(lora_b, count)
        writer.add_tensor(target + ".lora_a", np.ascontiguousarray(lora_a, dtype=np.float32))
        writer.add_tensor(target + ".lora_b", np.ascontiguousarray(lora_b, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def permute_rows(matrix: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's q/k row order: each head's two rotary halves interleaved (as its converter)."""
    rows = matrix.shape[0]
    return (
        matrix.reshape(heads, 2, rows // heads // 2, *matrix.shape[1:])
        .swapaxes(1, 2)
        .reshape(matrix.shape)
    )


def _lora_pairs(weights: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """module name (HF, without the peft prefix) -> (lora_A, lora_B)."""
    found: dict[str, dict[str, np.ndarray]] = {}
    with safe_open(str(weights), framework="np") as tensors:
        for key in tensors.keys():
            for part in ("lora_A", "lora_B"):
                marker = f".{part}.weight"
                if key.endswith(marker):
                    module = key[: -len(marker)].removeprefix(PEFT_PREFIX)
                    found.setdefault(module, {})[part] = tensors.get_tensor(key)
    incomplete = [module for module, parts in found.items() if len(parts) != 2]
    if not found or incomplete:
        raise GhostwrightError(f"{weights} is not a complete LoRA adapter ({incomplete[:3]})")
    return {module: (parts["lora_A"], parts["lora_B"]) for module, parts in found.items()}


def _field(reader: gguf.GGUFReader, key: str) -> object:
    field = reader.get_field(key)
    if field is None:
        return None
    value = field.parts[field.data[0]]
    if field.types and field.types[0] == gguf.GGUFValueType.STRING:
        return bytes(value).decode("utf-8")
    return value[0]
