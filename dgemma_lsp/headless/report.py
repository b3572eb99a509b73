"""What `dgemma-lsp fill` reports: per hole and per file results, the JSON report, the lines on stderr, and the
exit status (0 done; 1 holes remain or could not be filled; 2 usage or input errors; 130 interrupted)."""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dgemma_lsp.headless import targets

EXIT_DONE, EXIT_HOLES_LEFT, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class FillOptions:
    paths: list[str]
    mode: str = "diff"
    positions: dict[Path, list[targets.Position]] = field(default_factory=dict)  # --at, by resolved path
    functions: list[str] = field(default_factory=list)  # --function
    candidates: int | None = None  # None: 1, or completion.invokedCandidates with --verify
    verify: str | None = None
    verify_timeout: float | None = None
    json: bool = False


@dataclass
class HoleResult:
    kind: str  # "stub", "todo", "at", "function"
    name: str | None
    start: tuple[int, int]  # 1-based (line, column) in the file as read
    end: tuple[int, int]
    status: str  # "found" (check), "filled", "empty", "rejected", "verify-failed", "nothing-to-fill", "model-error"
    fill: str | None = None
    candidates_tried: int = 0
    detail: str = ""  # why the hole was left: the last candidate's reason
    rejected: list[dict] = field(default_factory=list)  # each candidate not kept: {"fill", "reason"}
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass
class FileResult:
    path: str
    language: str
    status: str  # "unchanged", "filled", "written", "changed-on-disk", "checked"
    holes: list[HoleResult] = field(default_factory=list)
    diff: str = ""
    note: str = ""


class Report:
    """Collects results; prints the diff or the JSON on stdout and one line per file on stderr; the exit status."""

    def __init__(self, options: FillOptions) -> None:
        self.options = options
        self.files: list[FileResult] = []
        self.skipped: list[dict] = []
        self.errors: list[str] = []
        self.failed = False  # an input error: exit 2

    def say(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def error(self, message: str) -> None:
        self.failed = True
        self.errors.append(message)
        self.say(message)

    def skip(self, path: Path, reason: str, *, explicit: bool) -> None:
        self.skipped.append({"path": str(path), "reason": reason})
        if explicit:
            self.error(f"{path}: cannot fill ({reason})")
        elif reason != "unknown language":  # a tree is full of READMEs; only odd files are worth a line
            self.say(f"{path}: skipped ({reason})")

    def add(self, result: FileResult) -> None:
        self.files.append(result)
        if not self.options.json and self.options.mode == "diff":
            sys.stdout.write(result.diff)
            sys.stdout.flush()
        self.say(_file_line(result))

    def exit_code(self) -> int:
        if self.failed:
            return EXIT_USAGE
        holes = [hole for f in self.files for hole in f.holes]
        if self.options.mode == "check":
            return EXIT_HOLES_LEFT if any(h.status == "found" for h in holes) else EXIT_DONE
        unfilled = any(h.status != "filled" for h in holes) or any(f.status == "changed-on-disk" for f in self.files)
        return EXIT_HOLES_LEFT if unfilled else EXIT_DONE

    def finish(self, files_seen: int = 0) -> int:
        code = self.exit_code()
        if self.options.json:
            print(json.dumps(self.as_json(code), indent=1, ensure_ascii=False))
        holes = [h for f in self.files for h in f.holes]
        counts = ", ".join(f"{n} {status}" for status, n in _count(h.status for h in holes).items())
        summary = f"{self.options.mode}: {len(holes)} hole(s) in {files_seen} file(s)"
        self.say(summary + (f" ({counts})" if counts else ""))
        return code

    def as_json(self, code: int) -> dict:
        files = [dataclasses.asdict(f) for f in self.files]
        for f in files:
            if self.options.mode != "diff":
                f.pop("diff")
            for hole in f["holes"]:
                hole["range"] = {"start": _point(hole.pop("start")), "end": _point(hole.pop("end"))}
        holes = [h for f in self.files for h in f.holes]
        counts = _count(h.status for h in holes)
        return {
            "mode": self.options.mode,
            "verify": self.options.verify,
            "exit_code": code,
            "summary": {"files": len(self.files), "holes": len(holes), "by_status": counts},
            "files": files,
            "skipped": self.skipped,
            "errors": self.errors,
        }


def _count(statuses) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def _point(line_column) -> dict:
    line, column = line_column
    return {"line": line, "column": column}


def _file_line(result: FileResult) -> str:
    filled = sum(h.status == "filled" for h in result.holes)
    if result.status == "checked":
        return f"{result.path}: {len(result.holes)} hole(s): " + ", ".join(
            f"{h.kind} {h.name or ''} at {h.start[0]}:{h.start[1]}".replace("  ", " ") for h in result.holes
        )
    line = f"{result.path}: {filled}/{len(result.holes)} hole(s) filled"
    problems = [
        f"{h.start[0]}:{h.start[1]} {h.status}" + (f" ({h.detail})" if h.detail else "")
        for h in result.holes
        if h.status != "filled"
    ]
    if problems:
        line += "; " + "; ".join(problems)
    if result.status == "written":
        line += "; written"
    if result.note:
        line += f"; {result.note}"
    return line
