"""Loading a GGUF into llama.cpp for serving, and what the loaded model's tokenizer says about
the prompt format (its special tokens, its stop markers)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import llama_cpp

from ghostwright.indexer.llama_native import load_quietly
from ghostwright.server.errors import GhostwrightError


@dataclass(frozen=True)
class LlamaOptions:
    """Settings that shape the llama.cpp context."""

    context_tokens: int = 2048
    threads: int = 0  # 0: one per physical core
    prompt_format: str = "auto"
    adapter: str = ""  # GGUF LoRA adapter file
    # Speculative decoding: "" (off), "prompt-lookup", or a draft model's GGUF file of the
    # same vocabulary (drafting.py).
    draft: str = ""


def load_llama(
    model_path: Path, context_tokens: int, threads: int, adapter: str
) -> llama_cpp.Llama:
    """Load the GGUF; llama.cpp's refusal (truncated, corrupt) becomes a one-line error."""
    try:
        return load_quietly(
            model_path=str(model_path),
            n_ctx=context_tokens,
            n_threads=threads,
            n_threads_batch=threads,
            lora_path=adapter or None,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        what = f"adapter {adapter} for " if adapter else ""
        raise GhostwrightError(
            f"cannot load {what}model {model_path}: llama.cpp rejected it "
            "(truncated or corrupt GGUF?)"
        ) from exc


class LlamaVocabulary:
    """Format detection over the model's real tokenizer (special tokens parsed)."""

    def __init__(self, llm: llama_cpp.Llama) -> None:
        self._llm = llm

    def is_single_token(self, text: str) -> bool:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True)) == 1


def marker_ids(llm: llama_cpp.Llama, markers: tuple[str, ...]) -> set[int]:
    """The token ids of the prompt format's stop markers that are single tokens."""
    ids = set()
    for marker in markers:
        tokens = llm.tokenize(marker.encode(), add_bos=False, special=True)
        if len(tokens) == 1:
            ids.add(tokens[0])
    return ids
