"""Single-line infilling on held-out real code: lines of `requests` and `click` (never in the training corpus,
`heldout.py`), each filled with the embedded model under two settings side by side, in one process, task by task.

Each task is one line of a function body (a one-line statement, or the header of a block whose body starts on
the next line), picked at random (seeded) from the packages' installed sources. The line is emptied to its
indentation, the cursor after it, as `dgemma-lsp eval`'s "indented" cursor; the whole file stays around it. A fill
matches when it equals the line (trailing whitespace aside).

    python model/heldout_lines.py --tasks 150 --shard 1/2 --json a.json   # the arms: bindNames on / off
    python model/heldout_lines.py --tasks 80 --needing-names                # only lines that leave a name unbound
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path

from dgemma_lsp.fill.guidance import needed_names
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.loader import load_filler
from dgemma_lsp.fill.pipeline import Filler
from dgemma_lsp.settings import parse_settings

PACKAGES = ("requests", "click")
ARMS = {"bindNames on": {"completion": {"bindNames": True}}, "bindNames off": {"completion": {"bindNames": False}}}


@dataclasses.dataclass(frozen=True)
class LineTask:
    path: str
    line: int  # 0-based
    text: str  # the file with the line emptied to its indentation
    offset: int  # the cursor, after the indentation
    indent: str
    reference: str  # the line's code, without indentation


def body_lines(source: str) -> list[int]:
    """0-based numbers of the lines a function body holds whole: one-line statements (not docstrings), and block
    headers that fit on their line."""
    lines = source.split("\n")
    picked: set[int] = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if not isinstance(node, ast.stmt) or node is function or isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                continue
            if (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                continue  # a docstring
            body = getattr(node, "body", None)
            if body:  # a block: its header must be one line, ending in ':' before the body's line
                if body[0].lineno > node.lineno and lines[node.lineno - 1].rstrip().endswith(":"):
                    picked.add(node.lineno - 1)
            elif node.lineno == node.end_lineno:
                picked.add(node.lineno - 1)
    return sorted(picked)


def collect(tasks: int, seed: int, needing_names: bool = False) -> list[LineTask]:
    found: list[tuple[Path, int]] = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            sys.exit(f"heldout_lines: {package} is not installed")
        for path in sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.py")):
            found += [(path, number) for number in body_lines(path.read_text(encoding="utf-8"))]
    if needing_names:
        random.Random(seed).shuffle(found)  # then the first `tasks` that need a name
    else:
        found = random.Random(seed).sample(found, min(tasks, len(found)))
    result: list[LineTask] = []
    for path, number in found:
        lines = path.read_text(encoding="utf-8").split("\n")
        line = lines[number]
        indent = line[: len(line) - len(line.lstrip())]
        offset = sum(len(previous) + 1 for previous in lines[:number]) + len(indent)
        text = "\n".join([*lines[:number], indent, *lines[number + 1 :]])
        relative = path.as_posix().split("site-packages/")[-1]
        task = LineTask(relative, number, text, offset, indent, line.strip())
        if needing_names and not needed_names(text, hole_of(task), "python"):
            continue
        result.append(task)
        if len(result) == tasks:
            break
    return result


def hole_of(task: LineTask) -> Hole:
    return Hole(FillKind.LINE, task.offset, task.offset, task.indent)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shard", default="1/1", help="K/N: every N-th task from the K-th")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--needing-names",
        action="store_true",
        help="only lines whose file, left with the line "
        "empty, uses a name nothing defines (what `completion.bindNames` acts on)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    k, n = (int(part) for part in args.shard.split("/"))
    tasks = collect(args.tasks, args.seed, args.needing_names)[k - 1 :: n]
    base = {"threads": args.threads, "completion": {"seed": 0}}
    arms = {
        arm: parse_settings({**base, "completion": {**base["completion"], **overrides["completion"]}})
        for arm, overrides in ARMS.items()
    }
    loaded = load_filler(next(iter(arms.values())))
    assert isinstance(loaded, Filler)
    fillers = {arm: Filler(loaded.loaded, settings) for arm, settings in arms.items()}  # one model, shared
    rows = []
    for number, task in enumerate(tasks, 1):
        hole = hole_of(task)
        row = {"path": task.path, "line": task.line + 1, "reference": task.reference}
        row["needed"] = list(needed_names(task.text, hole, "python"))
        for arm, filler in fillers.items():
            started = time.perf_counter()
            outcome = filler.fill(task.text, hole, "python")
            fill = outcome.fills[0].text.strip() if outcome.fills else ""
            row[arm] = {"fill": fill, "exact": fill == task.reference, "ms": (time.perf_counter() - started) * 1000}
        rows.append(row)
        print(f"{number}/{len(tasks)}", file=sys.stderr, flush=True)
    print(f"{len(rows)} lines of {', '.join(PACKAGES)} (seed {args.seed}, shard {args.shard})")
    for arm in ARMS:
        exact = sum(row[arm]["exact"] for row in rows)
        with_names = [row for row in rows if row["needed"]]
        exact_named = sum(row[arm]["exact"] for row in with_names)
        ms = statistics.median(row[arm]["ms"] for row in rows)
        print(
            f"{arm:14s} exact {exact}/{len(rows)}; where names are needed {exact_named}/{len(with_names)}; "
            f"median {ms:.0f} ms/fill"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
