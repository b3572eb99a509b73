"""Where each kind of hole of the real-code benchmark (`realcode.py`) can be cut in a file: regions of Python
files found with `ast` (whole statements as the interpreter reads them), of JavaScript and TypeScript files with
the language's tree-sitter captures."""

from __future__ import annotations

import ast
import random
from collections.abc import Iterator

from dgemma_lsp.text import syntax

KINDS = ("line-indented", "line-column0", "rest-of-line", "block-opener", "function-body", "call-arguments")
BRACE_STUB = 'throw new Error("not implemented");'  # what a JavaScript or TypeScript stub body holds
MAX_BLOCK_LINES = 8
MAX_BODY_LINES = 15
MAX_LINE_CHARS = 160
_CLOSERS = frozenset(")]}:;,")


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _body_statements(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.stmt]:
    """Every statement inside a function, nested blocks included, nested functions and classes left out (they
    are walked as functions of their own)."""
    stack = list(reversed(function.body))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None) or []
            stack.extend(reversed([c for c in children if isinstance(c, ast.stmt)]))
            for child in children:  # except handlers and match cases hold statements of their own
                if not isinstance(child, ast.stmt):
                    stack.extend(reversed(getattr(child, "body", [])))


def _header_end(node: ast.stmt) -> int | None:
    """The 1-based line of a compound statement's header when it fits on its first line, else None."""
    body = getattr(node, "body", None)
    if not body or not isinstance(body, list):
        return None
    return node.lineno if body[0].lineno > node.lineno else None


def _whole_line(lines: list[str], node: ast.stmt) -> bool:
    """Whether the statement (or its header) is alone on its line: no `;`, nothing before it but indentation."""
    line = lines[node.lineno - 1]
    return not line[: len(line) - len(line.lstrip())].strip() and len(line) <= MAX_LINE_CHARS and ";" not in line


def line_sites(source: str, tree: ast.AST) -> list[int]:
    """0-based lines that hold one statement of a function body whole: simple statements on one line (not
    docstrings, not `pass`), and block headers that fit on their line."""
    lines = source.split("\n")
    picked: set[int] = set()
    for function in _functions(tree):
        for node in _body_statements(function):
            if _is_docstring(node) or isinstance(node, ast.Pass) or not _whole_line(lines, node):
                continue
            compound = hasattr(node, "body") and isinstance(node.body, list)
            if compound:
                if _header_end(node) is not None and lines[node.lineno - 1].rstrip().endswith(":"):
                    picked.add(node.lineno - 1)
            elif node.end_lineno == node.lineno:
                picked.add(node.lineno - 1)
    return sorted(picked)


def block_sites(source: str, tree: ast.AST) -> list[tuple[int, int]]:
    """(header line, last body line), 0-based: compound statements in function bodies (and nested functions)
    whose header fits its line and whose body holds 1 to MAX_BLOCK_LINES lines."""
    lines = source.split("\n")
    sites = set()
    for function in _functions(tree):
        for node in [*_body_statements(function), *(n for n in function.body if isinstance(n, ast.FunctionDef))]:
            body = getattr(node, "body", None)
            if not isinstance(body, list) or not body or _header_end(node) is None:
                continue
            if not lines[node.lineno - 1].rstrip().endswith(":") or not _whole_line(lines, node):
                continue
            last = max(getattr(s, "end_lineno", s.lineno) or s.lineno for s in body)
            if 1 <= last - node.lineno <= MAX_BLOCK_LINES:
                sites.add((node.lineno - 1, last - 1))
    return sorted(sites)


def body_sites(source: str, tree: ast.AST) -> list[tuple[int, int]]:
    """(first body line, last body line), 0-based, of functions whose body after the docstring holds 2 to
    MAX_BODY_LINES lines, starting on its own line."""
    sites = []
    for function in _functions(tree):
        body = function.body[1:] if _is_docstring(function.body[0]) else function.body
        if not body or body[0].lineno == function.lineno:
            continue
        first, last = body[0].lineno, max(s.end_lineno or s.lineno for s in body)
        if 2 <= last - first + 1 <= MAX_BODY_LINES:
            sites.append((first - 1, last - 1))
    return sites


def call_sites(source: str, tree: ast.AST) -> list[tuple[int, int, int]]:
    """(line, start, end), 0-based line and character columns of the arguments of one-line calls in function bodies
    whose `)` is followed on its line only by closers."""
    lines = source.split("\n")
    sites = []
    for function in _functions(tree):
        for node in ast.walk(function):
            if not isinstance(node, ast.Call) or node.lineno != node.end_lineno or not (node.args or node.keywords):
                continue
            line = lines[node.lineno - 1]
            if len(line) > MAX_LINE_CHARS:
                continue
            encoded = line.encode("utf-8")
            func_end = len(encoded[: node.func.end_col_offset].decode("utf-8", "replace"))
            call_end = len(encoded[: node.end_col_offset].decode("utf-8", "replace"))
            if line[func_end : func_end + 1] != "(" or line[call_end - 1 : call_end] != ")":
                continue  # a call through a generator expression or with a space before the parenthesis
            start, end = func_end + 1, call_end - 1
            if start < end and all(ch in _CLOSERS or ch.isspace() for ch in line[call_end:]):
                sites.append((node.lineno - 1, start, end))
    return sites


def rest_of_line_cursors(line: str) -> list[int]:
    """Character columns inside a line's code where an editor offers the rest of the line: after at least one
    character of code, not inside a word, with code left after."""
    code_start = len(line) - len(line.lstrip())
    end = len(line.rstrip())
    return [
        i
        for i in range(code_start + 1, end)
        if not (syntax.is_word_char(line[i - 1]) and syntax.is_word_char(line[i])) and line[i:end].strip()
    ]


# ---- tasks --------------------------------------------------------------------------------------------------------


def _offset(lines: list[str], line: int) -> int:
    return sum(len(text) + 1 for text in lines[:line])


Region = tuple[int, int, int, str, bool]  # (0-based line, start, end, typed, stub): a task's region of its file


def python_regions(source: str, kind: str, rng: random.Random) -> list[Region]:
    """Where a kind of hole can be cut in a Python file (`ast`: whole statements, as the interpreter reads them)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    lines = source.split("\n")
    found: list[Region] = []
    if kind in ("line-indented", "line-column0", "rest-of-line"):
        for n in line_sites(source, tree):
            start, text = _offset(lines, n), lines[n]
            indent = text[: len(text) - len(text.lstrip())]
            if kind == "rest-of-line":
                cursors = rest_of_line_cursors(text)
                if cursors:
                    found.append((n, start + rng.choice(cursors), start + len(text.rstrip()), "", False))
            else:
                found.append((n, start, start + len(text), indent if kind == "line-indented" else "", False))
    elif kind == "block-opener":
        for header, last in block_sites(source, tree):
            start = _offset(lines, header) + len(lines[header].rstrip())
            found.append((header, start, _offset(lines, last) + len(lines[last]), "", False))
    elif kind == "function-body":
        for first, last in body_sites(source, tree):
            indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
            start = _offset(lines, first) + len(indent)
            found.append((first, start, _offset(lines, last) + len(lines[last]), "pass", True))
    elif kind == "call-arguments":
        for n, start, end in call_sites(source, tree):
            offset = _offset(lines, n)
            found.append((n, offset + start, offset + end, "", False))
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return found


_FUNCTION_TYPES = frozenset({"function_declaration", "function_expression", "method_definition", "arrow_function",
                             "generator_function_declaration", "generator_function"})  # fmt: skip


def brace_regions(source: str, language: str, kind: str, rng: random.Random) -> list[Region]:
    """Where a kind of hole can be cut in a JavaScript or TypeScript file, from the language's tree-sitter captures:
    one-line statements of function bodies, `{ ... }` blocks whose braces end and start their lines, function
    bodies (replaced by a `throw new Error("not implemented")` stub, the hole everything inside the braces, as
    "Fill this function" fills them) and one-line calls' arguments."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    data = source.encode("utf-8")
    tree = syntax.parse(data, language)
    if syntax.error_count(data, language):
        return []
    lines = source.split("\n")
    line_starts = [_offset(lines, n) for n in range(len(lines))]
    bodies = syntax.captures_in(tree, language, "function.").get("function.inner", [])
    spans = [(b.start_byte, b.end_byte) for b in bodies if b.type == "statement_block"]

    def in_function(node) -> bool:
        return any(start < node.start_byte and node.end_byte < end for start, end in spans)

    def index(byte: int) -> int:
        return len(data[:byte].decode("utf-8", "replace"))

    found: list[Region] = []
    if kind in ("line-indented", "line-column0", "rest-of-line"):
        for node in syntax.captures_in(tree, language, "statement.").get("statement.outer", []):
            row = node.start_point.row
            if node.end_point.row != row or not in_function(node):
                continue
            text = lines[row]
            if text.strip() != (node.text or b"").decode("utf-8", "replace").strip() or len(text) > MAX_LINE_CHARS:
                continue
            start = line_starts[row]
            if kind == "rest-of-line":
                cursors = rest_of_line_cursors(text)
                if cursors:
                    found.append((row, start + rng.choice(cursors), start + len(text.rstrip()), "", False))
            else:
                indent = text[: len(text) - len(text.lstrip())]
                found.append((row, start, start + len(text), indent if kind == "line-indented" else "", False))
    elif kind in ("block-opener", "function-body"):
        wanted = [b for b in bodies if b.type == "statement_block"] if kind == "function-body" else None
        blocks = wanted or [
            n
            for n in syntax.captures_in(tree, language, "block.").get("block.inner", [])
            if n.type == "statement_block"
        ]
        for block in blocks:
            first, last = block.start_point.row, block.end_point.row
            body_lines = last - first - 1
            limit = MAX_BODY_LINES if kind == "function-body" else MAX_BLOCK_LINES
            if not (1 <= body_lines <= limit) or (kind == "function-body" and body_lines < 2):
                continue
            if not lines[first].rstrip().endswith("{") or lines[last].strip()[:1] != "}":
                continue  # braces that do not end and start their lines
            if kind == "block-opener" and block.parent is not None and block.parent.type in _FUNCTION_TYPES:
                continue  # a function's body is the function-body kind
            opened = index(block.start_byte) + 1
            closing = line_starts[last] - 1  # the newline before the `}` line
            if kind == "block-opener":
                found.append((first, opened, closing, "", False))
            else:
                inner = lines[first + 1][: len(lines[first + 1]) - len(lines[first + 1].lstrip())]
                outer = lines[last][: len(lines[last]) - len(lines[last].lstrip())]
                found.append((first, opened, line_starts[last] + len(outer), f"\n{inner}{BRACE_STUB}\n{outer}", True))
    else:  # call-arguments
        for node in syntax.captures_in(tree, language, "call.").get("call.arguments", []):
            row = node.start_point.row
            if node.end_point.row != row or not in_function(node) or node.named_child_count == 0:
                continue
            start, end = index(node.start_byte) + 1, index(node.end_byte) - 1
            rest = lines[row][end - line_starts[row] + 1 :]
            if start < end and all(ch in _CLOSERS or ch.isspace() for ch in rest):
                found.append((row, start, end, "", False))
    return found
