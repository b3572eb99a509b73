"""The real-code benchmark: holes cut from Python packages first published after mid-2025 (after the embedded
model's training data), filled through the editor's own path and scored as a user would judge them.

The files come from `model/data/realcode/python.jsonl.gz` (built by `model/realcode.py`; the packages, versions and
licences are in `packages.jsonl` beside it). Packages are split into `dev` (decide defaults on it) and `test`
(report it; never tune on it). Every other file of a package stays in the suite, for workspace context.

A task is a region of a file, `before + reference + after`, and the document the editor holds when the user asks
for it: `before + typed + after`, the cursor after `typed`. Kinds, as editors make holes:

- `line-indented`: a one-line statement of a function body (or a block header that fits its line) emptied to its
  indentation, the cursor after it: a new line the editor auto-indented;
- `line-column0`: the same line emptied entirely, the cursor at column 0 (no auto-indent, or a user who moved);
- `rest-of-line`: a line cut after a word boundary inside its code, the rest of the line gone;
- `block-opener`: a block header (`if`/`for`/`while`/`with`/`try`/`def` ...) kept, its body (1-8 lines) gone, the
  cursor after the `:`;
- `function-body`: a function's body (2-15 lines, after any docstring) replaced by `pass`, filled as "Fill this
  function" fills a stub;
- `call-arguments`: the arguments of a one-line call gone, the cursor between `(` and `)`, nothing but closers
  after it on the line.

The hole comes from the editor's chooser (`holes.choose_hole`, as `lsp/planning.py` plans an inline request; the
stub's from `holes.hole_for_function`, as the code action does), the fill from `Filler.fill` with the settings
given, the first fill is what the user sees. Where the chooser offers nothing the fill is empty.

Methods: `model` (that path), `base` (Gemma 3 270M as released: greedy from the prefix alone, no suffix, no
post-processing; the first line, or for block kinds the lines until one leaves the block's indentation),
`empty`, `reference` (the region itself: checks reconstruction and the scorers).

Scores per task: exact match of the whole middle (`humaneval.normalize_code`), of its first line, edit similarity,
whether the file still parses (tree-sitter and CPython), empty, multi-line, ms per fill.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dgemma_lsp.evaluation.humaneval import edit_similarity, exact_match, normalize_code
from dgemma_lsp.evaluation.released import BaseModel, block_indent_width
from dgemma_lsp.evaluation.sites import KINDS, brace_regions, python_regions
from dgemma_lsp.fill import holes
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.related import Workspace, definitions, imports_of, module_path, used_names
from dgemma_lsp.text import syntax
from dgemma_lsp.text.outline import import_texts

if TYPE_CHECKING:
    from dgemma_lsp.fill.pipeline import Filler

LANGUAGES = ("python", "javascript", "typescript")  # the data files: <name>.jsonl.gz; typescript holds tsx too
SPLITS = ("dev", "test")
LINE_KINDS = ("line-indented", "line-column0", "rest-of-line", "call-arguments")  # one line is the whole answer
METHODS = ("model", "base", "empty", "reference")
TASKS_PER_KIND = 400  # per split: the first N of a seeded order (`--limit` takes a prefix of it)
PER_FILE = 3  # sites a file gives per kind at most, so that no one file dominates a kind
SAMPLE_SEED = 0


@dataclass(frozen=True)
class SourceFile:
    package: str
    version: str
    license: str
    split: str
    path: str
    text: str
    language: str = "python"


@dataclass(frozen=True)
class Task:
    """A region of a file and the document the editor holds when the user asks for it (module docstring)."""

    task_id: str  # package/path:line:kind
    kind: str
    package: str
    path: str
    before: str
    reference: str
    after: str
    typed: str = ""  # what the document holds of the region at the cursor (the indentation, or the stub)
    stub: bool = False  # the hole replaces `typed` (a stub body), filled as "Fill this function"
    language: str = "python"

    @property
    def document(self) -> str:
        return self.before + self.typed + self.after

    @property
    def cursor(self) -> int:
        return len(self.before) + (0 if self.stub else len(self.typed))


@dataclass
class TaskResult:
    task_id: str
    kind: str
    method: str
    hole: str  # the chooser's kind ("none", "line", "block")
    middle: str
    exact: bool
    first_line_exact: bool
    edit_similarity: float
    parses: bool
    empty: bool
    multi_line: bool
    ms: float | None


# ---- data --------------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """`model/data/realcode` of the source tree, else under the working directory."""
    relative = Path("model", "data", "realcode")
    beside = Path(__file__).resolve().parents[2] / relative
    return beside if beside.is_dir() else Path.cwd() / relative


def load_files(path: Path, split: str | None = None) -> list[SourceFile]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    files = [
        SourceFile(
            r["package"], r["version"], r["license"], r["split"], r["path"], r["text"], r.get("language", "python")
        )
        for r in rows
    ]
    return [f for f in files if split is None or f.split == split]


def tasks_of_file(
    file: SourceFile, kind: str, rng: random.Random, keep: Callable[[Task], bool] | None = None
) -> list[Task]:
    """Up to PER_FILE tasks of one kind from a file, chosen with `rng` among those `keep` accepts."""
    source = file.text
    if file.language == "python":
        regions = python_regions(source, kind, rng)
    else:
        regions = brace_regions(source, file.language, kind, rng)
    name = f"{file.package}/{file.path}"
    found = [
        Task(
            f"{name}:{row + 1}:{kind}",
            kind,
            file.package,
            file.path,
            source[:start],
            source[start:end],
            source[end:],
            typed,
            stub,
            file.language,
        )
        for row, start, end, typed, stub in regions
    ]
    rng.shuffle(found)
    if keep is not None:
        found = [task for task in found if keep(task)]
    if kind == "function-body":  # only stubs the code action sees as such, its hole exactly the stub
        found = [t for t in found[: 2 * PER_FILE] if _stub_hole_fits(t)]
    return found[:PER_FILE]


def _stub_hole_fits(task: Task) -> bool:
    hole = editor_hole(task)
    return hole.kind is FillKind.BLOCK and (hole.start, hole.end) == (
        len(task.before),
        len(task.before) + len(task.typed),
    )


def build_tasks(
    files: list[SourceFile],
    kind: str,
    limit: int | None = None,
    seed: int = SAMPLE_SEED,
    keep: Callable[[Task], bool] | None = None,
) -> list[Task]:
    """The kind's tasks over `files` (those `keep` accepts): up to PER_FILE a file, in a seeded order of which
    `limit` takes a prefix (so a smaller sample is a subset of a larger one), capped at TASKS_PER_KIND."""
    found: list[Task] = []
    for file in sorted(files, key=lambda f: (f.package, f.path)):
        rng = random.Random(f"{seed}:{kind}:{file.package}/{file.path}")
        found.extend(tasks_of_file(file, kind, rng, keep))
    random.Random(f"{seed}:{kind}").shuffle(found)
    return found[: min(limit or TASKS_PER_KIND, TASKS_PER_KIND)]


# ---- methods -----------------------------------------------------------------------------------------------------


def editor_hole(task: Task) -> Hole:
    """The hole the editor fills for the task: the chooser's at the cursor, the stub's for "Fill this function"."""
    text = task.document
    tree = syntax.parse(text, task.language)
    if task.stub:
        site = syntax.function_at(tree, task.language, len(text[: task.cursor].encode("utf-8")))
        if site is None:
            return Hole(FillKind.NONE, task.cursor, task.cursor)
        return holes.hole_for_function(text, tree, task.language, site)
    return holes.choose_hole(text, tree, task.language, task.cursor)


def middle_of(task: Task, hole: Hole, fill: str) -> str:
    """The region once `fill` replaces the hole: the document between `before` and `after`."""
    text = task.document
    filled = text[: hole.start] + fill + text[hole.end :]
    if hole.start < len(task.before) or hole.end > len(text) - len(task.after):
        raise ValueError(f"{task.task_id}: the hole [{hole.start}, {hole.end}) leaves the task's region")
    return filled[len(task.before) : len(filled) - len(task.after)]


def workspaces(files: list[SourceFile]) -> dict[str, dict[str, str]]:
    """Each package's files by path: the workspace a fill in one of them may draw on."""
    found: dict[str, dict[str, str]] = {}
    for file in files:
        found.setdefault(file.package, {})[file.path] = file.text
    return found


def repo_level(task: Task, package_files: dict[str, str]) -> bool:
    """Whether the reference uses a name the file imports from another file of its package, where it is defined:
    a hole that the file alone cannot show how to fill."""
    if task.language != "python":
        return False
    tree = syntax.parse(task.document, task.language)
    bound = imports_of(import_texts(tree, task.language))
    paths = [p for p in package_files if p != task.path]
    for name in used_names(task.reference, len(task.reference)):
        head, _, attribute = name.partition(".")
        if head in bound:
            module, imported = bound[head]
            path = module_path(module, task.path, paths)
            if path is not None and (imported or attribute) in definitions(package_files[path]):
                return True
    return False


def model_fill(
    filler: Filler, task: Task, workspace: Workspace | None = None, automatic: bool = False
) -> tuple[str, str, float]:
    """(hole kind, fill, ms): the editor's path, the first fill offered; `automatic` as an inline request the user
    did not ask for (typing), else as an explicit one."""
    started = time.perf_counter()
    hole = editor_hole(task)
    fill = ""
    if hole.kind is not FillKind.NONE:
        outcome = filler.fill(
            task.document, hole, task.language, request_id=task.task_id, workspace=workspace, automatic=automatic
        )
        fill = outcome.fills[0].text if outcome.fills else ""
    ms = (time.perf_counter() - started) * 1000
    if hole.kind is FillKind.NONE:
        hole = Hole(FillKind.NONE, task.cursor, task.cursor)
    return hole.kind.value, middle_of(task, hole, fill), ms


def first_line(text: str) -> str:
    lines = [line.rstrip() for line in normalize_code(text).split("\n") if line.strip()]
    return lines[0] if lines else ""


def score(task: Task, method: str, hole_kind: str, middle: str, ms: float | None) -> TaskResult:
    produced = task.before + middle + task.after
    code_lines = [line for line in middle.split("\n") if line.strip()]
    return TaskResult(
        task.task_id,
        task.kind,
        method,
        hole_kind,
        middle,
        exact_match(middle, task.reference),
        bool(first_line(middle)) and first_line(middle) == first_line(task.reference),
        edit_similarity(middle, task.reference),
        syntax.error_count(produced, task.language) == 0
        and (task.language != "python" or syntax.python_compiles(produced)),
        not middle.strip() or middle == task.typed,
        len(code_lines) > 1,
        ms,
    )


def base_fill(base: BaseModel, task: Task) -> tuple[str, str, float]:
    """(hole kind, middle, ms) of the released model's continuation of the text before the cursor, which replaces
    the stub where there is one."""
    started = time.perf_counter()
    prefix = task.document[: task.cursor]
    line_before = prefix[prefix.rfind("\n") + 1 :]
    floor = None if task.kind in LINE_KINDS else block_indent_width(line_before, task.reference)
    written = base.continuation(prefix, floor)
    hole = Hole(FillKind.LINE, task.cursor, task.cursor + (len(task.typed) if task.stub else 0))
    return "base", middle_of(task, hole, written), (time.perf_counter() - started) * 1000


# ---- the run -----------------------------------------------------------------------------------------------------


def evaluate(
    tasks: list[Task],
    methods: list[str],
    *,
    filler: Filler | None = None,
    base: BaseModel | None = None,
    packages: dict[str, dict[str, str]] | None = None,
    progress: Callable[[str], None] | None = None,
    automatic: bool = False,
) -> dict[str, list[TaskResult]]:
    """Each method's results on each task; `packages` (`workspaces`) are what the model's fills may draw on."""
    results: dict[str, list[TaskResult]] = {method: [] for method in methods}
    started = time.perf_counter()
    for done, task in enumerate(tasks, 1):
        for method in methods:
            if method == "model":
                assert filler is not None
                files = (packages or {}).get(task.package)
                workspace = Workspace(task.path, files) if files else None
                hole_kind, middle, ms = model_fill(filler, task, workspace, automatic)
            elif method == "base":
                assert base is not None
                hole_kind, middle, ms = base_fill(base, task)
            elif method == "empty":
                hole_kind, middle, ms = "-", task.typed, None
            else:
                hole_kind, middle, ms = "-", task.reference, None
            results[method].append(score(task, method, hole_kind, middle, ms))
        if progress and (done % 10 == 0 or done == len(tasks)):
            progress(f"real-code: {done}/{len(tasks)} tasks ({time.perf_counter() - started:.0f} s)")
    return results


def summarize(rows: list[TaskResult]) -> dict:
    n = len(rows) or 1
    ms = sorted(r.ms for r in rows if r.ms is not None)
    return {
        "tasks": len(rows),
        "exact": sum(r.exact for r in rows) / n,
        "first_line_exact": sum(r.first_line_exact for r in rows) / n,
        "edit_similarity": sum(r.edit_similarity for r in rows) / n,
        "parse_rate": sum(r.parses for r in rows) / n,
        "empty": sum(r.empty for r in rows) / n,
        "multi_line": sum(r.multi_line for r in rows) / n,
        "ms_p50": statistics.median(ms) if ms else None,
        "ms_p95": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] if ms else None,
    }


def format_table(summaries: dict[str, dict]) -> str:
    header = (
        f"{'method':<12}{'tasks':>6}{'exact':>7}{'line-1':>8}{'edit-sim':>9}{'parse':>7}{'empty':>7}{'multi':>7}"
        f"{'ms p50':>8}{'ms p95':>8}"
    )
    rows = [header]
    for method, s in summaries.items():
        p50 = "-" if s["ms_p50"] is None else f"{s['ms_p50']:.0f}"
        p95 = "-" if s["ms_p95"] is None else f"{s['ms_p95']:.0f}"
        rows.append(
            f"{method:<12}{s['tasks']:>6}{s['exact']:>7.3f}{s['first_line_exact']:>8.3f}{s['edit_similarity']:>9.3f}"
            f"{s['parse_rate']:>7.3f}{s['empty']:>7.3f}{s['multi_line']:>7.3f}{p50:>8}{p95:>8}"
        )
    return "\n".join(rows)


# ---- command line ------------------------------------------------------------------------------------------------


def add_parser(suites, common) -> None:
    """`dgemma-lsp eval real-code --split dev --kind line-indented ...`"""
    parser = suites.add_parser("real-code", help="held-out Python packages published after mid-2025 (dev / test)")
    add_arguments(parser)
    common(parser)
    parser.set_defaults(log_level="WARNING")  # one INFO line per fill would drown the progress lines


def add_arguments(parser) -> None:
    from dgemma_lsp.evaluation.humaneval import _positive, _shard

    parser.add_argument("--split", choices=SPLITS, default="dev", help="dev to decide on, test to report")
    parser.add_argument("--language", choices=LANGUAGES, default="python", help="which packages (typescript: tsx too)")
    parser.add_argument("--kind", choices=KINDS, default="line-indented", help="how the hole is made")
    parser.add_argument(
        "--limit", type=_positive, help=f"the first N tasks of the seeded order (at most {TASKS_PER_KIND})"
    )
    parser.add_argument("--only", type=Path, metavar="FILE", help="only the task ids listed in FILE, one a line")
    parser.add_argument("--shard", type=_shard, metavar="K/N", help="every N-th task from the K-th (1-based)")
    parser.add_argument("--seed", type=int, default=0, help="the model's sampling seed (default 0)")
    parser.add_argument("--methods", default="model,base", help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument(
        "--repo-level", action="store_true", help="only holes whose line uses a definition from another file"
    )
    parser.add_argument(
        "--automatic", action="store_true", help="fill as an automatic inline request (typing), not an explicit one"
    )
    parser.add_argument("--base-prefix-tokens", type=_positive, default=384, help="the base's prefix window")
    parser.add_argument("--data", type=Path, help="folder of <language>.jsonl.gz (default: model/data/realcode)")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the report (and each fill) here")


def run(args, cli_settings: dict) -> int:
    from dgemma_lsp.evaluation.humaneval import _filler

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        print(f"dgemma-lsp: --methods takes a comma-separated list from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    path = (args.data or data_dir()) / f"{args.language}.jsonl.gz"
    try:
        files = load_files(path, args.split)
    except (OSError, ValueError, KeyError) as error:
        print(
            f"dgemma-lsp: cannot read {path}: {error} (--data takes the folder of the .jsonl.gz files)", file=sys.stderr
        )
        return 2
    packages = workspaces(files)
    keep = (lambda task: repo_level(task, packages[task.package])) if args.repo_level else None
    tasks = build_tasks(files, args.kind, args.limit, keep=keep)
    if args.only:
        try:
            wanted = set(args.only.read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError) as error:
            print(f"dgemma-lsp: cannot read {args.only}: {error}", file=sys.stderr)
            return 2
        tasks = [task for task in tasks if task.task_id in wanted]
    if args.shard:
        k, n = args.shard
        tasks = tasks[k - 1 :: n]
    filler, settings, base = None, None, None
    if "model" in methods:
        filler, settings = _filler(cli_settings, args.seed)
        if filler is None:
            return 2
    if "base" in methods:
        base = BaseModel(args.base_prefix_tokens)
    results = evaluate(
        tasks,
        methods,
        filler=filler,
        base=base,
        packages=packages,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        automatic=args.automatic,
    )
    summaries = {method: summarize(rows) for method, rows in results.items()}
    used = {task.package for task in tasks}
    scope = (" repo-level" if args.repo_level else "") + (" automatic" if args.automatic else "")
    what = f"{args.language} {args.split} {args.kind}{scope}"
    print(f"real-code {what}: {len(tasks)} tasks from {len(used)} packages, seed {args.seed}")
    print(format_table(summaries))
    if args.json_out:
        report = {
            "language": args.language,
            "split": args.split,
            "kind": args.kind,
            "limit": args.limit,
            "shard": args.shard,
            "seed": args.seed,
            "repo_level": args.repo_level,
            "automatic": args.automatic,
            "settings": dataclasses.asdict(settings) if settings else None,
            "summary": summaries,
            "results": [dataclasses.asdict(r) for rows in results.values() for r in rows],
        }
        args.json_out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0
