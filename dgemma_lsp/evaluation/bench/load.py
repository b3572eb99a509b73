"""`dgemma-lsp bench load`: the real server over stdio under a steady stream of keystrokes, each a `didChange`
followed at once by an inline completion request, with no client-side debounce or cancellation: by default 300
requests at 20/s, then 100 at 3/s. The simulated user retypes code lines of a real file (the package's
`pipeline.py`), one character per request.

Each request is judged when its answer arrives, against the latest `didChange` the client had sent by then:
- answered: the document is still at the request's version (with a suggestion, or empty);
- cancelled: an edit came first, and the answer is empty (the server stopped or dropped the superseded fill);
- stale: an edit came first, yet the answer has items, computed for text the editor no longer shows (target 0).
  The server cannot know of an edit still on its way to it: an answer it sent just before the edit reached it is
  stale too. So for each stale answer the report gives how long before its arrival the newer edit was sent (a
  millisecond or two is that race; a server that answered for old text would show anything up to the latency);
- error: an error response; unanswered: no answer within ANSWER_TIMEOUT_S after the phase's last request.

Also reported: latency from request to response (p50 / p95), the server's resident memory (VmRSS) after a
warm-up request and after the load (its growth shows memory held per request; target at most 10%), and how the
server says it ended each inline request (its `dgemma/timings` notifications), which cross-checks "cancelled".
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dgemma_lsp.evaluation.bench.common import DEFAULT_OUT, PACKAGE, machine, percentile, status_mb, write_json
from dgemma_lsp.evaluation.bench.lsp import Editor, Replay, inline_items, serving, typing_plan

PHASES = "300@20,100@3"  # requests@per second, one phase after the other
ANSWER_TIMEOUT_S = 300.0
OUTCOMES = ("answered", "cancelled", "stale", "error", "unanswered")
# The server's outcomes for a fill it gave no answer for: stopped by a newer request or an edit, its answer dropped
# because the document changed meanwhile, or cancelled by the client (which this benchmark never does).
SERVER_STOPPED = ("superseded", "dropped", "cancelled")


@dataclass
class Sent:
    phase: int
    version: int  # the document version the request was made in
    sent: float
    arrived: float | None = None
    items: int = 0
    error: bool = False
    outcome: str = "unanswered"
    edit_lead_ms: float | None = None  # for a stale answer: how long before it arrived the newer didChange was sent


def parse_phases(text: str) -> list[tuple[int, float]] | None:
    """Phases from "300@20,100@3": [(300, 20.0), (100, 3.0)]; None unless every count and rate is positive."""
    try:
        phases = [(int(count), float(rate)) for count, rate in (part.split("@") for part in text.split(","))]
    except ValueError:
        return None
    return phases if phases and all(count > 0 and rate > 0 for count, rate in phases) else None


def judge(request: Sent, changes: list[tuple[float, int]]) -> str:
    """The request's outcome; `changes` holds (time sent, version) of every didChange (and the didOpen), in order."""
    if request.arrived is None:
        return "unanswered"
    if request.error:
        return "error"
    latest = changes[bisect.bisect_left(changes, (request.arrived,)) - 1][1]  # the last one sent before the answer
    if latest <= request.version:
        return "answered"
    return "stale" if request.items else "cancelled"


def edit_lead_ms(request: Sent, changes: list[tuple[float, int]]) -> float:
    """How long before `request` was answered the first didChange past its version was sent."""
    assert request.arrived is not None  # only an answered request is stale
    sent = next(time_sent for time_sent, version in changes if version > request.version)
    return (request.arrived - sent) * 1000


class Typist:
    """Types into one document, one character per keystroke, retyping code lines picked at random."""

    def __init__(self, editor: Editor, rng: random.Random) -> None:
        self.editor, self.rng = editor, rng
        self.changes: list[tuple[float, int]] = [(time.perf_counter(), editor.version)]
        self.requests: list[Sent] = []
        self.cursor, self.rest = 0, ""

    def keystroke(self) -> None:
        """A didChange typing the next character (deleting the rest of a new line first, when one begins)."""
        if not self.rest:
            ((self.cursor, self.rest),) = typing_plan(self.editor.text, 1, self.rng)
            self._edit(self.cursor, self.cursor + len(self.rest), "")
        self._edit(self.cursor, self.cursor, self.rest[0])
        self.cursor, self.rest = self.cursor + 1, self.rest[1:]

    def _edit(self, start: int, end: int, new: str) -> None:
        self.editor.edit(start, end, new)
        self.changes.append((time.perf_counter(), self.editor.version))

    async def request(self, phase: int) -> Sent:
        """An automatic inline completion request at the cursor; returns once it is answered."""
        record = Sent(phase, self.editor.version, time.perf_counter())
        self.requests.append(record)
        _, answer = self.editor.inline_request(self.cursor)
        reply = await answer
        record.arrived, record.error = reply.arrived, reply.error is not None
        record.items = len(inline_items(reply.result))
        return record

    async def phase(self, index: int, count: int, rate: float) -> None:
        """`count` keystrokes at `rate` per second, on a fixed clock (a slow answer delays nothing), each followed
        by a request; then wait for the answers."""
        started, pending = time.perf_counter(), []
        for i in range(count):
            await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
            # The loop ran this wake-up before reading an answer that came in the same turn; one more turn reads
            # it first, so its arrival is not stamped after a keystroke that followed it.
            await asyncio.sleep(0)
            self.keystroke()
            pending.append(asyncio.create_task(self.request(index)))
        _, late = await asyncio.wait(pending, timeout=ANSWER_TIMEOUT_S)
        for task in late:
            task.cancel()


async def load_session(
    phases: list[tuple[int, float]], settings: dict, log_file: Path, model: str | None, seed: int
) -> dict:
    async with serving(model, settings, log_file) as client:
        editor = Editor(
            client,
            "file:///bench/pipeline.py",
            (PACKAGE / "fill" / "pipeline.py").read_text(encoding="utf-8"),
            0.0,
            Replay(),
        )
        editor.open()
        typist = Typist(editor, random.Random(seed))
        typist.keystroke()  # warm-up: the first fill allocates what later ones reuse; not counted
        await typist.request(-1)
        typist.requests.clear()
        rss_before = status_mb(client.process.pid, "VmRSS")
        for index, (count, rate) in enumerate(phases):
            await typist.phase(index, count, rate)
        rss_after = status_mb(client.process.pid, "VmRSS")
    for request in typist.requests:
        request.outcome = judge(request, typist.changes)
        if request.outcome == "stale":
            request.edit_lead_ms = edit_lead_ms(request, typist.changes)
    return {
        "ready_s": client.ready_s,
        "requests": typist.requests,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "timings": client.timings,
    }


def tally(requests: list[Sent]) -> dict:
    """Outcome counts (they add up to the requests) and latency from request to response."""
    latencies = [(r.arrived - r.sent) * 1000 for r in requests if r.arrived is not None]
    counts = {outcome: sum(r.outcome == outcome for r in requests) for outcome in OUTCOMES}
    return {
        "requests": len(requests),
        **counts,
        "with_suggestion": sum(r.outcome == "answered" and r.items > 0 for r in requests),
        "stale_edit_lead_ms": [
            round(r.edit_lead_ms, 2) for r in requests if r.outcome == "stale" and r.edit_lead_ms is not None
        ],
        "latency_ms_p50": statistics.median(latencies) if latencies else None,
        "latency_ms_p95": percentile(latencies, 95),
    }


def summarize(result: dict, phases: list[tuple[int, float]]) -> dict:
    requests: list[Sent] = result["requests"]
    before, after = result["rss_before_mb"], result["rss_after_mb"]
    outcomes = collections.Counter(timings["outcome"] for timings in result["timings"])
    return {
        "phases": [
            {"rate_per_s": rate, **tally([r for r in requests if r.phase == index])}
            for index, (_, rate) in enumerate(phases)
        ],
        "total": tally(requests),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_growth": (after - before) / before if before and after else None,
        # From the server's notifications: how it ended each inline request (cross-checks "cancelled").
        "server": {
            "filled": outcomes["filled"],
            "reused": outcomes["reused"],
            "no_hole": outcomes["no hole"],
            "cancelled": sum(outcomes[outcome] for outcome in SERVER_STOPPED),
        },
        "model_ready_s": result["ready_s"],
    }


def format_summary(s: dict) -> str:
    def ms(value):
        return "-" if value is None else f"{value:.0f} ms"

    def line(label: str, t: dict) -> str:
        leads = ", ".join(f"{lead:g}" for lead in t["stale_edit_lead_ms"])
        stale = f"{t['stale']} stale" + (f" (edited {leads} ms before the answer came)" if leads else "")
        return (
            f"{label:<18}{t['requests']:>4} requests: {t['answered']} answered ({t['with_suggestion']} with a "
            f"suggestion), {t['cancelled']} cancelled, {stale}, {t['error']} errors, "
            f"{t['unanswered']} unanswered; latency p50 {ms(t['latency_ms_p50'])}, p95 {ms(t['latency_ms_p95'])}"
        )

    lines = [line(f"phase {i + 1} ({p['rate_per_s']:g}/s)", p) for i, p in enumerate(s["phases"])]
    lines.append(line("total", s["total"]))
    growth = "-" if s["rss_growth"] is None else f"{s['rss_growth']:+.1%}"
    before, after = (("-" if v is None else f"{v:.0f} MB") for v in (s["rss_before_mb"], s["rss_after_mb"]))
    lines.append(f"server RSS        {before} before, {after} after ({growth}; target at most +10%)")
    server = s["server"]
    lines.append(
        f"server reports    {server['filled']} filled, {server['reused']} reused, {server['no_hole']} no hole, "
        f"{server['cancelled']} fills cancelled or dropped"
    )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phases", default=PHASES, help=f"requests@per second, comma-separated (default {PHASES})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for load.json")


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    phases = parse_phases(args.phases)
    if phases is None:
        print(f"bench load: --phases wants COUNT@RATE,... with positive numbers, not {args.phases!r}", file=sys.stderr)
        return 2
    settings = {"completion": {"seed": 0}} | {k: v for k, v in cli_settings.items() if k != "model"}
    model = cli_settings.get("model")
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = args.out / "load-server.log"  # for people: what the server did, request by request
    log_file.unlink(missing_ok=True)
    result = asyncio.run(load_session(phases, settings, log_file, model, args.seed))
    summary = summarize(result, phases)
    print(format_summary(summary))
    report = {
        "benchmark": "load",
        "machine": machine(),
        "model": model or "embedded",
        "settings": settings,
        "phases": [{"requests": count, "rate_per_s": rate} for count, rate in phases],
        "seed": args.seed,
        "summary": summary,
        "requests": [r.__dict__ for r in result["requests"]],
    }
    write_json(args.out / "load.json", report)
    print(f"wrote {args.out / 'load.json'}")
    return 0
