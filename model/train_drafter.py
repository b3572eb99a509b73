"""Train the canvas drafter (`dgemma_lsp/diffusion/canvas_drafter.py`) by self-distillation on CPU.

    python model/train_drafter.py --minutes 60                 # -> model/work/drafter/{adapter.safetensors,log.jsonl}
    python model/train_drafter.py --minutes 60 --resume        # go on from the saved adapter and optimizer
    python model/train_drafter.py --eval-only                  # the held-out figures of the saved adapter

Each step reads one window of code from the training corpus (`model/work/corpus/train.jsonl`, see DATA.md; about
70% Python), runs the embedded encoder over it once without gradients (the teacher: its keys and values, and its
argmax at every position), and trains the adapter on canvases after many anchors of the window at once. Targets
are greedy decoding's own tokens: from an anchor, the greedy chain follows the text while the encoder's argmax
equals the text's next token, so the chain is known up to and including its first departure; slots past that get
no loss. The canvas starts after the verifier's own next token, so only anchors where that token is the text's
carry targets.

Held out: windows of the real-code benchmark's dev split (code written after the base's training data). Reported
per slot: accuracy given that the slots before it were right ("conditional"), and the tokens one verifying forward
would commit on average, 1 + sum over j of the product of the first j conditional accuracies (the verifier's own
token, plus the accepted prefix of the draft), over anchors where the chain is known that far.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle OpenMP threads must not spin on a shared machine
os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import copy
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TRAIN = ROOT / "model" / "work" / "corpus" / "train.jsonl"
OUT = ROOT / "model" / "work" / "drafter"


def windows_from(texts: list[str], tokenizer, length: int, rng: random.Random) -> list[list[int]]:
    """One window of `length` tokens per text (a random stretch of a longer one), BOS first."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) < length // 2:
            continue
        start = rng.randrange(0, max(1, len(ids) - length + 1))
        out.append([tokenizer.bos_token_id] + ids[start : start + length - 1])
    return out


def training_texts(path: Path, python_share: float, seed: int) -> list[str]:
    rows = [json.loads(line) for line in path.open()]
    rows = [r for r in rows if len(r["text"]) >= 1500]
    rng = random.Random(seed)
    python = [r["text"] for r in rows if r["language"] == "python"]
    other = [r["text"] for r in rows if r["language"] != "python"]
    rng.shuffle(python)
    rng.shuffle(other)
    n_other = int(len(python) * (1 - python_share) / python_share)
    texts = python + other[:n_other]
    rng.shuffle(texts)
    return texts


def heldout_texts(count: int) -> list[str]:
    from dgemma_lsp.evaluation.realcode import data_dir, load_files

    files = [f for f in load_files(data_dir() / "python.jsonl.gz", "dev") if len(f.text) > 3000]
    random.Random(1).shuffle(files)
    return [f.text for f in files[:count]]


class Teacher:
    """The encoder over a window, once: its keys and values per layer and its argmax at every position. With
    `bf16`, through bfloat16 copies of the projections in oneDNN's packed layout, as the editor decodes
    (`lean.pack_bfloat16`; the model's own fp32 weights stay for the canvas rows' gradients), and the keys and
    values handed over in bfloat16 (the canvas rows' products run in it)."""

    def __init__(self, model, encoder, bf16: bool) -> None:
        from dgemma_lsp.diffusion import lean

        self.model, self.encoder, self.bf16 = model, encoder, bf16
        if bf16 and lean.bfloat16_matmuls_available(model):
            self.encoder = copy.copy(encoder)
            self.encoder._layers = [layer.packed() for layer in encoder._layers]
            self.encoder.head = lean._projection(model.lm_head).packed_copy()

    def __call__(self, ids: list[int]):
        x = torch.tensor([ids])
        with torch.inference_mode():
            cache = self.encoder.new_cache()
            hidden = self.encoder(x, cache)
            head = self.encoder.head
            greedy = (head(hidden) if head is not None else self.model.lm_head(hidden))[0].argmax(-1)
        n = len(ids)
        dtype = torch.bfloat16 if self.bf16 else torch.float32
        # Outside inference mode: the canvas rows attend to these, and autograd saves what it attends to.
        keys = [k[:, :, :n].to(dtype, copy=True) for k in cache.keys]
        values = [v[:, :, :n].to(dtype, copy=True) for v in cache.values]
        return x[0], greedy.clone(), keys, values


def bfloat16_weights(encoder):
    """The lean forward with bfloat16 copies of the projection weights: under autocast the canvas rows' products
    then cast nothing per call (casting the fp32 weights each time was a seventh of a training step)."""
    from dgemma_lsp.diffusion import lean

    def cast(projection):
        return None if projection is None else lean._Projection(projection.weight.to(torch.bfloat16), projection.bias)

    copied = copy.copy(encoder)
    copied._layers = [
        dataclasses.replace(layer, **{name: cast(getattr(layer, name)) for name in layer.PROJECTIONS})
        for layer in encoder._layers
    ]
    return copied


def slot_logits(head, encoder, adapter, keys, values, anchors, bf16: bool):
    from dgemma_lsp.diffusion.canvas_drafter import canvas_hidden, canvas_mask, canvas_positions

    slots = adapter.shape.slots
    slot_index, positions = canvas_positions(anchors, slots)
    mask = canvas_mask(anchors, slots, keys[0].shape[2])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        hidden = canvas_hidden(encoder, adapter, keys, values, slot_index, positions, mask)
        logits = F.linear(hidden, head)
    return logits[0].float().view(len(anchors), slots, -1)


def tally(logits: torch.Tensor, targets: torch.Tensor, counts: dict) -> None:
    """Per slot: how many anchors reached it with the chain known and every slot before it right, and how many of
    those it got right."""
    right = logits.argmax(-1) == targets
    alive = torch.ones(len(targets), dtype=torch.bool)
    for j in range(targets.shape[1]):
        reached = alive & (targets[:, j] != -100)
        counts.setdefault(j, [0, 0])
        counts[j][0] += int(reached.sum())
        counts[j][1] += int((reached & right[:, j]).sum())
        alive = reached & right[:, j]


def summary(counts: dict) -> dict:
    accuracy = [counts[j][1] / counts[j][0] if counts[j][0] else 0.0 for j in sorted(counts)]
    committed, product = 1.0, 1.0
    for a in accuracy:
        product *= a
        committed += product
    return {"conditional_accuracy": [round(a, 4) for a in accuracy], "tokens_per_forward": round(committed, 3)}


def evaluate(head, encoder, adapter, teacher, windows, anchors_per_window: int, bf16: bool) -> dict:
    from dgemma_lsp.diffusion.canvas_drafter import chain_targets

    counts: dict = {}
    with torch.no_grad():
        for ids in windows:
            tokens, greedy, keys, values = teacher(ids)
            anchors, targets = chain_targets(tokens, greedy, adapter.shape.slots, first=32)
            if len(anchors) > anchors_per_window:
                pick = torch.linspace(0, len(anchors) - 1, anchors_per_window).long()
                anchors, targets = anchors[pick], targets[pick]
            if len(anchors):
                tally(slot_logits(head, encoder, adapter, keys, values, anchors, bf16), targets, counts)
    return summary(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--anchors", type=int, default=96, help="anchors per window (canvases trained per step)")
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-windows", type=int, default=24)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 (bfloat16 autocast otherwise)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--train", type=Path, default=TRAIN, help="JSON lines with `text` and `language`")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bf16 = not args.no_bf16

    from safetensors.torch import load_file, save_file

    from dgemma_lsp.diffusion import lean, loading
    from dgemma_lsp.diffusion.canvas_drafter import CanvasAdapter, DrafterShape, chain_targets
    from dgemma_lsp.settings import Settings

    loaded = loading.load(Settings(matmuls="float32"))
    model, tokenizer = loaded.model, loaded.tokenizer
    model.requires_grad_(False)
    encoder = lean.LeanEncoder.of(model)
    assert encoder is not None
    teacher = Teacher(model, encoder, bf16)
    head = model.lm_head.weight.to(torch.bfloat16) if bf16 else model.lm_head.weight  # tied: the embedding
    if bf16:
        encoder = bfloat16_weights(encoder)
    args.out.mkdir(parents=True, exist_ok=True)
    saved, state_file, log_file = args.out / "adapter.safetensors", args.out / "state.pt", args.out / "log.jsonl"

    mean_embedding = model.model.encoder.language_model.embed_tokens.weight.mean(0) * (640**0.5)
    adapter = CanvasAdapter(encoder, DrafterShape(slots=args.slots, rank=args.rank), init=mean_embedding)
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=args.lr, weight_decay=0.0)
    progress = {"step": 0, "windows": 0, "canvas_rows": 0, "targets": 0, "seconds": 0.0}
    if args.resume or args.eval_only:
        adapter.load_state_dict({k: v.float() for k, v in load_file(str(saved)).items()})
        if state_file.exists() and not args.eval_only:
            state = torch.load(state_file)
            optimizer.load_state_dict(state["optimizer"])
            progress = state["progress"]

    rng = random.Random(args.seed + progress["step"])
    heldout = windows_from(heldout_texts(args.eval_windows), tokenizer, args.window, random.Random(2))
    if args.eval_only:
        print(json.dumps(evaluate(head, encoder, adapter, teacher, heldout, args.anchors, bf16), indent=1))
        return
    texts = training_texts(args.train, 0.7, args.seed)
    print(f"{len(texts)} training files, {len(heldout)} held-out windows", flush=True)

    def save() -> None:
        tmp = saved.with_suffix(".tmp")
        save_file({k: v.detach().half().contiguous() for k, v in adapter.state_dict().items()}, str(tmp))
        tmp.replace(saved)
        torch.save({"optimizer": optimizer.state_dict(), "progress": progress}, state_file)

    def log(record: dict) -> None:
        with log_file.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    if progress["step"] == 0:
        log({"step": 0, **progress, "heldout": evaluate(head, encoder, adapter, teacher, heldout, args.anchors, bf16)})
    started = time.monotonic()
    counts: dict = {}
    losses: list[float] = []
    while time.monotonic() - started < args.minutes * 60:
        text = texts[rng.randrange(len(texts))]
        windows = windows_from([text], tokenizer, args.window, rng)
        if not windows:
            continue
        step_started = time.monotonic()
        tokens, greedy, keys, values = teacher(windows[0])
        anchors, targets = chain_targets(tokens, greedy, args.slots, first=8)
        if len(anchors) > args.anchors:
            pick = torch.tensor(sorted(rng.sample(range(len(anchors)), args.anchors)))
            anchors, targets = anchors[pick], targets[pick]
        if not len(anchors):
            continue
        warmup = min(1.0, (progress["step"] + 1) / 30)
        for group in optimizer.param_groups:
            group["lr"] = args.lr * warmup
        logits = slot_logits(head, encoder, adapter, keys, values, anchors, bf16)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(adapter.parameters(), 1.0)
        optimizer.step()
        tally(logits.detach(), targets, counts)
        losses.append(loss.item())
        progress["step"] += 1
        progress["windows"] += 1
        progress["canvas_rows"] += len(anchors) * args.slots
        progress["targets"] += int((targets != -100).sum())
        progress["seconds"] += time.monotonic() - step_started
        if progress["step"] % 10 == 0:
            log({**progress, "loss": round(sum(losses) / len(losses), 4), "train": summary(counts)})
            counts, losses = {}, []
        if progress["step"] % args.eval_every == 0:
            save()
            log({**progress, "heldout": evaluate(head, encoder, adapter, teacher, heldout, args.anchors, bf16)})
    save()
    log({**progress, "heldout": evaluate(head, encoder, adapter, teacher, heldout, args.anchors, bf16)})


if __name__ == "__main__":
    main()
