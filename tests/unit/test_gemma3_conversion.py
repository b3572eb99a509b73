"""Gemma 3 mapped into DiffusionGemma (`dgemma_lsp.diffusion.gemma3`): a small random Gemma 3, converted, must give the
same hidden states and logits from DiffusionGemma's encoder. A wrong norm offset, query scale, head layout, RoPE base,
v_norm compensation or a non-silent appended layer each moves them by far more than the tolerance."""

from __future__ import annotations

import pytest
import torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

from dgemma_lsp.diffusion.gemma3 import Gemma3Shape, build_model, convert_state_dict, diffusion_config
from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS

SPECIAL = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
LOCAL_THETA = 10_000.0


def small_gemma(global_theta: float = LOCAL_THETA, seed: int = 0) -> Gemma3ForCausalLM:
    """6 layers, the last a global one (Gemma's 5:1 pattern). Weights at Gemma-like scale (initializer 0.2), norms
    away from their (1 + 0) identity, so that every mapped factor shows."""
    config = Gemma3TextConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=6,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        query_pre_attn_scalar=32,
        sliding_window=64,
        max_position_embeddings=512,
        initializer_range=0.2,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": LOCAL_THETA},
            "full_attention": {"rope_type": "default", "rope_theta": global_theta},
        },
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.3)
    return model


def converted(gemma: Gemma3ForCausalLM, keep_ids=None):
    shape = Gemma3Shape.from_hf(gemma.config)
    vocab = len(keep_ids) if keep_ids is not None else shape.vocab_size
    config = diffusion_config(shape, SPECIAL, vocab_size=vocab, canvas_length=16)
    return build_model(config, convert_state_dict(shape, gemma.state_dict(), keep_ids))


@pytest.fixture(scope="module")
def pair():
    gemma = small_gemma()
    return gemma, converted(gemma)


def tokens(seed: int = 1, length: int = 48) -> torch.Tensor:
    return torch.randint(0, 300, (2, length), generator=torch.Generator().manual_seed(seed))  # [B, T]


@torch.no_grad()
def test_encoder_reproduces_gemma3_hidden_states_and_logits(pair):
    gemma, model = pair
    x = tokens()
    expected = gemma.model(input_ids=x).last_hidden_state  # [B, T, H], after the final norm
    got = model.model.encoder(input_ids=x).last_hidden_state
    assert expected.abs().max() > 1.0  # a real signal, not a vanishing one
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model.lm_head(got), gemma(input_ids=x).logits, atol=1e-3, rtol=1e-4)


@torch.no_grad()
def test_every_layer_agrees_and_the_appended_layer_is_an_identity(pair):
    gemma, model = pair
    x = tokens(seed=2)
    # Embeddings, then each layer's output; the last entry is the final norm's output instead.
    expected = gemma.model(input_ids=x, output_hidden_states=True).hidden_states
    got = model.model.encoder.language_model(input_ids=x, output_hidden_states=True).hidden_states
    assert len(got) == len(expected) + 1  # one more layer: the appended full-attention one
    for layer, (a, b) in enumerate(zip(expected[:-1], got[: len(expected) - 1], strict=True)):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4, msg=f"after layer {layer - 1}")
    # After Gemma's last layer and the appended one, the final norm sees what Gemma's saw.
    torch.testing.assert_close(got[-1], expected[-1], atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_gemma_layers_map_to_sliding_layers_with_a_full_attention_layer_last(pair):
    _, model = pair
    text = model.config.text_config
    assert text.layer_types == ["sliding_attention"] * 6 + ["full_attention"]
    assert text.per_layer_config[0].head_dim == 34 and text.final_logit_softcapping > 1000
    # The decoder runs the same layers: converted weights are shared, not copied.
    encoder, decoder = model.model.encoder.language_model, model.model.decoder
    assert encoder.layers[3].self_attn.q_proj.weight.data_ptr() == decoder.layers[3].self_attn.q_proj.weight.data_ptr()


@torch.no_grad()
def test_global_layers_differ_only_by_their_rope_base():
    """A Gemma whose global layer uses another RoPE base still agrees up to that layer, then departs: the one
    inexact part of the mapping, which training heals."""
    gemma = small_gemma(global_theta=1_000_000.0)
    model = converted(gemma)
    x = tokens(seed=3)
    expected = gemma.model(input_ids=x, output_hidden_states=True).hidden_states
    got = model.model.encoder.language_model(input_ids=x, output_hidden_states=True).hidden_states
    torch.testing.assert_close(got[5], expected[5], atol=1e-4, rtol=1e-4)  # layers 0-4 are local
    assert (got[6] - expected[6]).abs().max() > 1e-3  # layer 5 is global


@torch.no_grad()
def test_pruned_vocabulary_keeps_the_chosen_embedding_rows(pair):
    gemma, _ = pair
    keep = [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 299, 42]
    model = converted(gemma, keep)
    embedding = model.get_input_embeddings().weight
    assert embedding.shape == (len(keep), 64)
    torch.testing.assert_close(embedding, gemma.model.embed_tokens.weight[keep])
    x = torch.tensor([[2, 11, 5, 3]])  # ids of the pruned vocabulary
    as_gemma = torch.tensor([[keep[i] for i in x[0]]])
    expected = gemma(input_ids=as_gemma).logits[..., keep]
    torch.testing.assert_close(
        model.lm_head(model.model.encoder(input_ids=x).last_hidden_state), expected, atol=1e-3, rtol=1e-4
    )
