"""Run untrusted generated programs: a fresh isolated interpreter per program, in a temp dir, with a timeout,
capped memory and output, and the whole process group killed on timeout. Also runs the user's own check command
for `fill --verify`, with the same group killing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

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
                _kill_group(process)
                return Execution("timeout", f"timed out after {timeout:g} s")
        finished = _tail(out).rstrip().rsplit("\n", 1)[-1] == sentinel
        if process.returncode == 0 and finished:
            return Execution("passed")
        detail = _tail(err) or f"exit status {process.returncode}" + ("" if finished else ", stopped early")
        return Execution("failed", detail)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the program and whatever it started (it leads its own session), before it is reaped."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def _tail(path: Path, size: int = 600) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace").strip()


# ---- the user's own commands (`dgemma-lsp fill --verify CMD`) ----------------------------------------------------


@dataclass(frozen=True)
class CommandResult:
    passed: bool  # exit status 0 within the timeout
    returncode: int | None  # None on timeout
    seconds: float
    tail: str  # the end of its output, for reports


def run_command(
    command: str, *, timeout: float | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> CommandResult:
    """Run a shell command line in its own process group; on timeout, or when this process is interrupted while
    waiting (Ctrl-C, SIGTERM turned into KeyboardInterrupt), the whole group is killed before returning or raising,
    so no test run outlives the fill that started it."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command,
            shell=True,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C reaches us, and we stop the group ourselves
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return CommandResult(False, None, time.perf_counter() - started, f"timed out after {timeout:g} s")
        except BaseException:
            _kill_group(process)
            raise
        output.seek(max(0, output.seek(0, os.SEEK_END) - 600))
        tail = output.read().decode("utf-8", "replace").strip()
    return CommandResult(process.returncode == 0, process.returncode, time.perf_counter() - started, tail)
