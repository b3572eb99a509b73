"""A drafter that denoises a canvas in one step: the decoder pass of the model over a few canvas positions after
the text, with learned canvas embeddings and low-rank updates that act on canvas rows only.

The encoder (the causal LM that greedy decoding runs) is untouched: its rows never see the adapter, so what it
writes into the cache and what it decodes stay exactly today's. The canvas rows read the encoder's keys and
values up to their anchor (a committed token) and each other, bidirectionally, as DiffusionGemma's decoder reads a
canvas; slot j, at position anchor + 1 + j, stands for the token there (which nobody knows yet: the one at
anchor + 1 is what the verifying forward decides) and predicts the token after it. So a canvas of c slots drafts
the c tokens that follow the verifier's own next token.

Trained by self-distillation (`model/train_drafter.py`): the targets are the tokens greedy decoding would write,
read off one teacher-forced forward of the encoder over real code (a greedy chain follows the text as long as the
encoder's argmax equals the next token of the text, and is known that far).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dgemma_lsp.diffusion.lean import LeanEncoder, _attention, _Layer, head_logits, layer_forward

PROJECTIONS = _Layer.PROJECTIONS
ADAPTER_FILE = "drafter.safetensors"  # beside a checkpoint's config.json (the embedded model: in its recipe)


@dataclass(frozen=True)
class DrafterShape:
    slots: int = 3  # canvas positions per anchor: tokens drafted after the verifier's own next token
    rank: int = 16  # of each projection's low-rank update


class CanvasAdapter(nn.Module):
    """The drafter's own parameters: one embedding per canvas slot, and for every layer and projection a low-rank
    update `B @ A` (B starts at zero, so an untrained adapter leaves the projections as they are)."""

    def __init__(self, encoder: LeanEncoder, shape: DrafterShape, init: torch.Tensor | None = None) -> None:
        super().__init__()
        self.shape = shape
        hidden = encoder._final_norm.shape[0]
        slots = torch.zeros(shape.slots, hidden) if init is None else init.detach().clone().expand(shape.slots, -1)
        self.slot_embeddings = nn.Parameter(slots.clone())
        self.lora_a = nn.ParameterList()
        self.lora_b = nn.ParameterList()
        self.names: list[tuple[int, str]] = []
        for index, layer in enumerate(encoder._layers):
            for name in PROJECTIONS:
                projection = getattr(layer, name)
                if projection is None:
                    continue
                fan_in, fan_out = _dims(projection)
                a = torch.randn(shape.rank, fan_in) / math.sqrt(fan_in)
                self.lora_a.append(nn.Parameter(a))
                self.lora_b.append(nn.Parameter(torch.zeros(fan_out, shape.rank)))
                self.names.append((index, name))
        self._where = {key: i for i, key in enumerate(self.names)}

    @classmethod
    def from_tensors(cls, encoder: LeanEncoder, tensors: dict[str, torch.Tensor]) -> CanvasAdapter:
        """The adapter saved as `tensors` (its state dict), sized by them: the model's projections may already be
        packed (`lean.pack_bfloat16`), with no fp32 weight left to size it by."""
        slots = tensors["slot_embeddings"]
        count = sum(1 for key in tensors if key.startswith("lora_a."))
        adapter = cls.__new__(cls)
        nn.Module.__init__(adapter)
        adapter.shape = DrafterShape(slots=slots.shape[0], rank=tensors["lora_a.0"].shape[0])
        adapter.slot_embeddings = nn.Parameter(slots.float(), requires_grad=False)
        adapter.lora_a = nn.ParameterList(
            [nn.Parameter(tensors[f"lora_a.{i}"].float(), requires_grad=False) for i in range(count)]
        )
        adapter.lora_b = nn.ParameterList(
            [nn.Parameter(tensors[f"lora_b.{i}"].float(), requires_grad=False) for i in range(count)]
        )
        adapter.names = [
            (index, name) for index, layer in enumerate(encoder._layers) for name in PROJECTIONS if getattr(layer, name)
        ]
        if len(adapter.names) != count:
            raise ValueError(f"the drafter has {count} updates; the model has {len(adapter.names)} projections")
        adapter._where = {key: i for i, key in enumerate(adapter.names)}
        return adapter

    def update(self, index: int, name: str, x: torch.Tensor) -> torch.Tensor | None:
        i = self._where.get((index, name))
        if i is None:
            return None
        # Two plain matrix products over the rows flattened: F.linear on a [B, R, in] input cost 4x as much here
        # (90 against 20 µs per update at 12 rows), and a forward runs one update per projection and layer.
        flat = x.reshape(-1, x.shape[-1])
        return torch.mm(torch.mm(flat, self.lora_a[i].t()), self.lora_b[i].t()).view(*x.shape[:-1], -1)


def _dims(projection) -> tuple[int, int]:
    if projection.weight is not None:
        out, fan_in = projection.weight.shape
        return fan_in, out
    raise ValueError("a packed projection has no fp32 weight to size an adapter by; build the adapter first")


def canvas_hidden(
    encoder: LeanEncoder,
    adapter: CanvasAdapter,
    keys: list[torch.Tensor],
    values: list[torch.Tensor],
    slot_index: torch.Tensor,
    positions: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """Final hidden states [B, R, hidden] of R canvas rows.

    `keys`/`values`: per kept layer the context's keys and values [B, kv_heads, S, head_dim] (the encoder's,
    already normed and rotated, as its cache holds them). `slot_index` [R]: which slot embedding each row starts
    from. `positions` [B, R]: each row's position (rotary). `mask` [B, 1, R, S + R]: what each row attends to, the
    S context positions then the R canvas rows."""
    batch = positions.shape[0]
    hidden = adapter.slot_embeddings[slot_index].unsqueeze(0).expand(batch, -1, -1)
    rotary = {layer.rope: encoder._rotary_of(layer.rope, positions, hidden) for layer in encoder._layers}
    for index, layer in enumerate(encoder._layers):

        def project(names: tuple[str, ...], x: torch.Tensor, index=index, layer=layer) -> list[torch.Tensor]:
            outputs = layer.outputs(names, x)
            deltas = [adapter.update(index, name, x) for name in names]
            return [y if delta is None else y + delta for y, delta in zip(outputs, deltas)]

        def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, index=index) -> torch.Tensor:
            all_keys = torch.cat((keys[index], k.transpose(1, 2)), dim=2)
            all_values = torch.cat((values[index], v.transpose(1, 2)), dim=2)
            return _attention(q, all_keys, all_values, mask)

        hidden = layer_forward(layer, hidden, rotary[layer.rope], encoder._eps, project, attend)
    return F.rms_norm(hidden, (hidden.shape[-1],), encoder._final_norm, encoder._eps)


def canvas_mask(anchors: torch.Tensor, slots: int, context: int, window: int | None = None) -> torch.Tensor:
    """[1, 1, R, context + R] for one canvas of `slots` rows after each anchor (R = len(anchors) * slots): a row
    sees the context positions up to its anchor (within `window` of its own position) and the rows of its own
    canvas, all of them."""
    anchors = anchors.long()
    rows = anchors.repeat_interleave(slots)
    row_position = rows + 1 + torch.arange(slots).repeat(len(anchors))
    key = torch.arange(context)[None, :]
    sees = key <= rows[:, None]
    if window is not None:
        sees &= key > row_position[:, None] - window
    group = torch.arange(len(anchors)).repeat_interleave(slots)
    own = group[:, None] == group[None, :]
    return torch.cat((sees, own), dim=1)[None, None]


def canvas_positions(anchors: torch.Tensor, slots: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(slot index [R], position [1, R]) of the canvas rows after each anchor."""
    slot_index = torch.arange(slots).repeat(len(anchors))
    return slot_index, (anchors.long().repeat_interleave(slots) + 1 + slot_index)[None]


def chain_targets(
    tokens: torch.Tensor, greedy: torch.Tensor, slots: int, first: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(anchors [A], targets [A, slots]) where greedy's next token after the anchor is the text's; a target is
    -100 past the chain's first departure from the text (greedy's token there unknown)."""
    n = len(tokens)
    follows = torch.zeros(n, dtype=torch.bool)
    follows[: n - 1] = greedy[: n - 1] == tokens[1:]
    anchors = [t for t in range(first, n - 1 - slots) if follows[t]]
    if not anchors:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, slots, dtype=torch.long)
    index = torch.tensor(anchors)
    targets = torch.full((len(anchors), slots), -100, dtype=torch.long)
    alive = torch.ones(len(anchors), dtype=torch.bool)
    for j in range(slots):
        position = index + 1 + j  # slot j stands for the token here and predicts the one after it
        targets[:, j] = torch.where(alive, greedy[position], torch.full_like(position, -100))
        alive &= follows[position]
    return index, targets


def verify_and_draft(
    encoder: LeanEncoder,
    adapter: CanvasAdapter,
    input_ids: torch.Tensor,
    cache,
    starts: list[int],
    anchors: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward that verifies and drafts: the encoder over `input_ids` [B, T] at each row's own start (as
    `LeanEncoder.__call__` with `starts`, writing their keys and values into `cache`), and in the same matrix
    products a canvas after each of the first `anchors` of those T tokens (all by default: the drafts for whichever
    of them the verification ends at; fewer canvases, fewer rows).

    Returns the encoder's final hidden states [B, T, hidden], exactly as the encoder alone computes them (canvas
    rows attend to the encoder's rows, never the other way round), and the canvases' [B, anchors, slots, hidden]."""
    batch, length = input_ids.shape
    slots = adapter.shape.slots
    if len(starts) != batch or max(starts) > cache.length:
        raise ValueError(f"starts {starts} for {batch} rows over a cache of {cache.length} positions")
    device = input_ids.device
    end = max(starts) + length
    groups = length if anchors is None else max(1, min(anchors, length))
    canvas_rows = groups * slots
    # The canvases' keys and values go in the cache past `end`, where nothing reads them once this forward is done
    # (the cache's length stays `end`): the attention then reads one slice, where a concatenation per layer copied
    # the whole cached context.
    cache._reserve(end + canvas_rows)
    start = torch.tensor(starts, device=device)[:, None]
    own = start + torch.arange(length, device=device)  # [B, T]: the encoder rows' positions
    anchor = own[:, :groups].repeat_interleave(slots, dim=1)  # [B, groups * slots]: each canvas row's anchor
    slot_index = torch.arange(slots, device=device).repeat(groups)
    positions = torch.cat((own, anchor + 1 + slot_index), dim=1)  # [B, T + T * slots]
    hidden = torch.cat(
        (encoder._embed(input_ids), adapter.slot_embeddings[slot_index].expand(batch, -1, -1).to(torch.float32)), dim=1
    )
    rows = torch.arange(batch, device=device)[:, None]
    rotary = {layer.rope: encoder._rotary_of(layer.rope, positions, hidden) for layer in encoder._layers}
    masks = {
        layer.window: _verify_draft_mask(own, anchor, positions, end, layer.window, slots) for layer in encoder._layers
    }
    for index, layer in enumerate(encoder._layers):

        def project(names: tuple[str, ...], x: torch.Tensor, index=index, layer=layer) -> list[torch.Tensor]:
            outputs = layer.outputs(names, x)
            for name, y in zip(names, outputs):
                delta = adapter.update(index, name, x[:, length:])  # the canvas rows only: the encoder's stay its own
                if delta is not None:
                    y[:, length:] += delta  # in place: under inference mode nothing keeps y for a backward
            return outputs

        def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, index=index, layer=layer) -> torch.Tensor:
            cache.keys[index][rows, :, own] = k[:, :length]
            cache.values[index][rows, :, own] = v[:, :length]
            cache.keys[index][:, :, end : end + canvas_rows] = k[:, length:].transpose(1, 2)
            cache.values[index][:, :, end : end + canvas_rows] = v[:, length:].transpose(1, 2)
            first, mask = masks[layer.window]
            return _attention(
                q,
                cache.keys[index][:, :, first : end + canvas_rows],
                cache.values[index][:, :, first : end + canvas_rows],
                mask,
            )

        hidden = layer_forward(layer, hidden, rotary[layer.rope], encoder._eps, project, attend)
    cache.length = end
    hidden = F.rms_norm(hidden, (hidden.shape[-1],), encoder._final_norm, encoder._eps)
    return hidden[:, :length], hidden[:, length:].view(batch, groups, slots, -1)


def _verify_draft_mask(
    own: torch.Tensor, anchor: torch.Tensor, positions: torch.Tensor, end: int, window: int | None, slots: int
) -> tuple[int, torch.Tensor]:
    """(oldest cached position any row sees, mask [B, 1, T + T * slots, cached + T * slots]): the encoder's rows
    causal over the cache, blind to the canvases; a canvas row sees the cache up to its anchor and its own
    canvas."""
    first = 0 if window is None else max(0, int(positions.min()) + 1 - window)
    key = torch.arange(first, end, device=own.device)[None, None, :]
    query = positions[:, :, None]
    limit = torch.cat((own, anchor), dim=1)[:, :, None]  # what a row may see of the cache: up to itself / its anchor
    cached = key <= limit
    if window is not None:
        cached &= key > query - window
    batch, length = own.shape
    canvas_rows = anchor.shape[1]
    groups = canvas_rows // slots
    group = torch.cat(
        (torch.full((length,), -1, device=own.device), torch.arange(groups, device=own.device).repeat_interleave(slots))
    )
    canvas = (group[:, None] == group[None, length:]) & (group[:, None] >= 0)  # [T + rows, canvas rows]
    mask = torch.cat((cached, canvas[None].expand(batch, -1, -1)), dim=2)
    return first, mask[:, None]


class CanvasDrafter:
    """The drafter at decoding time (`autoregressive.greedy_branches(canvas=...)`): each verifying forward also
    denoises a canvas after every token it verifies, and the canvas after the last token the verification kept
    is the next draft."""

    def __init__(self, model, adapter: CanvasAdapter, anchors: int | None = None) -> None:
        encoder = LeanEncoder.of(model)
        if encoder is None:
            raise ValueError("the canvas drafter needs the lean forward, which this model has none of")
        self.model, self.encoder, self.adapter = model, encoder, adapter
        self.anchors = anchors  # canvases per forward, after the first verified tokens; None: after each

    @staticmethod
    def load(model, path) -> CanvasDrafter:
        from safetensors.torch import load_file

        encoder = LeanEncoder.of(model)
        if encoder is None:
            raise ValueError("the canvas drafter needs the lean forward, which this model has none of")
        return CanvasDrafter(model, CanvasAdapter.from_tensors(encoder, load_file(str(path))))

    def forward(self, input_ids: torch.Tensor, cache, starts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return verify_and_draft(self.encoder, self.adapter, input_ids, cache, starts, self.anchors)

    def drafts(self, canvases: torch.Tensor) -> list[list[int]]:
        """Each canvas's tokens [N, slots, hidden] -> N drafts: the argmax of every slot (one denoising step)."""
        return head_logits(self.model, canvases).argmax(-1).tolist()
