"""pygls' LSP protocol with the changes this server needs; each override says what pygls did and why it broke.

Everything else (dispatch, cancellation, `initialize`, commands, progress) is pygls' own.
"""

from __future__ import annotations

import logging
from typing import Protocol, cast

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import RPCRequest

log = logging.getLogger(__name__)


class _StoppableServer(Protocol):
    """What `lsp_exit` needs of `server.DgemmaServer`, which imports this module (pygls types `_server` as its own
    LanguageServer)."""

    def stop(self, exit_code: int) -> None: ...


class DgemmaProtocol(LanguageServerProtocol):
    def receive(self, data) -> None:
        """Handle one message, parsed from JSON but not yet structured (see `server.DgemmaServer.serve`).

        pygls structures a message inside `json.loads` and, when its params do not fit their type, only logs it:
        a request for the position {"line": -1} or {"line": "x"} got no reply, and its client waited for ever.
        Here every request that cannot be read is answered with an error."""
        if not isinstance(data, dict) or data.get("jsonrpc") != self.VERSION:
            log.warning("not a JSON-RPC 2.0 message: %.200r", data)
            self.reply_error(_request_id(data), JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
            return
        try:
            message = self.structure_message(data)  # logs why it failed
        except JsonRpcException as error:
            if isinstance(error.__cause__, cattrs.BaseValidationError):
                error = type(error)(f"{error.message}: {'; '.join(cattrs.transform_error(error.__cause__))}")
            if "method" in data and "id" in data:  # a request: its client waits for the answer
                self.reply_error(_request_id(data), error)
            return
        self.handle_message(message)

    def reply_error(self, request_id: int | str | None, error: JsonRpcException) -> None:
        if request_id is None:  # the converter would leave out the null id that JSON-RPC asks for here
            self._send_data(
                {"jsonrpc": self.VERSION, "id": None, "error": {"code": error.code, "message": error.message}}
            )
        else:
            self._send_response(request_id, error=error.to_response_error())

    def handle_message(self, message) -> None:
        # pygls drops every request after `shutdown` without a reply; the spec says they get InvalidRequest.
        if self._shutdown and isinstance(message, RPCRequest) and message.method != types.EXIT:
            error = JsonRpcInvalidRequest(f"{message.method}: the server is shutting down")
            self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)

    def _send_data(self, data) -> None:
        # Once the connection is gone (after `exit`, or a TCP client leaving) there is nobody to send to. pygls
        # logged "no available transport" for each message; with a closed stdout it reported the failed write to
        # the client, which failed the same way, recursively: megabytes of chained tracebacks.
        if self.writer is not None:
            super()._send_data(data)

    def reset(self) -> None:
        """Forget a client that went away (TCP): its requests are cancelled and the next client starts afresh."""
        self.writer = None
        for future in list(self._request_futures.values()):
            future.cancel()
        self._request_futures.clear()
        self._result_types.clear()
        self._shutdown = False

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args):
        # pygls calls sys.exit() here, in the middle of message handling; its start_io swallowed the SystemExit, so
        # the process ended with 0 even without `shutdown` (the spec says 1), and only once the running fill had
        # finished. The server stops reading instead and ends with the spec's exit code.
        yield from self._features(types.EXIT, *args)
        cast(_StoppableServer, self._server).stop(exit_code=0 if self._shutdown else 1)

    # Text sync. pygls applies every change to its own copy of the document before our handler runs, splitting lines
    # with str.splitlines(), which also ends lines at \f, \v, \x1c-\x1e, \x85, U+2028 and U+2029 (LSP ends them at
    # \n, \r\n and \r only). Its position codec then clamps a character past such a shorter line in the params
    # object itself, so our handler saw a rewritten range: "a\fbcd" with Z inserted at 0:4 became "aZ\fbcd". The
    # session's DocumentStore is the one copy this server reads, so the params go to the features untouched.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        yield from self._features(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        yield from self._features(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        yield from self._features(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _features(self, method: str, *args):
        """Run the features' handler for `method`, if any (a generator step, as pygls' built-in handlers take)."""
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, args, None


def _request_id(data) -> int | str | None:
    """The id of a message to answer, None where it has no usable one (JSON-RPC then answers with a null id)."""
    request_id = data.get("id") if isinstance(data, dict) else None
    return request_id if isinstance(request_id, (int, str)) and not isinstance(request_id, bool) else None
