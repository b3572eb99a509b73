"""Where to fill: the kind of hole and the span it replaces, chosen from the syntax before any model time is
spent (as llm-ls does).

Offsets are Python string indices (code points) into the document text; LSP positions are converted to and from
them only in `text/documents.py`, through the UTF-16 position codec; tree-sitter's byte offsets are converted here.

At a cursor (`choose_hole`), the rules, in order:
1. the cursor sits in the middle of a word -> NONE;
2. the rest of the line holds more than closers (`)`, `]`, `}`, quotes, `:`, `;`, `,`) -> NONE: we fill only at a
   line end or before closers;
3. the cursor is inside a string or comment that goes on after it on the same line -> NONE;
4. the cursor is on a blank line inside a body or block, or right after the `:` / `{` that opens one: the block's
   indentation, and LINE where the block holds a statement already (below the cursor, at its indentation or
   deeper, not a closer or an `else`; or above it, not a comment or docstring): between statements, and at the end
   of a block, a user adds one line; BLOCK where the block is still empty (right under its opener);
5. otherwise -> LINE, with the current line's indentation.
At column 0 of a blank line right under Python code, the indentation is the one an editor's auto-indent gives
(`_auto_indent`); `untyped_indentation` lets the pipeline fill such a cursor as the indented one.
Without a tree (a language we do not parse) only the text rules apply: a blank line gives BLOCK.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NamedTuple

import tree_sitter

from dgemma_lsp.errors import InvalidPositionError
from dgemma_lsp.text import syntax
from dgemma_lsp.text.syntax import FunctionSite, is_word_char

_CLOSERS = frozenset(")]}\"'`;:,")
_EOL = re.compile(r"\r\n|\r|\n")
_LEADING = re.compile(r"[ \t]*")
_INDENTED_BLOCKS = frozenset({"python"})  # languages whose blocks are made by indentation alone
_BLOCK_ENDERS = frozenset({"return_statement", "raise_statement", "continue_statement", "break_statement",
                           "pass_statement"})  # fmt: skip
_CONTINUATION = re.compile(r"(else|elif|except|finally|catch)\b")  # lines that go on a statement above
_NEXT_NONBLANK = re.compile(r"(?:\r\n|\r|\n)(?:[ \t]*(?:\r\n|\r|\n))*([ \t]*)(?=[^ \t\r\n])")


class FillKind(enum.Enum):
    NONE = "none"  # nothing sensible to fill here (the syntax says so)
    LINE = "line"  # the rest of the current line
    BLOCK = "block"  # one or more whole lines: a block, a function body, a selection


@dataclass(frozen=True)
class Hole:
    """A span of the document to be replaced by generated text.

    `start == end` for a cursor; a code action on a stub replaces the stub statement(s), so `start < end`.
    `indent` is the indentation the filled lines must carry (the hole's own line indentation, or the body's).
    """

    kind: FillKind
    start: int
    end: int
    indent: str = ""

    @property
    def is_empty(self) -> bool:
        return self.kind is FillKind.NONE


class _Line(NamedTuple):
    """The cursor's line, split at the cursor; `before` and `after` exclude the line end."""

    start: int
    before: str
    after: str

    @property
    def blank(self) -> bool:
        return not (self.before + self.after).strip()

    @property
    def indent(self) -> str:
        return _leading(self.before + self.after, 0)


def choose_hole(document_text: str, tree: tree_sitter.Tree | None, language: str | None, offset: int) -> Hole:
    """The hole to fill for a cursor at string index `offset` (see the module docstring for the rules)."""
    text = document_text
    _check(text, offset, offset)
    line = _line_at(text, offset)
    none = Hole(FillKind.NONE, offset, offset)
    if is_word_char(text[offset - 1 : offset]) and is_word_char(text[offset : offset + 1]):
        return none
    if not all(ch in _CLOSERS or ch.isspace() for ch in line.after):
        return none
    if tree is None or language is None:
        if line.blank:
            return Hole(FillKind.BLOCK, offset, offset, line.indent or _previous_indent(text, line.start))
        return Hole(FillKind.LINE, offset, offset, line.indent)

    cursor = len(text[:offset].encode("utf-8"))
    literals = [
        node
        for name in ("string.outer", "comment.outer")
        for node in syntax.captures_at(tree, language, name, cursor)
        if node.start_byte < cursor < node.end_byte
    ]
    if literals:
        return none if line.after else Hole(FillKind.LINE, offset, offset, line.indent)

    anchor = len(text[:offset].rstrip())  # just after the last non-blank character before the cursor
    if anchor and (line.blank or anchor > line.start):
        anchor_byte = cursor - len(text[anchor:offset].encode("utf-8"))
        source = text.encode("utf-8") if line.blank else b""  # the blank-line readings below take bytes
        indent = None
        if line.blank and not line.before and language in _INDENTED_BLOCKS:
            indent = _auto_indent(text, source, tree, language, anchor, anchor_byte)
        if indent is None:
            indent = _opened_indent(text, tree, language, anchor, anchor_byte, line)
        if indent is None and line.blank:
            indent = _enclosing_indent(source, tree, language, cursor, anchor_byte, line)
        if indent is not None:
            in_use = _statement_follows(text, offset, indent) or _statement_precedes(text, line.start, indent)
            kind = FillKind.LINE if line.blank and in_use else FillKind.BLOCK
            return Hole(kind, offset, offset, indent)
    return Hole(FillKind.LINE, offset, offset, line.indent)


def hole_for_gap(text: str, tree: tree_sitter.Tree | None, language: str | None, offset: int) -> Hole:
    """The hole for a gap that a script names (`infill`'s prefix and suffix), never NONE: the chooser's NONE guards
    what a user is typing (a word, code after the cursor), but a script asks for this very gap. Where the chooser
    finds nothing, a gap at the start of a line whose code the suffix brings is whole lines (BLOCK: the fill ends
    with a line end), indented as a blank line there would be; any other gap is the rest of its line (LINE)."""
    hole = choose_hole(text, tree, language, offset)
    if hole.kind is not FillKind.NONE:
        return hole
    line = _line_at(text, offset)
    if line.before:
        return Hole(FillKind.LINE, offset, offset, line.indent)
    indent = line.indent  # without syntax: that of the line the fill goes before
    if tree is not None and language is not None:
        spaced = text[:offset] + "\n" + text[offset:]
        blank = choose_hole(spaced, syntax.parse(spaced, language), language, offset)
        indent = blank.indent if blank.kind is not FillKind.NONE else indent
    return Hole(FillKind.BLOCK, offset, offset, indent)


def hole_for_selection(text: str, tree: tree_sitter.Tree | None, language: str | None, start: int, end: int) -> Hole:
    """The hole for a selection [start, end): BLOCK when it spans lines or covers whole lines, else LINE.
    The indentation is that of the first selected line; an empty selection is a cursor."""
    _check(text, start, end)
    if start == end:
        return choose_hole(text, tree, language, start)
    first, last = _line_at(text, start), _line_at(text, end)
    whole = not first.before.strip() and not last.after.strip()
    kind = FillKind.BLOCK if whole or _EOL.search(text, start, end) else FillKind.LINE
    return Hole(kind, start, end, first.indent)


def hole_for_function(text: str, tree: tree_sitter.Tree | None, language: str | None, site: FunctionSite) -> Hole:
    """The BLOCK hole that refills a function's body: for Python the statement(s) after the docstring, from the
    start of the first one; for brace languages everything inside the braces. `tree` and `language` are not needed
    (the site carries what they would give) and are taken for the same signature as the other hole functions."""
    source = text.encode("utf-8")
    start, end = _str_index(source, site.body_start), _str_index(source, site.body_end)
    return Hole(FillKind.BLOCK, start, end, site.body_indent)


def untyped_indentation(text: str, hole: Hole) -> str:
    """The indentation a cursor at column 0 of an empty line has not typed: such a cursor inside an indented block
    stands for the indented cursor the editor would have made, and gets the same fill. "" for any other hole: an
    indentation the user has typed, deeper or not, is theirs (a dedent is typed, too)."""
    if hole.kind is FillKind.NONE or hole.start != hole.end or not hole.indent:
        return ""
    line = _line_at(text, hole.start)
    return "" if line.before or line.after else hole.indent


def past_indentation(text: str, offset: int) -> int:
    """Where the code of `offset`'s line starts, when `offset` lies in that line's indentation; else `offset` (on
    a blank line too). A cursor in the indentation stands for what the line holds, the way a user sees it."""
    line = _line_at(text, offset)
    if line.before.strip() or not line.after.strip():
        return offset
    return offset + len(line.after) - len(line.after.lstrip(" \t"))


# ---- helpers -----------------------------------------------------------------------------------------------------


def _check(text: str, start: int, end: int) -> None:
    if not 0 <= start <= end <= len(text):
        raise InvalidPositionError(f"[{start}, {end}) is outside a text of length {len(text)}")


def _line_at(text: str, offset: int) -> _Line:
    start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    end = _EOL.search(text, offset)
    return _Line(start, text[start:offset], text[offset : end.start() if end else len(text)])


def _leading(text: str, start: int) -> str:
    """The spaces and tabs from `start` on."""
    found = _LEADING.match(text, start)
    assert found is not None  # the pattern matches the empty string
    return found.group()


def _previous_indent(text: str, line_start: int) -> str:
    """The indentation of the nearest non-blank line above the line starting at `line_start`."""
    end = line_start
    while end > 0:
        end -= 2 if text[end - 2 : end] == "\r\n" else 1  # step back over the line end
        line = _line_at(text, end)
        if line.before.strip():
            return line.indent
        end = line.start
    return ""


def _next_indent(text: str, after: int) -> str | None:
    """The indentation of the first non-blank line below the line holding `after`, None when there is none."""
    found = _NEXT_NONBLANK.search(text, after)
    return found.group(1) if found else None


def _statement_follows(text: str, offset: int, indent: str) -> bool:
    """Whether the first line of code below the cursor's line starts a statement of the block the cursor is in: at
    `indent` or deeper, not a closing bracket, not a clause that goes on the statement above (`else`, `except`)."""
    found = _NEXT_NONBLANK.search(text, offset)
    if found is None or not found.group(1).startswith(indent):
        return False
    code = text[found.end() : found.end() + 16]
    return code[:1] not in ")]}" and not _CONTINUATION.match(code)


def _auto_indent(
    text: str, source: bytes, tree: tree_sitter.Tree, language: str, anchor: int, anchor_byte: int
) -> str | None:
    """For a cursor at column 0 of a blank line under code (blank lines between or not), where indentation makes
    the block (Python), the indentation an editor's auto-indent gives the line: one level below an opener above it
    (a comment after the `:` or not), that of a comment above it, one level out of the block that a `return`,
    `raise`, `continue`, `break` or `pass` above it ends, else that of the statement that ends above it. None where
    none of these reads (the caller's other readings decide). At column 0 the block the line belongs to is
    ambiguous; on the dev split's column-0 lines this reading gives the line's own indentation 381 times in 400
    (`eval real-code`, model card)."""
    above = text[_line_at(text, anchor).start : anchor]
    header = _leading(above, 0)
    code_end = _before_trailing_comment(source, tree, language, anchor_byte)
    if any(n.start_byte == code_end - 1 for n in syntax.captures_at(tree, language, "block.open", code_end)):
        below = _next_indent(text, anchor)
        step = len(below) - len(header) if below is not None and _deeper(below, header) else 0
        return below if 0 < step <= 4 else header + syntax.INDENT_UNITS.get(language, syntax.DEFAULT_INDENT_UNIT)
    if above.lstrip().startswith("#"):
        return header
    ending = [
        n for n in syntax.captures_at(tree, language, "statement.outer", anchor_byte) if n.end_byte == anchor_byte
    ]
    if not ending:
        return None
    if ending[0].type in _BLOCK_ENDERS:
        return _outer_indent(source, ending[0])
    return syntax.line_indent(source, ending[0].start_byte)


def _before_trailing_comment(source: bytes, tree: tree_sitter.Tree, language: str, anchor_byte: int) -> int:
    """Where the code of the line ending at `anchor_byte` ends: before a comment that follows code on that line."""
    for comment in syntax.captures_at(tree, language, "comment.outer", anchor_byte):
        if comment.end_byte == anchor_byte and not syntax.starts_line(source, comment.start_byte):
            return len(source[: comment.start_byte].rstrip())
    return anchor_byte


def _outer_indent(source: bytes, statement: tree_sitter.Node) -> str | None:
    """The indentation of the header of the block that holds `statement` (the line after a `return` dedents to it);
    None at the top level."""
    block = statement.parent
    if block is None or block.type != "block" or block.parent is None:
        return None
    return syntax.line_indent(source, block.parent.start_byte)


def _statement_precedes(text: str, line_start: int, indent: str) -> bool:
    """Whether the last line of code above the cursor's line lies in the block the cursor is in (at `indent` or
    deeper): the block holds statements already, and the cursor is not right under its opener."""
    above = text[:line_start].rstrip()
    if not above:
        return False
    line = above[max(above.rfind("\n"), above.rfind("\r")) + 1 :]
    code = line.strip()
    if code.startswith(("#", "//", "/*", "*")) or code.endswith(('"""', "'''")):
        return False  # a comment or a docstring: a body that holds only these is still to be written
    return _leading(line, 0).startswith(indent)


def _deeper(indent: str, than: str) -> bool:
    return indent.startswith(than) and len(indent) > len(than)


def _opened_indent(text, tree, language, anchor, anchor_byte, line) -> str | None:
    """When the last character before the cursor is a `:` or `{` that opens a block: the block's indentation, that is
    of the line below when it is already indented deeper, else of the opening line plus one unit."""
    opens = any(
        node.start_byte == anchor_byte - 1 for node in syntax.captures_at(tree, language, "block.open", anchor_byte)
    )
    if not opens:
        return None
    header = _leading(text, _line_at(text, anchor).start)
    below = _next_indent(text, anchor)
    if line.blank and _deeper(line.before, header):
        return line.before  # the editor has indented the new line already
    if below is not None and _deeper(below, header):
        return below
    return header + syntax.INDENT_UNITS.get(language, syntax.DEFAULT_INDENT_UNIT)


def _enclosing_indent(source, tree, language, cursor, anchor_byte, line) -> str | None:
    """For a blank line: the indentation of the innermost block around it, None outside any block.

    A braced block holds the cursor between its braces. A Python block ends at its last statement, so a blank line
    below it still belongs to it when it is indented at least as deep as the block's statements.
    """
    inside = []
    for node in syntax.captures_at(tree, language, "block.inner", anchor_byte):
        if not node.start_byte < cursor:
            continue
        first = node.named_children[0].start_byte if node.named_child_count else None
        if syntax.is_braced(node):
            if cursor < node.end_byte:
                inside.append((node, first))
        elif cursor < node.end_byte or (
            first is not None and len(syntax.line_indent(source, first)) <= len(line.before)
        ):
            inside.append((node, first))
    if not inside:
        return None
    node, first = max(inside, key=lambda pair: pair[0].start_byte)
    indent = syntax.body_indent(source, node.start_byte, first, language)
    header = syntax.line_indent(source, node.start_byte)
    if (first is None or not syntax.starts_line(source, first)) and _deeper(line.before, header):
        return line.before
    return indent


def _str_index(source: bytes, byte_offset: int) -> int:
    if not 0 <= byte_offset <= len(source):
        raise InvalidPositionError(f"byte {byte_offset} is outside a source of {len(source)} bytes")
    try:
        return len(source[:byte_offset].decode("utf-8"))
    except UnicodeDecodeError as error:
        raise InvalidPositionError(f"byte {byte_offset} splits a character") from error
