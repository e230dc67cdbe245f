"""What every benchmark report carries: the machine it ran on, and the same summary statistics."""

from __future__ import annotations

import os
import platform
from importlib import metadata

import numpy as np

from ghostwright.server.backends.hardware import cpu_flags, cpu_model, physical_cores


def describe_machine() -> dict:
    """CPU, cores, load and library versions at the start of a run."""
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": physical_cores(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "llama_cpp_python": metadata.version("llama-cpp-python"),
    }


def stats(values: list[float]) -> dict:
    """p50, p95 and mean: medians and tails, never a single timing."""
    array = np.asarray(values, dtype=float)
    return {
        "p50": float(np.percentile(array, 50)),
        "p95": float(np.percentile(array, 95)),
        "mean": float(array.mean()),
    }
