"""Training losses as pure tensor functions (shapes in the docstrings).

The output layer of the default model is 262,144 wide: computing its logits for every position
of a 4 x 512 batch costs more than the rest of the model. `supervised_states` picks the positions
that carry a label (the completion) first, so the head runs on those alone and the loss is the
same.

Distillation compares the student with a teacher whose logits were cached as the top k values
and ids per position (`teacher_top_k`): the teacher's probability outside its top k is taken as
zero. Forward KL scores the student's full distribution against that; reverse KL and
Jensen-Shannon need the teacher's probability wherever the student puts mass, which is known only
on the top k, so they compare the student renormalised over those k ids.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE = -100  # label of a position that is not trained on (the prompt)
DIVERGENCES = ("forward_kl", "reverse_kl", "jensen_shannon")


def supervised_states(
    hidden: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden states of the positions that predict a label, and those labels.

    hidden: (B, T, H); labels: (B, T) token ids or IGNORE. Position t predicts labels[t + 1].
    Returns states (N, H) and targets (N,), in row-major order (sample by sample).
    """
    targets = labels[:, 1:]
    mask = targets != IGNORE
    return hidden[:, :-1][mask], targets[mask]


def supervised_cross_entropy(
    hidden: torch.Tensor, labels: torch.Tensor, head: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy over labelled positions, and how many there were.

    hidden: (B, T, H) final hidden states; labels: (B, T) token ids or IGNORE; head maps
    (N, H) -> (N, V) logits.
    """
    states, targets = supervised_states(hidden, labels)
    if targets.numel() == 0:
        return hidden.sum() * 0.0, 0
    return F.cross_entropy(head(states).float(), targets), int(targets.numel())


def focal_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gamma: float) -> torch.Tensor:
    """Mean of -(1 - p)^gamma log p over positions (gamma 0: plain cross-entropy).

    logits: (N, V); targets: (N,). Tokens the model already gets right weigh less.
    """
    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, targets[:, None]).squeeze(1)
    return (-((1 - log_p.exp()) ** gamma) * log_p).mean()


def teacher_top_k(logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What is cached of the teacher: (values (N, k) float16, ids (N, k) int32) of (N, V) logits."""
    values, ids = torch.topk(logits.float(), k, dim=-1)
    return values.to(torch.float16), ids.to(torch.int32)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_values: torch.Tensor,
    teacher_ids: torch.Tensor,
    divergence: str = "forward_kl",
    temperature: float = 1.0,
) -> torch.Tensor:
    """Mean divergence per position between teacher and student at `temperature`, times T^2
    (so its gradients keep their size as T changes, as in Hinton et al.).

    student_logits: (N, V); teacher_values, teacher_ids: (N, K) from `teacher_top_k`.
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {', '.join(DIVERGENCES)}")
    student = student_logits.float() / temperature
    ids = teacher_ids.long()
    log_p = F.log_softmax(teacher_values.float() / temperature, dim=-1)  # teacher over its top k
    if divergence == "forward_kl":
        log_q = F.log_softmax(student, dim=-1).gather(1, ids)  # student's full distribution
        per_position = kl_divergence(log_p, log_q)
    else:
        log_q = F.log_softmax(student.gather(1, ids), dim=-1)  # student over the teacher's top k
        if divergence == "reverse_kl":
            per_position = kl_divergence(log_q, log_p)
        else:
            per_position = jensen_shannon(log_p, log_q)
    return per_position.mean() * temperature**2


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per row: (N, K) log-probabilities over the same K outcomes -> (N,)."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def jensen_shannon(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """JS(p, q) per row = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2: (N, K) -> (N,)."""
    log_m = torch.logaddexp(log_p, log_q) - torch.log(torch.tensor(2.0))
    return (kl_divergence(log_p, log_m) + kl_divergence(log_q, log_m)) / 2


def linear_schedule(start: float, end: float, step: int, total: int) -> float:
    """`start` at step 0, `end` at `total` and after, linear in between."""
    if total <= 0:
        return end
    return start + (end - start) * min(1.0, max(0, step) / total)


def softcapped(head: Callable[[torch.Tensor], torch.Tensor], cap: float | None) -> Callable:
    """`head` followed by the model's final logit soft-capping (Gemma 2 style), if it has one."""
    if not cap:
        return head
    return lambda states: torch.tanh(head(states) / cap) * cap
