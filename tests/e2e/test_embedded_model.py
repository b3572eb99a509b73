"""The embedded model (Gemma 3 270M converted on first use, `tests/e2e/test_base_model.py`) loads offline through the
same code path as any DiffusionGemma and fills with the decoding its checkpoint declares."""

import pytest
import torch

from dgemma_lsp.diffusion.loading import embedded_available, embedded_dir, load
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.pipeline import Filler
from dgemma_lsp.fill.postprocess import PYTHON_BLOCK_OPENERS
from dgemma_lsp.settings import parse_settings

pytestmark = pytest.mark.skipif(not embedded_available(), reason="no embedded checkpoint in this checkout")


@pytest.fixture(scope="module")
def filler():
    settings = parse_settings({"model": "embedded", "completion": {"seed": 0}})
    return Filler(load(settings), settings)


def test_embedded_model_is_a_converted_gemma3_with_a_small_recipe(filler):
    model = filler.loaded.model
    assert type(model).__name__ == "DiffusionGemmaForBlockDiffusion"
    assert model.dtype == torch.float32
    assert model.config.text_config.num_hidden_layers == 19  # Gemma 3 270M's 18, then the identity layer
    # Not taught fill-in-the-middle yet: the prompt is the prefix, decoded by the encoder (README, model card).
    assert (filler.loaded.prompt_format.name, filler.loaded.decoding) == ("prefix", "greedy")
    assert sum(p.stat().st_size for p in embedded_dir().iterdir()) <= 40 * 1024 * 1024  # the weights are not here


@pytest.mark.parametrize("kind", [FillKind.LINE, FillKind.BLOCK])
def test_embedded_model_fills_without_error(filler, kind):
    text = "def area(radius):\n    r2 = radius * radius\n    return \n"
    offset = text.index("return ") + len("return ")
    outcome = filler.fill(text, Hole(kind, offset, offset, "    "), "python")
    assert outcome.steps >= 1
    for fill in outcome.fills:  # whatever it proposes keeps the file parseable
        compile(text[:offset] + fill.text + text[offset:], "<fill>", "exec")


def test_embedded_model_fills_a_line_with_code_that_uses_the_file(filler):
    text = "def area(width, height):\n    \n"
    offset = text.index("    \n") + 4
    outcome = filler.fill(text, Hole(FillKind.LINE, offset, offset, "    "), "python")
    assert outcome.fills and "width" in outcome.fills[0].text and "height" in outcome.fills[0].text


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


def test_the_shipped_model_decodes_through_the_lean_forward_with_transformers_tokens(filler):
    from transformers import DynamicCache

    from dgemma_lsp.diffusion.autoregressive import greedy_branches
    from dgemma_lsp.diffusion.lean import LeanEncoder, bfloat16_matmuls_available

    # transformers' forward needs the fp32 projections, which the default's bfloat16 matmuls release
    loaded = load(parse_settings({"model": "embedded", "matmuls": "float32"}))
    model, tokenizer = loaded.model, loaded.tokenizer
    assert LeanEncoder.of(model) is not None  # silent experts and an identity layer last: the lean forward applies
    prompt = tokenizer("import os\n\n\ndef list_python_files(root):\n    ", add_special_tokens=False)["input_ids"]
    options = dict(width=2, eos_id=loaded.eos_id, max_new_tokens=12)
    lean = greedy_branches(model, prompt, **options)
    reference = greedy_branches(model, prompt, cache=DynamicCache(config=model.config.get_text_config()), **options)
    assert lean.candidates == reference.candidates
    default = LeanEncoder.of(filler.loaded.model)
    assert default is not None and (default.head is not None) == bfloat16_matmuls_available(filler.loaded.model)
    # bfloat16 products round differently, yet the likeliest line is the same here
    assert greedy_branches(filler.loaded.model, prompt, **options).candidates[0] == lean.candidates[0]


@pytest.mark.skipif(
    not (embedded_dir() / "drafter.safetensors").is_file(), reason="no drafter: model/train_drafter.py, copied here"
)
def test_a_trained_drafter_drafts_lines_that_greedy_decoding_would_write():
    """`decoding: drafted` loads a trained canvas drafter (not shipped yet: it is slower than prompt lookup, model
    card); with fp32 products its branches are greedy's, token for token, in no more forwards."""
    from dgemma_lsp.diffusion.autoregressive import greedy_branches

    loaded = load(parse_settings({"model": "embedded", "decoding": "drafted", "matmuls": "float32"}))
    assert loaded.decoding == "drafted" and loaded.drafter is not None
    tokenizer = loaded.tokenizer
    text = "import os\n\n\ndef list_python_files(root):\n    found = []\n    for name in os.listdir(root):\n        "
    prompt = tokenizer(text, add_special_tokens=False)["input_ids"]
    options = dict(width=2, eos_id=loaded.eos_id, max_new_tokens=24)
    plain = greedy_branches(loaded.model, prompt, **options)
    drafted = greedy_branches(loaded.model, prompt, canvas=loaded.drafter, **options)
    assert drafted.candidates == plain.candidates
    assert drafted.forwards <= plain.forwards and drafted.accepted > 0
