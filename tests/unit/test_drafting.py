"""Drafted greedy decoding (`drafting.py`, `greedy_branches(drafts=...)`): drafts copied from the prompt, rows of
the lean forward at their own positions, and branches identical to plain greedy decoding whatever the drafts,
in fewer forwards when the drafts are right. On a small Gemma 3 converted as the embedded model is."""

from __future__ import annotations

import copy

import pytest
import torch
from test_gemma3_conversion import converted, small_gemma

from dgemma_lsp.diffusion.autoregressive import greedy_branches
from dgemma_lsp.diffusion.drafting import PromptLookup
from dgemma_lsp.diffusion.lean import encode, new_cache

WINDOW = 64  # small_gemma's sliding window


@pytest.fixture(scope="module")
def model():
    return converted(small_gemma())


def test_a_draft_copies_what_followed_the_latest_earlier_occurrence():
    lookup = PromptLookup([1, 2, 3, 4, 5, 1, 2], tokens=3)
    assert lookup.draft([]) == [3, 4, 5]  # "1 2" ends the prompt; its earlier occurrence went on "3 4 5"
    assert lookup.draft([3]) == [4, 5, 1]
    assert lookup.draft([3], limit=1) == [4]
    assert lookup.draft([3], limit=0) == []
    assert lookup.draft([42]) == []  # never seen: no draft


def test_the_longest_match_wins_and_the_text_after_the_hole_is_a_source():
    lookup = PromptLookup([7, 1, 8, 9, 1, 5, 6], after=[4, 2, 1, 3, 3], tokens=2)
    # "1" alone last went on "5 6" in the prompt; "2 1" occurs only after the hole, where it goes on "3 3"
    assert lookup.draft([2, 1]) == [3, 3]
    assert lookup.draft([9, 1]) == [5, 6]
    assert lookup.draft([1]) == [5, 6]
    # what the branch wrote is searched too, latest first
    assert lookup.draft([10, 11, 12, 10, 11]) == [12, 10]


@torch.inference_mode()
def test_rows_at_their_own_positions_match_each_row_encoded_alone(model):
    prompt = torch.randint(3, 300, (1, WINDOW - 6), generator=torch.Generator().manual_seed(1))
    shared = new_cache(model)
    encode(model, prompt, shared)
    tails = [[11, 12, 13, 14], [21, 22], [31, 32, 33, 34, 35, 36, 37, 38]]  # rows 4, 2 and 8 tokens further on
    alone = []
    for tail in tails:
        cache = copy.deepcopy(shared)
        encode(model, torch.tensor([tail]), cache)
        alone.append(encode(model, torch.tensor([[5, 6, 7]]), cache)[0])
    batched = copy.deepcopy(shared)
    batched.batch_repeat_interleave(3)
    longest = max(len(tail) for tail in tails)
    padded = torch.tensor([tail + [0] * (longest - len(tail)) for tail in tails])
    encode(model, padded, batched)  # every row writes `longest` positions; the padding is overwritten next
    starts = [prompt.shape[1] + len(tail) for tail in tails]  # the sliding window is crossed on the way
    together = encode(model, torch.tensor([[5, 6, 7]] * 3), batched, starts)
    for row in range(3):
        torch.testing.assert_close(together[row], alone[row], atol=1e-4, rtol=1e-4)


class Oracle:
    """Drafts the very tokens greedy decoding will write (or wrong ones), `tokens` at a time."""

    def __init__(self, truth: list[list[int]], tokens: int, wrong: bool = False) -> None:
        self.truth, self.tokens, self.wrong = truth, tokens, wrong

    def draft(self, written, limit=None):
        for row in self.truth:
            if row[: len(written)] == list(written):
                guess = row[len(written) : len(written) + min(self.tokens, limit if limit is not None else 99)]
                return [token + 1 for token in guess] if self.wrong else guess
        return []


@pytest.mark.parametrize("width", [1, 3])
def test_drafted_branches_are_greedy_token_for_token(model, width):
    prompt = torch.randint(3, 300, (WINDOW - 8,), generator=torch.Generator().manual_seed(2)).tolist()
    options = dict(width=width, eos_id=-1, max_new_tokens=21, clamps={0: [5, 6, 7, 8], 3: 9})
    plain = greedy_branches(model, prompt, **options)
    assert plain.forwards == 21 and plain.accepted == 0
    right = greedy_branches(model, prompt, drafts=Oracle(plain.candidates, tokens=4), **options)
    wrong = greedy_branches(model, prompt, drafts=Oracle(plain.candidates, tokens=4, wrong=True), **options)
    looked_up = greedy_branches(model, prompt, drafts=PromptLookup(prompt, tokens=3), **options)
    for drafted in (right, wrong, looked_up):
        assert drafted.candidates == plain.candidates
        assert drafted.finished == plain.finished
    assert wrong.forwards == 21 and wrong.accepted == 0
    # the first token comes from the prompt's forward; then each forward checks 4 drafted tokens and adds a 5th
    assert right.forwards == 1 + 4 and right.accepted == 16 * width


def test_drafted_branches_stop_where_greedy_ones_do(model):
    prompt = torch.randint(3, 300, (30,), generator=torch.Generator().manual_seed(4)).tolist()
    plain = greedy_branches(model, prompt, width=2, eos_id=-1, max_new_tokens=12)
    stop_at = plain.candidates[0][5]  # a token the first branch writes: it ends that branch there
    options = dict(width=2, eos_id=-1, max_new_tokens=12, stop_ids=frozenset({stop_at}))
    expected = greedy_branches(model, prompt, **options)
    drafted = greedy_branches(model, prompt, drafts=Oracle(plain.candidates, tokens=8), **options)
    assert drafted.candidates == expected.candidates and drafted.finished == expected.finished
    assert drafted.candidates[0][-1] == stop_at and len(drafted.candidates[0]) <= 6
