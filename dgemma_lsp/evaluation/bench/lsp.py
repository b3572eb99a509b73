"""`dgemma-lsp bench lsp`: the real server over stdio, fed an editing session the way VS Code feeds it.

The simulated user retypes lines of real files (two files of the real-code benchmark's dev split, written after
the model's training data, one of the package's own modules, and one 5,000-line file made of the package's
modules) in bursts of a few characters at 6-12 a second, with pauses of 0.3-3 s between bursts, drawn from a fixed
seed. Every keystroke is a `didChange` at once; an inline
completion request (trigger "automatic") follows after the client-side debounce if no other key came; a key
pressed while a request is open cancels it with `$/cancelRequest`, as vscode-languageclient does. A suggestion
that matches what the user is about to type is accepted (the rest of it inserted at once).

Reported: latency from request to response for answered requests (p50 / p95 / max), the share of pauses of 500 ms
or more in which a suggestion was showing before the next key (what a user who stops to think sees), the share of
requests answered and cancelled, the server's CPU seconds and peak RSS, the time from start to the first suggestion (the
first completion with an item), and per fill the server's own overhead (time outside the model and the queue) from
its `dgemma/timings` notifications, which the client asks for as an extension. With `--model` a server URL (README
"Team server"), the model time is the remote server's, network included, and the report also counts the HTTP
streams the language server closed because their fill was cancelled or superseded in flight.

The client is pygls' own `LanguageClient`; the server's log is kept for people to read.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from dgemma_lsp import __version__
from dgemma_lsp.evaluation.bench.common import (
    DEFAULT_OUT,
    PACKAGE,
    machine,
    package_sources,
    percentile,
    pyplot,
    save_figure,
    status_mb,
    write_json,
)
from dgemma_lsp.fill.ranking import STAGES

log = logging.getLogger(__name__)

# The server's extension (dgemma_lsp/lsp/features/lifecycle.py), asked for as any client would ask.
TIMINGS = "dgemma/timings"
CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    text_document=types.TextDocumentClientCapabilities(inline_completion=types.InlineCompletionClientCapabilities()),
    experimental={"dgemmaTimings": True},
)
LONG_FILE_LINES = 5000
PAUSE_S = 0.5  # a pause this long is one in which a user would read a suggestion
REAL_FILES = 2  # files of the real-code dev split typed into, before the package's own


@dataclass
class Answer:
    arrived: float  # time.perf_counter() when the response was read
    result: Any = None  # the result, as lsprotocol types
    error: BaseException | None = None  # an error response (a cancelled request's included)


class BenchClient(LanguageClient):
    """pygls' client, with what the benchmarks watch: when each answer arrived, when the model was ready, the
    server's `dgemma/timings` notifications, and the server's process (its CPU time and memory)."""

    def __init__(self) -> None:
        super().__init__("dgemma-lsp-bench", __version__)
        self.started_at: float | None = None  # when the server process was started
        self.ready_at: float | None = None  # when it reported its model loaded
        self.model_ready = asyncio.Event()
        self.timings: list[dict] = []  # the `dgemma/timings` params, in the order they came
        self._ids = itertools.count(1)
        self._stderr_reader: asyncio.Task | None = None

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create_progress(params: types.WorkDoneProgressCreateParams) -> None:
            return None  # accepted: the server reports its model load under this token

        @self.feature(types.PROGRESS)
        def progress(params: types.ProgressParams) -> None:
            if isinstance(params.value, dict) and params.value.get("kind") == "end":  # the load is its only progress
                self.ready_at = time.perf_counter()
                self.model_ready.set()

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            log.warning("the server says: %s", params.message)

        @self.feature(TIMINGS)
        def timings(params) -> None:
            self.timings.append(params._asdict())  # pygls hands a method it has no type for a namedtuple

    @property
    def process(self) -> asyncio.subprocess.Process:
        assert self._server is not None, "the server is started by start_io"
        return self._server  # the one pygls started in `start_io`

    @property
    def ready_s(self) -> float:
        assert self.ready_at is not None and self.started_at is not None, "read after the model is ready"
        return self.ready_at - self.started_at

    async def start_io(self, cmd: str, *args, **kwargs) -> None:
        self.started_at = time.perf_counter()
        await super().start_io(cmd, *args, **kwargs)
        # pygls pipes the server's stderr: read it, or a server that writes much there would block on the full pipe.
        assert self.process.stderr is not None  # pygls starts the server with every stream piped
        self._stderr_reader = asyncio.create_task(_read_to_end(self.process.stderr))

    async def stop(self) -> None:
        await super().stop()
        if self._stderr_reader is not None:
            await self._stderr_reader

    def request(self, method: str, params) -> tuple[int, asyncio.Future[Answer]]:
        """Send a request: its id (for `$/cancelRequest`) and a future of its `Answer`."""
        request_id = next(self._ids)
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()

        def arrived(response: concurrent.futures.Future) -> None:
            # Stamped here, while pygls reads the response: the task awaiting `answer` runs a turn or two later,
            # perhaps after a keystroke sent meanwhile, and `bench load` judges answers against keystrokes.
            if not answer.done():
                error = response.exception()
                answer.set_result(Answer(time.perf_counter(), None if error else response.result(), error))

        self.protocol.send_request(method, params, msg_id=request_id).add_done_callback(arrived)
        return request_id, answer


async def _read_to_end(stream: asyncio.StreamReader) -> None:
    while await stream.read(1 << 16):
        pass


def inline_items(result) -> list[types.InlineCompletionItem]:
    """The items of an inline completion result (a list, or a list object, or nothing)."""
    if isinstance(result, types.InlineCompletionList):
        return list(result.items)
    return list(result or [])


@dataclass
class Request:
    sent: float
    answered: float | None = None
    cancelled: bool = False
    items: int = 0
    error: bool = False


@dataclass
class Replay:
    requests: list[Request] = field(default_factory=list)
    keystrokes: int = 0
    accepted: int = 0
    pauses: int = 0  # waits of PAUSE_S or more before a key (or after the line's last one)
    pauses_shown: int = 0  # ... at whose end a suggestion for the cursor was showing


def long_file(sources: list[Path], lines: int = LONG_FILE_LINES) -> str:
    """A real-code file of `lines` lines: the given modules one after another, repeated as needed."""
    out: list[str] = []
    while len(out) < lines:
        for path in sources:
            out.extend(path.read_text(encoding="utf-8").splitlines(keepends=True))
    return "".join(out[:lines])


def real_files(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """`count` Python files of the real-code benchmark's dev split (`eval real-code`), 150 to 800 lines, drawn
    with `rng`: code written after the model's training data, not this project's."""
    from dgemma_lsp.evaluation.realcode import data_dir, load_files

    fitting = [f for f in load_files(data_dir() / "python.jsonl.gz", "dev") if 150 <= f.text.count("\n") <= 800]
    return [(f"{f.package}/{f.path}", f.text) for f in rng.sample(fitting, min(count, len(fitting)))]


def typing_plan(text: str, edits: int, rng: random.Random) -> list[tuple[int, str]]:
    """(offset, typed text) spots: the rest of an indented code line from its first non-blank character."""
    spots = []
    starts = [m.start() for m in re.finditer(r"(?m)^[ \t]+(?=[A-Za-z_])[^\n]{8,60}$", text)]
    for start in sorted(rng.sample(starts, min(edits, len(starts)))):
        line_end = text.index("\n", start)
        code = start + len(text[start:line_end]) - len(text[start:line_end].lstrip())
        spots.append((code, text[code:line_end]))
    return spots


def key_gaps(
    typed: str, rng: random.Random, burst_cps: tuple[float, float], pause_s: tuple[float, float]
) -> list[float]:
    """Seconds before each key: bursts of 2-6 keys at `burst_cps` keys a second (drawn per burst), a pause drawn
    from `pause_s` before each burst but the first."""
    gaps: list[float] = []
    while len(gaps) < len(typed):
        speed = rng.uniform(*burst_cps)
        burst = [1 / speed for _ in range(rng.randint(2, 6))]
        if gaps:
            burst[0] = rng.uniform(*pause_s)
        gaps.extend(burst)
    return gaps[: len(typed)]


class Editor:
    """One open document and what VS Code does around inline completions while the user types."""

    def __init__(self, client: BenchClient, uri: str, text: str, debounce: float, replay: Replay) -> None:
        self.client, self.uri, self.text, self.debounce, self.replay = client, uri, text, debounce, replay
        self.version = 1
        self.open_request: tuple[int, Request] | None = None
        self.debounce_task: asyncio.Task | None = None
        self.suggestion: tuple[int, str] | None = None  # (offset, text) of the answered suggestion

    def open(self, language: str = "python") -> None:
        item = types.TextDocumentItem(uri=self.uri, language_id=language, version=1, text=self.text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))

    def position(self, offset: int) -> types.Position:
        line = self.text.count("\n", 0, offset)
        column = offset - (self.text.rfind("\n", 0, offset) + 1)
        return types.Position(line=line, character=len(self.text[offset - column : offset].encode("utf-16-le")) // 2)

    def edit(self, start: int, end: int, new: str) -> None:
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=self.position(start), end=self.position(end)), text=new
        )
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
                content_changes=[change],
            )
        )

    def inline_request(self, offset: int) -> tuple[int, asyncio.Future[Answer]]:
        """An automatic inline completion request at `offset`, as an editor sends one while the user types."""
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=self.position(offset),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
        return self.client.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)

    def cancel_open(self) -> None:
        if self.open_request is not None:
            request_id, record = self.open_request
            if record.answered is None:
                record.cancelled = True
                self.client.cancel_request(types.CancelParams(id=request_id))
            self.open_request = None
        if self.debounce_task is not None:
            self.debounce_task.cancel()
        self.suggestion = None

    def schedule(self, offset: int) -> None:
        self.debounce_task = asyncio.create_task(self._request_after_debounce(offset))

    async def _request_after_debounce(self, offset: int) -> None:
        await asyncio.sleep(self.debounce)
        record = Request(time.perf_counter())
        self.replay.requests.append(record)
        request_id, answer = self.inline_request(offset)
        self.open_request = (request_id, record)
        reply = await answer
        if record.cancelled:
            return
        record.answered = reply.arrived
        record.error = reply.error is not None
        items = inline_items(reply.result)
        record.items = len(items)
        if items:
            text = items[0].insert_text  # a plain string from this server; a snippet would carry its text in value
            self.suggestion = (offset, text if isinstance(text, str) else text.value)

    async def retype(self, offset: int, typed: str, gaps: list[float]) -> None:
        """Delete `typed` at `offset`, then type it back key by key (accepting a suggestion that matches)."""
        self.cancel_open()
        self.edit(offset, offset + len(typed), "")
        self.schedule(offset)
        position = 0
        while position < len(typed):
            await self.wait(gaps[position], offset + position)
            rest = typed[position:]
            if self.suggestion and self.suggestion[0] == offset + position and rest.startswith(self.suggestion[1]):
                chunk = self.suggestion[1]  # Tab: take the suggestion, it is what the user meant to type
                self.replay.accepted += 1
            else:
                chunk = rest[0]
            self.cancel_open()
            self.edit(offset + position, offset + position, chunk)
            self.replay.keystrokes += 1
            position += len(chunk)
            self.schedule(offset + position)
        await self.wait(1.0, offset + position)  # the user looks at the line before moving on

    async def wait(self, seconds: float, cursor: int) -> None:
        """The user waits before the next key; a pause of PAUSE_S or more counts, and whether a suggestion for
        the cursor was showing when it ended."""
        await asyncio.sleep(seconds)
        if seconds >= PAUSE_S:
            self.replay.pauses += 1
            self.replay.pauses_shown += self.suggestion is not None and self.suggestion[0] == cursor


def process_stats(pid: int) -> dict:
    """CPU seconds and peak RSS of a live process, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        return {"cpu_seconds": cpu, "peak_rss_mb": status_mb(pid, "VmHWM")}
    except (OSError, IndexError, ValueError):
        return {"cpu_seconds": None, "peak_rss_mb": None}


@contextlib.asynccontextmanager
async def serving(model: str | None, settings: dict, log_file: Path):
    """`dgemma-lsp serve` over stdio, initialized and its model loaded: yields the client (see `BenchClient` for
    the start and ready times). When the block ends the server is shut down (`shutdown`, `exit`), or killed after
    a failure."""
    command = [
        sys.executable,
        "-m",
        "dgemma_lsp",
        "serve",
        "--settings",
        json.dumps(settings),
        "--log-file",
        str(log_file),
        "--log-level",
        "INFO",
    ]
    if model:
        command += ["--model", model]
    client = BenchClient()
    await client.start_io(*command, env={**os.environ, "HF_HUB_OFFLINE": "1"}, limit=1 << 24)
    try:
        await client.initialize_async(types.InitializeParams(process_id=os.getpid(), capabilities=CAPABILITIES))
        client.initialized(types.InitializedParams())
        await asyncio.wait_for(client.model_ready.wait(), timeout=120)
        yield client
        await asyncio.wait_for(client.shutdown_async(None), timeout=30)
        client.exit(None)
        await asyncio.wait_for(client.process.wait(), timeout=30)
    finally:
        if client.process.returncode is None:
            client.process.kill()
        await client.stop()


async def replay_session(args, files: list[tuple[str, str]], settings: dict, log_file: Path) -> dict:
    async with serving(args.model, settings, log_file) as client:
        replay = Replay()
        rng = random.Random(args.seed)
        first: Answer | None = None
        for name, text in files:
            editor = Editor(client, f"file:///bench/{name}", text, args.debounce_ms / 1000, replay)
            editor.open()
            for offset, typed in typing_plan(text, args.edits, rng):
                if first is None:  # the first request, right after the model is ready, where the line is empty
                    editor.edit(offset, offset + len(typed), "")
                    _, answer = editor.inline_request(offset)
                    first = await answer
                    editor.edit(offset, offset, typed)  # as it was: `retype` deletes it again
                await editor.retype(offset, typed, key_gaps(typed, rng, args.burst_cps, args.pause_s))
        stats = process_stats(client.process.pid)
    # The first answer with an item, whichever request it came for: an empty answer shows the user nothing.
    suggested = [r.answered for r in replay.requests if r.items and r.answered is not None]
    if first is not None and first.error is None and inline_items(first.result):
        suggested.append(first.arrived)
    return {
        "ready_s": client.ready_s,
        "first_suggestion_s": min(suggested) - client.started_at if suggested and client.started_at else None,
        "replay": replay,
        "timings": client.timings,
        **stats,
    }


def summarize(result: dict, timings: list[dict], remote: bool = False) -> dict:
    """`timings`: the server's `dgemma/timings` notifications. `remote`: the model is on a server, so the report
    counts the HTTP streams to it that a cancelled or superseded fill closed."""
    requests: list[Request] = result["replay"].requests
    answered = [r for r in requests if r.answered is not None]
    latencies = [(r.answered - r.sent) * 1000 for r in requests if r.answered is not None]
    filled = [t for t in timings if t["outcome"] == "filled"]
    overheads = [t["overheadMs"] for t in filled]
    streams_closed = sum(t.get("streamClosed", False) for t in timings) if remote else None
    encoded = [t["encodedTokens"] for t in filled if "encodedTokens" in t]  # prompt tokens each fill encoded
    return {
        "requests": len(requests),
        "answered": len(answered),
        "cancelled": sum(r.cancelled for r in requests),
        "answered_share": len(answered) / len(requests) if requests else None,
        # cancelled by the client while in flight (a key pressed before the answer came)
        "cancelled_share": sum(r.cancelled for r in requests) / len(requests) if requests else None,
        "streams_closed_on_cancel": streams_closed,
        "with_items": sum(r.items > 0 for r in answered),
        "errors": sum(r.error for r in answered),
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p95": percentile(latencies, 95),
        "latency_ms_max": max(latencies) if latencies else None,
        "pauses": result["replay"].pauses,
        "pauses_with_suggestion": result["replay"].pauses_shown,
        "pauses_with_suggestion_share": (
            result["replay"].pauses_shown / result["replay"].pauses if result["replay"].pauses else None
        ),
        "keystrokes": result["replay"].keystrokes,
        "accepted": result["replay"].accepted,
        "reused": sum(t["outcome"] == "reused" for t in timings),
        "fills_completed": len(filled),
        "overhead_ms_p50": statistics.median(overheads) if overheads else None,
        "overhead_ms_p95": percentile(overheads, 95),
        "sampler_ms_p50": statistics.median(t["samplerMs"] for t in filled) if filled else None,
        "forward_ms_p50": statistics.median(t["forwardMs"] for t in filled) if filled else None,
        # where a fill's time goes (greedy decoding), medians over the completed fills that report the stage
        "stages_ms_p50": {
            stage: statistics.median(t[f"{stage}Ms"] for t in filled if f"{stage}Ms" in t)
            for stage in STAGES
            if any(f"{stage}Ms" in t for t in filled)
        },
        "encoded_tokens_p50": statistics.median(encoded) if encoded else None,
        "cpu_seconds": result["cpu_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "model_ready_s": result["ready_s"],
        "first_suggestion_s": result["first_suggestion_s"],
    }


def format_summary(s: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.0f} ms"

    def seconds(value):
        return "-" if value is None else f"{value:.2f} s"

    share = "-" if s["answered_share"] is None else f"{s['answered_share']:.0%}"
    cancelled = "-" if s.get("cancelled_share") is None else f"{s['cancelled_share']:.0%}"
    pauses = "-" if s.get("pauses_with_suggestion_share") is None else f"{s['pauses_with_suggestion_share']:.0%}"
    closed = s.get("streams_closed_on_cancel")
    return "\n".join(
        [
            f"inline requests      {s['requests']} ({s['answered']} answered = {share}, {s['cancelled']} cancelled "
            f"by the client; {s['with_items']} with a suggestion, {s['reused']} reused, {s['accepted']} accepted)",
            f"latency (answered)   p50 {ms(s['latency_ms_p50'])}   p95 {ms(s['latency_ms_p95'])}   "
            f"max {ms(s['latency_ms_max'])}",
            f"pauses >= {PAUSE_S * 1000:.0f} ms     {s['pauses_with_suggestion']} of {s['pauses']} showed a suggestion "
            f"before the next key ({pauses})",
            f"cancelled in flight  {cancelled} of requests"
            + (f" ({closed} HTTP streams to the model server closed on cancel)" if closed is not None else ""),
            f"server overhead      p50 {ms(s['overhead_ms_p50'])}   p95 {ms(s['overhead_ms_p95'])}   "
            f"(per completed fill; model forwards p50 {ms(s['forward_ms_p50'])}, "
            f"sampler p50 {ms(s['sampler_ms_p50'])})",
            "stages p50           "
            + ("   ".join(f"{stage} {ms(value)}" for stage, value in s.get("stages_ms_p50", {}).items()) or "-")
            + (
                ""
                if s.get("encoded_tokens_p50") is None
                else f"   ({s['encoded_tokens_p50']:.0f} prompt tokens encoded)"
            ),
            f"first suggestion     {seconds(s['first_suggestion_s'])} after start "
            f"(model ready at {seconds(s['model_ready_s'])})",
            f"server process       {s['cpu_seconds']} CPU s, peak RSS {s['peak_rss_mb']} MB",
        ]
    )


def plot(result: dict, path: Path) -> bool:
    plt = pyplot()
    if plt is None:
        return False
    latencies = [(r.answered - r.sent) * 1000 for r in result["replay"].requests if r.answered is not None]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.hist(latencies, bins=30)
    axis.set_xlabel("inline completion latency, request to response (ms)")
    axis.set_ylabel("answered requests")
    axis.set_title("bench lsp: typing at ~10 chars/s")
    return save_figure(plt, figure, path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--edits", type=int, default=4, help="lines retyped per file (default 4)")
    parser.add_argument(
        "--burst-cps", type=float, nargs=2, default=(6.0, 12.0), help="typing speed within a burst, keys per second"
    )
    parser.add_argument("--pause-s", type=float, nargs=2, default=(0.3, 3.0), help="pause between bursts, seconds")
    parser.add_argument("--debounce-ms", type=float, default=75.0, help="client-side debounce before a request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for lsp.json and lsp.png")


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    low, high = args.burst_cps
    if args.edits < 1 or not 0 < low <= high or not 0 <= args.pause_s[0] <= args.pause_s[1] or args.debounce_ms < 0:
        print(
            "bench lsp: --edits and --burst-cps must be positive (low <= high), --pause-s and --debounce-ms not "
            "negative",
            file=sys.stderr,
        )
        return 2
    sources = package_sources()
    files = real_files(REAL_FILES, random.Random(args.seed))
    files.append(("pipeline.py", (PACKAGE / "fill" / "pipeline.py").read_text(encoding="utf-8")))
    files.append(("long_5000_lines.py", long_file(sources)))
    settings = {"completion": {"seed": 0}} | {k: v for k, v in cli_settings.items() if k != "model"}
    args.model = cli_settings.get("model")
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = args.out / "lsp-server.log"  # for people: what the server did, request by request
    log_file.unlink(missing_ok=True)
    result = asyncio.run(replay_session(args, files, settings, log_file))
    timings = result["timings"]
    summary = summarize(result, timings, remote=str(args.model or "").startswith(("http://", "https://")))
    print(format_summary(summary))
    requests = [r.__dict__ for r in result["replay"].requests]
    report = {
        "benchmark": "lsp",
        "machine": machine(),
        "model": args.model or "embedded",
        "settings": settings,
        "edits_per_file": args.edits,
        "burst_cps": list(args.burst_cps),
        "pause_s": list(args.pause_s),
        "debounce_ms": args.debounce_ms,
        "seed": args.seed,
        "files": [name for name, _ in files],
        "summary": summary,
        "requests": requests,
        "server_timings": timings,
    }
    write_json(args.out / "lsp.json", report)
    drew = plot(result, args.out / "lsp.png")
    print(f"wrote {args.out / 'lsp.json'}" + (f" and {args.out / 'lsp.png'}" if drew else ""))
    return 0
