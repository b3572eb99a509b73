"""Prompt formats and context collection under a token budget."""

import pytest

from dgemma_lsp.canvas import build_canvas, collect_context, head_within, tail_within
from dgemma_lsp.errors import ModelLoadError
from dgemma_lsp.holes import FillKind, Hole
from dgemma_lsp.modeling import BOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, byte_tokenizer
from dgemma_lsp.prompts import ChatFormat, FimFormat, prompt_format_for
from dgemma_lsp.settings import CompletionSettings, ContextSettings


@pytest.fixture(scope="module")
def tokenizer():
    return byte_tokenizer()


def encode_with(tokenizer):
    return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


LINES = "".join(f"line {i:03d} 😀\n" for i in range(200))  # 1 byte-level token per byte; emoji = 4 tokens


@pytest.mark.parametrize("budget", [0, 1, 15, 16, 100, 10_000])
def test_tail_within_budget_starts_at_a_line(tokenizer, budget):
    encode = encode_with(tokenizer)
    tail, count = tail_within(LINES, budget, encode)
    assert count == len(encode(tail)) <= budget
    assert LINES.endswith(tail)
    if tail and tail != LINES and len(tail) > 16:
        assert LINES[len(LINES) - len(tail) - 1] == "\n"


@pytest.mark.parametrize("budget", [0, 1, 15, 16, 100, 10_000])
def test_head_within_budget_ends_at_a_line(tokenizer, budget):
    encode = encode_with(tokenizer)
    head, count = head_within(LINES, budget, encode)
    assert count == len(encode(head)) <= budget
    assert LINES.startswith(head)
    if head and head != LINES and len(head) > 16:
        assert LINES[len(head)] == "\n"


def test_a_huge_single_line_is_cut_not_taken_whole(tokenizer):
    encode = encode_with(tokenizer)
    line = "x = [" + "1, " * 100_000
    tail, count = tail_within(line, 64, encode)
    assert 0 < count <= 64 and line.endswith(tail)


def test_context_is_collected_outward_from_the_hole(tokenizer):
    text = "a = 1\nb = 2\nc = 3\nd = 4\n"
    hole = Hole(FillKind.LINE, text.index("c = 3") + 4, text.index("c = 3") + 4)
    context = collect_context(text, hole, ContextSettings(prefix_tokens=10, suffix_tokens=5), encode_with(tokenizer))
    assert context.prefix == "b = 2\nc = "
    assert context.suffix == "3"


def test_fim_prompt_is_suffix_first(tokenizer):
    fim = FimFormat(tokenizer)
    ids = fim.prompt_ids("def f():\n    return ", "\n\nprint(f())\n", "python")
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert tokens[:2] == [BOS, FIM_SUFFIX]
    assert tokens[-1] == FIM_MIDDLE
    split = tokens.index(FIM_PREFIX)
    assert tokenizer.decode(ids[2:split]) == "\n\nprint(f())\n"
    assert tokenizer.decode(ids[split + 1 : -1]) == "def f():\n    return "


def test_typing_at_the_cursor_only_appends_prompt_tokens(tokenizer):
    fim = FimFormat(tokenizer)
    before = fim.prompt_ids("x = fo", "\ny = 2\n", "python")
    after = fim.prompt_ids("x = foo", "\ny = 2\n", "python")
    assert after[: len(before) - 1] == before[:-1]


def test_block_holes_get_more_canvases(tokenizer):
    fim = FimFormat(tokenizer)
    text = "def f():\n    pass\n"
    completion = CompletionSettings(line_canvases=1, block_canvases=3)
    line = build_canvas(text, Hole(FillKind.LINE, 8, 8), "python", fim, ContextSettings(), completion)
    block = build_canvas(text, Hole(FillKind.BLOCK, 13, 17, "    "), "python", fim, ContextSettings(), completion)
    assert (line.max_canvases, block.max_canvases) == (1, 3)
    assert block.context.prefix == "def f():\n    " and block.context.suffix == "\n"


class ChatTokenizer:
    """Stands in for a chat model's tokenizer: records the messages the template is applied to."""

    chat_template = "{{ messages }}"
    unk_token_id = None

    def __init__(self):
        self.messages = None

    def convert_tokens_to_ids(self, token):
        return None

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        self.messages = messages
        return [1, 2, 3]


def test_chat_prompt_holds_prefix_and_suffix_around_a_marker():
    tokenizer = ChatTokenizer()
    chat = prompt_format_for(tokenizer, "auto")
    assert isinstance(chat, ChatFormat)
    assert chat.prompt_ids("def f():\n    ", "\nprint(1)\n", "python") == [1, 2, 3]
    content = tokenizer.messages[0]["content"]
    assert "def f():\n    <|fill|>\nprint(1)" in content and "```python" in content


@pytest.mark.parametrize(
    "generated, middle",
    [
        ("```python\nreturn a + b\n```", "return a + b"),
        ("```\nx = 1\ny = 2\n```\n", "x = 1\ny = 2"),
        ("return a + b", "return a + b"),
        ("```python\nreturn a + b", "return a + b"),  # an unclosed fence (the canvas ran out)
    ],
)
def test_chat_answers_lose_their_code_fences(generated, middle):
    assert ChatFormat(ChatTokenizer()).extract(generated) == middle


def test_a_tokenizer_with_neither_fim_tokens_nor_chat_template_is_refused():
    tokenizer = ChatTokenizer()
    tokenizer.chat_template = None
    with pytest.raises(ModelLoadError):
        prompt_format_for(tokenizer, "auto")
