"""What `ghostwright train` tells its caller while it runs: a progress bar and phase lines for a
person at a terminal, or one JSON object per line on stdout for the language server
(`--progress-json`), which turns them into `$/progress` reports."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


class TrainProgress:
    """Phase changes, optimizer steps (loss, tokens/s, ETA) and evaluated cases."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._bar: Callable[[int, int, dict], None] | None = None
        self._first: tuple[int, float] | None = None  # (step, time) this process started at

    def phase(self, name: str, message: str) -> None:
        if self.as_json:
            self._emit({"event": "phase", "phase": name, "message": message})
        else:
            print(message, file=sys.stderr, flush=True)

    def step(self, step: int, steps: int, record: dict) -> None:
        if not self.as_json:
            if self._bar is None:
                self._bar = progress_bar_from(steps)
            self._bar(step, steps, record)
            return
        now = time.monotonic()
        if self._first is None:
            self._first = (step - 1, now - 1e-9)
        done, started = self._first
        per_step = (now - started) / max(1, step - done)
        self._emit(
            {
                "event": "step",
                "step": step,
                "steps": steps,
                "loss": round(record["loss"], 4),
                "tokens_per_s": round(record["tokens_per_s"], 1),
                "eta_s": round(per_step * (steps - step)),
            }
        )

    def cases(self, name: str, done: int, total: int) -> None:
        if self.as_json:
            self._emit({"event": "cases", "phase": name, "done": done, "total": total})

    def result(self, summary: dict[str, Any]) -> None:
        """The last line of stdout, in both modes: the run's summary as JSON."""
        self._emit({"event": "done", **summary} if self.as_json else summary)

    @staticmethod
    def _emit(record: dict) -> None:
        print(json.dumps(record), flush=True)


def progress_bar_from(total: int) -> Callable[[int, int, dict], None]:
    """A tqdm bar (ETA, loss, tokens/s) fed by `train`'s progress callback."""
    from tqdm import tqdm

    bar = None

    def update(step: int, steps: int, record: dict) -> None:
        nonlocal bar
        if bar is None:  # opened at the first step, so a resumed run starts where it was
            bar = tqdm(total=total, initial=step - 1, unit="step", dynamic_ncols=True)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{record['loss']:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
        if step == steps:
            bar.close()

    return update
