"""Greedy decoding's text: the served model's tokens (plain or speculative) turned into the
suggestion, stopping at an end-of-generation or stop marker, the caller's stop rule, the token
limit or an interruption (a newer request, a cancel, the time cap)."""

from __future__ import annotations

from collections.abc import Iterable

import llama_cpp

from ghostwright.server.backends.base import Interruption, StopCheck


def decode_greedy(
    llm: llama_cpp.Llama,
    stream: Iterable[int],
    stop_ids: set[int],
    max_tokens: int,
    should_stop: StopCheck | None,
    interrupted: Interruption,
) -> tuple[str, int, str]:
    """(text, generated token count, stop reason) of the tokens `stream` yields."""
    vocab = llm._model.vocab
    pieces = bytearray()
    text, count, reason = "", 0, "length"
    for token in stream:
        if token in stop_ids or llama_cpp.llama_vocab_is_eog(vocab, token):
            reason = "eos"
            break
        count += 1
        pieces += llm.detokenize([token], special=False)
        text = pieces.decode("utf-8", errors="ignore")
        if should_stop is not None and should_stop(text):
            reason = "stop"
            break
        if count >= max_tokens:
            break
        if reason_now := interrupted():
            reason = reason_now
            break
    return text, count, reason
