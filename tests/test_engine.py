"""The denoising loop on a seeded tiny DiffusionGemma: determinism, clamps, batching, cancellation, cache reuse."""

import pytest
import torch

from dgemma_lsp.settings import SamplerSettings
from dgemma_lsp.engine import (
    PromptCache,
    clamp_logits,
    denoise,
    entropy_bound_accept,
    linear_temperature,
    token_entropy,
)
from dgemma_lsp.errors import CancelledError
from dgemma_lsp.modeling import EOS, special_ids, tiny_model


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model(seed=0)
    prompt = tokenizer("def add(a, b):\n    return", add_special_tokens=False)["input_ids"]
    return model, tokenizer, prompt, special_ids(tokenizer)[EOS]


def run(tiny, seed=0, **kwargs):
    model, _, prompt, eos = tiny
    return denoise(model, prompt, eos_id=eos, generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize(
    "step, expected", [(48, 0.8), (24, 0.6), (1, 0.4 + 0.4 / 48)],
)
def test_linear_temperature_falls_from_t_max(step, expected):
    assert linear_temperature(step, 48, 0.4, 0.8) == pytest.approx(expected)


@pytest.mark.parametrize(
    "entropies, bound, accepted",
    [
        ([0.0, 0.2, 5.0], 0.1, [True, True, False]),  # 0.0 + 0.2 - 0.2 fits; adding 5.0 makes the sum 0.2 > 0.1
        ([3.0, 2.0, 1.0], 0.1, [False, False, True]),  # the lowest-entropy position is always accepted
        ([0.05, 0.04, 0.9], 0.1, [True, True, True]),  # 0.05 + 0.04 <= 0.1 once the max (0.9) is excluded
        ([0.2, 0.2, 0.2], 0.1, [True, False, False]),
    ],
)
def test_entropy_bound_acceptance(entropies, bound, accepted):
    mask = entropy_bound_accept(torch.tensor([entropies]), bound)
    assert mask.tolist() == [accepted]


def test_clamped_rows_have_zero_entropy():
    logits = torch.randn(2, 4, 10)
    clamped = clamp_logits(logits, {1: 7})
    entropy = token_entropy(clamped / 0.4)
    assert entropy[:, 1].abs().max() < 1e-6
    assert (entropy[:, 0] > 0.1).all()
    assert clamped[:, 1].argmax(-1).tolist() == [7, 7]


def test_seeded_runs_are_reproducible_and_seeds_differ(tiny):
    first, again, other = run(tiny, seed=1), run(tiny, seed=1), run(tiny, seed=2)
    assert first.candidates == again.candidates
    assert first.candidates != other.candidates


def test_candidates_form_one_batch_and_clamps_hold_across_canvases(tiny):
    model = tiny[0]
    canvas = model.config.canvas_length
    clamps = {0: 40, canvas + 2: 41}
    result = run(tiny, n=3, max_canvases=2, clamps=clamps)
    assert len(result.candidates) == 3
    for tokens in result.candidates:
        assert tokens[0] == 40
        if len(tokens) > canvas + 2:
            assert tokens[canvas + 2] == 41


def test_draft_callback_sees_every_step(tiny):
    drafts = []
    result = run(tiny, n=2, sampler=SamplerSettings(max_denoising_steps=5), on_draft=drafts.append)
    assert len(drafts) == result.steps
    assert all(draft.tokens.shape == (2, tiny[0].config.canvas_length) for draft in drafts)
    assert [d.step for d in drafts if d.canvas_index == 0] == list(range(1, len(drafts) + 1))


def test_cancellation_stops_between_steps(tiny):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3  # let the encoder and two steps run

    with pytest.raises(CancelledError):
        run(tiny, sampler=SamplerSettings(max_denoising_steps=40), is_cancelled=cancelled)
    assert len(calls) == 4


def test_eos_clamp_ends_the_middle(tiny):
    eos = tiny[3]
    result = run(tiny, max_canvases=3, clamps={3: eos})
    assert result.finished == [True]
    assert result.canvases == 1
    assert len(result.candidates[0]) == 3


def test_prompt_cache_encodes_only_new_tokens_and_matches_fresh_encode(tiny):
    model, _, prompt, _ = tiny
    cache = PromptCache()
    _, first = cache.encode(model, prompt)
    reused, second = cache.encode(model, prompt + [50, 51, 52])
    fresh, _ = PromptCache().encode(model, prompt + [50, 51, 52])
    assert first == len(prompt)
    assert second == 3
    for a, b in zip(reused.layers, fresh.layers):
        assert torch.allclose(a.keys, b.keys, atol=1e-5)
        assert torch.allclose(a.values, b.values, atol=1e-5)
    _, edited = cache.encode(model, prompt[:-2] + [60])  # an edit before the end re-encodes from the edit
    assert edited == 1


def test_cached_and_uncached_prompts_fill_the_same(tiny):
    model, _, prompt, eos = tiny
    cache = PromptCache()
    cache.encode(model, prompt[:-3])
    with_cache = denoise(model, prompt, eos_id=eos, generator=torch.Generator().manual_seed(5), prompt_cache=cache)
    without = denoise(model, prompt, eos_id=eos, generator=torch.Generator().manual_seed(5))
    assert with_cache.candidates == without.candidates
    assert with_cache.encoded_tokens == 3


@pytest.mark.parametrize("bad", [dict(max_denoising_steps=0), dict(t_min=0.9, t_max=0.8), dict(entropy_bound=0)])
def test_sampler_settings_reject_bad_values(bad):
    with pytest.raises(ValueError):
        SamplerSettings(**bad)
