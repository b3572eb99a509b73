"""Open documents: their text, its UTF-8 bytes, and a tree-sitter tree kept up to date edit by edit.

A buffer over `limits.maxFileBytes` gets no tree and no parse at all: it is never filled, and parsing one of 5 MB
cost seconds and gigabytes on every keystroke.

Three units of position meet here. LSP positions count UTF-16 code units; they become string indices (code points,
the unit of `holes.Hole`) only through pygls's position codec. tree-sitter counts bytes of the UTF-8 source, and
its points are (row, byte column) with rows split at LF alone.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence

import tree_sitter
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from dgemma_lsp.errors import InvalidPositionError, UnknownDocumentError, UnsupportedDocumentError
from dgemma_lsp.text import syntax
from dgemma_lsp.text.syntax import LanguageSpec

DEFAULT_MAX_BYTES = 2_000_000

_EOL = re.compile(r"\r\n|\r|\n")  # the line ends LSP counts; str.splitlines also splits at \f, \x1c, \u2028, ...
_EOL_BYTES = re.compile(rb"\r\n|\r|\n")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")  # ESC (\x1b) is common in logs; U+FFFD in bad decodes
_BINARY_SAMPLE = 8192  # characters looked at, as git looks at the first 8000 bytes
_BINARY_RATIO = 0.1


class _Lines(Sequence[str]):
    """The document's lines, line ends included, sliced on demand: the codec reads one line and the count."""

    def __init__(self, text: str, starts: list[int]):
        self._text, self._starts = text, starts

    def __len__(self) -> int:
        return len(self._starts)

    def __getitem__(self, row):  # the codec indexes with ints only
        end = self._starts[row + 1] if row + 1 < len(self._starts) else len(self._text)
        return self._text[self._starts[row] : end]


# Languages whose incrementally re-parsed tree is checked by a fresh parse when it holds an error. The sync fuzz
# test (tests/unit/test_sync_fuzz.py) found tree-sitter-rust 0.24.2 giving an all-ERROR tree for an edit where a
# fresh parse of the same text has one error, only after other tests had run in the process (the external scanner's
# state, by the look of it; not reproduced alone). A fresh parse of a broken buffer costs a few ms a keystroke.
_REPARSED_WHEN_BROKEN = frozenset({"rust"})


class Document:
    """One open document. The tree is None for a language we do not parse, and for a buffer over `max_bytes`;
    offsets work the same."""

    def __init__(
        self,
        uri: str,
        text: str,
        version: int = 0,
        language: LanguageSpec | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        self.uri = uri
        self.version = version
        self.language = language
        self.max_bytes = max_bytes
        self.codec = PositionCodec(encoding=types.PositionEncodingKind.Utf16)
        self._parser = syntax.new_parser(language.name) if language else None
        self._set(text, text.encode("utf-8"))
        self.tree: tree_sitter.Tree | None = None
        self._parse()

    @property
    def language_name(self) -> str | None:
        return self.language.name if self.language else None

    def _parse(self) -> None:
        """Bring the tree up to date with the text: from the edited tree when there is one (incremental), afresh
        when not; no tree over `max_bytes`, so a buffer that grows over the limit drops it and one that shrinks
        under it is parsed anew."""
        if self._parser is None or len(self.source) > self.max_bytes:
            self.tree = None
            return
        old = () if self.tree is None else (self.tree,)
        self.tree = self._parser.parse(self.source, *old)
        if old and self.tree.root_node.has_error and self.language and self.language.name in _REPARSED_WHEN_BROKEN:
            self.tree = self._parser.parse(self.source)

    def set_max_bytes(self, max_bytes: int) -> None:
        """A new `limits.maxFileBytes`: parse or drop the tree when the buffer crosses it."""
        if max_bytes != self.max_bytes:
            self.max_bytes = max_bytes
            if self.tree is None or len(self.source) > max_bytes:
                self._parse()

    def _set(self, text: str, source: bytes) -> None:
        self.text, self.source = text, source
        self._starts = [0, *(m.end() for m in _EOL.finditer(text))]
        self._byte_starts = [0, *(m.end() for m in _EOL_BYTES.finditer(source))]
        self._lines = _Lines(text, self._starts)

    def _splice(self, start: int, end: int, new: str, start_byte: int, end_byte: int, inserted: bytes) -> None:
        """Replace text[start:end] by `new`. Only the edited lines' starts are searched again; those below shift.

        The search starts a line early (a CR ending it may join an LF inserted at the edit) and runs through the
        line end of the last edited line.
        """
        first = max(bisect.bisect_right(self._starts, start) - 1 - 1, 0)
        after = bisect.bisect_right(self._starts, end)  # the first line wholly below the edit
        stop = self._starts[after] if after < len(self._starts) else len(self.text)
        stop_byte = self._byte_starts[after] if after < len(self._starts) else len(self.source)
        shift, shift_bytes = len(new) - (end - start), len(inserted) - (end_byte - start_byte)
        self.text = self.text[:start] + new + self.text[end:]
        self.source = self.source[:start_byte] + inserted + self.source[end_byte:]
        self._starts[first + 1 :] = [
            *(m.end() for m in _EOL.finditer(self.text, self._starts[first], stop + shift)),
            *(line + shift for line in self._starts[after + 1 :]),
        ]
        self._byte_starts[first + 1 :] = [
            *(m.end() for m in _EOL_BYTES.finditer(self.source, self._byte_starts[first], stop_byte + shift_bytes)),
            *(line + shift_bytes for line in self._byte_starts[after + 1 :]),
        ]
        self._lines = _Lines(self.text, self._starts)

    # ---- positions and offsets ------------------------------------------------------------------------------------

    def offset_at(self, position: types.Position) -> int:
        """The string index of an LSP position (UTF-16 units). A character past the line's end means the line's end,
        as LSP says; a line past the last one, or a negative number, raises InvalidPositionError."""
        row, character = position.line, position.character
        if row < 0 or character < 0 or row >= len(self._starts):
            raise InvalidPositionError(f"position {row}:{character} is outside {self.uri} ({len(self._starts)} lines)")
        content = _EOL.sub("", self._lines[row])
        # Clamp here: the codec clamps a too-long character to one unit short of a line without a line end.
        character = min(character, self.codec.client_num_units(content))
        server = self.codec.position_from_client_units(self._lines, types.Position(line=row, character=character))
        return self._starts[row] + server.character

    def position_at(self, offset: int) -> types.Position:
        """The LSP position (UTF-16 units) of a string index."""
        row = self._row(offset, len(self.text))
        return self.codec.position_to_client_units(self._lines, ServerTextPosition(row, offset - self._starts[row]))

    def byte_offset(self, index: int) -> int:
        """The UTF-8 byte offset of a string index."""
        row = self._row(index, len(self.text))
        return self._byte_starts[row] + len(self.text[self._starts[row] : index].encode("utf-8"))

    def str_index(self, byte_offset: int) -> int:
        """The string index of a UTF-8 byte offset; one inside a multi-byte character raises InvalidPositionError."""
        if not 0 <= byte_offset <= len(self.source):
            raise InvalidPositionError(f"byte {byte_offset} is outside {self.uri} ({len(self.source)} bytes)")
        row = bisect.bisect_right(self._byte_starts, byte_offset) - 1
        try:
            return self._starts[row] + len(self.source[self._byte_starts[row] : byte_offset].decode("utf-8"))
        except UnicodeDecodeError as error:
            raise InvalidPositionError(f"byte {byte_offset} splits a character in {self.uri}") from error

    def _row(self, index: int, limit: int) -> int:
        if not 0 <= index <= limit:
            raise InvalidPositionError(f"offset {index} is outside {self.uri} (length {limit})")
        return bisect.bisect_right(self._starts, index) - 1

    def _point(self, byte_offset: int) -> tuple[int, int]:
        """tree-sitter's (row, byte column): its rows end at LF only, unlike LSP lines."""
        row = self.source.count(b"\n", 0, byte_offset)
        return row, byte_offset - (self.source.rfind(b"\n", 0, byte_offset) + 1)

    # ---- edits ----------------------------------------------------------------------------------------------------

    def apply(self, changes: Iterable[types.TextDocumentContentChangeEvent], version: int | None = None) -> None:
        """Apply one `didChange` worth of changes in order, then re-parse once, reusing the edited tree."""
        try:
            for change in changes:
                self._apply(change)
        finally:
            self._parse()  # even after a bad change, so that the tree matches the text that was applied
        if version is not None:
            self.version = version

    def _apply(self, change: types.TextDocumentContentChangeEvent) -> None:
        if not isinstance(change, types.TextDocumentContentChangePartial):
            self._set(change.text, change.text.encode("utf-8"))
            self.tree = None  # nothing of the old tree can be reused
            return
        start, end = self.offset_at(change.range.start), self.offset_at(change.range.end)
        if end < start:
            raise InvalidPositionError(f"range {change.range} ends before it starts")
        start_byte, old_end_byte = self.byte_offset(start), self.byte_offset(end)
        if self.tree is not None:  # tree-sitter's points: a count of the lines above, which a large buffer skips
            start_point, old_end_point = self._point(start_byte), self._point(old_end_byte)
        inserted = change.text.encode("utf-8")
        self._splice(start, end, change.text, start_byte, old_end_byte, inserted)
        if self.tree is not None:
            new_end_byte = start_byte + len(inserted)
            new_end_point = self._point(new_end_byte)
            self.tree.edit(start_byte, old_end_byte, new_end_byte, start_point, old_end_point, new_end_point)

    def check_fillable(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        """Raise UnsupportedDocumentError for a buffer too large to fill, or one that looks binary."""
        if len(self.source) > max_bytes:
            raise UnsupportedDocumentError(f"{self.uri} has {len(self.source)} bytes, over the limit of {max_bytes}")
        sample = self.text[:_BINARY_SAMPLE]
        if "\x00" in self.text or len(_CONTROL.findall(sample)) > _BINARY_RATIO * len(sample):
            raise UnsupportedDocumentError(f"{self.uri} looks binary")


class DocumentStore:
    """The documents the editor has opened, by URI."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._documents: dict[str, Document] = {}
        self.max_bytes = max_bytes  # `limits.maxFileBytes`: larger buffers are not parsed

    def open(self, uri: str, text: str, version: int = 0, language_id: str | None = None) -> Document:
        document = Document(uri, text, version, syntax.language_for(uri, language_id), self.max_bytes)
        self._documents[uri] = document
        return document

    def set_max_bytes(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        for document in self._documents.values():
            document.set_max_bytes(max_bytes)

    def change(
        self, uri: str, changes: Iterable[types.TextDocumentContentChangeEvent], version: int | None = None
    ) -> Document:
        document = self.get(uri)
        document.apply(changes, version)
        return document

    def close(self, uri: str) -> None:
        self.get(uri)
        del self._documents[uri]

    def clear(self) -> None:
        self._documents.clear()

    def get(self, uri: str) -> Document:
        try:
            return self._documents[uri]
        except KeyError:
            raise UnknownDocumentError(f"{uri} is not open") from None

    def __contains__(self, uri: object) -> bool:
        return uri in self._documents

    def open_documents(self) -> list[Document]:
        return list(self._documents.values())

    def __len__(self) -> int:
        return len(self._documents)
