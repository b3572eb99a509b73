"""Headless filling for scripts and CI: fill every stub function in files or trees, then diff or write.

It runs the same pipeline as the server. Files are written atomically (temp file + rename), and only when the
filled file still parses; a file that cannot be read or filled is reported and left untouched.
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
import tempfile
from pathlib import Path

from . import loading, spans, syntax
from .errors import DgemmaError
from .pipeline import Filler
from .settings import parse_settings

log = logging.getLogger(__name__)


SKIPPED_DIRS = {"node_modules", "vendor", "__pycache__", "target"}


def source_files(paths: list[str]) -> list[Path]:
    """Files of a known language under `paths` (directories recursively; hidden and vendored folders skipped)."""
    found: list[Path] = []
    for raw in paths:
        root = Path(raw)
        for file in sorted(root.rglob("*")) if root.is_dir() else [root]:
            folders = file.relative_to(root).parts[:-1] if root.is_dir() else ()
            if any(folder.startswith(".") or folder in SKIPPED_DIRS for folder in folders):
                continue
            if file.is_file() and syntax.language_for(file.as_posix()):
                found.append(file)
    return found


def stub_sites(tree, language: str) -> list:
    return [site for site in syntax.function_sites(tree, language) if site.is_stub]


def fill_text(filler: Filler, text: str, language: str) -> tuple[str, int]:
    """`text` with every stub function filled; and how many were filled. Later stubs first, so offsets hold."""
    tree = syntax.parse(text, language)
    sites = stub_sites(tree, language)
    filled = 0
    for site in sorted(sites, key=lambda s: s.body_start, reverse=True):
        hole = spans.hole_for_function(text, tree, language, site)
        outcome = filler.fill(text, hole, language)
        if outcome.fills:
            fill = outcome.fills[0]
            text = text[: fill.start] + fill.text + text[fill.end :]
            filled += 1
    return text, filled


def write_atomically(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def fill_paths(paths: list[str], cli_settings: dict, *, write: bool) -> int:
    settings = parse_settings(cli_settings)
    try:
        filler = Filler(loading.load(settings), settings)
    except DgemmaError as error:
        print(f"dgemma-lsp: {error}", file=sys.stderr)
        return 2
    status = 0
    for path in source_files(paths):
        language = syntax.language_for(path.as_posix()).name
        try:
            original = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            print(f"{path}: skipped ({error})", file=sys.stderr)
            status = 1
            continue
        filled_text, count = fill_text(filler, original, language)
        if count == 0:
            stubs = len(stub_sites(syntax.parse(original, language), language))
            if stubs:
                print(f"{path}: {stubs} stub(s), none filled (the model produced no code that parses)", file=sys.stderr)
            continue
        if syntax.error_count(filled_text, language) > syntax.error_count(original, language):
            print(f"{path}: fill would break the syntax; left unchanged", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: filled {count} function(s)", file=sys.stderr)
        if write:
            write_atomically(path, filled_text)
        else:
            sys.stdout.writelines(
                difflib.unified_diff(original.splitlines(True), filled_text.splitlines(True), f"a/{path}", f"b/{path}")
            )
    return status
