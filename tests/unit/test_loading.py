"""Model choice: a checkpoint directory, a Hugging Face id from the local cache only, and clear errors."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dgemma_lsp.diffusion.configs import tiny_model
from dgemma_lsp.diffusion.loading import load
from dgemma_lsp.errors import ModelLoadError
from dgemma_lsp.settings import parse_settings


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint")
    model, tokenizer = tiny_model(seed=3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model


def test_a_checkpoint_directory_loads_with_fim_prompts(checkpoint):
    folder, original = checkpoint
    loaded = load(parse_settings({"model": str(folder)}))
    assert loaded.prompt_format.name == "fim"
    for (name, a), b in zip(original.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_hub_id_resolves_from_the_local_cache_only(checkpoint, tmp_path):
    folder, _ = checkpoint
    # The hub cache layout: models--org--name/{refs/main, snapshots/<revision>/...}
    repo = tmp_path / "hub" / "models--example--tiny-dgemma"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    # The hub reads its cache location at import, so the load runs in a fresh interpreter.
    script = (
        "from dgemma_lsp.diffusion.loading import load\nfrom dgemma_lsp.settings import parse_settings\n"
        "loaded = load(parse_settings({'model': 'example/tiny-dgemma'}))\n"
        "print(loaded.model.config.model_type, loaded.prompt_format.name)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["diffusion_gemma", "fim"]


def test_a_hub_id_missing_from_the_cache_says_how_to_get_it():
    with pytest.raises(ModelLoadError) as raised:
        load(parse_settings({"model": "google/diffusiongemma-26B-A4B-it"}))
    message = str(raised.value)
    assert "google/diffusiongemma-26B-A4B-it" in message and "allowDownload" in message


# Loaded at interpreter start (sitecustomize): every name lookup and every TCP connect is written down and refused.
NETWORK_GUARD = """
import socket, sys

def _refuse(name):
    def call(*args, **kwargs):
        sys.stderr.write(f"NETWORK {name} {args[:2]!r}\\n")
        raise OSError(f"{name}: no network in this test")
    return call

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
socket.getaddrinfo = _refuse("getaddrinfo")
socket.gethostbyname = _refuse("gethostbyname")
socket.socket.connect = lambda s, a: _refuse("connect")(a) if s.family != socket.AF_UNIX else _connect(s, a)
socket.socket.connect_ex = lambda s, a: _refuse("connect_ex")(a) if s.family != socket.AF_UNIX else _connect_ex(s, a)
"""


def test_with_downloads_off_nothing_leaves_the_machine(tmp_path):
    """`--model <hub id>` without allowDownload: no DNS lookup, no connect, and a message that says why. The hub
    fetched its agent list from huggingface.co inside from_pretrained, even with local_files_only."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NETWORK_GUARD)
    source = tmp_path / "stub.py"
    source.write_text("def area(r):\n    pass\n")
    root = str(Path(__file__).resolve().parents[2])
    env = {key: value for key, value in os.environ.items() if key not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    # An empty hub home: no cached agent list (the hub refreshes it once a day) and no cached model.
    env |= {"HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), root])}
    command = [sys.executable, "-m", "dgemma_lsp", "fill", "--model", "google/diffusiongemma-26B-A4B-it", str(source)]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=120)
    assert "NETWORK" not in done.stderr, done.stderr[-2000:]
    assert "not in the local cache; allowDownload is off" in done.stderr, done.stderr[-2000:]


def test_a_missing_directory_is_a_clear_error():
    with pytest.raises(ModelLoadError, match="does not exist"):
        load(parse_settings({"model": "/no/such/checkpoint"}))


def test_another_architecture_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match="not DiffusionGemma"):
        load(parse_settings({"model": str(tmp_path)}))


def test_the_sampler_defaults_are_the_checkpoints(tmp_path):
    """A checkpoint names its sampler in generation_config.json (the released fields) and config.json
    (`dgemma_self_conditioning`); what it leaves unset is the released default; settings go over it."""

    from transformers.models.diffusion_gemma.generation_diffusion_gemma import EntropyBoundSamplerConfig

    from dgemma_lsp.fill.pipeline import Filler
    from dgemma_lsp.settings import RELEASED_SAMPLER

    model, tokenizer = tiny_model(seed=0)
    model.generation_config.max_denoising_steps = 7
    model.generation_config.t_max = 0.9
    model.generation_config.sampler_config = EntropyBoundSamplerConfig(entropy_bound=0.25)
    model.config.dgemma_self_conditioning = True
    model.save_pretrained(tmp_path / "own")
    tokenizer.save_pretrained(tmp_path / "own")
    loaded = load(parse_settings({"model": str(tmp_path / "own")}))
    assert loaded.sampler == dataclasses.replace(
        RELEASED_SAMPLER, max_denoising_steps=7, t_max=0.9, entropy_bound=0.25, self_conditioning=True
    )
    settings = parse_settings({"model": str(tmp_path / "own"), "sampler": {"maxDenoisingSteps": 2}})
    assert Filler(loaded, settings).settings.sampler.over(loaded.sampler).max_denoising_steps == 2

    shutil.copytree(tmp_path / "own", tmp_path / "plain")
    config = json.loads((tmp_path / "plain" / "config.json").read_text())
    del config["dgemma_self_conditioning"]
    (tmp_path / "plain" / "config.json").write_text(json.dumps(config))
    (tmp_path / "plain" / "generation_config.json").write_text(json.dumps({"eos_token_id": loaded.eos_id}))
    assert load(parse_settings({"model": str(tmp_path / "plain")})).sampler == RELEASED_SAMPLER


def test_drafted_decoding_without_a_drafter_is_a_clear_error(checkpoint, tmp_path):
    folder, _ = checkpoint
    with pytest.raises(ModelLoadError, match=r"drafter\.safetensors"):
        load(parse_settings({"model": str(folder), "decoding": "drafted"}))
    # a drafter file that does not fit the model (here: not even a safetensors file) is refused by name
    broken = tmp_path / "checkpoint"
    shutil.copytree(folder, broken)
    (broken / "drafter.safetensors").write_bytes(b"not a drafter")
    with pytest.raises(ModelLoadError, match="cannot load the drafter"):
        load(parse_settings({"model": str(broken), "decoding": "drafted"}))
