"""A code vocabulary cut from Gemma 3's 262k tokenizer: the tokens a code corpus uses, byte fallback, and this
project's special tokens at ids 0..9 (the FIM markers taken from Gemma's `<unusedN>` tokens).

`prune_tokenizer` works on the `tokenizer.json` that transformers writes for Gemma 3 (a byte-fallback BPE over
`▁`-for-space text). Merges survive when both parts and their result are kept, and every kept token keeps a way
to be built, so text made of kept tokens tokenizes as before; anything else falls back to smaller pieces and, at
worst, to bytes, so every UTF-8 text still round-trips. The returned id list maps each new id to Gemma's, which is
how the embedding rows are chosen (`gemma3.read_gguf`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS

# Gemma tokens whose embeddings the special tokens take, in SPECIAL_TOKENS order. <pad>, <eos> and <bos> are
# Gemma's own; the FIM markers and the image ids (which never occur in text) take unused slots.
GEMMA_SPECIALS = (
    "<pad>",
    "<eos>",
    "<bos>",
    "<unused0>",
    "<unused1>",
    "<unused2>",
    "<unused3>",
    "<unused4>",
    "<unused5>",
    "<unused6>",
)
UNKNOWN = "<unk>"  # BPE's unknown token; byte fallback means it is never produced, but the model wants one


def byte_tokens() -> list[str]:
    return [f"<0x{b:02X}>" for b in range(256)]


def prune_tokenizer(gemma_tokenizer: dict, used: Iterable[str]) -> tuple[dict, list[int]]:
    """(the pruned tokenizer.json, Gemma id of each new id). `used`: token strings a corpus uses, most useful
    first; all are kept (plus the pieces that build them), so cut the list to the size wanted before calling."""
    vocab: dict[str, int] = gemma_tokenizer["model"]["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in gemma_tokenizer["model"]["merges"]]
    added = {a["content"]: a for a in gemma_tokenizer["added_tokens"]}
    producers: dict[str, list[tuple[str, str]]] = {}
    for left, right in merges:
        producers.setdefault(left + right, []).append((left, right))

    kept: dict[str, None] = dict.fromkeys(byte_tokens())
    kept[UNKNOWN] = None
    pending = [token for token in used if token in vocab and token not in SPECIAL_TOKENS]
    while pending:  # every kept token keeps every merge that builds it, and those merges' parts
        token = pending.pop()
        if token in kept:
            continue
        kept[token] = None
        for left, right in producers.get(token, ()):
            pending.extend(part for part in (left, right) if part not in kept)
    ordinary = sorted((t for t in kept if t not in GEMMA_SPECIALS), key=vocab.__getitem__)
    new_vocab = {special: i for i, special in enumerate(SPECIAL_TOKENS)}
    gemma_ids = [vocab[g] for g in GEMMA_SPECIALS]
    for token in ordinary:
        new_vocab[token] = len(new_vocab)
        gemma_ids.append(vocab[token])

    pruned = json.loads(json.dumps(gemma_tokenizer))  # a deep copy of the plain JSON
    pruned["model"]["vocab"] = new_vocab
    pruned["model"]["merges"] = [[a, b] for a, b in merges if a in new_vocab and b in new_vocab and a + b in new_vocab]
    pruned["added_tokens"] = [{**added[token], "id": new_vocab[token]} for token in ordinary if token in added] + [
        _special(token, i) for i, token in enumerate(SPECIAL_TOKENS)
    ]
    pruned["added_tokens"].sort(key=lambda a: a["id"])
    pruned["post_processor"] = None  # prompts put <bos> and the markers in by id
    return pruned, gemma_ids


def _special(token: str, token_id: int) -> dict:
    return {
        "id": token_id,
        "content": token,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }
