"""Which files a headless run looks at: the named files, and the source files under named folders, walked the
way git sees them (`.gitignore` files respected, hidden and vendored folders left out).

Files that cannot be filled are returned with the reason (excluded by the `exclude` setting, binary, too large,
unknown language), so the caller can report them; a path that does not exist is an input error.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import pathspec

from dgemma_lsp.text import syntax

SKIPPED_DIRS = frozenset({"node_modules", "vendor", "__pycache__", "target"})  # vendored or generated, even untracked
SNIFF_BYTES = 8192  # a NUL byte in the first 8 KiB marks a binary file, as git decides


@dataclass(frozen=True)
class SourceFile:
    path: Path
    language: str  # a `syntax.LANGUAGES` name


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass
class Walk:
    files: list[SourceFile]
    skipped: list[Skipped]
    missing: list[Path]  # named on the command line, but not there: an input error


def walk(paths: Sequence[str | Path], max_file_bytes: int, exclude: Iterable[str] = ()) -> Walk:
    """The fillable files under `paths`, in a stable order, each once; those matching an `exclude` glob skipped."""
    result = Walk([], [], [])
    seen: set[Path] = set()
    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            candidates = _walk_dir(root)
        elif root.is_file():
            candidates = [root]
        else:
            result.missing.append(root)
            continue
        for path in candidates:
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            verdict = classify(path, max_file_bytes, exclude)
            if isinstance(verdict, Skipped):
                result.skipped.append(verdict)
            else:
                result.files.append(verdict)
    return result


def classify(path: Path, max_file_bytes: int, exclude: Iterable[str] = ()) -> SourceFile | Skipped:
    """A fillable source file, or the reason it is not one."""
    pattern = excluded_by(path, exclude)
    if pattern is not None:
        return Skipped(path, f"excluded ({pattern!r} in the exclude setting)")
    spec = syntax.language_for(path.as_posix())
    if spec is None:
        return Skipped(path, "unknown language")
    try:
        size = path.stat().st_size
        if size > max_file_bytes:
            return Skipped(path, f"too large ({size} bytes > limits.maxFileBytes {max_file_bytes})")
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as error:
        return Skipped(path, f"unreadable ({error.strerror or error})")
    if b"\0" in head:
        return Skipped(path, "binary")
    return SourceFile(path, spec.name)


def excluded_by(path: str | PurePath, patterns: Iterable[str]) -> str | None:
    """The first of the `exclude` setting's globs that `path` matches, or None. A glob without a "/" matches the
    file name (`.env*`, `*.pem`), so a folder named `secret-project` excludes nothing; one with a "/" matches the
    whole path (`*/private/*`). Case is ignored: `API.KEY` holds a key as much as `api.key` does."""
    whole = PurePath(path).as_posix().lower()
    name = whole.rsplit("/", 1)[-1]
    for pattern in patterns:
        if fnmatch.fnmatchcase(whole if "/" in pattern else name, pattern.lower()):
            return pattern
    return None


def _walk_dir(root: Path) -> list[Path]:
    """Files under `root`, sorted, without what the `.gitignore` files (those above `root` inside its repository,
    and those inside it) ignore, hidden folders and `SKIPPED_DIRS`."""
    found: list[Path] = []
    inherited = _ancestor_ignores(root)
    specs: dict[Path, list[tuple[Path, pathspec.GitIgnoreSpec]]] = {root: inherited}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        chain = specs.pop(here)
        own = _read_ignore(here)
        if own is not None:
            chain = [*chain, (here, own)]
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in SKIPPED_DIRS and not _ignored(here / d, chain, is_dir=True)
        )
        for d in dirs:
            specs[here / d] = chain
        found.extend(here / f for f in sorted(files) if not _ignored(here / f, chain, is_dir=False))
    return found


def _ancestor_ignores(root: Path) -> list[tuple[Path, pathspec.GitIgnoreSpec]]:
    """The `.gitignore` files of `root`'s ancestors up to the repository top (the folder holding `.git`), outermost
    first; none when `root` is not inside a repository."""
    chain = []
    folder = root.resolve().parent
    while True:
        spec = _read_ignore(folder)
        if spec is not None:
            chain.append((folder, spec))
        if (folder / ".git").exists() or folder.parent == folder:
            break
        folder = folder.parent
    if not (folder / ".git").exists():
        return []
    return chain[::-1]


def _read_ignore(folder: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        text = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(text.splitlines())


def _ignored(path: Path, chain: list[tuple[Path, pathspec.GitIgnoreSpec]], *, is_dir: bool) -> bool:
    """Git's rule: the last matching pattern wins, and a deeper `.gitignore` comes after a shallower one."""
    ignored = False
    for base, spec in chain:
        try:
            relative = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
        verdict = spec.check_file(relative + "/" if is_dir else relative)
        if verdict.include is not None:
            ignored = verdict.include
    return ignored
