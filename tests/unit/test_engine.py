"""The denoising loop on a seeded tiny DiffusionGemma: determinism, clamps, batching, cancellation, cache reuse."""

import pytest
import torch

from dgemma_lsp.diffusion.configs import cache_argument, tiny_model
from dgemma_lsp.diffusion.sampler import (
    PromptCache,
    _stable_and_confident,
    as_clamps,
    clamp_logits,
    denoise,
    entropy_bound_accept,
    linear_temperature,
    sample_accepted,
    token_entropy,
)
from dgemma_lsp.diffusion.tokens import EOS, special_ids
from dgemma_lsp.errors import CancelledError
from dgemma_lsp.settings import SamplerSettings


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model(seed=0)
    prompt = tokenizer("def add(a, b):\n    return", add_special_tokens=False)["input_ids"]
    return model, tokenizer, prompt, special_ids(tokenizer)[EOS]


def run(tiny, seed=0, **kwargs):
    model, _, prompt, eos = tiny
    return denoise(model, prompt, eos_id=eos, generator=torch.Generator().manual_seed(seed), **kwargs)


@pytest.mark.parametrize(
    "step, expected",
    [(48, 0.8), (24, 0.6), (1, 0.4 + 0.4 / 48)],
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
    clamped = clamp_logits(logits, as_clamps({1: 7}, "cpu"))
    entropy = token_entropy(clamped / 0.4)
    assert entropy[:, 1].abs().max() < 1e-6
    assert (entropy[:, 0] > 0.1).all()
    assert clamped[:, 1].argmax(-1).tolist() == [7, 7]


def test_seeded_runs_are_reproducible_and_seeds_differ(tiny):
    first, again, other = run(tiny, seed=1), run(tiny, seed=1), run(tiny, seed=2)
    assert first.candidates == again.candidates
    assert first.candidates != other.candidates


def test_a_position_clamped_to_a_set_keeps_the_models_order_among_it():
    logits = torch.tensor([[[0.0, 3.0, 1.0, 2.0, 5.0]]])
    clamped = clamp_logits(logits, as_clamps({0: {1, 3}}, "cpu"))
    probs = clamped.softmax(-1)[0, 0]
    assert probs[[0, 2, 4]].sum() < 1e-6  # 4 was the model's favourite, but it is not allowed
    assert probs[1] > probs[3] > 0.1


def test_set_clamps_hold_in_every_sample(tiny):
    allowed = {40, 41, 42}
    result = run(tiny, n=4, clamps={0: allowed, 1: allowed})
    assert all(len(row) >= 2 and set(row[:2]) <= allowed for row in result.candidates)


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


def test_sample_accepted_draws_only_accepted_positions_from_their_distribution():
    vocab = 50
    probs = torch.zeros(2, 4, vocab)
    probs[..., 7] = 1.0  # every position is certain of token 7
    probs[1, 2] = torch.full((vocab,), 1 / vocab)  # except one, uniform
    accepted = torch.tensor([[True, False, True, False], [False, True, True, False]])
    noise = torch.full((2, 4), 3)
    canvas = sample_accepted(probs, accepted, noise, torch.Generator().manual_seed(0))
    assert canvas[~accepted].tolist() == [3] * int((~accepted).sum())
    assert canvas[0, 0] == 7 and canvas[0, 2] == 7 and canvas[1, 1] == 7
    draws = {int(sample_accepted(probs, accepted, noise, torch.Generator().manual_seed(s))[1, 2]) for s in range(30)}
    assert len(draws) > 10 and all(0 <= d < vocab for d in draws)


def test_forward_time_is_counted_and_within_the_wall_time(tiny):
    import time

    started = time.perf_counter()
    result = run(tiny, sampler=SamplerSettings(max_denoising_steps=4))
    wall = time.perf_counter() - started
    assert 0 < result.forward_seconds <= wall


@pytest.mark.parametrize("self_conditioning", [True, False])
def test_shorter_canvas_and_self_conditioning_switch(tiny, self_conditioning):
    eos = tiny[3]
    sampler = SamplerSettings(max_denoising_steps=3, self_conditioning=self_conditioning)
    result = run(tiny, sampler=sampler, canvas_length=8, clamps={7: 40})
    assert result.canvases == 1
    assert len(result.candidates[0]) <= 8
    assert eos in result.candidates[0] or len(result.candidates[0]) == 8 or result.finished == [True]


@pytest.mark.parametrize("self_conditioning", [True, False])
def test_self_conditioning_reaches_the_decoder_only_when_on(tiny, self_conditioning):
    model = tiny[0]
    fed = []
    hook = model.register_forward_pre_hook(
        lambda module, args, kwargs: fed.append(kwargs.get("self_conditioning_logits") is not None), with_kwargs=True
    )
    try:
        run(tiny, sampler=SamplerSettings(max_denoising_steps=4, self_conditioning=self_conditioning))
    finally:
        hook.remove()
    assert fed[0] is False  # the first step never has a previous step
    assert any(fed[1:]) is self_conditioning


@pytest.mark.parametrize(
    "previous, argmax, entropy, stops",
    [
        ([5, 1, 7, 7], [5, 1, 9, 8], [0.0, 0.0, 3.0, 3.0], True),  # only noise after EOS (id 1) moved
        ([5, 6, 7, 7], [5, 6, 9, 8], [0.0, 0.0, 3.0, 3.0], False),  # no EOS: every position counts
        ([4, 1, 7, 7], [5, 1, 7, 7], [0.0, 0.0, 0.0, 0.0], False),  # the kept part changed
        ([5, 1, 7, 7], [5, 1, 7, 7], [0.0, 0.5, 0.0, 0.0], False),  # the kept part is not confident
    ],
)
def test_adaptive_stop_looks_only_through_the_first_eos(previous, argmax, entropy, stops):
    sampler = SamplerSettings(stability_threshold=1, confidence_threshold=0.1)
    history = [torch.tensor([previous])]
    done = _stable_and_confident(history, torch.tensor([argmax]), torch.tensor([entropy]), sampler, eos_id=1)
    assert done.tolist() == [stops]


def test_a_canvas_that_ends_at_once_stops_after_the_stability_check(tiny):
    eos = tiny[3]
    result = run(tiny, clamps={0: eos}, sampler=SamplerSettings(max_denoising_steps=10))
    assert result.candidates == [[]] and result.finished == [True]
    assert result.steps == 2  # step 1 has no history to be stable against; the random rest would run all 10


class CacheKeywordModel:
    """The tiny model as transformers >= 5.24 calls the KV cache keyword: `cache` (5.23's `past_key_values` is
    refused, as it will be after 5.40)."""

    def __init__(self, real) -> None:
        self.real, self.config, self.device, self.lm_head = real, real.config, real.device, real.lm_head
        self.model = type("Inner", (), {"encoder": self.encode})()

    def encode(self, input_ids, cache=None, position_ids=None):
        encoder = self.real.model.encoder
        return encoder(input_ids=input_ids, **cache_argument(encoder, cache), position_ids=position_ids)

    def __call__(self, decoder_input_ids, cache=None, self_conditioning_logits=None, decoder_position_ids=None):
        return self.real(
            decoder_input_ids=decoder_input_ids,
            **cache_argument(self.real, cache),
            self_conditioning_logits=self_conditioning_logits,
            decoder_position_ids=decoder_position_ids,
        )


def test_the_cache_goes_by_the_keyword_the_forward_takes(tiny):
    import transformers
    from packaging.version import Version

    from dgemma_lsp.diffusion.autoregressive import greedy_decode

    model, _, prompt, eos = tiny
    renamed = CacheKeywordModel(model)
    installed = "cache" if Version(transformers.__version__) >= Version("5.24") else "past_key_values"
    assert list(cache_argument(model.model.encoder, None)) == [installed]
    assert list(cache_argument(model, None)) == [installed]
    assert list(cache_argument(renamed.model.encoder, None)) == ["cache"]
    assert list(cache_argument(renamed, None)) == ["cache"]
    sampler = SamplerSettings(max_denoising_steps=3)
    assert (
        run((renamed, *tiny[1:]), max_canvases=2, sampler=sampler).candidates
        == run(tiny, max_canvases=2, sampler=sampler).candidates
    )
    greedy = greedy_decode(renamed, prompt, eos_id=eos, max_new_tokens=4)
    assert greedy.tokens == greedy_decode(model, prompt, eos_id=eos, max_new_tokens=4).tokens
