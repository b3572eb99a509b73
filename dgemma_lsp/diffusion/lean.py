"""A lean forward of DiffusionGemma's encoder for causal decoding: the same arithmetic as transformers' forward,
in fewer tensor operations per layer, over a KV cache of plain tensors.

On a CPU a decode step of the embedded model pays for every operation it launches, not only for its arithmetic.
transformers' encoder layer runs, besides its attention and MLP, a mixture-of-experts branch (router, softmax,
top-k, one-hot, a Python loop over experts, three norms) and builds masks and rotary tables on every call. The
embedded model's MoE branches have all-zero experts (`gemma3._silent_moe`), so they add exactly zero, and its last
layer is an identity (`gemma3._identity_layer`: zero `o_proj` and `down_proj`). This forward leaves out what adds
nothing and reads rotary tables computed once. It multiplies by the model's own weight tensors: fused copies of the
q/k/v and gate/up projections (one product each) raised a fill's peak RSS from 1.36 to 1.72 GB. A checkpoint whose
experts or last layer do work (the released 26B) gets no lean forward (`LeanEncoder.of` is None) and keeps
transformers' own.

The cache keeps every position of every layer, sliding-window layers included (their window is applied when
attending), so a prompt cache can always be cut back to a shared prefix, however long the prompt.

Measured (model card, "CPU speed"): a decode step 1.4x (one thread) to 1.9x (two) faster than transformers' at one
row, 2.7x at 128; what is left is mostly the matrix products, bound by reading ~400 MB of fp32 weights per step.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from dgemma_lsp.diffusion.configs import cache_argument

_GROWTH = 256  # positions a cache grows by at least when full


@dataclass(frozen=True)
class _Layer:
    q: torch.Tensor  # the model's own weights and biases, not copies: a copy would double their memory
    q_bias: torch.Tensor | None
    k: torch.Tensor
    k_bias: torch.Tensor | None
    v: torch.Tensor | None  # None in a full-attention layer, whose values are the projected keys
    v_bias: torch.Tensor | None
    q_norm: torch.Tensor
    k_norm: torch.Tensor
    o_proj: torch.Tensor
    o_bias: torch.Tensor | None
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    pre_feedforward_norm: torch.Tensor
    mlp_norm: torch.Tensor  # post_feedforward_layernorm_1: the MLP branch's own norm before the sum
    post_feedforward_norm: torch.Tensor
    gate: torch.Tensor
    up: torch.Tensor
    down: torch.Tensor
    heads: int
    kv_heads: int
    head_dim: int
    window: int | None  # sliding-window layers attend to this many positions, their own included
    rope: str  # the layer type, which picks the rotary table


class LeanCache:
    """Keys and values of each kept layer, [batch, kv_heads, capacity, head_dim], the first `length` positions
    filled. Offers the methods of transformers' `DynamicCache` that the decoding loops use."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], length: int = 0) -> None:
        self.keys, self.values, self.length = keys, values, length

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last -`tokens_to_remove` positions (0 drops none), as transformers' DynamicCache.crop."""
        if tokens_to_remove > 0:
            raise ValueError(f"crop takes how many tokens to remove, negative; got {tokens_to_remove}")
        self.length = max(0, self.length + tokens_to_remove)

    def batch_repeat_interleave(self, repeats: int) -> None:
        self.keys = [k.repeat_interleave(repeats, dim=0) for k in self.keys]
        self.values = [v.repeat_interleave(repeats, dim=0) for v in self.values]

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.keys = [k[indices] for k in self.keys]
        self.values = [v[indices] for v in self.values]

    def __deepcopy__(self, memo) -> LeanCache:
        n = self.length  # only the filled positions: the copy grows when written to
        return LeanCache([k[:, :, :n].clone() for k in self.keys], [v[:, :, :n].clone() for v in self.values], n)

    def _reserve(self, length: int) -> None:
        capacity = self.keys[0].shape[2] if self.keys else 0
        if length <= capacity:
            return
        capacity = max(length, capacity + _GROWTH, 2 * capacity)

        def grown(t: torch.Tensor) -> torch.Tensor:
            room = t.new_zeros(t.shape[0], t.shape[1], capacity, t.shape[3])
            room[:, :, : self.length] = t[:, :, : self.length]
            return room

        self.keys = [grown(k) for k in self.keys]
        self.values = [grown(v) for v in self.values]


class LeanEncoder:
    """The encoder's forward for causal decoding: `encoder(input_ids, cache)` is the final hidden state."""

    def __init__(self, text_model, layers: list[_Layer], eps: float) -> None:
        self._embed = text_model.embed_tokens
        self._rotary = text_model.rotary_emb
        self._final_norm = text_model.norm.weight
        self._layers = layers
        self._eps = eps
        self._tables: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    @staticmethod
    def of(model) -> LeanEncoder | None:
        """The lean forward of `model` (a `DiffusionGemmaForBlockDiffusion`), once per model; None where the
        checkpoint uses a part that the lean forward leaves out."""
        if model in _ENCODERS:
            return _ENCODERS[model]
        encoder = _build(model)
        _ENCODERS[model] = encoder
        return encoder

    def new_cache(self, batch: int = 1) -> LeanCache:
        first = self._layers[0].q
        shapes = [(batch, layer.kv_heads, 0, layer.head_dim) for layer in self._layers]
        keys = [first.new_zeros(shape) for shape in shapes]
        return LeanCache(keys, [first.new_zeros(shape) for shape in shapes])

    @torch.inference_mode()
    def __call__(self, input_ids: torch.Tensor, cache: LeanCache, starts: list[int] | None = None) -> torch.Tensor:
        """The final hidden states [B, T, hidden] for `input_ids` [B, T] at the positions after `cache`'s, which
        takes their keys and values.

        `starts` puts each row at its own first position instead (drafted decoding: each row keeps as many of its
        drafted tokens as were right, so the rows' lengths drift apart). A row's positions from its start on are
        overwritten, and those past its inputs are not attended to, so what a row wrote past its accepted tokens
        needs no clean-up."""
        batch, length = input_ids.shape
        if starts is None:
            starts = [cache.length] * batch
        if len(starts) != batch or max(starts) > cache.length:
            raise ValueError(f"starts {starts} for {batch} rows over a cache of {cache.length} positions")
        end = max(starts) + length
        cache._reserve(end)
        hidden = self._embed(input_ids)
        eps = self._eps
        # What depends only on the positions, once per call rather than once per layer.
        uniform = min(starts) == max(starts)
        if uniform:
            start = starts[0]
            rotary = {layer.rope: self._rotary_at(layer.rope, start, length, hidden) for layer in self._layers}
            visible = {layer.window: _visible(start, length, layer.window, hidden.device) for layer in self._layers}
            written = (slice(None), slice(None), slice(start, end))
        else:
            positions = torch.tensor(starts, device=hidden.device)[:, None] + torch.arange(length, device=hidden.device)
            rotary = {layer.rope: self._rotary_of(layer.rope, positions, hidden) for layer in self._layers}
            visible = {layer.window: _visible_rows(positions, layer.window) for layer in self._layers}
            rows = torch.arange(batch, device=hidden.device)[:, None]
        for index, layer in enumerate(self._layers):
            cos, sin = rotary[layer.rope]
            residual = hidden
            x = F.rms_norm(hidden, (hidden.shape[-1],), layer.input_norm, eps)
            q = F.linear(x, layer.q, layer.q_bias).view(batch, length, layer.heads, layer.head_dim)
            k = F.linear(x, layer.k, layer.k_bias).view(batch, length, layer.kv_heads, layer.head_dim)
            v = k if layer.v is None else F.linear(x, layer.v, layer.v_bias).view(k.shape)
            q = _rotate(F.rms_norm(q, (layer.head_dim,), layer.q_norm, eps), cos, sin).transpose(1, 2)
            v = F.rms_norm(v, (layer.head_dim,), None, eps)
            k = _rotate(F.rms_norm(k, (layer.head_dim,), layer.k_norm, eps), cos, sin)
            if uniform:
                cache.keys[index][written] = k.transpose(1, 2)
                cache.values[index][written] = v.transpose(1, 2)
            else:  # advanced indexing puts the [B, T] index dimensions first: [B, T, kv_heads, head_dim]
                cache.keys[index][rows, :, positions] = k
                cache.values[index][rows, :, positions] = v
            first, mask = visible[layer.window]
            keys, values = cache.keys[index][:, :, first:end], cache.values[index][:, :, first:end]
            attended = F.scaled_dot_product_attention(
                q, keys, values, attn_mask=mask, scale=1.0, enable_gqa=keys.shape[1] != q.shape[1]
            )  # scale 1: DiffusionGemma's queries and keys are normed
            attended = attended.transpose(1, 2).reshape(batch, length, layer.heads * layer.head_dim)
            x = F.linear(attended, layer.o_proj, layer.o_bias)
            hidden = residual + F.rms_norm(x, (x.shape[-1],), layer.post_attention_norm, eps)
            residual = hidden
            x = F.rms_norm(hidden, (hidden.shape[-1],), layer.pre_feedforward_norm, eps)
            x = F.linear(F.gelu(F.linear(x, layer.gate), approximate="tanh") * F.linear(x, layer.up), layer.down)
            x = F.rms_norm(x, (x.shape[-1],), layer.mlp_norm, eps)
            hidden = residual + F.rms_norm(x, (x.shape[-1],), layer.post_feedforward_norm, eps)
        cache.length = end
        return F.rms_norm(hidden, (hidden.shape[-1],), self._final_norm, eps)

    def _table(self, kind: str, end: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rotary cos and sin tables [positions, head_dim] of a layer kind, covering positions up to `end`."""
        table = self._tables.get(kind)
        if table is None or table[0].shape[0] < end:
            positions = torch.arange(max(2 * end, 2048), device=like.device)[None]
            cos, sin = self._rotary(like, positions, kind)
            table = self._tables[kind] = (cos[0], sin[0])
        return table

    def _rotary_at(self, kind: str, start: int, length: int, like: torch.Tensor):
        cos, sin = self._table(kind, start + length, like)
        return cos[start : start + length, None], sin[start : start + length, None]  # [T, 1, head_dim]

    def _rotary_of(self, kind: str, positions: torch.Tensor, like: torch.Tensor):
        cos, sin = self._table(kind, int(positions.max()) + 1, like)
        return cos[positions][:, :, None], sin[positions][:, :, None]  # [B, T, 1, head_dim]


_ENCODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of x [B, T, heads, D] with tables [T, 1, D] or [B, T, 1, D] (transformers' `rotate_half`
    pairing)."""
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _visible(start: int, length: int, window: int | None, device) -> tuple[int, torch.Tensor | None]:
    """For queries at positions start.. start + length - 1: the oldest cached position any of them sees, and the
    causal mask (within `window` where there is one) over the positions from there; None where all see all."""
    end = start + length
    first = 0 if window is None else max(0, start + 1 - window)
    if length == 1 and (window is None or end - first <= window):
        return first, None
    query = torch.arange(start, end, device=device)[:, None]
    key = torch.arange(first, end, device=device)[None, :]
    mask = key <= query
    if window is not None:
        mask &= key > query - window
    return first, mask


def _visible_rows(positions: torch.Tensor, window: int | None) -> tuple[int, torch.Tensor]:
    """`_visible` for rows at their own positions [B, T]: the oldest cached position any query sees, and each
    row's causal mask [B, 1, T, keys] over the positions from there (its own positions only: what lies past a
    row's inputs is another row's length, or stale)."""
    end = int(positions.max()) + 1
    first = 0 if window is None else max(0, int(positions.min()) + 1 - window)
    key = torch.arange(first, end, device=positions.device)[None, None, :]
    query = positions[:, :, None]
    mask = key <= query
    if window is not None:
        mask &= key > query - window
    return first, mask[:, None]


def _build(model) -> LeanEncoder | None:
    encoder = getattr(getattr(model, "model", None), "encoder", None)
    text = getattr(encoder, "language_model", None)
    if text is None:
        return None
    config = text.config
    if text.norm.weight.dtype != torch.float32:
        return None  # transformers' norms compute in float32 whatever the weights; this forward does not
    if getattr(config, "use_clipped_linears", False) or getattr(config, "use_bidirectional_attention", None) == "all":
        return None
    layers: list[_Layer] = []
    for index, layer in enumerate(text.layers):
        if any(t.abs().max() > 0 for t in (layer.experts.gate_up_proj, layer.experts.down_proj)):
            return None  # the mixture of experts does work here: transformers' forward it is
        if not torch.equal(layer.layer_scalar, torch.ones_like(layer.layer_scalar)):
            return None
        attention = layer.self_attn
        identity = not attention.o_proj.weight.any() and not layer.mlp.down_proj.weight.any()
        identity = identity and (attention.o_proj.bias is None or not attention.o_proj.bias.any())
        if identity:
            if index != len(text.layers) - 1:
                return None  # an identity mid-stack would still need its cache for nothing; not seen, not handled
            continue
        layer_config = config.per_layer_config[index]
        values = attention.v_proj
        layers.append(
            _Layer(
                q=attention.q_proj.weight.detach(),
                q_bias=_detached(attention.q_proj.bias),
                k=attention.k_proj.weight.detach(),
                k_bias=_detached(attention.k_proj.bias),
                v=None if values is None else values.weight.detach(),
                v_bias=None if values is None else _detached(values.bias),
                q_norm=attention.q_norm.weight.detach(),
                k_norm=attention.k_norm.weight.detach(),
                o_proj=attention.o_proj.weight.detach(),
                o_bias=None if attention.o_proj.bias is None else attention.o_proj.bias.detach(),
                input_norm=layer.input_layernorm.weight.detach(),
                post_attention_norm=layer.post_attention_layernorm.weight.detach(),
                pre_feedforward_norm=layer.pre_feedforward_layernorm.weight.detach(),
                mlp_norm=layer.post_feedforward_layernorm_1.weight.detach(),
                post_feedforward_norm=layer.post_feedforward_layernorm.weight.detach(),
                gate=layer.mlp.gate_proj.weight.detach(),
                up=layer.mlp.up_proj.weight.detach(),
                down=layer.mlp.down_proj.weight.detach(),
                heads=config.num_attention_heads,
                kv_heads=layer_config.num_key_value_heads,
                head_dim=layer_config.head_dim,
                window=attention.sliding_window,
                rope=config.layer_types[index],
            )
        )
    if not layers:
        return None
    return LeanEncoder(text, layers, config.rms_norm_eps)


def _detached(bias: torch.Tensor | None) -> torch.Tensor | None:
    return None if bias is None else bias.detach()


def new_cache(model, lean: bool = True):
    """An empty KV cache for the encoder of `model`: the lean forward's where it has one (and `lean`), else
    transformers' (which the decoder of the diffusion sampler reads)."""
    encoder = LeanEncoder.of(model) if lean else None
    return encoder.new_cache() if encoder is not None else DynamicCache(config=model.config.get_text_config())


def encode(model, input_ids: torch.Tensor, cache, starts: list[int] | None = None) -> torch.Tensor:
    """The encoder's final hidden states [B, T, hidden] for `input_ids` [B, T] at the positions after `cache`'s,
    which takes their keys and values: through the lean forward for its cache, else through transformers'.
    `starts`: each row's own first position (the lean forward only, `LeanEncoder.__call__`)."""
    if isinstance(cache, LeanCache):
        encoder = LeanEncoder.of(model)
        assert encoder is not None  # a LeanCache only comes from new_cache with a lean forward
        return encoder(input_ids, cache, starts)
    if starts is not None:
        raise ValueError("rows at their own positions need the lean forward's cache")
    start = cache.get_seq_length()
    positions = torch.arange(start, start + input_ids.shape[1], device=input_ids.device).expand(input_ids.shape[0], -1)
    forward = model.model.encoder
    return forward(input_ids=input_ids, **cache_argument(forward, cache), position_ids=positions).last_hidden_state
