"""Start an HTTP face (`fake_http.py` or the real `ghostwright http`) and find its port."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SERVING = re.compile(r"serving http://[^:]+:(\d+)")


@contextmanager
def http_server(
    command: list[str], *, ready: bool = True, timeout_s: float = 120.0
) -> Iterator[str]:
    """The base URL of a started server (waiting for /health 200 when `ready`); stopped after."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = SERVING.search(line)
        if match is None:
            rest = process.stderr.read() if process.poll() is not None else ""
            raise AssertionError(f"no 'serving' line: {line!r} {rest}")
        base = f"http://127.0.0.1:{match.group(1)}"
        if ready:
            wait_healthy(base, timeout_s)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            rest = process.stderr.read()
            assert "Traceback" not in rest, rest


def wait_healthy(base: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base} never became healthy")


def fake_command(workspace: Path, *extra: str) -> list[str]:
    import sys

    return [sys.executable, str(Path(__file__).with_name("fake_http.py")), str(workspace), *extra]
