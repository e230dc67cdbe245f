"""The language server over the deterministic fake backend, for fast end-to-end tests.

Only tests start this file; user settings can never select the fake backend.
"""

from __future__ import annotations

import re
import sys
import time

from ghostwright.server.app import serve
from ghostwright.server.backends.fake import FakeBackend
from ghostwright.server.config import Settings
from ghostwright.server.feedback import lsp as feedback


def answer(prompt: str) -> str:
    """Scripted by the last line of the prompt, so each test can ask for what it needs."""
    last = prompt.rsplit("\n", 1)[-1]
    if last.endswith("snippets_seen ="):  # which repository snippets reached the prompt
        shown = re.findall(r"^# file: (\S+)$", prompt, re.MULTILINE)
        return " " + repr(sorted(set(shown))) + "\n"
    if last.endswith("ret"):
        return "urn total\n"
    if "cut off" in prompt[-200:]:  # a body the model did not finish: never written
        return "    return sum(item.price / len(\n"
    if "slow" in last:
        return " ".join(str(number) for number in range(150))  # ~500 characters, no loop
    if prompt.endswith("\n"):  # an empty line: the body of a function or a comment block
        return "    return a + b\n\n\n"
    return " value + 1\n"


def load(settings: Settings) -> FakeBackend:
    """A model named after the setting; `model = "slow"` takes 2 s to load (time to cancel)."""
    if settings.model == "slow":
        time.sleep(2)
    # 5 ms per character: a normal answer takes ~50 ms, the "slow" one 2 s (time to cancel it).
    backend = FakeBackend(answer, delay_s=0.005)
    backend.model_name = f"fake:{settings.model}"
    return backend


if __name__ == "__main__":
    feedback.SURVIVAL_SECONDS = 1.0  # tests wait for the survival check, not half a minute
    sys.exit(serve(backend_factory=load))
