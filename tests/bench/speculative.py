"""Speculative decoding: the served model alone against it with each drafter, in the same run.

Run: python tests/bench/speculative.py [--model qwen2.5-coder-1.5b] [--draft-model
qwen2.5-coder-0.5b] [--limit 12] [--out bench-results/speculative.json]

The same typing replay (multi-line requests through the served pipeline, no time limit) goes
request by request through three backends of one model: plain greedy decoding, prompt-lookup
drafting and a draft model. It reports generation tokens/s per request (median, p95), the
drafters' acceptance, how often the output equals plain decoding, and the ratio against plain.
It also times one decode batch of 1-8 tokens at a 500-token position: speculative decoding pays
only when a batch of k+1 tokens costs less than its tokens one by one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from common import describe_machine, stats  # noqa: E402
from typing_replay import default_sources, typing_requests  # noqa: E402

from ghostwright.server.backends import drafting  # noqa: E402
from ghostwright.server.backends.base import Generation  # noqa: E402
from ghostwright.server.backends.hardware import resolve_threads  # noqa: E402
from ghostwright.server.backends.llama_cpp import LlamaCppBackend, LlamaOptions  # noqa: E402
from ghostwright.server.models import resolve_model  # noqa: E402
from ghostwright.server.pipeline.complete import Completer, CompletionOptions  # noqa: E402


def batch_costs(backend: LlamaCppBackend, sizes: tuple[int, ...] = (1, 2, 3, 4, 8)) -> dict:
    """Median ms of one decode of k tokens after a 500-token prompt (8 tries each)."""
    llm = backend._llm
    ids = llm.tokenize(default_sources()[0].read_text().encode())[:520]
    backend._clear_cache()
    llm.eval(ids[:500])
    costs = {}
    for size in sizes:
        times = []
        for _ in range(8):
            llm._ctx.kv_cache_seq_rm(-1, 500, -1)
            llm.n_tokens = 500
            started = time.perf_counter()
            drafting.verify(llm, ids[500 : 500 + size])
            times.append((time.perf_counter() - started) * 1000.0)
        costs[str(size)] = float(np.median(times))
    backend._clear_cache()
    return {
        "ms": costs,
        "per_token_vs_one": {k: v / int(k) / costs["1"] for k, v in costs.items()},
    }


def recorded(backend: LlamaCppBackend, log: list[Generation]) -> LlamaCppBackend:
    """`backend` whose generations are also appended to `log` (the pipeline keeps only text)."""
    generate = backend.generate

    def generate_and_record(*args: object, **kwargs: object) -> Generation:
        generation = generate(*args, **kwargs)
        log.append(generation)
        return generation

    backend.generate = generate_and_record  # type: ignore[method-assign]
    return backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--draft-model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--limit", type=int, default=12, help="requests per file")
    parser.add_argument("--max-lines", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-results/speculative.json"))
    args = parser.parse_args(argv)

    threads = resolve_threads(args.threads)
    model = resolve_model(args.model)
    drafts = {
        "plain": "",
        "prompt-lookup": drafting.PROMPT_LOOKUP,
        "draft-model": str(resolve_model(args.draft_model)),
    }
    backends = {
        name: LlamaCppBackend(model, LlamaOptions(threads=threads, draft=draft))
        for name, draft in drafts.items()
    }
    report: dict = {
        "benchmark": "speculative",
        "machine": describe_machine(),
        "threads": threads,
        "model": model.name,
        "draft_model": Path(drafts["draft-model"]).name,
        "draft_tokens": drafting.DRAFT_TOKENS,
        "batch_cost": batch_costs(backends["plain"]),
    }
    logs: dict[str, list[Generation]] = {name: [] for name in backends}
    options = CompletionOptions(max_lines=args.max_lines, time_limit_s=600.0)
    completers = {
        name: Completer(recorded(backend, logs[name]), options)
        for name, backend in backends.items()
    }
    speeds: dict[str, list[float]] = {name: [] for name in backends}
    same = {name: 0 for name in backends}
    requests = 0
    for path in default_sources():
        for request in typing_requests(path, limit=args.limit, max_lines=args.max_lines):
            for completer in completers.values():
                completer.complete(request)
            last = {name: log[-1] for name, log in logs.items()}
            if last["plain"].generated_tokens < 2:
                continue
            requests += 1
            for name, generation in last.items():
                per_s = generation.generated_tokens / max(generation.generate_ms, 1e-3) * 1e3
                speeds[name].append(per_s)
                same[name] += generation.text == last["plain"].text
    report["requests"] = requests
    plain_p50 = stats(speeds["plain"])["p50"]
    report["drafters"] = {
        name: {
            "generation_tokens_per_s": stats(values),
            "ratio_vs_plain_p50": stats(values)["p50"] / plain_p50,
            "same_output_as_plain": same[name] / requests if requests else None,
            "acceptance": backends[name].draft_stats.acceptance,
            "drafted": backends[name].draft_stats.drafted,
            "steps": backends[name].draft_stats.steps,
        }
        for name, values in speeds.items()
    }
    for backend in backends.values():
        backend.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({key: report[key] for key in ("batch_cost", "drafters")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
