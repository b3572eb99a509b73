"""`dgemma-lsp serve --tcp` speaks LSP over a socket, outlives its clients, and logs nothing to stdout."""

import socket
import subprocess
import sys
import time

from lsp_client import SERVER_ENV, frame, read_message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dgemma_lsp", "serve", "--tcp", "--port", str(port), "--model", "tiny"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=SERVER_ENV,
    )


def connect(port: int) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            assert time.monotonic() < deadline, "the server never listened"
            time.sleep(0.1)


def request(stream, id: int, method: str, params: dict | None = None) -> dict:
    """Send a request and return its reply; notifications (progress, messages) that come first are skipped."""
    stream.write(frame({"jsonrpc": "2.0", "id": id, "method": method, **({"params": params} if params else {})}))
    stream.flush()
    while "method" in (message := read_message(stream)) or message.get("id") != id:
        pass
    return message


def test_tcp_server_answers_initialize_and_shutdown():
    port = free_port()
    server = start_server(port)
    try:
        connection = connect(port)
        stream = connection.makefile("rwb")
        capabilities = request(stream, 1, "initialize", {"capabilities": {}})["result"]["capabilities"]
        assert "inlineCompletionProvider" in capabilities  # InlineCompletionOptions() serialises as {}
        assert "dgemma.fillFunction" in capabilities["executeCommandProvider"]["commands"]
        assert request(stream, 2, "shutdown")["result"] is None
        connection.close()
    finally:
        server.kill()
        stdout, _ = server.communicate(timeout=10)
    assert stdout == b"", "nothing may be written to stdout"


def test_tcp_server_serves_the_next_client_after_one_leaves():
    port = free_port()
    server = start_server(port)
    try:
        connect(port).close()  # a port probe: connects and leaves without a word
        for _ in range(2):  # each leaves after `shutdown`, without `exit`
            connection = connect(port)
            stream = connection.makefile("rwb")
            assert "capabilities" in request(stream, 1, "initialize", {"capabilities": {}})["result"]
            assert request(stream, 2, "shutdown")["result"] is None
            connection.close()
        connection = connect(port)
        stream = connection.makefile("rwb")
        request(stream, 1, "initialize", {"capabilities": {}})
        request(stream, 2, "shutdown")
        stream.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        stream.flush()
        assert server.wait(10) == 0  # `exit` ends the process, as the spec says
    finally:
        server.kill()
        server.communicate(timeout=10)
