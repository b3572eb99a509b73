"""What a linter of the language finds in a file, so that `fill` keeps only fills that add nothing to it: a fill can
parse and still be junk (`ET`, `s`, `return this,` in a stub body are three undefined names).

Python: pyflakes (pure Python, milliseconds a file, no project set up) and CPython's own compile-time warnings
(`"is" with a literal`, an invalid escape). Rust: `rustc`, where it is installed, on a file that compiles on its own
as a library crate (about a second a file; a module of a bigger crate needs cargo, and is left to `--verify`). The
other languages have no checker as independent of a project's setup (eslint, tsc, `go vet` need a configured
project or a build), so their fills keep the parse check alone.
"""

from __future__ import annotations

import ast
import functools
import re
import shlex
import shutil
import tempfile
import warnings
from pathlib import Path

from dgemma_lsp.processes import run_command

RUSTC_TIMEOUT_S = 60.0  # a slow check gives no judgement rather than holding up the fill


def added_problem(before: str, after: str, language: str) -> str | None:
    """What the linter finds in `after` (a file with a fill) that it does not find in `before`, as one line for the
    report; None when nothing is new, or when there is no linter for the language or the file does not compile
    (then the parse checks decide alone)."""
    if language == "rust":
        return _rustc_problem(before, after)
    if language != "python":
        return None
    old, new = python_findings(before), python_findings(after)
    if old is None or new is None:
        return None
    # Sets, not counts: a name the file already uses undefined is one the project provides somehow (a builtin
    # installed at run time, a star import), and a fill that uses it too adds no problem.
    added = set(new) - set(old)
    return "the fill adds " + "; ".join(sorted(added)) if added else None


def _rustc_problem(before: str, after: str) -> str | None:
    """rustc's first error in `after`, where `before` compiles on its own; None where rustc cannot judge."""
    if rustc_errors(before) != ():
        return None  # no rustc, or the file needs its crate (`use crate::...`, a dependency): only cargo can tell
    errors = rustc_errors(after)
    return f"rustc: {errors[0]}" if errors else None


_RUSTC_POSITION = re.compile(r"^fill\.rs:\d+:\d+: ")  # where a fill's line moves the rest


@functools.lru_cache(maxsize=8)  # each hole's candidates are compared against the file as it stands
def rustc_errors(source: str) -> tuple[str, ...] | None:
    """rustc's errors for `source` compiled alone as a 2021-edition library crate (warnings off, nothing linked),
    without their positions; () when it compiles; None when rustc is not installed or timed out."""
    rustc = shutil.which("rustc")
    if rustc is None:
        return None
    with tempfile.TemporaryDirectory(prefix="dgemma-rustc-") as work:
        Path(work, "fill.rs").write_text(source, encoding="utf-8")
        command = "--edition 2021 --crate-type lib --emit=metadata --error-format=short -A warnings -o fill.rmeta"
        result = run_command(f"{shlex.quote(rustc)} {command} fill.rs", timeout=RUSTC_TIMEOUT_S, cwd=Path(work))
    if result.returncode is None:
        return None
    if result.passed:
        return ()
    lines = [_RUSTC_POSITION.sub("", line) for line in result.tail.splitlines()]
    errors = tuple(line for line in lines if line.startswith("error") and not line.startswith("error: aborting"))
    return errors or ("the file does not compile",)


_LINE = re.compile(r"\bline \d+")  # "redefinition of unused 'f' from line 3": a fill above moves that line
_NOT_PROBLEMS = {"ImportStarUsage"}  # "'x' may be undefined, or defined from star imports": likely defined


@functools.lru_cache(maxsize=8)  # each hole compares against the file as it stands, once per candidate
def python_findings(source: str) -> tuple[str, ...] | None:
    """pyflakes' messages and CPython's compile warnings, without the line numbers a fill above them changes; None
    when the source does not compile."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compile(source, "<fill>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = pyflakes_messages(source)
    if found is None:
        return None
    messages = [
        _LINE.sub("line N", message.message % message.message_args)
        for message in found
        if type(message).__name__ not in _NOT_PROBLEMS
    ]
    return tuple(messages + [f"syntax warning: {warning.message}" for warning in caught])


@functools.lru_cache(maxsize=32)  # a line hole's candidates are judged on the whole file, each once
def undefined_names(source: str) -> tuple[tuple[str, int], ...] | None:
    """Each name pyflakes finds used where nothing defines it, with its 1-based line, in source order; None when
    the source does not parse. Builtins, and names a star import may provide, are not reported."""
    from pyflakes.messages import UndefinedName

    found = pyflakes_messages(source)
    if found is None:
        return None
    undefined = [(message.message_args[0], message.lineno) for message in found if isinstance(message, UndefinedName)]
    return tuple(sorted(undefined, key=lambda item: item[1]))


@functools.lru_cache(maxsize=32)  # `fill` reads a candidate's file for both of the above: one pyflakes pass
def pyflakes_messages(source: str) -> tuple | None:
    """pyflakes' messages for `source`, or None when it does not parse."""
    from pyflakes.checker import Checker

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # compile warnings are `python_findings`' business, read from compile
            return tuple(Checker(ast.parse(source), filename="<fill>").messages)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
