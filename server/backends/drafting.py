"""Speculative decoding: a cheap drafter proposes the next tokens, the served model checks them.

The served model evaluates its pending token and the drafted ones in one batch and keeps drafted
tokens only while they equal its own greedy choice; the first one that differs is replaced by
the served model's token. So the output is the served model's own greedy output, sooner when the
drafter guesses well and the batch costs less than its tokens one by one (on a GPU it costs
about one token; on a CPU whose generation is bound by arithmetic rather than by reading the
weights it may not: measure, tests/bench/speculative.py).

Two drafters, both llama-cpp-python's `LlamaDraftModel` interface (token ids in, drafted ids out):

- prompt lookup (llama-cpp-python's `LlamaPromptLookupDecoding`): the tokens that followed the
  last occurrence of the current n-gram in the window. Free, and completions often copy nearby
  code.
- a smaller model of the same vocabulary (`ModelDrafter`), e.g. Qwen2.5-Coder-0.5B for the 1.5B:
  its own llama.cpp context over the last `DRAFT_WINDOW` tokens, reusing its KV cache between
  calls the way the served model does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp.llama_speculative import LlamaDraftModel, LlamaPromptLookupDecoding

from ghostwright.indexer.llama_native import cached_prefix, load_quietly
from ghostwright.server.errors import GhostwrightError

PROMPT_LOOKUP = "prompt-lookup"
# Drafted per step. llama.cpp's CPU kernels give a batch of up to 3 tokens the very logits of
# one-token decoding (bit for bit, gemma-3-270m and the Qwen 0.5B); from 4 tokens on another
# matrix kernel runs and logits move by 0.2-1.1, enough to flip near ties. Two drafts keep the
# output the served model's own, token for token.
DRAFT_TOKENS = 2
# The draft model sees this many tokens before the draft point. Its cost is its own prompt
# evaluation: the window start stays put while the window grows (up to twice this), so a
# keystroke re-evaluates only what changed, as for the served model.
DRAFT_WINDOW = 256


@dataclass
class DraftStats:
    """What the drafter proposed and the served model kept (status and benchmarks read it)."""

    drafted: int = 0
    accepted: int = 0
    steps: int = 0

    def record(self, drafted: int, accepted: int) -> None:
        self.steps += 1
        self.drafted += drafted
        self.accepted += accepted

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


class ModelDrafter(LlamaDraftModel):
    """Greedy drafts from a second, smaller model that shares the served model's vocabulary."""

    def __init__(
        self, model_path: Path, threads: int, vocabulary_size: int, draft_tokens: int = DRAFT_TOKENS
    ) -> None:
        self.model_path = model_path
        self.draft_tokens = draft_tokens
        try:
            self._llm = load_quietly(
                model_path=str(model_path),
                n_ctx=2 * DRAFT_WINDOW + 2 * draft_tokens + 2,
                n_threads=threads,
                n_threads_batch=threads,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise GhostwrightError(f"cannot load draft model {model_path}: {exc}") from exc
        if self._llm.n_vocab() != vocabulary_size:
            size = self._llm.n_vocab()
            self._llm.close()
            raise GhostwrightError(
                f"draft model {model_path} has a vocabulary of {size} tokens, the served model "
                f"{vocabulary_size}: a draft model must share the served model's tokenizer"
            )
        self._vocab = self._llm._model.vocab
        self._start = 0  # where in the caller's ids this context's window begins

    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs: Any) -> npt.NDArray[np.intc]:
        window = self._window(input_ids)
        llm = self._llm
        common = cached_prefix(llm, window)
        common = min(common, len(window) - 1)  # the last token is evaluated for its logits
        llm._ctx.kv_cache_seq_rm(-1, common, -1)
        llm.n_tokens = common
        llm.eval(window[common:].tolist())
        drafted: list[int] = []
        for _ in range(self.draft_tokens):
            token = int(np.argmax(_last_logits(llm)))
            if llama_cpp.llama_vocab_is_eog(self._vocab, token):
                break
            drafted.append(token)
            llm.eval([token])
        return np.asarray(drafted, dtype=np.intc)

    def _window(self, input_ids: npt.NDArray[np.intc]) -> npt.NDArray[np.intc]:
        """The last tokens, from a start that stays put while the window grows."""
        size = len(input_ids)
        if not 1 <= size - self._start <= 2 * DRAFT_WINDOW:
            self._start = max(0, size - DRAFT_WINDOW)
        return np.asarray(input_ids[self._start :], dtype=np.intc)

    def close(self) -> None:
        self._llm.close()


def prompt_lookup(draft_tokens: int = DRAFT_TOKENS) -> LlamaDraftModel:
    """llama-cpp-python's n-gram drafter over the window itself."""
    return LlamaPromptLookupDecoding(max_ngram_size=3, num_pred_tokens=draft_tokens)


def verify(llm: llama_cpp.Llama, batch: list[int]) -> list[int]:
    """Evaluate `batch` (the pending token, then the drafts) at the end of `llm`'s cache and
    return the model's greedy choice after each of its tokens."""
    n_past = llm.n_tokens
    llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
    llm._ctx.decode(llm._batch)
    llm.input_ids[n_past : n_past + len(batch)] = batch
    llm.n_tokens = n_past + len(batch)
    logits = np.ctypeslib.as_array(
        llama_cpp.llama_get_logits(llm._ctx.ctx), shape=(len(batch), llm.n_vocab())
    )
    return [int(token) for token in logits.argmax(axis=1)]


def accepted_count(drafts: list[int], picks: list[int]) -> int:
    """How many drafts equal the served model's choices, from the first on."""
    for index, token in enumerate(drafts):
        if picks[index] != token:
            return index
    return len(drafts)


def _last_logits(llm: llama_cpp.Llama) -> npt.NDArray[np.single]:
    return np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),)
    )


def speculate(
    llm: llama_cpp.Llama,
    drafter: LlamaDraftModel,
    stats: DraftStats,
    tokens: list[int],
    max_tokens: int,
) -> Iterator[int]:
    """Greedy tokens of the served model, checked a drafted batch at a time.

    After `_prefill` the cache holds all but the last prompt token; that token is pending.
    Each step evaluates the pending token and the drafts in one batch, keeps the drafts the
    model agrees with, and its own next choice becomes the pending token. The cache is
    trimmed to what was kept before anything is yielded, so a caller may stop at any token.
    """
    pending, produced = tokens[-1], 0
    while produced < max_tokens:
        context = np.append(llm.input_ids[: llm.n_tokens], pending).astype(np.intc)
        left = min(max_tokens - produced, llm.n_ctx() - llm.n_tokens) - 1
        room = max(0, min(DRAFT_TOKENS, left))
        drafts = [int(t) for t in drafter(context)[:room]]
        n_past = llm.n_tokens
        picks = verify(llm, [pending, *drafts])
        accepted = accepted_count(drafts, picks)
        llm._ctx.kv_cache_seq_rm(-1, n_past + 1 + accepted, -1)
        llm.n_tokens = n_past + 1 + accepted
        stats.record(len(drafts), accepted)
        for token in picks[: accepted + 1]:
            produced += 1
            yield token
        pending = picks[accepted]
