"""Greedy AR decoding with the encoder's KV cache: the same tokens as re-encoding everything each step."""

import pytest
import torch

from dgemma_lsp.diffusion.autoregressive import continuation_logprobs, greedy_branches, greedy_decode
from dgemma_lsp.diffusion.configs import cache_argument, tiny_model
from dgemma_lsp.diffusion.tokens import EOS, special_ids
from dgemma_lsp.errors import CancelledError


@pytest.fixture(scope="module")
def tiny():
    model, tokenizer = tiny_model(seed=0)
    prompt = tokenizer("def add(a, b):\n    return", add_special_tokens=False)["input_ids"]
    return model, prompt, special_ids(tokenizer)[EOS]


@torch.inference_mode()
def greedy_without_cache(model, prompt, steps):
    """The reference: the whole sequence through the encoder for every token, argmax of the tied LM head."""
    ids = list(prompt)
    for _ in range(steps):
        hidden = model.model.encoder(input_ids=torch.tensor([ids])).last_hidden_state
        ids.append(int(model.lm_head(hidden[:, -1]).argmax(-1)))
    return ids[len(prompt) :]


def test_cached_greedy_matches_re_encoding_every_step(tiny):
    model, prompt, _ = tiny
    result = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=12)
    assert result.tokens == greedy_without_cache(model, prompt, 12)
    assert result.forwards == 12 and not result.finished
    assert result.forward_seconds > 0


def test_stops_at_eos_and_at_stop_ids(tiny):
    model, prompt, _ = tiny
    free = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=8).tokens
    at_eos = greedy_decode(model, prompt, eos_id=free[3], max_new_tokens=8)
    assert at_eos.finished and at_eos.tokens == free[: free.index(free[3])]
    stopped = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=8, stop_ids=frozenset({free[2]}))
    assert stopped.finished and stopped.tokens == free[: free.index(free[2]) + 1]  # the stop token is kept


def test_cancellation_between_tokens(tiny):
    model, prompt, _ = tiny
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(CancelledError):
        greedy_decode(model, prompt, eos_id=-1, max_new_tokens=20, is_cancelled=cancelled)


def test_clamps_narrow_each_generated_token(tiny):
    model, prompt, _ = tiny
    free = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=4).tokens
    pinned = (free[0] + 1) % 200 + 10
    clamped = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=4, clamps={0: pinned, 2: {free[2], 7, 8}})
    assert clamped.tokens[0] == pinned and clamped.tokens[2] in {free[2], 7, 8}
    assert clamped.tokens != free  # the pin moved what follows it


def test_a_cache_holding_the_prompt_start_gives_the_same_tokens(tiny):
    from transformers import DynamicCache

    model, prompt, _ = tiny
    cache = DynamicCache(config=model.config.get_text_config())
    with torch.inference_mode():
        model.model.encoder(input_ids=torch.tensor([prompt[:-3]]), **cache_argument(model.model.encoder, cache))
    resumed = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=6, cache=cache)
    assert resumed.tokens == greedy_decode(model, prompt, eos_id=-1, max_new_tokens=6).tokens


def test_branches_start_from_the_likeliest_first_tokens_and_each_goes_on_greedily(tiny):
    model, prompt, _ = tiny
    with torch.inference_mode():
        hidden = model.model.encoder(input_ids=torch.tensor([prompt])).last_hidden_state
        firsts = model.lm_head(hidden[:, -1])[0].topk(3).indices.tolist()
    branches = greedy_branches(model, prompt, width=3, eos_id=-1, max_new_tokens=6)
    assert [ids[0] for ids in branches.candidates] == firsts
    for ids in branches.candidates:
        assert ids == greedy_decode(model, prompt, eos_id=-1, max_new_tokens=6, clamps={0: ids[0]}).tokens
    assert branches.forwards == 6  # one batched forward per token, not one per branch


def test_a_first_token_likely_enough_decodes_alone_unless_it_ends_the_line(tiny):
    model, prompt, _ = tiny
    with torch.inference_mode():
        hidden = model.model.encoder(input_ids=torch.tensor([prompt])).last_hidden_state
        probabilities = model.lm_head(hidden[:, -1])[0].float().softmax(-1)
    best = int(probabilities.argmax())
    likely = float(probabilities[best])
    options = {"width": 3, "eos_id": -1, "max_new_tokens": 4}
    wide = greedy_branches(model, prompt, **options)
    alone = greedy_branches(model, prompt, alone_above=likely * 0.99, **options)
    assert alone.candidates == wide.candidates[:1]  # the likeliest branch, token for token
    assert greedy_branches(model, prompt, alone_above=likely * 1.01, **options).candidates == wide.candidates
    ending = greedy_branches(model, prompt, alone_above=likely * 0.99, stop_ids=frozenset({best}), **options)
    assert [ids[0] for ids in ending.candidates] == [ids[0] for ids in wide.candidates]  # an empty line never alone


def test_a_finished_branch_leaves_the_batch_and_the_others_go_on(tiny):
    model, prompt, _ = tiny
    wide = greedy_branches(model, prompt, width=3, eos_id=-1, max_new_tokens=8)
    stop_at = wide.candidates[1][2]  # the second branch's third token ends every branch that writes it
    stopped = greedy_branches(model, prompt, width=3, eos_id=-1, max_new_tokens=8, stop_ids=frozenset({stop_at}))
    for free, cut, done in zip(wide.candidates, stopped.candidates, stopped.finished):
        expected = free[: free.index(stop_at) + 1] if stop_at in free else free
        assert cut == expected and done == (stop_at in free)


def test_branches_honour_clamps_on_the_first_token(tiny):
    model, prompt, _ = tiny
    allowed = {11, 12}
    branches = greedy_branches(model, prompt, width=4, eos_id=-1, max_new_tokens=3, clamps={0: allowed})
    assert sorted(ids[0] for ids in branches.candidates) == sorted(allowed)  # only two are allowed


@torch.inference_mode()
def test_continuation_scores_are_the_log_likelihood_under_a_full_forward(tiny):
    from transformers import DynamicCache

    model, prompt, _ = tiny
    continuations = [[20, 21, 22, 23], [30], [40, 41]]
    cache = DynamicCache(config=model.config.get_text_config())
    model.model.encoder(input_ids=torch.tensor([prompt[:-1]]), **cache_argument(model.model.encoder, cache))
    scores = continuation_logprobs(model, cache, prompt[-1], continuations)
    for ids, score in zip(continuations, scores):
        hidden = model.model.encoder(input_ids=torch.tensor([prompt + ids])).last_hidden_state
        logits = model.lm_head(hidden[0])
        cap = model.config.get_text_config().final_logit_softcapping
        if cap:
            logits = torch.tanh(logits / cap) * cap
        logprobs = logits.float().log_softmax(-1)
        expected = sum(float(logprobs[len(prompt) - 1 + i, token]) for i, token in enumerate(ids))
        assert score == pytest.approx(expected, abs=1e-3)


def decoded(tokenizer, ids):
    return tokenizer.decode(ids)


@pytest.fixture(scope="module")
def tiny_with_texts():
    from dgemma_lsp.diffusion.tokens import token_texts

    model, tokenizer = tiny_model(seed=0)
    prompt = tokenizer("def add(a, b):\n    ", add_special_tokens=False)["input_ids"]
    return model, tokenizer, prompt, token_texts(tokenizer)


def test_an_opening_branch_writes_its_text_whole_then_goes_on_greedily(tiny_with_texts):
    """The byte tokenizer spells `total_sum` in nine tokens; the branch writes all of them, then a token that
    ends the word, then its own greedy choices. An opening that ends in punctuation needs no such token."""
    model, tokenizer, prompt, texts = tiny_with_texts
    branches = greedy_branches(
        model, prompt, width=2, eos_id=-1, max_new_tokens=14, openings=["total_sum", "f("], texts=texts
    )
    assert len(branches.candidates) == 4  # two first tokens, then one branch per opening
    word, call = branches.candidates[2], branches.candidates[3]
    assert decoded(tokenizer, word[:9]) == "total_sum"
    after = texts[word[9]][:1]
    assert not (after.isalnum() or after == "_")  # the word ends there
    assert word[10:] == greedy_decode(model, prompt + word[:10], eos_id=-1, max_new_tokens=4).tokens
    assert decoded(tokenizer, call[:2]) == "f("
    assert call[2:] == greedy_decode(model, prompt + call[:2], eos_id=-1, max_new_tokens=12).tokens


def test_a_word_branch_starts_the_word_only_where_the_model_ranks_its_start(tiny_with_texts):
    model, tokenizer, prompt, texts = tiny_with_texts
    greedy = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=8).tokens
    absent = next(c for c in "qzxjkvw" if all(c not in texts[t] for t in greedy))  # never the argmax here
    narrow = greedy_branches(model, prompt, width=1, eos_id=-1, max_new_tokens=8, words=[absent], texts=texts)
    assert narrow.candidates[1] == greedy  # top-8 of a random model never ranked it first: the greedy line
    wide = greedy_branches(
        model, prompt, width=1, eos_id=-1, max_new_tokens=8, words=[absent + "_n"], texts=texts, word_top_k=10_000
    )
    assert decoded(tokenizer, wide.candidates[1]).startswith(absent + "_n")  # ranked somewhere at the first token


def test_an_opening_the_clamps_forbid_leaves_the_greedy_line(tiny_with_texts):
    model, tokenizer, prompt, texts = tiny_with_texts
    keyword = tokenizer("i", add_special_tokens=False)["input_ids"]
    clamps = {0: keyword[0]}  # as a block opener's clamp allows only keywords first
    plain = greedy_decode(model, prompt, eos_id=-1, max_new_tokens=6, clamps=clamps).tokens
    branches = greedy_branches(
        model, prompt, width=1, eos_id=-1, max_new_tokens=6, clamps=clamps, openings=["total"], texts=texts
    )
    assert branches.candidates[1] == plain


def test_words_need_the_token_texts(tiny_with_texts):
    model, _, prompt, _ = tiny_with_texts
    for extra in ({"words": ["x"]}, {"openings": ["x"]}):
        with pytest.raises(ValueError, match="texts"):
            greedy_branches(model, prompt, width=1, eos_id=-1, max_new_tokens=2, **extra)
