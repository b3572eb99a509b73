"""tree-sitter languages, parsers and queries.

Grammars come from the per-language wheels (tree-sitter-python, ...), not from `tree-sitter-languages`, whose
`get_parser` raises TypeError with tree-sitter >= 0.22.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Callable
from urllib.parse import unquote, urlparse

import tree_sitter


@dataclass(frozen=True)
class LanguageSpec:
    """A language we parse: its name (also the `.scm` file stem), LSP language ids and file extensions."""

    name: str
    language_ids: tuple[str, ...]
    extensions: tuple[str, ...]
    load: Callable[[], object]  # returns the grammar's PyCapsule


def _python():
    import tree_sitter_python

    return tree_sitter_python.language()


def _javascript():
    import tree_sitter_javascript

    return tree_sitter_javascript.language()


def _typescript():
    import tree_sitter_typescript

    return tree_sitter_typescript.language_typescript()


def _tsx():
    import tree_sitter_typescript

    return tree_sitter_typescript.language_tsx()


def _go():
    import tree_sitter_go

    return tree_sitter_go.language()


def _rust():
    import tree_sitter_rust

    return tree_sitter_rust.language()


LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec("python", ("python",), (".py", ".pyi"), _python),
    LanguageSpec("javascript", ("javascript", "javascriptreact"), (".js", ".mjs", ".cjs", ".jsx"), _javascript),
    LanguageSpec("typescript", ("typescript",), (".ts", ".mts", ".cts"), _typescript),
    LanguageSpec("tsx", ("typescriptreact",), (".tsx",), _tsx),
    LanguageSpec("go", ("go",), (".go",), _go),
    LanguageSpec("rust", ("rust",), (".rs",), _rust),
)


def language_for(uri: str | None = None, language_id: str | None = None) -> LanguageSpec | None:
    """The language of a document, from its LSP language id or else its file extension; None when unknown."""
    if language_id:
        for spec in LANGUAGES:
            if language_id in spec.language_ids:
                return spec
    if uri:
        suffix = PurePosixPath(unquote(urlparse(uri).path)).suffix.lower()
        for spec in LANGUAGES:
            if suffix in spec.extensions:
                return spec
    return None


def language_named(name: str) -> LanguageSpec | None:
    return next((spec for spec in LANGUAGES if spec.name == name), None)


@functools.cache
def ts_language(name: str) -> tree_sitter.Language:
    spec = language_named(name)
    if spec is None:
        raise KeyError(name)
    return tree_sitter.Language(spec.load())


def new_parser(name: str) -> tree_sitter.Parser:
    """A fresh parser (parsers hold state, so each document gets its own)."""
    return tree_sitter.Parser(ts_language(name))


def parse(source: str | bytes, language: str) -> tree_sitter.Tree:
    data = source.encode("utf-8") if isinstance(source, str) else source
    return new_parser(language).parse(data)


def error_count(source: str | bytes, language: str) -> int:
    """How many ERROR or MISSING nodes a fresh parse of `source` has (0 means it parses cleanly)."""
    tree = parse(source, language)
    if not tree.root_node.has_error:
        return 0
    count = 0
    # A plain walk that descends only into subtrees with errors; a query cannot match MISSING nodes.
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        if node.has_error:
            stack.extend(node.children)
    return count
