"""Snippets in a prompt's token budget: the index's and the ones a client sends alike."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ghostwright.server.prompt_formats import ContextFile, PromptFormat


def fit_snippets(
    items: Iterable[ContextFile],
    prompt_format: PromptFormat,
    count_tokens: Callable[[str], int],
    tokens: int,
    current_path: str,
) -> list[ContextFile]:
    """Those of `items`, in order, that fit `tokens` as the prompt shows them; one that does
    not fit is skipped, a smaller one after it may still fit."""
    chosen: list[ContextFile] = []
    left = tokens
    for item in items:
        cost = count_tokens(prompt_format.context_cost_text(item, current_path))
        if cost <= left:
            chosen.append(item)
            left -= cost
    return chosen
