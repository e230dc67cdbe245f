"""What the machine offers for inference: physical cores this process may run on."""

from __future__ import annotations

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
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
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
