"""Export a trained run into the package: fp16 safetensors, config, generation config and tokenizer.

    python model/export.py model/runs/main /tmp/main   # a directory for `--model`; never dgemma_lsp/diffusion/embedded/

Weights are stored in float16 to halve the package; the server loads them with `dtype=torch.float32` (this CPU
has no fast half-precision math). The export is checked by reloading it offline and comparing logits with the
trained float32 model.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # everything here is local; a network lookup would be a bug

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import DiffusionGemmaForBlockDiffusion, DynamicCache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "model"))
from train import build_model  # noqa: E402

from dgemma_lsp.diffusion.configs import cache_argument, configure_generation, parameter_count  # noqa: E402
from dgemma_lsp.diffusion.tokens import special_ids, wrap_tokenizer  # noqa: E402

MAX_BYTES = 40 * 2**20
RELOAD_ATOL = 1e-4  # reloaded fp16 weights vs the same weights rounded to fp16 in memory: only float noise
# Reloaded vs the unrounded fp32 model: fp16 keeps ~3 significant digits per weight, and the error grows through
# the layers; logits are soft-capped at 30.
FP16_MEAN_ATOL = 0.05
FP16_MAX_ATOL = 1.0


def load_run(run_dir: Path, checkpoint: Path | None = None):
    """The trained float32 model, its tokenizer, its training state and the run's config."""
    cfg = json.loads((run_dir / "run.json").read_text())
    tokenizer = wrap_tokenizer(Tokenizer.from_file(str(run_dir / "tokenizer.json")))
    model = build_model(cfg, tokenizer)
    state = torch.load(checkpoint or run_dir / "checkpoint.pt", map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    configure_generation(model, special_ids(tokenizer))
    return model.eval(), tokenizer, state.get("state", {}), cfg


def same_tokenizer(a: bytes, b: bytes) -> bool:
    """Whether two tokenizer.json files tokenize alike (post-processors aside: we never add special tokens)."""
    a_json, b_json = json.loads(a), json.loads(b)
    keys = ("model", "added_tokens", "normalizer", "pre_tokenizer", "decoder")
    return all(a_json.get(k) == b_json.get(k) for k in keys)


@torch.inference_mode()
def probe_logits(model: DiffusionGemmaForBlockDiffusion, prompt: torch.Tensor, canvas: torch.Tensor) -> torch.Tensor:
    """Encoder (AR) logits over the prompt and decoder logits over a canvas, concatenated: [1, T + C, V]."""
    cache = DynamicCache(config=model.config.text_config)
    hidden = model.model.encoder(
        input_ids=prompt, **cache_argument(model.model.encoder, cache)
    ).last_hidden_state  # [1, T, H]
    cap = model.final_logit_softcapping
    ar = torch.tanh(model.lm_head(hidden).float() / cap) * cap  # [1, T, V]
    diffusion = model(decoder_input_ids=canvas, **cache_argument(model, cache)).logits  # [1, C, V]
    return torch.cat([ar, diffusion], dim=1)


def export(run_dir: Path, out_dir: Path, checkpoint: Path | None = None) -> dict:
    model, tokenizer, state, cfg = load_run(run_dir, checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    copy.deepcopy(model).half().save_pretrained(out_dir, safe_serialization=True)
    # Stored as float16, but a plain `from_pretrained(dir)` should still compute in float32 on this CPU.
    config_path = out_dir / "config.json"
    config = {**json.loads(config_path.read_text()), "dtype": "float32"}
    if cfg.get("fim", {}).get("heal_indentation"):
        config["fim_heal_indentation"] = True  # how the server must cut prompts for this model (loading.py)
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    previous = out_dir / "tokenizer.json"
    previous_bytes = previous.read_bytes() if previous.exists() else None
    tokenizer.save_pretrained(out_dir)  # tokenizer.json + tokenizer_config.json
    if previous_bytes is not None and same_tokenizer(previous_bytes, previous.read_bytes()):
        # The wrapper re-serializes the file (it adds an empty post-processor); keep the committed bytes.
        previous.write_bytes(previous_bytes)

    reloaded = DiffusionGemmaForBlockDiffusion.from_pretrained(out_dir, dtype=torch.float32).eval()
    generator = torch.Generator().manual_seed(0)
    vocab = model.config.text_config.vocab_size
    prompt = torch.randint(len(special_ids(tokenizer)), vocab, (1, 96), generator=generator)  # [1, T]
    canvas = torch.randint(0, vocab, (1, model.config.canvas_length), generator=generator)  # [1, C]
    expected = probe_logits(model, prompt, canvas)
    rounded = copy.deepcopy(model)  # the stored weights in float32; buffers (rotary tables) stay as computed
    for parameter in rounded.parameters():
        parameter.data = parameter.data.half().float()
    rounded = probe_logits(rounded, prompt, canvas)
    got = probe_logits(reloaded, prompt, canvas)
    report = {
        "step": state.get("step"),
        "tokens": state.get("tokens"),
        "params": parameter_count(reloaded),
        "bytes": sum(f.stat().st_size for f in out_dir.iterdir() if f.is_file()),
        "files": sorted(f.name for f in out_dir.iterdir() if f.is_file()),
        "reload_max_abs": (got - rounded).abs().max().item(),
        "fp16_max_abs": (got - expected).abs().max().item(),
        "fp16_mean_abs": (got - expected).abs().mean().item(),
        "fp16_argmax_agreement": (got.argmax(-1) == expected.argmax(-1)).float().mean().item(),
        "generation": {
            k: getattr(reloaded.generation_config, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")
        },
    }
    problems = []
    if report["reload_max_abs"] > RELOAD_ATOL:
        problems.append(f"reloaded logits differ from the saved weights' by {report['reload_max_abs']:.2e}")
    if report["fp16_mean_abs"] > FP16_MEAN_ATOL or report["fp16_max_abs"] > FP16_MAX_ATOL:
        problems.append("fp16 storage changes the logits more than expected")
    if report["bytes"] > MAX_BYTES:
        problems.append(f"export is {report['bytes'] / 2**20:.1f} MiB > {MAX_BYTES / 2**20:.0f} MiB")
    if report["generation"]["eos_token_id"] != special_ids(tokenizer)["<eos>"]:
        problems.append("generation config lacks the eos id")
    if problems:
        raise SystemExit("export check failed: " + "; ".join(problems) + f"\n{json.dumps(report, indent=2)}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--checkpoint", type=Path, help="default: <run_dir>/checkpoint.pt")
    args = parser.parse_args()
    print(json.dumps(export(args.run_dir, args.out_dir, args.checkpoint), indent=2))


if __name__ == "__main__":
    main()
