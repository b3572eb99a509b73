"""`fill --verify CMD`: try fills in the real files, keep only those with which CMD passes.

The check command (a test suite) must see a candidate where it belongs, so candidates are written in place rather
than into a copy of the tree (a copy of a project with its virtual environment and build outputs is large, and
tests often resolve paths from the real checkout). What keeps the user's files safe is a journal:

- before the first candidate goes into a file, its original content and mode are written beside it, durably, as
  `.{name}.dgemma-backup` (JSON), together with the hash of every candidate about to be written;
- every write is atomic (`atomic.write_atomically`), so the file is always the original or one whole candidate;
- on success, on failure, on Ctrl-C, SIGTERM or CMD crashing, the file is settled to the original or to the last
  content that passed, and the journal is removed;
- a SIGKILL (or power cut) can leave a candidate in place with its journal: the next `dgemma-lsp fill` on that file
  (any mode but `--check`) puts the original back, but only when the file still holds the original or a candidate
  the journal lists, so an edit made since is never overwritten.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from dgemma_lsp.headless.atomic import Snapshot, remove_stale_temps, write_atomically, write_if_unchanged
from dgemma_lsp.processes import CommandResult, run_command

BACKUP_MARK = ".dgemma-backup"


def backup_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{BACKUP_MARK}")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FileTrial:
    """One file while its candidates are verified; a context manager that always leaves it whole and settled."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.on_disk = snapshot.data  # what the file holds now, as far as we know
        self.written: list[str] = []  # digests of every candidate this trial may have put in the file
        self.final: bytes | None = None  # set by `finish`: what the file ends as

    def __enter__(self) -> FileTrial:
        self._journal()
        return self

    def put(self, text: str) -> None:
        """Make the file hold `text`, journaling it first. Raises ChangedOnDiskError if someone else wrote it."""
        data = text.encode("utf-8")
        if data == self.on_disk:
            return
        if _digest(data) not in self.written:
            self.written.append(_digest(data))
            self._journal()
        write_if_unchanged(self.snapshot, data, expected=self.on_disk)
        self.on_disk = data

    def finish(self, text: str) -> None:
        """The file ends as `text` (the original, or content that passed)."""
        self.put(text)
        self.final = text.encode("utf-8")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.final is None:
            current = self.snapshot.path.read_bytes()
            # Only a candidate of ours is put back (an interruption can land after a rename but before `on_disk`
            # learnt of it); anything else is someone else's content now, theirs to keep.
            if current != self.snapshot.data and (current == self.on_disk or _digest(current) in self.written):
                write_atomically(self.snapshot.path, self.snapshot.data, self.snapshot.mode)
        # Not in a `finally`: when settling itself fails or is interrupted, the journal stays for the next run.
        backup_path(self.snapshot.path).unlink(missing_ok=True)

    def _journal(self) -> None:
        entry = {
            "original": base64.b64encode(self.snapshot.data).decode("ascii"),
            "mode": self.snapshot.mode,
            "written": self.written,
        }
        write_atomically(backup_path(self.snapshot.path), json.dumps(entry), 0o600)


def restore_interrupted(path: Path) -> str | None:
    """Undo what a killed `--verify` run left in `path`; returns what was done, None when there was nothing."""
    remove_stale_temps(path)
    backup = backup_path(path)
    if not backup.exists():
        return None
    try:
        entry = json.loads(backup.read_text(encoding="utf-8"))
        original = base64.b64decode(entry["original"])
        mode, written = int(entry["mode"]), set(entry["written"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"an unreadable journal {backup.name} was left by an interrupted --verify run; check the file by hand"
    current = path.read_bytes() if path.exists() else None
    if current == original:
        backup.unlink()
        return None
    if current is not None and _digest(current) not in written:
        return f"changed since an interrupted --verify run; its original is kept in {backup.name}"
    write_atomically(path, original, mode)
    backup.unlink()
    return "restored the original left by an interrupted --verify run"


class Verifier:
    """Runs CMD with a candidate in place; `attempt` says whether it passed."""

    def __init__(self, command: str, timeout: float | None = None, cwd: Path | None = None) -> None:
        self.command, self.timeout, self.cwd = command, timeout, cwd
        self.runs: list[CommandResult] = []

    def attempt(self, trial: FileTrial, text: str) -> CommandResult:
        trial.put(text)
        # CPython takes a .pyc as fresh when the source's mtime (whole seconds) and size match: a .pyc written
        # while CMD tried one candidate would stand in for the next one of the same size written that second.
        env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
        result = run_command(self.command, timeout=self.timeout, cwd=self.cwd, env=env)
        self.runs.append(result)
        return result


@contextlib.contextmanager
def interrupts_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt while verifying, so that `finally` blocks (which settle the
    files and stop CMD) run as they do on Ctrl-C. SIGKILL cannot be caught: the journal covers it."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            previous[signum] = signal.signal(signum, interrupt)
        except (ValueError, OSError):  # not the main thread, or no such signal here
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
