"""What the syntax says a hole must hold, and the first tokens that can start it."""

import pytest
from tokenizers import Tokenizer

from dgemma_lsp.holes import FillKind, Hole
from dgemma_lsp.loading import embedded_dir
from dgemma_lsp.modeling import EOS, special_ids, wrap_tokenizer
from dgemma_lsp.needs import Need, first_token_ids, hole_need
from dgemma_lsp.postprocess import PYTHON_BLOCK_OPENERS

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


def test_first_tokens_of_a_block_opener_are_the_keywords(tokenizer):
    ids = first_token_ids(Need.BLOCK_OPENER, tokenizer)
    texts = {tokenizer.decode([i]) for i in ids}
    assert {"if", "for", "while", "else", "def"} <= texts <= set(PYTHON_BLOCK_OPENERS)


def test_first_tokens_of_a_statement_exclude_the_end_and_whitespace(tokenizer):
    ids = first_token_ids(Need.STATEMENT, tokenizer)
    assert special_ids(tokenizer)[EOS] not in ids
    assert not any(tokenizer.decode([i]).isspace() for i in ids)
    assert tokenizer.encode("return", add_special_tokens=False)[0] in ids
    assert len(ids) > 0.9 * len(tokenizer)


def test_no_constraint_without_a_need_or_without_fitting_tokens(tokenizer):
    from dgemma_lsp.modeling import byte_tokenizer

    assert first_token_ids(Need.ANY, tokenizer) is None
    assert first_token_ids(Need.BLOCK_OPENER, byte_tokenizer()) is None  # no token spells a keyword
