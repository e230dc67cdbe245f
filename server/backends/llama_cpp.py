"""In-process GGUF model through llama-cpp-python: one instance, one lock, newest request wins.

Generation runs on one worker thread. The prompt is evaluated in chunks so that a newer request,
a cancel or the time cap can stop it between chunks; what was evaluated stays in the KV cache and
the next request reuses it (llama.cpp keeps the longest common prefix of consecutive prompts).

Evaluated prompt is never thrown away. A request whose prompt cannot be evaluated within its
budget is answered from the caller's shorter alternative prompt; the cache holding the full
prompt's progress is saved around that answer and restored after it. Then, and after a request
that ran out of time, the full prompt keeps being evaluated in the background, in small chunks,
until the next request arrives: the next keystroke finds it warm.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import llama_cpp

from ghostwright.indexer.llama_native import cached_prefix
from ghostwright.server.backends import calibration, drafting, kv_cache, llama_loading
from ghostwright.server.backends.base import (
    Alternative,
    CancelCheck,
    Generation,
    GenerationParams,
    Interruption,
    NewestWins,
    StopCheck,
)
from ghostwright.server.backends.greedy import decode_greedy
from ghostwright.server.backends.hardware import resolve_threads
from ghostwright.server.backends.llama_loading import LlamaOptions
from ghostwright.server.gguf_files import check_gguf_file, model_display_name
from ghostwright.server.prompt_formats import PromptFormat, select_format

logger = logging.getLogger(__name__)

# A chunk of prompt evaluation is how long a new keystroke may wait: about CHUNK_S at the
# calibrated speed (128 tokens: 1.2 s on AVX2), under 16 tokens llama.cpp loses throughput.
CHUNK_S = 0.2
CHUNK_MIN_TOKENS, CHUNK_MAX_TOKENS = 16, 128
# Cached progress on the full prompt worth saving around a cold answer (state copy: ~0.1 s/1k).
KEEP_MIN_TOKENS = 64


class LlamaCppBackend:
    """A GGUF model loaded once; `generate` is safe to call from any thread."""

    def __init__(self, model_path: Path, options: LlamaOptions | None = None) -> None:
        self.options = options or LlamaOptions()
        self.model_path = check_gguf_file(model_path)
        self.model_name = model_display_name(model_path)
        self.selection = ""  # why this model serves (`model = auto` explains its choice)
        self.threads = resolve_threads(self.options.threads)
        self.adapter = (
            str(check_gguf_file(Path(self.options.adapter))) if self.options.adapter else ""
        )
        self._llm = llama_loading.load_llama(
            model_path, self.options.context_tokens, self.threads, self.adapter
        )
        self.prompt_format: PromptFormat = select_format(
            self.options.prompt_format, llama_loading.LlamaVocabulary(self._llm)
        )
        self._stop_ids = llama_loading.marker_ids(self._llm, self.prompt_format.stop)
        self.drafter = self._load_drafter(self.options.draft)
        self.draft_stats = drafting.DraftStats()
        self._can_shift = bool(llama_cpp.llama_memory_can_shift(self._llm._ctx.memory))
        self._lock = threading.Lock()
        self._requests = NewestWins()
        self._background = 0  # the newest background evaluation; older ones stop
        # What background evaluation did (status and tests read it): tokens evaluated in all.
        self.background = {"running": False, "tokens": 0}
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ghostwright-llama")
        self._calibration_key = calibration.calibration_key(
            self.model_path, self.threads, self.adapter
        )
        self.speed = calibration.calibrated_speed(self._calibration_key, self._measure_speed)
        self._drift = calibration.DriftWatch(self.speed, self._drifted)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=False))

    def generate(
        self,
        prompt: str,
        params: GenerationParams,
        should_stop: StopCheck | None = None,
        should_cancel: CancelCheck | None = None,
        alternative: Alternative | None = None,
    ) -> Generation:
        ticket = self._requests.issue(params.lane)
        job = self._worker.submit(
            self._run, ticket, prompt, params, should_stop, should_cancel, alternative
        )
        return job.result()

    def settle(self) -> None:
        """Wait until background evaluation has finished (for tests and benchmarks)."""
        self._worker.submit(lambda: None).result()

    def warm(self, prompt: str) -> None:
        """Evaluate `prompt` in the background (prefill) until a request or a newer prefill
        arrives: of several documents, the one the user went to last wins."""
        tokens = self._fit(self._tokenize(prompt), GenerationParams())
        self._evaluate_later(self._requests.latest, tokens)

    def _evaluate_later(self, ticket: int, tokens: list[int]) -> None:
        """Queue background evaluation; it makes every earlier queued one stale."""
        self._background += 1
        self._worker.submit(self._keep_evaluating, ticket, self._background, tokens)

    def _measure_speed(self) -> calibration.Speed:
        with self._lock:
            return calibration.measure_speed(self._llm, self._prefill)

    def _load_drafter(self, draft: str) -> drafting.LlamaDraftModel | None:
        if not draft:
            return None
        if draft == drafting.PROMPT_LOOKUP:
            return drafting.prompt_lookup()
        path = check_gguf_file(Path(draft))
        return drafting.ModelDrafter(path, self.threads, self._llm.n_vocab())

    def _drifted(self, speed: calibration.Speed) -> None:
        self.speed = speed
        calibration.forget_speed(self._calibration_key)

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        with self._lock:
            self._llm.close()
            if isinstance(self.drafter, drafting.ModelDrafter):
                self.drafter.close()

    def _run(
        self,
        ticket: int,
        prompt: str,
        params: GenerationParams,
        should_stop: StopCheck | None,
        should_cancel: CancelCheck | None,
        alternative: Alternative | None = None,
    ) -> Generation:
        interrupted = self._requests.interruption(
            ticket, should_cancel, params.time_limit_s, params.lane
        )
        if reason := interrupted():  # superseded before it started: never touch the model
            return Generation("", 0, 0, reason)
        with self._lock:
            try:
                tokens = self._fit(self._tokenize(prompt), params)
                if alternative is not None and self._too_slow(tokens, params):
                    generation = self._answer_cold(tokens, alternative, params, interrupted)
                else:
                    generation = self._decode(tokens, params, should_stop, interrupted)
            except Exception as exc:  # a llama.cpp failure must not take the server down
                logger.exception("generation failed")
                self._llm.reset()
                return Generation("", 0, 0, "error", error=str(exc))
        if generation.alternative or (generation.stop_reason == "time" and tokens):
            # Nobody may ask again for a while: finish the full prompt meanwhile.
            self._evaluate_later(ticket, tokens)
        return generation

    def _tokenize(self, prompt: str) -> list[int]:
        return self._llm.tokenize(prompt.encode(), add_bos=True, special=True)

    def _too_slow(self, tokens: list[int], params: GenerationParams) -> bool:
        """Evaluating what the cache lacks of `tokens` would overrun the prompt budget."""
        if params.prompt_budget_ms <= 0:
            return False
        return self.speed.prompt_ms(self._pending(tokens)) > params.prompt_budget_ms

    def _pending(self, tokens: list[int]) -> int:
        """Prompt tokens still to evaluate, counting what a cache shift would keep."""
        common = cached_prefix(self._llm, tokens)
        kept = common
        if common < len(tokens) - 1 and self._can_shift:
            start = kv_cache.shift_source(self._llm, tokens, common)
            if start is not None:
                kept = common + (self._llm.n_tokens - start)
        return max(0, len(tokens) - 1 - min(kept, len(tokens) - 1))

    def _answer_cold(
        self,
        tokens: list[int],
        alternative: Alternative,
        params: GenerationParams,
        interrupted: Interruption,
    ) -> Generation:
        """Answer from the short prompt; keep the cache's progress on the full one."""
        prompt, should_stop = alternative()
        saved = (
            kv_cache.save(self._llm)
            if cached_prefix(self._llm, tokens) >= KEEP_MIN_TOKENS
            else None
        )
        short = self._fit(self._tokenize(prompt), params)
        generation = self._decode(short, params, should_stop, interrupted)
        if saved is not None:
            kv_cache.restore(self._llm, saved)
        return replace(generation, alternative=True)

    def _keep_evaluating(self, ticket: int, mine: int, tokens: list[int]) -> None:
        """Background prefill of `tokens`, in chunks small enough to yield to a new request."""

        def newer_request() -> str:
            stale = self._requests.latest != ticket or self._background != mine
            return "superseded" if stale else ""

        if newer_request():
            return
        with self._lock:
            self.background["running"] = True
            try:
                reason, evaluated = self._prefill(tokens, newer_request)
            except Exception:  # background work must never take the server down
                logger.exception("background evaluation failed")
                self._llm.reset()
                return
            finally:
                self.background["running"] = False
        self.background["tokens"] += evaluated
        logger.debug("background evaluation: %d tokens (%s)", evaluated, reason or "complete")

    def _decode(
        self,
        tokens: list[int],
        params: GenerationParams,
        should_stop: StopCheck | None,
        interrupted: Interruption,
    ) -> Generation:
        started = time.perf_counter()
        if not tokens:  # an empty prefix-only prompt for a model without BOS: nothing to go on
            return Generation("", 0, 0, "empty")
        reason, evaluated = self._prefill(tokens, interrupted)
        if reason:
            return Generation("", len(tokens), 0, reason, _ms(started), evaluated=evaluated)
        prompt_done = time.perf_counter()
        if self.drafter is None:
            stream = self._llm.generate(tokens, temp=0.0, repeat_penalty=1.0)
        else:
            stream = drafting.speculate(
                self._llm, self.drafter, self.draft_stats, tokens, params.max_tokens
            )
        text, count, reason = decode_greedy(
            self._llm, stream, self._stop_ids, params.max_tokens, should_stop, interrupted
        )
        prompt_ms, generate_ms = _ms(started, prompt_done), _ms(prompt_done)
        self._drift.observe(evaluated, prompt_ms, count, generate_ms)
        # The last prompt token is evaluated with the first sampled one.
        return Generation(
            text, len(tokens), count, reason, prompt_ms, generate_ms, evaluated=evaluated + 1
        )

    def _fit(self, tokens: list[int], params: GenerationParams) -> list[int]:
        """Drop the oldest tokens (after BOS) if the prompt leaves no room to generate."""
        room = self._llm.n_ctx() - params.max_tokens
        if len(tokens) <= room:
            return tokens
        logger.warning("prompt of %d tokens cut to %d", len(tokens), room)
        return tokens[:1] + tokens[len(tokens) - room + 1 :]

    def _prefill(self, tokens: list[int], interrupted: Interruption) -> tuple[str, int]:
        """Evaluate all but the last prompt token in chunks, reusing what the cache already has.

        Returns why it stopped early ("" when it did not) and how many tokens it evaluated; what
        it evaluated stays in the cache for the next request either way.
        """
        llm = self._llm
        common = cached_prefix(self._llm, tokens)
        if common < len(tokens) - 1 and self._can_shift:
            common = kv_cache.shift(self._llm, tokens, common)
        common = min(common, len(tokens) - 1)
        if common < llm.n_tokens:
            llm._ctx.kv_cache_seq_rm(-1, common, -1)
            llm.n_tokens = common
        chunk = self._chunk_tokens()
        for start in range(common, len(tokens) - 1, chunk):
            if reason := interrupted():
                return reason, start - common
            llm.eval(tokens[start : min(start + chunk, len(tokens) - 1)])
        return "", max(0, len(tokens) - 1 - common)

    def _chunk_tokens(self) -> int:
        speed = getattr(self, "speed", None)  # None while the calibration itself runs
        if speed is None:
            return CHUNK_MAX_TOKENS
        return int(min(CHUNK_MAX_TOKENS, max(CHUNK_MIN_TOKENS, speed.prompt_tps * CHUNK_S)))


def _ms(start: float, end: float | None = None) -> float:
    return ((end if end is not None else time.perf_counter()) - start) * 1000.0
