"""End to end over real stdio pipes, byte for byte: incremental sync with LSP's line ends, a reply to every request
whatever its params, framing errors that neither wedge nor hang, and `shutdown` / `exit` as the spec has them."""

import os
import time

import pytest
from lsp_client import SERVER_ENV, RawServer, frame

INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR = -32602, -32600, -32700
URI = "file:///work/notes.txt"


@pytest.fixture
def server(tmp_path):
    server = RawServer(tmp_path / "server.log")
    server.initialize()  # no `initialized`: the model never loads, so nothing here waits for it
    yield server
    server.close()


def did_open(server: RawServer, uri: str, text: str, language_id: str = "plaintext") -> None:
    item = {"uri": uri, "languageId": language_id, "version": 1, "text": text}
    server.send(server.notification("textDocument/didOpen", {"textDocument": item}))


def did_change(server: RawServer, uri: str, version: int, start: tuple, end: tuple, text: str) -> None:
    change = {
        "range": {"start": dict(zip(("line", "character"), start)), "end": dict(zip(("line", "character"), end))},
        "text": text,
    }
    server.send(
        server.notification(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        )
    )


def inline(server: RawServer, id: int, uri: str, position: dict) -> dict:
    params = {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 1}}
    server.send(server.request(id, "textDocument/inlineCompletion", params))
    reply = server.reply(id)
    assert reply is not None, f"request {id} was not answered"
    return reply


# --- text sync: lines end at \n, \r\n and \r only -------------------------------------------------------------

# str.splitlines() also ends lines at these; LSP (and so every editor) does not.
NOT_LINE_ENDS = ["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


def test_incremental_sync_ends_lines_where_lsp_does(server):
    for n, separator in enumerate(NOT_LINE_ENDS):
        uri = f"file:///work/sync{n}.txt"
        # Line 0 is one line; a CR typed at its end, before the LF, makes a CRLF: the document keeps 2 lines. Put
        # anywhere else (at 0:2, where str.splitlines' line 0 ends) it would make 3. (Long enough not to look binary.)
        line = f"ab{separator}" + "c" * 20
        did_open(server, uri, line + "\n")
        did_change(server, uri, 2, (0, len(line)), (0, len(line)), "\r")
        assert "error" not in inline(server, 100 + n, uri, {"line": 1, "character": 0})
        reply = inline(server, 200 + n, uri, {"line": 2, "character": 0})
        assert reply["error"]["code"] == INVALID_PARAMS and "(2 lines)" in reply["error"]["message"], repr(separator)
    # A deletion inside such a line (it was refused: "ends before it starts"), then the same CR test.
    did_open(server, URI, "#\fabcdef\n")
    did_change(server, URI, 2, (0, 2), (0, 6), "")
    did_change(server, URI, 3, (0, 4), (0, 4), "\r")  # "#\fef" + CR + LF
    reply = inline(server, 300, URI, {"line": 2, "character": 0})
    assert "(2 lines)" in reply["error"]["message"]
    assert not [m for m in server.notifications if m.get("method") == "window/showMessage"]


# --- the `dgemma/timings` extension: only for a client that asks -----------------------------------------------


@pytest.mark.parametrize("asks", [True, False])
def test_inline_timings_are_sent_only_to_a_client_that_asked(tmp_path, asks):
    server = RawServer(tmp_path / "server.log")
    try:
        server.initialize({"experimental": {"dgemmaTimings": True}} if asks else {})
        did_open(server, URI, "a plain note, long enough to read as text\n")
        # Inside the word "plain": no hole, so no model is needed (it never loads without `initialized`).
        assert inline(server, 2, URI, {"line": 0, "character": 4})["result"]["items"] == []
        timings = [m["params"] for m in server.notifications if m.get("method") == "dgemma/timings"]
        if asks:
            assert [(t["request"], t["outcome"]) for t in timings] == [("r1", "no hole")] and timings[0]["totalMs"] >= 0
        else:
            assert timings == [] and server.notifications == []
    finally:
        server.close()


# --- requests with params that do not fit their type get an error reply ----------------------------------------


@pytest.mark.parametrize(
    "position",
    [
        {"line": -1, "character": 0},
        {"line": 0, "character": -1},
        {"line": 2**31, "character": 0},
        {"line": "x", "character": 0},
        {"line": 0},
        None,
    ],
)
def test_a_position_that_is_no_position_gets_invalid_params(server, position):
    did_open(server, URI, "x = 1\n")
    reply = inline(server, 7, URI, position)
    assert reply["error"]["code"] == INVALID_PARAMS
    assert "error" not in inline(server, 8, URI, {"line": 0, "character": 5})  # and the server goes on


# --- framing: recover, or exit; never hang ---------------------------------------------------------------------


def recovered_or_exited(server: RawServer, id: int, timeout: float = 20) -> None:
    """Request `id` is answered, or the server exits with an error code; either within `timeout`."""
    started = time.monotonic()
    if server.reply(id, timeout) is None:
        code = server.wait(max(1.0, timeout - (time.monotonic() - started)))
        assert code is not None, "the server neither answered nor exited: the connection is wedged"
        assert code != 0


@pytest.mark.parametrize("header", ["content-length", "CONTENT-LENGTH", "Content-length"])
def test_header_names_are_case_insensitive(server, header):
    server.send(frame(server.request(5, "shutdown"), header=header))
    reply = server.reply(5, timeout=20)
    assert reply is not None and "error" not in reply


def body(message: dict) -> bytes:
    return frame(message).split(b"\r\n\r\n", 1)[1]


def bad_frames(server: RawServer) -> dict[str, bytes]:
    payload = body(server.request(5, "shutdown"))
    return {
        "length 5 short": b"Content-Length: %d\r\n\r\n" % (len(payload) - 5) + payload,
        "length 5 long": b"Content-Length: %d\r\n\r\n" % (len(payload) + 5) + payload,
        "length 500 long": b"Content-Length: %d\r\n\r\n" % (len(payload) + 500) + payload,
        "no Content-Length": b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" + payload,
        "no headers": payload,
        "length not a number": b"Content-Length: twelve\r\n\r\n" + payload,
    }


def test_a_body_that_is_not_json_gets_a_parse_error(server):
    server.send(b"Content-Length: 9\r\n\r\nnot json!")
    reply = server.reply(None)  # JSON-RPC: a parse error is answered with a null id
    assert reply is not None and reply["id"] is None and reply["error"]["code"] == PARSE_ERROR
    server.send(server.request(6, "shutdown"))
    assert server.reply(6) is not None  # the framing held: the server reads on


@pytest.mark.parametrize(
    "case",
    ["length 5 short", "length 5 long", "length 500 long", "no Content-Length", "no headers", "length not a number"],
)
def test_a_framing_error_is_recovered_or_ends_the_server(server, case):
    server.send(bad_frames(server)[case])
    server.send(server.request(6, "shutdown"))  # a well-framed request after the bad one
    recovered_or_exited(server, 6)


@pytest.mark.parametrize("case", ["length 5 short", "length 5 long", "no Content-Length", "no headers"])
def test_a_client_that_waits_after_a_framing_error_does_not_hang(server, case):
    """The client sends nothing more until it hears back about the badly framed request."""
    server.send(bad_frames(server)[case])
    recovered_or_exited(server, 5)


@pytest.mark.parametrize("short", [1, 5, 30])
def test_a_body_longer_than_its_content_length_gets_a_parse_error_and_ends_the_connection(server, short):
    """The one behaviour for an understated length: the bytes the header counts are answered as what they are (not
    JSON: a parse error, null id), and the rest, which cannot start a header, ends the connection with status 1,
    as every lost frame boundary does. Nothing waits for more input (it came in at once within 0.4 s here)."""
    payload = body(server.request(5, "shutdown"))
    server.send(b"Content-Length: %d\r\n\r\n" % (len(payload) - short) + payload)
    reply = server.reply(None, timeout=20)
    assert reply is not None and reply["id"] is None and reply["error"]["code"] == PARSE_ERROR
    assert server.wait(20) == 1


# --- shutdown and exit -----------------------------------------------------------------------------------------


def test_requests_after_shutdown_get_invalid_request(server):
    server.send(server.request(2, "shutdown"))
    assert server.reply(2) is not None
    reply = inline(server, 3, URI, {"line": 0, "character": 0})
    assert reply["error"]["code"] == INVALID_REQUEST
    server.send(server.notification("exit"))
    assert server.wait(10) == 0


def test_exit_without_shutdown_exits_with_1(server):
    server.send(server.notification("exit"))
    assert server.wait(10) == 1


ENDLESS = '{"sampler": {"maxDenoisingSteps": 100000, "confidenceThreshold": 1e-12}}'


def test_exit_during_a_fill_is_prompt_and_quiet(tmp_path):
    log = tmp_path / "server.log"
    server = RawServer(log, settings=ENDLESS)
    try:
        server.initialize()
        server.send(server.notification("initialized", {}))
        deadline = time.monotonic() + 120
        while "model ready" not in log.read_text():
            assert time.monotonic() < deadline, "the model did not load"
            time.sleep(0.1)
        did_open(server, "file:///work/area.py", "def area(radius):\n    return \n", "python")
        params = {
            "textDocument": {"uri": "file:///work/area.py"},
            "position": {"line": 1, "character": 11},
            "context": {"triggerKind": 1},
        }
        server.send(server.request(9, "textDocument/inlineCompletion", params))
        time.sleep(1.5)  # well into an endless fill
        started = time.monotonic()
        server.send(server.notification("exit"))
        assert server.wait(10) == 1
        # The fill stops at its next step; what is left is the interpreter's teardown (torch: a second or two).
        assert time.monotonic() - started < 5
    finally:
        server.close()
    assert log.stat().st_size < 100_000, "the log filled with tracebacks"


# Refuses torch and transformers to whoever imports them: the server must answer `initialize` (and shut down) without
# them, since they take seconds to import and the model loads only after `initialized`.
IMPORT_REFUSER = """
import sys

class RefuseModelLibraries:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("torch", "transformers"):
            raise ImportError(f"{name} imported before the model loads")

sys.meta_path.insert(0, RefuseModelLibraries())
"""


def test_initialize_is_answered_without_importing_torch_or_transformers(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(IMPORT_REFUSER)
    path = os.pathsep.join(filter(None, [str(site), SERVER_ENV.get("PYTHONPATH")]))
    server = RawServer(tmp_path / "server.log", env=SERVER_ENV | {"PYTHONPATH": path})
    try:
        server.send(server.request(1, "initialize", {"capabilities": {}}))
        reply = server.reply(1, timeout=60)
        assert reply is not None and "inlineCompletionProvider" in reply["result"]["capabilities"]
        server.send(server.request(2, "shutdown"))
        assert server.reply(2) == {"jsonrpc": "2.0", "id": 2, "result": None}
        server.send(server.notification("exit"))
        assert server.wait(30) == 0
    finally:
        server.close()
    assert "before the model loads" not in (tmp_path / "server.log").read_text()
