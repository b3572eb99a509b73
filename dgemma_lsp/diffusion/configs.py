"""Small DiffusionGemma configurations and a seeded tiny model for tests, and the one place that knows how a
forward takes its KV cache across transformers versions.

Every model, the 26B checkpoint included, is a `DiffusionGemmaForBlockDiffusion`; this module only builds the
configs of the small ones. Fields that default to the 26B's sizes (`global_head_dim`, `num_global_key_value_heads`,
the image token ids, the vision tower) must be set explicitly, or a "tiny" model silently grows to hundreds of MB.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import cast

import torch
from transformers import (
    DiffusionGemmaConfig,
    DiffusionGemmaForBlockDiffusion,
    DiffusionGemmaTextConfig,
    PreTrainedTokenizerFast,
)

from dgemma_lsp.diffusion.tokens import BOI, BOS, EOI, EOS, IMAGE, PAD, byte_tokenizer, special_ids

# The vision tower is mandatory in transformers 5.23 (None builds a 167M-parameter one); a text model's never runs.
TINY_VISION_CONFIG = dict(
    model_type="gemma4_vision",
    hidden_size=16,
    intermediate_size=16,
    num_hidden_layers=1,
    num_attention_heads=1,
    num_key_value_heads=1,
    head_dim=16,
    global_head_dim=16,
)


@dataclass(frozen=True)
class SmallConfig:
    """The knobs that matter for a small DiffusionGemma; everything else is fixed by `build_config`."""

    vocab_size: int
    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 64
    intermediate_size: int = 512
    num_experts: int = 4
    top_k_experts: int = 1
    moe_intermediate_size: int = 128
    canvas_length: int = 32
    sliding_window: int = 1024
    max_position_embeddings: int = 4096


def build_config(small: SmallConfig, special_ids: dict[str, int]) -> DiffusionGemmaConfig:
    """A full `DiffusionGemmaConfig` for a small text-only model.

    All layers are full attention: with contexts of a few hundred tokens a sliding window saves nothing, and a
    full-attention cache can be cropped, which the engine uses to reuse the encoded prompt while the user types.
    """
    text_config = dict(
        vocab_size=small.vocab_size,
        hidden_size=small.hidden_size,
        intermediate_size=small.intermediate_size,
        num_hidden_layers=small.num_hidden_layers,
        num_attention_heads=small.num_attention_heads,
        num_key_value_heads=small.num_key_value_heads,
        head_dim=small.head_dim,
        global_head_dim=small.head_dim,
        num_global_key_value_heads=small.num_key_value_heads,
        layer_types=["full_attention"] * small.num_hidden_layers,
        sliding_window=small.sliding_window,
        max_position_embeddings=small.max_position_embeddings,
        num_experts=small.num_experts,
        top_k_experts=small.top_k_experts,
        moe_intermediate_size=small.moe_intermediate_size,
        pad_token_id=special_ids[PAD],
        eos_token_id=special_ids[EOS],
        bos_token_id=special_ids[BOS],
    )
    return DiffusionGemmaConfig(
        text_config=text_config,
        vision_config=dict(TINY_VISION_CONFIG),
        image_token_id=special_ids[IMAGE],
        boi_token_id=special_ids[BOI],
        eoi_token_id=special_ids[EOI],
        canvas_length=small.canvas_length,
    )


def small_config_of(config: DiffusionGemmaConfig) -> SmallConfig:
    t = text_config_of(config)
    # A small DiffusionGemma is a mixture of experts with a canvas: transformers leaves these unset for others.
    assert t.num_experts is not None and t.top_k_experts is not None and t.moe_intermediate_size is not None
    assert config.canvas_length is not None
    return SmallConfig(
        vocab_size=t.vocab_size,
        hidden_size=t.hidden_size,
        num_hidden_layers=t.num_hidden_layers,
        num_attention_heads=t.num_attention_heads,
        num_key_value_heads=t.num_key_value_heads,
        head_dim=t.head_dim,
        intermediate_size=t.intermediate_size,
        num_experts=t.num_experts,
        top_k_experts=t.top_k_experts,
        moe_intermediate_size=t.moe_intermediate_size,
        canvas_length=config.canvas_length,
        sliding_window=t.sliding_window,
        max_position_embeddings=t.max_position_embeddings,
    )


def text_config_of(config: DiffusionGemmaConfig) -> DiffusionGemmaTextConfig:
    """The text config, which transformers types as the constructor takes it (a dict, or None for the default);
    a built config always holds a DiffusionGemmaTextConfig."""
    return cast(DiffusionGemmaTextConfig, config.text_config)


TINY = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=32,
    intermediate_size=128,
    num_experts=2,
    top_k_experts=1,
    moe_intermediate_size=32,
    canvas_length=16,
)


def tiny_model(tokenizer: PreTrainedTokenizerFast | None = None, seed: int = 0, **overrides):
    """A seeded, randomly initialised tiny DiffusionGemma and its tokenizer (for tests; nothing is downloaded)."""
    tokenizer = tokenizer or byte_tokenizer()
    ids = special_ids(tokenizer)
    small = SmallConfig(vocab_size=len(tokenizer), **{**TINY, **overrides})
    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(build_config(small, ids))
    model.eval()
    configure_generation(model, ids)
    # Its own sampler, as a checkpoint declares one (`loading.checkpoint_sampler`): random weights gain nothing from
    # the released 48 steps, and tests want them quick.
    model.generation_config.max_denoising_steps = 4  # type: ignore[attr-defined]  # DiffusionGemma's, not in the stubs
    model.config.dgemma_self_conditioning = False
    return model, tokenizer


def configure_generation(model: DiffusionGemmaForBlockDiffusion, ids: dict[str, int]) -> None:
    """A fresh model's generation config has no eos/pad ids; without them generation never stops at EOS."""
    model.generation_config.eos_token_id = ids[EOS]
    model.generation_config.pad_token_id = ids[PAD]
    model.generation_config.bos_token_id = ids[BOS]


def parameter_count(model: torch.nn.Module) -> int:
    """Unique parameters (the encoder and decoder share their layers; tied tensors count once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def cache_argument(forward, cache) -> dict:
    """`{keyword: cache}` for a call of `forward` (a module, or any callable) with a KV cache: transformers 5.24
    renamed the forwards' `past_key_values` keyword to `cache` (the old name stays an alias until 5.40), so the
    name is read from the forward's signature, once per forward function."""
    return {_cache_keyword(_forward_function(forward)): cache}


def _forward_function(forward):
    """The plain function behind a module (its class's `forward`), a bound method, or a callable object."""
    if inspect.ismethod(forward):
        return forward.__func__
    if inspect.isfunction(forward):
        return forward
    return getattr(type(forward), "forward", None) or type(forward).__call__


@functools.cache
def _cache_keyword(function) -> str:
    return "cache" if "cache" in inspect.signature(function).parameters else "past_key_values"
