"""Train a small DiffusionGemma on FIM examples with the released block-diffusion objective.

    python model/train.py --run main --time-budget-min 100          # fresh run in model/runs/main/
    python model/train.py --run main --resume --time-budget-min 130 # continue it (a larger budget to go on)
    python model/train.py --run dev --byte-tokenizer --train x.jsonl --valid y.jsonl --max-steps 50

The objective (per example):
  * The response (middle + <eos>) is cut into canvas-length blocks; the last block is filled with <eos> after the
    real one (supervised EOS fill), so the model learns to end. One block k is drawn per example.
  * Encoder: the clean prompt + response blocks before k, causal, with a next-token (AR) cross-entropy.
  * Decoder: block k with each token replaced by a uniform-random id with probability t ~ U(t_min, 1); CE over all
    canvas positions, no 1/t weight. `canvas_draws` corruptions of block k per example (own t and noise each), all
    against one encoding of the prompt. With probability 1/2 (drawn per batch), the logits of a first no-grad
    decoder pass are fed back as self-conditioning. Both passes read the encoder's KV cache, so gradients reach the
    encoder through the cached keys and values.
  * Loss = diffusion + ar_weight * AR. The two are averaged separately, so the ~40 middle tokens of an example are
    not drowned by its ~500 prompt tokens. Prompt tokens keep AR weight 1.0 (configurable): on this data budget
    the prompt is most of the code the model ever sees, and its next-token loss is what teaches it the languages.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: spinning OpenMP threads stall a shared 2-core box

import argparse
import contextlib
import itertools
import json
import math
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import DiffusionGemmaForBlockDiffusion, DynamicCache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "model"))
import fim  # noqa: E402
from batches import BatchSource, ExampleStream, collate, read_corpus  # noqa: E402

from dgemma_lsp.diffusion.configs import SmallConfig, build_config, cache_argument, parameter_count  # noqa: E402
from dgemma_lsp.diffusion.tokens import byte_tokenizer, special_ids, wrap_tokenizer  # noqa: E402

CONFIG_PATH = ROOT / "model" / "config.json"
TRAIN_DEFAULTS = dict(
    seed=0,
    threads=2,
    device="cpu",
    lr=1e-3,
    min_lr_ratio=0.1,
    warmup_steps=100,
    weight_decay=0.1,
    betas=[0.9, 0.95],
    grad_clip=1.0,
    batch_tokens=4096,
    max_steps=1_000_000,
    time_budget_min=None,
    t_min=0.001,
    self_cond_prob=0.5,
    canvas_draws=1,
    qk_norm_init=None,
    data_workers=0,
    ar_weight=1.0,
    prompt_ar_weight=1.0,
    log_every=10,
    eval_every=200,
    eval_examples=64,
    eval_t=[0.25, 0.5, 0.75, 1.0],
    checkpoint_every=100,
    checkpoint_every_min=5.0,
    languages=None,
)


# ---------------------------------------------------------------- objective


def corrupt(canvas: torch.Tensor, t: torch.Tensor, vocab_size: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform-state noise: each token becomes a uniform-random id in [0, V) with probability t (per row), the
    same distribution the released sampler starts and re-noises canvases from."""
    replace = torch.rand(canvas.shape, generator=generator) < t.cpu()[:, None]  # [B, C]
    noise = torch.randint(0, vocab_size, canvas.shape, generator=generator)  # [B, C]
    # Drawn on the CPU generator whatever the device, so a seed gives the same corruption on CPU and GPU.
    return torch.where(replace.to(canvas.device), noise.to(canvas.device), canvas)


def encoder_logits(model: DiffusionGemmaForBlockDiffusion, hidden: torch.Tensor) -> torch.Tensor:
    """The encoder's next-token logits: the tied LM head with the same soft-capping the decoder output gets."""
    cap = model.final_logit_softcapping
    logits = model.lm_head(hidden).float()
    return torch.tanh(logits / cap) * cap if cap else logits


def encode(model, batch) -> tuple[DynamicCache, torch.Tensor]:
    cache = DynamicCache(config=model.config.text_config)
    out = model.model.encoder(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        **cache_argument(model.model.encoder, cache),
    )
    return cache, out.last_hidden_state  # [B, T, H]


def ar_loss(model, hidden, batch, select: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted next-token CE summed over the selected positions, and the weight sum."""
    weights = batch["weights"][select]  # [N]
    logits = encoder_logits(model, hidden[select])  # [N, V]: only real positions go through the LM head
    ce = F.cross_entropy(logits, batch["targets"][select], reduction="none")  # [N]
    return (ce * weights).sum(), weights.sum()


def decode(model, cache, batch, canvas_ids, self_conditioning_logits=None, self_conditioning_mask=None):
    return model(
        decoder_input_ids=canvas_ids,
        **cache_argument(model, cache),
        decoder_attention_mask=batch["decoder_attention_mask"],
        decoder_position_ids=batch["decoder_position_ids"],
        self_conditioning_logits=self_conditioning_logits,
        self_conditioning_mask=self_conditioning_mask,
    ).logits  # [B, C, V]


def losses(model, batch, cfg: dict, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(diffusion loss, AR loss) of one batch, both means; see the module docstring.

    Each example's canvas is corrupted `canvas_draws` times (own t and noise each), all read against one encoding
    of the prompt: more samples of the same expectation. The decoder sees 32 positions per ~500 prompt tokens, so
    a draw costs a few percent of a step while the canvas is where the denoiser learns.
    """
    vocab_size = model.config.text_config.vocab_size
    draws = cfg["canvas_draws"]
    canvas = batch["canvas"].repeat_interleave(draws, dim=0)  # [B * draws, C]
    rows = canvas.shape[0]
    t = cfg["t_min"] + (1 - cfg["t_min"]) * torch.rand(rows, generator=generator)  # [B * draws], on the CPU
    noisy = corrupt(canvas, t, vocab_size, generator)  # [B * draws, C]
    # Self-conditioning is drawn per batch, not per row: each example still gets it with p = self_cond_prob, and
    # a batch without it skips the no-grad pass (per-row draws ran that pass on every batch).
    use_sc = bool(torch.rand((), generator=generator) < cfg["self_cond_prob"])

    cache, hidden = encode(model, batch)
    ar_sum, ar_weight = ar_loss(model, hidden, batch, batch["weights"] > 0)
    decoding = {
        key: batch[key].repeat_interleave(draws, dim=0) for key in ("decoder_attention_mask", "decoder_position_ids")
    }
    if draws > 1:
        cache.batch_repeat_interleave(draws)
    sc_logits = None
    if use_sc:
        with torch.no_grad():
            sc_logits = decode(model, cache, decoding, noisy)  # [B * draws, C, V]
    logits = decode(model, cache, decoding, noisy, sc_logits)
    diffusion = F.cross_entropy(logits.flatten(0, 1).float(), canvas.flatten())
    return diffusion, ar_sum / ar_weight


def left_to_right_cut(
    canvas: torch.Tensor, eos_id: int, vocab_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A canvas as a one-token-at-a-time sampler sees it: per row a cut k drawn uniformly from 0 to the first EOS
    (the whole canvas in a row without one), the tokens before k clean, from k on uniform noise. Returns the noisy
    canvas [B, C] and k [B]."""
    rows, length = canvas.shape
    is_eos = canvas == eos_id
    first_eos = torch.where(is_eos.any(-1), is_eos.int().argmax(-1), torch.full((rows,), length - 1))  # [B]
    cut = (torch.rand(rows, generator=generator) * (first_eos.cpu() + 1)).long().to(canvas.device)  # [B]
    noise = torch.randint(0, vocab_size, canvas.shape, generator=generator).to(canvas.device)
    clean = torch.arange(length, device=canvas.device)[None, :] < cut[:, None]
    return torch.where(clean, canvas, noise), cut


@torch.no_grad()
def evaluate(model, batches: list[dict], eval_t: list[float]) -> dict[str, float]:
    """Diffusion loss at fixed t (no self-conditioning, fixed noise), AR loss (all / middle tokens only), and
    `decoder_next`: the decoder's CE at the first noised position of a left-to-right cut (`left_to_right_cut`), the
    next-token loss of a sampler committing one token at a time; beside `ar_middle` it shows how much of what the
    encoder knows the denoiser reads from the canvas it has so far (its own generator: the others' noise is
    unchanged)."""
    model.eval()
    generator = torch.Generator().manual_seed(1234)
    cut_generator = torch.Generator().manual_seed(4321)
    vocab_size = model.config.text_config.vocab_size
    eos_id = model.config.text_config.eos_token_id
    sums = {f"diffusion@{t}": 0.0 for t in eval_t} | {"ar": 0.0, "ar_middle": 0.0, "decoder_next": 0.0}
    counts = dict.fromkeys(sums, 0.0)
    for batch in batches:
        with autocast(model.device):
            cache, hidden = encode(model, batch)
            middle = batch["is_response"] & (batch["weights"] > 0)
            for key, select in (("ar", batch["weights"] > 0), ("ar_middle", middle)):
                ar_sum, weight = ar_loss(model, hidden, batch, select)
                sums[key] += ar_sum.item()
                counts[key] += weight.item()
            for t in eval_t:
                rows = batch["canvas"].shape[0]
                noisy = corrupt(batch["canvas"], torch.full((rows,), t), vocab_size, generator)
                logits = decode(model, cache, batch, noisy)
                sums[f"diffusion@{t}"] += F.cross_entropy(
                    logits.flatten(0, 1).float(), batch["canvas"].flatten(), reduction="sum"
                ).item()
                counts[f"diffusion@{t}"] += batch["canvas"].numel()
            noisy, cut = left_to_right_cut(batch["canvas"], eos_id, vocab_size, cut_generator)
            logits = decode(model, cache, batch, noisy)
            row = torch.arange(len(cut), device=cut.device)
            sums["decoder_next"] += F.cross_entropy(
                logits[row, cut].float(), batch["canvas"][row, cut], reduction="sum"
            ).item()
            counts["decoder_next"] += len(cut)
    model.train()
    return {k: round(sums[k] / max(counts[k], 1e-9), 4) for k in sums}


def autocast(device: torch.device):
    """bfloat16 autocast on a GPU (losses are taken in float32); plain float32 on the CPU, which has no fast
    half-precision math."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {key: value.to(device, non_blocking=True) for key, value in batch.items()}


def init_attention_gains(model: DiffusionGemmaForBlockDiffusion, gain: float | None) -> None:
    """Set the query and key RMSNorm gains of a fresh model (None leaves transformers' 1.0).

    DiffusionGemma attention has no 1/sqrt(head_dim) factor (`scaling = 1.0`): the normalized queries and keys
    alone set the logit scale. With gains of 1.0 a random query-key dot product has a standard deviation of
    sqrt(head_dim), 8 at head_dim 64, so a fresh model attends almost one-hot to arbitrary positions and learns
    to use its context slowly. Gains of head_dim ** -0.25 each start the logits at unit scale, as 1/sqrt(d)
    attention would; the gains stay trainable."""
    if gain is None:
        return
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("self_attn.q_norm.weight", "self_attn.k_norm.weight")) and "vision" not in name:
                parameter.fill_(gain)


def lr_at(step: int, progress: float, cfg: dict) -> float:
    """Linear warmup over `warmup_steps`, then cosine decay to `min_lr_ratio * lr` as progress goes 0 -> 1."""
    warm = min(1.0, (step + 1) / cfg["warmup_steps"])
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg["lr"] * warm * (cfg["min_lr_ratio"] + (1 - cfg["min_lr_ratio"]) * cosine)


# ---------------------------------------------------------------- the run


def load_tokenizer(path: Path | None):
    """The trained tokenizer (wrapped with our special tokens), or the byte tokenizer when no path is given."""
    return byte_tokenizer() if path is None else wrap_tokenizer(Tokenizer.from_file(str(path)))


def run_config(config_path: Path = CONFIG_PATH, **train_overrides) -> dict:
    """model/config.json's "model", "fim" and "train" sections, train defaults filled in, overrides applied."""
    config = json.loads(Path(config_path).read_text())
    train = {**TRAIN_DEFAULTS, **config.get("train", {}), **{k: v for k, v in train_overrides.items() if v is not None}}
    return {"model": config["model"], "fim": config.get("fim", {}), "train": train}


def make_optimizer(model: torch.nn.Module, tc: dict) -> torch.optim.AdamW:
    # Decay matrices only: norms, scales and the per-expert scale are gains that decay would pull towards zero.
    params = list(model.parameters())  # deduplicated: encoder and decoder share their layers
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": tc["weight_decay"]}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=tc["lr"], betas=tuple(tc["betas"]))


def save_checkpoint(path: Path, model, optimizer, state: dict, generator: torch.Generator) -> None:
    """Atomically: a crash mid-write leaves the previous checkpoint intact."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "state": state,
            "rng": {
                "generator": generator.get_state(),
                "torch": torch.get_rng_state(),
                "python": random.getstate(),
                "numpy": np.random.get_state(),
            },
        },
        tmp,
    )
    os.replace(tmp, path)


def _truncate_log(path: Path, step: int) -> None:
    """Drop records written after the checkpoint a resumed run restarts from."""
    if path.exists():
        keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in keep))


def build_model(cfg: dict, tokenizer) -> DiffusionGemmaForBlockDiffusion:
    small = SmallConfig(vocab_size=len(tokenizer), **cfg["model"])
    return DiffusionGemmaForBlockDiffusion(build_config(small, special_ids(tokenizer)))


def eval_batches(valid_path: Path | None, tokenizer, cfg: dict) -> list[dict]:
    """A fixed set of held-out items (own seed), packed like training batches."""
    if valid_path is None or not Path(valid_path).exists():
        return []
    tc, canvas_length = cfg["train"], cfg["model"]["canvas_length"]
    stream = ExampleStream(
        read_corpus(valid_path),
        tokenizer,
        canvas_length,
        fim.FimSettings.from_dict(cfg["fim"]),
        seed=10_000 + tc["seed"],
        prompt_weight=tc["prompt_ar_weight"],
    )
    items = [item for item, _ in itertools.islice(stream, tc["eval_examples"])]
    batches, batch = [], []
    for item in items:
        longest = max(len(i.encoder_ids) for i in [*batch, item])
        if batch and (len(batch) + 1) * (longest + canvas_length) > tc["batch_tokens"]:
            batches.append(batch)
            batch = []
        batch.append(item)
    ids, device = special_ids(tokenizer), torch.device(tc["device"])
    return [to_device(collate(b, ids), device) for b in [*batches, batch] if b]


def train(
    run_dir: Path,
    cfg: dict,
    tokenizer,
    train_path: Path,
    valid_path: Path | None = None,
    resume: bool = False,
    stop_at_step: int | None = None,
    echo=print,
    init_from: Path | None = None,
) -> dict:
    """Train (or resume) the run in `run_dir`; returns the final state. Stops at `max_steps`, at the time budget,
    at `stop_at_step` (for tests: the schedule still follows `max_steps`), or on SIGINT/SIGTERM, always saving a
    checkpoint first."""
    run_dir.mkdir(parents=True, exist_ok=True)
    tc, ids = cfg["train"], special_ids(tokenizer)
    torch.set_num_threads(tc["threads"])
    random.seed(tc["seed"])
    np.random.seed(tc["seed"])
    torch.manual_seed(tc["seed"])  # the model's initial weights
    device = torch.device(tc["device"])
    model = build_model(cfg, tokenizer).to(device).train()
    optimizer = make_optimizer(model, tc)
    generator = torch.Generator().manual_seed(tc["seed"])
    state = {"step": 0, "tokens": 0, "elapsed": 0.0, "position": [0, 0, 0]}
    ckpt_path, log_path = run_dir / "checkpoint.pt", run_dir / "log.jsonl"
    if resume:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # a GPU run resumes on a CPU too
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        state = ckpt["state"]
        generator.set_state(ckpt["rng"]["generator"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        random.setstate(ckpt["rng"]["python"])
        np.random.set_state(ckpt["rng"]["numpy"])
        _truncate_log(log_path, state["step"])
    else:
        if init_from is not None:
            # Continue from shipped weights (e.g. in a later session or on a GPU): same config, fresh optimizer.
            shipped = DiffusionGemmaForBlockDiffusion.from_pretrained(init_from, dtype=torch.float32)
            model.load_state_dict(shipped.state_dict())
            echo(f"initialised from {init_from}")
        else:
            init_attention_gains(model, tc["qk_norm_init"])
        log_path.write_text("")
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                **cfg,
                "vocab_size": len(tokenizer),
                "special_ids": ids,
                "train_path": str(train_path),
                "valid_path": str(valid_path),
            },
            indent=2,
        )
        + "\n"
    )
    tokenizer.backend_tokenizer.save(str(run_dir / "tokenizer.json"))

    canvas_length = cfg["model"]["canvas_length"]
    batches = BatchSource(
        read_corpus(train_path, tc["languages"]),
        tokenizer,
        canvas_length,
        fim.FimSettings.from_dict(cfg["fim"]),
        tc["seed"],
        tc["prompt_ar_weight"],
        tc["batch_tokens"],
        tc["data_workers"],
        state["position"] if resume else None,
    )
    held_out = eval_batches(valid_path, tokenizer, cfg)
    echo(
        f"model {parameter_count(model) / 1e6:.2f}M params on {device}, vocab {len(tokenizer)}, "
        f"canvas {canvas_length}, {len(held_out)} eval batches, from step {state['step']}"
    )

    stop = []
    previous = {s: signal.signal(s, lambda *_: stop.append(True)) for s in (signal.SIGINT, signal.SIGTERM)}
    budget_s = tc["time_budget_min"] * 60 if tc["time_budget_min"] else None
    started = last_save = time.monotonic()
    window = {"n": 0, "loss": 0.0, "diffusion": 0.0, "ar": 0.0, "grad_norm": 0.0, "tokens": 0, "t0": started}

    def elapsed() -> float:
        return state["elapsed"] + time.monotonic() - started

    def log(record: dict) -> None:
        with open(log_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        echo(json.dumps(record))

    def checkpoint() -> None:
        nonlocal started, last_save
        state["elapsed"], started = elapsed(), time.monotonic()
        save_checkpoint(ckpt_path, model, optimizer, state, generator)
        last_save = time.monotonic()

    if state["step"] == 0 and held_out:
        log({"step": 0, "tokens": 0, "elapsed_s": 0.0, "eval": evaluate(model, held_out, tc["eval_t"])})
    try:
        while True:
            step = state["step"]
            out_of_time = budget_s is not None and elapsed() >= budget_s
            if step >= tc["max_steps"] or out_of_time or stop or (stop_at_step is not None and step >= stop_at_step):
                break
            progress = max(step / tc["max_steps"], elapsed() / budget_s if budget_s else 0.0)
            lr = lr_at(step, progress, tc)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch, position = batches.next_batch()
            batch = to_device(batch, device)
            with autocast(device):
                diffusion, ar = losses(model, batch, tc, generator)
            loss = diffusion + tc["ar_weight"] * ar
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), tc["grad_clip"])
            optimizer.step()

            tokens = int(batch["attention_mask"].sum()) + batch["canvas"].numel()
            state.update(step=step + 1, tokens=state["tokens"] + tokens, position=position)
            for key, value in (("loss", loss), ("diffusion", diffusion), ("ar", ar), ("grad_norm", grad_norm)):
                window[key] += value.item()
            window["n"] += 1
            window["tokens"] += tokens
            if state["step"] % tc["log_every"] == 0:
                now = time.monotonic()
                log(
                    {
                        "step": state["step"],
                        "tokens": state["tokens"],
                        "elapsed_s": round(elapsed(), 1),
                        **{k: round(window[k] / window["n"], 5) for k in ("loss", "diffusion", "ar", "grad_norm")},
                        "lr": lr,
                        "tok_per_s": round(window["tokens"] / (now - window["t0"]), 1),
                    }
                )
                window.update(n=0, loss=0.0, diffusion=0.0, ar=0.0, grad_norm=0.0, tokens=0, t0=now)
            if held_out and state["step"] % tc["eval_every"] == 0:
                log(
                    {
                        "step": state["step"],
                        "tokens": state["tokens"],
                        "elapsed_s": round(elapsed(), 1),
                        "eval": evaluate(model, held_out, tc["eval_t"]),
                    }
                )
            if (
                state["step"] % tc["checkpoint_every"] == 0
                or time.monotonic() - last_save >= tc["checkpoint_every_min"] * 60
            ):
                checkpoint()
    finally:
        checkpoint()
        for s, handler in previous.items():
            signal.signal(s, handler)
    echo(f"stopped at step {state['step']}, {state['tokens']} tokens, {state['elapsed']:.0f} s; checkpoint {ckpt_path}")
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default="main", help="run name: model/runs/<run>/")
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "model" / "runs")
    parser.add_argument("--config", type=Path, default=CONFIG_PATH)
    parser.add_argument("--resume", action="store_true", help="continue from <run>/checkpoint.pt with its config")
    parser.add_argument(
        "--tokenizer", type=Path, default=ROOT / "dgemma_lsp" / "diffusion" / "embedded" / "tokenizer.json"
    )
    parser.add_argument("--byte-tokenizer", action="store_true", help="develop without a trained tokenizer")
    parser.add_argument("--train", type=Path, default=ROOT / "model" / "work" / "corpus" / "train.jsonl")
    parser.add_argument("--valid", type=Path, default=ROOT / "model" / "work" / "corpus" / "valid.jsonl")
    parser.add_argument("--stop-at-step", type=int, help="stop early without changing the lr schedule")
    parser.add_argument("--init-from", type=Path, help="start from an exported model directory (same config)")
    parser.add_argument(
        "--heal-indentation",
        action="store_true",
        help="cut hole lines' indentation into the middle (fim.heal_indentation); "
        "a resumed run keeps the format it began with",
    )
    parser.add_argument(
        "--eval-only",
        type=Path,
        metavar="DIR",
        help="print the held-out losses of an exported model directory and exit",
    )
    for key in (
        "time_budget_min",
        "max_steps",
        "batch_tokens",
        "threads",
        "lr",
        "warmup_steps",
        "log_every",
        "eval_every",
        "eval_examples",
        "checkpoint_every",
        "checkpoint_every_min",
        "seed",
        "canvas_draws",
        "qk_norm_init",
        "device",
        "data_workers",
        "ar_weight",
        "prompt_ar_weight",
    ):
        default = TRAIN_DEFAULTS[key]
        kind = str if isinstance(default, str) else int if isinstance(default, int) else float
        parser.add_argument("--" + key.replace("_", "-"), type=kind)
    parser.add_argument(
        "--languages",
        type=lambda value: [v.strip() for v in value.split(",") if v.strip()],
        help="train on these corpus languages only (comma-separated; held-out loss keeps them all)",
    )
    args = parser.parse_args()

    if args.eval_only:
        cfg = run_config(args.config, device=args.device)
        tokenizer = load_tokenizer(args.eval_only / "tokenizer.json")
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(args.eval_only, dtype=torch.float32)
        model.to(cfg["train"]["device"])
        # Held-out examples cut the way this checkpoint was trained, whatever the recipe says now.
        cfg["fim"]["heal_indentation"] = bool(getattr(model.config, "fim_heal_indentation", False))
        torch.set_num_threads(cfg["train"]["threads"])
        with torch.no_grad():
            print(json.dumps(evaluate(model, eval_batches(args.valid, tokenizer, cfg), cfg["train"]["eval_t"])))
        return
    run_dir = args.runs_dir / args.run
    overrides = {k: getattr(args, k) for k in TRAIN_DEFAULTS if hasattr(args, k)}
    if args.resume:
        saved = json.loads((run_dir / "run.json").read_text())
        cfg = {
            "model": saved["model"],
            "fim": saved["fim"],
            "train": {**TRAIN_DEFAULTS, **saved["train"], **{k: v for k, v in overrides.items() if v is not None}},
        }
        tokenizer = wrap_tokenizer(Tokenizer.from_file(str(run_dir / "tokenizer.json")))
        train_path, valid_path = Path(saved["train_path"]), Path(saved["valid_path"])
    else:
        cfg = run_config(args.config, **overrides)
        if args.heal_indentation:
            cfg["fim"]["heal_indentation"] = True
        tokenizer = load_tokenizer(None if args.byte_tokenizer else args.tokenizer)
        train_path, valid_path = args.train, args.valid
    train(
        run_dir,
        cfg,
        tokenizer,
        train_path,
        valid_path,
        resume=args.resume,
        stop_at_step=args.stop_at_step,
        init_from=args.init_from,
    )


if __name__ == "__main__":
    main()
