"""Definitions from other files of the workspace that the code near the cursor uses: a line that calls
`load_config(...)` is written better with `def load_config(path: Path, *, strict: bool = False) -> Config: ...` in
view, and the window of the file alone never shows it. Cross-file context is among what users of Copilot, Tabby and
Continue ask for most (`shared/notes/peers.md`).

Python: the names the file imports (`from .config import load_config`, `import pkg.scanner as scanner`) that the text
around the cursor uses are looked up in the workspace's files (`Workspace`: the open documents in the server, the
tree for `fill`, the package for the evaluation) and shown as their outline entries (`text/outline.py`): a function's
signature, a class with its methods' signatures. Each snippet is headed by a comment naming its file, nearest use
first, under a token budget (`context.relatedTokens`).
"""

from __future__ import annotations

import ast
import functools
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from dgemma_lsp.text.outline import OutlineEntry, outline, render
from dgemma_lsp.text.syntax import parse

_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?")
_DEFINED = re.compile(r"\s*(?:async\s+)?(?:def|class)\s+(\w+)")
_IMPORT_LINE = re.compile(r"^[ \t]*(?:from|import)[ \t][^\n]*", re.M)
NEAR_CHARS = 2_000  # how much text around the cursor names what to look up


@dataclass(frozen=True)
class Workspace:
    """Other files a fill may draw on: relative POSIX paths (`pkg/mod.py`) to their text, and the path of the file
    being filled among them (its own entry, if any, is not read)."""

    path: str
    files: Mapping[str, str] = field(default_factory=dict)


def imports_of(import_texts: list[str]) -> dict[str, tuple[str, str | None]]:
    """What each name a file binds by import refers to: `name -> (module, attribute)`, where `attribute` is None
    for a module bound whole (`import pkg.mod as m`); relative modules keep their dots (`.config`)."""
    bound: dict[str, tuple[str, str | None]] = {}
    for text in import_texts:
        try:
            statements = ast.parse(text).body
        except SyntaxError:
            continue
        for statement in statements:
            if isinstance(statement, ast.ImportFrom):
                module = "." * statement.level + (statement.module or "")
                for alias in statement.names:
                    if alias.name != "*":
                        bound[alias.asname or alias.name] = (module, alias.name)
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    head = alias.name.split(".")[0]  # `import a.b` binds `a`
                    bound[alias.asname or head] = (alias.name if alias.asname else head, None)
    return bound


def module_path(module: str, importer: str, paths: list[str]) -> str | None:
    """The workspace file a module name means for the file at `importer`: a relative module from the importer's
    folder; an absolute one as the path that ends with it, nearest the importer when several do."""
    level = len(module) - len(module.lstrip("."))
    parts = [p for p in module.lstrip(".").split(".") if p]
    if level:
        folder = posixpath.dirname(importer)
        for _ in range(level - 1):
            folder = posixpath.dirname(folder)
        stem = posixpath.join(folder, *parts) if parts else folder
        wanted = [stem + ".py", posixpath.join(stem, "__init__.py")]
        return next((p for p in wanted if p in paths), None)
    if not parts:
        return None
    tails = ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"]))
    found = [p for p in paths if any(p == tail or p.endswith("/" + tail) for tail in tails)]
    return max(found, key=lambda p: (len(posixpath.commonprefix([p, importer])), -len(p)), default=None)


def used_names(text: str, cursor: int) -> list[str]:
    """Names (and `module.attribute` pairs) in the text around the cursor, nearest the cursor first; an import
    statement's own lines name nothing used."""
    before = _IMPORT_LINE.sub(_blank, text[max(0, cursor - NEAR_CHARS) : cursor])
    after = _IMPORT_LINE.sub(_blank, text[cursor : cursor + NEAR_CHARS // 4])
    order: dict[str, int] = {}
    for found in _NAME.finditer(before):
        order[found.group()] = len(before) - found.start()
    for found in _NAME.finditer(after):
        order.setdefault(found.group(), found.start() + 1)
    return sorted(order, key=order.__getitem__)


def _blank(found: re.Match) -> str:
    return " " * len(found.group())


@functools.lru_cache(maxsize=64)
def definitions(text: str) -> dict[str, str]:
    """The top-level definitions of a Python file by name, each as its outline (a class with its methods)."""
    tree = parse(text, "python")
    entries = outline(tree, "python", (0, 0), 0)
    found: dict[str, str] = {}
    for entry in entries:
        named = _DEFINED.match(entry.text)
        if named and entry.parent is None:
            members = {e.start for e in entries if e.parent == entry.start}
            kept: list[OutlineEntry] = [e for e in entries if e.start == entry.start or e.start in members]
            found.setdefault(named.group(1), render(kept, {e.start for e in kept}))
    return found


def related_snippets(
    text: str,
    cursor: int,
    import_texts: list[str],
    workspace: Workspace,
    budget: int,
    tokenize: Callable[[str], tuple[list[int], list]],
) -> tuple[str, list[int]]:
    """The definitions from other workspace files that the text around the cursor uses, nearest use first while
    they fit in `budget` tokens, each after a comment naming its file; and their ids. "" when there are none."""
    if budget <= 0 or not workspace.files:
        return "", []
    bound = imports_of(import_texts)
    paths = [p for p in workspace.files if p != workspace.path]
    snippets: list[str] = []
    seen: set[tuple[str, str]] = set()
    spent = 0
    for name in used_names(text, cursor):
        head, _, attribute = name.partition(".")
        if head not in bound:
            continue
        module, imported = bound[head]
        wanted = imported or attribute
        if not wanted:
            continue
        path = module_path(module, workspace.path, paths)
        if path is None and imported is not None:  # `from pkg import mod`: the name is a module
            submodule = module + imported if module.endswith(".") else f"{module}.{imported}"
            path, wanted = module_path(submodule, workspace.path, paths), attribute
        if path is None or not wanted or (path, wanted) in seen:
            continue
        seen.add((path, wanted))
        definition = definitions(workspace.files[path]).get(wanted)
        if definition is None:
            continue
        snippet = f"# {path}\n{definition}"
        cost = len(tokenize(snippet)[0])
        if spent + cost > budget:
            continue
        snippets.append(snippet)
        spent += cost
    if not snippets:
        return "", []
    rendered = "".join(reversed(snippets))  # the nearest use last: closest to the window
    return rendered, tokenize(rendered)[0]
