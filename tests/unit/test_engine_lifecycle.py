"""The engine while its model loads, and the server's writer once the editor has gone."""

from __future__ import annotations

import asyncio
import threading

from ghostwright.server.app import ClosedPipeTolerant
from ghostwright.server.backends.fake import FakeBackend
from ghostwright.server.config import Settings
from ghostwright.server.engine import Engine


def test_a_request_made_while_the_model_loads_waits_for_it():
    release = threading.Event()

    def slow_factory(settings: Settings) -> FakeBackend:
        release.wait(5)
        return FakeBackend("x")

    engine = Engine(Settings(), slow_factory)

    async def scenario() -> tuple[bool, bool]:
        loading = asyncio.get_running_loop().run_in_executor(None, engine.load)
        await asyncio.sleep(0.1)
        early = await engine.wait_until_loaded(0.2)  # still loading: not yet
        asyncio.get_running_loop().call_later(0.2, release.set)
        later = await engine.wait_until_loaded(5)
        await loading
        return early, later

    assert asyncio.run(scenario()) == (False, True)
    engine.close()


def test_a_failed_load_ends_the_wait_at_once():
    def failing(settings: Settings) -> FakeBackend:
        raise RuntimeError("no such model")

    engine = Engine(Settings(), failing)
    try:
        engine.load()
    except Exception:
        pass
    assert engine.state.startswith("failed")
    assert asyncio.run(engine.wait_until_loaded(30)) is False  # returns now, not in 30 s
    engine.close()


class Pipe:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.broken = False

    def write(self, data: bytes) -> None:
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        self.written.append(data)

    def close(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_writes_after_the_editor_quit_are_dropped_quietly():
    pipe = Pipe()
    writer = ClosedPipeTolerant(pipe)
    writer.write(b"one")
    pipe.broken = True
    writer.write(b"two")  # no exception: the editor is gone
    writer.write(b"three")
    writer.close()
    assert pipe.written == [b"one"] and writer.gone
