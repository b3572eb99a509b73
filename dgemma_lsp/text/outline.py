"""What a file imports and defines outside a window of it: the lines a reader keeps in view when writing code at the
cursor and the window does not show them (the imports at the top of a long file, the class the cursor is in, the
functions defined below it). The prompt puts them before the window, under a token budget (`fill/context.py`).

Entries come from the language's `@outline.import` and `@outline.definition` captures (`queries/*.scm`): an import
whole; a definition as its signature, the header up to its body with the body elided (`def f(x): ...`), at its own
indentation, so the methods of a class read nested under it. Only definitions at the top level or directly in a
class are outlined: a closure matters only inside its function, and that is in the window or not near the cursor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter

from dgemma_lsp.text import syntax

ELIDED = " ..."  # what stands for a definition's body


@dataclass(frozen=True)
class OutlineEntry:
    start: int  # byte offset in the source: entries are shown in file order
    text: str  # the entry as it reads in the file, at its indentation
    distance: int  # bytes between the entry and the cursor: the nearest are kept first under a budget
    parent: int | None = None  # the start of the class it belongs to, which is shown with it


def outline(tree: tree_sitter.Tree, language: str, window: tuple[int, int], cursor: int) -> list[OutlineEntry]:
    """The entries outside the byte range `window` (the part of the file the prompt shows), in file order."""
    if syntax.language_named(language) is None:
        return []
    source = tree.root_node.text or b""
    found = syntax.captures_in(tree, language, "outline.")
    entries: dict[int, OutlineEntry] = {}
    for node in found.get("outline.import", ()):
        if node.start_byte in range(*window) or not _top_level(node):
            continue
        text = source[node.start_byte : node.end_byte].decode("utf-8", "replace")
        entries[node.start_byte] = OutlineEntry(node.start_byte, text, _distance(node, cursor))
    bodies = {node.parent.id: node for node in found.get("outline.body", ()) if node.parent is not None}
    for node in found.get("outline.definition", ()):
        body = bodies.get(node.id)
        owner = _owner(node)
        if body is None or node.start_byte in range(*window) or owner is False:
            continue
        header = source[node.start_byte : body.start_byte].decode("utf-8", "replace").rstrip()
        indent = syntax.line_indent(source, node.start_byte)
        text = indent + _one_line(header) + ELIDED
        parent = owner.start_byte if isinstance(owner, tree_sitter.Node) else None
        entries[node.start_byte] = OutlineEntry(node.start_byte, text, _distance(node, cursor), parent)
    return [entries[start] for start in sorted(entries)]


def import_texts(tree: tree_sitter.Tree, language: str) -> list[str]:
    """The module's own import statements, as written."""
    if syntax.language_named(language) is None:
        return []
    nodes = syntax.captures_in(tree, language, "outline.").get("outline.import", ())
    return [(node.text or b"").decode("utf-8", "replace") for node in nodes if _top_level(node)]


def render(entries: list[OutlineEntry], kept: set[int]) -> str:
    """The kept entries (by start) in file order, each class a kept method belongs to shown above it; "" for none.
    A class shown only for its methods loses its elided body: its methods are its body."""
    by_start = {entry.start: entry for entry in entries}
    shown = set(kept) | {by_start[s].parent for s in kept if s in by_start and by_start[s].parent in by_start}
    lines = []
    for entry in entries:
        if entry.start not in shown:
            continue
        has_members = any(e.parent == entry.start and e.start in shown for e in entries)
        lines.append(entry.text.removesuffix(ELIDED) if has_members else entry.text)
    return "\n".join(lines) + "\n" if lines else ""


def _one_line(header: str) -> str:
    """A header that spans lines (one parameter a line) on one line: `def f(a, b) -> int:`."""
    text = " ".join(header.split())
    return re.sub(r",?\s+([)\]])", r"\1", re.sub(r"([(\[])\s+", r"\1", text))


def _top_level(node: tree_sitter.Node) -> bool:
    """An import of the module itself, not one inside a function or class."""
    parent = node.parent
    return parent is None or parent.parent is None


def _owner(node: tree_sitter.Node) -> tree_sitter.Node | bool:
    """True for a top-level definition, the class node for one directly in a class body, False for any other."""
    parent = node.parent
    if parent is not None and parent.type == "decorated_definition":
        parent = parent.parent
    if parent is None or parent.parent is None:
        return True
    holder = parent.parent  # a block's owner
    if parent.type == "block" and holder.type == "class_definition" and _owner(holder) is True:
        return holder
    return False


def _distance(node: tree_sitter.Node, cursor: int) -> int:
    if node.end_byte <= cursor:
        return cursor - node.end_byte
    return max(0, node.start_byte - cursor)
