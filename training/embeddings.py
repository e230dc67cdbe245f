"""The token embedding (and an untied output layer) of a model in training, and rounding it to
the GGUF type it will be served with, so a student learns with the output layer it will have."""

from __future__ import annotations

from typing import Any

import gguf

# Token embedding types (block size 32: they fit any width the K-quants may not); "default":
# what llama.cpp picks for the file's quantization.
EMBEDDING_QUANTIZATIONS = {
    "default": None,
    "q4_0": gguf.GGMLQuantizationType.Q4_0,
    "q8_0": gguf.GGMLQuantizationType.Q8_0,
}


def round_embedding(model: Any, embedding: str) -> None:
    """Put the token embedding (and an untied output layer) on the grid of the GGUF type
    `embedding` in place, so the model trains and is checked with the values llama.cpp will
    use (quantizing them again is exact)."""
    if EMBEDDING_QUANTIZATIONS.get(embedding) is None:
        return
    import torch

    kind = EMBEDDING_QUANTIZATIONS[embedding]
    layers = {id(layer.weight): layer.weight for layer in embedding_layers(model)}
    for weight in layers.values():
        values = weight.detach().float().numpy()
        rounded = gguf.quants.dequantize(gguf.quants.quantize(values, kind), kind)
        with torch.no_grad():
            weight.copy_(torch.from_numpy(rounded).to(weight.dtype))


def embedding_layers(model: Any) -> list[Any]:
    layers = [model.get_input_embeddings()]
    output = model.get_output_embeddings()
    return layers + ([output] if output is not None else [])
