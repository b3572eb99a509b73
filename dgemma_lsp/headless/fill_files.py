"""`dgemma-lsp fill`: fill holes in files or trees without an editor, for scripts and CI.

Files come from `walk`, holes from `targets` (stubs and TODO markers, or `--at` / `--function`), fills from the
server's own pipeline (`Filler.fill`). Every fill is checked before it is kept: the file must parse no worse than
before (tree-sitter), Python must still compile, a cheap linter must find nothing new in it (`lint.py`: pyflakes
for Python), and a stub's or function's fill must not leave it a stub (`todo!()` written back). Later holes are
filled first, so earlier offsets hold. The report says why each candidate was not kept.

Modes: `diff` prints a unified diff and changes nothing; `write` rewrites files atomically, never one that changed
on disk since it was read; `check` only looks for holes (no model) and fails when there are any. `--verify CMD`
keeps a fill only when CMD passes with it in place (`verify.py`). `--json` prints a report instead of text.

Exit status: 0 done; 1 holes remain (`check`) or some could not be filled; 2 usage or input errors; 130
interrupted.
"""

from __future__ import annotations

import contextlib
import difflib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from dgemma_lsp.diffusion.base_model import terminal_progress
from dgemma_lsp.errors import DgemmaError, InvalidPositionError, RemoteError
from dgemma_lsp.fill import loader
from dgemma_lsp.fill.holes import FillKind
from dgemma_lsp.fill.ranking import leaves_stub
from dgemma_lsp.fill.related import Workspace
from dgemma_lsp.fill.remote import RemoteFiller
from dgemma_lsp.headless import targets
from dgemma_lsp.headless.atomic import ChangedOnDiskError, read_snapshot, write_if_unchanged
from dgemma_lsp.headless.report import EXIT_INTERRUPTED, EXIT_USAGE, FileResult, FillOptions, HoleResult, Report
from dgemma_lsp.headless.verify import FileTrial, Verifier, backup_path, interrupts_unwind, restore_interrupted
from dgemma_lsp.settings import Settings, parse_settings
from dgemma_lsp.text import lint, sources, syntax

# ---- checking and filling one file -------------------------------------------------------------------------------


def syntax_problem(before: str, after: str, language: str) -> str | None:
    """Why `after` (the file with a fill) is worse than `before`, None when it is not: more tree-sitter errors, or
    Python that no longer compiles."""
    if syntax.error_count(after, language) > syntax.error_count(before, language):
        return "the file would not parse"
    if language == "python" and syntax.python_compiles(before) and not syntax.python_compiles(after):
        return "the file would not compile"
    return None


def fill_file(
    filler,
    text: str,
    language: str,
    found: list[targets.Target],
    *,
    candidates: int = 1,
    accept: Callable[[str], tuple[bool, str]] | None = None,
    on_hole: Callable[[HoleResult], None] = lambda result: None,
    workspace: Workspace | None = None,
) -> tuple[str, list[HoleResult]]:
    """`text` with its holes filled, and what happened at each (in source order).

    For each hole the pipeline makes up to `candidates` fills; the first that keeps the file parsing, adds nothing
    the linter flags, and that `accept` (the --verify command) passes is kept. `workspace`: the other files the
    prompt may draw definitions from.
    """
    current, results = text, []
    for target in sorted(found, key=lambda t: t.hole.start, reverse=True):
        result = _result_for(text, target)
        if target.hole.kind is FillKind.NONE:
            result.status = "nothing-to-fill"
        else:
            started = time.perf_counter()
            try:
                outcome = filler.fill(current, target.hole, language, candidates=candidates, workspace=workspace)
            except RemoteError as error:  # a model server that failed this hole (down, timed out): the next may work
                result.status, result.detail = "model-error", str(error)
                results.append(result)
                on_hole(result)
                continue
            result.timings_ms = {stage: round(s * 1000, 1) for stage, s in outcome.timings.items()}
            result.status = "filled" if outcome.fills else "empty"
            for fill in outcome.fills:
                candidate = current[: fill.start] + fill.text + current[fill.end :]
                result.candidates_tried += 1
                problem = syntax_problem(current, candidate, language)
                problem, status = problem or lint.added_problem(current, candidate, language), "rejected"
                if problem is None and target.kind != "at" and leaves_stub(fill, current, language):
                    problem = "the fill leaves the function a stub"
                if problem is None and accept is not None:
                    passed, tail = accept(candidate)
                    problem = None if passed else "--verify failed" + (f": {tail[-200:]}" if tail else "")
                    status = "verify-failed"
                if problem is None:
                    current, result.status, result.fill, result.detail = candidate, "filled", fill.text, ""
                    break
                result.status, result.detail = status, problem
                result.rejected.append({"fill": fill.text, "reason": problem})
            result.timings_ms["all"] = round((time.perf_counter() - started) * 1000, 1)
        results.append(result)
        on_hole(result)
    return current, results[::-1]


def _result_for(text: str, target: targets.Target) -> HoleResult:
    start = targets.line_column(text, target.hole.start)
    end = targets.line_column(text, target.hole.end)
    return HoleResult(target.kind, target.name, start, end, "found")


def unified_diff(path: str, old: str, new: str) -> str:
    """A unified diff that `patch` and `git apply` take, a missing final newline marked as git marks it."""
    lines = []
    for line in difflib.unified_diff(_lines(old), _lines(new), f"a/{path}", f"b/{path}"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _lines(text: str) -> list[str]:
    """Lines split at "\n" only, as `patch` reads them (`str.splitlines` also splits at U+2028, form feeds, ...)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


# ---- the command -------------------------------------------------------------------------------------------------


def run_fill(options: FillOptions, cli_settings: dict) -> int:
    settings = parse_settings(cli_settings)
    report = Report(options)
    named = list(options.paths)
    found = sources.walk(named, settings.limits.max_file_bytes, settings.exclude)
    for missing in found.missing:
        report.error(f"{missing}: no such file or folder")
    explicit = {Path(p).resolve() for p in named if Path(p).is_file()}
    for skipped in found.skipped:
        report.skip(skipped.path, skipped.reason, explicit=skipped.path.resolve() in explicit)

    plans = []  # (SourceFile, Snapshot, [Target])
    defaults = not options.positions and not options.functions
    for source in found.files:
        if options.mode != "check":
            note = restore_interrupted(source.path)
            if note:
                report.say(f"{source.path}: {note}")
        elif backup_path(source.path).exists():
            report.say(f"{source.path}: a killed --verify run left a journal; a run without --check restores it")
        try:
            snapshot = read_snapshot(source.path)
        except (OSError, UnicodeDecodeError) as error:
            reason = "not UTF-8" if isinstance(error, UnicodeDecodeError) else f"unreadable ({error})"
            report.skip(source.path, reason, explicit=source.path.resolve() in explicit)
            continue
        try:
            holes = targets.find_targets(
                snapshot.text,
                source.language,
                positions=options.positions.get(source.path.resolve(), []),
                functions=options.functions,
                defaults=defaults,
            )
        except InvalidPositionError as error:
            report.error(f"{source.path}: {error}")
            continue
        plans.append((source, snapshot, holes))

    if options.mode == "check" or report.failed or not any(holes for _, _, holes in plans):
        for source, snapshot, holes in plans:
            if holes:
                result = FileResult(str(source.path), source.language, "checked")
                result.holes = [_result_for(snapshot.text, t) for t in holes]
                for hole, target in zip(result.holes, holes):
                    if target.hole.kind is FillKind.NONE:
                        hole.status = "nothing-to-fill"
                report.add(result)
        return report.finish(len(plans))

    filler = filler_or_none(settings, report.error)
    if filler is None:
        return report.finish(len(plans))
    n = options.candidates or (settings.completion.invoked_candidates if options.verify else 1)
    verifier = Verifier(options.verify, options.verify_timeout, Path.cwd()) if options.verify else None
    progress = _Progress(sum(len(holes) for _, _, holes in plans))
    texts = {str(source.path.resolve()): (source.language, snapshot.text) for source, snapshot, _ in plans}
    try:
        with interrupts_unwind() if verifier else contextlib.nullcontext():
            for source, snapshot, holes in plans:
                if holes:
                    path = str(source.path.resolve())
                    files = {p: text for p, (language, text) in texts.items() if language == source.language}
                    workspace = Workspace(path, files)
                    report.add(
                        _fill_one(filler, source, snapshot, holes, n, verifier, options.mode, progress, workspace)
                    )
    finally:
        progress.close()
    return report.finish(len(plans))


def _fill_one(filler, source, snapshot, holes, n, verifier, mode, progress, workspace=None) -> FileResult:
    path, language = str(source.path), source.language
    result = FileResult(path, language, "unchanged")
    try:
        if verifier is None:
            filled, result.holes = fill_file(
                filler, snapshot.text, language, holes, candidates=n, on_hole=progress.step, workspace=workspace
            )
        else:
            with FileTrial(snapshot) as trial:

                def accept(text: str) -> tuple[bool, str]:
                    run = verifier.attempt(trial, text)
                    return run.passed, run.tail

                filled, result.holes = fill_file(
                    filler,
                    snapshot.text,
                    language,
                    holes,
                    candidates=n,
                    accept=accept,
                    on_hole=progress.step,
                    workspace=workspace,
                )
                trial.finish(filled if mode == "write" else snapshot.text)
        if filled == snapshot.text:
            return result
        result.status, result.diff = "filled", unified_diff(path, snapshot.text, filled)
        if mode == "write":
            if verifier is None:
                write_if_unchanged(snapshot, filled)
            result.status = "written"
    except ChangedOnDiskError as error:
        result.status, result.note, result.diff = "changed-on-disk", str(error), ""
    return result


def filler_or_none(settings: Settings, on_error: Callable[[str], None] | None = None):
    """The pipeline over the configured model, or None after telling `on_error` (stderr) why it cannot load. A
    server URL gets a `RemoteFiller`, checked once (reachable, serves the model) before any file is read."""
    on_error = on_error or (lambda message: print(message, file=sys.stderr))
    try:
        filler = loader.load_filler(settings, terminal_progress())
        if isinstance(filler, RemoteFiller):
            filler.run_sync(filler.check())
        return filler
    except DgemmaError as error:
        on_error(f"dgemma-lsp: {error}")
        return None


class _Progress:
    """A progress bar over holes on a terminal (tqdm, on stderr); nothing otherwise (the report lines suffice)."""

    def __init__(self, total: int) -> None:
        self.bar = None
        if sys.stderr.isatty() and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="hole", file=sys.stderr, leave=False, desc="fill")

    def step(self, result: HoleResult) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---- command line ------------------------------------------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (folders honour .gitignore)")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--diff", dest="mode", action="store_const", const="diff", help="print a diff (default)")
    modes.add_argument("--write", dest="mode", action="store_const", const="write", help="rewrite files atomically")
    modes.add_argument("--check", dest="mode", action="store_const", const="check", help="exit 1 if holes exist")
    parser.set_defaults(mode="diff")
    parser.add_argument("--json", action="store_true", help="print a machine-readable report on stdout")
    parser.add_argument(
        "--at",
        action="append",
        default=[],
        type=_position,
        metavar="FILE:LINE[:COL]",
        help="fill here (1-based) instead of the stubs; repeatable",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME",
        help="refill the body of every function with this name; repeatable",
    )
    parser.add_argument(
        "--candidates",
        type=_positive,
        metavar="N",
        help="fills to try per hole (default 1; with --verify, completion.invokedCandidates)",
    )
    parser.add_argument("--verify", metavar="CMD", help="keep a fill only if this shell command then passes")
    parser.add_argument("--verify-timeout", type=float, metavar="S", help="seconds CMD may run (default: no limit)")


def run_from_args(args, cli_settings: dict) -> int:
    if not args.paths and not args.at:
        print("dgemma-lsp fill: give a PATH or --at FILE:LINE", file=sys.stderr)
        return EXIT_USAGE
    if args.verify and args.mode == "check":
        print("dgemma-lsp fill: --verify and --check do not go together", file=sys.stderr)
        return EXIT_USAGE
    positions: dict[Path, list[targets.Position]] = {}
    for path, position in args.at:
        positions.setdefault(Path(path).resolve(), []).append(position)
    options = FillOptions(
        paths=[*args.paths, *(path for path, _ in args.at)],
        mode=args.mode,
        positions=positions,
        functions=args.function,
        candidates=args.candidates,
        verify=args.verify,
        verify_timeout=args.verify_timeout,
        json=args.json,
    )
    try:
        return run_fill(options, cli_settings)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP during --verify: the files are settled by now
        print("dgemma-lsp fill: interrupted; every file holds its original or a kept fill", file=sys.stderr)
        return EXIT_INTERRUPTED


def _position(value: str) -> tuple[str, targets.Position]:
    import argparse

    parts = value.rsplit(":", 2)
    numbers: list[int] = []
    while len(parts) > 1 and parts[-1].isdigit() and len(numbers) < 2:
        numbers.insert(0, int(parts.pop()))
    path = ":".join(parts)
    if not numbers or not path or any(n < 1 for n in numbers):
        raise argparse.ArgumentTypeError(f"{value!r} is not FILE:LINE or FILE:LINE:COL (1-based)")
    return path, targets.Position(*numbers)


def _positive(value: str) -> int:
    import argparse

    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("takes a whole number of at least 1")
    return int(value)
