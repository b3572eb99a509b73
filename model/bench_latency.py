"""Pick the model size by latency: time one decoder step and one 512-token encode for candidate configs.

The completion latency the user feels is (encode the new prefix) + (steps per canvas) x (one decoder step), so the
decoder step is what the model size must fit: ~15 ms on one core keeps 16 steps of a 32-token canvas near 250 ms.
Everything runs as the server will: float32, one torch thread, `torch.inference_mode`, a DynamicCache filled by
the encoder, and the previous step's logits fed back as self-conditioning.

    python model/bench_latency.py                 # the candidate table, canvas 32 and 64
    python model/bench_latency.py --write         # also write the chosen config into model/config.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import DiffusionGemmaForBlockDiffusion, DynamicCache

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from dgemma_lsp.modeling import SmallConfig, build_config, byte_tokenizer, parameter_count, special_ids  # noqa: E402

VOCAB = 12288
CONTEXT = 512
TARGET_STEP_MS = 15.0
CONFIG_PATH = Path(__file__).with_name("config.json")

# (name, SmallConfig fields): hidden 192-384, 3-8 layers, 2-8 experts with top-1/top-2.
CANDIDATES: list[tuple[str, dict]] = [
    ("h192-l4-e4k1", dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=3, num_key_value_heads=1,
                          head_dim=64, intermediate_size=512, num_experts=4, top_k_experts=1,
                          moe_intermediate_size=256)),
    ("h256-l3-e2k1", dict(hidden_size=256, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                          head_dim=64, intermediate_size=512, num_experts=2, top_k_experts=1,
                          moe_intermediate_size=256)),
    ("h256-l4-e4k1", dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                          head_dim=64, intermediate_size=512, num_experts=4, top_k_experts=1,
                          moe_intermediate_size=256)),
    ("h256-l6-e4k1", dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
                          head_dim=64, intermediate_size=512, num_experts=4, top_k_experts=1,
                          moe_intermediate_size=256)),
    ("h256-l6-e8k2", dict(hidden_size=256, num_hidden_layers=6, num_attention_heads=4, num_key_value_heads=2,
                          head_dim=64, intermediate_size=512, num_experts=8, top_k_experts=2,
                          moe_intermediate_size=128)),
    ("h256-l8-e4k1", dict(hidden_size=256, num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2,
                          head_dim=64, intermediate_size=512, num_experts=4, top_k_experts=1,
                          moe_intermediate_size=256)),
    ("h320-l6-e4k1", dict(hidden_size=320, num_hidden_layers=6, num_attention_heads=5, num_key_value_heads=1,
                          head_dim=64, intermediate_size=640, num_experts=4, top_k_experts=1,
                          moe_intermediate_size=320)),
    ("h384-l4-e4k1", dict(hidden_size=384, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=2,
                          head_dim=64, intermediate_size=768, num_experts=4, top_k_experts=1,
                          moe_intermediate_size=384)),
    ("h384-l6-e8k2", dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, num_key_value_heads=2,
                          head_dim=64, intermediate_size=768, num_experts=8, top_k_experts=2,
                          moe_intermediate_size=192)),
]


def _ids() -> dict[str, int]:
    # Special ids only; the byte tokenizer's ids 0..9 match the trained tokenizer's by construction.
    return special_ids(byte_tokenizer())


def build(fields: dict, canvas: int) -> DiffusionGemmaForBlockDiffusion:
    torch.manual_seed(0)
    small = SmallConfig(vocab_size=VOCAB, canvas_length=canvas, **fields)
    return DiffusionGemmaForBlockDiffusion(build_config(small, _ids())).eval()


def _median_ms(fn, reps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


@torch.inference_mode()
def measure(model: DiffusionGemmaForBlockDiffusion, canvas: int, step_reps: int, encode_reps: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    first_text_id = len(_ids())  # random text ids, no special tokens
    prompt = torch.randint(first_text_id, VOCAB, (1, CONTEXT), generator=generator)  # [1, T]

    def encode() -> DynamicCache:
        cache = DynamicCache(config=model.config.text_config)
        model.model.encoder(input_ids=prompt, past_key_values=cache)
        return cache

    encode_ms = _median_ms(encode, encode_reps, warmup=1)
    cache = encode()
    canvas_ids = torch.randint(first_text_id, VOCAB, (1, canvas), generator=generator)  # [1, C]
    logits = model(decoder_input_ids=canvas_ids, past_key_values=cache).logits  # [1, C, V]

    def step():
        # The decoder only reads the cache, so every repetition sees the same 512 encoded tokens.
        return model(decoder_input_ids=canvas_ids, past_key_values=cache, self_conditioning_logits=logits).logits

    assert cache.get_seq_length() == CONTEXT
    step_ms = _median_ms(step, step_reps)
    assert cache.get_seq_length() == CONTEXT, "the decoder must not grow the cache"
    return {"step_ms": round(step_ms, 2), "encode_ms": round(encode_ms, 1)}


def train_tokens_per_s(fields: dict, canvas: int, threads: int, steps: int = 4) -> float:
    """Training throughput on a synthetic batch shaped like the real ones (8 rows of ~500 prompt tokens)."""
    import train  # noqa: PLC0415 (only this measurement needs the training code)
    from data import Item, collate  # noqa: PLC0415

    torch.set_num_threads(threads)
    ids, rng = _ids(), torch.Generator().manual_seed(0)
    model = build(fields, canvas).train()
    optimizer = train.make_optimizer(model, train.TRAIN_DEFAULTS)
    lengths = [520, 500, 480, 470, 450, 430, 400, 380]
    items = [Item(ids_ := torch.randint(len(ids), VOCAB, (n,), generator=rng).tolist(), ids_[1:] + [ids["<eos>"]],
                  [1.0] * n, n - 40, torch.randint(len(ids), VOCAB, (canvas,), generator=rng).tolist())
             for n in lengths]
    batch = collate(items, ids)
    tokens = int(batch["attention_mask"].sum()) + batch["canvas"].numel()
    times = []
    for _ in range(steps + 1):  # the first step pays one-time kernel setup
        start = time.perf_counter()
        diffusion, ar = train.losses(model, batch, train.TRAIN_DEFAULTS, rng)
        (diffusion + ar).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    torch.set_num_threads(1)
    return round(tokens / statistics.median(times[1:]), 1)


def choose(rows: list[dict], canvas: int) -> dict | None:
    """The largest (by parameters) candidate whose decoder step fits the target at this canvas."""
    fitting = [r for r in rows if r["canvas"] == canvas and r["step_ms"] <= TARGET_STEP_MS]
    return max(fitting, key=lambda r: r["params"], default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canvas", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    parser.add_argument("--step-reps", type=int, default=25)
    parser.add_argument("--encode-reps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-threads", type=int, default=0,
                        help="also measure training tokens/s with this many threads (0: skip)")
    parser.add_argument("--write", action="store_true", help="write the measured table into model/config.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows = []
    print(f"{'config':<14} {'canvas':>6} {'params':>9} {'step ms':>8} {'encode ms':>10} {'train tok/s':>12}")
    for name, fields in CANDIDATES:
        if args.only and name not in args.only:
            continue
        for canvas in args.canvas:
            model = build(fields, canvas)
            row = {"name": name, "canvas": canvas, "params": parameter_count(model),
                   **measure(model, canvas, args.step_reps, args.encode_reps)}
            if args.train_threads and canvas == args.canvas[0]:
                row["train_tok_per_s"] = train_tokens_per_s(fields, canvas, args.train_threads)
            rows.append(row)
            print(f"{name:<14} {canvas:>6} {row['params'] / 1e6:>8.2f}M {row['step_ms']:>8.2f} "
                  f"{row['encode_ms']:>10.1f} {row.get('train_tok_per_s', ''):>12}", flush=True)

    for canvas in args.canvas:
        best = choose(rows, canvas)
        print(f"canvas {canvas}: largest within {TARGET_STEP_MS} ms/step: {best['name'] if best else 'none'}")

    if args.write:
        config = json.loads(CONFIG_PATH.read_text()) if CONFIG_PATH.exists() else {}
        config["latency"] = {"threads": args.threads, "context": CONTEXT, "vocab": VOCAB,
                             "target_step_ms": TARGET_STEP_MS, "rows": rows}
        CONFIG_PATH.write_text(json.dumps(config, indent=2) + "\n")
        print(f"wrote {CONFIG_PATH}")


if __name__ == "__main__":
    main()
