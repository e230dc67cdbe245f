"""Describe the machine a benchmark ran on, so numbers are never read without it."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from ghostwright.server.backends.hardware import physical_cores


def describe_machine() -> dict:
    """CPU, cores, load and library versions at the start of a run."""
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "llama_cpp_python": metadata.version("llama-cpp-python"),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
