"""From a hole to the model's input: context collected outward from the hole under a token budget, the prompt,
and how many canvases the middle may take."""

from __future__ import annotations

from dataclasses import dataclass

from .holes import FillKind, Hole
from .prompts import PromptFormat
from .settings import CompletionSettings, ContextSettings


@dataclass(frozen=True)
class Context:
    prefix: str  # text before the hole, cut at a line start
    suffix: str  # text after the hole, cut at a line end
    prefix_tokens: int
    suffix_tokens: int


@dataclass(frozen=True)
class Canvas:
    prompt_ids: list[int]
    max_canvases: int
    context: Context


def tail_within(text: str, budget: int, encode) -> tuple[str, int]:
    """The longest tail of `text` within `budget` tokens, starting at a line start when it can.

    A single line longer than the budget is cut inside the line: a minified line must not blow the context.
    """
    # Tokenize at most a window proportional to the budget: a 10 MB buffer is never tokenized whole.
    window = text[-budget * 16 :] if budget else ""
    ids = encode(window)
    if len(ids) <= budget and len(window) == len(text):
        return text, len(ids)
    start = len(window) - _chars_in_last_tokens(window, budget, encode)
    if start > 0 and window[start - 1] != "\n":
        line_start = window.find("\n", start)
        if line_start != -1 and line_start + 1 < len(window):
            start = line_start + 1
    tail = window[start:]
    return tail, len(encode(tail))


def head_within(text: str, budget: int, encode) -> tuple[str, int]:
    """The longest head of `text` that ends at a line end (or is the whole text) within `budget` tokens."""
    window = text[: budget * 16] if budget else ""
    ids = encode(window)
    if len(ids) <= budget and len(window) == len(text):
        return text, len(ids)
    end = _chars_in_first_tokens(window, budget, encode)
    if end < len(window) and window[end] != "\n":
        line_end = window.rfind("\n", 0, end)
        if line_end > 0:
            end = line_end
    head = window[:end]
    return head, len(encode(head))


def _chars_in_last_tokens(text: str, budget: int, encode) -> int:
    """How many trailing characters of `text` encode within `budget` tokens (a binary search over lengths:
    byte-level tokens can split characters, so token offsets do not map cleanly back to str indices)."""
    if budget <= 0:
        return 0
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(encode(text[len(text) - mid :])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _chars_in_first_tokens(text: str, budget: int, encode) -> int:
    if budget <= 0:
        return 0
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if len(encode(text[:mid])) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def collect_context(text: str, hole: Hole, budgets: ContextSettings, encode) -> Context:
    prefix, prefix_tokens = tail_within(text[: hole.start], budgets.prefix_tokens, encode)
    suffix, suffix_tokens = head_within(text[hole.end :], budgets.suffix_tokens, encode)
    return Context(prefix, suffix, prefix_tokens, suffix_tokens)


def build_canvas(
    text: str,
    hole: Hole,
    language: str | None,
    prompt_format: PromptFormat,
    budgets: ContextSettings,
    completion: CompletionSettings,
) -> Canvas:
    context = collect_context(text, hole, budgets, prompt_format.encode)
    max_canvases = completion.line_canvases if hole.kind is FillKind.LINE else completion.block_canvases
    ids = prompt_format.prompt_ids(context.prefix, context.suffix, language)
    return Canvas(ids, max_canvases, context)
