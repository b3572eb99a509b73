"""Prompt formats and context collection under a token budget."""

import re
import zlib

import pytest

from dgemma_lsp.diffusion.prompts import ChatFormat, FimFormat, prompt_format_for
from dgemma_lsp.diffusion.tokens import BOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, byte_tokenizer
from dgemma_lsp.errors import ModelLoadError
from dgemma_lsp.fill.context import (
    build_canvas,
    collect_context,
    head_within,
    healing_clamps,
    tail_within,
    token_offsets,
    trailing_indentation,
)
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.settings import CompletionSettings, ContextSettings


@pytest.fixture(scope="module")
def tokenizer():
    return byte_tokenizer()


def encode_with(tokenizer):
    return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"] if text else []


class CountingTokenize:
    """`token_offsets` that records how many characters it was asked to tokenize."""

    def __init__(self, tokenizer):
        self.tokenize, self.chars, self.calls = token_offsets(tokenizer), 0, 0

    def __call__(self, text):
        self.chars, self.calls = self.chars + len(text), self.calls + 1
        return self.tokenize(text)


LINES = "".join(f"line {i:03d} 😀\n" for i in range(200))  # 1 byte-level token per byte; emoji = 4 tokens


@pytest.mark.parametrize("budget", [0, 1, 15, 16, 100, 10_000])
def test_tail_within_budget_starts_at_a_line(tokenizer, budget):
    encode = encode_with(tokenizer)
    tail, ids = tail_within(LINES, budget, token_offsets(tokenizer))
    assert ids == encode(tail) and len(ids) <= budget
    assert LINES.endswith(tail)
    if tail and tail != LINES and len(tail) > 16:
        assert LINES[len(LINES) - len(tail) - 1] == "\n"


@pytest.mark.parametrize("budget", [0, 1, 15, 16, 100, 10_000])
def test_head_within_budget_ends_after_a_newline(tokenizer, budget):
    encode = encode_with(tokenizer)
    head, ids = head_within(LINES, budget, token_offsets(tokenizer))
    assert ids == encode(head) and len(ids) <= budget
    assert LINES.startswith(head)
    if head and head != LINES and len(head) > 16:
        assert head.endswith("\n")  # like the training data's suffixes


def test_a_huge_single_line_is_cut_not_taken_whole(tokenizer):
    encode = encode_with(tokenizer)
    line = "x = [" + "1, " * 100_000
    tokenize = CountingTokenize(tokenizer)
    tail, ids = tail_within(line, 64, tokenize)
    assert ids == encode(tail) and 60 <= len(ids) <= 64 and line.endswith(tail)
    assert tokenize.chars < 64 * 200  # a window near the cut, never the 300 kB line


@pytest.mark.parametrize("budget", [1, 2, 3, 5, 7, 30])
@pytest.mark.parametrize("within", [tail_within, head_within])
def test_a_cut_never_splits_a_character(tokenizer, within, budget):
    # One line of astral characters (4 byte-level tokens each): every budget not a multiple of 4 falls mid-character.
    text = "😀𝄞😀𝄞" * 20
    encode = encode_with(tokenizer)
    part, ids = within(text, budget, token_offsets(tokenizer))
    assert ids == encode(part) and len(ids) <= budget
    assert len(ids) > budget - 4  # the character that does not fit is left out, nothing more
    assert "\ufffd" not in tokenizer.decode(encode(part))
    assert text.endswith(part) if within is tail_within else text.startswith(part)


# The split of the retired from-scratch model's byte-level BPE (first match wins): an identifier takes one leading
# space or punctuation mark, and a run of spaces before a word leaves its last space to the word.
CODE_SPLIT = (
    r"[^\r\n\p{L}\p{N}_]?[\p{L}\p{M}_][\p{L}\p{M}\p{N}_]*"
    r"|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}_]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)
CODE_SAMPLE = (
    "def area(width, height):\n    result = width * height\n    if result < 0:\n        return 0\n    return result\n\n"
    "func total(xs []int) int {\n\tsum := 0\n\tfor _, x := range xs {\n\t\tsum += x\n\t}\n\treturn sum\n}\n\n"
    "fn total(counts: &[usize]) -> usize {\n    counts.iter().sum()\n}\n\n"
    + "".join(f"def step_{i}(x):\n    return x * {i} + offset_{i}  # {i}\n\n" for i in range(100))
)


@pytest.fixture(scope="module")
def code_tokenizer():
    """A byte-level code BPE that glues a space to the word after it (`    else` is `   ` + ` else`), the case
    indentation healing is for; trained here on a few lines of code (the embedded model's Gemma tokenizer writes
    indentation as a token of its own, so it needs no healing)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS, wrap_tokenizer

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(CODE_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator([CODE_SAMPLE], trainer=trainer)
    return wrap_tokenizer(raw)


def test_a_code_tokenizer_fills_the_budget_with_one_tokenization(code_tokenizer):
    source = "".join(f"def step_{i}(x):\n    return x * {i} + offset_{i}  # {i}\n\n" for i in range(3000))
    tokenize = CountingTokenize(code_tokenizer)
    tail, ids = tail_within(source, 384, tokenize)
    assert 384 - 20 < len(ids) <= 384 and ids == encode_with(code_tokenizer)(tail)  # a line is < 20 tokens
    assert source.endswith(tail) and source[-len(tail) - 1] == "\n"
    assert tokenize.calls == 1 and tokenize.chars == 384 * 6
    head, ids = head_within(source, 128, tokenize)
    assert 128 - 20 < len(ids) <= 128 and ids == encode_with(code_tokenizer)(head) and head.endswith("\n")
    assert tokenize.calls == 2 and tokenize.chars == 384 * 6 + 128 * 6


@pytest.mark.parametrize("budget", [5, 17, 50])
@pytest.mark.parametrize("within", [tail_within, head_within])
def test_a_cut_inside_a_line_of_words_gets_the_texts_own_ids(code_tokenizer, within, budget):
    line = "    ".join(f"word{i} + other_{i}" for i in range(300))
    part, ids = within(line, budget, token_offsets(code_tokenizer))
    assert ids == encode_with(code_tokenizer)(part) and budget - 3 <= len(ids) <= budget


def test_context_slices_stay_near_the_hole_in_a_large_buffer(tokenizer):
    text = LINES * 500  # 1.4 MB of lines
    hole = Hole(FillKind.LINE, len(text) // 2, len(text) // 2)
    tokenize = CountingTokenize(tokenizer)
    context = collect_context(text, hole, ContextSettings(prefix_tokens=100, suffix_tokens=50), tokenize)
    assert context.prefix_tokens <= 100 and context.suffix_tokens <= 50
    assert text[: hole.start].endswith(context.prefix) and text[hole.end :].startswith(context.suffix)
    assert tokenize.chars < 150 * 6 * 8 * 3


def test_context_is_collected_outward_from_the_hole(tokenizer):
    text = "a = 1\nb = 2\nc = 3\nd = 4\n"
    hole = Hole(FillKind.LINE, text.index("c = 3") + 4, text.index("c = 3") + 4)
    context = collect_context(text, hole, ContextSettings(prefix_tokens=10, suffix_tokens=5), token_offsets(tokenizer))
    assert context.prefix == "b = 2\nc = "
    assert context.suffix == "3\n"


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


def test_a_brace_stub_opens_its_bodys_first_line_in_the_prompt(code_tokenizer):
    """The model starts at the body's code, not at the `{`: the fill takes back the newline and indentation."""
    fim = FimFormat(code_tokenizer)
    text = "fn total(counts: &[usize]) -> usize {\n    todo!()\n}\n"
    hole = Hole(FillKind.BLOCK, text.index("{") + 1, text.rindex("}"), "    ")
    args = (text, hole, "rust", fim, ContextSettings(), CompletionSettings())
    plain, healed = build_canvas(*args), build_canvas(*args, heal_indentation=True)
    assert plain.opened == healed.opened == "\n    "
    assert plain.context.prefix == text[: hole.start]  # the document's text, as the syntax checks read it
    split = plain.prompt_ids.index(fim.ids[FIM_PREFIX])
    assert code_tokenizer.decode(plain.prompt_ids[split + 1 : -1]) == text[: hole.start] + "\n    "
    # a healed prompt stops at the newline; the canvas writes the indentation, which the fill then drops
    assert healed.healed == "    "
    split = healed.prompt_ids.index(fim.ids[FIM_PREFIX])
    assert code_tokenizer.decode(healed.prompt_ids[split + 1 : -1]) == text[: hole.start] + "\n"


def test_a_hole_on_its_own_line_opens_nothing(tokenizer):
    fim = FimFormat(tokenizer)
    text = "def f():\n    pass\n"
    hole = Hole(FillKind.BLOCK, 13, 17, "    ")
    canvas = build_canvas(text, hole, "python", fim, ContextSettings(), CompletionSettings())
    assert canvas.opened == ""
    assert tokenizer.decode(canvas.prompt_ids[canvas.prompt_ids.index(fim.ids[FIM_PREFIX]) + 1 : -1]) == text[:13]


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


def trimmed_word_tokenize(text):
    """Words with their leading spaces as one token each, offsets trimmed of the spaces (RoBERTa-style
    `trim_offsets`): the offsets leave gaps, so a gap's end is no token boundary."""
    tokens = list(re.finditer(r"\s*\S+|\s+", text))
    ids = [zlib.crc32(m.group().encode()) for m in tokens]
    offsets = [(m.start() + len(m.group()) - len(m.group().lstrip()), m.end()) for m in tokens]
    return ids, offsets


@pytest.mark.parametrize("budget", [3, 10, 40])
@pytest.mark.parametrize("within", [tail_within, head_within])
def test_trimmed_offsets_are_not_taken_for_token_boundaries(within, budget):
    text = "".join(f"w{i}" + ("\n" if i % 7 == 6 else " ") for i in range(500))  # "\nw7" is one token, at 1
    part, ids = within(text, budget, trimmed_word_tokenize)
    assert ids == trimmed_word_tokenize(part)[0] and 0 < len(ids) <= budget


@pytest.mark.parametrize(
    ("prefix", "healed"),
    [
        ("x = 1\n    ", "    "),
        ("x = 1\n\t\t", "\t\t"),
        ("    ", "    "),
        ("x = 1\n    y", ""),
        ("x = 1\n", ""),
        ("", ""),
    ],
)
def test_trailing_indentation_is_a_last_line_of_only_spaces_and_tabs(prefix, healed):
    assert trailing_indentation(prefix) == healed


def test_a_healed_prompt_ends_at_the_newline_and_the_canvas_owns_the_indentation(tokenizer):
    fim = FimFormat(tokenizer)
    text = "def f(x):\n    if x:\n        return 1\n    \n        return 0\n"
    offset = text.index("    \n        return 0") + 4
    hole = Hole(FillKind.LINE, offset, offset, "    ")
    args = (text, hole, "python", fim, ContextSettings(), CompletionSettings())
    healed, plain = build_canvas(*args, heal_indentation=True), build_canvas(*args)
    assert healed.healed == "    " and plain.healed == ""
    assert healed.context.prefix == text[: offset - 4] and plain.context.prefix == text[:offset]
    assert healed.context.suffix == plain.context.suffix
    # mid-line, nothing to heal
    mid = Hole(FillKind.LINE, text.index("return 1") + 7, text.index("return 1") + 7, "        ")
    assert build_canvas(text, mid, "python", fim, ContextSettings(), CompletionSettings(), True).healed == ""


@pytest.mark.parametrize("healed", ["    ", "            ", " "])
def test_healed_spaces_are_pinned_then_the_line_starts_in_the_token_holding_the_last_space(code_tokenizer, healed):
    code = code_tokenizer
    clamps, first, lead = healing_clamps(healed, code, 1)
    assert code.decode([clamps[i] for i in range(first)]) + lead == healed
    allowed = clamps[first]
    natural = code(healed + "return", add_special_tokens=False)["input_ids"]
    assert natural[:first] == [clamps[i] for i in range(first)] and natural[first] in allowed and 1 in allowed
    for token_id in allowed - {1}:
        text = code.decode([token_id])
        assert text.startswith(lead) and not text[len(lead)].isspace()


def test_a_healed_tab_may_run_into_the_word(code_tokenizer):
    code = code_tokenizer
    clamps, first, _ = healing_clamps("\t\t", code, 1)
    assert first is None  # the code starts at one of two positions: no syntax clamps
    tab = code.convert_tokens_to_ids(code.tokenize("\t")[0])
    assert clamps[0] == tab
    for word in ("return", "x"):  # `\treturn` is one token, `\tx` two: both are allowed
        natural = code(f"\t\t{word}", add_special_tokens=False)["input_ids"]
        assert natural[0] == clamps[0] and natural[1] in clamps[1]
