"""Fuzz: incremental sync through the server's own message handling (pygls' dispatch included), with the characters
that end lines for str.splitlines() but not for LSP (\\f, \\v, \\x1c-\\x1e, U+0085, U+2028, U+2029), all three LSP
line ends, and astral characters. After every didChange the server's document must equal the text the edits make,
and its incrementally edited tree a fresh parse. Derandomized, so CI runs the same 2,000-odd edits every time."""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_documents import PROGRAMS, outside_crlf, utf16_position

from dgemma_lsp.lsp.server import create_server
from dgemma_lsp.text.syntax import parse

PIECES = [
    *["\f", "\v", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\r", "\n", "\r\n"],
    *["😀", "𝔘", "é", "中", "x", "y1", " ", "\t", "(", ")", "{", "}", ":", ";", "=", '"', "def ", "fn ", "return "],
]
LANGUAGES = [*sorted(PROGRAMS), "plaintext"]
EXAMPLES, MIN_STEPS = 80, 25  # at least 2,000 didChange notifications, each of 1 to 3 edits


class _Discard:
    def write(self, data: bytes) -> None:
        pass


@functools.cache
def server():
    """One server for all examples: each example opens its own document. No `initialized`: no model is loaded."""
    server = create_server({"model": "tiny"})
    server.protocol.set_writer(_Discard())
    send(server, 1, "initialize", {"capabilities": {}})
    return server


def send(server, id: int | None, method: str, params: dict) -> None:
    """A message as it comes off the wire, through pygls' structuring and dispatch."""
    message = {"jsonrpc": "2.0", "method": method, "params": params, **({} if id is None else {"id": id})}
    server.protocol.handle_message(server.protocol.structure_message(message))


def lsp_range(text: str, start: int, end: int) -> dict:
    return {
        edge: {"line": position.line, "character": position.character}
        for edge, position in (("start", utf16_position(text, start)), ("end", utf16_position(text, end)))
    }


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(language=st.sampled_from(LANGUAGES), data=st.data())
def test_incremental_sync_matches_the_edited_text_and_a_fresh_parse(language, data):
    expected = PROGRAMS.get(language, "notes 😀\fpage two\u2028same line\r\nnext\rlast\n")
    uri = f"file:///fuzz/t.{language}"
    send(
        server(),
        None,
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": expected}},
    )
    for version in range(2, 2 + data.draw(st.integers(MIN_STEPS, MIN_STEPS + 10), label="steps")):
        changes = []
        for _ in range(data.draw(st.integers(1, 3), label="edits")):  # applied in order, each to the result so far
            start = outside_crlf(expected, data.draw(st.integers(0, len(expected)), label="start"))
            end = outside_crlf(expected, min(len(expected), start + data.draw(st.integers(0, 6), label="length")))
            new = "".join(data.draw(st.lists(st.sampled_from(PIECES), max_size=3), label="new"))
            changes.append({"range": lsp_range(expected, start, end), "text": new})
            expected = expected[:start] + new + expected[end:]
        send(
            server(),
            None,
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes},
        )
        document = server().session.documents.get(uri)
        assert document.text == expected
        assert document.source == expected.encode()
        if document.tree is not None:
            assert str(document.tree.root_node) == str(parse(expected, language).root_node)
    assert document.version == version
