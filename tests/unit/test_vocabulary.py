"""The embedded model's vocabulary: Gemma 3's tokenizer pruned to what code uses (`dgemma_lsp.diffusion.vocabulary`).

Any UTF-8 text must round-trip (byte fallback stays), the special tokens sit at ids 0..9 with the FIM markers on
Gemma's `<unusedN>` slots, and text made of kept tokens tokenizes as Gemma's own tokenizer does."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from dgemma_lsp.diffusion.loading import embedded_dir
from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS, special_ids, wrap_tokenizer
from dgemma_lsp.diffusion.vocabulary import GEMMA_SPECIALS, byte_tokens, prune_tokenizer

ODD_TEXTS = [
    "def f(x):\n    return x  # ok\n",
    "a\fbcd\r\n\u2028x\u2029y\u0085z\v\n",
    "tabs\t\tand  spaces   \n\n\n\n",
    "emoji 😀 astral 𝔘𝔫𝔦 and CJK 中文, RTL \u202e!",
    "literal special text: <eos> <bos> <fim_prefix> <unused0> <pad>",
    "\x00\x01\x7f control bytes",
    "",
]


def mini_gemma_tokenizer() -> dict:
    """A Gemma-shaped tokenizer.json: byte-fallback BPE over text with spaces as `▁`."""
    pieces = [*GEMMA_SPECIALS, "<unk>", "<mask>", *byte_tokens(), "▁", "a", "b", "c", "ab", "bc", "abc", "▁abc", "\n"]
    vocab = {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": vocab[t],
                "content": t,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": t.startswith("<"),
            }
            for t in ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "\n")
        ],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
            ],
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": "<unk>",
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [["a", "b"], ["b", "c"], ["ab", "c"], ["▁", "abc"]],
        },
    }


def test_pruning_keeps_what_builds_the_used_tokens():
    original = mini_gemma_tokenizer()
    pruned, gemma_ids = prune_tokenizer(original, ["▁abc"])
    vocab = pruned["model"]["vocab"]
    assert [vocab[t] for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert {"▁abc", "▁", "abc", "ab", "c", "a", "b"} <= vocab.keys()  # the used token and every piece building it
    assert "bc" not in vocab  # nothing used needs it
    assert all(a in vocab and b in vocab and a + b in vocab for a, b in pruned["model"]["merges"])
    assert [gemma_ids[vocab[t]] for t in ("▁abc", "<0x41>")] == [
        original["model"]["vocab"][t] for t in ("▁abc", "<0x41>")
    ]
    # FIM markers and image ids take Gemma's unused slots
    assert [gemma_ids[i] for i in range(len(SPECIAL_TOKENS))] == [original["model"]["vocab"][g] for g in GEMMA_SPECIALS]

    tokenizer = Tokenizer.from_str(json.dumps(pruned))
    assert tokenizer.encode(" abc ab", add_special_tokens=False).tokens == ["▁abc", "▁", "ab"]
    assert tokenizer.encode("bc", add_special_tokens=False).tokens == ["b", "c"]  # falls back to smaller pieces
    encoding = tokenizer.encode("xbcé", add_special_tokens=False)
    assert encoding.tokens[0] == "<0x78>"  # and to bytes
    assert tokenizer.decode(encoding.ids) == "xbcé"


@pytest.fixture(scope="module")
def shipped():
    return wrap_tokenizer(Tokenizer.from_file(str(embedded_dir() / "tokenizer.json")))


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_shipped_tokenizer_round_trips_any_text(shipped, text):
    ids = shipped(text, add_special_tokens=False)["input_ids"]
    assert shipped.decode(ids) == text
    assert all(i >= len(SPECIAL_TOKENS) for i in ids)  # special-token text in code stays ordinary text


def test_shipped_tokenizer_has_the_special_tokens_on_gemma_slots(shipped):
    assert special_ids(shipped) == {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    base = json.loads((embedded_dir() / "base.json").read_text())
    assert (
        len(base["gemma_ids"])
        == len(shipped)
        == json.loads((embedded_dir() / "config.json").read_text())["text_config"]["vocab_size"]
    )
    assert base["gemma_ids"][:3] == [0, 1, 2]  # <pad>, <eos>, <bos> are Gemma's own
    assert len(set(base["gemma_ids"])) == len(base["gemma_ids"])


def test_shipped_tokenizer_splits_code_as_gemma_does(shipped):
    """Gemma writes indentation as its own token: a prompt cut after the indentation ends on a natural token
    boundary, so the embedded model needs no indentation healing."""
    tokens = shipped.convert_ids_to_tokens(shipped("    return x\n", add_special_tokens=False)["input_ids"])
    assert tokens == ["▁▁▁▁", "return", "▁x", "\n"]
