"""The LSP base protocol on a byte stream: each message is header lines, a blank line, and a JSON body of
Content-Length bytes.

pygls' reader (`pygls.io_.run_async`) matches `Content-Length: N\\r\\n` exactly and skips every other line, so a
lower-case header name (legal: header names are case-insensitive, as in HTTP) or a wrong length left it waiting for
a header that never came: the process lived on and no later request was answered. This reader never waits for
bytes that cannot be part of a message:

- header names are read case-insensitively;
- where a header line should start, bytes that cannot start one (the tail of a body whose length was understated,
  a body sent without headers) raise FramingError at once, as does a header part without a usable Content-Length.
  The message boundaries are lost then, and the caller ends the connection (rust-analyzer's lsp-server, too,
  stops reading at a framing error);
- a body that has not fully come after `idle` seconds without a byte is taken as far as it is one whole JSON value:
  the length overstated it, and the client is waiting for the answer. What follows that value starts the next
  message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re

from dgemma_lsp.errors import FramingError

log = logging.getLogger(__name__)

CHUNK = 65536
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # a header name (RFC 9110 token)
_HEADER = re.compile(rb"(" + _TOKEN + rb")[ \t]*:[ \t]*(.*?)[ \t]*\r?\n")
_HEADER_START = re.compile(rb"\r?|" + _TOKEN + rb"[ \t]*(?::[^\r\n]*\r?)?")  # what a header line can begin with
_LEADING_SPACE = re.compile(rb"[ \t\r\n]*")


class MessageReader:
    """Message bodies, parsed as JSON, from an `asyncio.StreamReader` (stdio or a TCP connection)."""

    def __init__(self, stream: asyncio.StreamReader, idle: float = 0.5) -> None:
        self._stream, self._idle = stream, idle
        self._buffer = bytearray()
        self._eof = False

    async def read(self):
        """The next message's body as parsed JSON; None at the end of the stream. Raises FramingError when the
        message boundaries are lost, and ValueError for a body that is not JSON (the framing holds: the caller
        answers with a parse error and reads on)."""
        headers = await self._headers()
        if headers is None:
            return None
        content_length = headers.get(b"content-length", b"")
        if not content_length.isdigit():
            raise FramingError(f"no usable Content-Length in the headers {headers!r}")
        length = int(content_length)
        while len(self._buffer) < length:
            if await self._more(self._idle if self._buffer else None):
                continue
            if self._eof:
                log.warning("the stream ended inside a message (%d of %d bytes)", len(self._buffer), length)
                return None
            value = self._whole_json_value()
            if value is not None:
                log.warning("Content-Length %d overstated a body of %d bytes", length, value[1])
                return value[0]
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return json.loads(body)

    async def _headers(self) -> dict[bytes, bytes] | None:
        headers: dict[bytes, bytes] = {}
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if not _HEADER_START.fullmatch(self._buffer):
                    raise FramingError(f"expected a header line, got {bytes(self._buffer[:80])!r}")
                if not await self._more():
                    if self._buffer or headers:
                        log.warning("the stream ended inside a header part")
                    return None
                continue
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if not line.strip():
                if headers:
                    return headers
                continue  # blank lines between messages are harmless
            match = _HEADER.fullmatch(line)
            if match is None:
                raise FramingError(f"expected a header line, got {line[:80]!r}")
            headers[match[1].lower()] = match[2]

    async def _more(self, timeout: float | None = None) -> bool:
        """Append what the stream has (waiting at most `timeout` seconds); False at its end or on the timeout."""
        try:
            # Cancelling StreamReader.read on the timeout loses nothing: it consumes bytes only when it returns.
            chunk = await asyncio.wait_for(self._stream.read(CHUNK), timeout)
        except TimeoutError:
            return False
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    def _whole_json_value(self) -> tuple[object, int] | None:
        """The JSON value at the start of the buffer and the bytes it took, removed from the buffer; None when the
        buffer does not start with a whole one (yet)."""
        leading_space = _LEADING_SPACE.match(self._buffer)
        assert leading_space is not None  # the pattern matches the empty string
        skipped = leading_space.end()
        text = self._buffer[skipped:].decode("utf-8", "surrogateescape")
        try:
            value, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return None
        taken = skipped + len(text[:end].encode("utf-8", "surrogateescape"))
        del self._buffer[:taken]
        return value, taken
