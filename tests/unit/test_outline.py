"""The file outline the prompt carries: imports and signatures outside the window, nearest first under a budget."""

import pytest

from dgemma_lsp.fill.context import outline_within, token_offsets
from dgemma_lsp.text import outline
from dgemma_lsp.text.syntax import parse

SOURCE = '''import os
from typing import (
    Any,
    Optional,
)


def helper(path: str,
           *, strict: bool = False) -> Optional[str]:
    """Docstring."""
    def inner():
        return 1
    return path


class Store(Base):
    @property
    def root(self) -> str:
        return self._root

    def get(self, key):
        value = 1
        return value


def last(x): return x
'''


def entries_outside(window_text: str):
    start = SOURCE.index(window_text)
    window = (len(SOURCE[:start].encode()), len(SOURCE[: start + len(window_text)].encode()))
    return outline.outline(parse(SOURCE, "python"), "python", window, window[1])


def test_imports_and_signatures_outside_the_window_in_file_order():
    entries = entries_outside("        value = 1\n")
    texts = [e.text for e in entries]
    assert texts == [
        "import os",
        "from typing import (\n    Any,\n    Optional,\n)",
        "def helper(path: str, *, strict: bool = False) -> Optional[str]: ...",  # one line, closure left out
        "class Store(Base): ...",
        "    def root(self) -> str: ...",  # a decorated method, without its decorator
        "    def get(self, key): ...",  # the function the cursor is in: its header is above the window
        "def last(x): ...",
    ]
    methods = [e for e in entries if e.text.startswith("    ")]
    assert {e.parent for e in methods} == {SOURCE.encode().index(b"class Store")}


def test_what_the_window_shows_is_not_outlined():
    texts = [e.text for e in entries_outside(SOURCE[SOURCE.index("class Store") :])]
    assert "class Store(Base): ..." not in texts and "def last(x): ..." not in texts
    assert "import os" in texts


def test_a_class_shown_for_its_methods_reads_as_their_header():
    entries = entries_outside("        value = 1\n")
    get = next(e for e in entries if "def get" in e.text)
    assert outline.render(entries, {get.start}) == "class Store(Base):\n    def get(self, key): ...\n"
    assert outline.render(entries, set()) == ""


@pytest.fixture(scope="module")
def tokenize():
    from transformers import PreTrainedTokenizerFast

    from dgemma_lsp.diffusion.loading import embedded_dir

    return token_offsets(PreTrainedTokenizerFast(tokenizer_file=str(embedded_dir() / "tokenizer.json")))


def test_the_budget_keeps_the_entries_nearest_the_cursor(tokenize):
    cursor = SOURCE.index("        value = 1")
    window = (cursor, cursor + len("        value = 1\n"))
    everything, ids = outline_within(SOURCE, window, cursor, "python", 10_000, tokenize)
    assert "import os" in everything and "def last(x): ..." in everything and len(ids) > 30
    small, small_ids = outline_within(SOURCE, window, cursor, "python", 24, tokenize)
    assert 0 < len(small_ids) <= 24 and "def get(self, key): ..." in small and "import os" not in small
    assert small.startswith("class Store(Base):\n")  # the method's class comes with it
    assert "def helper" not in small  # the farthest
    assert outline_within(SOURCE, window, cursor, "python", 0, tokenize) == ("", [])
    assert outline_within(SOURCE, (0, len(SOURCE)), cursor, "python", 100, tokenize) == ("", [])
    assert outline_within(SOURCE, window, cursor, None, 100, tokenize) == ("", [])


def test_languages_without_outline_captures_give_nothing():
    source = "function f() {\n  return 1;\n}\n"
    assert outline.outline(parse(source, "javascript"), "javascript", (0, 0), 0) == []
