"""Losses against values worked out by hand (natural logarithms)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from ghostwright.training.losses import (  # noqa: E402
    IGNORE,
    distillation_loss,
    focal_cross_entropy,
    linear_schedule,
    supervised_cross_entropy,
    supervised_states,
    teacher_top_k,
)

UNIFORM_STUDENT = torch.zeros(1, 3)  # q = 1/3 on each of three tokens
TEACHER_IDS = torch.tensor([[0, 1]], dtype=torch.int32)
TEACHER_VALUES = torch.tensor([[math.log(3.0), 0.0]])  # p = 3/4, 1/4 on tokens 0 and 1


def test_forward_kl_scores_the_full_student_distribution():
    # 3/4 ln((3/4)/(1/3)) + 1/4 ln((1/4)/(1/3))
    expected = 0.75 * math.log(2.25) + 0.25 * math.log(0.75)
    loss = distillation_loss(UNIFORM_STUDENT, TEACHER_VALUES, TEACHER_IDS, "forward_kl")
    assert float(loss) == pytest.approx(expected, abs=1e-6)  # 0.536280


def test_reverse_kl_renormalises_the_student_over_the_teachers_top_k():
    # student over {0, 1}: 1/2, 1/2
    expected = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    loss = distillation_loss(UNIFORM_STUDENT, TEACHER_VALUES, TEACHER_IDS, "reverse_kl")
    assert float(loss) == pytest.approx(expected, abs=1e-6)  # 0.143841


def test_jensen_shannon_against_the_mixture():
    p, q, m = (0.75, 0.25), (0.5, 0.5), (0.625, 0.375)
    kl_pm = sum(a * math.log(a / b) for a, b in zip(p, m, strict=True))
    kl_qm = sum(a * math.log(a / b) for a, b in zip(q, m, strict=True))
    loss = distillation_loss(UNIFORM_STUDENT, TEACHER_VALUES, TEACHER_IDS, "jensen_shannon")
    assert float(loss) == pytest.approx((kl_pm + kl_qm) / 2, abs=1e-6)  # 0.033824


def test_temperature_softens_the_teacher_and_scales_by_its_square():
    sharp = torch.tensor([[math.log(9.0), 0.0]])  # at T = 2 this is 3/4, 1/4 again
    loss = distillation_loss(UNIFORM_STUDENT, sharp, TEACHER_IDS, "forward_kl", temperature=2.0)
    expected = 4 * (0.75 * math.log(2.25) + 0.25 * math.log(0.75))
    assert float(loss) == pytest.approx(expected, abs=1e-5)


def test_a_student_equal_to_the_teacher_scores_zero_on_every_divergence():
    logits = torch.tensor([[2.0, 1.0, -30.0]])  # the third token carries no mass to speak of
    values, ids = teacher_top_k(logits, 2)
    for divergence in ("forward_kl", "reverse_kl", "jensen_shannon"):
        assert float(distillation_loss(logits, values, ids, divergence)) == pytest.approx(
            0.0, abs=1e-6
        )


def test_unknown_divergence_is_refused():
    with pytest.raises(ValueError, match="divergence must be one of"):
        distillation_loss(UNIFORM_STUDENT, TEACHER_VALUES, TEACHER_IDS, "kl")


def test_teacher_top_k_keeps_the_largest_values_in_order_as_compact_types():
    values, ids = teacher_top_k(torch.tensor([[0.5, 3.0, -1.0, 2.0]]), 2)
    assert ids.tolist() == [[1, 3]] and values.tolist() == [[3.0, 2.0]]
    assert values.dtype == torch.float16 and ids.dtype == torch.int32


def test_focal_cross_entropy_down_weights_what_is_already_right():
    logits = torch.tensor([[0.0, math.log(3.0)]])  # p(token 1) = 3/4
    target = torch.tensor([1])
    plain = -math.log(0.75)
    assert float(focal_cross_entropy(logits, target, 0.0)) == pytest.approx(plain, abs=1e-6)
    assert float(focal_cross_entropy(logits, target, 2.0)) == pytest.approx(
        0.25**2 * plain, abs=1e-6
    )  # 0.017980


def test_linear_schedule_runs_from_start_to_end_and_stays():
    assert [linear_schedule(1.0, 0.5, s, 10) for s in (0, 5, 10, 20)] == [1.0, 0.75, 0.5, 0.5]
    assert linear_schedule(1.0, 0.5, 3, 0) == 0.5


def test_supervised_states_are_the_positions_before_each_label_sample_by_sample():
    hidden = torch.arange(2 * 4, dtype=torch.float32).reshape(2, 4, 1)  # value = 4 * row + t
    labels = torch.tensor([[IGNORE, IGNORE, 7, 8], [IGNORE, 5, IGNORE, IGNORE]])
    states, targets = supervised_states(hidden, labels)
    assert states.squeeze(1).tolist() == [1.0, 2.0, 4.0] and targets.tolist() == [7, 8, 5]


def test_cross_entropy_over_no_label_is_zero_with_a_gradient_path():
    hidden = torch.ones(1, 3, 2, requires_grad=True)
    loss, count = supervised_cross_entropy(hidden, torch.full((1, 3), IGNORE), lambda s: s)
    assert count == 0 and float(loss) == 0.0 and loss.requires_grad
