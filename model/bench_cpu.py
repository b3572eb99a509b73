"""CPU speed of the embedded model: prefill per token, one greedy token, one denoising step, side by side.

    python model/bench_cpu.py                      # fp32 and int8 (dynamic quantization), 1 and 2 threads
    python model/bench_cpu.py --reps 20 --context 400
    python model/bench_cpu.py --encoder-rows 1 4 16 128 --threads 2   # transformers' encoder forward and the lean one

Everything as the server runs it: `torch.inference_mode`, the encoder filling a DynamicCache with `context`
tokens of code (below the 512-token window, so the cache can be cut back as the server cuts it), then (a) one
greedy token (the encoder on one token, the LM head on its last position) and (b) one decoder step on a 16- and a
32-token canvas over that cache. Medians over `--reps`; the machine is shared, so compare rows of one run, not
runs. int8 is `torch.ao.quantization.quantize_dynamic` on every Linear but o_proj (weights int8, activations
quantized per call); the server does not use it: its quality cost is measured by `model/base_loss.py --int8`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on a shared machine

import argparse
import copy
import json
import statistics
import sysconfig
import time
from pathlib import Path

import torch


def int8_weights(model):
    """Linear layers but `o_proj` with int8 weights and activations quantized per call (`quantize_dynamic`).

    Not used by the server: on the embedded model it costs 0.76 nat of held-out loss (`base_loss.py --int8`).
    o_proj stays float because a converted Gemma's attention output holds its spare value dimensions at ~11 beside
    real values of ~0.01, which one int8 scale per tensor rounds to zero (with it quantized: +20 nats)."""
    from torch.ao.quantization import default_dynamic_qconfig

    names = {
        name: default_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not name.endswith("o_proj")
    }
    return torch.ao.quantization.quantize_dynamic(model, names, dtype=torch.qint8)


def median_ms(run, reps: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@torch.inference_mode()
def measure(model, prompt: list[int], canvas_lengths: list[int], reps: int, vocab: int) -> dict:
    from transformers import DynamicCache

    from dgemma_lsp.diffusion.configs import cache_argument

    encoder = model.model.encoder
    config = model.config.get_text_config()

    def prefill() -> DynamicCache:
        cache = DynamicCache(config=config)
        encoder(input_ids=torch.tensor([prompt]), **cache_argument(encoder, cache))
        return cache

    row = {"prefill_ms_per_token": median_ms(prefill, max(2, reps // 5)) / len(prompt)}
    cache = prefill()
    length = cache.get_seq_length()

    def greedy_token() -> None:
        hidden = encoder(
            input_ids=torch.tensor([[prompt[-1]]]),
            **cache_argument(encoder, cache),
            position_ids=torch.tensor([[length]]),
        ).last_hidden_state
        model.lm_head(hidden[:, -1])
        cache.crop(-1)  # drop the token again: every repetition extends the same cache

    row["greedy_token_ms"] = median_ms(greedy_token, reps)
    generator = torch.Generator().manual_seed(0)
    for canvas in canvas_lengths:
        noise = torch.randint(0, vocab, (1, canvas), generator=generator)
        row[f"step_ms_canvas_{canvas}"] = median_ms(
            lambda noise=noise: model(decoder_input_ids=noise, **cache_argument(model, cache)), reps
        )
    return row


@torch.inference_mode()
def encoder_rows(model, prompt: list[int], rows: list[int], reps: int) -> list[dict]:
    """The encoder's forward, transformers' and the lean one (`diffusion/lean.py`), side by side: prefill per token,
    then one token for each of `rows` rows over the cached prompt (the decode step of that many branches), body
    and LM head timed apart."""
    from dgemma_lsp.diffusion.lean import encode, new_cache

    found = []
    for forward, lean in (("transformers", False), ("lean", True)):

        def prefill(lean=lean):
            cache = new_cache(model, lean)
            encode(model, torch.tensor([prompt]), cache)
            return cache

        row: dict = {"forward": forward, "prefill_ms_per_token": median_ms(prefill, max(2, reps // 5)) / len(prompt)}
        for count in rows:
            cache = prefill()
            if count > 1:
                cache.batch_repeat_interleave(count)
            tokens = torch.tensor([[prompt[-1]]] * count)

            def step(cache=cache, tokens=tokens):
                encode(model, tokens, cache)
                cache.crop(-1)  # drop the token again: every repetition extends the same cache

            hidden = encode(model, tokens, cache)[:, -1]
            cache.crop(-1)
            row[f"body_ms_{count}_rows"] = median_ms(step, reps)
            row[f"head_ms_{count}_rows"] = median_ms(lambda hidden=hidden: model.lm_head(hidden), reps)
        found.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
        print(json.dumps(found[-1]), flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--context", type=int, default=400, help="cached tokens (the prompt budget is 384 + 128)")
    parser.add_argument("--canvas", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--encoder-rows", type=int, nargs="*", help="only the encoder forwards, at these row counts")
    args = parser.parse_args()

    from dgemma_lsp.diffusion import loading
    from dgemma_lsp.settings import Settings

    loaded = loading.load(Settings(model=args.model, matmuls="float32"))  # transformers' forward needs fp32
    text = (Path(sysconfig.get_paths()["stdlib"]) / "argparse.py").read_text()
    prompt = [loaded.tokenizer.bos_token_id] + loaded.tokenizer(text, add_special_tokens=False)["input_ids"][
        : args.context - 1
    ]
    if args.encoder_rows:
        results = []
        for threads in args.threads:
            torch.set_num_threads(threads)
            results += [
                {"threads": threads, **row} for row in encoder_rows(loaded.model, prompt, args.encoder_rows, args.reps)
            ]
        print(json.dumps({"model": args.model, "context": len(prompt), "rows": results}, indent=1))
        return
    variants = {"fp32": loaded.model, "int8": int8_weights(copy.deepcopy(loaded.model))}
    vocab = loaded.model.config.text_config.vocab_size
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, model in variants.items():
            row = {"weights": name, "threads": threads, **measure(model, prompt, args.canvas, args.reps, vocab)}
            rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
            print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"model": args.model, "context": len(prompt), "vocab": vocab, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
