"""Completion latency: ghostwright vs the same prompts straight through llama_cpp.Llama.

Run: python tests/bench/latency.py [--files F ...] [--limit N] [--out bench-results/latency.json]

Both paths run in the same process and the same run, interleaved request by request, each with
its own model instance and KV cache, so machine noise hits both alike. The baseline tokenizes the
exact prompt ghostwright built and generates exactly as many tokens as ghostwright did; what is
left is the cost of our pipeline (windowing, post-processing, threading). Also measured: the cold
first completion with a ~1,500-token context, and the peak RSS of a `ghostwright complete` process.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import llama_cpp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_machine, stats  # noqa: E402
from typing_replay import default_sources, typing_requests  # noqa: E402

from ghostwright.indexer.llama_native import load_quietly  # noqa: E402
from ghostwright.server.backends.hardware import resolve_threads  # noqa: E402
from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions  # noqa: E402
from ghostwright.server.models import resolve_model  # noqa: E402
from ghostwright.server.packaged_models import tier_named  # noqa: E402
from ghostwright.server.pipeline.complete import (  # noqa: E402
    Completer,
    CompletionOptions,
    CompletionRequest,
)
from ghostwright.server.pipeline.context import Budget  # noqa: E402

TARGETS = {
    "warm_p50_ratio_max": 1.10,
    "warm_p50_ms_max": 200.0,
    "warm_p95_ms_max": 600.0,
    "cold_first_completion_ms_max": 2500.0,
    "complete_process_rss_mib_max": 1024.0,
}


def raw_generate(llm: llama_cpp.Llama, prompt: str, count: int, cold: bool = False) -> float:
    """Milliseconds to tokenize `prompt` and greedily sample `count` tokens (at least one);
    `cold`: on an empty KV cache instead of reusing the longest common prefix."""
    started = time.perf_counter()
    if cold:
        llm.reset()
    tokens = llm.tokenize(prompt.encode(), add_bos=True, special=True)
    produced = 0
    for _ in llm.generate(tokens, temp=0.0, repeat_penalty=1.0, reset=not cold):
        produced += 1
        if produced >= max(count, 1):
            break
    return (time.perf_counter() - started) * 1000.0


def warm_typing(
    model: Path, threads: int, files: list[Path], limit: int, prompt_format: str = "auto"
) -> dict:
    """Interleaved replay: one ghostwright request, then the same prompt raw, and so on."""
    backend = LlamaCppBackend(model, LlamaOptions(threads=threads, prompt_format=prompt_format))
    completer = Completer(backend)
    raw = load_quietly(
        model_path=str(model), n_ctx=2048, n_threads=threads, n_threads_batch=threads
    )
    ours, theirs, prompt_tokens, generated, switches, shown = [], [], [], [], [], []
    for path in files:
        for index, request in enumerate(typing_requests(path, limit=limit, max_lines=1)):
            prompt = completer.prepare(request).prompt
            result = completer.complete(request)
            raw_ms = raw_generate(raw, prompt, result.generated_tokens)
            if index == 0:  # opening a file: nothing cached yet, reported apart from typing
                switches.append({"ghostwright_ms": result.latency_ms, "raw_ms": raw_ms})
                continue
            ours.append(result.latency_ms)
            shown.append(bool(result.completion))
            theirs.append(raw_ms)
            prompt_tokens.append(result.prompt_tokens)
            generated.append(result.generated_tokens)
    raw.close()
    backend.close()
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    return {
        "requests": len(ours),
        "with_a_suggestion": sum(shown) / len(shown) if shown else 0.0,
        "file_switches": switches,
        "ghostwright_ms": stats(ours),
        "raw_llama_cpp_ms": stats(theirs),
        "p50_ratio": stats(ours)["p50"] / stats(theirs)["p50"],
        "median_of_per_request_ratios": float(np.median(ratios)),
        "prompt_tokens": stats(prompt_tokens),
        "generated_tokens": stats(generated),
    }


def long_context_request(path: Path) -> CompletionRequest:
    """The end of the first line with at least 9,000 characters (over 1,500 tokens) above it."""
    text = path.read_text()
    offset = text.index("\n", 9000)
    line = text[:offset].count("\n")
    column = offset - (text.rfind("\n", 0, offset) + 1)
    return CompletionRequest(text[:offset] + "\n", line, column, str(path), 1)


def cold_start(model: Path, threads: int, path: Path, prompt_format: str = "auto") -> dict:
    """Model load and the first completion on an empty KV cache, ours and raw."""
    request = long_context_request(path)
    started = time.perf_counter()
    backend = LlamaCppBackend(model, LlamaOptions(threads=threads, prompt_format=prompt_format))
    load_ms = (time.perf_counter() - started) * 1000.0
    # No anchor rounding here: the window fills the whole 1,536-token budget.
    completer = Completer(backend, CompletionOptions(budget=Budget(anchor_lines=1)))
    prompt = completer.prepare(request).prompt
    result = completer.complete(request)
    backend.close()
    raw = load_quietly(
        model_path=str(model), n_ctx=2048, n_threads=threads, n_threads_batch=threads
    )
    raw_ms = raw_generate(raw, prompt, result.generated_tokens)
    raw.close()
    return {
        "model_load_ms": load_ms,
        "first_completion_ms": result.latency_ms,
        "raw_first_completion_ms": raw_ms,
        "prompt_tokens": result.prompt_tokens,
        "generated_tokens": result.generated_tokens,
    }


# A tiny parent process, so the child's peak RSS is not inflated by ours: Linux carries the
# parent's high-water mark into a forked child's ru_maxrss across exec.
RSS_LAUNCHER = (
    "import json, resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'status': done.returncode, 'stdout': done.stdout,\n"
    "    'wall_ms': (time.perf_counter() - started) * 1000,\n"
    "    'peak_rss_kib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
)


def complete_process(path: Path, threads: int, model: str) -> dict:
    """Wall time and peak RSS of a whole `ghostwright complete` process on a long context."""
    request = long_context_request(path)
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / "ghostwright-bench-long.py"
    scratch.write_text(request.text)
    command = [
        sys.executable,
        "-m",
        "ghostwright.server",
        "complete",
        str(scratch),
        "--line",
        str(request.line + 1),
        "--col",
        str(request.column + 1),
        "--threads",
        str(threads),
        "--model",
        model,
        "--json",
    ]
    launched = subprocess.run(
        [sys.executable, "-c", RSS_LAUNCHER, *command], capture_output=True, text=True, check=True
    )
    scratch.unlink()
    measured = json.loads(launched.stdout)
    output = json.loads(measured["stdout"] or "{}")
    return {
        "exit_status": measured["status"],
        "wall_ms": measured["wall_ms"],
        "completion_latency_ms": output.get("latency_ms"),
        "prompt_tokens": output.get("prompt_tokens"),
        "peak_rss_mib": measured["peak_rss_kib"] / 1024.0,
    }


def verdict(report: dict) -> dict:
    warm, cold = report["warm_typing"], report["cold"]
    return {
        "warm_p50_ratio": warm["p50_ratio"] <= TARGETS["warm_p50_ratio_max"],
        "warm_p50_ms": warm["ghostwright_ms"]["p50"] <= TARGETS["warm_p50_ms_max"],
        "warm_p95_ms": warm["ghostwright_ms"]["p95"] <= TARGETS["warm_p95_ms_max"],
        "cold_first_completion": cold["first_completion_ms"]
        <= TARGETS["cold_first_completion_ms_max"],
        "complete_process_rss": report["complete_process"]["peak_rss_mib"]
        <= TARGETS["complete_process_rss_mib_max"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", nargs="*", type=Path, default=default_sources())
    parser.add_argument("--limit", type=int, default=50, help="requests per file")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--model", default="gemma-3-270m", help="a tier name or a .gguf path")
    parser.add_argument("--out", type=Path, default=Path("bench-results/latency.json"))
    args = parser.parse_args(argv)
    model = resolve_model(args.model)
    tier = tier_named(args.model)
    prompt_format = tier.prompt_format if tier else "auto"  # served as `auto` serves the tier
    threads = resolve_threads(args.threads)
    report = {
        "benchmark": "latency",
        "machine": describe_machine(),
        "model": model.name,
        "threads": threads,
        "files": [str(path) for path in args.files],
        "targets": TARGETS,
    }
    report["cold"] = cold_start(model, threads, args.files[-1], prompt_format)
    report["warm_typing"] = warm_typing(model, threads, args.files, args.limit, prompt_format)
    report["complete_process"] = complete_process(args.files[-1], threads, args.model)
    report["meets_targets"] = verdict(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(
        json.dumps(
            {
                key: report[key]
                for key in ("warm_typing", "cold", "complete_process", "meets_targets")
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
