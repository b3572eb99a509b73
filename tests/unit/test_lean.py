"""The lean encoder forward (`dgemma_lsp.diffusion.lean`) against transformers' own, on a small Gemma 3 converted
the way the embedded model is (sliding-window layers, silent experts, an identity layer last): the same hidden
states past the window, through batch widening and narrowing, the same greedy tokens and scores, and a prompt cache
that can be cut back where transformers' sliding cache cannot."""

from __future__ import annotations

import copy

import pytest
import torch
from test_gemma3_conversion import converted, small_gemma
from transformers import DynamicCache

from dgemma_lsp.diffusion.autoregressive import continuation_logprobs, greedy_branches
from dgemma_lsp.diffusion.configs import tiny_model
from dgemma_lsp.diffusion.lean import (
    LeanCache,
    LeanEncoder,
    bfloat16_matmuls_available,
    encode,
    head_logits,
    new_cache,
    pack_bfloat16,
    padded_rows,
)
from dgemma_lsp.diffusion.sampler import PromptCache

WINDOW = 64  # small_gemma's sliding window


@pytest.fixture(scope="module")
def model():
    return converted(small_gemma())


def transformers_cache(model) -> DynamicCache:
    return DynamicCache(config=model.config.get_text_config())


def ids(length: int, seed: int = 3, batch: int = 1) -> torch.Tensor:
    return torch.randint(3, 300, (batch, length), generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def test_hidden_states_match_past_the_window_and_through_batch_changes(model):
    lean, reference = new_cache(model), transformers_cache(model)
    assert isinstance(lean, LeanCache)
    prompt = ids(WINDOW + 40)
    expected = encode(model, prompt, reference)
    assert expected.abs().max() > 1.0
    torch.testing.assert_close(encode(model, prompt, lean), expected, atol=1e-4, rtol=1e-4)
    for cache in (lean, reference):
        cache.batch_repeat_interleave(3)
    for step in range(4):
        token = ids(1, seed=10 + step, batch=3 if step < 2 else 2)
        if step == 2:  # a branch finishes: both caches keep rows 0 and 2
            for cache in (lean, reference):
                cache.batch_select_indices(torch.tensor([0, 2]))
        torch.testing.assert_close(encode(model, token, lean), encode(model, token, reference), atol=1e-4, rtol=1e-4)
    assert lean.get_seq_length() == reference.get_seq_length() == WINDOW + 44


def test_the_identity_layer_is_left_out_and_working_experts_keep_transformers_forward(model):
    lean = LeanEncoder.of(model)
    assert lean is not None and LeanEncoder.of(model) is lean  # built once per model
    assert len(lean._layers) == len(model.config.get_text_config().layer_types) - 1
    # no second copy of the weights: the lean forward multiplies by the model's own tensors
    attention = model.model.encoder.language_model.layers[0].self_attn
    assert lean._layers[0].q.weight.data_ptr() == attention.q_proj.weight.data_ptr()
    up = model.model.encoder.language_model.layers[0].mlp.up_proj
    assert lean._layers[0].up.weight.data_ptr() == up.weight.data_ptr()
    tiny, _ = tiny_model(seed=0)  # random experts: they add to every layer's output
    assert LeanEncoder.of(tiny) is None
    assert isinstance(new_cache(tiny), DynamicCache)
    assert isinstance(new_cache(model, lean=False), DynamicCache)


def test_greedy_branches_and_scores_are_those_of_transformers_forward(model):
    prompt = ids(WINDOW + 10)[0].tolist()
    options = dict(width=3, eos_id=-1, max_new_tokens=8)
    through_lean = greedy_branches(model, prompt, **options)
    through_transformers = greedy_branches(model, prompt, cache=transformers_cache(model), **options)
    assert through_lean.candidates == through_transformers.candidates
    assert len(set(map(tuple, through_lean.candidates))) == 3

    continuations = [[5, 6, 7], [8], [9, 10]]
    scores = []
    for cache in (new_cache(model), transformers_cache(model)):
        encode(model, torch.tensor([prompt[:-1]]), cache)
        scores.append(continuation_logprobs(model, cache, prompt[-1], continuations))
    assert scores[0] == pytest.approx(scores[1], abs=1e-3)


@torch.inference_mode()
def test_the_prompt_cache_cuts_back_a_prompt_longer_than_the_window(model):
    prompt = ids(WINDOW + 30)[0].tolist()
    typed = prompt[:-2] + [17, 18, 19]  # the user changed the last two tokens and typed one more
    cache = PromptCache()
    assert cache.encode(model, prompt, lean=True)[1] == len(prompt)
    reused, encoded = cache.encode(model, typed, lean=True)
    assert encoded == 3 and reused.get_seq_length() == len(typed)
    fresh = new_cache(model)
    encode(model, torch.tensor([typed]), fresh)
    token = torch.tensor([[21]])
    torch.testing.assert_close(encode(model, token, reused), encode(model, token, fresh), atol=1e-4, rtol=1e-4)
    # transformers' sliding cache has dropped what a cut would need: it encodes everything again
    sliding = PromptCache()
    sliding.encode(model, prompt)
    assert sliding.encode(model, typed)[1] == len(typed)


def test_crop_and_copy(model):
    cache = new_cache(model)
    encode(model, ids(10), cache)
    copied = copy.deepcopy(cache)
    cache.crop(-4)
    assert cache.get_seq_length() == 6 and copied.get_seq_length() == 10
    cache.crop(0)  # transformers' convention: how many to remove, so 0 removes nothing
    assert cache.get_seq_length() == 6
    with pytest.raises(ValueError):
        cache.crop(3)
    encode(model, ids(2, seed=5), copied)  # a copy holds only the filled positions and grows when written to
    assert copied.get_seq_length() == 12


@torch.inference_mode()
def test_a_prompt_that_extends_the_cached_one_grows_the_cache(model):
    prompt = ids(WINDOW + 30)[0].tolist()
    longer = prompt[:-5] + ids(5 * WINDOW, seed=4)[0].tolist()  # cut back, then more than the cache has room for
    cache = PromptCache()
    cache.encode(model, prompt, lean=True)
    reused, encoded = cache.encode(model, longer, lean=True)
    assert encoded == len(longer) - len(prompt) + 5 and reused.get_seq_length() == len(longer)
    fresh = new_cache(model)
    encode(model, torch.tensor([longer]), fresh)
    token = torch.tensor([[21]])
    torch.testing.assert_close(encode(model, token, reused), encode(model, token, fresh), atol=1e-4, rtol=1e-4)


needs_bfloat16 = pytest.mark.skipif(
    not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()),
    reason="this CPU has no bfloat16 matmuls in oneDNN",
)


@needs_bfloat16
@torch.inference_mode()
def test_bfloat16_matmuls_stay_close_to_fp32_and_release_the_fp32_projections():
    model = converted(small_gemma())  # its own copy: packing changes the model
    prompt = ids(WINDOW + 20)
    reference_cache = new_cache(model)
    expected = encode(model, prompt, reference_cache)
    expected_logits = head_logits(model, expected[:, -4:])
    plain = greedy_branches(model, prompt[0].tolist(), width=2, eos_id=-1, max_new_tokens=6)
    assert pack_bfloat16(model) and pack_bfloat16(model)  # once; a second call keeps the packed copies
    lean = LeanEncoder.of(model)
    assert lean is not None and lean.head is not None
    # the encoder's fp32 projections are gone from the model (the decoder shared them), the embedding stays
    assert model.model.encoder.language_model.layers[0].mlp.up_proj.weight.numel() == 0
    assert model.model.decoder.layers[0].mlp.up_proj.weight.numel() == 0
    assert model.model.encoder.language_model.embed_tokens.weight.numel() > 0
    got = encode(model, prompt, new_cache(model))
    assert ((got - expected).norm() / expected.norm()) < 0.02  # bfloat16 rounding, not another function
    assert ((head_logits(model, got[:, -4:]) - expected_logits).norm() / expected_logits.norm()) < 0.02
    drafted = greedy_branches(model, prompt[0].tolist(), width=2, eos_id=-1, max_new_tokens=6)
    assert drafted.candidates[0][:2] == plain.candidates[0][:2]


@needs_bfloat16
@torch.inference_mode()
def test_packing_fuses_the_projections_of_one_input_into_one_product():
    """q, k (and v) run as one product, gate and up as another: the same outputs as each packed alone."""
    model = converted(small_gemma())
    alone = [
        {name: getattr(layer, name).packed_copy() for name in layer.PROJECTIONS if getattr(layer, name)}
        for layer in LeanEncoder.of(model)._layers
    ]
    assert pack_bfloat16(model)
    layers = LeanEncoder.of(model)._layers
    x = torch.randn(5, layers[0].input_norm.shape[0], generator=torch.Generator().manual_seed(0))
    for layer, products in zip(layers, alone):
        assert len(layer.projections()) == 4  # q/k/v, o_proj, gate/up, down
        for names in (layer.attention_inputs(), ("gate", "up")):
            outputs = layer.outputs(names, x)
            assert len(outputs) == len(names)
            for name, output in zip(names, outputs):
                assert torch.allclose(output, products[name](x), rtol=1e-3, atol=1e-5), name


@needs_bfloat16
def test_the_warmups_run_every_packed_product_at_every_padded_row_count_once(monkeypatch):
    """oneDNN keeps a kernel for each row count a product has seen: the warm-up steps compile them all, so a
    server's memory does not creep up as rare counts arrive over the day (bench soak). Packing alone runs none."""
    from dgemma_lsp.diffusion import lean

    seen: dict[tuple, list[int]] = {}
    call = lean._Projection.__call__

    def spy(self, x):
        seen.setdefault(tuple(self.packed.shape), []).append(x.shape[0])
        return call(self, x)

    model = converted(small_gemma())
    monkeypatch.setattr(lean._Projection, "__call__", spy)
    assert lean.kernel_warmups(model) == []  # nothing packed yet
    assert pack_bfloat16(model) and not seen
    for step in lean.kernel_warmups(model):
        step()
    counts = sorted({padded_rows(n) for n in range(1, lean.WARM_ROWS + 1)})
    encoder = LeanEncoder.of(model)
    shapes = {tuple(p.packed.shape) for layer in encoder._layers for p in layer.projections()}
    assert set(seen) == shapes | {tuple(encoder.head.packed.shape)}
    assert all(rows == counts for rows in seen.values())  # each count once per distinct shape


def test_bfloat16_matmuls_are_not_packed_where_the_lean_forward_does_not_run():
    tiny, _ = tiny_model(seed=0)
    assert not bfloat16_matmuls_available(tiny) and not pack_bfloat16(tiny)


def test_bfloat16_products_run_at_a_few_row_counts_and_give_each_row_its_own_result():
    assert [padded_rows(n) for n in (1, 8, 9, 16, 17, 65, 257, 385)] == [8, 8, 16, 16, 32, 96, 320, 448]
    assert len({padded_rows(n) for n in range(1, 705)}) == 18  # kernels oneDNN keeps: one per count it sees
    assert all(
        0 <= padded_rows(n) - n < (8 if n <= 8 else 16 if n <= 64 else 32 if n <= 256 else 64) for n in range(1, 2000)
    )


@needs_bfloat16
@torch.inference_mode()
def test_a_padded_bfloat16_product_matches_each_row_alone():
    from dgemma_lsp.diffusion.lean import _Projection

    generator = torch.Generator().manual_seed(0)
    projection = _Projection(torch.randn(64, 32, generator=generator), torch.randn(64, generator=generator))
    packed = projection.packed_copy()
    x = torch.randn(3, 5, 32, generator=generator)
    together = packed(x)
    assert together.shape == (3, 5, 64)
    assert torch.equal(together[1, 2], packed(x[1:2, 2:3])[0, 0])
    assert ((together - projection(x)).norm() / projection(x).norm()) < 0.02
