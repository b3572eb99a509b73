"""Where a headless run fills: holes found with the syntax queries, or named by the user.

- `stub`: a function whose body is only a stub (`pass`, `...`, `todo!()`, a lone TODO comment, ...), refilled
  as the "Fill this function" code action does;
- `todo`: a TODO/FIXME comment alone on its line inside a function that has other code: the comment is the hole;
- `at`: an explicit position (`--at FILE:LINE[:COL]`, 1-based, the column in characters). With a column it is an
  editor cursor (`holes.choose_hole`); without one it is the body of the function around the line, or, on a blank
  line or outside any function, a cursor at the line's end;
- `function`: the body of every function with a given name, stub or not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import tree_sitter

from dgemma_lsp.errors import InvalidPositionError
from dgemma_lsp.fill import holes
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.text import syntax

_MARKER = re.compile(r"\b(TODO|FIXME)\b")


@dataclass(frozen=True)
class Target:
    hole: Hole
    kind: str  # "stub", "todo", "at" or "function"
    name: str | None = None  # the enclosing function's name, for reports


@dataclass(frozen=True)
class Position:
    """`--at`'s LINE[:COL], 1-based; `column` None means the whole line."""

    line: int
    column: int | None = None


def find_targets(
    text: str,
    language: str,
    *,
    positions: Sequence[Position] = (),
    functions: Sequence[str] = (),
    defaults: bool = True,
    tree: tree_sitter.Tree | None = None,
) -> list[Target]:
    """The holes to fill in a file, in source order, none overlapping another (the earlier-found one wins).
    `defaults` adds the stubs and TODO markers. Raises InvalidPositionError for a position outside the text."""
    tree = tree or syntax.parse(text, language)
    source = text.encode("utf-8")
    found = [position_target(text, tree, language, p, source) for p in positions]
    found += [t for name in functions for t in function_targets(text, tree, language, name, source)]
    if defaults:
        stubs = stub_targets(text, tree, language, source)
        found += stubs + todo_targets(text, tree, language, source, stubs)
    kept: list[Target] = []
    for target in found:
        if target.hole.kind is FillKind.NONE:
            kept.append(target)  # reported as "nothing to fill here", never filled
            continue
        if not any(_overlaps(target.hole, other.hole) for other in kept if other.hole.kind is not FillKind.NONE):
            kept.append(target)
    return sorted(kept, key=lambda t: (t.hole.start, t.hole.end))


def stub_targets(text: str, tree, language: str, source: bytes) -> list[Target]:
    return [
        Target(holes.hole_for_function(text, tree, language, site), "stub", site.name)
        for site in syntax.function_sites(tree, language, source)
        if site.is_stub
    ]


def todo_targets(text: str, tree, language: str, source: bytes, stubs: list[Target]) -> list[Target]:
    """TODO/FIXME comments that stand alone on their line inside a function, outside any stub's hole."""
    cursor = tree_sitter.QueryCursor(syntax.query(language))
    found = []
    for node in cursor.captures(tree.root_node).get("comment.outer", []):
        comment = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
        if not _MARKER.search(comment) or not _alone_on_lines(source, node.start_byte, node.end_byte):
            continue
        site = syntax.function_at(tree, language, node.start_byte, source)
        if site is None or not site.body_start <= node.start_byte < site.body_end:
            continue
        start, end = _str_index(source, node.start_byte), _str_index(source, node.end_byte)
        hole = Hole(FillKind.BLOCK, start, end, syntax.line_indent(source, node.start_byte))
        if not any(_overlaps(hole, stub.hole) or stub.hole.start == start for stub in stubs):
            found.append(Target(hole, "todo", site.name))
    return found


def function_targets(text: str, tree, language: str, name: str, source: bytes) -> list[Target]:
    return [
        Target(holes.hole_for_function(text, tree, language, site), "function", site.name)
        for site in syntax.function_sites(tree, language, source)
        if site.name == name
    ]


def position_target(text: str, tree, language: str, position: Position, source: bytes) -> Target:
    line_start, line_end = _line_span(text, position.line)
    if position.column is not None:
        offset = line_start + position.column - 1
        if not line_start <= offset <= line_end:
            raise InvalidPositionError(f"column {position.column} is outside line {position.line}")
        return Target(holes.choose_hole(text, tree, language, offset), "at")
    line = text[line_start:line_end]
    if line.strip():
        first = line_start + len(line) - len(line.lstrip())
        site = syntax.function_at(tree, language, len(text[:first].encode("utf-8")), source)
        if site is not None:
            return Target(holes.hole_for_function(text, tree, language, site), "at", site.name)
    return Target(holes.choose_hole(text, tree, language, line_end), "at")


def line_column(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column (in characters) of a string index."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _line_span(text: str, line: int) -> tuple[int, int]:
    """[start, end) of a 1-based line, without its line end."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise InvalidPositionError(f"line {line} is outside a text of {len(lines)} lines")
    start = sum(len(lines[i]) + 1 for i in range(line - 1))
    return start, start + len(lines[line - 1].rstrip("\r"))


def _alone_on_lines(source: bytes, start: int, end: int) -> bool:
    before = source[source.rfind(b"\n", 0, start) + 1 : start]
    line_end = source.find(b"\n", end)
    after = source[end : len(source) if line_end < 0 else line_end]
    return not before.strip() and not after.strip()


def _overlaps(a: Hole, b: Hole) -> bool:
    return (a.start < b.end and b.start < a.end) or (a.start == a.end == b.start == b.end)


def _str_index(source: bytes, byte_offset: int) -> int:
    return len(source[:byte_offset].decode("utf-8"))
