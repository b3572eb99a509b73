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
