"""Reusing an inline suggestion while the user types into it (`lsp/suggestions.py`, `Suggestion.rest`)."""

import pytest

from dgemma_lsp.lsp.suggestions import Suggestion

BEFORE, AFTER = "def f(x):\n    return ", "\n\nprint(f(2))\n"
SUGGESTION = Suggestion("file:///a.py", BEFORE, AFTER, "x * 2 + 1", 0)


@pytest.mark.parametrize(
    "uri, typed, after, expected",
    [
        ("file:///a.py", "", AFTER, "x * 2 + 1"),  # nothing typed yet: the whole suggestion
        ("file:///a.py", "x * ", AFTER, "2 + 1"),  # typed into it
        ("file:///a.py", "x * 3", AFTER, None),  # typed something else
        ("file:///a.py", "x * 2 + 1", AFTER, None),  # typed all of it: nothing left to offer
        ("file:///a.py", "x", AFTER + "# more\n", None),  # the text after the cursor changed
        ("file:///b.py", "x", AFTER, None),  # another document
    ],
)
def test_rest_of_a_suggestion_typed_into(uri, typed, after, expected):
    text = BEFORE + typed + after
    assert SUGGESTION.rest(uri, text, len(BEFORE) + len(typed)) == expected


def test_an_edit_before_the_hole_invalidates_it():
    text = "def g(x):\n    return " + "x" + AFTER
    assert SUGGESTION.rest("file:///a.py", text, len(BEFORE) + 1) is None


# --- through the session: a fake filler counts fills, so reuse and prefetch are seen without a model ----------

import asyncio  # noqa: E402
import gc  # noqa: E402
import threading  # noqa: E402
import weakref  # noqa: E402

from lsprotocol import types  # noqa: E402

from dgemma_lsp.errors import CancelledError  # noqa: E402
from dgemma_lsp.fill.pipeline import Fill, FillOutcome  # noqa: E402
from dgemma_lsp.lsp.session import Session  # noqa: E402
from dgemma_lsp.settings import parse_settings  # noqa: E402

URI = "file:///work/m.py"
SOURCE = "def f(x):\n    y = x + 1\n    return \n"


class FakeFiller:
    """Answers every fill with `answer`, recording the texts it was asked about."""

    def __init__(self, answer: str) -> None:
        self.answer, self.calls = answer, []

    def fill(self, text, hole, language, **kwargs):
        self.calls.append(text)
        self.automatic = getattr(self, "automatic", []) + [kwargs.get("automatic", False)]
        return FillOutcome([Fill(self.answer, hole.start, hole.end, self.answer)], {"denoise": 0.01, "forward": 0.005})


def session_with(answer: str, prefetch: bool) -> tuple[Session, FakeFiller]:
    session = Session(parse_settings({"completion": {"prefetch": prefetch}}))
    session.filler = FakeFiller(answer)
    session.documents.open(URI, SOURCE, 1, "python")
    return session, session.filler


def type_text(session: Session, offset: int, typed: str) -> None:
    document = session.documents.get(URI)
    position = document.position_at(offset)
    change = types.TextDocumentContentChangePartial(range=types.Range(position, position), text=typed)
    session.documents.change(URI, [change], document.version + 1)


def cursor_after(session: Session, offset: int) -> types.Position:
    return session.documents.get(URI).position_at(offset)


async def test_typing_into_a_suggestion_is_answered_without_a_fill():
    session, filler = session_with("y * 2", prefetch=False)
    cursor = SOURCE.index("return ") + len("return ")
    first = await session.complete_inline(URI, cursor_after(session, cursor), invoked=False)
    assert [item.insert_text for item in first] == ["y * 2"] and len(filler.calls) == 1
    type_text(session, cursor, "y ")
    again = await session.complete_inline(URI, cursor_after(session, cursor + 2), invoked=False)
    assert [item.insert_text for item in again] == ["* 2"] and len(filler.calls) == 1
    assert again[0].range.start == cursor_after(session, cursor + 2)
    type_text(session, cursor + 2, "+")  # diverged from the suggestion: a fresh fill
    await session.complete_inline(URI, cursor_after(session, cursor + 3), invoked=False)
    assert len(filler.calls) == 2
    session.shutdown()


async def test_only_a_request_the_user_asked_for_gets_the_explicit_budget():
    """An automatic request (typing, moving) and the prefetch after it are filled as automatic, the cheaper
    fill; an explicit one (VS Code's Alt+\\, Neovim's keymap) is not."""
    session, filler = session_with("y * 2", prefetch=True)
    cursor = SOURCE.index("return ") + len("return ")
    await session.complete_inline(URI, cursor_after(session, cursor), invoked=False)
    await asyncio.get_running_loop().run_in_executor(session.executor, lambda: None)  # the prefetch has run
    await session.complete_inline(URI, cursor_after(session, cursor), invoked=True)
    assert filler.automatic == [True, True, False]
    session.shutdown()


async def test_after_an_accept_the_prefetched_suggestion_is_served():
    session, filler = session_with("y * 2", prefetch=True)
    cursor = SOURCE.index("return ") + len("return ")
    await session.complete_inline(URI, cursor_after(session, cursor), invoked=False)
    await asyncio.get_running_loop().run_in_executor(session.executor, lambda: None)  # the prefetch has run
    await asyncio.sleep(0)  # and its result has reached the event loop
    assert len(filler.calls) == 2 and "return y * 2" in filler.calls[1]  # filled as if accepted
    type_text(session, cursor, "y * 2")  # the user accepts
    after = await session.complete_inline(URI, cursor_after(session, cursor + 5), invoked=False)
    assert [item.insert_text for item in after] == ["y * 2"] and len(filler.calls) == 2
    session.shutdown()


class WarmingFiller(FakeFiller):
    """Has kernels to warm: each step records itself; the first holds the model thread until the test lets it."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.ran: list[str] = []
        self.first_running, self.release = threading.Event(), threading.Event()

    def kernel_warmups(self):
        def first():
            self.first_running.set()
            self.release.wait(10)
            self.ran.append("step 0")

        return [first] + [lambda i=i: self.ran.append(f"step {i}") for i in (1, 2, 3)]

    def fill(self, text, hole, language, **kwargs):
        self.ran.append("fill")
        return super().fill(text, hole, language, **kwargs)


async def test_the_kernels_warm_between_fills_after_loading(monkeypatch):
    """A request made while the kernels warm waits for the step in flight, not for the whole warm-up; the rest
    of it runs afterwards, on the model thread."""
    from dgemma_lsp.lsp import session as session_module

    monkeypatch.setattr(session_module, "load_filler", lambda settings, progress: WarmingFiller("y * 2"))
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(session.executor, session.load_model)
    filler = session.filler
    session.documents.open(URI, SOURCE, 1, "python")
    await loop.run_in_executor(None, filler.first_running.wait, 10)
    request = asyncio.ensure_future(
        session.complete_inline(URI, cursor_after(session, SOURCE.index("return ") + 7), invoked=True)
    )
    await asyncio.sleep(0.1)  # planned and queued behind the first step
    filler.release.set()
    assert [item.insert_text for item in await request] == ["y * 2"]
    await loop.run_in_executor(session.executor, lambda: None)
    for _ in range(3):  # each step queues the next
        await loop.run_in_executor(session.executor, lambda: None)
    assert filler.ran == ["step 0", "fill", "step 1", "step 2", "step 3"]
    session.shutdown()


class SlowFiller(FakeFiller):
    """Answers only once the test lets it, and pays no heed to cancellation: as a fill in its last step."""

    def __init__(self, answer: str) -> None:
        super().__init__(answer)
        self.started, self.release = threading.Event(), threading.Event()

    def fill(self, text, hole, language, **kwargs):
        self.started.set()
        self.release.wait(10)
        return super().fill(text, hole, language, **kwargs)


@pytest.mark.parametrize("edit", ["change", "reopen", "close"])
async def test_a_fill_that_ends_after_an_edit_is_not_answered(edit):
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    session.filler = filler = SlowFiller("y * 2")
    session.documents.open(URI, SOURCE, 1, "python")
    cursor = SOURCE.index("return ") + len("return ")
    request = asyncio.ensure_future(session.complete_inline(URI, cursor_after(session, cursor), invoked=False))
    await asyncio.get_running_loop().run_in_executor(None, filler.started.wait, 10)
    if edit == "change":
        position = cursor_after(session, 0)
        session.change_document(
            URI, [types.TextDocumentContentChangePartial(range=types.Range(position, position), text="# x\n")], 2
        )
    elif edit == "reopen":
        session.documents.close(URI)
        session.documents.open(URI, SOURCE, 1, "python")
    else:
        session.documents.close(URI)
    filler.release.set()
    assert await request == []
    session.shutdown()


class Held:
    """What a fill holds while it runs (a model's KV cache, in the server)."""


class CancelledFiller(FakeFiller):
    """Stops between two steps, as a superseded fill does, while holding `Held` objects."""

    def __init__(self) -> None:
        super().__init__("")
        self.held: list[weakref.ref] = []

    def fill(self, text, hole, language, *, is_cancelled=lambda: False, **kwargs):
        self.calls.append(text)
        cache = Held()
        self.held.append(weakref.ref(cache))
        raise CancelledError("cancelled at canvas 0, step 1")


async def test_a_cancelled_fill_frees_what_it_held_at_once():
    """Without the cyclic garbage collector: a superseded fill's tensors (its traceback's frames) were kept in a
    cycle through the futures; at 20 requests a second the server grew by gigabytes before a collection came."""
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    session.filler = filler = CancelledFiller()
    session.documents.open(URI, SOURCE, 1, "python")
    position = cursor_after(session, SOURCE.index("return ") + len("return "))
    gc.disable()
    try:
        for _ in range(3):
            assert await session.complete_inline(URI, position, invoked=False) == []
        assert len(filler.held) == 3 and all(held() is None for held in filler.held)
    finally:
        gc.enable()
        session.shutdown()


async def test_a_fill_superseded_while_queued_does_not_start():
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    session.filler = filler = SlowFiller("y * 2")
    session.documents.open(URI, SOURCE, 1, "python")
    position = cursor_after(session, SOURCE.index("return ") + len("return "))
    first = asyncio.ensure_future(session.complete_inline(URI, position, invoked=False))
    await asyncio.get_running_loop().run_in_executor(None, filler.started.wait, 10)
    queued = [asyncio.ensure_future(session.complete_inline(URI, position, invoked=False)) for _ in range(3)]
    await asyncio.sleep(0.1)  # all planned and queued behind the first; each newer one supersedes the one before
    filler.release.set()
    answers = await asyncio.gather(first, *queued)
    assert len(filler.calls) == 2  # the first (already running) and the last; the two in between never started
    assert answers[1:3] == [[], []] and answers[3]
    session.shutdown()


# --- how each inline request ended, as the session reports it (the server sends it as `dgemma/timings`) -------

from dgemma_lsp.errors import RemoteError  # noqa: E402

STAGES = {"request", "outcome", "totalMs", "queueMs", "forwardMs", "samplerMs", "overheadMs"}


def reported_by(session: Session) -> list[dict]:
    reports: list[dict] = []
    session.report_timings = reports.append
    return reports


async def test_every_inline_request_reports_how_it_ended():
    session, _ = session_with("y * 2", prefetch=False)
    reports = reported_by(session)
    cursor = SOURCE.index("return ") + len("return ")
    await session.complete_inline(URI, cursor_after(session, cursor), invoked=False)
    type_text(session, cursor, "y ")
    await session.complete_inline(URI, cursor_after(session, cursor + 2), invoked=False)
    await session.complete_inline(URI, cursor_after(session, 2), invoked=False)  # inside the word "def"
    assert [(r["request"], r["outcome"]) for r in reports] == [("r1", "filled"), ("r2", "reused"), ("r3", "no hole")]
    filled = reports[0]
    assert set(filled) == STAGES and filled["forwardMs"] == 5.0 and filled["samplerMs"] == 5.0
    assert filled["totalMs"] == pytest.approx(filled["queueMs"] + 10.0 + filled["overheadMs"], abs=0.2)
    assert set(reports[1]) == set(reports[2]) == {"request", "outcome", "totalMs"}
    session.shutdown()


async def test_a_greedy_fill_reports_its_stages_and_the_prompt_tokens_it_encoded():
    session, filler = session_with("y * 2", prefetch=False)
    stages = {"denoise": 0.03, "forward": 0.02, "encode": 0.012, "decode": 0.008, "judge": 0.006, "postprocess": 0.001}

    def fill(text, hole, language, **kwargs):
        return FillOutcome([Fill("y * 2", hole.start, hole.end, "y * 2")], dict(stages), encoded_tokens=7)

    filler.fill = fill
    reports = reported_by(session)
    await session.complete_inline(URI, cursor_after(session, SOURCE.index("return ") + 7), invoked=False)
    (report,) = reports
    assert (report["encodeMs"], report["decodeMs"], report["judgeMs"], report["encodedTokens"]) == (12.0, 8.0, 6.0, 7)
    session.shutdown()


async def test_a_fill_that_ends_after_an_edit_reports_dropped():
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    session.filler = filler = SlowFiller("y * 2")
    session.documents.open(URI, SOURCE, 1, "python")
    reports = reported_by(session)
    position = cursor_after(session, SOURCE.index("return ") + len("return "))
    request = asyncio.ensure_future(session.complete_inline(URI, position, invoked=False))
    await asyncio.get_running_loop().run_in_executor(None, filler.started.wait, 10)
    session.documents.close(URI)
    filler.release.set()
    assert await request == [] and [r["outcome"] for r in reports] == ["dropped"]
    session.shutdown()


async def test_superseded_and_cancelled_fills_are_reported_as_such():
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    session.filler = filler = SlowFiller("y * 2")
    session.documents.open(URI, SOURCE, 1, "python")
    reports = reported_by(session)
    position = cursor_after(session, SOURCE.index("return ") + len("return "))
    first = asyncio.ensure_future(session.complete_inline(URI, position, invoked=False))
    await asyncio.get_running_loop().run_in_executor(None, filler.started.wait, 10)
    second, third = (asyncio.ensure_future(session.complete_inline(URI, position, invoked=False)) for _ in range(2))
    await asyncio.sleep(0.1)  # both queued; the third supersedes the second
    third.cancel()  # the client's $/cancelRequest
    with pytest.raises(asyncio.CancelledError):
        await third
    filler.release.set()
    await asyncio.gather(first, second)
    assert {r["request"]: r["outcome"] for r in reports} == {"r1": "filled", "r2": "superseded", "r3": "cancelled"}
    assert not any("streamClosed" in r for r in reports)  # a local model has no stream to close
    session.shutdown()


class ServerFiller:
    """A model on a server: answers on the event loop once `release` is set, or fails with `error`."""

    remote = True

    def __init__(self, error: RemoteError | None = None) -> None:
        self.error, self.release = error, asyncio.Event()

    async def fill_async(self, text, hole, language, **kwargs):
        if self.error is not None:
            raise self.error
        await self.release.wait()
        return FillOutcome([Fill("y", hole.start, hole.end, "y")], {"denoise": 0.01, "forward": 0.01})


async def test_a_server_fill_stopped_in_flight_reports_its_closed_stream_and_a_failure_reports_failed():
    session = Session(parse_settings({"completion": {"prefetch": False}}))
    session.filler = ServerFiller()
    session.documents.open(URI, SOURCE, 1, "python")
    reports = reported_by(session)
    position = cursor_after(session, SOURCE.index("return ") + len("return "))
    first = asyncio.ensure_future(session.complete_inline(URI, position, invoked=False))
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(session.complete_inline(URI, position, invoked=False))
    await asyncio.sleep(0.05)
    session.filler.release.set()
    assert await first == [] and await second
    session.filler = ServerFiller(RemoteError("unreachable", "cannot reach the completion server"))
    assert await session.complete_inline(URI, position, invoked=True) == []  # invoked: not the suggestion's rest
    assert [(r["outcome"], r.get("streamClosed")) for r in reports] == [
        ("superseded", True),
        ("filled", None),
        ("failed", None),
    ]
    session.shutdown()
