"""Initialisation, settings and model loading: answer `initialize` at once, load the model afterwards."""

from __future__ import annotations

import asyncio
import logging
import uuid

from lsprotocol import types

from dgemma_lsp.fill.remote import display_url

log = logging.getLogger(__name__)

# A server-to-client notification per inline request: how it ended and where its time went (`session.py` lists the
# outcomes), e.g. {"request": "r3", "outcome": "filled", "totalMs": 120.5, "queueMs": 1.0, "forwardMs": 90.0,
# "samplerMs": 20.0, "overheadMs": 9.5}. Only for a client that asks in `initialize` with the capability
# `experimental: {"dgemmaTimings": true}` (LSP's place for extensions): an editor would not know the method.
TIMINGS = "dgemma/timings"
TIMINGS_CAPABILITY = "dgemmaTimings"


def register(server) -> None:
    session = server.session

    def show_message(level: str, text: str) -> None:
        server.window_show_message(types.ShowMessageParams(type=types.MessageType[level], message=text))

    def send_timings(timings: dict) -> None:
        server.protocol.notify(TIMINGS, timings)

    session.show_message = show_message

    @server.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams) -> None:
        session.configure(params.initialization_options)
        if wants_timings(params.capabilities):
            session.report_timings = send_timings

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
                token,
                types.WorkDoneProgressBegin(
                    title="dgemma-lsp", message=f"loading model {display_url(session.settings.model)}", percentage=0
                ),
            )
        except Exception as error:  # a client may refuse the token; loading must go on regardless
            log.warning("work-done progress refused: %s", error)
            token = None
    loop = asyncio.get_running_loop()

    def progress(message: str, fraction: float) -> None:  # on the model thread: hand the report to the loop
        if token is not None:
            report = types.WorkDoneProgressReport(message=message, percentage=round(100 * fraction))
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, report)

    await loop.run_in_executor(session.executor, session.load_model, progress)
    await session.check_remote()  # a server URL: is it there, and which model does it serve?
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


def wants_timings(capabilities: types.ClientCapabilities) -> bool:
    experimental = capabilities.experimental
    return isinstance(experimental, dict) and experimental.get(TIMINGS_CAPABILITY) is True
