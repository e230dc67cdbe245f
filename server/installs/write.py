"""Make an exported adapter the current one, only when it is correct and measurably better.

`<adapters>/current.json` names the adapter (or distilled student model) the server uses, its prompt
format, the logit check and the measured gain. The adapter file is copied in first and
`current.json` replaced last, both atomically (temp file + `os.replace`): a reader sees the old
adapter or the new one, never half of either, and a failed or refused install leaves the current one
untouched."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.errors import GhostwrightError
from ghostwright.server.installs.records import CURRENT


@dataclass(frozen=True)
class Candidate:
    """An exported adapter (or student) with the evidence for installing it."""

    adapter: Path  # the GGUF file: a LoRA adapter, or a distilled student's whole model
    prompt_format: str
    base_model: str
    check: dict  # LogitCheck.as_dict()
    before: dict  # eval metrics of the current model on the held-out cases
    after: dict  # the same cases with this adapter
    peft_dir: str = ""  # the trained peft folder, where a later stage can start from
    teacher: dict | None = None  # a distilled student: the installed record it learned from


def install(candidate: Candidate, adapters_dir: Path, *, force: bool = False) -> Path:
    """Copy the adapter in and point `current.json` at it; refuse a failed or worse adapter."""
    _check_passed(candidate, "adapter")
    gain = gain_of(candidate)
    if gain <= 0 and not force:
        before, after = candidate.before["exact_match"], candidate.after["exact_match"]
        raise GhostwrightError(
            f"the adapter does not beat the current model on held-out code (exact match "
            f"{before:.1%} -> {after:.1%}); not installed (--force installs it anyway)"
        )
    extra = {"gain_exact_match": gain, "forced": gain <= 0}
    return _install(candidate, adapters_dir, "adapter", extra)


def install_student(
    candidate: Candidate,
    adapters_dir: Path,
    *,
    min_retained: float,
    force: bool = False,
    distilled: str = "pruned",
    serve: dict | None = None,
    teacher_model: str = "",
) -> Path:
    """Make a distilled student current when it keeps `min_retained` of the teacher's held-out
    exact match (the gate's `before` is the teacher): the served `model`, with the settings it
    must be served with (`serve`) and the teacher's model (`auto` ranks the student by it)."""
    _check_passed(candidate, "student")
    retained = retained_of(candidate)
    if retained < min_retained and not force:
        raise GhostwrightError(
            f"the student keeps {retained:.0%} of the teacher's exact match on held-out code, "
            f"under the {min_retained:.0%} required; not installed (--force installs it anyway)"
        )
    speedup = speedup_of(candidate)
    extra = {
        "gain_exact_match": gain_of(candidate),
        "retained": retained,
        "speedup": speedup,
        "forced": retained < min_retained,
        "distilled": distilled,
        "serve": serve or {},
        "teacher_model": teacher_model or candidate.base_model,
    }
    return _install(candidate, adapters_dir, "model", extra)


def _check_passed(candidate: Candidate, what: str) -> None:
    if not candidate.check.get("passed"):
        raise GhostwrightError(
            f"the {what} failed the logit check (KL {candidate.check.get('kl_mean', 0):.3f}, "
            f"top-1 {candidate.check.get('top1_agreement', 0):.1%}); not installed"
        )


def _install(candidate: Candidate, adapters_dir: Path, key: str, extra: dict) -> Path:
    fields = {name: value for name, value in asdict(candidate).items() if name != "adapter"}
    return install_file(candidate.adapter, adapters_dir, candidate.adapter.name, key,
                        {**fields, **extra})  # fmt: skip


def install_file(source: Path, folder: Path, name: str, key: str, fields: dict) -> Path:
    """Copy `source` into `folder` as `name`, then point `folder/current.json` at it: both
    atomically, so a reader sees the old install or the new one, never half of either. Every
    install's record has one shape, `{key: name, **fields, bytes, installed}`; `bytes` lets a
    reader refuse a damaged copy (`records.current_record`)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    _atomic_copy(source, target)
    record = {
        key: target.name,
        **fields,
        "bytes": target.stat().st_size,
        "installed": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _atomic_write(folder / CURRENT, json.dumps(record, indent=2, default=str))
    return target


def retained_of(candidate: Candidate) -> float:
    """Student exact match as a share of the teacher's (1.0 when the teacher scored nothing)."""
    before = float(candidate.before["exact_match"])
    return float(candidate.after["exact_match"]) / before if before else 1.0


def speedup_of(candidate: Candidate) -> float:
    """Teacher median latency over the student's, on the gate's cases."""
    after = float(candidate.after.get("latency_p50_ms") or 0)
    return float(candidate.before.get("latency_p50_ms") or 0) / after if after else 0.0


def gain_of(candidate: Candidate) -> float:
    return float(candidate.after["exact_match"]) - float(candidate.before["exact_match"])


def _atomic_copy(source: Path, target: Path) -> None:
    try:
        with atomic_path(target) as partial:
            shutil.copyfile(source, partial)
    except OSError as exc:  # a full disk must not leave a half-written adapter behind
        raise GhostwrightError(f"cannot install into {target.parent}: {exc}") from exc


def _atomic_write(target: Path, text: str) -> None:
    try:
        with atomic_path(target) as partial:
            partial.write_text(text)
    except OSError as exc:
        raise GhostwrightError(f"cannot write {target}: {exc}") from exc
