"""The canvas drafter (`canvas_drafter.py`): its forward is the encoder's arithmetic over canvas rows, its targets
are greedy decoding's own tokens, and training moves the adapter only. On a small Gemma 3 converted as the
embedded model is."""

from __future__ import annotations

import pytest
import torch
from test_gemma3_conversion import converted, small_gemma

from dgemma_lsp.diffusion.canvas_drafter import (
    CanvasAdapter,
    DrafterShape,
    canvas_hidden,
    canvas_mask,
    canvas_positions,
    chain_targets,
)
from dgemma_lsp.diffusion.lean import LeanEncoder, encode, new_cache


@pytest.fixture(scope="module")
def model():
    model = converted(small_gemma())
    model.requires_grad_(False)
    return model


def context(model, tokens: torch.Tensor):
    cache = new_cache(model)
    hidden = encode(model, tokens, cache)
    n = tokens.shape[1]
    keys = [k[:, :, :n].clone() for k in cache.keys]
    values = [v[:, :, :n].clone() for v in cache.values]
    return hidden, keys, values


def test_an_untrained_one_slot_canvas_holding_the_next_token_is_the_encoder_itself(model):
    """A canvas row sees the context up to its anchor and its own canvas: with one slot whose embedding is the
    next token's and no update yet, that is exactly the causal encoder at that position."""
    encoder = LeanEncoder.of(model)
    tokens = torch.randint(3, 300, (1, 40), generator=torch.Generator().manual_seed(3))
    hidden, keys, values = context(model, tokens)
    for anchor in (5, 20, 38):
        embedding = encoder._embed(tokens[:, anchor + 1])[0]
        adapter = CanvasAdapter(encoder, DrafterShape(slots=1, rank=4), init=embedding)
        anchors = torch.tensor([anchor])
        slot_index, positions = canvas_positions(anchors, 1)
        # the context up to the anchor only: the cache past it would be the canvas row's own key, seen twice
        cut = anchor + 1
        mask = canvas_mask(anchors, 1, cut)
        with torch.no_grad():
            out = canvas_hidden(
                encoder, adapter, [k[:, :, :cut] for k in keys], [v[:, :, :cut] for v in values],
                slot_index, positions, mask,
            )  # fmt: skip
        torch.testing.assert_close(out[0, 0], hidden[0, anchor + 1], atol=1e-4, rtol=1e-4)


def test_canvas_rows_see_their_anchor_prefix_and_their_own_canvas_only():
    mask = canvas_mask(torch.tensor([1, 3]), slots=2, context=5)[0, 0]
    assert mask.shape == (4, 9)
    # rows 0-1 after anchor 1: context 0..1 and canvas rows 0-1
    assert mask[0].tolist() == [True, True, False, False, False, True, True, False, False]
    assert mask[1].tolist() == mask[0].tolist()
    # rows 2-3 after anchor 3: context 0..3 and canvas rows 2-3
    assert mask[3].tolist() == [True, True, True, True, False, False, False, True, True]
    windowed = canvas_mask(torch.tensor([3]), slots=2, context=5, window=3)[0, 0]
    # slot 1 sits at position 5: a window of 3 keeps positions 3..5, so of the context only 3
    assert windowed[1].tolist() == [False, False, False, True, False, True, True]


def test_targets_follow_the_greedy_chain_as_far_as_it_is_known():
    tokens = torch.tensor([0, 10, 11, 12, 13, 14, 15, 16])
    # greedy's next token at each position: right at 0-3 and 5, wrong (99) at 4, 6 is the last prediction used
    greedy = torch.tensor([10, 11, 12, 13, 99, 15, 77, 0])
    anchors, targets = chain_targets(tokens, greedy, slots=3, first=0)
    assert anchors.tolist() == [0, 1, 2, 3]  # anchors where greedy's next token is the text's
    # from anchor 0, greedy writes 10 (the verifier's own token), then 11, 12, 13: the chain follows the text
    assert targets[0].tolist() == [11, 12, 13]
    # from anchor 2: 12, then 13, then greedy departs at position 4 (99): known, and nothing after it
    assert targets[2].tolist() == [13, 99, -100]
    assert targets[3].tolist() == [99, -100, -100]


def test_training_moves_the_adapter_and_nothing_of_the_model(model):
    encoder = LeanEncoder.of(model)
    torch.manual_seed(0)
    tokens = torch.randint(3, 300, (1, 30), generator=torch.Generator().manual_seed(4))
    _, keys, values = context(model, tokens)
    adapter = CanvasAdapter(encoder, DrafterShape(slots=2, rank=4), init=encoder._embed(tokens[:, 0])[0])
    before = {name: p.clone() for name, p in model.named_parameters()}
    anchors = torch.tensor([4, 9, 17])
    slot_index, positions = canvas_positions(anchors, 2)
    targets = tokens[0, positions[0] + 1]
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        hidden = canvas_hidden(encoder, adapter, keys, values, slot_index, positions, canvas_mask(anchors, 2, 30))
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden)[0], targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    for name, p in model.named_parameters():
        assert torch.equal(p, before[name]), name


@pytest.mark.parametrize("anchors", [None, 2])
@torch.no_grad()
def test_verifying_and_drafting_in_one_forward_changes_nothing_of_the_encoder(model, anchors):
    """The merged forward's encoder rows equal the encoder alone (rows at their own positions), and each canvas
    equals the canvas forward over the cache up to its anchor."""
    import copy

    from dgemma_lsp.diffusion.canvas_drafter import verify_and_draft

    encoder = LeanEncoder.of(model)
    torch.manual_seed(5)
    adapter = CanvasAdapter(encoder, DrafterShape(slots=2, rank=4), init=encoder._embed(torch.tensor([7]))[0])
    for b in adapter.lora_b:
        b.normal_(0, 0.02)  # a trained-looking update: the canvas rows must differ from the encoder's arithmetic
    prompt = torch.randint(3, 300, (1, 20), generator=torch.Generator().manual_seed(6))
    shared = new_cache(model)
    encode(model, prompt, shared)
    shared.batch_repeat_interleave(2)
    encode(model, torch.tensor([[40, 41, 42], [50, 0, 0]]), shared)  # row 1 keeps one of them: starts differ
    starts = [23, 21]
    inputs = torch.tensor([[60, 61, 62], [70, 71, 72]])
    alone = copy.deepcopy(shared)
    expected = encode(model, inputs, alone, starts)
    merged_cache = copy.deepcopy(shared)
    verified, canvases = verify_and_draft(encoder, adapter, inputs, merged_cache, starts, anchors)
    assert canvases.shape[:3] == (2, anchors or 3, 2)
    torch.testing.assert_close(verified, expected, atol=1e-5, rtol=1e-5)
    for index in range(len(alone.keys)):
        torch.testing.assert_close(merged_cache.keys[index][:, :, :24], alone.keys[index][:, :, :24])
    for row in range(2):
        for g in range(anchors or 3):
            anchor = starts[row] + g
            cut = anchor + 1
            keys = [k[row : row + 1, :, :cut] for k in alone.keys]
            values = [v[row : row + 1, :, :cut] for v in alone.values]
            slot_index, positions = canvas_positions(torch.tensor([anchor]), 2)
            single = canvas_hidden(
                encoder, adapter, keys, values, slot_index, positions, canvas_mask(torch.tensor([anchor]), 2, cut)
            )
            torch.testing.assert_close(canvases[row, g], single[0], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("width", [1, 3])
def test_branches_drafted_by_the_canvas_are_greedy_token_for_token(model, width):
    from dgemma_lsp.diffusion.autoregressive import greedy_branches
    from dgemma_lsp.diffusion.canvas_drafter import CanvasDrafter
    from dgemma_lsp.diffusion.drafting import PromptLookup

    encoder = LeanEncoder.of(model)
    torch.manual_seed(7)
    adapter = CanvasAdapter(encoder, DrafterShape(slots=3, rank=4), init=encoder._embed(torch.tensor([9]))[0])
    with torch.no_grad():
        for b in adapter.lora_b:
            b.normal_(0, 0.05)
    drafter = CanvasDrafter(model, adapter)
    prompt = torch.randint(3, 300, (56,), generator=torch.Generator().manual_seed(2)).tolist()
    options = dict(width=width, eos_id=-1, max_new_tokens=21, clamps={0: [5, 6, 7, 8], 3: 9})
    plain = greedy_branches(model, prompt, **options)
    canvas = greedy_branches(model, prompt, canvas=drafter, **options)
    both = greedy_branches(model, prompt, canvas=drafter, drafts=PromptLookup(prompt, tokens=3), **options)
    for drafted in (canvas, both):
        assert drafted.candidates == plain.candidates
        assert drafted.finished == plain.finished
        assert drafted.forwards <= plain.forwards


def test_a_canvas_that_drafts_greedy_s_tokens_commits_them(model):
    """A drafter whose canvas always holds the right tokens (its drafts replaced by greedy's own) commits the
    verifier's token plus all its slots per forward: the acceptance rule keeps every right draft."""
    from dgemma_lsp.diffusion.autoregressive import greedy_branches
    from dgemma_lsp.diffusion.canvas_drafter import CanvasDrafter

    encoder = LeanEncoder.of(model)
    adapter = CanvasAdapter(encoder, DrafterShape(slots=3, rank=4), init=encoder._embed(torch.tensor([9]))[0])
    prompt = torch.randint(3, 300, (40,), generator=torch.Generator().manual_seed(8)).tolist()
    truth = list(range(100, 113))  # clamped one id at a time: greedy writes exactly these, all different
    options = dict(width=1, eos_id=-1, max_new_tokens=13, clamps=dict(enumerate(truth)))
    assert greedy_branches(model, prompt, **options).candidates == [truth]
    written: list[int] = []

    class Knowing(CanvasDrafter):
        def drafts(self, canvases):  # the canvas is denoised after the verifier's own next token, written now
            return [truth[len(written) : len(written) + 3] for _ in range(len(canvases))]

    def stop(tokens):
        written[:] = tokens
        return None

    drafted = greedy_branches(model, prompt, canvas=Knowing(model, adapter), stop=stop, **options)
    assert drafted.candidates == [truth]
    # the prompt's forward gives token 1; the first verifying forward has no draft yet and gives token 2; then
    # each forward checks 3 drafted tokens and adds its own: 11 tokens in 3 forwards
    assert drafted.forwards == 1 + 1 + 3 and drafted.accepted == 8
