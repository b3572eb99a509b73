"""The embedded tokenizer's special tokens, a byte-level tokenizer for tests, and each tokenizer's token texts
(what the sampler's clamps and the greedy decoder's line stops are built from)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # transformers takes seconds to import; token texts and special ids need none of it
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

# The embedded tokenizer's special tokens, in id order: ids 0..N-1. Image ids exist only because the config
# requires them to lie inside the vocabulary; they never appear in text.
SPECIAL_TOKENS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<fim_prefix>",
    "<fim_suffix>",
    "<fim_middle>",
    "<file_sep>",
    "<image>",
    "<boi>",
    "<eoi>",
)
PAD, EOS, BOS, FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE, FILE_SEP, IMAGE, BOI, EOI = SPECIAL_TOKENS


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer with no merges: 256 byte tokens after the special tokens. Round-trips any UTF-8.

    Used by tests and by the tiny model until a trained tokenizer is given; needs no files.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for symbol in sorted(alphabet):
        vocab[symbol] = len(vocab)
    raw = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens(list(SPECIAL_TOKENS))
    return wrap_tokenizer(raw)


def wrap_tokenizer(raw: Tokenizer) -> PreTrainedTokenizerFast:
    """The transformers wrapper for our tokenizer. Special-token text inside code ("<eos>" in a string literal)
    stays ordinary bytes: prompts insert special tokens by id, never by text."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=raw,
        split_special_tokens=True,
        pad_token=PAD,
        eos_token=EOS,
        bos_token=BOS,
        additional_special_tokens=[FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE, FILE_SEP],
    )


@functools.lru_cache(maxsize=4)
def token_texts(tokenizer) -> tuple[str, ...]:
    """Each id's text, special tokens included: what the sampler's clamps are built from. Decoding a 12k
    vocabulary takes ~30 ms, so once per tokenizer."""
    return tuple(tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=False))


@functools.lru_cache(maxsize=4)
def newline_ids(tokenizer) -> frozenset[int]:
    """Ids whose text holds a newline: where a greedy decode of one line stops."""
    return frozenset(i for i, text in enumerate(token_texts(tokenizer)) if "\n" in text)


def special_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    ids: dict[str, int] = {}
    for token in SPECIAL_TOKENS:
        token_id = tokenizer.convert_tokens_to_ids(token)  # one id for one token; None from some for an unknown one
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids[token] = token_id
    missing = [token for token in SPECIAL_TOKENS if token not in ids]
    if missing:
        raise ValueError(f"tokenizer lacks special tokens {missing}")
    return ids
