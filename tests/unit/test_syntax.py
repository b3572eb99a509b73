"""Queries, function sites and stubs, for every language we parse."""

from __future__ import annotations

import time

import pytest

from dgemma_lsp.text import syntax
from dgemma_lsp.text.syntax import LANGUAGES, error_count, function_at, function_sites, language_for, node_at, parse

NAMES = [spec.name for spec in LANGUAGES]
CAPTURES = {"function.outer", "function.inner", "block.inner", "block.open", "statement.outer", "stub.inner"}


def sites_by_name(source: str, language: str) -> dict[str | None, syntax.FunctionSite]:
    return {site.name: site for site in function_sites(parse(source, language), language)}


@pytest.mark.parametrize("language", NAMES)
def test_query_compiles_with_every_capture(language):
    query = syntax.query(language)
    names = {query.capture_name(i) for i in range(query.capture_count)}
    assert CAPTURES <= names
    assert syntax.query(language) is query  # compiled once


@pytest.mark.parametrize(
    ("language", "source", "name", "is_stub"),
    [
        # Python: every stub form, with and without a docstring.
        ("python", "def f():\n    pass\n", "f", True),
        ("python", "def f():\n    ...\n", "f", True),
        ("python", "def f(): ...\n", "f", True),
        ("python", "def f():\n    raise NotImplementedError\n", "f", True),
        ("python", "def f():\n    raise NotImplementedError('later')\n", "f", True),
        ("python", 'def f():\n    """Doc."""\n    pass\n', "f", True),
        ("python", 'def f():\n    """Doc."""\n    raise NotImplementedError()\n', "f", True),
        ("python", "def f():\n    # TODO: write it\n", "f", True),
        ("python", "def f():\n    # FIXME\n    pass  # really\n", "f", True),
        ("python", "class A:\n    def m(self):\n        # TODO\n    def n(self):\n        return 1\n", "m", True),
        ("python", "class A:\n    async def m(self):\n        raise NotImplementedError\n", "m", True),
        ("python", "def f():\n    return 1\n", "f", False),
        ("python", "def f():\n    x = 1\n    pass\n", "f", False),
        ("python", 'def f():\n    """Only a docstring."""\n', "f", False),
        ("python", "def f():\n    raise ValueError('no')\n", "f", False),
        ("python", "def f():\n    # a note\n    return 1\n", "f", False),
        ("python", "def f():\n    # just a note\n", "f", False),
        ("python", "def f():\n    ...\n    return 1\n", "f", False),
        ("python", "def f():\n    def g():\n        pass\n    return g\n", "f", False),
        # JavaScript
        ("javascript", 'function f() {\n  throw new Error("not implemented");\n}\n', "f", True),
        ("javascript", "function f() { throw new Error('TODO: later') }\n", "f", True),
        ("javascript", "const f = () => {\n  throw new Error(`Not Implemented yet`);\n};\n", "f", True),
        ("javascript", "class A {\n  m() {\n    // TODO\n  }\n}\n", "m", True),
        ("javascript", "function f() {\n  // FIXME later\n}\n", "f", True),
        ("javascript", "const o = { g: function () { throw new Error('todo'); } };\n", "g", True),
        ("javascript", 'function f() {\n  throw new Error("bad input");\n}\n', "f", False),
        ("javascript", "function f() {\n  // TODO: tidy\n  return 1;\n}\n", "f", False),
        ("javascript", "function f() {}\n", "f", False),
        ("javascript", "function f() {\n  // explains things\n}\n", "f", False),
        # TypeScript and TSX share javascript.scm through `; inherits:`.
        ("typescript", 'function f(a: number): number {\n  throw new Error("not implemented");\n}\n', "f", True),
        ("typescript", "class A {\n  m(): void {\n    // TODO\n  }\n}\n", "m", True),
        ("typescript", "const f = (a: number): number => a + 1;\n", "f", False),
        ("tsx", 'function C(): JSX.Element {\n  throw new Error("TODO");\n}\n', "C", True),
        ("tsx", "const C = () => <div>hi</div>;\n", "C", False),
        # Go
        ("go", "func f() {}\n", "f", True),
        ("go", "func f() {\n}\n", "f", True),
        ("go", 'func f() int {\n\tpanic("TODO")\n}\n', "f", True),
        ("go", 'func f() {\n\tpanic("not implemented: f")\n}\n', "f", True),
        ("go", "func f() {\n\tpanic(`todo`)\n}\n", "f", True),
        ("go", "func (s *S) M() {\n\t// TODO\n}\n", "M", True),
        ("go", 'func f() {\n\tpanic("boom")\n}\n', "f", False),
        ("go", "func f() int {\n\treturn 1\n}\n", "f", False),
        ("go", "func f() {\n\t// TODO: more\n\tx()\n}\n", "f", False),
        # Rust
        ("rust", "fn f() { todo!() }\n", "f", True),
        ("rust", "fn f() -> i32 {\n    todo!();\n}\n", "f", True),
        ("rust", 'fn f() {\n    unimplemented!("later")\n}\n', "f", True),
        ("rust", "impl S {\n    fn m(&self) {\n        todo!()\n    }\n}\n", "m", True),
        ("rust", "fn f() {\n    // TODO\n}\n", "f", True),
        ("rust", "fn f() {\n    /* FIXME */\n}\n", "f", True),
        ("rust", "fn f() -> i32 { 1 }\n", "f", False),
        ("rust", "fn f() {\n    todo!();\n    g();\n}\n", "f", False),
        ("rust", 'fn f() {\n    println!("todo");\n}\n', "f", False),
        ("rust", "fn f() {}\n", "f", False),
    ],
)
def test_function_sites_mark_stubs(language, source, name, is_stub):
    sites = sites_by_name(source, language)
    assert sites[name].is_stub is is_stub


@pytest.mark.parametrize(
    ("language", "source", "name", "body", "indent"),
    [
        ("python", 'def f():\n    """Doc."""\n    pass\n', "f", "pass", "    "),
        ("python", "def f(): ...\n", "f", "...", "    "),
        ("python", "class A:\n    def m(self):\n        # TODO\n", "m", "# TODO", "        "),
        ("python", "def f():\n    x = 1\n    return x\n", "f", "x = 1\n    return x", "    "),
        ("javascript", 'function f() {\n  throw new Error("todo");\n}', "f", '\n  throw new Error("todo");\n', "  "),
        ("typescript", "class A {\n  m() {\n    // TODO\n  }\n}\n", "m", "\n    // TODO\n  ", "    "),
        ("go", "func f() {}\n", "f", "", "\t"),
        ("go", 'func f() {\n\tpanic("TODO")\n}\n', "f", '\n\tpanic("TODO")\n', "\t"),
        ("rust", "impl S {\n    fn m(&self) { todo!() }\n}\n", "m", " todo!() ", "        "),
        ("rust", "fn f() {\n}\n", "f", "\n", "    "),
    ],
)
def test_body_range_and_indent(language, source, name, body, indent):
    site = sites_by_name(source, language)[name]
    data = source.encode()
    assert data[site.body_start : site.body_end].decode() == body
    assert site.body_indent == indent
    assert site.start < site.body_start <= site.body_end <= site.end


@pytest.mark.parametrize(
    ("language", "marked", "expected"),
    [
        ("python", "def f():\n    def g():\n        x = |1\n    return g\n", "def g"),
        ("python", "def f():\n    y = |2\n    def g():\n        pass\n", "def f"),
        ("python", "def f():\n    return list(map(lambda v: v |+ 1, []))\n", "lambda"),
        ("python", "x = |1\n", None),
        ("javascript", "function f() {\n  const g = (a) => {\n    return a |+ 1;\n  };\n}\n", "(a) =>"),
        ("javascript", "function f() {\n  |return 1;\n}\n", "function f"),
        ("typescript", "class A {\n  m(): number {\n    return |1;\n  }\n}\n", "m()"),
        ("go", "func f() {\n\tg := func() {\n\t\tx(|)\n\t}\n}\n", "func() {"),
        ("go", "func f() {\n\tx(|)\n}\n", "func f"),
        ("rust", "fn f() {\n    let c = |x: i32| x |+ 1;\n}\n", "|x: i32|"),
        ("rust", "impl S {\n    fn m(&self) {\n        |todo!()\n    }\n}\n", "fn m"),
    ],
)
def test_function_at_picks_the_innermost(language, marked, expected):
    offset = marked.rindex("|")
    source = marked[:offset] + marked[offset + 1 :]
    data = source.encode()
    site = function_at(parse(source, language), language, len(source[:offset].encode()))
    if expected is None:
        assert site is None
    else:
        assert data[site.start :].decode().startswith(expected)


@pytest.mark.parametrize(
    ("language", "prefix", "function"),
    [
        ("python", "# héllo 😀 𝔘 ünïcode\n", "def f():\n    pass\n"),
        ("javascript", "// héllo 😀 𝔘\nconst s = '€';\n", "function f() {\n  // TODO\n}\n"),
        ("typescript", "// héllo 😀 𝔘\n", "function f(): void {\n  throw new Error('todo');\n}\n"),
        ("tsx", "// héllo 😀 𝔘\n", "function f() {\n  // TODO\n}\n"),
        ("go", '// héllo 😀 𝔘\nvar s = "€"\n', 'func f() {\n\tpanic("TODO")\n}\n'),
        ("rust", '// héllo 😀 𝔘\nconst S: &str = "€";\n', "fn f() {\n    todo!()\n}\n"),
    ],
)
def test_offsets_are_bytes_after_non_ascii_text(language, prefix, function):
    source = prefix + function
    data = source.encode()
    (site,) = function_sites(parse(source, language), language)
    assert site.start == data.index(function.encode()) == len(prefix.encode())
    assert site.is_stub
    assert site.start != len(prefix)  # the str index would be wrong here
    assert function_at(parse(source, language), language, site.start + 1) == site


def test_non_ascii_names_decode():
    source = "def café(x):\n    pass\n"
    assert [site.name for site in function_sites(parse(source, "python"), "python")] == ["café"]


@pytest.mark.parametrize(
    ("language", "marked", "node_type"),
    [
        ("python", "x = f|oo(1)\n", "identifier"),
        ("python", "x = foo(1|2)\n", "integer"),
        ("javascript", "let s = 'a|b';\n", "string_fragment"),
        ("rust", "fn f() { let v = 4|2; }\n", "integer_literal"),
    ],
)
def test_node_at_is_the_smallest_named_node(language, marked, node_type):
    offset = marked.index("|")
    tree = parse(marked.replace("|", ""), language)
    assert node_at(tree, offset).type == node_type


@pytest.mark.parametrize(
    ("uri", "language_id", "expected"),
    [
        ("file:///a/b.py", None, "python"),
        ("file:///a/b.tsx", None, "tsx"),
        ("file:///a/b.txt", "rust", "rust"),
        ("file:///a/b.txt", None, None),
    ],
)
def test_language_for_still_works(uri, language_id, expected):
    spec = language_for(uri, language_id)
    assert (spec.name if spec else None) == expected


def test_error_count_still_works():
    assert error_count("def f():\n    pass\n", "python") == 0
    assert error_count("def f(:\n", "python") > 0


def test_a_long_file_stays_fast():
    source = "".join(f"def f{i}(a):\n    b = a + {i}\n    if b:\n        return b\n    pass\n\n" for i in range(850))
    assert source.count("\n") > 5000
    tree = parse(source, "python")
    started = time.perf_counter()
    sites = function_sites(tree, "python")
    at = function_at(tree, "python", len(source) // 2)
    elapsed = time.perf_counter() - started
    assert len(sites) == 850 and at is not None
    assert elapsed < 1.0  # ~25 ms here; generous for a loaded machine
