"""`dgemma-lsp bench lsp`: the real server over stdio, fed an editing session the way VS Code feeds it.

The simulated user retypes lines of real files (the package's own modules, and one 5,000-line file made of them)
at about 10 characters a second with pauses between words. Every keystroke is a `didChange` at once; an inline
completion request (trigger "automatic") follows after the client-side debounce if no other key came; a key
pressed while a request is open cancels it with `$/cancelRequest`, as vscode-languageclient does. A suggestion
that matches what the user is about to type is accepted (the rest of it inserted at once).

Reported: latency from request to response for answered requests (p50 / p95 / max), the share of requests
answered and cancelled, the server's CPU seconds and peak RSS, the time from start to the first completion, and
per fill the server's own overhead (time outside the model and the queue) from its log. With `--model` a server URL
(README "Team server"), the model time is the remote server's, network included, and the report also counts the
HTTP streams the language server closed because their request was cancelled in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dgemma_lsp.evaluation.bench.common import (
    DEFAULT_OUT,
    PACKAGE,
    machine,
    package_sources,
    percentile,
    pyplot,
    save_figure,
    write_json,
)

CAPABILITIES = {"window": {"workDoneProgress": True}, "textDocument": {"inlineCompletion": {}}}
LONG_FILE_LINES = 5000
_CLOSED_ON_CANCEL = re.compile(r"remote \S+: cancelled, stream closed")
_TIMING = re.compile(
    r"inline (r\d+): (filled|reused|no hole), total=([\d.]+)ms(?: queue=([\d.]+)ms forward=([\d.]+)ms "
    r"sampler=([\d.]+)ms overhead=([\d.]+)ms)?"
)


class Client:
    """A minimal JSON-RPC client over the server's stdio: enough LSP for this benchmark, nothing more."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        assert process.stdin is not None and process.stdout is not None  # started with both piped (`serving`)
        self.stdin, self.stdout = process.stdin, process.stdout
        self.pending: dict[int, asyncio.Future] = {}
        self.ready = asyncio.Event()
        self.next_id = 0
        self.reader = asyncio.create_task(self._read())

    def _write(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    def notify(self, method: str, params) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params) -> tuple[int, asyncio.Future]:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        self._write({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.next_id, future

    async def _read(self) -> None:
        stream = self.stdout
        while True:
            length = 0
            while (line := await stream.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            message = json.loads(await stream.readexactly(length))
            if "method" in message and "id" in message:  # the server's own requests (progress tokens)
                self._write({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif "method" in message:
                value = message.get("params", {}).get("value", {})
                if message["method"] == "$/progress" and isinstance(value, dict) and value.get("kind") == "end":
                    self.ready.set()
            elif (future := self.pending.pop(message.get("id"), None)) is not None and not future.done():
                future.set_result((time.perf_counter(), message))


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


def long_file(sources: list[Path], lines: int = LONG_FILE_LINES) -> str:
    """A real-code file of `lines` lines: the given modules one after another, repeated as needed."""
    out: list[str] = []
    while len(out) < lines:
        for path in sources:
            out.extend(path.read_text(encoding="utf-8").splitlines(keepends=True))
    return "".join(out[:lines])


def typing_plan(text: str, edits: int, rng: random.Random) -> list[tuple[int, str]]:
    """(offset, typed text) spots: the rest of an indented code line from its first non-blank character."""
    spots = []
    starts = [m.start() for m in re.finditer(r"(?m)^[ \t]+(?=[A-Za-z_])[^\n]{8,60}$", text)]
    for start in sorted(rng.sample(starts, min(edits, len(starts)))):
        line_end = text.index("\n", start)
        code = start + len(text[start:line_end]) - len(text[start:line_end].lstrip())
        spots.append((code, text[code:line_end]))
    return spots


def key_gaps(typed: str, rng: random.Random, cps: float) -> list[float]:
    """Seconds before each key: about 1/cps, with a longer pause after a word now and then."""
    gaps = []
    for i in range(len(typed)):
        gap = rng.uniform(0.6, 1.4) / cps
        if i and typed[i - 1] in " (.,:=" and rng.random() < 0.3:
            gap += rng.uniform(0.3, 1.0)
        gaps.append(gap)
    return gaps


class Editor:
    """One open document and what VS Code does around inline completions while the user types."""

    def __init__(self, client: Client, uri: str, text: str, debounce: float, replay: Replay) -> None:
        self.client, self.uri, self.text, self.debounce, self.replay = client, uri, text, debounce, replay
        self.version = 1
        self.open_request: tuple[int, Request, asyncio.Future] | None = None
        self.debounce_task: asyncio.Task | None = None
        self.suggestion: tuple[int, str] | None = None  # (offset, text) of the answered suggestion

    def open(self, language: str = "python") -> None:
        self.client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": self.uri, "languageId": language, "version": 1, "text": self.text}},
        )

    def position(self, offset: int) -> dict:
        line = self.text.count("\n", 0, offset)
        column = offset - (self.text.rfind("\n", 0, offset) + 1)
        return {"line": line, "character": len(self.text[offset - column : offset].encode("utf-16-le")) // 2}

    def edit(self, start: int, end: int, new: str) -> None:
        range_ = {"start": self.position(start), "end": self.position(end)}
        self.text = self.text[:start] + new + self.text[end:]
        self.version += 1
        self.client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"range": range_, "text": new}],
            },
        )

    def cancel_open(self) -> None:
        if self.open_request is not None:
            request_id, record, _ = self.open_request
            if record.answered is None:
                record.cancelled = True
                self.client.notify("$/cancelRequest", {"id": request_id})
            self.open_request = None
        if self.debounce_task is not None:
            self.debounce_task.cancel()
        self.suggestion = None

    def schedule(self, offset: int) -> None:
        self.debounce_task = asyncio.create_task(self._request_after_debounce(offset))

    async def _request_after_debounce(self, offset: int) -> None:
        await asyncio.sleep(self.debounce)
        params = {"textDocument": {"uri": self.uri}, "position": self.position(offset), "context": {"triggerKind": 2}}
        record = Request(time.perf_counter())
        self.replay.requests.append(record)
        request_id, future = self.client.request("textDocument/inlineCompletion", params)
        self.open_request = (request_id, record, future)
        answered, message = await future
        if record.cancelled:
            return
        record.answered = answered
        record.error = "error" in message
        items = (message.get("result") or {}).get("items", []) if not record.error else []
        record.items = len(items)
        if items:
            self.suggestion = (offset, items[0]["insertText"])

    async def retype(self, offset: int, typed: str, gaps: list[float]) -> None:
        """Delete `typed` at `offset`, then type it back key by key (accepting a suggestion that matches)."""
        self.cancel_open()
        self.edit(offset, offset + len(typed), "")
        self.schedule(offset)
        position = 0
        while position < len(typed):
            await asyncio.sleep(gaps[position])
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
        await asyncio.sleep(1.0)  # the user looks at the line before moving on; the last request may finish


def process_stats(pid: int) -> dict:
    """CPU seconds and peak RSS of a live process, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        status = Path(f"/proc/{pid}/status").read_text()
        peak_kb = re.search(r"VmHWM:\s+(\d+) kB", status)
        if peak_kb is None:
            raise ValueError(f"no VmHWM in /proc/{pid}/status")
        return {"cpu_seconds": cpu, "peak_rss_mb": int(peak_kb.group(1)) / 1024}
    except (OSError, IndexError, ValueError):
        return {"cpu_seconds": None, "peak_rss_mb": None}


@contextlib.asynccontextmanager
async def serving(model: str | None, settings: dict, log_file: Path):
    """`dgemma-lsp serve` over stdio, initialized and its model loaded: yields the client and the seconds that took.
    When the block ends the server is shut down (`shutdown`, `exit`), or killed after a failure."""
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
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        limit=1 << 24,
    )
    client = Client(process)
    try:
        _, initialized = client.request("initialize", {"processId": os.getpid(), "capabilities": CAPABILITIES})
        await initialized
        client.notify("initialized", {})
        await asyncio.wait_for(client.ready.wait(), timeout=120)
        yield client, time.perf_counter() - started
        _, shutdown = client.request("shutdown", None)
        await asyncio.wait_for(shutdown, timeout=30)
        client.notify("exit", None)
        await asyncio.wait_for(process.wait(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        client.reader.cancel()


async def replay_session(args, files: list[tuple[str, str]], settings: dict, log_file: Path) -> dict:
    async with serving(args.model, settings, log_file) as (client, ready):
        started = time.perf_counter() - ready
        replay = Replay()
        rng = random.Random(args.seed)
        first_completion = None
        for name, text in files:
            editor = Editor(client, f"file:///bench/{name}", text, args.debounce_ms / 1000, replay)
            editor.open()
            for offset, typed in typing_plan(text, args.edits, rng):
                if first_completion is None:  # the first request, right after the model is ready
                    _, future = client.request(
                        "textDocument/inlineCompletion",
                        {
                            "textDocument": {"uri": editor.uri},
                            "position": editor.position(offset),
                            "context": {"triggerKind": 2},
                        },
                    )
                    await future
                    first_completion = time.perf_counter() - started
                await editor.retype(offset, typed, key_gaps(typed, rng, args.cps))
        stats = process_stats(client.process.pid)
    return {"ready_s": ready, "first_completion_s": first_completion, "replay": replay, **stats}


def server_timings(log_text: str) -> list[dict]:
    """The server's per-request timing lines (session.complete_inline), in order."""
    rows = []
    for match in _TIMING.finditer(log_text):
        request_id, outcome, total, queue, forward, sampler, overhead = match.groups()
        row = {"request": request_id, "outcome": outcome, "total_ms": float(total)}
        if queue is not None:
            row |= {
                "queue_ms": float(queue),
                "forward_ms": float(forward),
                "sampler_ms": float(sampler),
                "overhead_ms": float(overhead),
            }
        rows.append(row)
    return rows


def summarize(result: dict, timings: list[dict], streams_closed: int | None = None) -> dict:
    """`streams_closed`: for a model on a server, the HTTP streams the server log says were closed by a cancel."""
    requests: list[Request] = result["replay"].requests
    answered = [r for r in requests if r.answered is not None]
    latencies = [(r.answered - r.sent) * 1000 for r in requests if r.answered is not None]
    filled = [t for t in timings if t["outcome"] == "filled"]
    overheads = [t["overhead_ms"] for t in filled]
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
        "keystrokes": result["replay"].keystrokes,
        "accepted": result["replay"].accepted,
        "reused": sum(t["outcome"] == "reused" for t in timings),
        "fills_completed": len(filled),
        "overhead_ms_p50": statistics.median(overheads) if overheads else None,
        "overhead_ms_p95": percentile(overheads, 95),
        "sampler_ms_p50": statistics.median(t["sampler_ms"] for t in filled) if filled else None,
        "forward_ms_p50": statistics.median(t["forward_ms"] for t in filled) if filled else None,
        "cpu_seconds": result["cpu_seconds"],
        "peak_rss_mb": result["peak_rss_mb"],
        "model_ready_s": result["ready_s"],
        "first_completion_s": result["first_completion_s"],
    }


def format_summary(s: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.0f} ms"

    share = "-" if s["answered_share"] is None else f"{s['answered_share']:.0%}"
    cancelled = "-" if s.get("cancelled_share") is None else f"{s['cancelled_share']:.0%}"
    closed = s.get("streams_closed_on_cancel")
    return "\n".join(
        [
            f"inline requests      {s['requests']} ({s['answered']} answered = {share}, {s['cancelled']} cancelled "
            f"by the client; {s['with_items']} with a suggestion, {s['reused']} reused, {s['accepted']} accepted)",
            f"latency (answered)   p50 {ms(s['latency_ms_p50'])}   p95 {ms(s['latency_ms_p95'])}   "
            f"max {ms(s['latency_ms_max'])}",
            f"cancelled in flight  {cancelled} of requests"
            + (f" ({closed} HTTP streams to the model server closed on cancel)" if closed is not None else ""),
            f"server overhead      p50 {ms(s['overhead_ms_p50'])}   p95 {ms(s['overhead_ms_p95'])}   "
            f"(per completed fill; model forwards p50 {ms(s['forward_ms_p50'])}, "
            f"sampler p50 {ms(s['sampler_ms_p50'])})",
            f"first completion     {s['first_completion_s']:.2f} s after start "
            f"(model ready at {s['model_ready_s']:.2f} s)",
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
    parser.add_argument("--cps", type=float, default=10.0, help="typing speed, characters per second")
    parser.add_argument("--debounce-ms", type=float, default=75.0, help="client-side debounce before a request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for lsp.json and lsp.png")


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    if args.edits < 1 or args.cps <= 0 or args.debounce_ms < 0:
        print("bench lsp: --edits and --cps must be positive, --debounce-ms not negative", file=sys.stderr)
        return 2
    sources = package_sources()
    fill = PACKAGE / "fill"
    files = [(path.name, path.read_text(encoding="utf-8")) for path in (fill / "pipeline.py", fill / "context.py")]
    files.append(("long_5000_lines.py", long_file(sources)))
    settings = {"completion": {"seed": 0}} | {k: v for k, v in cli_settings.items() if k != "model"}
    args.model = cli_settings.get("model")
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = args.out / "lsp-server.log"  # kept: the per-fill stage timings are in it
    log_file.unlink(missing_ok=True)
    result = asyncio.run(replay_session(args, files, settings, log_file))
    log_text = log_file.read_text(encoding="utf-8", errors="replace")
    remote = str(args.model or "").startswith(("http://", "https://"))
    timings = server_timings(log_text)
    summary = summarize(result, timings, len(_CLOSED_ON_CANCEL.findall(log_text)) if remote else None)
    print(format_summary(summary))
    requests = [r.__dict__ for r in result["replay"].requests]
    report = {
        "benchmark": "lsp",
        "machine": machine(),
        "model": args.model or "embedded",
        "settings": settings,
        "edits_per_file": args.edits,
        "cps": args.cps,
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
