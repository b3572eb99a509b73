"""Writing source files so that a crash, a kill or a full disk leaves each file whole: its old or its new content.

A write goes to a temp file in the same folder (same file system, so the rename is atomic), is flushed to disk,
takes the original's permission bits and is renamed over the original; the folder is then synced so the rename
itself survives a power cut.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

TEMP_MARK = ".dgemma-tmp-"  # temp files are `.{name}.dgemma-tmp-XXXX`: hidden, and recognisable as ours


class ChangedOnDiskError(OSError):
    """The file is no longer what was read: someone edited it meanwhile; it was not written."""


@dataclass(frozen=True)
class Snapshot:
    """A source file as read: its bytes (to detect later changes), its text (line ends kept) and its mode."""

    path: Path
    data: bytes
    text: str
    mode: int


def read_snapshot(path: Path) -> Snapshot:
    """Raises OSError, or UnicodeDecodeError for a file that is not UTF-8."""
    data = path.read_bytes()
    return Snapshot(path, data, data.decode("utf-8"), stat.S_IMODE(path.stat().st_mode))


def write_atomically(path: Path, content: str | bytes, mode: int | None = None) -> None:
    data = content.encode("utf-8") if isinstance(content, str) else content
    if mode is None:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def check_writable(path: Path) -> None:
    """Raise OSError where `write_atomically(path, ...)` would fail for want of a folder or of permission: checked
    before long work whose result would be lost at the end."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMP_MARK}")
    os.close(fd)
    os.unlink(temp)


def write_if_unchanged(snapshot: Snapshot, content: str | bytes, expected: bytes | None = None) -> None:
    """Write `content` over the file unless it changed since `snapshot` (or since we last wrote `expected`).

    The check and the rename are not one atomic step; the window is a few milliseconds, which is what editors and
    formatters accept too.
    """
    if snapshot.path.read_bytes() != (snapshot.data if expected is None else expected):
        raise ChangedOnDiskError(f"{snapshot.path} changed on disk since it was read; not written")
    write_atomically(snapshot.path, content, snapshot.mode)


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files a killed run left beside `path`; returns them."""
    stale = list(path.parent.glob(f".{_glob_escape(path.name)}{TEMP_MARK}*"))
    for temp in stale:
        temp.unlink(missing_ok=True)
    return stale


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a folder; the rename is still atomic there
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
