"""What the syntax says a hole must hold, and the first tokens that can start it."""

import pytest
from tokenizers import Tokenizer

from dgemma_lsp.diffusion.loading import embedded_dir
from dgemma_lsp.diffusion.tokens import EOS, special_ids, wrap_tokenizer
from dgemma_lsp.fill.guidance import Need, hole_need, opening_clamps
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.postprocess import PYTHON_BLOCK_OPENERS

LINE, BLOCK = FillKind.LINE, FillKind.BLOCK


def need_at(marked: str, kind: FillKind = LINE, language: str | None = "python", indent: str = "    ") -> Need:
    offset = marked.index("¦")
    return hole_need(marked.replace("¦", ""), Hole(kind, offset, offset, indent), language)


@pytest.mark.parametrize(
    ("marked", "kind", "need"),
    [
        # the lines below are indented under the hole's line
        ("def f(xs):\n    ¦\n        print(x)\n    return xs\n", LINE, Need.BLOCK_OPENER),
        ("def f(x):\n    y = x\n    ¦\n        return y\n", LINE, Need.BLOCK_OPENER),
        # left empty, the lines below would just continue the block above (HumanEval's `else:` lines often do)
        ("def f(x):\n    if x:\n        return 1\n    ¦\n        return 0\n", LINE, Need.ANY),
        # a block fill could open the block on its last line: only "something" is required
        ("def f(xs):\n    ¦\n        print(x)\n", BLOCK, Need.ANY),
        # the only line of a body
        ("def f(x):\n    ¦\n\nf(1)\n", LINE, Need.STATEMENT),
        ("def f(x):\n    ¦\n\nf(1)\n", BLOCK, Need.STATEMENT),
        ("class C:\n    def m(self):\n        ¦\n    def n(self):\n        pass\n", LINE, Need.STATEMENT),
        # anything goes: the code around compiles with the line left empty
        ("def f(x):\n    y = x\n    ¦\n    return y\n", LINE, Need.ANY),
        ("x = 1\n¦\ny = 2\n", LINE, Need.ANY),
        # not a line of its own: the rest of the line decides
        ("def f(x):\n    return ¦\n", LINE, Need.ANY),
        ("def f(x):\n    ¦x += 1\n", LINE, Need.ANY),
        # already broken around the hole: nothing to infer
        ("def f(x:\n    ¦\n        y\n", LINE, Need.ANY),
    ],
)
def test_hole_need(marked, kind, need):
    assert need_at(marked, kind) is need


def test_cursor_at_column_zero_of_an_empty_line_uses_the_holes_indent():
    assert need_at("def f(xs):\n    y = 1\n¦\n        print(x)\n", LINE, indent="    ") is Need.BLOCK_OPENER


def test_compiler_checks_are_pythons_and_a_none_hole_needs_nothing():
    assert need_at("function f(x) {\n  ¦\n}\n", LINE, "javascript") is Need.ANY
    text = "def f(x):\n    \n\nf(1)\n"
    assert hole_need(text, Hole(FillKind.NONE, 14, 14, "    "), "python") is Need.ANY


@pytest.mark.parametrize(
    ("text", "stub", "language"),
    [
        ("function f(x) {\n  throw new Error('todo');\n}\n", "throw new Error('todo');", "javascript"),
        ('def f(x):\n    """Doc."""\n    ...\n', "...", "python"),  # the docstring alone would compile
        ("x = 1\ny = 2\n", "y = 2", None),
    ],
)
def test_replacing_code_needs_a_statement_in_any_language(text, stub, language):
    start = text.index(stub)
    assert hole_need(text, Hole(BLOCK, start, start + len(stub), ""), language) is Need.STATEMENT


@pytest.fixture(scope="module")
def tokenizer():
    return wrap_tokenizer(Tokenizer.from_file(str(embedded_dir() / "tokenizer.json")))


def test_a_block_opener_starts_with_a_keyword_and_then_leaves_the_word(tokenizer):
    eos = special_ids(tokenizer)[EOS]
    clamps = opening_clamps(Need.BLOCK_OPENER, tokenizer, eos)
    assert sorted(clamps) == [0, 1]
    assert (
        {"if", "for", "while", "else", "def"} <= {tokenizer.decode([i]) for i in clamps[0]} <= set(PYTHON_BLOCK_OPENERS)
    )
    second = {tokenizer.decode([i]) for i in clamps[1] - {eos}}
    assert {" x", ":", "(", " not"} <= second
    assert not {"res", "x", "_", "1"} & second  # `if` + `res` would spell `ifres`
    assert eos in clamps[1]  # `else` may end there: post-processing adds the colon


def test_a_statement_starts_with_code(tokenizer):
    clamps = opening_clamps(Need.STATEMENT, tokenizer, special_ids(tokenizer)[EOS])
    assert list(clamps) == [0]
    assert special_ids(tokenizer)[EOS] not in clamps[0]
    assert not any(tokenizer.decode([i]).isspace() for i in clamps[0])
    assert tokenizer.encode("return", add_special_tokens=False)[0] in clamps[0]
    assert len(clamps[0]) > 0.9 * len(tokenizer)


@pytest.mark.parametrize(
    ("comment_starts", "comments", "code"),
    [(("#",), ["#", " #"], ["//", "/", "return"]), (("//", "/*"), ["//", " //", "/", "/*"], ["#", "return", "*"])],
)
def test_a_statement_does_not_start_with_a_comment(tokenizer, comment_starts, comments, code):
    eos = special_ids(tokenizer)[EOS]
    allowed = opening_clamps(Need.STATEMENT, tokenizer, eos, "", comment_starts)[0]
    ids = {text: tokenizer.convert_tokens_to_ids(tokenizer.tokenize(text))[0] for text in comments + code}
    assert all(tokenizer.decode([ids[text]]) == text for text in ids)  # each is one token of the vocabulary
    assert not {ids[text] for text in comments} & allowed
    assert {ids[text] for text in code} <= allowed


def test_no_clamps_without_a_need_or_without_fitting_tokens(tokenizer):
    from dgemma_lsp.diffusion.tokens import byte_tokenizer

    assert opening_clamps(Need.ANY, tokenizer, 1) == {}
    assert opening_clamps(Need.BLOCK_OPENER, byte_tokenizer(), 1) == {}  # no token spells a keyword


def test_undefined_names_are_pyflakes_uses_of_names_nothing_defines():
    from dgemma_lsp.text.lint import undefined_names

    source = "import os\n\ndef f(xs):\n    for x in xs:\n        total += len(x) + n\n    return os.sep, y, len\n"
    assert undefined_names(source) == (("total", 5), ("n", 5), ("y", 6))  # builtins and bound names are fine
    assert undefined_names("def f(:\n") is None


def needed_at(marked: str, kind: FillKind = LINE, language: str | None = "python", indent: str = "    "):
    from dgemma_lsp.fill.guidance import needed_names

    offset = marked.index("¦")
    return needed_names(marked.replace("¦", ""), Hole(kind, offset, offset, indent), language)


@pytest.mark.parametrize(
    ("marked", "needed"),
    [
        # the line above a loop body that uses `c`: the hole is a block opener, found with one standing in
        ("def f(s):\n    n = 0\n    ¦\n        n += ord(c)\n    return n\n", ("c",)),
        # a plain line: the code below uses `result` and `seen` first, in that order
        ("def f(xs):\n    ¦\n    result.append(seen)\n    return result, xs, other\n", ("result", "seen")),
        # a name already undefined above the hole is the project's business (a builtin installed at run time)
        ("def f(xs):\n    print(_)\n    ¦\n    return _\n", ()),
        # nothing needed
        ("def f(xs):\n    ¦\n    return xs\n", ()),
        # a file that does not parse whatever the hole holds
        ("def f(xs:\n    ¦\n    return ys\n", ()),
    ],
)
def test_names_the_code_after_a_hole_needs(marked, needed):
    assert needed_at(marked) == needed


def test_needed_names_are_pythons_and_a_none_hole_needs_none():
    marked = "def f(s):\n    ¦\n    return c\n"
    assert needed_at(marked, language="ruby") == ()
    assert needed_at(marked, kind=FillKind.NONE) == ()
    assert needed_at(marked, kind=BLOCK) == ("c",)


@pytest.mark.parametrize(
    ("marked", "names", "openings"),
    [
        # a block opener binds as a loop target, or as a function where the code after calls the name
        ("def f(s):\n    n = 0\n    ¦\n        n += ord(c)\n    return n\n", ("c",), ("for c in",)),
        ("¦\n    print(n)\n\nprint(is_small(3))\n", ("is_small",), ("for is_small in", "def is_small(")),
        # any other line as an assignment's target, or by importing a standard library module
        ("def f(x):\n    ¦\n    return math.sqrt(x) + s\n", ("math", "s"), ("math", "import math", "s")),
    ],
)
def test_binding_openings(marked, names, openings):
    from dgemma_lsp.fill.guidance import binding_openings

    offset = marked.index("¦")
    hole = Hole(LINE, offset, offset, "    " if marked[offset - 1 : offset] == " " else "")
    assert binding_openings(marked.replace("¦", ""), hole, "python", names) == openings
    assert binding_openings(marked.replace("¦", ""), hole, "go", names) == ()
