"""Train the embedded byte-level BPE tokenizer on a sample of the corpus's train split.

    python model/train_tokenizer.py     # writes model/bytelevel-tokenizer.json, then fills manifest tokens

Byte-level BPE (exact round trip of any UTF-8, no normalizer, no post-processor), vocabulary 12,288 with the ten
`dgemma_lsp.diffusion.tokens.SPECIAL_TOKENS` at ids 0..9. A code-aware split runs before the byte mapping: identifiers
(letters, digits, `_`) with one optional leading space or punctuation mark, numbers in groups of at most three
digits, punctuation runs, newlines, and runs of spaces/tabs (indentation) as their own pieces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

MODEL = Path(__file__).resolve().parent
ROOT = MODEL.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(MODEL))

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402

from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS  # noqa: E402

OUTPUT = ROOT / "model/bytelevel-tokenizer.json"  # the retired from-scratch model's tokenizer
CORPUS = MODEL / "work/corpus"
VOCAB_SIZE = 12_288
MIN_FREQUENCY = 2
SAMPLE_BYTES = 40_000_000  # of the train split; chosen by a hash of (package, path), so the sample is fixed
SAMPLE_SALT = "tokenizer-v1"

# One alternative per piece kind; order matters (first match wins at each position).
SPLIT_PATTERN = (
    r"[^\r\n\p{L}\p{N}_]?[\p{L}\p{M}_][\p{L}\p{M}\p{N}_]*"  # identifier, with one leading space/punctuation mark
    r"|\p{N}{1,3}"  # numbers: at most three digits a piece
    r"| ?[^\s\p{L}\p{N}_]+[\r\n]*"  # punctuation / operators, with trailing newlines
    r"|\s*[\r\n]+"  # newlines (and blanks before them)
    r"|\s+(?!\S)"  # a run of spaces/tabs: indentation, leaving one space to the next word
    r"|\s+"
)


def build_tokenizer() -> tuple[Tokenizer, trainers.BpeTrainer]:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=MIN_FREQUENCY,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    return tokenizer, trainer


def sample_keep(package: str, path: str, fraction: float) -> bool:
    digest = hashlib.sha256(f"{SAMPLE_SALT}\0{package}\0{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < fraction * 2**64


def sample_texts(split_file: Path, budget: int) -> tuple[list[str], dict]:
    total = sum(len(json.loads(line)["text"].encode()) for line in open(split_file, encoding="utf-8"))
    fraction = min(1.0, budget / total)
    texts, by_language = [], {}
    with open(split_file, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if sample_keep(record["package"], record["path"], fraction):
                texts.append(record["text"])
                by_language[record["language"]] = by_language.get(record["language"], 0) + len(record["text"].encode())
    info = dict(
        fraction=round(fraction, 4),
        files=len(texts),
        bytes=sum(by_language.values()),
        bytes_by_language=by_language,
        salt=SAMPLE_SALT,
    )
    return texts, info


def bytes_per_token(tokenizer: Tokenizer, split_file: Path) -> dict[str, float]:
    raw = Tokenizer.from_str(tokenizer.to_str())
    raw.encode_special_tokens = True
    sizes: dict[str, list[int]] = {}
    with open(split_file, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    encodings = raw.encode_batch([r["text"] for r in records], add_special_tokens=False)
    for record, encoding in zip(records, encodings):
        acc = sizes.setdefault(record["language"], [0, 0])
        acc[0] += len(record["text"].encode())
        acc[1] += len(encoding.ids)
    return {language: round(b / max(t, 1), 3) for language, (b, t) in sorted(sizes.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-count", action="store_true", help="skip filling token counts in the manifest")
    args = parser.parse_args()
    os.environ.setdefault("RAYON_NUM_THREADS", "2")
    t0 = time.time()
    texts, info = sample_texts(CORPUS / "train.jsonl", SAMPLE_BYTES)
    print(f"sample: {json.dumps(info)}", flush=True)
    tokenizer, trainer = build_tokenizer()
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    del texts
    for i, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == i, f"{token} is not at id {i}"
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(OUTPUT))
    print(f"trained in {time.time() - t0:.0f}s: vocab {tokenizer.get_vocab_size()} -> {OUTPUT}", flush=True)
    ratios = bytes_per_token(tokenizer, CORPUS / "valid.jsonl")
    print(f"valid bytes per token: {json.dumps(ratios)}", flush=True)
    stats_path = CORPUS / "stats.json"
    if stats_path.exists():
        stats = json.loads(stats_path.read_text())
        stats["tokenizer"] = dict(
            sample=info,
            vocab_size=tokenizer.get_vocab_size(),
            valid_bytes_per_token=ratios,
            min_frequency=MIN_FREQUENCY,
            split_pattern=SPLIT_PATTERN,
        )
        stats_path.write_text(json.dumps(stats, indent=1))
    if not args.no_count:
        import corpus

        corpus.count_tokens(OUTPUT)


if __name__ == "__main__":
    main()
