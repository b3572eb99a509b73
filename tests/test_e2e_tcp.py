"""`dgemma-lsp serve --tcp` speaks LSP over a socket, and logs nothing to stdout in either mode."""

import json
import socket
import subprocess
import sys
import time

from lsp_client import SERVER_ENV


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def read_message(stream) -> dict:
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("connection closed")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def test_tcp_server_answers_initialize_and_shutdown():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dgemma_lsp", "serve", "--tcp", "--port", str(port), "--model", "tiny"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=SERVER_ENV,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.1)
        stream = connection.makefile("rwb")
        stream.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}))
        stream.flush()
        reply = read_message(stream)
        assert reply["id"] == 1
        capabilities = reply["result"]["capabilities"]
        assert "inlineCompletionProvider" in capabilities  # InlineCompletionOptions() serialises as {}
        assert "dgemma.fillFunction" in capabilities["executeCommandProvider"]["commands"]
        stream.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        stream.flush()
        while (message := read_message(stream)).get("id") != 2:
            pass  # notifications (progress, messages) may come first
        assert message["result"] is None
        connection.close()
    finally:
        server.kill()
        stdout, _ = server.communicate(timeout=10)
    assert stdout == b"", "nothing may be written to stdout"
