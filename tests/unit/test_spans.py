"""Which hole the cursor, a selection or a function gets: nothing, the rest of the line, or a block."""

from __future__ import annotations

import pytest

from dgemma_lsp.errors import InvalidPositionError
from dgemma_lsp.fill.holes import FillKind, choose_hole, hole_for_function, hole_for_gap, hole_for_selection
from dgemma_lsp.text.syntax import function_sites, parse

NONE, LINE, BLOCK = FillKind.NONE, FillKind.LINE, FillKind.BLOCK
CURSOR = "<|>"


def split(marked: str) -> tuple[str, int]:
    offset = marked.index(CURSOR)
    return marked[:offset] + marked[offset + len(CURSOR) :], offset


CASES = [
    # Python
    ("python", 'x = "ab <|>"\n', NONE, ""),  # in a string that goes on after the cursor
    ("python", "# see f(<|>)\n", NONE, ""),  # in a comment, before what would otherwise be closers
    ("python", "x = '😀𝔘 <|>'\n", NONE, ""),
    ("python", 'x = """\n    Doc<|>\n"""\n', LINE, "    "),  # a docstring line end
    ("python", "foo<|>bar = 1\n", NONE, ""),  # mid-word
    ("python", "x = 1 <|>+ 2\n", NONE, ""),  # code after the cursor
    ("python", "print(<|>)\n", LINE, ""),
    ("python", "d = {'a': [<|>]}\n", LINE, ""),
    ("python", "def f(<|>):\n", LINE, ""),
    ("python", "x = 1  # note:<|>\n", LINE, ""),  # a colon in a comment opens nothing
    ("python", "x = (1,<|>\n", LINE, ""),
    ("python", "def f():\n    return x<|>\n", LINE, "    "),
    ("python", "def f():<|>\n", BLOCK, "    "),
    ("python", "s = '😀'\ndef f():<|>\n", BLOCK, "    "),
    ("python", "def f():<|>\n  return 1\n", BLOCK, "  "),  # the body below sets the indentation
    ("python", "def f():\n    <|>\n", BLOCK, "    "),
    ("python", "def f():\n<|>\n", BLOCK, "    "),
    ("python", "class A:\n    def m(self):\n        <|>\n", BLOCK, "        "),
    ("python", "def f():\n    x = 1\n    <|>\n", LINE, "    "),  # the body has a statement: one line more
    ("python", "def f():\n    a()\n<|>\n    b()\n", LINE, "    "),  # an unindented blank line between statements
    ("python", "def f():\n    a()\n    <|>\n    b()\n", LINE, "    "),  # between statements: one line
    ("python", "def f():\n    <|>\n    b()\n", LINE, "    "),  # after the opener, a statement below
    ("python", "def f(x):\n    <|>\n        return y\n", LINE, "    "),  # deeper below: the header it needs
    ("python", "def f():\n    a()\n    <|>\n\ndef g():\n    pass\n", LINE, "    "),  # at the end of a body
    ("python", "if x:\n    a()\n    <|>\nelse:\n    b()\n", LINE, "    "),  # before an `else`
    ("python", "def f():\n    a()\n    <|>\n    # note\n    b()\n", LINE, "    "),  # a comment first
    ("python", "for x in y:\n    if x:\n        a()\n    <|>\n", LINE, "    "),  # back in the for body
    ("python", "for x in y:\n    if x:\n        a()\n        <|>\n", LINE, "        "),  # still in the if body
    ("python", 'def f():\n    """Doc."""\n    <|>\n', BLOCK, "    "),  # only a docstring: the body is to be written
    # column 0 right under code: the indentation an editor's auto-indent keeps, not the block of the code below
    ("python", "for x in y:\n    if a:\n        b()\n<|>\n    c()\n", LINE, "        "),
    ("python", "def f():\n    x = f(a,\n          b)\n<|>\n", LINE, "    "),  # the statement's, not its last line's
    ("python", "def f():\n    x = 1\n<|>\ndef g():\n    pass\n", LINE, "    "),
    ("python", "def f():\n    # a note\n<|>\n    b()\n", LINE, "    "),
    ("python", "def f():\n    if a:\n<|>\n            b()\n", LINE, "        "),  # one level under the opener
    ("python", "def f():\n    if a:\n        return 1\n<|>\n    c()\n", LINE, "    "),  # a block ends: code below
    ("python", "def f():\n    x = 1\n\n<|>\n", LINE, "    "),  # over a blank line too (dev: 381 of 400 right)
    ("python", "def f():\n    if a:\n        return 1\n<|>\n        c()\n", LINE, "    "),  # a header for c()
    ("python", "def f():\n    if a:\n        return 1\n\n<|>\n", LINE, "    "),  # out of the ended block
    ("python", "def f():\n    if a:  # why\n<|>\n", BLOCK, "        "),  # an opener with a comment after it
    ("python", "for x in y:\n    continue\n<|>\n", LINE, ""),  # out of a top-level block
    ("python", "x = 1\n<|>\n", LINE, ""),
    # JavaScript
    ("javascript", "function f() {<|>}\n", BLOCK, "    "),
    ("javascript", "function f() {<|>\n}\n", BLOCK, "    "),
    ("javascript", "function f() {\n  <|>\n}\n", BLOCK, "  "),  # the editor's indentation is kept
    ("javascript", "function f() {\n<|>\n}\n", BLOCK, "    "),
    ("javascript", "function f() {\n  const a = 1;\n<|>\n}\n", LINE, "  "),
    ("javascript", "function f() {\n  const a = 1;\n  <|>\n  g(a);\n}\n", LINE, "  "),  # between statements
    ("javascript", "try {\n  a();\n  <|>\n} catch (e) {}\n", LINE, "  "),  # a closer below, a statement above
    ("javascript", "if (a) {\n  b();\n}\n<|>\n", LINE, ""),
    ("javascript", "const s = `ab <|>`;\n", NONE, ""),
    ("javascript", "const s = 'x';  // hi (<|>)\n", NONE, ""),
    ("javascript", "call(a, <|>);\n", LINE, ""),
    ("javascript", "let x = y<|>z;\n", NONE, ""),
    ("javascript", "const o = {<|>\n", BLOCK, "    "),
    # TypeScript and TSX
    ("typescript", "interface A {\n  <|>\n}\n", BLOCK, "  "),
    ("typescript", "const x: number = <|>;\n", LINE, ""),
    ("typescript", "class A {\n    m(): void {<|>}\n}\n", BLOCK, "        "),
    ("typescript", "const s: string = 'a <|>';\n", NONE, ""),
    ("tsx", "const C = () => <div><|></div>;\n", NONE, ""),
    ("tsx", "function C() {\n  <|>\n}\n", BLOCK, "  "),
    ("tsx", "function C() {\n  return f(<|>);\n}\n", LINE, "  "),
    # Go
    ("go", "func f() {<|>\n}\n", BLOCK, "\t"),
    ("go", "func f() {\n\t<|>\n}\n", BLOCK, "\t"),
    ("go", "func f() {\n\tif x {\n\t\ty()\n\t}\n\t<|>\n}\n", LINE, "\t"),
    ("go", "func f() {\n\tif x {\n\t\t<|>\n\t}\n}\n", BLOCK, "\t\t"),
    ("go", "func f() {<|>", BLOCK, "\t"),  # nothing after the brace yet: an ERROR node
    ("go", 'func f() {\n\ts := "a <|>"\n}\n', NONE, ""),
    ("go", "var x = f(<|>)\n", LINE, ""),
    # Rust
    ("rust", "fn f() {<|>}\n", BLOCK, "    "),
    ("rust", "fn f() {\n<|>", BLOCK, "    "),
    ("rust", "impl S {\n    fn a() {}\n    <|>\n}\n", LINE, "    "),
    ("rust", "fn f() {\n    let v = vec![1, 2<|>];\n}\n", LINE, "    "),
    ("rust", 'fn f() {\n    let s = "x <|>";\n}\n', NONE, ""),
    ("rust", "fn f() {\n    // TODO (<|>)\n}\n", NONE, ""),
    ("rust", "fn f() {\n    let c = |x| x + 1;<|>\n}\n", LINE, "    "),
    ("rust", "fn f() {\n    g(x<|>y);\n}\n", NONE, ""),
    # No grammar: only the text rules.
    (None, "hello world<|>\n", LINE, ""),
    (None, "    indented<|>\n", LINE, "    "),
    (None, "    indented\n<|>\n", BLOCK, "    "),
    (None, "    indented\r\n\r\n<|>\n", BLOCK, "    "),
    (None, "    indented\n  <|>\n", BLOCK, "  "),
    (None, "hel<|>lo\n", NONE, ""),
    (None, "say(<|>)\n", LINE, ""),
    (None, "a <|>b\n", NONE, ""),
    (None, "<|>", BLOCK, ""),
]


@pytest.mark.parametrize(("language", "marked", "kind", "indent"), CASES)
def test_choose_hole(language, marked, kind, indent):
    text, offset = split(marked)
    tree = parse(text, language) if language else None
    hole = choose_hole(text, tree, language, offset)
    assert (hole.kind, hole.indent) == (kind, indent)
    assert hole.start == hole.end == offset


@pytest.mark.parametrize(
    ("language", "marked", "kind", "indent"),
    [
        # A whole line before the suffix's code: lines, indented as a blank line there would be.
        ("python", "def f(x):\n<|>    return y\n", BLOCK, "    "),
        ("python", "def f(x):\n    if x:\n<|>    return y\n", BLOCK, "        "),
        ("python", "x = 1\n<|>y = 2\n", BLOCK, ""),
        ("javascript", "function f() {\n<|>  return 1;\n}\n", BLOCK, "  "),
        (None, "a\n<|>  b\n", BLOCK, "  "),  # no syntax: the indentation of the line it goes before
        # Within a line: the rest of the line, wherever the editor would offer nothing.
        ("python", "foo<|>bar = 1\n", LINE, ""),
        ("python", "def f():\n    x = 1 <|>+ 2\n", LINE, "    "),
        ("python", 'x = "ab <|>"\n', LINE, ""),
        ("python", "def f():\n    <|>return y\n", LINE, "    "),
        # Where the editor offers something, the same.
        ("python", "def f():\n    return x<|>\n", LINE, "    "),
        ("python", "def f():<|>\n", BLOCK, "    "),
    ],
)
def test_hole_for_gap_always_fills(language, marked, kind, indent):
    text, offset = split(marked)
    hole = hole_for_gap(text, parse(text, language) if language else None, language, offset)
    assert (hole.kind, hole.indent, hole.start, hole.end) == (kind, indent, offset, offset)


@pytest.mark.parametrize("offset", [-1, 7])
def test_choose_hole_rejects_offsets_outside_the_text(offset):
    with pytest.raises(InvalidPositionError):
        choose_hole("x = 1\n", parse("x = 1\n", "python"), "python", offset)


@pytest.mark.parametrize(
    ("language", "marked", "kind", "indent"),
    [
        ("python", "x = «1\ny» = 2\n", BLOCK, ""),  # spans lines
        ("python", "def f():\n    «x = 1»\n", BLOCK, "    "),  # a whole line
        ("python", "def f():\n«    x = 1\n»", BLOCK, "    "),
        ("python", "def f():\n    x = «1 + 2»\n", LINE, "    "),  # ends at the line end, starts mid-line
        ("python", "def f():\n    x = «1» + 2\n", LINE, "    "),
        ("rust", "fn f() {\n    «let a = 1;\n    let b = 2;»\n}\n", BLOCK, "    "),
        (None, "😀 «𝔘» x\n", LINE, ""),
        ("python", "def f():<|>\n", BLOCK, "    "),  # an empty selection is a cursor
    ],
)
def test_hole_for_selection(language, marked, kind, indent):
    if CURSOR in marked:
        text, start = split(marked)
        end = start
    else:
        start = marked.index("«")
        end = marked.index("»") - 1
        text = marked.replace("«", "").replace("»", "")
    hole = hole_for_selection(text, parse(text, language) if language else None, language, start, end)
    assert (hole.kind, hole.indent, hole.start, hole.end) == (kind, indent, start, end)


@pytest.mark.parametrize(("start", "end"), [(3, 1), (-1, 2), (0, 99)])
def test_hole_for_selection_rejects_bad_ranges(start, end):
    with pytest.raises(InvalidPositionError):
        hole_for_selection("x = 1\n", None, None, start, end)


@pytest.mark.parametrize(
    ("language", "text", "replaced", "indent"),
    [
        ("python", 'π = "😀"\ndef f():\n    """Doc 𝔘."""\n    pass\n', "pass", "    "),
        ("python", "# é\nclass A:\n    def m(self):\n        # TODO\n", "# TODO", "        "),
        ("javascript", "// é😀\nfunction f() {\n  // TODO\n}\n", "\n  // TODO\n", "  "),
        ("typescript", "const s = '𝔘';\nfunction f(): void { /* TODO */ }\n", " /* TODO */ ", "    "),
        ("go", "// é\nfunc f() {}\n", "", "\t"),
        ("rust", "// 😀\nfn f() {\n    todo!()\n}\n", "\n    todo!()\n", "    "),
    ],
)
def test_hole_for_function_covers_the_body_in_string_indices(language, text, replaced, indent):
    (site,) = function_sites(parse(text, language), language)
    hole = hole_for_function(text, parse(text, language), language, site)
    assert hole.kind is BLOCK and hole.indent == indent
    assert text[hole.start : hole.end] == replaced
    assert text[: hole.start].rstrip(" \n").endswith(("{", ":", '"""'))
