"""Greedy autoregressive decoding with DiffusionGemma's encoder: the same weights as the diffusion sampler, one
token per forward.

The encoder is a causal LM trained jointly with the denoiser (an AR cross-entropy on the clean response), and its
next-token logits are the tied LM head on its last hidden state, as in training (`model/train.py`). That makes this
the fair baseline for "how much faster is diffusion": same weights, same prompt, the encoder's KV cache, greedy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .engine import as_clamps, clamp_logits
from .errors import CancelledError
from .modeling import cache_argument


@dataclass
class GreedyResult:
    tokens: list[int]  # the middle's token ids, cut before EOS
    finished: bool  # EOS was produced within max_new_tokens
    forwards: int  # encoder calls: one for the prompt, then one per generated token after the first
    forward_seconds: float  # wall time inside those calls


@torch.inference_mode()
def greedy_decode(
    model,
    prompt_ids: list[int],
    *,
    eos_id: int,
    max_new_tokens: int,
    stop_ids: frozenset[int] = frozenset(),
    clamps: Mapping[int, int | Collection[int]] | None = None,
    cache: DynamicCache | None = None,
    stop: Callable[[list[int]], int | None] | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> GreedyResult:
    """Greedy decoding after `prompt_ids` (batch 1) until EOS, a token in `stop_ids` (kept), or `max_new_tokens`.

    `stop_ids` lets a rest-of-line fill stop at the first token holding a newline, as an AR server would.
    `clamps` narrows the i-th generated token to an id or a set of ids, as the sampler's clamps narrow canvas
    position i (`engine.as_clamps`): the argmax is taken over those ids only. `cache`, when given, already holds
    the first tokens of `prompt_ids` (`engine.PromptCache`); only the rest are encoded, and the cache is extended.
    `stop(tokens)`, called after each token, may end the decoding: it returns how many tokens to keep, or None.

    The LM head's soft-capping (tanh) is monotonic, so it cannot change an argmax and is skipped.
    """
    device = model.device
    allowed = as_clamps(clamps, device)
    encoder = model.model.encoder
    if cache is None:
        cache = DynamicCache(config=model.config.get_text_config())
    position = cache.get_seq_length()
    tokens: list[int] = []
    forward_seconds = 0.0
    forwards = 0
    inputs = torch.tensor([prompt_ids[position:]], dtype=torch.long, device=device)  # [1, T]
    while len(tokens) < max_new_tokens:
        if is_cancelled():
            raise CancelledError(f"cancelled after {len(tokens)} tokens")
        positions = torch.arange(position, position + inputs.shape[1], device=device).unsqueeze(0)  # [1, T]
        started = time.perf_counter()
        hidden = encoder(input_ids=inputs, **cache_argument(encoder, cache), position_ids=positions).last_hidden_state
        logits = model.lm_head(hidden[:, -1])  # [1, V]: the last position predicts the next token
        if len(tokens) in allowed:
            logits = clamp_logits(logits[:, None], {0: allowed[len(tokens)]})[:, 0]
        token = int(logits.argmax(-1))
        forward_seconds += time.perf_counter() - started
        forwards += 1
        position += inputs.shape[1]
        if token == eos_id:
            return GreedyResult(tokens, True, forwards, forward_seconds)
        tokens.append(token)
        if token in stop_ids:
            return GreedyResult(tokens, True, forwards, forward_seconds)
        keep = stop(tokens) if stop is not None else None
        if keep is not None:
            return GreedyResult(tokens[:keep], True, forwards, forward_seconds)
        inputs = torch.tensor([[token]], dtype=torch.long, device=device)  # [1, 1]
    return GreedyResult(tokens, False, forwards, forward_seconds)
