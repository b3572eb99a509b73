"""FIM hole sampling and the suffix-first token layout (model/fim.py)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "model"))
import fim

from dgemma_lsp.diffusion.tokens import BOS, EOS, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, byte_tokenizer, special_ids

SOURCES = {
    "python": '''import os


def area(width, height):
    """Rectangle area."""
    result = width * height
    return result


class Box:
    def __init__(self, size):
        self.size = size  # ✓ non-ASCII: offsets are characters

    def grow(self, by):
        if by > 0:
            self.size = self.size + by
        return self.size
''',
    "javascript": """const fs = require("fs");

function area(width, height) {
  const result = width * height;
  return result;
}

const grow = (box, by) => {
  if (by > 0) {
    box.size = box.size + by;
  }
  return box.size;
};
""",
    "typescript": """interface Box { size: number }

export function area(width: number, height: number): number {
  const result = width * height;
  return result as number;
}

class Grower {
  grow(box: Box, by: number): number {
    box.size = box.size + by;
    return box.size;
  }
}
""",
    "tsx": """import React from "react";

export function Label(props: { text: string }) {
  const upper = props.text.toUpperCase();
  return <span className="label">{upper}</span>;
}
""",
    "go": """package main

import "fmt"

func area(width int, height int) int {
	result := width * height
	return result
}

func main() {
	fmt.Println(area(2, 3))
}
""",
    "rust": """use std::fmt;

fn area(width: u32, height: u32) -> u32 {
    let result = width * height;
    result
}

fn main() {
    let a = area(2, 3);
    println!("{}", a);
}
""",
}

KINDS = (*fim.KINDS, fim.EMPTY)
BIG = fim.FimSettings(prefix_tokens=100_000, suffix_tokens=100_000, middle_tokens=100_000)


@pytest.fixture(scope="module")
def tokenizer():
    return byte_tokenizer()


@pytest.mark.parametrize("language", sorted(SOURCES))
@pytest.mark.parametrize("kind", KINDS)
def test_prefix_middle_suffix_reconstruct_the_file(language, kind, tokenizer):
    text = SOURCES[language]
    for seed in range(5):
        span = fim.span_of_kind(text, language, kind, random.Random(seed))
        assert span is not None, f"no {kind} site in {language}"
        assert span.kind == kind
        example = fim.build_example(text, span, tokenizer, BIG)
        assert example.prefix + example.middle + example.suffix == text
        assert example.middle == text[span.start : span.end]
        assert tokenizer.decode(example.response[:-1]) == example.middle


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_kind_shapes(language):
    text = SOURCES[language]
    rng = random.Random(0)
    for _ in range(10):
        for kind in ("rest_of_line", "line", "expression"):
            middle = text[slice(*_bounds(fim.span_of_kind(text, language, kind, rng)))]
            assert middle and "\n" not in middle, kind
        line = fim.span_of_kind(text, language, "line", rng)
        assert text[line.start - 1] in " \t\n" and text[line.end] == "\n"  # after the indentation, before "\n"
        empty = fim.span_of_kind(text, language, fim.EMPTY, rng)
        assert empty.start == empty.end and text[empty.end] == "\n"
    body = fim.span_of_kind(text, language, "function_body", rng)
    assert text[body.start : body.end].strip() and not text[body.start].isspace()


def _bounds(span):
    return span.start, span.end


def test_function_body_is_the_whole_body():
    text = SOURCES["python"]
    bodies = {
        text[s.start : s.end]
        for s in (fim.span_of_kind(text, "python", "function_body", random.Random(i)) for i in range(30))
    }
    assert '"""Rectangle area."""\n    result = width * height\n    return result' in bodies


def test_token_layout_is_suffix_first(tokenizer):
    ids = special_ids(tokenizer)
    text = SOURCES["python"]
    span = fim.span_of_kind(text, "python", "line", random.Random(3))
    example = fim.build_example(text, span, tokenizer, BIG)
    suffix_ids = tokenizer(example.suffix, add_special_tokens=False).input_ids
    prefix_ids = tokenizer(example.prefix, add_special_tokens=False).input_ids
    middle_ids = tokenizer(example.middle, add_special_tokens=False).input_ids
    assert example.prompt == [ids[BOS], ids[FIM_SUFFIX], *suffix_ids, ids[FIM_PREFIX], *prefix_ids, ids[FIM_MIDDLE]]
    assert example.response == [*middle_ids, ids[EOS]]
    special = set(ids.values())
    assert not special & set(suffix_ids + prefix_ids + middle_ids)


@pytest.mark.parametrize("kind", KINDS)
def test_budgets_keep_the_nearest_whole_lines(kind, tokenizer):
    text = "def big():\n" + "".join(f"    value_{i} = compute({i}, {i * 7})  # line {i}\n" for i in range(400))
    settings = fim.FimSettings(prefix_tokens=200, suffix_tokens=90, middle_tokens=64)
    for seed in range(10):
        span = fim.span_of_kind(text, "python", kind, random.Random(seed))
        example = fim.build_example(text, span, tokenizer, settings)
        n_suffix = example.prompt.index(special_ids(tokenizer)[FIM_PREFIX]) - 2
        n_prefix = len(example.prompt) - n_suffix - 4
        assert n_prefix <= 200 and n_suffix <= 90 and len(example.response) - 1 <= 64
        assert n_prefix > 100 or span.start < 300  # the budget is used, not thrown away
        before = text[: span.start]
        assert before.endswith(example.prefix)
        start = len(before) - len(example.prefix)
        assert start == 0 or text[start - 1] == "\n"  # the prefix starts at a line start
        after = text[len(before) + len(example.middle) :]
        assert after.startswith(example.suffix) and (example.suffix.endswith("\n") or example.suffix == after)


def test_long_middles_are_cut_before_a_newline(tokenizer):
    text = "def f():\n" + "".join(f"    x{i} = {i}\n" for i in range(200))
    span = fim.Span("function_body", text.index("x0"), len(text) - 1)
    example = fim.build_example(text, span, tokenizer, fim.FimSettings(middle_tokens=128))
    assert len(example.response) - 1 <= 128 and len(example.response) - 1 > 100
    assert example.suffix.startswith("\n    x")


def test_sampling_is_seeded_and_follows_the_mix(tokenizer):
    text = SOURCES["python"]

    def draw(seed):
        rng = random.Random(seed)
        return [fim.sample_example(text, "python", tokenizer, rng) for _ in range(200)]

    first, again = draw(7), draw(7)
    assert first == again
    kinds = [e.kind for e in first]
    assert 0.0 < kinds.count(fim.EMPTY) / len(kinds) < 0.15
    assert kinds.count("rest_of_line") > kinds.count("random_span")
    assert all(e.response == [special_ids(tokenizer)[EOS]] for e in first if e.kind == fim.EMPTY)


def test_mix_from_config_selects_one_kind(tokenizer):
    settings = fim.FimSettings.from_dict({"mix": {"expression": 1.0}, "empty_rate": 0.0})
    rng = random.Random(0)
    assert {fim.sample_span(SOURCES["go"], "go", rng, settings).kind for _ in range(20)} == {"expression"}


@pytest.mark.parametrize("kind", ["line", "block", "function_body", "rest_of_line"])
def test_healed_indentation_moves_from_the_prefix_to_the_middle(kind, tokenizer):
    import dataclasses

    text = SOURCES["python"]
    healing = dataclasses.replace(BIG, heal_indentation=True)
    for seed in range(5):
        span = fim.span_of_kind(text, "python", kind, random.Random(seed))
        plain, healed = fim.build_example(text, span, tokenizer, BIG), fim.build_example(text, span, tokenizer, healing)
        assert healed.prefix + healed.middle + healed.suffix == text and healed.suffix == plain.suffix
        indentation = plain.prefix[plain.prefix.rfind("\n") + 1 :]
        if indentation.strip(" \t") or not indentation:  # mid-line: nothing to heal
            assert healed == plain
        else:
            assert healed.prefix.endswith("\n") and healed.middle == indentation + plain.middle
            assert tokenizer.decode(healed.response[:-1]) == healed.middle
