"""The denoising loop: DiffusionGemma's released sampler, driven step by step so it can be cancelled and observed.

`transformers`' `generate()` implements the same sampler, but it cannot be stopped between two steps, cannot
clamp canvas positions without a logits processor that leaks into its entropy bookkeeping, and re-encodes the
whole prompt on every call. So the loop here drives the encoder and decoder directly; the math of each step is
the released one (see the helpers' docstrings for their sources).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from dgemma_lsp.diffusion.configs import cache_argument
from dgemma_lsp.diffusion.lean import LeanCache, LeanEncoder, encode, new_cache
from dgemma_lsp.errors import CancelledError
from dgemma_lsp.settings import RELEASED_SAMPLER, SamplerSettings


@dataclass(frozen=True)
class Draft:
    """One denoising step's best guess (the argmax canvas) for every candidate, handed to `on_draft`."""

    canvas_index: int
    step: int
    tokens: torch.Tensor  # [n, C]


@dataclass
class DenoiseResult:
    candidates: list[list[int]]  # the middle's token ids, cut before the first EOS
    finished: list[bool]  # whether each candidate reached EOS (a hole longer than max_canvases did not)
    steps: int  # decoder forwards, over all canvases
    canvases: int
    encoded_tokens: int  # prompt tokens encoded by this call (the rest came from the prompt cache)
    forward_seconds: float = 0.0  # wall time inside model forwards (encoder and decoder); the rest is overhead
    branch_forwards: int = 0  # greedy decoding: forwards summed over the branches each one carried
    accepted: int = 0  # greedy decoding: drafted tokens kept, each a branch's forward saved


def linear_temperature(step: int, max_steps: int, t_min: float, t_max: float) -> float:
    """Temperature at a step; `step` counts the steps remaining (N..1), so it falls from t_max towards t_min.

    Same as transformers' `LinearTemperatureScheduleLogitsProcessor`: t = t_min + (t_max - t_min) * step / N.
    """
    return t_min + (t_max - t_min) * (step / max_steps)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each position's categorical distribution. [n, C, V] -> [n, C]."""
    return entropy_and_probs(logits)[0]


def entropy_and_probs(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Entropy [n, C] and probabilities [n, C, V] from one log-softmax: at a 12k vocabulary each extra pass over
    the logits costs about as much as a small model's decoder layer."""
    log_probs = torch.log_softmax(logits, dim=-1)
    probs = log_probs.exp()
    return -(probs * log_probs).nan_to_num().sum(dim=-1), probs


def sample_accepted(probs: torch.Tensor, accepted: torch.Tensor, noise: torch.Tensor, generator) -> torch.Tensor:
    """Sampled tokens at accepted positions, `noise` elsewhere. [n, C, V], bool [n, C], [n, C] -> [n, C].

    Only accepted positions keep their sample (the rest are re-noised), so only they are sampled: usually a few
    rows instead of the whole canvas.
    """
    canvas = noise.clone()
    rows = probs[accepted]  # [k, V]
    # Inverse-CDF sampling: torch.multinomial took ~20 ms per call on CPU at a 12k vocabulary, this well under 1.
    cumulative = rows.cumsum(-1)  # [k, V]
    draws = torch.rand((rows.shape[0], 1), generator=generator, device=rows.device) * cumulative[:, -1:]  # [k, 1]
    picked = torch.searchsorted(cumulative, draws).squeeze(-1).clamp_(max=rows.shape[-1] - 1)  # [k]
    canvas[accepted] = picked
    return canvas


def entropy_bound_accept(entropy: torch.Tensor, bound: float) -> torch.Tensor:
    """The entropy-bound acceptance rule (EB-sampler, arXiv 2505.24857), as in transformers' EntropyBoundSampler.

    Accept the k lowest-entropy positions such that sum(entropies) - max(entropies) <= bound: the left side bounds
    the mutual information among the accepted tokens, so they can be sampled independently. The lowest-entropy
    position is always accepted, so every step makes progress. [n, C] -> bool [n, C].
    """
    sorted_entropy, order = torch.sort(entropy, dim=-1)
    within = (torch.cumsum(sorted_entropy, dim=-1) - sorted_entropy) <= bound
    return torch.zeros_like(within).scatter(-1, order, within)


CLAMPED_LOGIT = -1e9  # what a clamp leaves an excluded id; finite: the temperature division must not make nan


def clamp_logits(logits: torch.Tensor, clamps: Mapping[int, torch.Tensor]) -> torch.Tensor:
    """Narrow each clamped canvas position to its allowed ids (a 1-D id tensor). Pinned to one id, a position is
    one-hot: entropy 0, so it is always accepted and always sampled as given. Narrowed to several, it keeps the
    model's preferences among them (and the entropy that goes with those)."""
    if not clamps:
        return logits
    logits = logits.clone()
    for position, allowed in clamps.items():
        kept = logits[:, position, allowed] if len(allowed) > 1 else torch.zeros_like(logits[:, position, allowed])
        logits[:, position, :] = CLAMPED_LOGIT
        logits[:, position, allowed] = kept
    return logits


def as_clamps(clamps: Mapping[int, int | Collection[int]] | None, device) -> dict[int, torch.Tensor]:
    """Clamps as given (a position -> one id, or a collection of allowed ids) -> id tensors, built once per call."""
    return {
        position: torch.tensor(
            [allowed] if isinstance(allowed, int) else sorted(allowed), dtype=torch.long, device=device
        )
        for position, allowed in (clamps or {}).items()
    }


class PromptCache:
    """The encoder's KV cache of the last prompt, so a prompt that shares a prefix re-encodes only the rest.

    With suffix-first prompts, typing at the cursor only appends prefix tokens, so most requests encode a handful
    of tokens instead of the whole context. Reuse needs a cache that can be cut back: full-attention layers always
    can; sliding-window layers only while the prompt fits in their window. The lean forward's cache always can.
    """

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._cache: LeanCache | DynamicCache | None = None
        self.forward_seconds = 0.0  # time the last `encode` spent in the encoder

    def clear(self) -> None:
        self._ids, self._cache = [], None

    @torch.inference_mode()
    def encode(self, model, prompt_ids: list[int], *, lean: bool = False) -> tuple[LeanCache | DynamicCache, int]:
        """A fresh cache holding `prompt_ids` (batch 1), and how many of its tokens had to be encoded now. `lean`:
        the lean forward's cache (`lean.new_cache`; causal decoding), else transformers' (the diffusion decoder
        reads it); a cache of the other kind is not reused."""
        shared = _common_prefix_length(self._ids, prompt_ids)
        cache: LeanCache | DynamicCache
        kept = self._cache
        if kept is not None and isinstance(kept, LeanCache) != (lean and LeanEncoder.of(model) is not None):
            kept = None  # the other kind of cache
        if kept is not None and shared > 0 and _can_crop(kept, len(self._ids)):
            cache = copy.deepcopy(kept)
            if shared == len(prompt_ids):
                shared -= 1  # re-encode the last token rather than call the encoder with nothing
            cache.crop(-(len(self._ids) - shared))
        else:
            cache, shared = new_cache(model, lean), 0
        new_ids = torch.tensor([prompt_ids[shared:]], dtype=torch.long, device=model.device)  # [1, T_new]
        started = time.perf_counter()
        encode(model, new_ids, cache)
        self.forward_seconds = time.perf_counter() - started
        self._ids, self._cache = list(prompt_ids), copy.deepcopy(cache)
        return cache, len(prompt_ids) - shared


def _common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _can_crop(cache, length: int) -> bool:
    if isinstance(cache, LeanCache):
        return True  # it keeps every position
    # transformers types the layers as their base classes; only a sliding one, the one read, has `sliding_window`.
    return all(not getattr(layer, "is_sliding", False) or length < layer.sliding_window for layer in cache.layers)


@torch.inference_mode()
def denoise(
    model,
    prompt_ids: list[int],
    *,
    eos_id: int,
    n: int = 1,
    max_canvases: int = 1,
    sampler: SamplerSettings = RELEASED_SAMPLER,
    clamps: Mapping[int, int | Collection[int]] | None = None,
    generator: torch.Generator | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
    on_draft: Callable[[Draft], None] | None = None,
    prompt_cache: PromptCache | None = None,
    canvas_length: int | None = None,
) -> DenoiseResult:
    """Fill up to `max_canvases` canvases after `prompt_ids`, n candidates as one batch.

    `clamps` maps positions of the middle (0 = first token of the first canvas) to the token id that must appear
    there, or to a collection of ids one of which must. Raises CancelledError between two steps once
    `is_cancelled()` turns true. `canvas_length` overrides the model's (a shorter canvas for a short hole: every
    step's cost grows with it). Knobs `sampler` leaves unset are the released ones.
    """
    sampler = sampler.over(RELEASED_SAMPLER)
    max_steps, entropy_bound = sampler.max_denoising_steps, sampler.entropy_bound
    t_min, t_max = sampler.t_min, sampler.t_max
    # RELEASED_SAMPLER sets every knob, so `over` leaves none unset.
    assert max_steps is not None and entropy_bound is not None and t_min is not None and t_max is not None
    canvas_length = canvas_length or model.config.canvas_length
    vocab_size = model.config.text_config.vocab_size
    device = model.device
    clamps = as_clamps(clamps, device)

    def noise(shape) -> torch.Tensor:
        return torch.randint(0, vocab_size, shape, generator=generator, device=device)

    if is_cancelled():
        raise CancelledError("cancelled before encoding")
    prompt_cache = prompt_cache or PromptCache()
    cache, encoded_tokens = prompt_cache.encode(model, prompt_ids)
    forward_seconds = prompt_cache.forward_seconds
    if n > 1:
        cache.batch_repeat_interleave(n)
    length = len(prompt_ids)  # tokens in the cache so far

    middle = torch.empty((n, 0), dtype=torch.long, device=device)  # [n, T_mid]
    finished = torch.zeros(n, dtype=torch.bool, device=device)  # [n] reached EOS in an earlier canvas
    steps = canvases = 0
    for canvas_index in range(max_canvases):
        offset = canvas_index * canvas_length
        canvas_clamps = {p - offset: t for p, t in clamps.items() if 0 <= p - offset < canvas_length}
        positions = torch.arange(length, length + canvas_length, device=device).unsqueeze(0)  # [1, C]
        canvas = noise((n, canvas_length))  # [n, C] uniform-state noise, not a mask token
        argmax = canvas
        self_conditioning = None  # [n, C, V] the previous step's logits
        history: list[torch.Tensor] = []  # argmax canvases of the last `stability_threshold` steps
        done = finished.clone()  # [n] rows that stopped denoising this canvas

        for step in range(max_steps, 0, -1):
            if is_cancelled():
                raise CancelledError(f"cancelled at canvas {canvas_index}, step {step}")
            started = time.perf_counter()
            logits = model(
                decoder_input_ids=canvas,
                **cache_argument(model, cache),
                self_conditioning_logits=self_conditioning if sampler.self_conditioning else None,
                decoder_position_ids=positions,
            ).logits  # [n, C, V]
            forward_seconds += time.perf_counter() - started
            steps += 1
            temperature = linear_temperature(step, max_steps, t_min, t_max)
            logits = clamp_logits(logits, canvas_clamps) / temperature

            entropy, probs = entropy_and_probs(logits)  # [n, C], [n, C, V]
            accepted = entropy_bound_accept(entropy, entropy_bound)  # [n, C]
            next_canvas = sample_accepted(probs, accepted, noise((n, canvas_length)), generator)  # re-noise the rest
            next_argmax = logits.argmax(-1)  # [n, C]

            # Rows that already stopped keep their canvas; the batch runs until every row has stopped.
            keep = done[:, None]
            canvas = torch.where(keep, canvas, next_canvas)
            argmax = torch.where(keep, argmax, next_argmax)
            if sampler.self_conditioning:
                self_conditioning = (
                    logits if self_conditioning is None else torch.where(keep[..., None], self_conditioning, logits)
                )
            done |= _stable_and_confident(history, argmax, entropy, sampler, eos_id)
            if on_draft is not None:
                on_draft(Draft(canvas_index, max_steps - step + 1, argmax))
            if bool(done.all()):
                break

        canvases += 1
        middle = torch.cat([middle, argmax], dim=-1)
        finished |= (argmax == eos_id).any(dim=-1)
        if bool(finished.all()) or canvas_index + 1 == max_canvases:
            break
        # Block-autoregressive: the emitted canvas becomes context for the next one.
        started = time.perf_counter()
        encode(model, argmax, cache)
        forward_seconds += time.perf_counter() - started
        length += canvas_length

    candidates = [_cut_at_eos(row, eos_id) for row in middle.tolist()]
    return DenoiseResult(candidates, finished.tolist(), steps, canvases, encoded_tokens, forward_seconds)


def _stable_and_confident(
    history: list[torch.Tensor], argmax: torch.Tensor, entropy: torch.Tensor, sampler: SamplerSettings, eos_id: int
) -> torch.Tensor:
    """Adaptive stop, as transformers' StableAndConfidentStoppingCriteria: the argmax canvas has not changed for
    `stability_threshold` steps and the mean entropy is under `confidence_threshold`. Returns bool [n].

    One change: only positions up to the first EOS count. What follows it is cut from the answer, yet its noise
    stays uncertain; counted, it kept a short fill (a rest of line in a 32-token canvas) denoising to the step limit.
    """
    stability_threshold, confidence_threshold = sampler.stability_threshold, sampler.confidence_threshold
    assert stability_threshold is not None and confidence_threshold is not None  # `denoise` resolved them
    kept = _through_first_eos(argmax, eos_id)  # [n, C]
    stable = torch.ones(argmax.shape[0], dtype=torch.bool, device=argmax.device)
    if stability_threshold > 0:
        if len(history) < stability_threshold:
            stable = torch.zeros_like(stable)
        else:
            for previous in history:
                stable &= ((previous == argmax) | ~kept).all(dim=-1)
        history.append(argmax)
        del history[:-stability_threshold]
    mean_entropy = (entropy * kept).sum(dim=-1) / kept.sum(dim=-1)  # [n]; the first position is always kept
    return stable & (mean_entropy < confidence_threshold)


def _through_first_eos(tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    """bool [n, C]: the positions up to and including each row's first EOS (all of them in a row without one)."""
    is_eos = (tokens == eos_id).int()
    return (is_eos.cumsum(dim=-1) - is_eos) == 0


def _cut_at_eos(tokens: list[int], eos_id: int) -> list[int]:
    return tokens[: tokens.index(eos_id)] if eos_id in tokens else tokens
