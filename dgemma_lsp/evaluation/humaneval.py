"""Evaluation harness: HumanEval infilling (Bavarian et al. 2022) through the same pipeline as the editor.

A task is a prefix (`prompt`), a middle (`canonical_solution`, whole lines ending in "\\n") and a suffix. It becomes
a request the way an editor user makes one: the user opens a new line where the middle goes and asks for a fill.

- cursor "indented" (default): the new line holds the indentation of the middle's first line and the cursor sits
  after it, as when the editor auto-indents or the user types the indent. The document is
  `prompt + indent + "\\n" + suffix`.
- cursor "empty-line": the new line is empty, the cursor at column 0 (`prompt + "\\n" + suffix`, cursor at
  `len(prompt)`). Python indentation is ambiguous there, and `holes.choose_hole` guesses it; see `--methods oracle`
  for what that guess costs a perfect model.
- "stub" (only, and always, for the `function-body` benchmark: HumanEval itself, a function's signature and
  docstring, its whole body the middle, no suffix): the new line holds `pass` at the middle's indentation, and the
  hole replaces it, as `fill` and "Fill this function" replace a stub.

`holes.choose_hole` gives the hole's indentation; its kind is forced to LINE (single-line) or BLOCK (multi-line).
Random-span tasks (`random-span`, `random-span-light`) cut the middle anywhere, mid-word included, so there is no
new line to open: the document is `prompt + suffix`, the cursor sits between them, and the hole is a BLOCK with its
line's indentation (an editor would refuse most of these positions; the benchmark forces a fill).
Every method yields a *middle*: the text between the prompt and the suffix's line end, without a final newline.
The program is `prompt + middle + "\\n" + suffix`, which for the canonical middle (minus its "\\n") is exactly
upstream's `prompt + canonical_solution + suffix`.

Methods: `model` (the Filler, one candidate, fixed seed), `empty` (middle ""), `previous-line` (the prompt's last
non-blank line again, verbatim), `canonical` (the reference middle: every task must pass; it checks reconstruction
and execution), `oracle` (the reference middle fed through the pipeline's post-processing as if the model had
written it: the ceiling that hole choice and post-processing leave a perfect model), `encoder-greedy` (the same
weights decoded one token at a time by their encoder, greedy, then the same post-processing: not a way the server
fills, a measure of what the weights know beside what the denoiser makes of it).

Metrics: pass@1 (`program + "\\n" + test + "\\n" + f"check({entry_point})"` runs to the end in its own
`python -I` process, in a temp dir, 3 s timeout, memory capped; a sentinel printed after `check` must appear, so a
fill that calls `exit(0)` does not pass), exact match and edit similarity (see `normalize_code`), parse rate (the
program without tests has no tree-sitter errors and compiles) and mean fill latency (ms, model only).
`--limit N` evaluates the first N tasks of a fixed shuffle (`random.Random(SAMPLE_SEED)`), kept in file order:
independent of `--seed`, and a smaller sample is a subset of a larger one.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import gzip
import json
import random
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dgemma_lsp.diffusion.base_model import terminal_progress
from dgemma_lsp.errors import DgemmaError
from dgemma_lsp.evaluation.sandbox import TIMEOUT_S, Execution, execute
from dgemma_lsp.fill import holes
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.loader import load_filler
from dgemma_lsp.fill.postprocess import indent_of, postprocess
from dgemma_lsp.fill.remote import RemoteFiller, is_remote
from dgemma_lsp.settings import Settings, parse_settings
from dgemma_lsp.text import syntax

if TYPE_CHECKING:
    from dgemma_lsp.fill.pipeline import Filler

BENCHMARKS = {  # name: (file, the hole's kind, whether the middle is whole lines)
    "single-line": ("HumanEval-SingleLineInfilling.jsonl.gz", FillKind.LINE, True),
    "multi-line": ("HumanEval-MultiLineInfilling.jsonl.gz", FillKind.BLOCK, True),
    "random-span": ("HumanEval-RandomSpanInfilling.jsonl.gz", FillKind.BLOCK, False),
    "random-span-light": ("HumanEval-RandomSpanInfillingLight.jsonl.gz", FillKind.BLOCK, False),
    "function-body": ("HumanEval.jsonl.gz", FillKind.BLOCK, True),  # always with the "stub" request
}
METHODS = ("model", "empty", "previous-line", "canonical", "oracle", "encoder-greedy")
DEFAULT_METHODS = ("model", "empty", "previous-line")
CURSORS = ("indented", "empty-line")  # and "stub", which the function-body benchmark always uses
LANGUAGE = "python"
STUB = "pass"  # what the "stub" request leaves where the middle goes
WORKERS = 2  # programs run in parallel
SAMPLE_SEED = 0  # the `--limit` shuffle; fixed so that samples do not move with the model's seed
PROGRESS_EVERY = 50  # tasks
BACKLOG = 4  # programs waiting per worker before filling pauses


@dataclass(frozen=True)
class Task:
    task_id: str
    entry_point: str
    prompt: str  # the prefix, ending in "\n"
    suffix: str
    middle: str  # canonical_solution: whole lines ending in "\n", or any span of characters (random-span)
    test: str
    whole_lines: bool = True  # False for random spans: the middle starts and ends anywhere, even inside a word


@dataclass(frozen=True)
class Request:
    """What the editor sends for a task: the document and the hole at its cursor."""

    text: str
    hole: Hole


@dataclass
class TaskResult:
    task_id: str
    method: str
    middle: str
    status: str
    exact: bool
    edit_similarity: float
    parses: bool
    ms: float | None  # fill latency, model only
    detail: str = ""


# ---- tasks -------------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """`model/data/humaneval-infilling` of the source tree, else under the working directory."""
    relative = Path("model", "data", "humaneval-infilling")
    beside = Path(__file__).resolve().parents[2] / relative
    return beside if beside.is_dir() else Path.cwd() / relative


def load_tasks(path: Path, whole_lines: bool = True) -> list[Task]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [
        Task(
            r["task_id"],
            r["entry_point"],
            r["prompt"],
            r.get("suffix", ""),
            r["canonical_solution"],
            r["test"],
            whole_lines,
        )
        for r in rows
    ]


def sample(tasks: list[Task], limit: int | None, seed: int = SAMPLE_SEED) -> list[Task]:
    """The first `limit` tasks of a seeded shuffle, in file order; all of them when `limit` is None."""
    if limit is None or limit >= len(tasks):
        return list(tasks)
    order = list(range(len(tasks)))
    random.Random(seed).shuffle(order)
    return [tasks[i] for i in sorted(order[:limit])]


def request_for(task: Task, kind: FillKind, cursor: str = "indented") -> Request:
    """The document with a new line where the middle goes and the hole at the cursor on it (module docstring).
    A random span has no line of its own: the document is prefix + suffix and the cursor sits between them,
    with the indentation of its line."""
    if cursor == "stub":  # the body is `pass`, and the hole replaces it (`fill`'s stub target)
        indent = indent_of(task.middle)
        text, start = task.prompt + indent + STUB + "\n" + task.suffix, len(task.prompt) + len(indent)
        return Request(text, Hole(kind, start, start + len(STUB), indent))
    if not task.whole_lines:
        text, offset = task.prompt + task.suffix, len(task.prompt)
        line = text[text.rfind("\n", 0, offset) + 1 :]
        return Request(text, Hole(kind, offset, offset, indent_of(line)))
    typed = indent_of(task.middle) if cursor == "indented" else ""
    text = task.prompt + typed + "\n" + task.suffix
    offset = len(task.prompt) + len(typed)
    chosen = holes.choose_hole(text, syntax.parse(text, LANGUAGE), LANGUAGE, offset)
    indent = chosen.indent if chosen.kind is not FillKind.NONE else typed
    return Request(text, Hole(kind, offset, offset, indent))


def middle_from(task: Task, request: Request, fill: str) -> str:
    """The middle once `fill` replaces the hole: the text between the prompt and the suffix's line end."""
    filled = request.text[: request.hole.start] + fill + request.text[request.hole.end :]
    gap = _gap(task)
    assert filled.startswith(task.prompt) and filled.endswith(gap + task.suffix)
    return filled[len(task.prompt) : len(filled) - len(task.suffix) - len(gap)]


def program_for(task: Task, middle: str) -> str:
    return task.prompt + middle + _gap(task) + task.suffix


def _gap(task: Task) -> str:
    """What separates the middle from the suffix: the new line's end, for whole-line middles."""
    return "\n" if task.whole_lines else ""


# ---- methods: each gives the middle for a task -------------------------------------------------------------------


def empty_middle(task: Task) -> str:
    return ""


def previous_line_middle(task: Task) -> str:
    """The prompt's last non-blank line, verbatim (its indentation kept), without its newline."""
    lines = [line for line in task.prompt.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def canonical_middle(task: Task) -> str:
    return task.middle.removesuffix("\n") if task.whole_lines else task.middle


def oracle_middle(task: Task, request: Request) -> str:
    """The canonical middle as the model's raw output (what follows the cursor), through `postprocess`."""
    raw = task.middle[request.hole.start - len(task.prompt) :]
    return middle_from(task, request, postprocess(raw, text=request.text, hole=request.hole, language=LANGUAGE))


def model_middle(filler: Filler, task: Task, request: Request) -> tuple[str, float]:
    """The model's middle (the first of `completion.candidates`, ranked as the editor ranks them: those that keep
    the file parseable first) and the fill's wall time in ms."""
    started = time.perf_counter()
    outcome = filler.fill(request.text, request.hole, LANGUAGE, request_id=task.task_id)
    ms = (time.perf_counter() - started) * 1000
    return middle_from(task, request, outcome.fills[0].text if outcome.fills else ""), ms


def encoder_greedy_middle(filler: Filler, task: Task, request: Request) -> tuple[str, float]:
    """The same weights decoded one token at a time by their encoder (greedy) from the prompt the sampler gets,
    through the same post-processing, and the wall time in ms. Not a way the server fills (it only denoises): a
    measure of what the weights know, to set beside what the denoiser makes of it. A line hole stops at the first
    token that holds a newline."""
    from dgemma_lsp.diffusion.autoregressive import greedy_decode
    from dgemma_lsp.diffusion.tokens import newline_ids

    loaded = filler.loaded
    started = time.perf_counter()
    canvas = filler.canvas_for(request.text, request.hole, LANGUAGE)
    result = greedy_decode(
        loaded.model,
        canvas.prompt_ids,
        eos_id=loaded.eos_id,
        max_new_tokens=canvas.max_canvases * loaded.canvas_length,
        stop_ids=newline_ids(loaded.tokenizer) if request.hole.kind is FillKind.LINE else frozenset(),
    )
    fitted = postprocess(
        filler.middle_text(result.tokens, canvas), text=request.text, hole=request.hole, language=LANGUAGE
    )
    return middle_from(task, request, fitted), (time.perf_counter() - started) * 1000


_SIMPLE_METHODS = {"empty": empty_middle, "previous-line": previous_line_middle, "canonical": canonical_middle}
_MODEL_METHODS = {"model": model_middle, "encoder-greedy": encoder_greedy_middle}


def _middle(method: str, task: Task, request: Request, filler: Filler | None) -> tuple[str, float | None]:
    """The method's middle for the task, and the fill's latency in ms for the model (None for the others)."""
    if method in _MODEL_METHODS:
        if filler is None:
            raise ValueError(f"the {method} method needs a filler")
        return _MODEL_METHODS[method](filler, task, request)
    if method == "oracle":
        return oracle_middle(task, request), None
    return _SIMPLE_METHODS[method](task), None


# ---- execution ---------------------------------------------------------------------------------------------------


def check(task: Task, middle: str, timeout: float = TIMEOUT_S) -> Execution:
    """Run the task's tests on the program with this middle."""
    return execute(f"{program_for(task, middle)}\n{task.test}\ncheck({task.entry_point})", timeout)


# ---- static metrics ----------------------------------------------------------------------------------------------


def normalize_code(code: str) -> str:
    """Trailing whitespace stripped from each line, leading and trailing blank lines dropped; indentation kept."""
    lines = [line.rstrip() for line in code.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def exact_match(middle: str, reference: str) -> bool:
    return normalize_code(middle) == normalize_code(reference)


def edit_similarity(middle: str, reference: str) -> float:
    """difflib.SequenceMatcher's ratio (2 * matches / total length, in [0, 1]) of the two normalized strings,
    without the junk heuristic."""
    return difflib.SequenceMatcher(None, normalize_code(middle), normalize_code(reference), autojunk=False).ratio()


def parses(program: str) -> bool:
    """No tree-sitter errors, and CPython compiles it."""
    return syntax.error_count(program, LANGUAGE) == 0 and syntax.python_compiles(program)


# ---- the run -----------------------------------------------------------------------------------------------------


def evaluate(
    tasks: list[Task],
    kind: FillKind,
    methods: list[str],
    *,
    filler: Filler | None = None,
    cursor: str = "indented",
    timeout: float = TIMEOUT_S,
    workers: int = WORKERS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[TaskResult]]:
    """Each method's results on each task. Fills are made in order here while their programs run on a pool."""
    pending: list[tuple[TaskResult, Future[Execution]]] = []
    settled = 0  # pending[:settled] have run
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, task in enumerate(tasks, 1):
            request = request_for(task, kind, cursor)
            for method in methods:
                middle, ms = _middle(method, task, request, filler)
                exact, similarity = exact_match(middle, task.middle), edit_similarity(middle, task.middle)
                parsed = parses(program_for(task, middle))
                result = TaskResult(task.task_id, method, middle, "", exact, similarity, parsed, ms)
                pending.append((result, pool.submit(check, task, middle, timeout)))
            while len(pending) - settled > BACKLOG * workers:  # keep fills just ahead of the programs
                pending[settled][1].result()
                settled += 1
            if progress and (done % PROGRESS_EVERY == 0 or done == len(tasks)):
                progress(f"evaluate: {done}/{len(tasks)} tasks ({time.perf_counter() - started:.0f} s)")
    results: dict[str, list[TaskResult]] = {method: [] for method in methods}
    for result, future in pending:
        execution = future.result()
        result.status, result.detail = execution.status, execution.detail
        results[result.method].append(result)
    return results


def summarize(results: list[TaskResult]) -> dict:
    n = len(results)
    latencies = [r.ms for r in results if r.ms is not None]
    return {
        "tasks": n,
        "pass@1": sum(r.status == "passed" for r in results) / n if n else 0.0,
        "exact": sum(r.exact for r in results) / n if n else 0.0,
        "edit_similarity": sum(r.edit_similarity for r in results) / n if n else 0.0,
        "parse_rate": sum(r.parses for r in results) / n if n else 0.0,
        "timeouts": sum(r.status == "timeout" for r in results),
        "ms_per_fill": sum(latencies) / len(latencies) if latencies else None,
    }


def format_table(summaries: dict[str, dict]) -> str:
    header = (
        f"{'method':<14}{'tasks':>6}{'pass@1':>8}{'exact':>7}{'edit-sim':>9}{'parse-rate':>11}{'timeouts':>9}"
        f"{'ms/fill':>9}"
    )
    rows = [header]
    for method, s in summaries.items():
        ms = "-" if s["ms_per_fill"] is None else f"{s['ms_per_fill']:.1f}"
        rows.append(
            f"{method:<14}{s['tasks']:>6}{s['pass@1']:>8.3f}{s['exact']:>7.3f}{s['edit_similarity']:>9.3f}"
            f"{s['parse_rate']:>11.3f}{s['timeouts']:>9}{ms:>9}"
        )
    return "\n".join(rows)


# ---- command line ------------------------------------------------------------------------------------------------


def add_eval_parser(commands, common: Callable[[argparse.ArgumentParser], None]):
    """`dgemma-lsp eval humaneval-infilling --split ...`; `dgemma-lsp evaluate --benchmark ...` is the same. Returns
    the suites' subparsers, for the other suites (`realcode.add_parser`)."""
    parser = commands.add_parser("eval", help="score fills on a benchmark (pass@1, exact match, ...)")
    suites = parser.add_subparsers(dest="suite", required=True, metavar="BENCHMARK")
    humaneval = suites.add_parser("humaneval-infilling", help="HumanEval-Infilling (Bavarian et al. 2022)")
    add_arguments(humaneval, split_flag="--split")
    common(humaneval)
    humaneval.set_defaults(log_level="WARNING")  # one INFO line per fill would drown the progress lines
    return suites


def add_arguments(parser: argparse.ArgumentParser, split_flag: str = "--benchmark") -> None:
    parser.add_argument(split_flag, dest="benchmark", choices=list(BENCHMARKS), default="single-line")
    parser.add_argument("--limit", type=_positive, help="evaluate a fixed seeded sample of this many tasks")
    parser.add_argument("--seed", type=int, default=0, help="the model's sampling seed (default 0)")
    parser.add_argument(
        "--only",
        type=Path,
        metavar="FILE",
        help="evaluate only the task ids listed in FILE, one per line (of the sample)",
    )
    parser.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="evaluate every N-th task from the K-th (1-based): N processes, one per core",
    )
    parser.add_argument(
        "--candidates",
        type=_positive,
        default=1,
        help="sample this many fills as one batch and score the first after syntax ranking",
    )
    parser.add_argument("--methods", type=_methods, default=list(DEFAULT_METHODS), help=f"from {', '.join(METHODS)}")
    parser.add_argument("--cursor", choices=CURSORS, default="indented", help="how the new line is opened")
    parser.add_argument("--data", type=Path, help="folder of the .jsonl.gz files (default: model/data/...)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per program")
    parser.add_argument("--workers", type=int, default=WORKERS, help="programs run in parallel")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the report (and each fill) here")


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError("takes a whole number of at least 1")
    return int(value)


def _shard(value: str) -> tuple[int, int]:
    k, _, n = value.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError("takes K/N with 1 <= K <= N")
    return int(k), int(n)


def select(tasks: list[Task], only: set[str] | None, shard: tuple[int, int] | None) -> list[Task]:
    """The tasks named in `only` (all when None), then the K-th of every N (`shard`)."""
    chosen = [task for task in tasks if only is None or task.task_id in only]
    if shard is not None:
        k, n = shard
        chosen = chosen[k - 1 :: n]
    return chosen


def _methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        raise argparse.ArgumentTypeError(f"takes a comma-separated list from {', '.join(METHODS)}")
    return methods


def run(args: argparse.Namespace, cli_settings: dict) -> int:
    """`dgemma-lsp eval humaneval-infilling` (or `evaluate`): print the table, optionally write the JSON report;
    2 when it cannot start."""
    methods = args.methods
    file_name, kind, whole_lines = BENCHMARKS[args.benchmark]
    path = (args.data or data_dir()) / file_name
    try:
        all_tasks = load_tasks(path, whole_lines)
    except (OSError, ValueError, KeyError) as error:
        hint = "--data takes the folder of the .jsonl.gz files"
        print(f"dgemma-lsp: cannot read {path}: {error} ({hint})", file=sys.stderr)
        return 2
    only = None
    if getattr(args, "only", None):
        try:
            only = {line.strip() for line in args.only.read_text(encoding="utf-8").splitlines() if line.strip()}
        except (OSError, UnicodeDecodeError) as error:
            print(f"dgemma-lsp: cannot read {args.only}: {error}", file=sys.stderr)
            return 2
    tasks = select(sample(all_tasks, args.limit), only, getattr(args, "shard", None))
    cursor = "stub" if args.benchmark == "function-body" else args.cursor
    filler, settings = None, None
    if _MODEL_METHODS.keys() & set(methods):
        filler, settings = _filler(cli_settings, args.seed, args.candidates)
        if filler is None:
            return 2
    results = evaluate(
        tasks,
        kind,
        methods,
        filler=filler,
        cursor=cursor,
        timeout=args.timeout,
        workers=args.workers,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    summaries = {method: summarize(rows) for method, rows in results.items()}
    print(
        f"{args.benchmark}: {len(tasks)} of {len(all_tasks)} tasks (sample seed {SAMPLE_SEED}), cursor {cursor}, "
        f"model {settings.model if settings else '-'}, seed {args.seed}"
    )
    print(format_table(summaries))
    if args.json_out:
        keys = ("benchmark", "limit", "seed", "candidates", "cursor", "timeout", "shard")
        config = {key: getattr(args, key, None) for key in keys} | {"cursor": cursor}
        report = config | {"tasks": len(tasks), "of": len(all_tasks), "sample_seed": SAMPLE_SEED}
        report["settings"] = dataclasses.asdict(settings) if settings else None
        report["summary"] = summaries
        report["results"] = [dataclasses.asdict(r) for rows in results.values() for r in rows]
        args.json_out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


def _filler(cli_settings: dict, seed: int, candidates: int = 1) -> tuple[Filler | None, Settings]:
    settings = parse_settings(cli_settings)
    settings = dataclasses.replace(
        settings, completion=dataclasses.replace(settings.completion, seed=seed, candidates=candidates)
    )
    if is_remote(settings.model):  # the scoring reads the in-process model's tokenizer and decoders
        print("dgemma-lsp: eval and bench engine need an in-process model, not a server URL", file=sys.stderr)
        return None, settings
    try:
        filler = load_filler(settings, terminal_progress())
    except DgemmaError as error:
        print(f"dgemma-lsp: {error}", file=sys.stderr)
        return None, settings
    assert not isinstance(filler, RemoteFiller)  # only a server URL gives one
    return filler, settings
