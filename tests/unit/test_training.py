"""The block-diffusion objective, batching, and resumable training (model/train.py, model/batches.py)."""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import DiffusionGemmaForBlockDiffusion

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "model"))
import fim
import train
from batches import Item, collate, make_item

from dgemma_lsp.diffusion.configs import TINY
from dgemma_lsp.diffusion.tokens import EOS, byte_tokenizer, special_ids

CANVAS = TINY["canvas_length"]


@pytest.fixture(scope="module")
def tokenizer():
    return byte_tokenizer()


def tiny_config(**train_overrides) -> dict:
    return {
        "model": dict(TINY),
        "fim": {"prefix_tokens": 96, "suffix_tokens": 32, "middle_tokens": 2 * CANVAS},
        "train": {
            **train.TRAIN_DEFAULTS,
            "threads": 1,
            "lr": 3e-3,
            "warmup_steps": 5,
            "batch_tokens": 1024,
            "max_steps": 30,
            "log_every": 1,
            "checkpoint_every": 1000,
            "eval_every": 1000,
            **train_overrides,
        },
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A repetitive toy corpus: a tiny model can learn it in a few dozen steps."""
    path = tmp_path_factory.mktemp("corpus") / "train.jsonl"
    rng = random.Random(0)
    with open(path, "w") as f:
        for n in range(40):
            text = "".join(f"def add_{i}(a, b):\n    return a + b\n\n\n" for i in rng.sample(range(10), 8))
            f.write(
                json.dumps(
                    {
                        "package": "toy",
                        "version": "0",
                        "license": "MIT",
                        "path": f"t{n}.py",
                        "language": "python",
                        "text": text,
                    }
                )
                + "\n"
            )
    return path


def test_blocks_and_eos_fill(tokenizer):
    ids = special_ids(tokenizer)
    prompt = [ids["<bos>"], 50, 51, ids["<fim_middle>"]]
    middle = list(range(100, 100 + 2 * CANVAS + 3))
    example = fim.FimExample("line", "", "", "", prompt, middle + [ids[EOS]])
    items = {}
    for seed in range(50):
        item = make_item(example, CANVAS, random.Random(seed), ids, prompt_weight=0.5)
        items[len(item.encoder_ids)] = item
    assert sorted(items) == [len(prompt), len(prompt) + CANVAS, len(prompt) + 2 * CANVAS]  # k = 0, 1, 2
    last = items[len(prompt) + 2 * CANVAS]
    assert last.canvas == middle[2 * CANVAS :] + [ids[EOS]] * (CANVAS - 3)  # supervised EOS fill
    assert last.encoder_ids == prompt + middle[: 2 * CANVAS]
    assert last.targets == last.encoder_ids[1:] + [middle[2 * CANVAS]]
    assert last.weights[: len(prompt) - 1] == [0.5] * (len(prompt) - 1) and set(last.weights[len(prompt) - 1 :]) == {
        1.0
    }
    first = items[len(prompt)]
    assert first.canvas == middle[:CANVAS] and first.targets[-1] == middle[0]


def test_empty_middle_is_a_canvas_of_eos(tokenizer):
    ids = special_ids(tokenizer)
    example = fim.FimExample("empty", "", "", "", [ids["<bos>"], ids["<fim_middle>"]], [ids[EOS]])
    item = make_item(example, CANVAS, random.Random(0), ids, 1.0)
    assert item.canvas == [ids[EOS]] * CANVAS and item.targets[-1] == ids[EOS]


@pytest.mark.parametrize("t, low, high", [(1.0, 0.97, 1.0), (0.5, 0.4, 0.6), (0.001, 0.0, 0.01)])
def test_corruption_rate(t, low, high):
    vocab = 266
    canvas = torch.randint(0, vocab, (256, CANVAS))
    noisy = train.corrupt(canvas, torch.full((256,), t), vocab, torch.Generator().manual_seed(0))
    changed = (noisy != canvas).float().mean().item()
    assert low <= changed <= high


def random_item(rng: random.Random, ids: dict, n: int) -> Item:
    """An example of n random prompt tokens and a random canvas."""
    enc = [ids["<bos>"]] + [rng.randrange(10, 266) for _ in range(n - 1)]
    return Item(enc, enc[1:] + [20], [1.0] * n, n, [rng.randrange(10, 266) for _ in range(CANVAS)])


def test_left_padded_row_matches_the_row_alone(tokenizer):
    torch.manual_seed(0)
    ids = special_ids(tokenizer)
    model = train.build_model(tiny_config(), tokenizer).eval()
    rng = random.Random(0)
    short, long = random_item(rng, ids, 9), random_item(rng, ids, 40)
    with torch.no_grad():
        alone, both = collate([short], ids), collate([long, short], ids)
        canvas_alone, canvas_both = alone["canvas"], both["canvas"]
        cache_a, hidden_a = train.encode(model, alone)
        cache_b, hidden_b = train.encode(model, both)
        logits_a = train.decode(model, cache_a, alone, canvas_alone)  # [1, C, V]
        logits_b = train.decode(model, cache_b, both, canvas_both)  # [2, C, V]
        sc_a = train.decode(model, cache_a, alone, canvas_alone, logits_a, torch.tensor([True]))
        sc_b = train.decode(model, cache_b, both, canvas_both, logits_b, torch.tensor([True, True]))
    torch.testing.assert_close(logits_b[1:], logits_a, atol=1e-4, rtol=0)
    torch.testing.assert_close(sc_b[1:], sc_a, atol=1e-4, rtol=0)
    torch.testing.assert_close(hidden_b[1:, -9:], hidden_a, atol=1e-4, rtol=0)


def _losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines()) if "loss" in r]


def test_tiny_model_learns_a_toy_corpus(tmp_path, corpus, tokenizer):
    state = train.train(tmp_path / "run", tiny_config(), tokenizer, corpus, echo=lambda *_: None)
    losses = _losses(tmp_path / "run")
    assert state["step"] == 30 and len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:3]) / 3
    assert (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "checkpoint.pt.tmp").exists()


def test_resume_continues_exactly(tmp_path, corpus, tokenizer):
    cfg = tiny_config(max_steps=10)
    train.train(tmp_path / "straight", cfg, tokenizer, corpus, echo=lambda *_: None)
    train.train(tmp_path / "resumed", cfg, tokenizer, corpus, stop_at_step=4, echo=lambda *_: None)
    assert len(_losses(tmp_path / "resumed")) == 4
    train.train(tmp_path / "resumed", cfg, tokenizer, corpus, resume=True, echo=lambda *_: None)
    straight, resumed = _losses(tmp_path / "straight"), _losses(tmp_path / "resumed")
    assert len(resumed) == 10
    assert resumed == pytest.approx(straight, abs=1e-6)
    a = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # bitwise the same weights


def test_export_round_trip(tmp_path, corpus, tokenizer):
    import export

    train.train(tmp_path / "run", tiny_config(max_steps=3), tokenizer, corpus, echo=lambda *_: None)
    report = export.export(tmp_path / "run", tmp_path / "out")
    assert report["reload_max_abs"] <= export.RELOAD_ATOL and report["step"] == 3
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json"} <= set(report["files"])
    assert report["generation"]["eos_token_id"] == special_ids(tokenizer)[EOS]
    with safe_open(tmp_path / "out" / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    reloaded = DiffusionGemmaForBlockDiffusion.from_pretrained(tmp_path / "out")  # no dtype given: float32
    assert reloaded.dtype == torch.float32


def test_training_can_start_from_exported_weights(tmp_path, corpus, tokenizer):
    import export

    cfg = tiny_config(max_steps=3)
    train.train(tmp_path / "first", cfg, tokenizer, corpus, echo=lambda *_: None)
    export.export(tmp_path / "first", tmp_path / "shipped")
    shipped = DiffusionGemmaForBlockDiffusion.from_pretrained(tmp_path / "shipped").state_dict()
    train.train(
        tmp_path / "second",
        tiny_config(max_steps=1, lr=0.0, warmup_steps=1),
        tokenizer,
        corpus,
        init_from=tmp_path / "shipped",
        echo=lambda *_: None,
    )
    continued = torch.load(tmp_path / "second" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(continued[k], shipped[k]) for k in shipped if k in continued)  # lr 0: unchanged


def test_canvas_draws_share_one_encoding(tokenizer, monkeypatch):
    """Each example's canvas is corrupted `canvas_draws` times against one encoder pass, and each draw counts."""
    torch.manual_seed(0)
    ids = special_ids(tokenizer)
    model = train.build_model(tiny_config(), tokenizer)
    rng = random.Random(0)
    batch = collate([random_item(rng, ids, 12), random_item(rng, ids, 20)], ids)
    encodes, decoded_rows = [], []
    real_encode, real_decode = train.encode, train.decode
    monkeypatch.setattr(train, "encode", lambda *a: encodes.append(1) or real_encode(*a))
    monkeypatch.setattr(
        train,
        "decode",
        lambda m, c, b, canvas, *rest: decoded_rows.append(canvas.shape[0]) or real_decode(m, c, b, canvas, *rest),
    )
    cfg = {**train.TRAIN_DEFAULTS, "canvas_draws": 3, "self_cond_prob": 1.0}
    diffusion, ar = train.losses(model, batch, cfg, torch.Generator().manual_seed(0))
    (diffusion + ar).backward()
    assert encodes == [1] and decoded_rows == [6, 6]  # the self-conditioning pass, then the graded one
    assert torch.isfinite(diffusion) and model.lm_head.weight.grad is not None


def test_qk_norm_init_sets_the_text_attention_gains_of_a_fresh_run(tmp_path, corpus, tokenizer):
    def gains(run: str, **overrides) -> dict[str, torch.Tensor]:
        cfg = tiny_config(max_steps=1, lr=0.0, warmup_steps=1, **overrides)
        train.train(tmp_path / run, cfg, tokenizer, corpus, echo=lambda *_: None)
        weights = torch.load(tmp_path / run / "checkpoint.pt", weights_only=False)["model"]
        return {k: v for k, v in weights.items() if k.endswith(("q_norm.weight", "k_norm.weight"))}

    scaled, default = gains("scaled", qk_norm_init=0.25), gains("default")
    text = [k for k in scaled if "vision" not in k]
    assert len(text) == 4 * TINY["num_hidden_layers"]  # q and k, listed under the encoder and the decoder (shared)
    assert all(torch.all(scaled[k] == 0.25) for k in text)
    assert all(torch.all(default[k] == 1.0) for k in text)
    assert all(torch.equal(scaled[k], default[k]) for k in scaled if "vision" in k)  # the unused tower is left alone


def test_corpus_reads_the_same_from_xz(tmp_path, corpus):
    import lzma

    from batches import read_corpus

    packed = tmp_path / "train.jsonl.xz"
    packed.write_bytes(lzma.compress(corpus.read_bytes()))
    assert read_corpus(packed) == read_corpus(corpus) != []


def test_a_healed_run_exports_a_checkpoint_the_server_heals_for(tmp_path, corpus, tokenizer):
    import export

    from dgemma_lsp.diffusion.loading import load
    from dgemma_lsp.settings import parse_settings

    cfg = tiny_config(max_steps=1)
    for name, heal in (("plain", False), ("healed", True)):
        run_cfg = {**cfg, "fim": {**cfg["fim"], "heal_indentation": heal}}
        train.train(tmp_path / name, run_cfg, tokenizer, corpus, echo=lambda *_: None)
        export.export(tmp_path / name, tmp_path / f"{name}-out")
        loaded = load(parse_settings({"model": str(tmp_path / f"{name}-out")}))
        assert loaded.heals_indentation is heal


def test_data_workers_are_seeded_and_resume_exactly(tmp_path, corpus, tokenizer):
    cfg = tiny_config(max_steps=6, data_workers=2)
    train.train(tmp_path / "a", cfg, tokenizer, corpus, echo=lambda *_: None)
    train.train(tmp_path / "b", cfg, tokenizer, corpus, stop_at_step=3, echo=lambda *_: None)
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["state"]
    assert len(state["position"]["slices"]) == 2  # one stream position per worker
    train.train(tmp_path / "b", cfg, tokenizer, corpus, resume=True, echo=lambda *_: None)
    straight, resumed = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert len(straight) == 6 and resumed == pytest.approx(straight, abs=1e-6)
    single = tiny_config(max_steps=6)
    train.train(tmp_path / "c", single, tokenizer, corpus, echo=lambda *_: None)
    assert _losses(tmp_path / "c") != pytest.approx(straight, abs=1e-6)  # the workers' own slices and seeds
    with pytest.raises(ValueError, match="same count"):
        train.train(
            tmp_path / "b",
            {**cfg, "train": {**cfg["train"], "data_workers": 0}},
            tokenizer,
            corpus,
            resume=True,
            echo=lambda *_: None,
        )


@pytest.mark.parametrize("script", ["device_pack.sh", "device_train.sh"])
def test_device_scripts_parse(script):
    import subprocess

    path = Path(__file__).resolve().parents[2] / "model" / script
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_left_to_right_cut_keeps_a_clean_prefix_up_to_the_first_eos():
    eos = 1
    canvas = torch.tensor([[5, 6, 7, eos, eos, eos], [5, 6, 7, 8, 9, 10]])
    generator = torch.Generator().manual_seed(0)
    cuts = set()
    for _ in range(200):
        noisy, cut = train.left_to_right_cut(canvas, eos, 1000, generator)
        for row in range(2):
            k = int(cut[row])
            assert torch.equal(noisy[row, :k], canvas[row, :k])
            cuts.add((row, k))
    assert {k for row, k in cuts if row == 0} == {0, 1, 2, 3}  # never past the first EOS
    assert {k for row, k in cuts if row == 1} == set(range(6))


def test_evaluate_reports_the_decoders_next_token_loss(corpus, tokenizer):
    cfg = tiny_config(eval_examples=4)
    model = train.build_model(cfg, tokenizer)
    result = train.evaluate(model, train.eval_batches(corpus, tokenizer, cfg), [0.5])
    assert set(result) == {"diffusion@0.5", "ar", "ar_middle", "decoder_next"}
    assert 0 < result["decoder_next"] < 2 * math.log(model.config.text_config.vocab_size)


def test_a_run_can_train_on_some_languages_only(tmp_path):
    path = tmp_path / "mixed.jsonl"
    rows = [
        {"language": "python", "text": "x = 1\n"},
        {"language": "go", "text": "package a\n"},
        {"language": "rust", "text": ""},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from batches import read_corpus

    assert read_corpus(path) == [("python", "x = 1\n"), ("go", "package a\n")]
    assert read_corpus(path, ["python"]) == [("python", "x = 1\n")]
