"""The training curve a run leaves in its folder (`training-curve.png`)."""

from __future__ import annotations

from pathlib import Path


def plot_curve(history: list[dict], target: Path) -> None:
    """Training (and validation) loss per step, when matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.plot([r["step"] for r in history], [r["loss"] for r in history], label="train")
    validation = [r for r in history if "validation_loss" in r]
    if validation:
        axes.plot(
            [r["step"] for r in validation],
            [r["validation_loss"] for r in validation],
            "o-",
            label="validation",
        )
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss")
    axes.legend()
    figure.tight_layout()
    figure.savefig(target)
    plt.close(figure)
