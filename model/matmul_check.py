"""bfloat16 matrix products in the lean forward against fp32: held-out loss and step time, side by side.

    python model/matmul_check.py                   # 16 real-code dev files, 512 tokens each; 2 threads
    python model/matmul_check.py --files 32 --threads 1

The loss is the embedded encoder's next-token loss (nats per token) through `lean.encode`, first with the model's
fp32 projections, then with `lean.pack_bfloat16` (the same model, its projections multiplied in bfloat16 through
oneDNN). Step times are medians of one decode step over a 384-token cache at 1, 4 and 12 rows (4 line branches
with 2 drafted tokens each are 12), the two ways alternating. The files are the real-code benchmark's dev split:
written after the base model's training data.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on a shared machine
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import copy
import json
import statistics
import time

import torch


@torch.inference_mode()
def mean_loss(model, sequences: list[list[int]]) -> float:
    from dgemma_lsp.diffusion.lean import encode, head_logits, new_cache

    total, count = 0.0, 0
    for ids in sequences:
        x = torch.tensor([ids])
        logits = head_logits(model, encode(model, x, new_cache(model)))[0, :-1].float()
        total += torch.nn.functional.cross_entropy(logits, x[0, 1:], reduction="sum").item()
        count += len(ids) - 1
    return total / count


@torch.inference_mode()
def step_ms(model, encoder, layers: dict, rows: int, reps: int) -> dict:
    """Median ms of one step at `rows` rows for each arm; `layers` maps an arm to its (layers, head)."""
    from dgemma_lsp.diffusion.lean import encode, head_logits, new_cache

    cache = new_cache(model)
    encode(model, torch.randint(100, 5000, (1, 384), generator=torch.Generator().manual_seed(0)), cache)
    times: dict[str, list[float]] = {name: [] for name in layers}
    for _ in range(reps):
        for name, (kept, head) in layers.items():
            encoder._layers, encoder.head = kept, head
            batch = copy.deepcopy(cache)
            width = 4 if rows >= 4 else 1
            if width > 1:
                batch.batch_repeat_interleave(width)
            x = torch.randint(100, 5000, (width, rows // width))
            started = time.perf_counter()
            head_logits(model, encode(model, x, batch))
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: round(statistics.median(values[1:]), 1) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from dgemma_lsp.diffusion import lean, loading
    from dgemma_lsp.evaluation.realcode import data_dir, load_files
    from dgemma_lsp.settings import Settings

    loaded = loading.load(Settings(matmuls="float32"))
    model, tokenizer = loaded.model, loaded.tokenizer
    files = [f for f in load_files(data_dir() / "python.jsonl.gz", "dev") if len(f.text) > 4000][: args.files]
    sequences = [
        [tokenizer.bos_token_id] + tokenizer(f.text, add_special_tokens=False)["input_ids"][: args.tokens]
        for f in files
    ]
    encoder = lean.LeanEncoder.of(model)
    if encoder is None or not lean.bfloat16_matmuls_available(model):
        raise SystemExit("no lean forward or no bfloat16 matmuls on this machine")
    fp32 = mean_loss(model, sequences)
    plain = list(encoder._layers)
    lean.pack_bfloat16(model)
    bf16 = mean_loss(model, sequences)
    layers = {"float32": (plain, None), "bfloat16": (list(encoder._layers), encoder.head)}
    steps = {rows: step_ms(model, encoder, layers, rows, args.reps) for rows in (1, 4, 12)}
    report = {
        "files": len(sequences),
        "tokens": sum(len(s) - 1 for s in sequences),
        "threads": args.threads,
        "loss_float32": round(fp32, 4),
        "loss_bfloat16": round(bf16, 4),
        "gap": round(bf16 - fp32, 4),
        "step_ms_by_rows": steps,
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
