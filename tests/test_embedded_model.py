"""The shipped checkpoint loads offline through the same code path as any DiffusionGemma and runs a fill."""

import pytest
import torch

from dgemma_lsp.holes import FillKind, Hole
from dgemma_lsp.loading import embedded_available, embedded_dir, load
from dgemma_lsp.pipeline import Filler
from dgemma_lsp.postprocess import PYTHON_BLOCK_OPENERS
from dgemma_lsp.settings import parse_settings

pytestmark = pytest.mark.skipif(not embedded_available(), reason="no embedded checkpoint in this checkout")


@pytest.fixture(scope="module")
def filler():
    settings = parse_settings({"model": "embedded", "completion": {"seed": 0}})
    return Filler(load(settings), settings)


def test_embedded_checkpoint_is_a_small_fim_diffusion_gemma(filler):
    model = filler.loaded.model
    assert type(model).__name__ == "DiffusionGemmaForBlockDiffusion"
    assert model.dtype == torch.float32  # stored as fp16, upcast at load
    assert filler.loaded.prompt_format.name == "fim"
    assert sum(p.stat().st_size for p in embedded_dir().iterdir()) <= 40 * 1024 * 1024


@pytest.mark.parametrize("kind", [FillKind.LINE, FillKind.BLOCK])
def test_embedded_model_fills_without_error(filler, kind):
    text = "def area(radius):\n    r2 = radius * radius\n    return \n"
    offset = text.index("return ") + len("return ")
    outcome = filler.fill(text, Hole(kind, offset, offset, "    "), "python")
    assert outcome.steps >= 1
    for fill in outcome.fills:  # whatever it proposes keeps the file parseable
        compile(text[:offset] + fill.text + text[offset:], "<fill>", "exec")


def test_a_line_above_a_deeper_block_starts_with_a_block_opener(filler):
    text = "def count_positive(xs):\n    n = 0\n    \n        n += 1\n    return n\n"
    offset = text.index("    \n") + 4
    hole = Hole(FillKind.LINE, offset, offset, "    ")
    clamps = filler.clamps_for(text, hole, "python")
    assert list(clamps) == [0, 1]
    assert {filler.loaded.tokenizer.decode([i]) for i in clamps[0]} >= {"if", "for", "while", "else"}
    outcome = filler.fill(text, hole, "python", candidates=3)
    for fill in outcome.fills:  # each sample starts with a keyword; what survives post-processing compiles
        assert fill.raw.startswith(tuple(PYTHON_BLOCK_OPENERS))
        compile(text[:offset] + fill.text + text[offset:], "<fill>", "exec")
    unguided = Filler(filler.loaded, parse_settings({"completion": {"syntaxGuided": False}}))
    assert unguided.clamps_for(text, hole, "python") == {}


def test_a_healed_fill_writes_its_line_from_the_indentation_and_returns_the_rest(filler):
    import dataclasses  # noqa: PLC0415

    healing = Filler(dataclasses.replace(filler.loaded, heals_indentation=True), filler.settings)
    text = "def count_positive(xs):\n    n = 0\n    \n        n += 1\n    return n\n"
    offset = text.index("    \n") + 4
    hole = Hole(FillKind.LINE, offset, offset, "    ")
    clamps = healing.clamps_for(text, hole, "python", "    ")
    decode = filler.loaded.tokenizer.decode
    assert decode([clamps[0]]) == "   "  # the indentation, pinned as the file tokenizes it
    assert {decode([i]) for i in clamps[1]} >= {" if", " for", " while", " else"}  # then an opener, healed
    assert {decode([i]) for i in clamps[2]} >= {":", " (", "("}  # and what may follow a keyword
    outcome = healing.fill(text, hole, "python", candidates=3)
    for fill in outcome.fills:
        assert fill.raw.startswith(tuple(PYTHON_BLOCK_OPENERS))  # the typed indentation is not repeated
        compile(text[:offset] + fill.text + text[offset:], "<fill>", "exec")
