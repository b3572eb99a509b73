"""Greedy autoregressive decoding with DiffusionGemma's encoder: the same weights as the diffusion sampler, one
token per forward.

The encoder is a causal LM trained jointly with the denoiser (an AR cross-entropy on the clean response), and its
next-token logits are the tied LM head on its last hidden state, as in training. That makes this the fair baseline
for "how much faster is diffusion": same weights, same prompt, the encoder's KV cache, greedy.

A model that reads only the text before the cursor can still use the text after it: decode several candidates
(`greedy_branches`, one per first token) and keep the one under which the text after the hole is most likely
(`continuation_logprobs`). That is Bayes' rule for infilling, p(middle | prefix, suffix) ∝ p(middle + suffix |
prefix), with the model's own causal LM as the judge.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from dgemma_lsp.diffusion.canvas_drafter import CanvasDrafter
from dgemma_lsp.diffusion.drafting import Drafter
from dgemma_lsp.diffusion.lean import LeanCache, encode, head_logits, new_cache
from dgemma_lsp.diffusion.sampler import CLAMPED_LOGIT, as_clamps, clamp_logits
from dgemma_lsp.errors import CancelledError

# How far down the model's ranking a branch that must write a word looks for a token to start it (`Spelling`).
WORD_TOP_K = 8


@dataclass
class GreedyResult:
    tokens: list[int]  # the middle's token ids, cut before EOS
    finished: bool  # EOS was produced within max_new_tokens
    forwards: int  # encoder calls: one for the prompt, then one per generated token after the first
    forward_seconds: float  # wall time inside those calls


@dataclass
class Branches:
    candidates: list[list[int]]  # one middle per first token, in the order of that token's logit
    finished: list[bool]
    forwards: int  # encoder calls, each over all branches still decoding
    forward_seconds: float
    accepted: int = 0  # drafted tokens kept (`drafts`): each saves one forward of its branch
    branch_forwards: int = 0  # forwards summed over the branches each one carried


class _Vocabulary:
    """What `Spelling` needs to know of the token texts, built once per tokenizer: the ids of each text, and which
    ids would continue a word (their text starts with a letter, digit or underscore)."""

    def __init__(self, texts: tuple[str, ...], device) -> None:
        self.texts = texts
        self.ids_of: dict[str, list[int]] = {}
        for token, text in enumerate(texts):
            self.ids_of.setdefault(text, []).append(token)
        self.continues_word = torch.tensor([_is_word_char(text[:1]) for text in texts], device=device)

    @staticmethod
    @functools.lru_cache(maxsize=4)
    def of(texts: tuple[str, ...], device) -> _Vocabulary:
        return _Vocabulary(texts, device)

    def spelling(self, rest: str) -> list[int]:
        """The ids whose text is a non-empty leading part of `rest`."""
        return [token for end in range(1, len(rest) + 1) for token in self.ids_of.get(rest[:end], [])]


def _is_word_char(char: str) -> bool:
    return bool(char) and (char.isalnum() or char == "_")


@dataclass
class Spelling:
    """A branch's obligation to write `word` whole: not started (`rest` None), partly written (the rest of it),
    written and needing a token that ends it (""), or `done`. A `leading` spelling starts the line with it
    (`name`, `for name in`); another starts it where the model first ranks a token that can begin it among its
    `top_k` likeliest, and is the greedy line if it never does. A word ending in a letter, digit or underscore
    must be followed by a token that does not go on with it."""

    word: str
    vocabulary: _Vocabulary = field(repr=False)
    top_k: int = WORD_TOP_K
    leading: bool = False
    rest: str | None = None
    done: bool = False

    def choose(self, logits: torch.Tensor, written: list[int]) -> int:
        """The row's next token from its logits ([V], clamped already: an excluded id is at CLAMPED_LOGIT): greedy,
        except where the word starts, goes on or must end."""
        vocabulary = self.vocabulary
        if self.done:
            return int(logits.argmax())
        if self.rest is None:
            return self._start(logits, written)
        if self.rest:
            ids = vocabulary.spelling(self.rest)
            best = int(logits[ids].argmax()) if ids else -1
            if best < 0 or float(logits[ids[best]]) <= CLAMPED_LOGIT:  # the clamps forbid going on: give up the word
                self.done = True
                return int(logits.argmax())
            token = ids[best]
            self.rest = self.rest[len(vocabulary.texts[token]) :]
            return token
        self.done = True
        if not _is_word_char(self.word[-1:]):
            return int(logits.argmax())
        return int(logits.masked_fill(vocabulary.continues_word, float("-inf")).argmax())

    def _start(self, logits: torch.Tensor, written: list[int]) -> int:
        vocabulary = self.vocabulary
        after_word = bool(written) and _is_word_char(vocabulary.texts[written[-1]][-1:])
        if self.leading:
            spelled = vocabulary.spelling(self.word) + vocabulary.spelling(" " + self.word)
            ids = [token for token in spelled if vocabulary.texts[token].strip()]  # not the space alone
            ranked = [ids[int(logits[ids].argmax())]] if ids else []
        else:
            ranked = logits.topk(min(self.top_k, logits.shape[-1])).indices.tolist()
        for token in ranked:
            text = vocabulary.texts[token]
            core = text.lstrip(" \t")
            starts = core and self.word.startswith(core) and (text[0] in " \t" or not after_word)
            if starts and float(logits[token]) > CLAMPED_LOGIT:
                self.rest = self.word[len(core) :]
                return token
        if self.leading:  # the line cannot start with it (the syntax needs a keyword first): plain greedy
            self.done = True
        return int(logits.argmax())


def greedy_decode(model, prompt_ids: list[int], **options) -> GreedyResult:
    """Greedy decoding after `prompt_ids` (batch 1); `greedy_branches` with one branch."""
    branches = greedy_branches(model, prompt_ids, width=1, **options)
    return GreedyResult(branches.candidates[0], branches.finished[0], branches.forwards, branches.forward_seconds)


@torch.inference_mode()
def greedy_branches(
    model,
    prompt_ids: list[int],
    *,
    width: int,
    eos_id: int,
    max_new_tokens: int,
    stop_ids: frozenset[int] = frozenset(),
    clamps: Mapping[int, int | Collection[int]] | None = None,
    cache: LeanCache | DynamicCache | None = None,
    stop: Callable[[list[int]], int | None] | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
    words: Sequence[str] = (),
    openings: Sequence[str] = (),
    texts: Sequence[str] = (),
    word_top_k: int = WORD_TOP_K,
    drafts: Drafter | None = None,
    canvas: CanvasDrafter | None = None,
    alone_above: float | None = None,
) -> Branches:
    """Up to `width` greedy continuations of `prompt_ids`, one per first token among the `width` likeliest, each
    until EOS, a token in `stop_ids` (kept), or `max_new_tokens`. The branches decode as one batch; a finished one
    leaves it.

    `stop_ids` lets a rest-of-line fill stop at the first token holding a newline, as an AR server would.
    `clamps` narrows the i-th generated token to an id or a set of ids, as the sampler's clamps narrow canvas
    position i (`engine.as_clamps`): the argmax (and the choice of first tokens) is over those ids only. `cache`,
    when given, already holds the first tokens of `prompt_ids` (`engine.PromptCache`); only the rest are encoded,
    and the cache is extended (and widened to the branches). `stop(tokens)`, called after each token, may end a
    branch: it returns how many tokens to keep, or None.

    Each of `words` adds a branch that writes that word, whole, where the model first ranks a token that can begin
    it among its `word_top_k` likeliest; each of `openings` adds one that starts with that text. Both go on
    greedily (`Spelling`; `texts` are the token ids' texts).
    A pipeline that knows which name a line must bind (the code after it uses it) gets a candidate that binds
    it, where the greedy line picks another name (`for num in` above a body using `n`).

    `drafts` (with the lean forward's cache) guesses each branch's next tokens; one forward verifies a branch's
    last token and its draft together, and the branch keeps the drafted tokens up to the first its own choice
    differs from, plus that choice. The branches are what they would be without drafts, token for token; only
    the number of forwards changes (`Branches.forwards`, `Branches.accepted`).

    `canvas` drafts from the model itself: each forward also denoises a canvas after every token it verifies
    (`canvas_drafter.verify_and_draft`), and the one after the last token a branch kept is its next draft; a
    `drafts` draft longer than the canvas's (the first forward after the prompt has none) goes instead.

    `alone_above`: where the likeliest first token (not one of `stop_ids`) is at least this likely, it decodes
    alone, with the branches of `words` and `openings` only.

    The LM head's soft-capping (tanh) is monotonic, so it cannot change an argmax and is skipped.
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    if (words or openings) and len(texts) == 0:
        raise ValueError("words and openings need the token texts")
    if max_new_tokens < 1:
        return Branches([[]], [False], 0, 0.0)
    device = model.device
    allowed = as_clamps(clamps, device)
    if cache is None:
        cache = new_cache(model)
    if not isinstance(cache, LeanCache):
        drafts = canvas = None  # rows at their own positions need the lean forward
    pending: dict[int, list[int]] = {}  # row -> the canvas's draft for its next forward
    rows: list[list[int]] = [[]]
    finished = [False]
    live = [0]  # the rows still decoding, in the cache's batch order
    spellings: dict[int, Spelling] = {}  # row -> what it must write, for the rows `words` and `openings` add

    def choose(row: int, logits: torch.Tensor) -> int:
        """The row's next token from one position's logits [V]."""
        index = len(rows[row])
        if index in allowed:
            logits = clamp_logits(logits[None, None], {0: allowed[index]})[0, 0]
        return spellings[row].choose(logits, rows[row]) if row in spellings else int(logits.argmax())

    def take(row: int, token: int) -> bool:
        """Append `token` to the row; whether the row goes on decoding."""
        if token == eos_id:
            finished[row] = True
            return False
        rows[row].append(token)
        keep = stop(rows[row]) if stop is not None else None
        if keep is not None:
            del rows[row][keep:]
        if token in stop_ids or keep is not None:
            finished[row] = True
            return False
        return len(rows[row]) < max_new_tokens

    forward_seconds, forwards, accepted, branch_forwards = 0.0, 0, 0, 0
    if is_cancelled():
        raise CancelledError("cancelled before the first token")
    started = time.perf_counter()
    encoded = cache.get_seq_length()
    hidden = encode(model, torch.tensor([prompt_ids[encoded:]], dtype=torch.long, device=device), cache)
    logits = head_logits(model, hidden[:, -1])  # [1, V]: the last position predicts the first token
    if 0 in allowed:
        logits = clamp_logits(logits[:, None], {0: allowed[0]})[:, 0]
    firsts = [int(logits[0].argmax())]
    if width > 1 or words or openings:
        top = logits[0].topk(min(width, logits.shape[-1]))
        firsts = [int(i) for i, value in zip(top.indices, top.values) if value > CLAMPED_LOGIT]
        if alone_above is not None and firsts and firsts[0] not in stop_ids:
            if float((top.values[0] - logits[0].float().logsumexp(-1)).exp()) >= alone_above:
                firsts = firsts[:1]
        if words or openings:
            vocabulary = _Vocabulary.of(tuple(texts), device)
            wanted = [Spelling(word, vocabulary, word_top_k) for word in words]
            wanted += [Spelling(opening, vocabulary, word_top_k, leading=True) for opening in openings]
            spellings = {len(firsts) + k: spelling for k, spelling in enumerate(wanted)}
            firsts += [spelling.choose(logits[0], []) for spelling in wanted]
        if len(firsts) > 1:
            cache.batch_repeat_interleave(len(firsts))
        rows, finished, live = [[] for _ in firsts], [False] * len(firsts), list(range(len(firsts)))
    forward_seconds += time.perf_counter() - started
    forwards += 1
    branch_forwards += 1
    going_on = [index for index, (row, token) in enumerate(zip(live, firsts)) if take(row, token)]
    starts = [len(prompt_ids)] * len(firsts)  # where each row's next input goes in the cache
    while going_on:
        if len(going_on) < len(live):
            cache.batch_select_indices(torch.tensor(going_on, device=device))
            live, starts = [live[i] for i in going_on], [starts[i] for i in going_on]
        if is_cancelled():
            raise CancelledError(f"cancelled after {forwards} forwards")
        started = time.perf_counter()
        guesses = []
        for row in live:
            limit = max(0, max_new_tokens - len(rows[row]) - 1)
            guess = pending.pop(row, [])[:limit]
            if drafts is not None:  # the longer of the two drafts
                looked_up = drafts.draft(rows[row], limit)
                guess = looked_up if len(looked_up) > len(guess) else guess
            guesses.append(guess)
        longest = max(len(guess) for guess in guesses)
        # [B, 1 + longest]: each row's last token, its draft, and padding whose outputs are never read
        inputs = torch.tensor(
            [[rows[row][-1], *guess] + [rows[row][-1]] * (longest - len(guess)) for row, guess in zip(live, guesses)],
            dtype=torch.long,
            device=device,
        )
        if canvas is not None:
            hidden, canvases = canvas.forward(inputs, cache, starts)
        else:
            hidden = encode(model, inputs, cache, starts if drafts is not None else None)
        logits = head_logits(model, hidden)  # [B, T, V]: position j predicts the token after input j
        going_on = []
        drafted: list[tuple[int, int, int]] = []  # (batch index, row, tokens kept) of the rows going on
        for index, (row, guess) in enumerate(zip(live, guesses)):
            kept = 0  # drafted tokens the row's own choices agreed with
            for position in range(len(guess) + 1):
                token = choose(row, logits[index, position])
                going = take(row, token)
                if not going or position == len(guess) or token != guess[position]:
                    break
                kept += 1
            accepted += kept
            starts[index] += 1 + kept  # the last token's and the kept drafts' keys are the row's own now
            if going:
                going_on.append(index)
                drafted.append((index, row, kept))
        if canvas is not None:  # the canvas after each row's last kept token, where there is one
            drafted = [(index, row, kept) for index, row, kept in drafted if kept < canvases.shape[1]]
            if drafted:
                after = canvas.drafts(torch.stack([canvases[index, kept] for index, _, kept in drafted]))
                pending.update((row, draft) for (_, row, _), draft in zip(drafted, after))
        forward_seconds += time.perf_counter() - started
        forwards += 1
        branch_forwards += len(live)
    return Branches(rows, finished, forwards, forward_seconds, accepted, branch_forwards)


@torch.inference_mode()
def continuation_logprobs(
    model, cache: LeanCache | DynamicCache, last_prompt_id: int, continuations: list[list[int]], pad_id: int = 0
) -> list[float]:
    """log p(continuation | prompt) for each continuation, in nats, scored as one batch.

    `cache` holds the prompt but its last token (`last_prompt_id`), as `PromptCache.encode` leaves it; it is
    widened to the batch and extended, so pass a copy if it is still needed. Continuations are padded on the
    right: the encoder is causal, so padding after a continuation cannot change its scores.
    """
    if not continuations:
        return []
    device = model.device
    length = max(len(ids) for ids in continuations)
    rows = [[last_prompt_id, *ids] + [pad_id] * (length - len(ids)) for ids in continuations]
    inputs = torch.tensor(rows, dtype=torch.long, device=device)  # [B, 1 + L]
    if len(continuations) > 1:
        cache.batch_repeat_interleave(len(continuations))
    hidden = encode(model, inputs, cache)
    logits = head_logits(model, hidden[:, :-1]).float()  # [B, L, V]: position i predicts continuation token i
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)
    if cap:  # in place: the logits are the largest tensor of a fill (~50 MB for 6 branches of 40 tokens)
        logits.div_(cap).tanh_().mul_(cap)
    scores = logits.gather(-1, inputs[:, 1:, None])[..., 0] - logits.logsumexp(-1)  # [B, L]: log-softmax at the ids
    mask = torch.arange(length, device=device)[None, :] < torch.tensor([len(ids) for ids in continuations])[:, None]
    return (scores * mask).sum(-1).tolist()
