"""`dgemma-lsp infill --jsonl IN [--out OUT]`: fill a batch of holes given as prefix and suffix, one JSON object a
line, for scripts and for evaluating fills with other harnesses.

Input row: `{"id", "prefix", "suffix", "language"?, "max_tokens"?}`; `language` is a language name (`python`,
`tsx`, ...) or an LSP language id (`typescriptreact`); without one, or with one we do not parse, the fill is
plain infill without syntax decisions, as the editor does for other files. Output row, in input order:
`{"id", "completion", "latency_ms", "steps"}`, plus `"error"` when the row could not be filled; a malformed row
gets an error row, never a crash. Blank lines are not rows; a UTF-8 byte order mark before the first is ignored.
A lone surrogate (`"\\ud800"`, half of a UTF-16 pair) is no text the model or the parser can take: in `prefix` or
`suffix` it is an error, in `id` it comes back escaped.

Each row is an editor request at a cursor between prefix and suffix, except that it is always filled:
`holes.hole_for_gap` takes the kind and indentation of the hole from the editor's chooser, and where the chooser
would offer nothing (mid-word, code after the cursor) fills the gap anyway, as whole lines when it starts a line
of code, else as part of its line. `Filler.fill` runs the same canvas, denoising and post-processing.
`max_tokens` bounds the middle in whole canvases (rounded up).

Exit status: 0 every row filled or left empty without error; 1 some rows have an error; 2 it could not start
(unreadable input, an `--out` that cannot be written, no model); 141 the reader of stdout went away (`| head`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from dgemma_lsp.errors import DgemmaError
from dgemma_lsp.fill import holes
from dgemma_lsp.headless.atomic import check_writable, write_atomically
from dgemma_lsp.settings import parse_settings
from dgemma_lsp.text import syntax

log = logging.getLogger(__name__)

_SURROGATE = re.compile("[\ud800-\udfff]")  # json.loads pairs up valid halves, so any left is a lone one


class RowError(ValueError):
    """A row that cannot be filled as given; the message goes into its output row."""


@dataclasses.dataclass(frozen=True)
class InfillRow:
    id: Any
    prefix: str
    suffix: str
    language: str | None = None  # a `syntax.LANGUAGES` name, after resolving ids; None for plain infill
    max_tokens: int | None = None


def parse_row(line: str) -> InfillRow:
    """An input row, or RowError saying what is wrong with it."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as error:
        raise RowError(f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise RowError("a row must be a JSON object")
    if "id" not in raw:
        raise RowError('missing "id"')
    for key in ("prefix", "suffix"):
        if key not in raw:
            raise RowError(f'"{key}" is missing')
        if not isinstance(raw[key], str):
            raise RowError(f'"{key}" must be a string')
        surrogate = _SURROGATE.search(raw[key])
        if surrogate:
            raise RowError(f'"{key}" holds a lone surrogate (\\u{ord(surrogate.group()):04x})')
    language = raw.get("language")
    if language is not None and not isinstance(language, str):
        raise RowError('"language" must be a string')
    max_tokens = raw.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise RowError('"max_tokens" must be a whole number of at least 1')
    spec = (syntax.language_named(language) or syntax.language_for(language_id=language)) if language else None
    return InfillRow(raw["id"], raw["prefix"], raw["suffix"], spec.name if spec else None, max_tokens)


def _row_id(line: str) -> Any:
    """The id of a row that failed to parse, when it has one, so the error row can be matched to it."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    return raw.get("id") if isinstance(raw, dict) else None


class RowFiller:
    """Fills rows with one loaded model; a row's `max_tokens` picks a Filler limited to that many canvases."""

    def __init__(self, filler) -> None:
        self.filler = filler
        self._by_canvases = {None: filler}

    def _filler_for(self, max_tokens: int | None):
        if max_tokens is None:
            return self.filler
        canvases = math.ceil(max_tokens / self.filler.loaded.canvas_length)
        if canvases not in self._by_canvases:
            base = self.filler.settings
            completion = dataclasses.replace(base.completion, line_canvases=canvases, block_canvases=canvases)
            self._by_canvases[canvases] = type(self.filler)(
                self.filler.loaded, dataclasses.replace(base, completion=completion)
            )
        return self._by_canvases[canvases]

    def fill(self, row: InfillRow) -> dict:
        text, offset = row.prefix + row.suffix, len(row.prefix)
        if len(text.encode("utf-8", "surrogatepass")) > self.filler.settings.limits.max_file_bytes:
            raise RowError("prefix and suffix are larger than limits.maxFileBytes")
        tree = syntax.parse(text, row.language) if row.language else None
        started = time.perf_counter()
        hole = holes.hole_for_gap(text, tree, row.language, offset)
        outcome = self._filler_for(row.max_tokens).fill(text, hole, row.language, candidates=1, request_id=str(row.id))
        completion = outcome.fills[0].text if outcome.fills else ""
        return {"id": row.id, "completion": completion, "latency_ms": _ms(started), "steps": outcome.steps}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def json_line(result: dict) -> str:
    """An output row as one line of JSON, non-ASCII text as itself; escaped where it holds a lone surrogate (an id
    given as one), which UTF-8 cannot write."""
    line = json.dumps(result, ensure_ascii=False)
    return (json.dumps(result) if _SURROGATE.search(line) else line) + "\n"


def error_row(row_id: Any, message: str) -> dict:
    return {"id": row_id, "completion": "", "latency_ms": 0.0, "steps": 0, "error": message}


def answer(rows: RowFiller, lines: Iterable[str | bytes]) -> Iterator[dict]:
    """One output row per non-blank input line, in order. Lines may come as bytes: one that is not UTF-8 becomes
    an error row of its own."""
    for number, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as error:
                yield error_row(None, f"line {number}: not UTF-8 ({error.reason} at byte {error.start})")
                continue
        if number == 1:
            line = line.removeprefix("\ufeff")  # the byte order mark some Windows tools write before UTF-8
        if not line.strip():
            continue
        try:
            row = parse_row(line)
        except RowError as error:
            yield error_row(_row_id(line), f"line {number}: {error}")
            continue
        try:
            yield rows.fill(row)
        except (RowError, DgemmaError) as error:
            yield error_row(row.id, f"line {number}: {error}")
        except Exception as error:  # a bug on one row must not lose the rows after it
            log.exception("infill row %r failed", row.id)
            yield error_row(row.id, f"line {number}: internal error: {type(error).__name__}: {error}")


# ---- command line ------------------------------------------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument("--jsonl", required=True, metavar="IN", help="input rows; '-' for stdin")
    parser.add_argument("--out", metavar="OUT", help="output rows (written atomically at the end); default stdout")


def run(args, cli_settings: dict) -> int:
    from dgemma_lsp.headless.fill_files import filler_or_none  # torch and the model load only once the input has opened

    source = sys.stdin.buffer if args.jsonl == "-" else None
    if source is None:
        try:
            source = open(args.jsonl, "rb")
        except OSError as error:
            print(f"dgemma-lsp infill: cannot read {args.jsonl}: {error}", file=sys.stderr)
            return 2
    try:
        if args.out:
            try:
                check_writable(Path(args.out))
            except OSError as error:
                print(f"dgemma-lsp infill: cannot write {args.out}: {error.strerror or error}", file=sys.stderr)
                return 2
        filler = filler_or_none(parse_settings(cli_settings))
        if filler is None:
            return 2
        rows = RowFiller(filler)
        out: list[str] = []
        errors = 0
        for result in _with_progress(answer(rows, source)):
            errors += "error" in result
            line = json_line(result)
            if args.out:
                out.append(line)
            else:
                sys.stdout.write(line)
                sys.stdout.flush()
        if args.out:
            write_atomically(Path(args.out), "".join(out))
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    if errors:
        print(f"dgemma-lsp infill: {errors} row(s) with errors", file=sys.stderr)
    return 1 if errors else 0


def _with_progress(results: Iterator[dict]) -> Iterator[dict]:
    if not sys.stderr.isatty():
        yield from results
        return
    from tqdm import tqdm

    yield from tqdm(results, unit="row", file=sys.stderr, leave=False, desc="infill")
