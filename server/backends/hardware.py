"""What the machine offers for inference: physical cores this process may run on."""

from __future__ import annotations

import functools
import os
from pathlib import Path


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads slow llama.cpp down)."""
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    allowed = allowed or 1
    cores = _cores_from_cpuinfo()
    return max(1, min(allowed, cores)) if cores else allowed


def _cores_from_cpuinfo() -> int:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; 0 where that file is absent."""
    text = _cpuinfo()
    if not text:
        return 0
    pairs: set[tuple[str, str]] = set()
    physical = core = ""
    for line in text.splitlines() + [""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not line.strip() and core:
            pairs.add((physical, core))
            physical = core = ""
    return len(pairs)


def resolve_threads(setting: int) -> int:
    """The `threads` setting: 0 means one thread per physical core."""
    return setting if setting > 0 else physical_cores()


# The instruction-set extensions llama.cpp's CPU kernels pick between; a prompt evaluates about
# 4x faster with AVX512 (and bf16) than with AVX2 alone, so speeds are only comparable within one.
SPEED_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx_vnni",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)


def cpu_model() -> str:
    """The CPU's model name ("unknown" where /proc/cpuinfo is absent)."""
    import platform

    return _cpuinfo_field("model name") or platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """The speed-relevant instruction-set flags this CPU reports, in SPEED_FLAGS order."""
    present = set(_cpuinfo_field("flags").split()) | set(_cpuinfo_field("Features").split())
    return [flag for flag in SPEED_FLAGS if flag in present]


@functools.cache
def _cpuinfo() -> str:
    """/proc/cpuinfo, read once: the CPU does not change while the process runs."""
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _cpuinfo_field(name: str) -> str:
    for line in _cpuinfo().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return ""
