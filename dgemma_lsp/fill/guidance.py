"""What the syntax says a hole must hold, and the first tokens that can start it.

Asked to replace a stub or a selection, the user wants code back, never nothing. And on a fresh line between two
pieces of finished code, the code around sometimes decides more than the model sees: in Python, a line above
lines indented one level deeper must open a block (`if ...:`, `for ...:`, `else:`), and the only line of a block
cannot be left empty. A strong model reads that off the indentation; a small one often answers `return` or
nothing. The sampler can be told: it narrows the fill's first tokens to what can start such a line
(`engine.clamp_logits`), and post-processing adds a block opener's missing colon (`postprocess.with_repairs`).
The compiler checks are Python's only: brace languages say the same with their braces, which the model sees as
tokens.

The need is found by compiling stand-ins in the hole, on the same syntax window post-processing judges fills on.
"""

from __future__ import annotations

import enum
import functools
import re
import sys

from dgemma_lsp.diffusion.tokens import token_texts
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.postprocess import PYTHON_BLOCK_OPENERS, stand_in, window_around
from dgemma_lsp.text.lint import undefined_names
from dgemma_lsp.text.syntax import is_word_char, python_compiles

# The largest file checked for undefined names: pyflakes reads ~1 KB a millisecond here (argparse.py, 100 KB:
# 102 ms), and a line fill checks the file once per candidate.
MAX_LINTED_CHARS = 50_000
# How many of the names the code after a hole needs get a decoding branch of their own (`needed_names`): the
# first uses after a line are nearly always the one name that line must bind.
MAX_NEEDED_NAMES = 2


class Need(enum.Enum):
    ANY = "any"  # the code around compiles with the hole left empty (or does not compile either way)
    STATEMENT = "statement"  # left empty, a block would have no statement
    BLOCK_OPENER = "block-opener"  # the lines below are indented under this one


_STAND_INS = {Need.ANY: "", Need.STATEMENT: "pass", Need.BLOCK_OPENER: "if True:"}  # the least code meeting each need


@functools.lru_cache(maxsize=8)  # asked by the clamps and by `needed_names` / `binding_openings` for one fill
def hole_need(text: str, hole: Hole, language: str | None) -> Need:
    """What a fill of `hole` must be. A hole that replaces code (a stub, a selection) needs at least a statement
    in any language: an empty answer would only delete it. Beyond that, Python's compiler decides, for a hole on
    a line of its own (nothing but indentation before the cursor, nothing after it on the line)."""
    if hole.kind is FillKind.NONE:
        return Need.ANY
    floor = Need.STATEMENT if hole.end > hole.start else Need.ANY
    if language != "python":
        return floor
    line_start = text.rfind("\n", 0, hole.start) + 1
    line_end = text.find("\n", hole.end)
    line_end = len(text) if line_end < 0 else line_end
    if text[line_start : hole.start].strip() or text[hole.end : line_end].strip():
        return floor
    before, after = window_around(text, hole.start, hole.end, language)

    def compiles_with(code: str) -> bool:
        return python_compiles(before + (stand_in(code, text=text, hole=hole) if code else "") + after)

    if compiles_with(_STAND_INS[Need.ANY]):
        return floor
    if compiles_with(_STAND_INS[Need.STATEMENT]):
        return Need.STATEMENT
    # A block hole could put the opener on its last line; only a one-line fill must start with it.
    if hole.kind is FillKind.LINE and compiles_with(_STAND_INS[Need.BLOCK_OPENER]):
        return Need.BLOCK_OPENER
    return floor


@functools.lru_cache(maxsize=8)
def opening_clamps(
    need: Need, tokenizer, eos_id: int, lead: str = "", comment_starts: tuple[str, ...] = ()
) -> dict[int, frozenset[int]]:
    """The token ids each of the fill's first positions may hold, for `engine.denoise`'s `clamps`; empty for ANY,
    or where no token fits (the sampler must always have something to choose). Once per need and tokenizer.

    A block opener starts with a keyword token, and the next token must not go on with the word (`if` + `res`
    spells `ifres`): it starts with a space or punctuation, or it ends the fill (`else` gets its colon later).
    `lead` is what the first token must start with before the code (a space, where a healed canvas writes the
    indentation itself: ` else`). A statement does not start with a comment (`comment_starts`, or a token that
    could begin one: `/`): asked for a body, a small model otherwise often writes `// TODO` and stops.
    """
    if need is Need.ANY:
        return {}
    texts = token_texts(tokenizer)
    special = set(tokenizer.all_special_ids)
    code = frozenset(i for i, text in enumerate(texts) if text.strip() and i not in special)
    first = frozenset(i for i in code if texts[i].startswith(lead) and texts[i][len(lead) :].strip())
    if need is Need.STATEMENT:  # code first: not the end of the fill, not whitespace, not a comment
        statements = frozenset(i for i in first if not _opens_comment(texts[i][len(lead) :].lstrip(), comment_starts))
        return {0: statements} if statements else {}
    keywords = frozenset(i for i in first if texts[i][len(lead) :] in PYTHON_BLOCK_OPENERS)
    apart = frozenset(i for i in code if not is_word_char(texts[i][0])) | {eos_id}
    return {0: keywords, 1: apart} if keywords else {}


def _opens_comment(code: str, comment_starts: tuple[str, ...]) -> bool:
    return any(code.startswith(start) or start.startswith(code) for start in comment_starts)


def needed_names(text: str, hole: Hole, language: str | None, limit: int = MAX_NEEDED_NAMES) -> tuple[str, ...]:
    """Names the code after the hole uses that nothing in the file defines, in order of first use (Python).

    Left empty, a line hole above `for c in s:`'s body leaves `c` undefined: the hole is where it must be bound
    (`for c in ...`, `c = ...`, `def c(...)`, `import c`). The file is checked with the hole empty, or with a
    statement or a block opener standing in where it would not parse empty (`hole_need`'s stand-ins). A name
    that is also undefined before the hole is left out: the project provides it somehow (a builtin installed at
    run time), and no fill is to blame for it.
    """
    if language != "python" or hole.kind is FillKind.NONE or len(text) > MAX_LINTED_CHARS:
        return ()
    for filling in _STAND_INS.values():  # the first the whole file parses with (the window `hole_need` reads may)
        code = stand_in(filling, text=text, hole=hole) if filling else ""
        undefined = undefined_names(text[: hole.start] + code + text[hole.end :])
        if undefined is not None:
            break
    else:
        return ()
    hole_line = text.count("\n", 0, hole.start) + 1
    after = code.count("\n") + text.count("\n", hole.start, hole.end)  # lines the hole's own text spans
    provided = {name for name, line in undefined if line <= hole_line}
    needed = [name for name, line in undefined if line > hole_line + after and name not in provided]
    return tuple(dict.fromkeys(needed))[:limit]


def binding_openings(text: str, hole: Hole, language: str | None, names: tuple[str, ...]) -> tuple[str, ...]:
    """How a line in the hole could start so as to bind each of `names` (Python's binding statements): a line
    that must open a block (`hole_need`) binds a name as a loop's target (`for c in`)
    or, where the code after calls it, as a function (`def is_prime(`); any other line as an assignment's target
    (`c`), or, for a standard library module's name, by importing it (`import math`)."""
    if language != "python" or not names:
        return ()
    opens_block = hole_need(text, hole, language) is Need.BLOCK_OPENER
    after = text[hole.end :]
    openings: list[str] = []
    for name in names:
        if opens_block:
            openings.append(f"for {name} in")
            if re.search(rf"(?<![\w.]){re.escape(name)}\(", after):
                openings.append(f"def {name}(")
        else:
            openings.append(name)
            if name in sys.stdlib_module_names:
                openings.append(f"import {name}")
    return tuple(openings)
