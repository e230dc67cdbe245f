"""The llama.cpp KV cache of the served model's one sequence: moving it when the window scrolls,
and saving and restoring it around an answer from a shorter prompt."""

from __future__ import annotations

import ctypes

import llama_cpp
import numpy as np

from ghostwright.indexer.llama_native import cached_prefix

# When the prompt's first lines scrolled away, this many tokens of the new prompt must be found
# further on in the cache before the cache is shifted instead of recomputed.
SHIFT_PROBE = 32
SEQUENCE = 0  # llama-cpp-python keeps a single sequence


def shift(llm: llama_cpp.Llama, tokens: list[int], common: int) -> int:
    """The window start moved down the file: drop the lines that left it, keep the rest.

    Removes cached tokens [common, j) and moves the cached tail back by j - common positions
    (llama.cpp re-rotates the keys), so only the newly typed text needs evaluating.
    """
    start = shift_source(llm, tokens, common)
    if start is None:
        return common
    end, gap = llm.n_tokens, start - common
    llm._ctx.kv_cache_seq_rm(SEQUENCE, common, start)
    llm._ctx.kv_cache_seq_shift(SEQUENCE, start, end, -gap)
    llm.input_ids[common : end - gap] = llm.input_ids[start:end].copy()
    llm.n_tokens = end - gap
    return cached_prefix(llm, tokens)


def shift_source(llm: llama_cpp.Llama, tokens: list[int], common: int) -> int | None:
    """Where in the cache the prompt continues after `common` (the lines above it scrolled
    out of the window), or None when it does not."""
    probe = tokens[common : common + SHIFT_PROBE]
    cached = llm.input_ids[: llm.n_tokens]
    if len(probe) < SHIFT_PROBE:
        return None
    for start in np.flatnonzero(cached[common + 1 :] == probe[0]) + common + 1:
        if list(cached[start : start + SHIFT_PROBE]) == probe:
            return int(start)
    return None


def save(llm: llama_cpp.Llama) -> tuple[np.ndarray, np.ndarray]:
    """The sequence's KV cells and token ids (a C copy: ~0.1 s for 1.5k tokens of a 1.5B)."""
    ctx = llm._ctx.ctx
    size = llama_cpp.llama_state_seq_get_size(ctx, SEQUENCE)
    buffer = np.empty(size, dtype=np.uint8)
    llama_cpp.llama_state_seq_get_data(ctx, _pointer(buffer), size, SEQUENCE)
    return buffer, llm.input_ids[: llm.n_tokens].copy()


def restore(llm: llama_cpp.Llama, saved: tuple[np.ndarray, np.ndarray]) -> None:
    """Back to what `save` copied (the cache is cleared first)."""
    clear(llm)
    buffer, ids = saved
    ctx = llm._ctx.ctx
    if llama_cpp.llama_state_seq_set_data(ctx, _pointer(buffer), buffer.size, SEQUENCE):
        llm.input_ids[: ids.size] = ids
        llm.n_tokens = int(ids.size)


def _pointer(buffer: np.ndarray) -> ctypes._Pointer:
    return buffer.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))


def clear(llm: llama_cpp.Llama) -> None:
    llm._ctx.kv_cache_seq_rm(-1, 0, -1)
    llm.n_tokens = 0
