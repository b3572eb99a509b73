"""Initialisation, settings and model loading: answer `initialize` at once, load the model afterwards."""

from __future__ import annotations

import asyncio
import logging
import uuid

from lsprotocol import types

log = logging.getLogger(__name__)


def register(server) -> None:
    session = server.session

    @server.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams) -> None:
        session.configure(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls, params: types.InitializedParams) -> None:
        await load_with_progress(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls, params: types.DidChangeConfigurationParams) -> None:
        if session.configure(params.settings):
            await load_with_progress(ls)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls, params) -> None:
        session.shutdown()


async def load_with_progress(ls) -> None:
    """Load on the model thread, reporting work-done progress where the client supports it."""
    session = ls.session
    window = ls.client_capabilities.window
    token = None
    if window is not None and window.work_done_progress:
        token = f"dgemma-load-{uuid.uuid4()}"
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title="dgemma-lsp", message=f"loading model {session.settings.model}")
            )
        except Exception as error:  # a client may refuse the token; loading must go on regardless
            log.warning("work-done progress refused: %s", error)
            token = None
    await asyncio.get_running_loop().run_in_executor(session.executor, session.load_model)
    if token is not None:
        message = "model ready" if session.load_error is None else "model failed to load"
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
    if session.load_error is not None:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"dgemma-lsp could not load its model; completions are off. {session.load_error}",
            )
        )
