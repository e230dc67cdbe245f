"""initialize, initialized, didChangeConfiguration, shutdown: settings and the model's lifetime."""

from __future__ import annotations

import asyncio

from lsprotocol import types

from ghostwright.server.config import client_settings
from ghostwright.server.features.commands import load_model


def register(server) -> None:  # noqa: ANN001 - GhostwrightServer
    @server.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams) -> None:  # noqa: ANN001
        ls.client_values = client_settings(params.initialization_options)
        ls.read_workspace_settings()
        ls.engine.settings = ls.effective_settings()

    @server.feature(types.INITIALIZED)
    async def initialized(ls, params: types.InitializedParams) -> None:  # noqa: ANN001
        ls.attach_loop(asyncio.get_running_loop())
        ls.background(load_model(ls, "ghostwright: loading the model"))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls, params: types.DidChangeConfigurationParams) -> None:  # noqa: ANN001
        ls.client_values = client_settings(params.settings)
        if ls.engine.apply(ls.effective_settings()):
            ls.background(load_model(ls, "ghostwright: applying new model settings"))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls, *args: object) -> None:  # noqa: ANN001
        ls.engine.close()
