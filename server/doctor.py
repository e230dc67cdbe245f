"""`ghostwright doctor`: what would run, on what, and how fast."""

from __future__ import annotations

import platform
import time
from importlib import metadata

from ghostwright.indexer.llama_native import has_amx
from ghostwright.server.backend_reports import speed_report
from ghostwright.server.backends.hardware import (
    cpu_flags,
    cpu_model,
    physical_cores,
    resolve_threads,
)
from ghostwright.server.config import Settings
from ghostwright.server.engine import open_completer
from ghostwright.server.pipeline.complete import CompletionRequest

PROBE = 'def greet(name):\n    """Return a greeting for name."""\n    return '
LIBRARIES = ("llama-cpp-python", "pygls", "lsprotocol", "huggingface_hub", "platformdirs")


def run_doctor(settings: Settings) -> list[tuple[str, str]]:
    """Rows of (what, value); loads the model and times one cold and one warm completion."""
    rows = [("python", platform.python_version()), ("machine", platform.machine())]
    rows += [(name, _version(name)) for name in LIBRARIES]
    rows.append(("physical cores", str(physical_cores())))
    rows.append(("threads", str(resolve_threads(settings.threads))))
    started = time.perf_counter()
    with open_completer(settings) as completer:
        rows.append(
            ("model", getattr(completer.backend, "model_path", completer.backend.model_name))
        )
        rows.append(("load", f"{(time.perf_counter() - started) * 1000:.0f} ms"))
        rows.append(("prompt format", completer.backend.prompt_format.name))
        rows.append(("cpu", f"{cpu_model()} ({' '.join(cpu_flags()) or 'no SIMD flags seen'})"))
        if has_amx():
            rows.append(("kernels", "AVX512, AMX off (llama.cpp's AMX kernels crash: issue 20824)"))
        if selection := getattr(completer.backend, "selection", ""):
            rows.append(("why this model", selection))
        if speed := speed_report(completer.backend, settings):
            rows.append(
                (
                    "speed",
                    f"prompt {speed['prompt_tokens_per_s']} tokens/s, generation "
                    f"{speed['generate_tokens_per_s']} tokens/s ({speed['source']})",
                )
            )
            rows.append(
                (
                    "budget",
                    f"{speed['latency_budget_ms']} ms: cold window {speed['cold_window_tokens']} "
                    f"tokens, typing {speed['typing_ms']} ms per line",
                )
            )
        request = CompletionRequest(PROBE, 2, len("    return "), max_lines=1)
        cold = completer.complete(request)
        warm = completer.complete(request)
    rows.append(("test completion", repr(cold.completion)))
    rows.append(("cold latency", f"{cold.latency_ms:.0f} ms"))
    rows.append(("warm latency", f"{warm.latency_ms:.0f} ms"))
    return rows


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
