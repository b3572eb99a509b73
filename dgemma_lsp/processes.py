"""Child processes that must not outlive us: each runs in its own process group, killed whole on timeout or
interrupt. The user's own check command (`fill --verify CMD`) runs here, unsandboxed, as the user asked; generated
programs run sandboxed in `evaluation/sandbox.py`, on the same group killing."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


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
            kill_group(process)
            return CommandResult(False, None, time.perf_counter() - started, f"timed out after {timeout:g} s")
        except BaseException:
            kill_group(process)
            raise
        output.seek(max(0, output.seek(0, os.SEEK_END) - 600))
        tail = output.read().decode("utf-8", "replace").strip()
    return CommandResult(process.returncode == 0, process.returncode, time.perf_counter() - started, tail)


def kill_group(process: subprocess.Popen) -> None:
    """Kill the program and whatever it started (it leads its own session), before it is reaped."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def tail_of(path: Path, size: int = 600) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", "replace").strip()
