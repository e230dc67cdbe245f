"""What the status command and `ghostwright doctor` say about a loaded backend: its calibrated
speed with the budgets derived from it, and speculative decoding's acceptance."""

from __future__ import annotations

from ghostwright.server.backends.base import Backend
from ghostwright.server.config import Settings


def draft_report(backend: Backend, settings: Settings) -> dict | None:
    """Speculative decoding's setting and how much of what it drafted the model kept."""
    stats = getattr(backend, "draft_stats", None)
    if stats is None or getattr(backend, "drafter", None) is None:
        return None
    return {
        "setting": settings.draft,
        "drafted": stats.drafted,
        "accepted": stats.accepted,
        "acceptance": round(stats.acceptance, 3),
    }


def speed_report(backend: Backend, settings: Settings) -> dict | None:
    """The backend's calibrated speed and the budgets derived from it (None: not measured, as
    for a remote endpoint)."""
    from ghostwright.server.backends.calibration import budgets, suffix_cap

    speed = getattr(backend, "speed", None)
    if speed is None:
        return None
    plan = budgets(speed, settings.latency_budget_ms, fim=backend.prompt_format.is_fim)
    return {
        "prompt_tokens_per_s": round(speed.prompt_tps, 1),
        "generate_tokens_per_s": round(speed.generate_tps, 1),
        "source": speed.source,
        "latency_budget_ms": settings.latency_budget_ms,
        "cold_window_tokens": plan.cold_window,
        "line_ms": round(plan.line_ms),
        "typing_ms": round(plan.warm_ms),
        "fits_budget": plan.fits,
        # Lines after the cursor a keystroke can afford to re-evaluate (FIM prompts only).
        "suffix_cap_tokens": suffix_cap(speed, settings.latency_budget_ms)
        if backend.prompt_format.is_fim
        else None,
    }
