"""Training losses as pure tensor functions (shapes in the docstrings).

The output layer of the default model is 262,144 wide: computing its logits for every position
of a 4 x 512 batch costs more than the rest of the model. `supervised_cross_entropy` runs it only
on the positions that carry a label (the completion), which gives the same loss.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE = -100  # label of a position that is not trained on (the prompt)


def supervised_cross_entropy(
    hidden: torch.Tensor, labels: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over labelled positions, and how many there were.

    hidden: (B, T, H) final hidden states; labels: (B, T) token ids or IGNORE; head maps
    (N, H) -> (N, V) logits. Position t predicts labels[t + 1].
    """
    targets = labels[:, 1:]
    mask = targets != IGNORE
    count = int(mask.sum())
    if count == 0:
        return hidden.sum() * 0.0, 0
    logits = head(hidden[:, :-1][mask]).float()
    return F.cross_entropy(logits, targets[mask]), count


def softcapped(head: Callable[[torch.Tensor], torch.Tensor], cap: float | None) -> Callable:
    """`head` followed by the model's final logit soft-capping (Gemma 2 style), if it has one."""
    if not cap:
        return head
    return lambda states: torch.tanh(head(states) / cap) * cap
