"""From a hole to the model's input: context collected outward from the hole under a token budget, the prompt,
and how many canvases the middle may take."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.postprocess import opened_body_indent
from dgemma_lsp.fill.related import Workspace, related_snippets
from dgemma_lsp.settings import CompletionSettings, ContextSettings
from dgemma_lsp.text.outline import import_texts, outline, render
from dgemma_lsp.text.syntax import language_named, parse

if TYPE_CHECKING:  # a remote model's context (`remote.py`) is collected here without torch loaded
    from dgemma_lsp.diffusion.prompts import PromptFormat

Offsets = list[tuple[int, int]]  # each token's (start, end) character offsets
Tokenize = Callable[[str], tuple[list[int], Offsets]]

# Characters tokenized first per token of budget: code averages ~4 characters a token, so one tokenization of a
# window this size usually holds the whole budget. A window that falls short grows once, by GROWTH.
CHARS_PER_TOKEN = 6
GROWTH = 8


@dataclass(frozen=True)
class Context:
    prefix: str  # text before the hole, cut at a line start
    suffix: str  # text after the hole, cut at a line end
    prefix_ids: list[int]
    suffix_ids: list[int]

    @property
    def prefix_tokens(self) -> int:
        return len(self.prefix_ids)

    @property
    def suffix_tokens(self) -> int:
        return len(self.suffix_ids)


@dataclass(frozen=True)
class Canvas:
    prompt_ids: list[int]
    max_canvases: int
    context: Context
    healed: str = ""  # document text before the hole that the middle must start with (`trailing_indentation`)
    opened: str = ""  # text the prompt has after the document's, that the fill starts with (`build_canvas`)

    @property
    def typed(self) -> str:
        """What of `opened` the prompt holds, as if typed: all of it but the indentation a healed prompt leaves to
        the canvas."""
        return self.opened.removesuffix(self.healed) if self.opened else ""


def trailing_indentation(prefix: str) -> str:
    """The spaces and tabs after the prefix's last newline when nothing else follows it, else "".

    A byte-level BPE tokenizer glues a space to the word after it: `    else` is `   ` + ` else`. A prefix cut
    after the indentation ends in a token the file never holds there (`    `), and the middle then starts with
    `else`, a token rare anywhere else, so what a small model learned from the same lines as ordinary text does
    not carry over. A model trained with healed indentation (`fim_heal_indentation` in its config) gets the prompt
    cut at the newline and writes the line from its start, in the file's own tokens; the canvas's first tokens are
    pinned to the indentation already typed (`healing_clamps`), which is then cut from the fill.
    """
    line = prefix[prefix.rfind("\n") + 1 :]
    return line if line and not line.strip(" \t") else ""


def token_offsets(tokenizer) -> Tokenize:
    """`Tokenize` for a fast (Rust `tokenizers`) tokenizer; offsets are what makes one tokenization enough."""

    def tokenize(text: str) -> tuple[list[int], Offsets]:
        if not text:
            return [], []
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return encoding["input_ids"], encoding["offset_mapping"]

    return tokenize


def tail_within(text: str, budget: int, tokenize: Tokenize) -> tuple[str, list[int]]:
    """The longest tail of `text` within `budget` tokens, starting at a line start when it can, and its ids.

    One tokenization of a window near the cursor (never the whole buffer) finds the cut from token offsets; where
    a line start is a token boundary (usual for a code tokenizer) the window's ids from there are the tail's, else
    the tail is tokenized once more. A single line longer than the budget is cut inside the line: a minified line
    must not blow the context.
    """
    if budget <= 0 or not text:
        return "", []
    window, ids, offsets = _window(text, budget, tokenize, lambda size: text[-size:])
    if len(ids) <= budget and len(window) == len(text):
        return text, ids
    first = max(len(ids) - budget, 0)  # the first token that fits
    line = next((i for i in range(max(first, 1), len(ids)) if _starts_line(window, offsets, i)), None)
    if line is not None:
        return window[offsets[line][0] :], ids[line:]
    start = _char_start(offsets, first)
    if start > 0 and window[start - 1] != "\n":
        line_start = window.find("\n", start)
        if line_start != -1 and line_start + 1 < len(window):
            start = line_start + 1
    # Tokens merge differently once the text before the cut is gone; drop more until the count holds.
    tail = window[start:]
    while True:
        tail_ids, tail_offsets = tokenize(tail)
        if len(tail_ids) <= budget:
            return tail, tail_ids
        tail = tail[max(_char_start(tail_offsets, len(tail_ids) - budget), 1) :]


def head_within(text: str, budget: int, tokenize: Tokenize) -> tuple[str, list[int]]:
    """The longest head of `text` that ends after a newline (or is the whole text) within `budget` tokens, and its
    ids; FIM training cut suffixes the same way."""
    if budget <= 0 or not text:
        return "", []
    window, ids, offsets = _window(text, budget, tokenize, lambda size: text[:size])
    if len(ids) <= budget and len(window) == len(text):
        return text, ids
    line = next((i for i in range(min(budget, len(ids) - 1), 0, -1) if _starts_line(window, offsets, i)), None)
    if line is not None:
        return window[: offsets[line][0]], ids[:line]
    end = offsets[budget][0] if len(ids) > budget else len(window)  # before the first token left out
    newline = window.rfind("\n", 0, end)
    head = window[: newline + 1] if newline != -1 else window[:end]
    while True:
        head_ids, head_offsets = tokenize(head)
        if len(head_ids) <= budget:
            return head, head_ids
        head = head[: min(head_offsets[budget][0], len(head) - 1)]


def _window(text: str, budget: int, tokenize: Tokenize, take) -> tuple[str, list[int], Offsets]:
    """A window of `text` (cut by `take(size)`) holding more than `budget` tokens, or the whole text; tokenized."""
    window = take(budget * CHARS_PER_TOKEN)
    ids, offsets = tokenize(window)
    if len(ids) <= budget and len(window) < len(text):  # very long tokens (whitespace runs, a byte model)
        window = take(_largest_window(budget))
        ids, offsets = tokenize(window)
    return window, ids, offsets


def _largest_window(budget: int) -> int:
    return budget * CHARS_PER_TOKEN * GROWTH


def _char_start(offsets: Offsets, first: int) -> int:
    """Where the text for tokens[first:] starts: byte-level tokens split a character into several tokens with
    the same offsets; a character whose first bytes belong to tokens before `first` is left out whole."""
    start = offsets[first][0]
    if first > 0 and offsets[first - 1][1] > start:
        return offsets[first][1]
    return start


def _starts_line(window: str, offsets: Offsets, index: int) -> bool:
    """Whether token `index` (> 0) starts a line exactly where the token before it ends: a clean cut, so the ids
    on either side are the tokenization of the text on that side. Offsets trimmed of spaces (`trim_offsets`) leave a
    gap between the two tokens and do not count."""
    start, end = offsets[index]
    return 0 < start < end and window[start - 1] == "\n" and offsets[index - 1][1] == start


def collect_context(text: str, hole: Hole, budgets: ContextSettings, tokenize: Tokenize) -> Context:
    # One character more than the largest window: nothing per request copies or tokenizes the whole buffer, and
    # a cut slice is still seen as longer than any window (so its tail starts at a line start).
    before = text[max(0, hole.start - _largest_window(budgets.prefix_tokens) - 1) : hole.start]
    after = text[hole.end : hole.end + _largest_window(budgets.suffix_tokens) + 1]
    prefix, prefix_ids = tail_within(before, budgets.prefix_tokens, tokenize)
    suffix, suffix_ids = head_within(after, budgets.suffix_tokens, tokenize)
    return Context(prefix, suffix, prefix_ids, suffix_ids)


def build_canvas(
    text: str,
    hole: Hole,
    language: str | None,
    prompt_format: PromptFormat,
    budgets: ContextSettings,
    completion: CompletionSettings,
    heal_indentation: bool = False,
    workspace: Workspace | None = None,
) -> Canvas:
    """The prompt for `hole`. With `heal_indentation` (a model trained that way), indentation typed before the
    cursor on its line moves from the prompt to the start of the middle (`trailing_indentation`).

    A hole that opens a body on its opener's line (`{|}`, a brace stub's `{` + its lines: `opened_body_indent`) gets
    the body's first line opened in the prompt (`Canvas.opened`), as if typed: the model then starts with the
    body's code, and the clamps that keep a stub's fill from being a comment or nothing apply to that code. Left
    to start at the `{`, the clamps forbade its newline, and the model wrote the body on the opener's line (a
    Rust stub's body became a closure, `|t| counts...`)."""
    line_start = text.rfind("\n", 0, hole.start) + 1
    indent = opened_body_indent(text, hole)
    opened = "\n" + indent if indent is not None else ""
    healed = trailing_indentation(text[line_start : hole.start] + opened) if heal_indentation else ""
    cut = hole
    if healed and not opened:
        cut = Hole(hole.kind, hole.start - len(healed), hole.end, hole.indent)
    tokenize = token_offsets(prompt_format.tokenizer)
    context = collect_context(text, cut, budgets, tokenize)
    max_canvases = completion.line_canvases if hole.kind is FillKind.LINE else completion.block_canvases
    canvas = Canvas([], max_canvases, context, healed, opened)
    shown_after = len(context.suffix) if prompt_format.reads_suffix else 0
    window = (cut.start - len(context.prefix), cut.end + shown_after)
    outline, outline_ids = outline_within(text, window, cut.start, language, budgets.outline_tokens, tokenize)
    related, related_ids = "", list[int]()
    if workspace is not None and language == "python" and budgets.related_tokens > 0:
        imports = import_texts(_tree_of(text, language), language)
        related, related_ids = related_snippets(text, cut.start, imports, workspace, budgets.related_tokens, tokenize)
    prefix = related + outline + context.prefix + canvas.typed
    prefix_ids = related_ids + outline_ids + context.prefix_ids + prompt_format.encode(canvas.typed)
    ids = prompt_format.prompt_ids(prefix, context.suffix, language, encoded=(prefix_ids, context.suffix_ids))
    return dataclasses.replace(canvas, prompt_ids=ids)


@functools.lru_cache(maxsize=2)
def _tree_of(text: str, language: str):
    """One parse of the buffer for the outline and the workspace imports of the same request."""
    return parse(text, language)


def outline_within(
    text: str, window: tuple[int, int], cursor: int, language: str | None, budget: int, tokenize: Tokenize
) -> tuple[str, list[int]]:
    """The file's imports and signatures outside `window` (string indices of the text the prompt shows), nearest
    the cursor first while they fit in `budget` tokens, shown in file order (`text/outline.py`); and their ids.
    "" where the budget is 0, the language has no grammar or nothing lies outside the window."""
    if budget <= 0 or language is None or language_named(language) is None or window == (0, len(text)):
        return "", []
    source = text.encode("utf-8")
    byte_window = (len(text[: window[0]].encode("utf-8")), len(source) - len(text[window[1] :].encode("utf-8")))
    entries = outline(_tree_of(text, language), language, byte_window, len(text[:cursor].encode("utf-8")))
    if not entries:
        return "", []
    sizes = dict(zip((e.start for e in entries), [len(tokenize(e.text + "\n")[0]) for e in entries]))
    parents = {e.start: e.parent for e in entries}
    kept: set[int] = set()
    spent = 0
    for entry in sorted(entries, key=lambda e: e.distance):
        parent = entry.parent
        cost = sizes[entry.start] + (sizes.get(parent, 0) if parent is not None and parent not in kept else 0)
        if spent + cost > budget:
            continue
        kept |= {entry.start} | ({entry.parent} if entry.parent is not None and entry.parent in parents else set())
        spent += cost
    rendered = render(entries, kept)
    ids, _ = tokenize(rendered)
    return rendered, ids


@functools.lru_cache(maxsize=32)
def healing_clamps(healed: str, tokenizer, eos_id: int) -> tuple[dict[int, int | frozenset[int]], int | None, str]:
    """Clamps that make the middle start with `healed` as the file would tokenize it; the position where the
    line's code starts and what its token must start with (None where that position is not fixed).

    The tokens of `healed` + a word are pinned but the one that holds the word. Where that token also holds the
    end of `healed` (`   ` + ` x` for four spaces), its position must start with that end and go on with
    something that is not whitespace, or end the middle (EOS: an empty fill). Where the word starts a token of
    its own (`\t` + `x`), the last pinned token may also be one that goes on into a word (`\treturn`), so the
    code may start one position earlier.
    """
    from dgemma_lsp.diffusion.tokens import token_texts

    texts = token_texts(tokenizer)
    probe = tokenizer(healed + "x", add_special_tokens=False)["input_ids"]
    pinned, rest = probe[:-1], texts[probe[-1]].removesuffix("x")
    if (not pinned and not rest) or "".join(texts[i] for i in pinned) + rest != healed:
        pinned = tokenizer(healed, add_special_tokens=False)["input_ids"]  # the probe word merged oddly
        return dict(enumerate(pinned)), None, ""

    def going_on(lead: str) -> frozenset[int]:
        return frozenset(
            i for i, t in enumerate(texts) if t.startswith(lead) and len(t) > len(lead) and not t[len(lead)].isspace()
        )

    clamps: dict[int, int | frozenset[int]] = dict(enumerate(pinned))
    if rest:
        clamps[len(pinned)] = going_on(rest) | {eos_id}
        return clamps, len(pinned), rest
    last = len(pinned) - 1
    clamps[last] = going_on(texts[pinned[last]]) | {pinned[last]}
    return clamps, None, ""
