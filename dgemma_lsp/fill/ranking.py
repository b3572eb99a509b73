"""Fills as text, whichever model wrote them: the result types, and the syntax judgement that ranks candidates.

Shared by the local pipeline (`pipeline.Filler`) and a model on a server (`remote.RemoteFiller`); plain text work
(tree-sitter, no torch), so a remote fill needs no model library loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dgemma_lsp.fill.holes import Hole
from dgemma_lsp.fill.postprocess import postprocess, window_around
from dgemma_lsp.text.syntax import error_count, function_at, language_named, parse


@dataclass(frozen=True)
class Fill:
    text: str  # what to insert in place of document[start:end], post-processed
    start: int
    end: int
    raw: str  # the model's middle before post-processing


# The stages of a fill that `FillOutcome.timings` may hold, in the order they run: what the server reports per
# request (`dgemma/timings`) and `bench lsp` summarizes. Greedy decoding reports encode, decode and judge.
STAGES = ("queue", "canvas", "encode", "decode", "judge", "postprocess")


@dataclass
class FillOutcome:
    fills: list[Fill]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    steps: int = 0  # decoder forwards
    encoded_tokens: int = 0  # prompt tokens encoded now (the rest came from the prompt cache)
    failed: bool = False  # a model server's error (already reported to the user) left the fill without an answer
    branch_forwards: int = 0  # greedy decoding: forwards summed over the branches each carried (`DenoiseResult`)
    accepted: int = 0  # greedy decoding: drafted tokens kept


def keeps_syntax(fill: Fill, text: str, language: str | None) -> bool:
    """Whether the file, with the fill in place, has no more syntax errors than without it (judged on a window of
    lines around the hole); True where the language has no grammar."""
    if language is None or language_named(language) is None:
        return True
    before, after = window_around(text, fill.start, fill.end, language)
    return error_count(before + fill.text + after, language) <= error_count(before + after, language)


def leaves_stub(fill: Fill, text: str, language: str | None) -> bool:
    """Whether the function the fill goes in is a stub with the fill in place (`todo!()`, `pass`, `raise
    NotImplementedError`, only a TODO comment: the language's `@stub.inner` captures). Asked for a stub's body, a
    small model often writes a stub back: likely text there, and no fill at all. False outside a function and
    where the language has no grammar."""
    if language is None or language_named(language) is None:
        return False
    filled = text[: fill.start] + fill.text + text[fill.end :]
    source = filled.encode("utf-8")
    site = function_at(parse(filled, language), language, len(filled[: fill.start].encode("utf-8")), source)
    return site is not None and site.is_stub


def finish_middles(middles: list[str], text: str, hole: Hole, language: str | None) -> list[Fill]:
    """Fills from the model's middles as text (a remote model's answers): post-processed, empty and repeated ones
    dropped, ranked by syntax. `Filler.fill` does the same from token ids, with their post-processing cached."""
    fills: list[Fill] = []
    for middle in middles:
        fill = postprocess(middle, text=text, hole=hole, language=language)
        if fill and all(fill != f.text for f in fills):
            fills.append(Fill(fill, hole.start, hole.end, middle))
    return rank_by_syntax(fills, text, language)


def rank_by_syntax(fills: list[Fill], text: str, language: str | None) -> list[Fill]:
    """Candidates that leave the file with no more syntax errors than it had come first, in sampling order.

    A small model's candidates often differ only in whether they close a bracket or finish a statement; the first
    one shown should be one that keeps the file well-formed. Nothing is dropped: while the user is mid-line the
    file may be broken anyway, and a fill that "adds" an error can still be what they want. One candidate needs
    no ranking, so the common inline request pays no extra parse.
    """
    if len(fills) < 2 or language is None or language_named(language) is None:
        return fills
    # Every fill replaces the same hole, so one syntax window around it (not the whole file) judges them all.
    before, after = window_around(text, fills[0].start, fills[0].end, language)
    baseline = error_count(before + after, language)
    keeps_syntax = [error_count(before + f.text + after, language) <= baseline for f in fills]
    order = sorted(range(len(fills)), key=lambda i: not keeps_syntax[i])
    return [fills[i] for i in order]
