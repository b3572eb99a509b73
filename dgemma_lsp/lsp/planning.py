"""Where a request fills, decided on the event loop before any model time is spent: the hole at a cursor, the
body of the function under it, a selection. Each plan keeps the text snapshot and the LSP range it was made for, so
an answer is checked against the document's version before it is sent."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

from dgemma_lsp.fill import holes
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.text import syntax
from dgemma_lsp.text.documents import Document


@dataclass(frozen=True)
class PlannedFill:
    """A hole chosen on the event loop, with the text snapshot it was chosen in, ready for the model thread."""

    document: Document
    text: str
    hole: Hole
    range: types.Range  # the hole as an LSP range in `text` (computed while `text` was current)
    version: int | None

    @classmethod
    def of(cls, document: Document, hole: Hole) -> PlannedFill:
        edit_range = types.Range(document.position_at(hole.start), document.position_at(hole.end))
        return cls(document, document.text, hole, edit_range, document.version)


def plan_inline(document: Document, position: types.Position) -> PlannedFill | None:
    offset = document.offset_at(position)
    hole = holes.choose_hole(document.text, document.tree, language_of(document), offset)
    return None if hole.kind is FillKind.NONE else PlannedFill.of(document, hole)


def plan_function(document: Document, position: types.Position) -> PlannedFill | None:
    site = function_at(document, position)
    if site is None:
        return None
    return PlannedFill.of(document, holes.hole_for_function(document.text, document.tree, language_of(document), site))


def plan_selection(document: Document, selection: types.Range) -> PlannedFill | None:
    start, end = document.offset_at(selection.start), document.offset_at(selection.end)
    if start == end:
        return None
    return PlannedFill.of(
        document, holes.hole_for_selection(document.text, document.tree, language_of(document), start, end)
    )


def stub_at(document: Document, position: types.Position) -> syntax.FunctionSite | None:
    """The stub function at `position`, anywhere on it, the indentation of its signature line included."""
    site = function_at(document, position)
    return site if site is not None and site.is_stub else None


def workspace_edit(plan: PlannedFill, new_text: str) -> types.WorkspaceEdit:
    """The fill as an edit of the document version it was planned for (a client refuses it for another version)."""
    edit = types.TextEdit(range=plan.range, new_text=new_text)
    identifier = types.OptionalVersionedTextDocumentIdentifier(uri=plan.document.uri, version=plan.version)
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=identifier, edits=[edit])])


def function_at(document: Document, position: types.Position) -> syntax.FunctionSite | None:
    """The innermost function at `position`; in a line's indentation, at the code the line holds."""
    if document.tree is None or document.language is None:  # a tree implies a language
        return None
    offset = holes.past_indentation(document.text, document.offset_at(position))
    return syntax.function_at(document.tree, document.language.name, document.byte_offset(offset))


def language_of(document: Document) -> str | None:
    return document.language.name if document.language else None
