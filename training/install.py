"""Make an exported adapter the current one, only when it is correct and measurably better.

`<adapters>/current.json` names the adapter the server uses, its prompt format, the logit check
and the measured gain. The adapter file is copied in first and `current.json` replaced last, both
atomically (temp file + `os.replace`): a reader sees the old adapter or the new one, never half of
either, and a failed or refused install leaves the current one untouched.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.adapters import CURRENT
from ghostwright.server.errors import GhostwrightError


@dataclass(frozen=True)
class Candidate:
    """An exported adapter with the evidence for installing it."""

    adapter: Path  # the GGUF LoRA file
    prompt_format: str
    base_model: str
    check: dict  # LogitCheck.as_dict()
    before: dict  # eval metrics of the current model on the held-out cases
    after: dict  # the same cases with this adapter
    peft_dir: str = ""  # the trained peft folder, where a later stage can start from


def install(candidate: Candidate, adapters_dir: Path, *, force: bool = False) -> Path:
    """Copy the adapter in and point `current.json` at it; refuse a failed or worse adapter."""
    if not candidate.check.get("passed"):
        raise GhostwrightError(
            f"the adapter failed the logit check (KL {candidate.check.get('kl_mean', 0):.3f}, "
            f"top-1 {candidate.check.get('top1_agreement', 0):.1%}); not installed"
        )
    gain = gain_of(candidate)
    if gain <= 0 and not force:
        before, after = candidate.before["exact_match"], candidate.after["exact_match"]
        raise GhostwrightError(
            f"the adapter does not beat the current model on held-out code (exact match "
            f"{before:.1%} -> {after:.1%}); not installed (--force installs it anyway)"
        )
    adapters_dir.mkdir(parents=True, exist_ok=True)
    target = adapters_dir / candidate.adapter.name
    _atomic_copy(candidate.adapter, target)
    record = {
        **asdict(candidate),
        "adapter": target.name,
        "gain_exact_match": gain,
        "forced": gain <= 0,
        "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _atomic_write(adapters_dir / CURRENT, json.dumps(record, indent=2))
    return target


def gain_of(candidate: Candidate) -> float:
    return float(candidate.after["exact_match"]) - float(candidate.before["exact_match"])


def _atomic_copy(source: Path, target: Path) -> None:
    try:
        with atomic_path(target) as partial:
            shutil.copyfile(source, partial)
    except OSError as exc:  # a full disk must not leave a half-written adapter behind
        raise GhostwrightError(f"cannot install the adapter into {target.parent}: {exc}") from exc


def _atomic_write(target: Path, text: str) -> None:
    try:
        with atomic_path(target) as partial:
            partial.write_text(text)
    except OSError as exc:
        raise GhostwrightError(f"cannot write {target}: {exc}") from exc
