"""`dgemma-lsp bench soak`: a working day of editing against the real server over stdio.

Several documents are open (files of the real-code dev split and two of the package's own modules). The
simulated user moves between them and, in a seeded mix of actions:
- retypes a code line in bursts and pauses (automatic inline requests after the client's debounce, cancelled by
  the next key, a matching suggestion accepted: `bench lsp`'s editor);
- asks for suggestions explicitly (trigger "invoked") and waits for them;
- writes a stub function and runs "Fill this function" on it: the server's `workspace/applyEdit` is applied by
  the client as an editor would (a `didChange` follows), and the function is deleted again later;
- closes a document and opens it again (no saves: the server does not ask for `didSave`, so editors send none);
- pastes a block that takes a document past `limits.maxFileBytes` (set to 150 kB here), asks there (the answer
  must be empty, not an error), and deletes the block.

Bounded by `--minutes` and `--actions`; stdio only, nothing listens on a port. Each inline request is judged as
`bench load` judges it, against the edits the client had sent when its answer arrived: answered, cancelled (empty
after a newer edit, or a cancelled request), stale (items for text the editor no longer shows), error. Every
minute the server's resident memory (VmRSS) and open file descriptors are sampled. Targets (issue "Reliability"):
0 errors, 0 stale, RSS at the end within 5% of RSS after the first 5 minutes, descriptors flat. Those two RSS
figures are taken with the server idle (the user stops for `SETTLE_S` after 5 minutes and at the end): a sample
taken mid-fill counts the fill's passing tensors (an hour's per-minute samples of one server ranged from 916 to
1,182 MB after its first minute),
and a leak is what stays.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types

from dgemma_lsp.evaluation.bench.common import DEFAULT_OUT, PACKAGE, machine, percentile, status_mb, write_json
from dgemma_lsp.evaluation.bench.load import Sent, edit_lead_ms, judge
from dgemma_lsp.evaluation.bench.lsp import Editor, Replay, inline_items, key_gaps, real_files, serving, typing_plan

MAX_FILE_BYTES = 150_000
SAMPLE_S = 60.0
SETTLE_S = 10.0  # the user's pause before an idle sample: longer than a block fill takes to finish or stop
WARM_S = 300.0  # RSS after this long is the baseline the end is compared with
# JSON-RPC codes of a request the client cancelled or whose document changed: not the server's errors.
CANCELLED_CODES = (-32800, -32801)
# No saves: the server does not ask for them (no `save` in its sync capability), so editors send no didSave.
ACTIONS = {"retype": 12, "invoke": 2, "fill function": 1, "reopen": 1, "oversize": 1}
FILL_FUNCTION = "dgemma.fillFunction"  # the server's command behind "Fill this function", as the editors call it
STUB = 'def soak_scale(values, factor):\n    """Each value multiplied by factor."""\n    pass\n'


@dataclass
class Inline:
    """An inline request as `load.judge` sees it, and which document it was for."""

    sent: Sent
    uri: str
    invoked: bool
    withdrawn: bool = False  # the client cancelled it (a key came first): whatever the server did is not shown


@dataclass
class Soak:
    requests: list[Inline] = field(default_factory=list)
    changes: dict[str, list[tuple[float, int]]] = field(default_factory=dict)  # uri -> (time sent, version)
    samples: list[dict] = field(default_factory=list)  # each minute: elapsed s, RSS MB, open descriptors
    idle: list[dict] = field(default_factory=list)  # the same, with the server idle: after 5 minutes, at the end
    actions: dict[str, int] = field(default_factory=dict)
    fills_asked: int = 0
    applied_edits: int = 0
    oversize_answers: list[int] = field(default_factory=list)  # items answered past maxFileBytes (0 each)


class SoakEditor(Editor):
    """`bench lsp`'s editor, recording every edit's version and every inline request for the judge."""

    def __init__(self, client, uri: str, text: str, debounce: float, replay: Replay, soak: Soak) -> None:
        super().__init__(client, uri, text, debounce, replay)
        self.soak = soak
        soak.changes.setdefault(uri, [])

    def open(self, language: str = "python") -> None:
        super().open(language)
        self.soak.changes[self.uri].append((time.perf_counter(), self.version))

    def edit(self, start: int, end: int, new: str) -> None:
        super().edit(start, end, new)
        self.soak.changes[self.uri].append((time.perf_counter(), self.version))

    def inline_request(self, offset: int, invoked: bool = False):
        trigger = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=self.position(offset),
            context=types.InlineCompletionContext(trigger_kind=trigger),
        )
        sent = Sent(phase=0, version=self.version, sent=time.perf_counter())
        inline = Inline(sent, self.uri, invoked)
        self.soak.requests.append(inline)
        request_id, answer = self.client.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)

        def arrived(future: asyncio.Future) -> None:
            if future.cancelled():  # the editor's debounce task stopped waiting: the user typed on
                inline.withdrawn = True
                return
            reply = future.result()
            sent.arrived = reply.arrived
            code = getattr(reply.error, "code", None)
            sent.error = reply.error is not None and code not in CANCELLED_CODES
            sent.items = 0 if reply.error is not None else len(inline_items(reply.result))

        answer.add_done_callback(arrived)
        return request_id, answer

    def offset_of(self, position: types.Position) -> int:
        """The offset of an LSP position (UTF-16 columns) in the editor's text."""
        start = 0
        for _ in range(position.line):
            start = self.text.index("\n", start) + 1
        line_end = self.text.find("\n", start)
        line = self.text[start : len(self.text) if line_end < 0 else line_end]
        units = 0
        for index, char in enumerate(line):
            if units >= position.character:
                return start + index
            units += len(char.encode("utf-16-le")) // 2
        return start + len(line)

    def apply(self, edit: types.TextDocumentEdit) -> bool:
        """Apply the server's edit as an editor does: only to the version it was made for."""
        plain = [change for change in edit.edits if isinstance(change, types.TextEdit)]  # no snippets from this server
        if edit.text_document.version not in (None, self.version) or len(plain) != len(edit.edits):
            return False
        for change in sorted(plain, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
            self.edit(self.offset_of(change.range.start), self.offset_of(change.range.end), change.new_text)
        return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=60.0, help="how long the day lasts (default 60)")
    parser.add_argument("--actions", type=int, default=100_000, help="at most this many actions")
    parser.add_argument("--documents", type=int, default=4, help="real-code dev files open besides the package's two")
    parser.add_argument("--burst-cps", type=float, nargs=2, default=(6.0, 12.0), help="typing speed, keys per second")
    parser.add_argument("--pause-s", type=float, nargs=2, default=(0.3, 3.0), help="pause between bursts, seconds")
    parser.add_argument("--debounce-ms", type=float, default=75.0, help="client-side debounce before a request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for soak.json and the server's log")


def sample(pid: int, started: float) -> dict:
    return {"s": time.perf_counter() - started, "rss_mb": status_mb(pid, "VmRSS"), "fds": fds(pid)}


async def settled_sample(editors: list, pid: int, started: float, pause: float) -> dict:
    """The server's RSS and descriptors once the user has stopped (nothing open) for `pause` seconds."""
    for editor in editors:
        editor.cancel_open()
    await asyncio.sleep(pause)
    return sample(pid, started)


async def sample_forever(pid: int, soak: Soak, started: float) -> None:
    while True:
        soak.samples.append(sample(pid, started))
        await asyncio.sleep(SAMPLE_S)


def fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def working_day(args, files: list[tuple[str, str]], settings: dict, log_file: Path) -> Soak:
    soak, replay, rng = Soak(), Replay(), random.Random(args.seed)
    async with serving(args.model, settings, log_file) as client:
        editors = [
            SoakEditor(client, f"file:///soak/{name}", text, args.debounce_ms / 1000, replay, soak)
            for name, text in files
        ]
        by_uri = {editor.uri: editor for editor in editors}

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            changes = params.edit.document_changes or []
            edits = [change for change in changes if isinstance(change, types.TextDocumentEdit)]
            applied = len(edits) == len(changes) > 0
            for edit in edits:
                editor = by_uri.get(edit.text_document.uri)
                applied = applied and editor is not None and editor.apply(edit)
            soak.applied_edits += applied
            return types.ApplyWorkspaceEditResult(applied=applied)

        for editor in editors:
            editor.open()
        started = time.perf_counter()
        sampler = asyncio.create_task(sample_forever(client.process.pid, soak, started))
        deadline = started + args.minutes * 60
        pause = min(SETTLE_S, args.minutes * 6)  # a tenth of a short day
        names, weights = list(ACTIONS), list(ACTIONS.values())
        try:
            for _ in range(args.actions):
                if time.perf_counter() >= deadline:
                    break
                if not soak.idle and time.perf_counter() - started >= WARM_S:
                    soak.idle.append(await settled_sample(editors, client.process.pid, started, pause))
                editor = rng.choice(editors)
                action = rng.choices(names, weights)[0]
                soak.actions[action] = soak.actions.get(action, 0) + 1
                await ACT[action](editor, client, rng, args, soak)
        finally:
            sampler.cancel()
        soak.idle.append(await settled_sample(editors, client.process.pid, started, pause))
        soak.samples.append(
            {
                "s": time.perf_counter() - started,
                "rss_mb": status_mb(client.process.pid, "VmRSS"),
                "fds": fds(client.process.pid),
            }
        )
    return soak


async def retype(editor: SoakEditor, client, rng: random.Random, args, soak: Soak) -> None:
    spots = typing_plan(editor.text, 1, rng)
    if spots:
        offset, typed = spots[0]
        await editor.retype(offset, typed, key_gaps(typed, rng, args.burst_cps, args.pause_s))
        editor.cancel_open()


async def invoke(editor: SoakEditor, client, rng: random.Random, args, soak: Soak) -> None:
    spots = typing_plan(editor.text, 1, rng)
    if spots:
        _, answer = editor.inline_request(spots[0][0] + len(spots[0][1]), invoked=True)
        await answer


async def fill_function(editor: SoakEditor, client, rng: random.Random, args, soak: Soak) -> None:
    """Write a stub at the end, fill it through the code action, read it, delete the function again."""
    start = len(editor.text) + (0 if editor.text.endswith("\n") else 1)
    editor.edit(len(editor.text), len(editor.text), ("" if editor.text.endswith("\n") else "\n") + "\n" + STUB)
    body = editor.position(len(editor.text) - len("    pass\n") + 4)
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=editor.uri),
        range=types.Range(start=body, end=body),
        context=types.CodeActionContext(diagnostics=[]),
    )
    _, answer = client.request(types.TEXT_DOCUMENT_CODE_ACTION, params)
    if (await answer).result:  # the user picks "Fill this function" (pygls' client cannot type the union it gets)
        command = types.ExecuteCommandParams(command=FILL_FUNCTION, arguments=[editor.uri, body])
        _, done = client.request(types.WORKSPACE_EXECUTE_COMMAND, command)
        await done
        soak.fills_asked += 1
    await asyncio.sleep(rng.uniform(*args.pause_s))
    editor.edit(start, len(editor.text), "")


async def reopen(editor: SoakEditor, client, rng: random.Random, args, soak: Soak) -> None:
    editor.cancel_open()
    document = types.TextDocumentIdentifier(uri=editor.uri)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=document))
    await asyncio.sleep(rng.uniform(*args.pause_s))
    editor.version += 1  # a reopened document starts from a version of its own; keep them increasing
    editor.open()


async def oversize(editor: SoakEditor, client, rng: random.Random, args, soak: Soak) -> None:
    """Paste a block that takes the document past maxFileBytes, ask there, delete the block."""
    editor.cancel_open()
    end = len(editor.text)
    filler = "# pasted log line, kept for the record\n" * (MAX_FILE_BYTES // 38 + 1)
    editor.edit(end, end, filler)
    _, answer = editor.inline_request(end + len(filler), invoked=True)
    reply = await answer
    soak.oversize_answers.append(0 if reply.error is not None else len(inline_items(reply.result)))
    editor.edit(end, len(editor.text), "")


ACT = {
    "retype": retype,
    "invoke": invoke,
    "fill function": fill_function,
    "reopen": reopen,
    "oversize": oversize,
}


def summarize(soak: Soak) -> dict:
    outcomes = {"answered": 0, "cancelled": 0, "stale": 0, "error": 0, "unanswered": 0}
    stale_leads = []
    by_hour: dict[int, list[float]] = {}
    first = soak.samples[0]["s"] if soak.samples else 0.0
    start = min((r.sent.sent for r in soak.requests), default=0.0)
    last_hour = max(0, math.ceil((soak.samples[-1]["s"] - first) / 3600) - 1) if soak.samples else 0
    for request in soak.requests:
        outcome = "cancelled" if request.withdrawn else judge(request.sent, soak.changes[request.uri])
        outcomes[outcome] += 1
        if outcome == "stale":
            stale_leads.append(edit_lead_ms(request.sent, soak.changes[request.uri]))
        if outcome == "answered" and request.sent.arrived is not None:
            hour = min(int((request.sent.sent - start) // 3600), last_hour)  # a request at 60:00 is the first hour's
            by_hour.setdefault(hour, []).append((request.sent.arrived - request.sent.sent) * 1000)
    rss = [s for s in soak.samples if s["rss_mb"] is not None]
    idle = [s for s in soak.idle if s["rss_mb"] is not None]
    warm: dict | None
    end: dict | None
    if len(idle) >= 2:  # the server idle after 5 minutes and at the end
        warm, end = idle[0], idle[-1]
    else:  # a day shorter than 5 minutes: the first and last samples
        warm = next((s for s in rss if s["s"] - first >= WARM_S), rss[0] if rss else None)
        end = rss[-1] if rss else None
    return {
        "requests": len(soak.requests),
        "outcomes": outcomes,
        "stale_edit_lead_ms": stale_leads,
        "latency_ms_by_hour": {
            hour: {"n": len(ms), "p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms)}
            for hour, ms in sorted(by_hour.items())
        },
        "actions": soak.actions,
        "fills_asked": soak.fills_asked,
        "applied_edits": soak.applied_edits,
        "oversize_items": soak.oversize_answers,
        "rss_warm_mb": warm["rss_mb"] if warm else None,
        "rss_end_mb": end["rss_mb"] if end else None,
        "rss_growth": (end["rss_mb"] / warm["rss_mb"] - 1) if warm and end else None,
        "fds": sorted({s["fds"] for s in soak.samples if s["fds"] is not None}),
        "rss_range_mb": [min(s["rss_mb"] for s in rss), max(s["rss_mb"] for s in rss)] if rss else None,
        "minutes": (soak.samples[-1]["s"] - first) / 60 if soak.samples else 0.0,
    }


def format_summary(s: dict) -> str:
    growth = f"{s['rss_growth']:+.1%}" if s["rss_growth"] is not None else "-"
    lines = [
        f"soak: {s['minutes']:.1f} min, {s['requests']} inline requests, actions {s['actions']}",
        "outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcomes"].items()),
        f"Fill this function: {s['fills_asked']} asked, {s['applied_edits']} edits applied; answers past "
        f"maxFileBytes with items: {sum(s['oversize_items'])} of {len(s['oversize_items'])}",
        f"RSS (server idle) after {WARM_S / 60:.0f} min {s['rss_warm_mb']} MB, at the end {s['rss_end_mb']} MB "
        f"({growth}); per minute {s['rss_range_mb']} MB; open descriptors seen: {s['fds']}",
    ]
    for hour, row in s["latency_ms_by_hour"].items():
        lines.append(f"hour {hour + 1}: {row['n']} answered, p50 {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms")
    return "\n".join(lines)


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    if args.minutes <= 0 or args.actions < 1 or args.documents < 0:
        print("bench soak: --minutes and --actions must be positive, --documents not negative", file=sys.stderr)
        return 2
    files = real_files(args.documents, random.Random(args.seed)) if args.documents else []
    for module in ("fill/pipeline.py", "lsp/session.py"):
        files.append((module.replace("/", "_"), (PACKAGE / module).read_text(encoding="utf-8")))
    settings = {"completion": {"seed": 0}, "limits": {"maxFileBytes": MAX_FILE_BYTES}}
    settings |= {k: v for k, v in cli_settings.items() if k != "model"}
    args.model = cli_settings.get("model")
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = args.out / "soak-server.log"
    log_file.unlink(missing_ok=True)
    soak = asyncio.run(working_day(args, files, settings, log_file))
    summary = summarize(soak)
    print(format_summary(summary))
    report = {
        "benchmark": "soak",
        "machine": machine(),
        "model": args.model or "embedded",
        "settings": settings,
        "minutes_asked": args.minutes,
        "seed": args.seed,
        "files": [name for name, _ in files],
        "summary": summary,
        "samples": soak.samples,
        "idle_samples": soak.idle,
        "requests": [{"uri": r.uri, "invoked": r.invoked, **r.sent.__dict__} for r in soak.requests],
    }
    write_json(args.out / "soak.json", report)
    print(f"wrote {args.out / 'soak.json'}")
    bad = summary["outcomes"]["error"] or summary["outcomes"]["stale"]
    return 1 if bad else 0
