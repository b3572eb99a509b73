"""What the server knows between requests: settings, open documents, the model, in-flight fills.

It speaks lsprotocol types (positions, ranges, edits) but does not import pygls, so every request path runs in a
plain test. LSP positions become string offsets only through each document's position codec.

How each inline request ended, and where its time went, goes to `Session.report_timings` (the LSP layer sends it
as a `dgemma/timings` notification to a client that asked for it) and to the log, for people. The outcomes:
filled (the model answered; its stage times are split out), reused (the rest of a suggestion the user is typing
into), no hole (nothing to fill at the cursor), dropped (the document changed while the fill ran: its answer
would land in the wrong text), superseded (a newer request or an edit stopped the fill), cancelled (the client
cancelled the request) and failed (a model server's error). A request refused with an error (an unknown
document, an excluded file, the model still loading) reports nothing: its client sees the error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from lsprotocol import types

from dgemma_lsp.errors import (
    CancelledError,
    ModelLoadError,
    ModelNotReadyError,
    RemoteError,
    UnsupportedDocumentError,
)
from dgemma_lsp.fill import holes
from dgemma_lsp.fill.holes import FillKind
from dgemma_lsp.fill.loader import load_filler
from dgemma_lsp.fill.ranking import STAGES, FillOutcome
from dgemma_lsp.fill.related import Workspace
from dgemma_lsp.fill.remote import Outage, RemoteFiller
from dgemma_lsp.lsp import planning
from dgemma_lsp.lsp.planning import PlannedFill, language_of
from dgemma_lsp.lsp.suggestions import Suggestions
from dgemma_lsp.settings import Settings, parse_settings
from dgemma_lsp.text import sources, syntax
from dgemma_lsp.text.documents import Document, DocumentStore

if TYPE_CHECKING:  # torch and transformers take seconds to import; `initialize` is answered before they load
    from dgemma_lsp.fill.pipeline import Filler

log = logging.getLogger(__name__)

FILL_FUNCTION = "dgemma.fillFunction"
FILL_SELECTION = "dgemma.fillSelection"


class Session:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = self._initial_settings = settings or Settings()
        self.documents = DocumentStore(self.settings.limits.max_file_bytes)
        self.filler: Filler | RemoteFiller | None = None
        self.load_error: str | None = None
        self.loading = False
        # One model thread: fills are serialised anyway, and a single worker keeps a burst of requests from
        # piling threads onto a 2-core laptop.
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgemma-model")
        self._inline_cancel: threading.Event | None = None
        self._inline_uri: str | None = None  # the document of the running inline fill
        self._ids = itertools.count(1)
        self._suggestions = Suggestions()
        self._prefetch_cancel = threading.Event()
        self._inline_task: asyncio.Task | None = None  # a remote model's latest inline fill (superseded: cancelled)
        self.outage = Outage()
        # How the user hears of a remote server's trouble: (LSP MessageType name, text); the server sets it.
        self.show_message: Callable[[str, str], None] = lambda level, text: None
        # Where each inline request's outcome and timings go (see the module docstring); the server sets it for a
        # client that asked for them.
        self.report_timings: Callable[[dict], None] = _no_report

    # --- settings and model -------------------------------------------------------------------------------------

    def configure(self, raw) -> bool:
        """Apply editor settings; True when the model must be reloaded."""
        new = parse_settings(raw, self.settings)
        reload = _loaded_by(new) != _loaded_by(self.settings)
        self.settings = new
        self.documents.set_max_bytes(new.limits.max_file_bytes)
        if self.filler is not None:
            self.filler.settings = new
        return reload

    def load_model(self, progress=lambda message, fraction: None) -> None:
        """Blocking: load the configured model. On failure keep running; fills return nothing. `progress(message,
        fraction)` hears of a first-use conversion of the embedded model (called on this thread)."""
        self.loading = True
        try:
            # A server URL loads nothing: `check_remote` asks the server on the event loop.
            self.filler, self.load_error = load_filler(self.settings, progress), None
        except ModelLoadError as error:
            self.filler, self.load_error = None, str(error)
            log.error("model load failed: %s", error)
        finally:
            self.loading = False
        warmups = getattr(self.filler, "kernel_warmups", None)  # a remote filler has no kernels
        if warmups is not None:
            self._warm(self.filler, iter(warmups()))

    def _warm(self, filler, steps) -> None:
        """Run `steps` (the filler's `kernel_warmups`) on the model thread, a job each, each job queueing the next:
        a fill asked for meanwhile waits for the one step in flight (milliseconds), not for them all, so the first
        suggestion does not wait for the warm-up. Stops when the model is replaced or the session closed."""

        def job() -> None:
            step = next(steps, None)
            if step is not None and self.filler is filler:
                step()
                self._warm(filler, steps)

        try:
            self.executor.submit(job).add_done_callback(_log_failure)
        except RuntimeError:  # the executor is shut down: the process is ending
            pass

    async def check_remote(self) -> None:
        """For a server URL: ask the server which model it serves, and tell the user now if it cannot answer."""
        filler = self.filler
        if isinstance(filler, RemoteFiller):
            try:
                await filler.check()
            except RemoteError as error:
                self._remote_failed(error)
            else:
                self._remote_answered()

    def _remote_failed(self, error: RemoteError) -> None:
        log.warning("remote model: %s", error)
        message = self.outage.failed(error)
        if message:
            self.show_message("Error", message)

    def _remote_answered(self) -> None:
        message = self.outage.succeeded()
        if message:
            log.info("remote model: %s", message)
            self.show_message("Info", message)

    def require_filler(self) -> Filler | RemoteFiller:
        if self.filler is None:
            raise ModelNotReadyError(self.load_error or "the model is still loading")
        return self.filler

    # --- planning holes (event loop; cheap) ---------------------------------------------------------------------

    def plan_inline(self, uri: str, position: types.Position) -> PlannedFill | None:
        return planning.plan_inline(self._fillable(uri), position)

    def plan_function(self, uri: str, position: types.Position) -> PlannedFill | None:
        return planning.plan_function(self._fillable(uri), position)

    def plan_selection(self, uri: str, selection: types.Range) -> PlannedFill | None:
        return planning.plan_selection(self._fillable(uri), selection)

    def stub_at(self, uri: str, selection: types.Range):
        """The stub function under the cursor or selection start, if any (for offering "Fill this function")."""
        return planning.stub_at(self.documents.get(uri), selection.start)

    def workspace_for(self, document: Document) -> Workspace:
        """The other open documents of the same language, by path, that a fill in `document` may draw definitions
        from (`fill/related.py`); files the `exclude` setting keeps from the model are left out."""
        files = {
            _path_of(other.uri): other.text
            for other in self.documents.open_documents()
            if other.language == document.language and other.uri != document.uri and not self.excluded(other.uri)
        }
        return Workspace(_path_of(document.uri), files)

    def excluded(self, uri: str) -> bool:
        """Whether the `exclude` setting keeps the document from the model (a `.env`, key or credential file)."""
        return sources.excluded_by(unquote(urlparse(uri).path), self.settings.exclude) is not None

    def fillable(self, uri: str) -> bool:
        """Whether fills may run on the document: not excluded, not over `limits.maxFileBytes`, not binary."""
        try:
            self._fillable(uri)
        except UnsupportedDocumentError:
            return False
        return True

    def _fillable(self, uri: str) -> Document:
        document = self.documents.get(uri)
        if self.excluded(uri):
            raise UnsupportedDocumentError(f"{uri} matches the exclude setting")
        document.check_fillable(self.settings.limits.max_file_bytes)
        return document

    def change_document(
        self, uri: str, changes: list[types.TextDocumentContentChangeEvent], version: int | None
    ) -> None:
        """Apply a `didChange`, and cancel the inline fill running for the older text: its answer is stale."""
        self.documents.change(uri, changes, version)
        if self._inline_uri == uri:
            if self._inline_cancel is not None:
                self._inline_cancel.set()
            if self._inline_task is not None:  # a server's fill: its HTTP stream closes now
                self._inline_task.cancel()

    def _current(self, plan: PlannedFill) -> bool:
        """Whether the document is still the version `plan` was made for (not edited, closed or reopened since)."""
        return (
            plan.document.uri in self.documents
            and self.documents.get(plan.document.uri) is plan.document
            and (plan.document.version == plan.version)
        )

    # --- running fills (model thread) ---------------------------------------------------------------------------

    async def run(
        self,
        plan: PlannedFill,
        *,
        candidates: int | None = None,
        supersede: bool = False,
        request_id: str | None = None,
        automatic: bool = False,
    ):
        """Fill `plan` on the model thread; cancelling the awaiting task stops the loop between two steps.

        With `supersede`, a newer call cancels this one: editors fire an inline request per keystroke, and only
        the latest matters. `automatic`: the user did not ask (typing, moving): the cheaper fill
        (`completion.automaticLineBranches`).
        """
        filler = self.require_filler()
        if getattr(filler, "remote", False):
            return await self._run_remote(filler, plan, candidates, supersede, request_id or f"r{next(self._ids)}")
        self._prefetch_cancel.set()  # a prefetch is only a guess: anything the user asks for comes first
        cancel = threading.Event()
        if supersede:
            if self._inline_cancel is not None:
                self._inline_cancel.set()
            self._inline_cancel, self._inline_uri = cancel, plan.document.uri
        request_id = request_id or f"r{next(self._ids)}"
        language = language_of(plan.document)
        workspace = self.workspace_for(plan.document)
        submitted = time.perf_counter()

        def job():
            waited = time.perf_counter() - submitted  # behind a superseded fill's last step, or a prefetch
            try:
                if cancel.is_set():  # superseded while it waited: not even the prompt is encoded
                    raise CancelledError("cancelled before it started")
                outcome = filler.fill(
                    plan.text,
                    plan.hole,
                    language,
                    candidates=candidates,
                    is_cancelled=cancel.is_set,
                    request_id=request_id,
                    workspace=workspace,
                    automatic=automatic,
                )
            except CancelledError:
                # Caught here, not through the futures: there its traceback (the fill's frames and their KV
                # caches) sat in a reference cycle with them until the cyclic collector came, gigabytes later.
                log.info("fill %s cancelled", request_id)
                return None
            outcome.timings["queue"] = outcome.timings.get("queue", 0.0) + waited
            return outcome

        future = asyncio.get_running_loop().run_in_executor(self.executor, job)
        try:
            return await future
        except asyncio.CancelledError:
            cancel.set()
            raise

    async def _run_remote(self, filler, plan: PlannedFill, candidates: int | None, supersede: bool, request_id: str):
        """`run` for a model on a server, on the event loop: cancelling the fill's task closes its HTTP stream at
        once. A failure is reported once per kind (`Outage`) and gives an empty result."""
        fill = filler.fill_async(
            plan.text, plan.hole, language_of(plan.document), candidates=candidates, request_id=request_id
        )
        task = asyncio.ensure_future(fill)
        if supersede:
            if self._inline_task is not None:
                self._inline_task.cancel()
            self._inline_task, self._inline_uri = task, plan.document.uri
        try:
            outcome = await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            assert current is not None  # a coroutine awaiting a task runs in one itself
            if current.cancelling():  # the request itself was cancelled ($/cancelRequest)
                raise
            log.info("fill %s superseded", request_id)
            return None
        except RemoteError as error:
            self._remote_failed(error)
            return FillOutcome([], failed=True)
        self._remote_answered()
        return outcome

    async def complete_inline(
        self, uri: str, position: types.Position, *, invoked: bool
    ) -> list[types.InlineCompletionItem]:
        """Inline completion items at `position`: the rest of an earlier suggestion the user is typing into, or a
        fresh fill (superseding the previous one). How the request ended goes to `report_timings` and the log."""
        started = time.perf_counter()
        request_id = f"r{next(self._ids)}"
        document = self._fillable(uri)
        offset = document.offset_at(position)
        if not invoked:  # an explicit request asks for fresh candidates
            reused = self._suggestions.rest_at(uri, document.text, offset)
            if reused is not None:
                rest, replaced = reused
                end = document.position_at(offset + replaced)
                self._inline_ended(request_id, "reused", started)
                return [types.InlineCompletionItem(insert_text=rest, range=types.Range(position, end))]
        plan = self.plan_inline(uri, position)
        if plan is None:
            self._inline_ended(request_id, "no hole", started)
            return []
        candidates = self.settings.completion.invoked_candidates if invoked else None
        # Stopping a server's fill cancels its task, which closes its HTTP stream: the server stops generating.
        stream_closed = bool(getattr(self.filler, "remote", False))
        try:
            outcome = await self.run(
                plan, candidates=candidates, supersede=True, request_id=request_id, automatic=not invoked
            )
        except asyncio.CancelledError:  # the client cancelled the request ($/cancelRequest)
            self._inline_ended(request_id, "cancelled", started, stream_closed=stream_closed)
            raise
        if outcome is None:
            self._inline_ended(request_id, "superseded", started, stream_closed=stream_closed)
            return []
        if outcome.failed:
            self._inline_ended(request_id, "failed", started)
            return []
        if not self._current(plan):  # edited while the fill ran: its answer would land in the wrong text
            self._inline_ended(request_id, "dropped", started)
            return []
        fills = outcome.fills
        if fills:  # the first candidate is the one shown while the user types
            self._suggestions.offered(uri, plan.text, fills[0])
            # Not for a server: a GPU shared by a team spends no time on guesses.
            if not invoked and self.settings.completion.prefetch and not getattr(self.filler, "remote", False):
                self._prefetch_after_accept(uri, plan, fills[0])
        encoded = outcome.encoded_tokens if "encode" in outcome.timings else None  # greedy decoding reports it
        self._inline_ended(request_id, "filled", started, stages=outcome.timings, encoded=encoded)
        return [types.InlineCompletionItem(insert_text=fill.text, range=plan.range) for fill in fills]

    def _inline_ended(
        self,
        request_id: str,
        outcome: str,
        started: float,
        *,
        stages: dict | None = None,
        stream_closed: bool = False,
        encoded: int | None = None,
    ) -> None:
        """Report how an inline request ended: to `report_timings` (milliseconds, camelCase: it goes out as JSON)
        and to the log. `stages`: a finished fill's seconds per stage, split into queue, model forwards, sampler
        and the server's own overhead (everything else), and where greedy decoding reports them, the prompt's
        encoding (`encoded` tokens of it), the decoding, the judge and the post-processing."""
        total = time.perf_counter() - started
        timings = {"request": request_id, "outcome": outcome, "totalMs": _ms(total)}
        if stages is not None:
            queue, forward, model = (stages.get(stage, 0.0) for stage in ("queue", "forward", "denoise"))
            timings |= {
                "queueMs": _ms(queue),
                "forwardMs": _ms(forward),
                "samplerMs": _ms(model - forward),
                "overheadMs": _ms(total - queue - model),
            }
            for stage in STAGES:
                if stage in stages and stage != "queue":  # the queue's time, waits in the session included, is above
                    timings[f"{stage}Ms"] = _ms(stages[stage])
        if encoded is not None:
            timings["encodedTokens"] = encoded
        if stream_closed:
            timings["streamClosed"] = True
        times = " ".join(f"{key.removesuffix('Ms')}={value}ms" for key, value in timings.items() if key.endswith("Ms"))
        log.info("inline %s: %s, %s", request_id, outcome, times)
        self.report_timings(timings)

    def _prefetch_after_accept(self, uri: str, plan: PlannedFill, fill) -> None:
        """Fill the spot the cursor reaches if the user accepts `fill` ("as if accepted", llama.vim), so that the
        request after an accept is answered from memory. Any real fill cancels it between two steps."""
        filler, loop, language = self.filler, asyncio.get_running_loop(), language_of(plan.document)
        if filler is None:  # a model reload failed since the fill
            return
        cancel = self._prefetch_cancel = threading.Event()
        text = plan.text[: fill.start] + fill.text + plan.text[fill.end :]
        cursor, request_id = fill.start + len(fill.text), f"p{next(self._ids)}"

        def job() -> None:
            if cancel.is_set():
                return
            tree = syntax.parse(text, language) if language else None
            hole = holes.choose_hole(text, tree, language, cursor)
            if hole.kind is FillKind.NONE or cancel.is_set():
                return
            try:
                outcome = filler.fill(
                    text, hole, language, is_cancelled=cancel.is_set, request_id=request_id, automatic=True
                )
            except CancelledError:
                log.info("prefetch %s cancelled", request_id)
                return
            if outcome.fills:  # appended on the event loop, which reads the deque
                loop.call_soon_threadsafe(self._suggestions.offered, uri, text, outcome.fills[0])

        self.executor.submit(job).add_done_callback(_log_failure)

    def shutdown(self) -> None:
        """The client's `shutdown`: stop the fills in flight (the model thread stays, for a next TCP client)."""
        if self._inline_cancel is not None:
            self._inline_cancel.set()
        if self._inline_task is not None:
            self._inline_task.cancel()
        self._prefetch_cancel.set()

    def reset(self) -> None:
        """Forget a client that went away (TCP): its documents, suggestions and settings. The model stays loaded."""
        self.shutdown()
        self.documents.clear()
        self._suggestions.clear()
        self.report_timings = _no_report  # the next client says at `initialize` whether it wants them
        self.settings = self._initial_settings
        self.documents.set_max_bytes(self.settings.limits.max_file_bytes)
        if self.filler is not None:
            self.filler.settings = self.settings

    def close(self) -> None:
        """The process ends: stop the fills; queued ones never start."""
        self.shutdown()
        self.executor.shutdown(wait=False, cancel_futures=True)


def _loaded_by(settings: Settings) -> tuple:
    """The settings that shape the loaded model: changing one reloads it."""
    return (
        settings.model,
        settings.allow_download,
        settings.prompt_format,
        settings.decoding,
        settings.device,
        settings.dtype,
        settings.matmuls,  # bfloat16 matmuls replace the fp32 projections in the loaded model
        settings.remote,
    )


def _path_of(uri: str) -> str:
    return unquote(urlparse(uri).path)


def _no_report(timings: dict) -> None:
    """`report_timings` for a client that did not ask for them."""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _log_failure(future: concurrent.futures.Future) -> None:
    """For a job on the model thread nobody awaits (a prefetch, a warm-up step): its error goes to the log."""
    if not future.cancelled() and future.exception() is not None:
        log.error("model-thread job failed", exc_info=future.exception())
