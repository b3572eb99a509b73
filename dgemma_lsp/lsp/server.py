"""The language server: creates it and registers the features. The logic lives in `session.py` and below.

The transports are pygls' own but for the reading loop (see `framing.py`), the exit code and, over TCP, a server
that keeps listening when a client goes; `protocol.py` holds the changes to message handling.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

from lsprotocol import types
from pygls.exceptions import JsonRpcParseError
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from dgemma_lsp import __version__
from dgemma_lsp.errors import FramingError
from dgemma_lsp.lsp.framing import CHUNK, MessageReader
from dgemma_lsp.lsp.protocol import DgemmaProtocol
from dgemma_lsp.lsp.session import Session
from dgemma_lsp.settings import parse_settings

log = logging.getLogger(__name__)


class DgemmaServer(LanguageServer):
    protocol: DgemmaProtocol
    _stop_event: threading.Event  # pygls' may be None; this server sets it in __init__

    def __init__(self, session: Session) -> None:
        super().__init__("dgemma-lsp", __version__, protocol_cls=DgemmaProtocol)
        self.session = session
        self.exit_code: int | None = None  # set by `exit`: 0 after `shutdown`, 1 without
        self._stop_event = threading.Event()

    def stop(self, exit_code: int) -> None:
        """Stop reading and end the process with `exit_code` (the `exit` notification)."""
        self.exit_code = exit_code
        self._stop_event.set()
        if self._server is not None:
            self._server.close()

    async def serve(self, stream: asyncio.StreamReader) -> None:
        """Read and handle messages until the stream ends or `exit`. Raises FramingError when the stream has lost
        its message boundaries (pygls' loop waited for ever instead)."""
        reader = MessageReader(stream)
        while not self._stop_event.is_set():
            try:
                data = await reader.read()
            except ValueError as error:  # a body that is not JSON: JSON-RPC's parse error, with a null id
                log.error("a message body is not JSON: %s", error)
                self.protocol.reply_error(None, JsonRpcParseError(f"not JSON: {error}"))
                continue
            if data is None:
                return
            try:
                self.protocol.receive(data)
            except Exception:  # as pygls' loop: one bad message must not end the server
                log.exception("could not handle a message")

    def start_io(self, stdin=None, stdout=None) -> None:
        """LSP over stdio; a framing error ends the process with 1, as the client then cannot be understood."""

        async def serve_stdio() -> None:
            try:
                await self.serve(_stream_of(stdin or sys.stdin.buffer))
            except FramingError as error:
                log.error("%s; exiting", error)
                self.window_show_message(
                    types.ShowMessageParams(type=types.MessageType.Error, message=f"dgemma-lsp exits: {error}")
                )
                self.exit_code = 1

        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        try:
            asyncio.run(serve_stdio())
        except BrokenPipeError:
            log.error("the connection to the client is lost")
        finally:
            self.protocol.writer = None
            self.session.close()

    def start_tcp(self, host: str, port: int) -> None:
        """LSP over TCP, one client at a time (a second waits for the first to leave). pygls' start_tcp shut the
        server down when its first connection closed, so a port probe ended it; here a client that goes is
        forgotten and the next one served."""
        one_at_a_time = asyncio.Lock()  # bound to asyncio.run's loop when first used

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with one_at_a_time:  # the session holds one client's documents and settings
                if self._stop_event.is_set():
                    writer.close()
                    return
                self.protocol.set_writer(writer)
                try:
                    await self.serve(reader)
                except FramingError as error:
                    log.error("%s; closing the connection", error)
                finally:
                    writer.close()
                    self.protocol.reset()
                    if not self._stop_event.is_set():
                        self.session.reset()
                        log.info("the client left; waiting for the next one")

        async def listen() -> None:
            self._server = await asyncio.start_server(connection, host, port)
            log.info("serving on %s", ", ".join(str(s.getsockname()) for s in self._server.sockets))
            async with self._server:
                await self._server.serve_forever()

        try:
            asyncio.run(listen())
        except asyncio.CancelledError:  # `exit` closed the server
            pass
        finally:
            self.protocol.writer = None
            self.session.close()


def _stream_of(stdin) -> asyncio.StreamReader:
    """stdin as an asyncio stream, fed by a daemon thread. pygls reads stdin on a pool thread that the interpreter
    joins at exit, and os.read hands over what has come so far, which the reader needs to notice a stalled body."""
    loop, stream, fd = asyncio.get_running_loop(), asyncio.StreamReader(), stdin.fileno()

    def pump() -> None:
        try:
            while chunk := _read(fd):
                loop.call_soon_threadsafe(stream.feed_data, chunk)
            loop.call_soon_threadsafe(stream.feed_eof)
        except RuntimeError:  # the loop has closed: the server is exiting
            pass

    threading.Thread(target=pump, name="dgemma-stdin", daemon=True).start()
    return stream


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, CHUNK)
    except OSError as error:
        log.error("reading stdin failed: %s", error)
        return b""


def create_server(cli_settings: dict | None = None) -> DgemmaServer:
    """A server whose settings start from the command line's; the editor's settings are layered on top."""
    from dgemma_lsp.lsp.features import code_actions, inline_completion, lifecycle, sync

    server = DgemmaServer(Session(parse_settings(cli_settings)))
    for feature in (lifecycle, sync, inline_completion, code_actions):
        feature.register(server)
    return server
