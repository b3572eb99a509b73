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

import ctypes
import dataclasses
import functools
import os
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from dgemma_lsp.diffusion.configs import cache_argument

_GROWTH = 256  # positions a cache grows by at least when full


@dataclass(frozen=True)
class _Projection:
    """A linear layer of the model: its own weight and bias (not copies: a copy would double their memory), or
    where matrix products run in bfloat16, a bfloat16 copy of the weight in oneDNN's blocked layout instead
    (`pack_bfloat16`)."""

    weight: torch.Tensor | None
    bias: torch.Tensor | None
    packed: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is None:
            assert self.weight is not None  # a projection holds its weight until a packed copy replaces it
            return F.linear(x, self.weight, self.bias)
        # The product in bfloat16 (fp32 accumulation); the residual stream, norms, attention and biases stay fp32.
        # oneDNN keeps a compiled kernel for every number of rows it has seen (~2 MB for the five projection shapes
        # each): a server that saw every count up to its prompt length grew by hundreds of MB over an hour (bench
        # soak). Rows padded to a few sizes keep that bounded; a row's result does not depend on the others.
        rows = x.reshape(-1, x.shape[-1])
        padded = rows.new_zeros((padded_rows(rows.shape[0]), rows.shape[1]), dtype=torch.bfloat16)
        padded[: rows.shape[0]] = rows
        y = torch.ops.mkldnn._linear_pointwise(padded, self.packed, None, "none", [], "")[: rows.shape[0]].float()
        y = y.view(*x.shape[:-1], y.shape[-1])
        return y if self.bias is None else y + self.bias

    def packed_copy(self) -> _Projection:
        """The same projection multiplying by a packed bfloat16 copy, without the fp32 weight."""
        assert self.weight is not None
        packed = torch.ops.mkldnn._reorder_linear_weight(self.weight.to(torch.bfloat16), 1)
        return _Projection(None, self.bias, packed)


# The most rows a forward of a fill multiplies at once: a cold prompt (~400 tokens, more with the outline or
# workspace context) or a judge's batch (a few fills of up to 128 tokens, each with the text after the hole).
WARM_ROWS = 704


def padded_rows(rows: int) -> int:
    """The row count a bfloat16 product runs at: 8 up to 8 rows (a packed product costs about the same from 1 to
    16 rows), multiples of 16 up to 64, of 32 up to 256, then of 64: at most 31 rows more up to 256, 63 beyond.

    Multiples of 16 throughout gave 45 counts up to 704 rows, whose kernels held 131 MB once all had come by (one
    process, every count once); an hour of editing brings the rare large ones in slowly, and the idle server grew
    by 85 MB (bench soak). These steps give 18 counts up to 704."""
    if rows <= 8:
        return 8
    step = 16 if rows <= 64 else 32 if rows <= 256 else 64
    return -(-rows // step) * step


@dataclass(frozen=True)
class _Layer:
    q: _Projection
    k: _Projection
    v: _Projection | None  # None in a full-attention layer, whose values are the projected keys
    q_norm: torch.Tensor
    k_norm: torch.Tensor
    o_proj: _Projection
    input_norm: torch.Tensor
    post_attention_norm: torch.Tensor
    pre_feedforward_norm: torch.Tensor
    mlp_norm: torch.Tensor  # post_feedforward_layernorm_1: the MLP branch's own norm before the sum
    post_feedforward_norm: torch.Tensor
    gate: _Projection
    up: _Projection
    down: _Projection
    heads: int
    kv_heads: int
    head_dim: int
    window: int | None  # sliding-window layers attend to this many positions, their own included
    rope: str  # the layer type, which picks the rotary table
    # Projections of one input run as one product each (`packed`); their own fields then hold `_FUSED`.
    fused: tuple[_Fused, ...] = ()

    PROJECTIONS = ("q", "k", "v", "o_proj", "gate", "up", "down")

    def attention_inputs(self) -> tuple[str, ...]:
        """The projections of the normed input to attention: no `v` in a layer whose values are its keys."""
        return ("q", "k") if self.v is None else ("q", "k", "v")

    def outputs(self, names: tuple[str, ...], x: torch.Tensor) -> list[torch.Tensor]:
        """The projections `names` of `x`: one product where they are fused, else one each."""
        for fused in self.fused:
            if fused.names == names:
                return list(fused.product(x).split(fused.sizes, dim=-1))
        return [getattr(self, name)(x) for name in names]

    def projections(self) -> list[_Projection]:
        """The products this layer runs."""
        own = [p for p in (getattr(self, name) for name in self.PROJECTIONS) if p is not None and p is not _FUSED]
        return own + [fused.product for fused in self.fused]

    def packed(self) -> _Layer:
        """The layer multiplying by packed bfloat16 copies, the projections of one input fused into one product:
        oneDNN is far from the memory bound on small weights (2 cores, one row: q, k and v take 467 µs one by
        one and 199 µs as one product; gate and up 483 against 327)."""
        groups = (self.attention_inputs(), ("gate", "up"))
        fused = tuple(_Fused.of(names, [getattr(self, name) for name in names]) for names in groups)
        grouped = {name for names in groups for name in names}
        packed: dict[str, _Projection] = {
            name: _FUSED if name in grouped else getattr(self, name).packed_copy()
            for name in self.PROJECTIONS
            if getattr(self, name)
        }
        return dataclasses.replace(self, fused=fused, **packed)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Fused:
    """Projections of one input as one product: their weights and biases stacked, then packed."""

    names: tuple[str, ...]
    product: _Projection
    sizes: tuple[int, ...]  # each projection's outputs, in `names` order

    @staticmethod
    def of(names: tuple[str, ...], parts: list[_Projection]) -> _Fused:
        weights: list[torch.Tensor] = []
        for part in parts:
            assert part.weight is not None  # packing starts from the fp32 weights
            weights.append(part.weight)
        biases = [p.bias if p.bias is not None else w.new_zeros(w.shape[0]) for p, w in zip(parts, weights)]
        bias = torch.cat(biases) if any(p.bias is not None for p in parts) else None
        sizes = tuple(w.shape[0] for w in weights)
        return _Fused(names, _Projection(torch.cat(weights), bias).packed_copy(), sizes)


# What a projection's field holds once its product runs fused with others (`_Layer.fused`).
_FUSED = _Projection(None, None)


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
        self.head: _Projection | None = None  # the LM head in bfloat16, once `pack_bfloat16` packed the projections
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
        first = self._final_norm
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
        # (Each once per kind of layer: built per layer they cost ~3 ms of a 50 ms decode step.)
        ropes = dict.fromkeys(layer.rope for layer in self._layers)
        windows = dict.fromkeys(layer.window for layer in self._layers)
        if uniform:
            start = starts[0]
            rotary = {rope: self._rotary_at(rope, start, length, hidden) for rope in ropes}
            visible = {window: _visible(start, length, window, hidden.device) for window in windows}
            written = (slice(None), slice(None), slice(start, end))
        else:
            positions = torch.tensor(starts, device=hidden.device)[:, None] + torch.arange(length, device=hidden.device)
            rotary = {rope: self._rotary_of(rope, positions, hidden) for rope in ropes}
            visible = {window: _visible_rows(positions, window) for window in windows}
        for index, layer in enumerate(self._layers):

            def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, index=index, layer=layer) -> torch.Tensor:
                if uniform:
                    cache.keys[index][written] = k.transpose(1, 2)
                    cache.values[index][written] = v.transpose(1, 2)
                else:  # a slice per row: one advanced-indexing write cost ~8x more at a few rows
                    for row, row_start in enumerate(starts):
                        cache.keys[index][row, :, row_start : row_start + length] = k[row].transpose(0, 1)
                        cache.values[index][row, :, row_start : row_start + length] = v[row].transpose(0, 1)
                first, mask = visible[layer.window]
                keys, values = cache.keys[index][:, :, first:end], cache.values[index][:, :, first:end]
                return _attention(q, keys, values, mask)

            hidden = layer_forward(layer, hidden, rotary[layer.rope], eps, _plain(layer), attend)
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

# (names of projections of one input, the input) -> their outputs, in that order
Project = Callable[[tuple[str, ...], torch.Tensor], list[torch.Tensor]]
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def layer_forward(
    layer: _Layer, hidden: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor], eps: float, project: Project,
    attend: Attend,
) -> torch.Tensor:  # fmt: skip
    """One decoder layer over `hidden` [B, N, hidden], the arithmetic of transformers' DiffusionGemma layer less
    what adds nothing (`_build`). `project(names, x)` runs the named projections of one input, fused where the
    layer fuses them (`_Layer.outputs`; with whatever a caller adds to them: the canvas drafter's updates);
    `attend(q, k, v)` stores the new keys and values where its caller keeps them and returns the attention
    [B, heads, N, head_dim] of the normed, rotated queries [B, heads, N, head_dim] (keys and values come as
    [B, N, kv_heads, head_dim])."""
    batch, rows = hidden.shape[:2]
    cos, sin = rotary
    residual = hidden
    x = F.rms_norm(hidden, (hidden.shape[-1],), layer.input_norm, eps)
    q, k, *values = project(layer.attention_inputs(), x)
    q = q.reshape(batch, rows, layer.heads, layer.head_dim)  # reshape: a fused product's parts are strided views
    k = k.reshape(batch, rows, layer.kv_heads, layer.head_dim)
    v = values[0].reshape(k.shape) if values else k
    q = _rotate(F.rms_norm(q, (layer.head_dim,), layer.q_norm, eps), cos, sin).transpose(1, 2)
    v = F.rms_norm(v, (layer.head_dim,), None, eps)
    k = _rotate(F.rms_norm(k, (layer.head_dim,), layer.k_norm, eps), cos, sin)
    attended = attend(q, k, v).transpose(1, 2).reshape(batch, rows, layer.heads * layer.head_dim)
    (x,) = project(("o_proj",), attended)
    hidden = residual + F.rms_norm(x, (x.shape[-1],), layer.post_attention_norm, eps)
    residual = hidden
    x = F.rms_norm(hidden, (hidden.shape[-1],), layer.pre_feedforward_norm, eps)
    gate, up = project(("gate", "up"), x)
    (x,) = project(("down",), F.gelu(gate, approximate="tanh") * up)
    x = F.rms_norm(x, (x.shape[-1],), layer.mlp_norm, eps)
    return residual + F.rms_norm(x, (x.shape[-1],), layer.post_feedforward_norm, eps)


def _plain(layer: _Layer) -> Project:
    return layer.outputs


def _attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    # scale 1: DiffusionGemma's queries and keys are normed
    return F.scaled_dot_product_attention(
        q, keys, values, attn_mask=mask, scale=1.0, enable_gqa=keys.shape[1] != q.shape[1]
    )


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
                q=_projection(attention.q_proj),
                k=_projection(attention.k_proj),
                v=None if values is None else _projection(values),
                q_norm=attention.q_norm.weight.detach(),
                k_norm=attention.k_norm.weight.detach(),
                o_proj=_projection(attention.o_proj),
                input_norm=layer.input_layernorm.weight.detach(),
                post_attention_norm=layer.post_attention_layernorm.weight.detach(),
                pre_feedforward_norm=layer.pre_feedforward_layernorm.weight.detach(),
                mlp_norm=layer.post_feedforward_layernorm_1.weight.detach(),
                post_feedforward_norm=layer.post_feedforward_layernorm.weight.detach(),
                gate=_projection(layer.mlp.gate_proj),
                up=_projection(layer.mlp.up_proj),
                down=_projection(layer.mlp.down_proj),
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


def _projection(linear) -> _Projection:
    return _Projection(linear.weight.detach(), None if linear.bias is None else linear.bias.detach())


def bfloat16_matmuls_available(model) -> bool:
    """Whether `model`'s lean forward can run its matrix products in bfloat16 through oneDNN (a CPU with AMX or
    AVX-512 BF16, an fp32 model on the CPU)."""
    mkldnn = torch.ops.mkldnn
    return (
        model.device.type == "cpu"
        and torch.backends.mkldnn.is_available()
        and hasattr(mkldnn, "_is_mkldnn_bf16_supported")
        and bool(mkldnn._is_mkldnn_bf16_supported())
        and LeanEncoder.of(model) is not None
    )


def pack_bfloat16(model) -> bool:
    """From now on, the lean forward of `model` multiplies by bfloat16 copies of its projections and LM head in
    oneDNN's packed layout: on a CPU with bfloat16 units a decode step reads half the bytes, and a batch of rows
    costs little more than one. Held-out loss moves by 1e-4 nat (model card, "CPU speed").

    The encoder's fp32 projection weights are dropped as each is packed (the embedding, which is also the LM head,
    stays): the model then serves causal decoding through the lean forward only, and transformers' encoder forward
    no longer runs on it (so the diffusion sampler cannot). Keeping both would cost the projections' fp32 size on
    top of the copies. False (and nothing changes) where bfloat16 matmuls are unavailable."""
    if not bfloat16_matmuls_available(model):
        return False
    encoder = LeanEncoder.of(model)
    assert encoder is not None  # bfloat16_matmuls_available checked it
    if encoder.head is not None:
        return True
    # The lean layers hold detached views of the modules' weights, found by their address; the decoder shares the
    # encoder's weights (tied), so every module holding one lets it go.
    modules: dict[int, list[torch.nn.Linear]] = {}
    for linear in model.modules():
        if isinstance(linear, torch.nn.Linear):
            modules.setdefault(linear.weight.data_ptr(), []).append(linear)
    layers = encoder._layers
    for index, layer in enumerate(layers):  # one layer at a time: the fp32 and bfloat16 copies never all coexist
        released = [getattr(layer, name).weight for name in _Layer.PROJECTIONS if getattr(layer, name)]
        layers[index] = layer.packed()
        del layer
        for weight in released:
            for linear in modules.get(weight.data_ptr(), []):
                linear.weight = torch.nn.Parameter(weight.new_empty(0), requires_grad=False)
            _return_pages(weight)
        del released
    encoder.head = _projection(model.lm_head).packed_copy()
    return True


def kernel_warmups(model) -> list[Callable[[], None]]:
    """Steps that each run one packed product of `model` once at one padded row count a fill can reach
    (`WARM_ROWS`), every distinct product at every count; none where nothing is packed.

    oneDNN compiles a kernel per row count on first use and keeps it, so a server that has not seen every count
    keeps growing for hours (bench soak: idle RSS +5.3% over an hour with the counts arriving as they came);
    warmed, the embedded model holds from the start what they add (23 MB, 0.9 s in all on this machine's two
    cores). Steps, not one call, so that a server runs them between fills (`Session`) and the first suggestion
    does not wait for them."""
    encoder = LeanEncoder.of(model)
    if encoder is None or encoder.head is None:
        return []
    every = [p for layer in encoder._layers for p in layer.projections()] + [encoder.head]
    products = {tuple(p.packed.shape): p for p in every if p.packed is not None}  # one of each shape
    counts = sorted({padded_rows(n) for n in range(1, WARM_ROWS + 1)})
    return [
        functools.partial(_run_product, product, rows, shape[1])
        for shape, product in products.items()
        for rows in counts
    ]


def _run_product(product: _Projection, rows: int, width: int) -> None:
    with torch.inference_mode():  # plain fp32 inputs: `packed.new_zeros` would take oneDNN's blocked layout
        product(torch.zeros(rows, width))


def _return_pages(tensor: torch.Tensor) -> None:
    """Give the memory of a tensor nothing will read again back to the system now.

    transformers maps safetensors files into memory and makes the weights views of that mapping: dropping the
    last reference to a weight frees nothing while another weight (the embedding) keeps the file mapped, and the
    pages read once to pack it stay resident (~420 MB for the embedded model's projections). MADV_DONTNEED drops
    them: the pages lie wholly inside the tensor's bytes, so no live tensor shares them. Linux only; elsewhere a
    no-op."""
    if not hasattr(os, "sysconf") or not sys.platform.startswith("linux"):
        return
    page = os.sysconf("SC_PAGE_SIZE")
    start = -(-tensor.data_ptr() // page) * page  # the first whole page
    end = (tensor.data_ptr() + tensor.numel() * tensor.element_size()) // page * page
    if end > start:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_DONTNEED)


_MADV_DONTNEED = 4


def head_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """The LM head on `hidden` [..., hidden_size]: in bfloat16 where `pack_bfloat16` packed it, else the model's."""
    encoder = LeanEncoder.of(model)
    head = encoder.head if encoder is not None else None
    return model.lm_head(hidden) if head is None else head(hidden)


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
