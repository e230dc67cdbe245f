"""Stopping is isolated per subsystem: one that fails to stop does not keep the others running."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ghostwright.server.backends.fake import FakeBackend
from ghostwright.server.config import Settings
from ghostwright.server.http_api.host import Host
from ghostwright.server.shutdown import stop_all


def test_a_failing_step_is_logged_and_the_rest_still_run(caplog):
    ran = []

    def broken() -> None:
        ran.append("index")
        raise OSError("disk gone")

    with caplog.at_level(logging.ERROR):
        failed = stop_all([("training job", lambda: ran.append("training job")),
                           ("index", broken), ("model", lambda: ran.append("model"))])  # fmt: skip
    assert ran == ["training job", "index", "model"] and failed == ["index"]
    assert "stopping the index failed" in caplog.text and "disk gone" in caplog.text


def test_the_http_host_closes_the_model_when_closing_the_index_fails(tmp_path: Path):
    host = Host(tmp_path, Settings(retrieval=False), lambda settings: FakeBackend())
    host.engine.load(host.settings())
    assert host.engine.status()["state"] == "ready"

    def broken() -> None:
        raise OSError("disk gone")

    host._close_index = broken  # type: ignore[method-assign]
    asyncio.run(host.stop())
    assert host.engine.status()["state"] == "closed"
