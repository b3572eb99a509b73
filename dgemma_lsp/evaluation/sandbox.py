"""Run untrusted generated programs: a fresh isolated interpreter per program, in a temp dir, with a timeout,
capped memory and output, and the whole process group killed on timeout. (The user's own
commands, `fill --verify`, run unsandboxed through `processes.run_command`.)"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from dgemma_lsp.processes import kill_group, tail_of

TIMEOUT_S = 3.0  # per program, as upstream HumanEval
MEMORY_LIMIT = 2 << 30  # bytes of address space per program
OUTPUT_LIMIT = 16 << 20  # bytes a program may write to any file, its stdout and stderr included


@dataclass(frozen=True)
class Execution:
    status: str  # "passed", "failed" or "timeout"
    detail: str = ""  # the end of stderr, for failures


# Runs the program file named by argv[1] with capped memory and file sizes (where the platform allows caps).
_RUNNER = """\
import resource, sys
for cap, size in ((resource.RLIMIT_AS, {memory}), (resource.RLIMIT_FSIZE, {output})):
    try:
        resource.setrlimit(cap, (size, size))
    except (ValueError, OSError):
        pass
path = sys.argv[1]
with open(path, encoding="utf-8") as handle:
    source = handle.read()
exec(compile(source, path, "exec"), {{"__name__": "__main__"}})
"""


def execute(source: str, timeout: float = TIMEOUT_S) -> Execution:
    """Run `source` in a fresh isolated interpreter (`python -I`) in a temp dir; passed = ran to the end.

    The last stdout line must be a sentinel printed after the source, so an early `exit(0)` fails. On timeout the
    whole process group is killed.
    """
    sentinel = f"evaluation-finished-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory(prefix="dgemma-eval-") as folder:
        program = Path(folder, "program.py")
        program.write_text(f"{source}\nprint({sentinel!r})\n", encoding="utf-8")
        out, err = Path(folder, "stdout"), Path(folder, "stderr")
        runner = _RUNNER.format(memory=MEMORY_LIMIT, output=OUTPUT_LIMIT)
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-I", "-c", runner, program.name],
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(process)
                return Execution("timeout", f"timed out after {timeout:g} s")
        finished = tail_of(out).rstrip().rsplit("\n", 1)[-1] == sentinel
        if process.returncode == 0 and finished:
            return Execution("passed")
        detail = tail_of(err) or f"exit status {process.returncode}" + ("" if finished else ", stopped early")
        return Execution("failed", detail)
