"""tree-sitter languages, parsers and queries.

Grammars come from the per-language wheels (tree-sitter-python, ...), not from `tree-sitter-languages`, whose
`get_parser` raises TypeError with tree-sitter >= 0.22.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

import tree_sitter


@dataclass(frozen=True)
class LanguageSpec:
    """A language we parse: its name (also the `.scm` file stem), LSP language ids and file extensions."""

    name: str
    language_ids: tuple[str, ...]
    extensions: tuple[str, ...]
    load: Callable[[], object]  # returns the grammar's PyCapsule
    comment_starts: tuple[str, ...] = ("//", "/*")  # what opens a comment
    output_calls: tuple[str, ...] = ()  # how a line that only prints starts (`pipeline.is_inert`)


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
    LanguageSpec("python", ("python",), (".py", ".pyi"), _python, ("#",), ("print(",)),
    LanguageSpec(
        "javascript",
        ("javascript", "javascriptreact"),
        (".js", ".mjs", ".cjs", ".jsx"),
        _javascript,
        output_calls=("console.",),
    ),
    LanguageSpec("typescript", ("typescript",), (".ts", ".mts", ".cts"), _typescript, output_calls=("console.",)),
    LanguageSpec("tsx", ("typescriptreact",), (".tsx",), _tsx, output_calls=("console.",)),
    LanguageSpec("go", ("go",), (".go",), _go, output_calls=("fmt.Print", "log.Print")),
    LanguageSpec("rust", ("rust",), (".rs",), _rust, output_calls=("println!", "print!", "eprintln!", "dbg!")),
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


def python_compiles(source: str) -> bool:
    """Whether CPython compiles `source`: tree-sitter accepts some programs Python rejects (e.g. `return` outside a
    function, bad assignment targets), and a Python fill must pass both."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for "\d" and friends
            compile(source, "<fill>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


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


# ---- queries -----------------------------------------------------------------------------------------------------

_INHERITS = re.compile(r";\s*inherits:\s*(?P<names>[\w,\s]+)")


def _query_source(name: str) -> str:
    """The text of `queries/<name>.scm`, after the files its first line inherits from (`; inherits: javascript`)."""
    text = (importlib.resources.files(__package__) / "queries" / f"{name}.scm").read_text(encoding="utf-8")
    header = _INHERITS.fullmatch(text.split("\n", 1)[0].strip())
    parents = [p.strip() for p in header["names"].split(",") if p.strip()] if header else []
    return "\n".join([*(_query_source(parent) for parent in parents), text])


@functools.cache
def query(language: str) -> tree_sitter.Query:
    """The textobject query of a language (`@function.outer`, `@block.inner`, `@stub.inner`, ...), compiled once."""
    return tree_sitter.Query(ts_language(language), _query_source(language))


@functools.cache
def _subquery(language: str, captures: tuple[str, ...]) -> tree_sitter.Query:
    """The language's query with only the patterns that capture one of `captures` (a name, or a prefix ending in
    "."): function_sites does not pay for the hundreds of statement matches a long file has."""
    text = _query_source(language)
    compiled = tree_sitter.Query(ts_language(language), text)
    data = text.encode("utf-8")
    for pattern in range(compiled.pattern_count):
        body = data[compiled.start_byte_for_pattern(pattern) : compiled.end_byte_for_pattern(pattern)].decode()
        if not any("@" + name in body for name in captures):
            compiled.disable_pattern(pattern)
    return compiled


def _around(byte_offset: int) -> tuple[int, int]:
    """A byte range that intersects every node touching `byte_offset`, including one that ends right there."""
    return max(0, byte_offset - 1), byte_offset + 1


def captures_at(tree: tree_sitter.Tree, language: str, name: str, byte_offset: int) -> list[tree_sitter.Node]:
    """Nodes captured as `@name` whose range touches `byte_offset` (start <= offset <= end), innermost first."""
    cursor = tree_sitter.QueryCursor(_subquery(language, (name,)))
    cursor.set_byte_range(*_around(byte_offset))
    found = {node.id: node for node in cursor.captures(tree.root_node).get(name, ())}
    touching = [node for node in found.values() if node.start_byte <= byte_offset <= node.end_byte]
    return sorted(touching, key=lambda node: (node.end_byte - node.start_byte, -node.start_byte))


def captures_in(tree: tree_sitter.Tree, language: str, prefix: str) -> dict[str, list[tree_sitter.Node]]:
    """Every capture in the tree whose name starts with `prefix` (e.g. "outline."), by name; {} where the language's
    query has none."""
    return tree_sitter.QueryCursor(_subquery(language, (prefix,))).captures(tree.root_node)


def node_at(tree: tree_sitter.Tree, byte_offset: int) -> tree_sitter.Node:
    """The smallest named node at a byte offset."""
    node = tree.root_node.named_descendant_for_byte_range(byte_offset, byte_offset)
    assert node is not None  # at worst the root itself, even for an offset past its end
    return node


# ---- functions ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSite:
    """A function, method, closure or lambda, with the part of its body that a fill replaces.

    All offsets are BYTE offsets into the UTF-8 source (tree-sitter's unit); `documents.Document.str_index` and
    `spans.hole_for_function` turn them into string indices. `body_start:body_end` is the range to replace: inside
    the braces for brace languages, and for Python everything after the docstring (the stub statement(s), with any
    comment next to them). `body_indent` is the indentation the body's lines carry.
    """

    start: int
    end: int
    body_start: int
    body_end: int
    is_stub: bool
    name: str | None
    body_indent: str


INDENT_UNITS = {"go": "\t"}  # gofmt indents with tabs; elsewhere one level is 4 spaces
DEFAULT_INDENT_UNIT = "    "

_LEADING = re.compile(rb"[ \t]*")
_WRAPPERS = {"statement_list"}  # tree-sitter-go puts a body's statements in one more node


def function_sites(tree: tree_sitter.Tree, language: str, source: bytes | None = None) -> list[FunctionSite]:
    """Every function in the tree, in source order. `source` defaults to the bytes the tree was parsed from."""
    return _sites(tree, language, source, None)


def function_at(
    tree: tree_sitter.Tree, language: str, byte_offset: int, source: bytes | None = None
) -> FunctionSite | None:
    """The innermost function whose range holds `byte_offset` (its end included), or None."""
    sites = [s for s in _sites(tree, language, source, _around(byte_offset)) if s.start <= byte_offset <= s.end]
    return min(sites, key=lambda site: site.end - site.start, default=None)


def _sites(tree, language, source, byte_range) -> list[FunctionSite]:
    if source is None:
        source = tree.root_node.text
    functions: dict[int, dict[str, tree_sitter.Node]] = {}
    stubs: dict[int, list[tree_sitter.Node]] = {}
    cursor = tree_sitter.QueryCursor(_subquery(language, ("function.", "stub.")))
    if byte_range is not None:
        # Matches that merely intersect the range come back whole, captures outside it included.
        cursor.set_byte_range(*byte_range)
    for _, captures in cursor.matches(tree.root_node):
        if "function.outer" in captures:
            # One function can match twice (its own pattern, and the binding that names it): merge by node.
            outer = captures["function.outer"][0]
            found = functions.setdefault(outer.id, {"function.outer": outer})
            for key in ("function.inner", "function.name"):
                if key in captures:
                    found.setdefault(key, captures[key][0])
        if "stub.inner" in captures:  # a Python TODO comment's match holds its function as well
            stubs.setdefault(captures["_body"][0].id, []).extend(captures["stub.inner"])
    sites = [
        _site(found, stubs.get(found["function.inner"].id, []), source, language)
        for found in functions.values()
        if "function.inner" in found
    ]
    return sorted(sites, key=lambda site: (site.start, -site.end))


def _site(found: dict[str, tree_sitter.Node], stubs: list[tree_sitter.Node], source: bytes, language: str):
    outer, body = found["function.outer"], found["function.inner"]
    name = found.get("function.name")
    content = _content(body)
    # Python's `def f():` + a TODO comment leaves the comment outside the (empty) body: see python.scm.
    outside = [s for s in stubs if not _within(s, body) and _belongs_below(s, outer)]
    if outside and not content:
        content = outside[:1]
    if is_braced(body):
        body_start, body_end = body.children[0].end_byte, _closing(body)
    elif body.type == "block" and language == "python":
        statements = content[1:] if content and _is_docstring(content[0]) else content
        body_start = statements[0].start_byte if statements else body.end_byte
        body_end = statements[-1].end_byte if statements else body.end_byte
    else:  # an expression body: a lambda, an arrow function or a closure without braces
        body_start, body_end = body.start_byte, body.end_byte
    return FunctionSite(
        start=outer.start_byte,
        end=max(outer.end_byte, body_end),  # a Python TODO comment lies past the def's own end
        body_start=body_start,
        body_end=body_end,
        is_stub=_is_stub(body, content, stubs, language),
        name=source[name.start_byte : name.end_byte].decode("utf-8", "replace") if name else None,
        body_indent=body_indent(source, outer.start_byte, content[0].start_byte if content else None, language),
    )


def _content(body: tree_sitter.Node) -> list[tree_sitter.Node]:
    nodes = []
    for child in body.named_children:
        nodes.extend(child.named_children if child.type in _WRAPPERS else [child])
    return nodes


def _is_stub(body, content, stubs, language) -> bool:
    """Whether the body holds nothing but one stub (plus comments, and for Python a leading docstring).

    Checked here rather than in the query: comments may sit anywhere between statements and anchors cannot skip them.
    """
    stub_ids = {stub.id for stub in stubs}
    if body.id in stub_ids:  # an empty Go body is its own stub
        return True
    statements = [node for node in content if not _is_comment(node)]
    if language == "python" and statements and _is_docstring(statements[0]):
        statements = statements[1:]
    if statements:
        return len(statements) == 1 and statements[0].id in stub_ids
    return any(node.id in stub_ids for node in content)  # only comments, one of them a TODO


def _is_comment(node: tree_sitter.Node) -> bool:
    return node.type.endswith("comment")  # comment, line_comment, block_comment


def _is_docstring(node: tree_sitter.Node) -> bool:
    children = node.named_children
    return node.type == "expression_statement" and len(children) == 1 and children[0].type == "string"


def _within(node: tree_sitter.Node, outer: tree_sitter.Node) -> bool:
    return outer.start_byte <= node.start_byte and node.end_byte <= outer.end_byte


def _belongs_below(comment: tree_sitter.Node, function: tree_sitter.Node) -> bool:
    """A comment on a later line, indented deeper than the `def`."""
    start, below = function.start_point, comment.start_point
    return below.row > start.row and below.column > start.column


def is_braced(body: tree_sitter.Node) -> bool:
    return body.child_count >= 1 and body.children[0].type == "{"


def _closing(body: tree_sitter.Node) -> int:
    last = body.children[-1]
    return last.start_byte if last.type == "}" else body.end_byte


def line_indent(source: bytes, byte_offset: int) -> str:
    """The leading whitespace of the line holding `byte_offset`."""
    leading = _LEADING.match(source, source.rfind(b"\n", 0, byte_offset) + 1)
    assert leading is not None  # the pattern matches the empty string
    return leading.group().decode("ascii")


def starts_line(source: bytes, byte_offset: int) -> bool:
    """Whether only whitespace precedes `byte_offset` on its line."""
    start = source.rfind(b"\n", 0, byte_offset) + 1
    return not source[start:byte_offset].strip(b" \t")


def body_indent(source: bytes, header: int, first: int | None, language: str | None) -> str:
    """The indentation of a body's lines: that of its first line when it starts a line of its own, else that of the
    line at `header` (where the function or block opens) plus one indent unit."""
    if first is not None and starts_line(source, first):
        return line_indent(source, first)
    return line_indent(source, header) + INDENT_UNITS.get(language or "", DEFAULT_INDENT_UNIT)


def is_word_char(char: str) -> bool:
    """Whether `char` continues an identifier in the languages served (`$` for JavaScript and TypeScript); False for
    the empty string, so callers may pass a slice past either end of the text."""
    return bool(char) and (char.isalnum() or char in "_$")
