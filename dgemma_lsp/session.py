"""What the server knows between requests: settings, open documents, the model, in-flight fills.

It speaks lsprotocol types (positions, ranges, edits) but does not import pygls, so every request path runs in a
plain test. LSP positions become string offsets only through each document's position codec.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from typing import TYPE_CHECKING

from lsprotocol import types

from . import spans, syntax
from .documents import Document, DocumentStore
from .errors import CancelledError, ModelLoadError, ModelNotReadyError
from .holes import FillKind, Hole
from .settings import Settings, parse_settings

if TYPE_CHECKING:  # torch and transformers take seconds to import; `initialize` is answered before they load
    from .pipeline import Filler

log = logging.getLogger(__name__)

FILL_FUNCTION = "dgemma.fillFunction"
FILL_SELECTION = "dgemma.fillSelection"


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


class Session:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.documents = DocumentStore()
        self.filler: Filler | None = None
        self.load_error: str | None = None
        self.loading = False
        # One model thread: fills are serialised anyway, and a single worker keeps a burst of requests from
        # piling threads onto a 2-core laptop.
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgemma-model")
        self._inline_cancel: threading.Event | None = None
        self._ids = itertools.count(1)

    # --- settings and model -------------------------------------------------------------------------------------

    def configure(self, raw) -> bool:
        """Apply editor settings; True when the model must be reloaded."""
        new = parse_settings(raw, self.settings)
        reload = (new.model, new.allow_download, new.prompt_format, new.device, new.dtype) != (
            self.settings.model,
            self.settings.allow_download,
            self.settings.prompt_format,
            self.settings.device,
            self.settings.dtype,
        )
        self.settings = new
        if self.filler is not None:
            self.filler.settings = new
        return reload

    def load_model(self) -> None:
        """Blocking: load the configured model. On failure keep running; fills return nothing."""
        self.loading = True
        try:
            import torch

            from . import loading
            from .pipeline import Filler

            if self.settings.threads:
                torch.set_num_threads(self.settings.threads)
            self.filler = Filler(loading.load(self.settings), self.settings)
            self.load_error = None
        except ModelLoadError as error:
            self.filler, self.load_error = None, str(error)
            log.error("model load failed: %s", error)
        finally:
            self.loading = False

    def require_filler(self) -> Filler:
        if self.filler is None:
            raise ModelNotReadyError(self.load_error or "the model is still loading")
        return self.filler

    # --- planning holes (event loop; cheap) ---------------------------------------------------------------------

    def plan_inline(self, uri: str, position: types.Position) -> PlannedFill | None:
        document = self._fillable(uri)
        offset = document.offset_at(position)
        hole = spans.choose_hole(document.text, document.tree, _language(document), offset)
        return None if hole.kind is FillKind.NONE else PlannedFill.of(document, hole)

    def plan_function(self, uri: str, position: types.Position) -> PlannedFill | None:
        document = self._fillable(uri)
        if document.tree is None:
            return None
        site = syntax.function_at(document.tree, _language(document), document.byte_offset(document.offset_at(position)))
        if site is None:
            return None
        hole = spans.hole_for_function(document.text, document.tree, _language(document), site)
        return PlannedFill.of(document, hole)

    def plan_selection(self, uri: str, selection: types.Range) -> PlannedFill | None:
        document = self._fillable(uri)
        start, end = document.offset_at(selection.start), document.offset_at(selection.end)
        if start == end:
            return None
        hole = spans.hole_for_selection(document.text, document.tree, _language(document), start, end)
        return PlannedFill.of(document, hole)

    def stub_at(self, uri: str, selection: types.Range):
        """The stub function under the cursor or selection start, if any (for offering "Fill this function")."""
        document = self.documents.get(uri)
        if document.tree is None:
            return None
        offset = document.byte_offset(document.offset_at(selection.start))
        site = syntax.function_at(document.tree, _language(document), offset)
        return site if site is not None and site.is_stub else None

    def _fillable(self, uri: str) -> Document:
        document = self.documents.get(uri)
        document.check_fillable(self.settings.limits.max_file_bytes)
        return document

    # --- running fills (model thread) ---------------------------------------------------------------------------

    async def run(self, plan: PlannedFill, *, candidates: int | None = None, supersede: bool = False):
        """Fill `plan` on the model thread; cancelling the awaiting task stops the loop between two steps.

        With `supersede`, a newer call cancels this one: editors fire an inline request per keystroke, and only
        the latest matters.
        """
        filler = self.require_filler()
        cancel = threading.Event()
        if supersede:
            if self._inline_cancel is not None:
                self._inline_cancel.set()
            self._inline_cancel = cancel
        request_id = f"r{next(self._ids)}"
        language = _language(plan.document)
        job: Callable = lambda: filler.fill(  # noqa: E731
            plan.text, plan.hole, language, candidates=candidates, is_cancelled=cancel.is_set, request_id=request_id
        )
        future = asyncio.get_running_loop().run_in_executor(self.executor, job)
        try:
            return await future
        except asyncio.CancelledError:
            cancel.set()
            raise
        except CancelledError:
            log.info("fill %s cancelled", request_id)
            return None

    # --- results as LSP types -----------------------------------------------------------------------------------

    @staticmethod
    def workspace_edit(plan: PlannedFill, new_text: str) -> types.WorkspaceEdit:
        edit = types.TextEdit(range=plan.range, new_text=new_text)
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=plan.document.uri, version=plan.version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=identifier, edits=[edit])])

    def shutdown(self) -> None:
        if self._inline_cancel is not None:
            self._inline_cancel.set()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _language(document: Document) -> str | None:
    return document.language.name if document.language else None
