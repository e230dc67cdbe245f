"""How fast the loaded model runs on this machine, and the budgets that follow from it.

A model's prompt-evaluation and generation speeds differ by 4x between two CPUs that both look
like "2 cores" (AVX512 against AVX2 alone), so no window size or time limit can be a constant.
A short timed run when a model loads measures both speeds; the result is cached per model file,
CPU and thread count in the user cache. When the requests actually served drift far from it
(another job on the machine, thermal limits, a different power profile), their speed serves
for the rest of the session and the cached entry is dropped, so the next load measures again:
a burst of load must not decide the next start's tier.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from ghostwright.indexer.atomic import atomic_path
from ghostwright.server.backends.hardware import cpu_flags, cpu_model

if TYPE_CHECKING:
    import llama_cpp

logger = logging.getLogger(__name__)

# The timed run: real code (this Python's own textwrap module), evaluated and then continued.
PROBE_PROMPT_TOKENS = 256
PROBE_GENERATED_TOKENS = 16
# A suggestion's first line, in tokens (median first line of HumanEval single-line targets: 11).
LINE_TOKENS = 12
# What a keystroke adds to a warm prompt: the KV cache holds the window, only the tail after the
# edit is evaluated (the typed characters, the rest of the line and the suffix after the cursor).
TAIL_TOKENS = 32
# The smallest window worth a cold request: a few lines around the cursor.
MIN_COLD_WINDOW = 64
# A fill-in-the-middle prompt puts the suffix after the prefix, so every keystroke evaluates the
# suffix again: its share is capped to what the budget can re-evaluate, never below a few lines.
MIN_SUFFIX_TOKENS = 32
# Served requests that disagree with the calibration by this factor (median of the last
# DRIFT_SAMPLES) replace it.
DRIFT_FACTOR = 2.0
DRIFT_SAMPLES = 8
# Requests evaluating fewer tokens than this say little about prompt speed (fixed costs).
DRIFT_MIN_TOKENS = 48


@dataclass(frozen=True)
class Speed:
    """Tokens per second on this machine, as measured."""

    prompt_tps: float
    generate_tps: float
    source: str = "measured"  # measured | cached | served (replaced by drift)

    def prompt_ms(self, tokens: int) -> float:
        return tokens * 1000.0 / self.prompt_tps

    def generate_ms(self, tokens: int) -> float:
        return tokens * 1000.0 / self.generate_tps


@dataclass(frozen=True)
class Budgets:
    """What one suggestion costs at the calibrated speed, against the latency budget.

    The budget is split as llama.vim splits it (t_max_prompt_ms, t_max_predict_ms), but from the
    measured speed instead of two constants: generating a first line is reserved, and prompt
    evaluation gets the rest. A cold request (nothing reusable in the KV cache) is given the
    window that evaluates in that rest.
    """

    budget_ms: float
    line_ms: float  # generating a typical first line
    prompt_ms: float  # what is left of the budget for evaluating the prompt
    warm_ms: float  # a keystroke's request: the tail evaluated, then a line generated
    cold_window: int  # prompt tokens a cold request can evaluate in time

    @property
    def fits(self) -> bool:
        """Typing gets a visible line within the budget, and a cold request sees some code."""
        return self.warm_ms <= self.budget_ms and self.cold_window >= MIN_COLD_WINDOW

    @property
    def deadline_ms(self) -> float:
        """An inline request's whole time (llama.vim's t_max_prompt_ms + t_max_predict_ms): the
        budget, or a keystroke's cost where that is more (a slow tier the user named still
        shows its line)."""
        return max(self.budget_ms, self.warm_ms)

    def describe(self) -> str:
        return (
            f"typing {self.warm_ms:.0f} ms per line, cold window {self.cold_window} tokens "
            f"within {self.budget_ms:.0f} ms"
        )


def budgets(speed: Speed, latency_budget_ms: float, *, fim: bool = False) -> Budgets:
    """The costs of a warm and a cold request at `speed` within `latency_budget_ms`; with `fim`,
    a keystroke also re-evaluates the (shortest useful) suffix."""
    line_ms = speed.generate_ms(LINE_TOKENS)
    prompt_ms = max(0.0, latency_budget_ms - line_ms)
    tail = TAIL_TOKENS + (MIN_SUFFIX_TOKENS if fim else 0)
    return Budgets(
        budget_ms=float(latency_budget_ms),
        line_ms=line_ms,
        prompt_ms=prompt_ms,
        warm_ms=speed.prompt_ms(tail) + line_ms,
        cold_window=int(speed.prompt_tps * prompt_ms / 1000.0),
    )


def suffix_cap(speed: Speed, latency_budget_ms: float) -> int:
    """Suffix tokens a keystroke can afford to re-evaluate within the budget."""
    affordable = int(speed.prompt_tps * budgets(speed, latency_budget_ms).prompt_ms / 1000.0)
    return max(MIN_SUFFIX_TOKENS, affordable - TAIL_TOKENS)


def calibration_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("ghostwright")) / "calibration.json"


def calibration_key(model_path: Path, threads: int, adapter: str = "") -> str:
    """Model file (path, size, mtime), adapter, CPU, threads and llama.cpp version."""
    stat = model_path.stat()
    parts = [
        str(model_path.resolve()),
        str(stat.st_size),
        str(stat.st_mtime_ns),
        adapter,
        *_machine(threads),
        metadata.version("llama-cpp-python"),
    ]
    return "|".join(parts)


def pick_key(threads: int, latency_budget_ms: int) -> str:
    """Where `auto` remembers its pick: per CPU, thread count and budget."""
    return "|".join(["auto-pick", *_machine(threads), f"budget={latency_budget_ms}"])


def _machine(threads: int) -> list[str]:
    return [cpu_model(), ",".join(cpu_flags()), f"threads={threads}"]


def last_pick(key: str, path: Path | None = None) -> str:
    entry = _read(path or calibration_file()).get(key)
    return str(entry.get("tier", "")) if isinstance(entry, dict) else ""


def store_pick(key: str, tier: str, path: Path | None = None) -> None:
    path = path or calibration_file()
    entries = _read(path)
    if (entries.get(key) or {}).get("tier") != tier:
        entries[key] = {"tier": tier, "picked_at": time.time()}
        _write(path, entries)


def cached_speed(key: str, path: Path | None = None) -> Speed | None:
    entry = _read(path or calibration_file()).get(key)
    if not isinstance(entry, dict):
        return None
    try:
        return Speed(float(entry["prompt_tps"]), float(entry["generate_tps"]), "cached")
    except (KeyError, TypeError, ValueError):
        return None


def store_speed(key: str, speed: Speed, path: Path | None = None) -> None:
    """Add or replace one entry; other models' and machines' entries stay."""
    path = path or calibration_file()
    entries = _read(path)
    entries[key] = {**asdict(speed), "measured_at": time.time()}
    _write(path, entries)


def forget_speed(key: str, path: Path | None = None) -> None:
    """Drop one entry, so that the next load measures again."""
    path = path or calibration_file()
    entries = _read(path)
    if entries.pop(key, None) is not None:
        _write(path, entries)


def _write(path: Path, entries: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(entries, indent=1))


def _read(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def calibrated_speed(key: str, measure: Callable[[], Speed], path: Path | None = None) -> Speed:
    """The cached speed for `key`, else measure it now and cache it."""
    cached = cached_speed(key, path)
    if cached is not None:
        return cached
    speed = measure()
    logger.info(
        "calibrated: prompt %.0f tokens/s, generation %.1f tokens/s",
        speed.prompt_tps,
        speed.generate_tps,
    )
    store_speed(key, speed, path)
    return speed


def probe_text() -> str:
    """Real code for the timed run, the same on every machine with this Python."""
    import textwrap

    return Path(textwrap.__file__).read_text(encoding="utf-8")


class DriftWatch:
    """Compares served requests with the calibration; a far-off median replaces it."""

    def __init__(self, speed: Speed, on_drift: Callable[[Speed], None]) -> None:
        self.speed = speed
        self._on_drift = on_drift
        self._prompt: deque[float] = deque(maxlen=DRIFT_SAMPLES)
        self._generate: deque[float] = deque(maxlen=DRIFT_SAMPLES)

    def observe(self, evaluated: int, prompt_ms: float, generated: int, generate_ms: float) -> None:
        if evaluated >= DRIFT_MIN_TOKENS and prompt_ms > 0:
            self._prompt.append(evaluated * 1000.0 / prompt_ms)
        if generated >= 4 and generate_ms > 0:
            self._generate.append(generated * 1000.0 / generate_ms)
        if len(self._prompt) < DRIFT_SAMPLES or len(self._generate) < DRIFT_SAMPLES:
            return
        prompt, generate = statistics.median(self._prompt), statistics.median(self._generate)
        if _far(prompt, self.speed.prompt_tps) or _far(generate, self.speed.generate_tps):
            logger.info(
                "speed drifted: prompt %.0f -> %.0f tokens/s, generation %.1f -> %.1f tokens/s",
                self.speed.prompt_tps,
                prompt,
                self.speed.generate_tps,
                generate,
            )
            self.speed = Speed(prompt, generate, "served")
            self._prompt.clear()
            self._generate.clear()
            self._on_drift(self.speed)


def _far(observed: float, expected: float) -> bool:
    return observed > expected * DRIFT_FACTOR or observed * DRIFT_FACTOR < expected


def measure_speed(llm: llama_cpp.Llama, prefill: Callable[..., object]) -> Speed:
    """The timed run: evaluate real code, then generate from it (greedy), on a clean cache.
    `prefill` is the backend's request path; the caller holds the model's lock."""
    from ghostwright.server.backends.kv_cache import clear

    text = probe_text().encode()
    tokens = llm.tokenize(text, add_bos=True, special=False)
    tokens = tokens[: PROBE_PROMPT_TOKENS + 1]
    clear(llm)
    llm.eval(tokens[:8])  # page the weights in first: a cold mmap is not the CPU's speed
    clear(llm)
    started = time.perf_counter()
    prefill(tokens, lambda: "")  # the request path (largest chunks: no speed yet)
    prompt_s = time.perf_counter() - started
    started, count = time.perf_counter(), 0
    for _ in llm.generate(tokens, temp=0.0, repeat_penalty=1.0):
        count += 1
        if count >= PROBE_GENERATED_TOKENS:
            break
    generate_s = time.perf_counter() - started
    clear(llm)
    return Speed((len(tokens) - 1) / prompt_s, count / generate_s)
