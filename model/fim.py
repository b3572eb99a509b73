"""Fill-in-the-middle training examples: pick a hole the way an editor asks for one, then lay out the tokens.

Hole kinds, each a `Span` of character offsets whose text is the middle:
  rest_of_line   cursor mid-line, the middle runs to the line's end
  line           one whole line after its indentation (the cursor sits on an indented empty line)
  block          consecutive statements of one tree-sitter block (or one indentation level)
  function_body  the statements of a function body
  expression     one tree-sitter expression node that lies on one line
  random_span    any character span
  empty          a cursor at the end of a finished line: the hole needs nothing, the canvas is all EOS

Multi-line middles start after the first line's indentation and stop before the last line's newline, which is
what the document holds when the user has opened an indented empty line and asks for the rest.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dgemma_lsp.diffusion.prompts import fim_prompt_ids
from dgemma_lsp.diffusion.tokens import EOS, special_ids
from dgemma_lsp.fill.context import trailing_indentation
from dgemma_lsp.text import syntax

KINDS = ("rest_of_line", "line", "block", "function_body", "expression", "random_span")
EMPTY = "empty"

# Textobject-style captures. These stay here until the lead's `syntax` offers the same sites
# (`function_sites`); the expression list is the node types an editor user would plausibly leave unfinished.
QUERIES = {
    "python": """
        (function_definition body: (block) @function.inner)
        (block) @block.inner
        [(call) (binary_operator) (attribute) (subscript) (comparison_operator) (boolean_operator)
         (list) (dictionary) (conditional_expression) (list_comprehension)] @expression
    """,
    "javascript": """
        [(function_declaration body: (_) @function.inner) (function_expression body: (_) @function.inner)
         (method_definition body: (_) @function.inner) (arrow_function body: (statement_block) @function.inner)
         (generator_function_declaration body: (_) @function.inner)]
        (statement_block) @block.inner
        [(call_expression) (binary_expression) (member_expression) (template_string) (object) (array)
         (ternary_expression) (subscript_expression)] @expression
    """,
    "go": """
        [(function_declaration body: (block) @function.inner) (method_declaration body: (block) @function.inner)
         (func_literal body: (block) @function.inner)]
        (block) @block.inner
        [(call_expression) (binary_expression) (selector_expression) (composite_literal)
         (index_expression)] @expression
    """,
    "rust": """
        [(function_item body: (block) @function.inner) (closure_expression body: (block) @function.inner)]
        (block) @block.inner
        [(call_expression) (binary_expression) (field_expression) (macro_invocation) (index_expression)
         (struct_expression)] @expression
    """,
}
QUERIES["typescript"] = QUERIES["tsx"] = QUERIES["javascript"].replace(
    "(subscript_expression)]", "(subscript_expression) (as_expression)]"
)

MAX_RANDOM_SPAN_CHARS = 600  # about four 32-token canvases of code; longer middles are cut to the token cap


@dataclass(frozen=True)
class FimSettings:
    """The hole mix and the token budgets (config.json's "fim" section)."""

    mix: dict[str, float] = field(
        default_factory=lambda: {
            "rest_of_line": 0.25,
            "line": 0.2,
            "block": 0.2,
            "function_body": 0.15,
            "expression": 0.1,
            "random_span": 0.1,
        }
    )
    empty_rate: float = 0.05
    prefix_tokens: int = 384
    suffix_tokens: int = 128
    middle_tokens: int = 128  # 4 canvases of 32
    # Move a hole line's indentation from the end of the prefix to the start of the middle, so the canvas holds
    # the line as the file tokenizes it (`dgemma_lsp.fill.context.trailing_indentation`).
    heal_indentation: bool = False

    @classmethod
    def from_dict(cls, values: dict | None) -> FimSettings:
        return cls(**(values or {}))


@dataclass(frozen=True)
class Span:
    kind: str
    start: int  # character offsets into the file text; the middle is text[start:end]
    end: int


@dataclass(frozen=True)
class FimExample:
    kind: str
    prefix: str  # the text kept after the budget (a tail of the text before the hole)
    middle: str
    suffix: str  # a head of the text after the hole
    prompt: list[int]
    response: list[int]  # middle tokens + <eos>


# ---------------------------------------------------------------- hole sites


def _lines(text: str) -> list[tuple[int, int, int]]:
    """(line start, content start after indentation, line end before "\\n") for each non-blank line."""
    out, pos = [], 0
    for line in text.split("\n"):
        stripped = line.lstrip(" \t")
        if stripped.strip():
            out.append((pos, pos + len(line) - len(stripped), pos + len(line)))
        pos += len(line) + 1
    return out


class Sites:
    """Lazily parsed syntax sites of one file (parsing only when a tree-sitter kind is drawn). Reuse one for
    several holes in the same file: parsing and the query are the expensive part of sampling."""

    def __init__(self, text: str, language: str):
        self.text, self.language = text, language
        self.lines = _lines(text)
        self._captures: dict[str, list[tree_sitter.Node]] | None = None
        self._char_of: list[int] | None = None

    def captures(self, name: str) -> list[tree_sitter.Node]:
        if self._captures is None:
            self._parse()
        return self._captures.get(name, [])

    def _parse(self) -> None:
        data = self.text.encode("utf-8")
        tree = syntax.parse(data, self.language)
        query = _query(self.language)
        found = tree_sitter.QueryCursor(query).captures(tree.root_node) if query else {}
        # The binding returns captures in no stable order; sort them so sampling is reproducible.
        self._captures = {
            name: sorted(nodes, key=lambda n: (n.start_byte, n.end_byte, n.type)) for name, nodes in found.items()
        }
        self._captures.setdefault("block.inner", []).append(tree.root_node)  # top-level statements: a block too
        if len(data) != len(self.text):  # byte offsets differ from character offsets: map them
            self._char_of = [0] * (len(data) + 1)
            b = 0
            for i, ch in enumerate(self.text):
                b += len(ch.encode("utf-8"))
                self._char_of[b] = i + 1

    def char(self, byte: int) -> int:
        return byte if self._char_of is None else self._char_of[byte]


def _query(language: str) -> tree_sitter.Query | None:
    source = QUERIES.get(language)
    return _compiled(language, source) if source else None


_COMPILED: dict[str, tree_sitter.Query] = {}


def _compiled(language: str, source: str) -> tree_sitter.Query:
    if language not in _COMPILED:
        _COMPILED[language] = tree_sitter.Query(syntax.ts_language(language), source)
    return _COMPILED[language]


def _statements(body: tree_sitter.Node) -> list[tree_sitter.Node]:
    children = body.named_children
    if len(children) == 1 and children[0].type == "statement_list":  # Go wraps block statements in one node
        children = children[0].named_children
    return children


def _node_span(kind: str, sites: Sites, first: tree_sitter.Node, last: tree_sitter.Node) -> Span | None:
    start, end = sites.char(first.start_byte), sites.char(last.end_byte)
    return Span(kind, start, end) if end > start else None


def _rest_of_line(sites: Sites, rng: random.Random) -> Span | None:
    if not sites.lines:
        return None
    _, content, end = rng.choice(sites.lines)
    cursor = rng.randrange(content, end)  # at least one character remains
    return Span("rest_of_line", cursor, end) if sites.text[cursor:end].strip() else None


def _line(sites: Sites, rng: random.Random) -> Span | None:
    if not sites.lines:
        return None
    _, content, end = rng.choice(sites.lines)
    return Span("line", content, end)


def _block(sites: Sites, rng: random.Random) -> Span | None:
    blocks = [b for b in sites.captures("block.inner") if len(_statements(b)) >= 1]
    if not blocks:
        return _indent_run(sites, rng)
    statements = _statements(rng.choice(blocks))
    i = rng.randrange(len(statements))
    j = rng.randrange(i, min(len(statements), i + 8))
    return _node_span("block", sites, statements[i], statements[j])


def _indent_run(sites: Sites, rng: random.Random) -> Span | None:
    """Fallback block: consecutive non-blank lines from a random one while they keep its indentation or deeper."""
    if not sites.lines:
        return None
    i = rng.randrange(len(sites.lines))
    indent = sites.lines[i][1] - sites.lines[i][0]
    j = i
    while j + 1 < len(sites.lines) and sites.lines[j + 1][1] - sites.lines[j + 1][0] >= indent and j - i < 8:
        j += 1
    return Span("block", sites.lines[i][1], sites.lines[rng.randrange(i, j + 1)][2])


def _function_body(sites: Sites, rng: random.Random) -> Span | None:
    bodies = [b for b in sites.captures("function.inner") if _statements(b)]
    if not bodies:
        return None
    statements = _statements(rng.choice(bodies))
    return _node_span("function_body", sites, statements[0], statements[-1])


def _expression(sites: Sites, rng: random.Random) -> Span | None:
    nodes = [n for n in sites.captures("expression") if n.start_point.row == n.end_point.row]
    if not nodes:
        return None
    node = rng.choice(nodes)
    return _node_span("expression", sites, node, node)


def _random_span(sites: Sites, rng: random.Random) -> Span | None:
    if len(sites.text) < 2:
        return None
    start = rng.randrange(len(sites.text) - 1)
    length = rng.randint(1, min(MAX_RANDOM_SPAN_CHARS, len(sites.text) - start))
    return Span("random_span", start, start + length)


def _empty(sites: Sites, rng: random.Random) -> Span | None:
    if not sites.lines:
        return None
    end = rng.choice(sites.lines)[2]
    return Span(EMPTY, end, end)


SAMPLERS = {
    "rest_of_line": _rest_of_line,
    "line": _line,
    "block": _block,
    "function_body": _function_body,
    "expression": _expression,
    "random_span": _random_span,
    EMPTY: _empty,
}


def sample_span(
    text: str, language: str, rng: random.Random, settings: FimSettings = FimSettings(), sites: Sites | None = None
) -> Span | None:
    """Draw a hole kind from the mix (or `empty`) and a hole of that kind; falls back to other kinds, None if the
    file has no non-blank line."""
    sites = sites or Sites(text, language)
    if rng.random() < settings.empty_rate:
        first = EMPTY
    else:
        kinds = list(settings.mix)
        first = rng.choices(kinds, weights=[settings.mix[k] for k in kinds])[0]
    for kind in (first, "line", "random_span"):  # a file without functions still yields an example
        span = SAMPLERS[kind](sites, rng)
        if span is not None:
            return span
    return None


def span_of_kind(text: str, language: str, kind: str, rng: random.Random) -> Span | None:
    """One hole of a given kind (None when the file has no site of that kind)."""
    return SAMPLERS[kind](Sites(text, language), rng)


# ---------------------------------------------------------------- tokens and budgets


def _encode(tokenizer, text: str):
    return tokenizer.backend_tokenizer.encode(text, add_special_tokens=False)


def tail_within(text: str, tokenizer, budget: int) -> str:
    """The longest tail of `text` that starts at a line start and tokenizes to at most `budget` tokens (the part
    nearest the hole); a single over-long line is cut at a token boundary instead."""
    window = budget * 16  # no token is longer than this many characters: skip tokenizing the far past
    if len(text) > window:
        cut = text.find("\n", len(text) - window)
        text = text[cut + 1 :] if cut != -1 else text[-window:]
    while True:
        enc = _encode(tokenizer, text)
        if len(enc.ids) <= budget:
            return text
        cut = max(enc.offsets[len(enc.ids) - budget][0], 1)  # always drop at least one character
        if text[cut - 1] != "\n":
            newline = text.find("\n", cut)
            cut = newline + 1 if newline != -1 else cut
        text = text[cut:]


def head_within(text: str, tokenizer, budget: int) -> str:
    """The longest head of `text` that ends after a newline and tokenizes to at most `budget` tokens."""
    window = budget * 16
    if len(text) > window:
        cut = text.rfind("\n", 0, window)
        text = text[: cut + 1] if cut != -1 else text[:window]
    while True:
        enc = _encode(tokenizer, text)
        if len(enc.ids) <= budget:
            return text
        cut = min(enc.offsets[budget][0], len(text) - 1)
        newline = text.rfind("\n", 0, cut)
        text = text[: newline + 1] if newline != -1 else text[:cut]


def cap_middle(text: str, span: Span, tokenizer, budget: int) -> Span:
    """Shorten a middle longer than `budget` tokens: end it before the newline nearest the cap (the rest of the
    middle becomes suffix), or at a token boundary when the first line alone is too long."""
    while True:
        middle = text[span.start : span.end]
        enc = _encode(tokenizer, middle)
        if len(enc.ids) <= budget:
            return span
        cut = max(min(enc.offsets[budget][0], len(middle) - 1), 1)
        newline = middle.rfind("\n", 0, cut)
        span = Span(span.kind, span.start, span.start + (newline if newline > 0 else cut))


def build_example(text: str, span: Span, tokenizer, settings: FimSettings = FimSettings()) -> FimExample:
    """Token example for one hole, in suffix-first (SPM) order:

        prompt   = [<bos>, <fim_suffix>, suffix, <fim_prefix>, prefix, <fim_middle>]
        response = middle + [<eos>]

    Why suffix first: the encoder is causal and its KV cache is reused between requests. While the user types at
    the cursor only the end of the prefix changes; with the suffix first, everything up to the edit point stays
    cached and only the new prefix tokens are encoded (prefix-first would put the changed prefix before the whole
    suffix and invalidate it). Prefix, middle and suffix are tokenized separately, exactly as the server builds
    prompts, so no token straddles the cursor.
    """
    span = cap_middle(text, span, tokenizer, settings.middle_tokens)
    if settings.heal_indentation:
        span = Span(span.kind, span.start - len(trailing_indentation(text[: span.start])), span.end)
    prefix = tail_within(text[: span.start], tokenizer, settings.prefix_tokens)
    middle = text[span.start : span.end]
    suffix = head_within(text[span.end :], tokenizer, settings.suffix_tokens)
    ids = special_ids(tokenizer)
    prompt = fim_prompt_ids(_encode(tokenizer, prefix).ids, _encode(tokenizer, suffix).ids, ids)
    response = _encode(tokenizer, middle).ids + [ids[EOS]]
    return FimExample(span.kind, prefix, middle, suffix, prompt, response)


def sample_example(
    text: str,
    language: str,
    tokenizer,
    rng: random.Random,
    settings: FimSettings = FimSettings(),
    sites: Sites | None = None,
) -> FimExample | None:
    span = sample_span(text, language, rng, settings, sites)
    return None if span is None else build_example(text, span, tokenizer, settings)
