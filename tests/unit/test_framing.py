"""The base protocol reader: message bodies from a byte stream, case-insensitive headers, and framing errors that
raise at once or recover instead of waiting for bytes that never come."""

import asyncio
import json

import pytest

from dgemma_lsp.errors import FramingError
from dgemma_lsp.lsp.framing import MessageReader

MESSAGE = {"jsonrpc": "2.0", "id": 1, "method": "shutdown"}
OTHER = {"jsonrpc": "2.0", "method": "exit", "params": {"text": "😀 é"}}


def body(message: dict) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode()


def framed(message: dict, header: bytes = b"Content-Length", delta: int = 0) -> bytes:
    data = body(message)
    return header + b": %d\r\n\r\n" % (len(data) + delta) + data


async def read_all(*chunks: bytes, eof: bool = True, idle: float = 0.05) -> list:
    """What the reader makes of `chunks`: each message, "ValueError" or "FramingError", until the end (None)."""
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    if eof:
        stream.feed_eof()
    reader, results = MessageReader(stream, idle=idle), []
    while True:
        try:
            message = await asyncio.wait_for(reader.read(), timeout=5)
        except (ValueError, FramingError) as error:
            results.append("FramingError" if isinstance(error, FramingError) else "ValueError")
            if isinstance(error, FramingError):
                return results
            continue
        results.append(message)
        if message is None:
            return results


@pytest.mark.parametrize(
    "chunks",
    [
        [framed(MESSAGE) + framed(OTHER)],
        [bytes([b]) for b in framed(MESSAGE) + framed(OTHER)],  # a byte at a time
        [framed(MESSAGE, b"content-length") + framed(OTHER, b"CONTENT-LENGTH")],  # header names ignore case
        [
            b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length :  %d \r\n\r\n"
            % len(body(MESSAGE))
            + body(MESSAGE)
            + framed(OTHER)
        ],
        [b"Content-Length: %d\n\n" % len(body(MESSAGE)) + body(MESSAGE) + b"\r\n" + framed(OTHER)],  # bare LFs
    ],
)
async def test_well_framed_messages_are_read(chunks):
    assert await read_all(*chunks) == [MESSAGE, OTHER, None]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"Content-Type: text/plain\r\n\r\n" + body(MESSAGE), ["FramingError"]),  # no Content-Length
        (b"Content-Length: twelve\r\n\r\n" + body(MESSAGE), ["FramingError"]),
        (b"Content-Length: -5\r\n\r\n" + body(MESSAGE), ["FramingError"]),
        (body(MESSAGE) + framed(OTHER), ["FramingError"]),  # no headers at all
        (framed(MESSAGE, delta=-5) + framed(OTHER), ["ValueError", "FramingError"]),  # a length understated
        (b"Content-Length: 9\r\n\r\nnot json!" + framed(OTHER), ["ValueError", OTHER, None]),  # framing holds
        (framed(MESSAGE)[:-3], [None]),  # the stream ends inside a message
    ],
)
async def test_framing_errors(data, expected):
    assert await read_all(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (body(MESSAGE), ["FramingError"]),  # no headers
        (framed(MESSAGE, delta=-5), ["ValueError", "FramingError"]),  # the tail of an understated body
    ],
)
async def test_bytes_that_cannot_start_a_header_raise_without_waiting_for_more(data, expected):
    """The client may be waiting for an answer: nothing more comes, and the reader must not wait for a newline."""
    assert await read_all(data, eof=False) == expected


@pytest.mark.parametrize("behind", [b"", framed(OTHER)])
async def test_an_overstated_length_is_recovered_once_the_stream_idles(behind):
    """The client waits for an answer after the bad message (or has sent the next one, shorter than the excess)."""
    stream = asyncio.StreamReader()
    stream.feed_data(framed(MESSAGE, delta=500) + behind)
    reader = MessageReader(stream, idle=0.05)
    assert await asyncio.wait_for(reader.read(), 5) == MESSAGE
    if not behind:
        stream.feed_data(framed(OTHER))
    stream.feed_eof()
    assert await reader.read() == OTHER and await reader.read() is None


async def test_a_slow_body_is_waited_for():
    """A body that comes in pieces, with pauses longer than the idle time, is not cut short."""
    data = framed(OTHER)
    stream = asyncio.StreamReader()
    reader = MessageReader(stream, idle=0.05)
    task = asyncio.ensure_future(reader.read())
    for piece in (data[:30], data[30:-1], data[-1:]):
        stream.feed_data(piece)
        await asyncio.sleep(0.2)
    assert await asyncio.wait_for(task, 5) == OTHER
