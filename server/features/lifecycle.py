"""initialize, initialized, didChangeConfiguration, shutdown: settings and the model's lifetime."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from ghostwright.server.config import client_settings
from ghostwright.server.features.commands import load_model
from ghostwright.server.features.training import stop_training
from ghostwright.server.indexing.lsp import close_index, start_index
from ghostwright.server.installs.lsp import watch_installs
from ghostwright.server.shutdown import stop_all

if TYPE_CHECKING:
    from ghostwright.server.app import GhostwrightServer


def register(server: GhostwrightServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: GhostwrightServer, params: types.InitializeParams) -> None:
        ls.client_values = client_settings(params.initialization_options)
        ls.read_workspace_settings()
        ls.engine.settings = ls.effective_settings()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: GhostwrightServer, params: types.InitializedParams) -> None:
        ls.attach_loop(asyncio.get_running_loop())
        for problem in ls.startup_warnings:
            ls.warn_once(problem)
        ls.background(load_model(ls, "ghostwright: loading the model"))
        ls.background(start_index(ls))
        ls.background(watch_installs(ls))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: GhostwrightServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.client_values = client_settings(params.settings)
        if ls.engine.apply(ls.effective_settings()):
            ls.background(load_model(ls, "ghostwright: applying new model settings"))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: GhostwrightServer, *args: object) -> None:
        stop_all(
            [
                ("training job", lambda: stop_training(ls)),
                ("index", lambda: close_index(ls)),
                ("model", ls.engine.close),
            ]
        )
