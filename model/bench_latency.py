"""Pick the model size by latency: time one decoder step and one 512-token encode for candidate configs.

The completion latency the user feels is (encode the new prefix) + (steps per canvas) x (one decoder step), so the
decoder step is what the model size must fit: ~15 ms on one core keeps 16 steps of a 32-token canvas near 250 ms.
Everything runs as the server will: float32, one torch thread, `torch.inference_mode`, a DynamicCache filled by
the encoder, and the previous step's logits fed back as self-conditioning.

    python model/bench_latency.py                 # the candidate table, canvas 32 and 64
    python model/bench_latency.py --write         # also write the chosen config into model/config.json
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as in train.py; must precede the torch import

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
from dgemma_lsp.diffusion.configs import SmallConfig, build_config, cache_argument, parameter_count
from dgemma_lsp.diffusion.tokens import byte_tokenizer, special_ids

VOCAB = 12288
CONTEXT = 512
TARGET_STEP_MS = 15.0
CONFIG_PATH = Path(__file__).with_name("config.json")

# (name, SmallConfig fields): hidden 192-384, 3-8 layers, 2-8 experts with top-1/top-2.
CANDIDATES: list[tuple[str, dict]] = [
    (
        "h192-l4-e4k1",
        dict(
            hidden_size=192,
            num_hidden_layers=4,
            num_attention_heads=3,
            num_key_value_heads=1,
            head_dim=64,
            intermediate_size=512,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=256,
        ),
    ),
    (
        "h192-l6-e4k1",
        dict(
            hidden_size=192,
            num_hidden_layers=6,
            num_attention_heads=3,
            num_key_value_heads=1,
            head_dim=64,
            intermediate_size=512,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=256,
        ),
    ),
    (
        "h256-l3-e2k1",
        dict(
            hidden_size=256,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=512,
            num_experts=2,
            top_k_experts=1,
            moe_intermediate_size=256,
        ),
    ),
    (
        "h256-l4-e4k1",
        dict(
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=512,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=256,
        ),
    ),
    (
        "h256-l6-e4k1",
        dict(
            hidden_size=256,
            num_hidden_layers=6,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=512,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=256,
        ),
    ),
    (
        "h256-l6-e8k2",
        dict(
            hidden_size=256,
            num_hidden_layers=6,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=512,
            num_experts=8,
            top_k_experts=2,
            moe_intermediate_size=128,
        ),
    ),
    (
        "h256-l8-e4k1",
        dict(
            hidden_size=256,
            num_hidden_layers=8,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=512,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=256,
        ),
    ),
    (
        "h320-l6-e4k1",
        dict(
            hidden_size=320,
            num_hidden_layers=6,
            num_attention_heads=5,
            num_key_value_heads=1,
            head_dim=64,
            intermediate_size=640,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=320,
        ),
    ),
    (
        "h384-l4-e4k1",
        dict(
            hidden_size=384,
            num_hidden_layers=4,
            num_attention_heads=6,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=768,
            num_experts=4,
            top_k_experts=1,
            moe_intermediate_size=384,
        ),
    ),
    (
        "h384-l6-e8k2",
        dict(
            hidden_size=384,
            num_hidden_layers=6,
            num_attention_heads=6,
            num_key_value_heads=2,
            head_dim=64,
            intermediate_size=768,
            num_experts=8,
            top_k_experts=2,
            moe_intermediate_size=192,
        ),
    ),
]


def _ids() -> dict[str, int]:
    # Special ids only; the byte tokenizer's ids 0..9 match the trained tokenizer's by construction.
    return special_ids(byte_tokenizer())


def build(fields: dict, canvas: int) -> DiffusionGemmaForBlockDiffusion:
    torch.manual_seed(0)
    small = SmallConfig(vocab_size=VOCAB, canvas_length=canvas, **fields)
    return DiffusionGemmaForBlockDiffusion(build_config(small, _ids())).eval()


class Bench:
    """One candidate, ready to time: a 512-token prompt to encode, and a filled cache + canvas to step on."""

    def __init__(self, name: str, fields: dict, canvas: int):
        self.name, self.fields, self.canvas = name, fields, canvas
        self.model = build(fields, canvas)
        generator = torch.Generator().manual_seed(0)
        first_text_id = len(_ids())  # random text ids, no special tokens
        self.prompt = torch.randint(first_text_id, VOCAB, (1, CONTEXT), generator=generator)  # [1, T]
        self.canvas_ids = torch.randint(first_text_id, VOCAB, (1, canvas), generator=generator)  # [1, C]
        with torch.inference_mode():
            self.cache = self.encode()
            self.logits = self.step(None)  # [1, C, V]: the previous step's logits, fed back as self-conditioning
        self.times: dict[str, list[float]] = {"step": [], "encode": [], "train": []}

    def encode(self) -> DynamicCache:
        cache = DynamicCache(config=self.model.config.text_config)
        self.model.model.encoder(input_ids=self.prompt, **cache_argument(self.model.model.encoder, cache))
        return cache

    def step(self, self_conditioning_logits):
        # The decoder only reads the cache, so every repetition sees the same 512 encoded tokens.
        return self.model(
            decoder_input_ids=self.canvas_ids,
            **cache_argument(self.model, self.cache),
            self_conditioning_logits=self_conditioning_logits,
        ).logits

    @torch.inference_mode()
    def time_step(self) -> None:
        start = time.perf_counter()
        self.step(self.logits)
        self.times["step"].append((time.perf_counter() - start) * 1e3)
        assert self.cache.get_seq_length() == CONTEXT, "the decoder must not grow the cache"

    @torch.inference_mode()
    def time_encode(self) -> None:
        start = time.perf_counter()
        self.encode()
        self.times["encode"].append((time.perf_counter() - start) * 1e3)

    def row(self) -> dict:
        def stats(values, digits):
            ordered = sorted(values)
            return round(statistics.median(ordered), digits), round(ordered[len(ordered) // 10], digits)

        step_ms, step_p10 = stats(self.times["step"], 2)
        encode_ms, encode_p10 = stats(self.times["encode"], 1)
        row = {
            "name": self.name,
            "canvas": self.canvas,
            "params": parameter_count(self.model),
            "step_ms": step_ms,
            "step_p10_ms": step_p10,
            "encode_ms": encode_ms,
            "encode_p10_ms": encode_p10,
        }
        if self.times["train"]:
            row["train_tok_per_s"] = round(statistics.median(self.times["train"]), 1)
        return row


def train_tokens_per_s(benches: list[Bench], threads: int, steps: int) -> None:
    """Training throughput on a synthetic batch shaped like the real ones (8 rows of ~500 prompt tokens), the
    candidates' steps interleaved so that load from other processes hits them alike."""
    import train
    from batches import Item, collate

    torch.set_num_threads(threads)
    ids, rng = _ids(), torch.Generator().manual_seed(0)
    runs = []
    for bench in benches:
        model = build(bench.fields, bench.canvas).train()
        items = []
        for n in [520, 500, 480, 470, 450, 430, 400, 380]:
            encoder_ids = torch.randint(len(ids), VOCAB, (n,), generator=rng).tolist()
            canvas_ids = torch.randint(len(ids), VOCAB, (bench.canvas,), generator=rng).tolist()
            items.append(Item(encoder_ids, encoder_ids[1:] + [ids["<eos>"]], [1.0] * n, n - 40, canvas_ids))
        runs.append((bench, model, train.make_optimizer(model, train.TRAIN_DEFAULTS), collate(items, ids)))
    for rep in range(steps + 1):  # the first step pays one-time kernel setup
        for bench, model, optimizer, batch in runs:
            start = time.perf_counter()
            diffusion, ar = train.losses(model, batch, train.TRAIN_DEFAULTS, rng)
            (diffusion + ar).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tokens = int(batch["attention_mask"].sum()) + batch["canvas"].numel()
            if rep:
                bench.times["train"].append(tokens / (time.perf_counter() - start))
    torch.set_num_threads(1)


def choose(rows: list[dict], canvas: int) -> dict | None:
    """The largest (by parameters) candidate whose decoder step fits the target at this canvas."""
    fitting = [r for r in rows if r["canvas"] == canvas and r["step_ms"] <= TARGET_STEP_MS]
    return max(fitting, key=lambda r: r["params"], default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canvas", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--only", nargs="*", help="candidate names to run (default: all)")
    parser.add_argument("--step-reps", type=int, default=30)
    parser.add_argument("--encode-reps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--train-threads", type=int, default=0, help="also measure training tokens/s with this many threads (0: skip)"
    )
    parser.add_argument("--train-steps", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the measured table into model/config.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    benches = [
        Bench(name, fields, canvas)
        for name, fields in CANDIDATES
        for canvas in args.canvas
        if not args.only or name in args.only
    ]
    # Round-robin over the candidates: on a shared machine load comes and goes, and this spreads it evenly.
    for bench in benches:
        bench.time_step()  # warm-up
        bench.time_encode()
        bench.times.update(step=[], encode=[])
    for rep in range(args.step_reps):
        for bench in benches:
            bench.time_step()
            if rep < args.encode_reps:
                bench.time_encode()
    if args.train_threads:
        train_tokens_per_s([b for b in benches if b.canvas == args.canvas[0]], args.train_threads, args.train_steps)

    rows = [bench.row() for bench in benches]
    print(
        f"{'config':<14} {'canvas':>6} {'params':>9} {'step ms':>8} {'(p10)':>7} {'encode ms':>10} {'(p10)':>7}"
        f" {'train tok/s':>12}"
    )
    for row in rows:
        print(
            f"{row['name']:<14} {row['canvas']:>6} {row['params'] / 1e6:>8.2f}M {row['step_ms']:>8.2f} "
            f"{row['step_p10_ms']:>7.2f} {row['encode_ms']:>10.1f} {row['encode_p10_ms']:>7.1f} "
            f"{row.get('train_tok_per_s', ''):>12}"
        )

    for canvas in args.canvas:
        best = choose(rows, canvas)
        print(f"canvas {canvas}: largest within {TARGET_STEP_MS} ms/step: {best['name'] if best else 'none'}")

    if args.write:
        config = json.loads(CONFIG_PATH.read_text()) if CONFIG_PATH.exists() else {}
        config["latency"] = {
            "threads": args.threads,
            "train_threads": args.train_threads,
            "context": CONTEXT,
            "vocab": VOCAB,
            "target_step_ms": TARGET_STEP_MS,
            "measured": time.strftime("%Y-%m-%d %H:%M"),
            "rows": rows,
        }
        CONFIG_PATH.write_text(json.dumps(config, indent=2) + "\n")
        print(f"wrote {CONFIG_PATH}")


if __name__ == "__main__":
    main()
