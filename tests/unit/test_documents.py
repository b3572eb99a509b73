"""Documents: UTF-16 positions, byte offsets, incremental edits that keep the tree equal to a fresh parse."""

from __future__ import annotations

import random
import re

import attrs
import pytest
from lsprotocol.types import (
    Position,
    Range,
    TextDocumentContentChangePartial,
    TextDocumentContentChangeWholeDocument,
)

from dgemma_lsp.errors import InvalidPositionError, UnknownDocumentError, UnsupportedDocumentError
from dgemma_lsp.text import syntax
from dgemma_lsp.text.documents import Document, DocumentStore
from dgemma_lsp.text.syntax import function_sites, language_named, parse

TEXT = 'a😀b = "𝔘"\nx𝔘y😀 = 1\n\nz = "é"\n'


def utf16_position(text: str, index: int) -> Position:
    """A reference converter, independent of the codec: lines end at \\r\\n, \\r or \\n."""
    ends = [m.end() for m in re.finditer(r"\r\n|\r|\n", text) if m.end() <= index]
    start = ends[-1] if ends else 0
    return Position(line=len(ends), character=len(text[start:index].encode("utf-16-le")) // 2)


def partial(text: str, start: int, end: int, new: str) -> TextDocumentContentChangePartial:
    return TextDocumentContentChangePartial(
        range=Range(start=utf16_position(text, start), end=utf16_position(text, end)), text=new
    )


def python_document(text: str = TEXT) -> Document:
    return Document("file:///t.py", text, 1, language_named("python"))


@pytest.mark.parametrize(
    ("index", "line", "character"),
    [
        (0, 0, 0),
        (1, 0, 1),  # before 😀
        (2, 0, 3),  # after 😀: two UTF-16 units
        (3, 0, 4),
        (7, 0, 8),  # before 𝔘
        (8, 0, 10),  # after 𝔘
        (9, 0, 11),  # at the line end
        (10, 1, 0),
        (12, 1, 3),  # after 𝔘
        (14, 1, 6),  # after 😀
        (19, 2, 0),  # the empty line
        (len(TEXT), 4, 0),  # the end, after the last newline
    ],
)
def test_positions_count_utf16_units(index, line, character):
    document = python_document()
    assert document.position_at(index) == Position(line=line, character=character)
    assert document.offset_at(Position(line=line, character=character)) == index


def test_every_index_round_trips():
    document = python_document()
    for index in range(len(TEXT) + 1):
        position = document.position_at(index)
        assert position == utf16_position(TEXT, index)
        assert document.offset_at(position) == index
        byte = document.byte_offset(index)
        assert byte == len(TEXT[:index].encode())
        assert document.str_index(byte) == index


@pytest.mark.parametrize(
    ("line", "character", "expected"),
    [
        (0, 99, TEXT.index("\n")),  # past the line's end: the line's end
        (3, 99, len(TEXT) - 1),
        (4, 99, len(TEXT)),  # the empty last line
        (0, 2, 2),  # inside the surrogate pair of 😀: after it
    ],
)
def test_characters_past_the_line_end_clamp(line, character, expected):
    assert python_document().offset_at(Position(line=line, character=character)) == expected


def test_line_ends_follow_lsp():
    text = "a\r\nb😀\rc\u2028d\n"  # \r\n and \r end lines; U+2028 does not, for LSP
    document = Document("file:///t.txt", text)
    assert document.offset_at(Position(line=1, character=3)) == text.index("\r", 3)
    assert document.offset_at(Position(line=2, character=2)) == text.index("d")
    assert document.position_at(text.index("d")) == Position(line=2, character=2)
    assert document.offset_at(Position(line=3, character=0)) == len(text)


def out_of_range_positions():
    with attrs.validators.disabled():  # lsprotocol refuses to build negative positions
        negative = [Position(line=-1, character=0), Position(line=0, character=-1)]
    return [Position(line=5, character=0), Position(line=40, character=2), *negative]


@pytest.mark.parametrize("position", out_of_range_positions())
def test_out_of_range_positions_raise(position):
    with pytest.raises(InvalidPositionError):
        python_document().offset_at(position)


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("position_at", -1),
        ("position_at", len(TEXT) + 1),
        ("byte_offset", len(TEXT) + 1),
        ("str_index", -1),
        ("str_index", len(TEXT.encode()) + 1),
        ("str_index", 2),
    ],  # byte 2 is inside 😀
)
def test_out_of_range_offsets_raise(method, value):
    with pytest.raises(InvalidPositionError):
        getattr(python_document(), method)(value)


def test_a_range_that_ends_before_it_starts_raises():
    document = python_document()
    change = TextDocumentContentChangePartial(
        range=Range(start=Position(line=1, character=0), end=Position(line=0, character=0)), text=""
    )
    with pytest.raises(InvalidPositionError):
        document.apply([change])
    assert document.text == TEXT


PROGRAMS = {
    "python": (
        'import os\n\n\nclass A:\n    """Doc 😀."""\n\n    def m(self, x):\n        return x + 1\n\n\n'
        'def f(a, b=2):\n    if a:\n        return [a, b]\n    s = "𝔘é"\n    return s\n'
    ),
    "rust": (
        "use std::fmt;\n\nstruct S { a: i32 }\n\nimpl S {\n    fn m(&self) -> i32 {\n        self.a + 1\n    }\n}\n\n"
        'fn main() {\n    let s = "𝔘é😀";\n    if s.len() > 2 { println!("{}", s); }\n}\n'
    ),
    "go": (
        'package main\n\nfunc f(a int) int {\n\tif a > 0 {\n\t\treturn a\n\t}\n\ts := "𝔘é"\n\t_ = s\n\treturn 0\n}\n'
    ),
    "javascript": (
        'function f(a) {\n  const s = "😀é";\n  return [a, s].map((x) => x + 1);\n}\n\nclass A { m() { return 1; } }\n'
    ),
}
# Code tokens, line ends of all three kinds, and characters of 2, 3 and 4 UTF-8 bytes (😀 and 𝔘 are 2 UTF-16 units).
PIECES = [
    *["x", "y1", "_", " ", "  ", "\t", "(", ")", "{", "}", "[", "]", ":", ";", ",", "=", "+", '"', "'"],
    *["\n", "\n    ", "\r\n", "\r", "é", "😀", "𝔘", "中文", "def ", "fn ", "return ", "if ", "# c\n", "// c\n"],
]


def outside_crlf(text: str, index: int) -> int:
    """LSP has no position between the \\r and \\n of one line end."""
    return index + 1 if text[index - 1 : index + 1] == "\r\n" else index


@pytest.mark.parametrize("language", sorted(PROGRAMS))
def test_random_incremental_edits_match_a_fresh_parse(language):
    rng = random.Random(f"dgemma-{language}")
    expected = PROGRAMS[language]
    document = Document(f"file:///t.{language}", expected, 1, language_named(language))
    for step in range(300):
        changes = []
        for _ in range(rng.choice([1, 1, 1, 2, 3])):  # several changes in one didChange, applied in order
            start = outside_crlf(expected, rng.randint(0, len(expected)))
            end = outside_crlf(expected, min(len(expected), start + rng.choice([0, 0, 1, 2, 5])))
            new = "".join(rng.choice(PIECES) for _ in range(rng.choice([0, 1, 1, 2, 3])))
            changes.append(partial(expected, start, end, new))
            expected = expected[:start] + new + expected[end:]
        document.apply(changes, step + 2)
        assert document.text == expected
        assert document.source == expected.encode()
        assert str(document.tree.root_node) == str(parse(expected, language).root_node), step
        for index in rng.sample(range(len(expected) + 1), 5):
            assert document.position_at(index) == utf16_position(expected, index)
            assert document.byte_offset(index) == len(expected[:index].encode())
    assert document.version == 301
    assert document.position_at(len(expected)) == utf16_position(expected, len(expected))


def test_edits_keep_tree_points_right_across_crlf():
    text = "def f():\r\n    return 1\r\n"
    document = python_document(text)
    document.apply([partial_crlf(document, 1, 11, 1, 12, "😀 + 2")])
    assert document.text == "def f():\r\n    return 😀 + 2\r\n"
    fresh = parse(document.text, "python")
    assert str(document.tree.root_node) == str(fresh.root_node)
    assert document.tree.root_node.children[0].end_point == fresh.root_node.children[0].end_point


def partial_crlf(document, line, character, end_line, end_character, new):
    start, end = Position(line=line, character=character), Position(line=end_line, character=end_character)
    return TextDocumentContentChangePartial(range=Range(start=start, end=end), text=new)


def test_full_document_sync_replaces_text_and_tree():
    document = python_document()
    document.apply([TextDocumentContentChangeWholeDocument(text="def g():\n    pass\n")], 7)
    assert document.text == "def g():\n    pass\n"
    assert document.version == 7
    assert str(document.tree.root_node) == str(parse(document.text, "python").root_node)
    # A range edit after a whole-document change in the same notification applies to the new text.
    document.apply(
        [
            TextDocumentContentChangeWholeDocument(text="x = 1\n"),
            partial("x = 1\n", 4, 5, "𝔘 + 2"),
        ]
    )
    assert document.text == "x = 𝔘 + 2\n"
    assert str(document.tree.root_node) == str(parse(document.text, "python").root_node)


def test_unknown_language_has_no_tree_but_offsets_work():
    document = DocumentStore().open("file:///notes.txt", "héllo 😀\nwörld\n")
    assert document.language is None and document.tree is None
    document.apply([partial(document.text, 7, 7, "𝔘")])
    assert document.text == "héllo 😀𝔘\nwörld\n"
    assert document.position_at(8) == Position(line=0, character=10)
    assert document.offset_at(Position(line=1, character=5)) == 14
    assert document.byte_offset(8) == len("héllo 😀𝔘".encode())


class CountingParser:
    """A parser that records each parse: True for an incremental one (given the edited tree), False for a fresh one."""

    def __init__(self, parser, calls: list[bool]) -> None:
        self.parser, self.calls = parser, calls

    def parse(self, source, *old):
        self.calls.append(bool(old))
        return self.parser.parse(source, *old)


@pytest.fixture
def parses(monkeypatch) -> list[bool]:
    """The parses of the documents opened in the test, in order."""
    calls: list[bool] = []
    new_parser = syntax.new_parser
    monkeypatch.setattr(syntax, "new_parser", lambda name: CountingParser(new_parser(name), calls))
    return calls


def test_a_buffer_over_the_limit_is_never_parsed_and_crossing_the_limit_works(parses):
    line = "x = 1\n"
    document = DocumentStore(max_bytes=20 * len(line)).open("file:///big.py", line * 30, 1)
    assert document.tree is None and parses == []  # no parse on open
    for step in range(5):  # typing over the limit: no parse
        document.apply([partial(document.text, 0, 0, "y")], step + 2)
    assert document.tree is None and parses == []
    cut = document.text.index(line * 15)
    document.apply([partial(document.text, cut, cut + 15 * len(line), "")])  # shrinks under: a fresh parse
    fresh = document.tree
    document.apply([partial(document.text, 0, 0, "z")])  # under the limit: incremental
    assert parses == [False, True] and fresh is not None
    assert str(document.tree.root_node) == str(parse(document.text, "python").root_node)
    parses.clear()
    document.apply([partial(document.text, 0, 0, line * 10)])  # grows over: the tree is dropped, no parse
    assert document.tree is None and parses == []


def test_a_new_limit_parses_or_drops_the_trees_of_open_documents(parses):
    store = DocumentStore(max_bytes=10)
    document = store.open("file:///m.py", "def f():\n    pass\n", 1)
    assert document.tree is None
    store.set_max_bytes(1_000)
    assert document.tree is not None and parses == [False]
    store.set_max_bytes(10)
    assert document.tree is None and parses == [False]


@pytest.mark.parametrize(
    ("text", "max_bytes"),
    [
        ("PK\x03\x04\x00\x00binary", 2_000_000),
        ("".join(chr(c % 32) for c in range(1, 400)), 2_000_000),  # mostly control characters, no NUL
        ("\ufffd\ufffd\x01" * 50, 2_000_000),  # what a bad decode of a binary file looks like
        (("x = 1  # " + "y" * 90 + "\n") * 100_000, 2_000_000),  # a 10 MB file with the default limit
        ("é" * 600, 1_000),  # the limit counts bytes, not characters
    ],
)
def test_binary_and_oversized_buffers_are_rejected(text, max_bytes):
    with pytest.raises(UnsupportedDocumentError):
        Document("file:///big.txt", text).check_fillable(max_bytes)


@pytest.mark.parametrize("text", ["def f():\n\tpass\n", "é" * 500, "log \x1b[31mred\x1b[0m\n", "\f\n", ""])
def test_ordinary_text_is_fillable(text):
    Document("file:///ok.txt", text).check_fillable(1_000)


def test_store_opens_changes_and_closes():
    store = DocumentStore()
    document = store.open("file:///a/b.rs", "fn main() {}\n", 1)
    assert store.get("file:///a/b.rs") is document and "file:///a/b.rs" in store
    assert document.language.name == "rust"
    assert store.open("file:///x.txt", "", 1, language_id="go").language.name == "go"
    store.change("file:///a/b.rs", [partial(document.text, 11, 11, " todo!() ")], 2)
    assert document.text == "fn main() { todo!() }\n" and document.version == 2
    (site,) = function_sites(document.tree, "rust")  # the re-parsed tree carries the edited source
    assert site.is_stub and site.name == "main"
    store.close("file:///a/b.rs")
    assert "file:///a/b.rs" not in store and len(store) == 1


@pytest.mark.parametrize("action", ["get", "change", "close"])
def test_unknown_documents_raise(action):
    store = DocumentStore()
    args = {"get": (), "change": ([], 2), "close": ()}[action]
    with pytest.raises(UnknownDocumentError):
        getattr(store, action)("file:///never-opened.py", *args)
