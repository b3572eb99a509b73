"""Load a DiffusionGemma checkpoint and its tokenizer: the embedded model, a directory, or a Hugging Face id.

Nothing is downloaded unless the user allowed it, and `trust_remote_code` is never turned on: the architecture
ships with transformers. With downloads off nothing leaves the machine: `local_files_only` alone still let the hub
fetch its list of AI agents (for the user agent of requests it was not going to make) from huggingface.co, so the
hub is put in offline mode for the load.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from dgemma_lsp.diffusion.base_model import Progress, converted_dir, recipe_dir
from dgemma_lsp.diffusion.canvas_drafter import ADAPTER_FILE, CanvasDrafter
from dgemma_lsp.diffusion.configs import configure_generation, tiny_model
from dgemma_lsp.diffusion.lean import pack_bfloat16
from dgemma_lsp.diffusion.prompts import PromptFormat, prompt_format_for
from dgemma_lsp.diffusion.tokens import EOS, byte_tokenizer, special_ids, wrap_tokenizer
from dgemma_lsp.errors import ModelLoadError
from dgemma_lsp.settings import RELEASED_SAMPLER, SamplerSettings, Settings

if TYPE_CHECKING:
    from transformers import DiffusionGemmaForBlockDiffusion, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
TINY = "tiny"


@dataclass
class LoadedModel:
    name: str  # what the settings asked for, for messages
    model: DiffusionGemmaForBlockDiffusion
    tokenizer: PreTrainedTokenizerBase
    prompt_format: PromptFormat
    eos_id: int
    pad_id: int | None
    # Trained with healed indentation (`context.trailing_indentation`): such a checkpoint declares
    # `fim_heal_indentation` in its config.json; any other model gets prompts cut at the cursor.
    heals_indentation: bool = False
    decoding: str = "diffusion"  # "diffusion", "greedy" (`autoregressive.greedy_decode`) or "drafted" (greedy's)
    drafter: CanvasDrafter | None = None  # with "drafted": drafts greedy decoding verifies (`canvas_drafter.py`)
    sampler: SamplerSettings = RELEASED_SAMPLER  # the checkpoint's own (`checkpoint_sampler`); settings go over it

    @property
    def canvas_length(self) -> int:
        """Tokens per canvas (block), from the model's config."""
        length = self.model.config.canvas_length
        assert length is not None  # transformers types it optional; every DiffusionGemma config has one
        return length


def embedded_dir() -> Path:
    """The embedded model's recipe (config, tokenizer, which base weights); the weights are converted on first use
    into the cache (`base_model.converted_dir`)."""
    return recipe_dir()


def embedded_available() -> bool:
    return all((embedded_dir() / name).is_file() for name in ("config.json", "base.json", "tokenizer.json"))


def load(settings: Settings, progress: Progress = lambda message, fraction: None) -> LoadedModel:
    """Load what `settings.model` names, or raise ModelLoadError with a message a user can act on. `progress`
    hears of the embedded model's one-time conversion."""
    name = settings.model
    if name == TINY or (name == EMBEDDED and not embedded_available()):
        if name == EMBEDDED:
            log.warning("no embedded model recipe in %s; using the tiny random model", embedded_dir())
        model, tokenizer = tiny_model(seed=0)
        return _finish(name, model, tokenizer, settings, None)
    source = converted_dir(progress) if name == EMBEDDED else name
    local_only = name == EMBEDDED or not settings.allow_download
    if not Path(source).is_dir() and _looks_like_path(str(source)):
        raise ModelLoadError(f"model directory {source} does not exist")
    with _hub_offline(local_only):
        model, tokenizer = _from_pretrained(name, source, local_only, settings)
    # The embedded model's drafter ships in its recipe (the converted folder holds the converted base only).
    drafter_dir = embedded_dir() if name == EMBEDDED else Path(source)
    return _finish(name, model, tokenizer, settings, drafter_dir / ADAPTER_FILE)


def _from_pretrained(name: str, source, local_only: bool, settings: Settings):
    from transformers import AutoConfig, AutoTokenizer, DiffusionGemmaForBlockDiffusion

    cached = not local_only or Path(source).is_dir()
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_only, trust_remote_code=False)
    except (OSError, ValueError) as error:
        if not cached and isinstance(error, OSError):
            raise ModelLoadError(_NOT_CACHED.format(name=name)) from error
        raise ModelLoadError(f"cannot load model {name!r}: {error}") from error
    if getattr(config, "model_type", None) != "diffusion_gemma":
        raise ModelLoadError(f"{name!r} is a {config.model_type!r} model, not DiffusionGemma")
    device = _device(settings.device)
    dtype = _dtype(settings.dtype, device)
    try:
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(
            source, config=config, dtype=dtype, local_files_only=local_only, trust_remote_code=False
        )
        tokenizer = _tokenizer(source, local_only, AutoTokenizer)
    except (OSError, ValueError, RuntimeError) as error:
        hint = "" if cached else f" ({_NOT_CACHED.format(name=name)})"
        raise ModelLoadError(f"cannot load model {name!r}: {error}{hint}") from error
    return model.to(device).eval(), tokenizer  # type: ignore[arg-type]  # the stubs lose `to`'s binding


_NOT_CACHED = (
    "model {name!r} is not in the local cache; allowDownload is off, so nothing was fetched "
    "(set allowDownload to download it)"
)


@contextlib.contextmanager
def _hub_offline(offline: bool):
    """The Hugging Face hub in offline mode while the block runs, when `offline`: no request of any kind (its
    agent detection fetched a list from huggingface.co even with `local_files_only`). The hub reads the flag on each
    call; it is put back after, so that a later load with downloads allowed can fetch."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    saved, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = saved


def _tokenizer(source, local_only: bool, auto_tokenizer):
    tokenizer_json = Path(source) / "tokenizer.json"
    if tokenizer_json.is_file() and not (Path(source) / "tokenizer_config.json").is_file():
        from tokenizers import Tokenizer

        return wrap_tokenizer(Tokenizer.from_file(str(tokenizer_json)))
    return auto_tokenizer.from_pretrained(source, local_files_only=local_only, trust_remote_code=False)


def _finish(name: str, model, tokenizer, settings: Settings, drafter_file: Path | None) -> LoadedModel:
    if len(tokenizer) > model.config.text_config.vocab_size:
        raise ModelLoadError(f"tokenizer of {name!r} has more ids than the model's vocabulary")
    # A checkpoint may declare its prompt layout and decoding in config.json (`dgemma_prompt_format`,
    # `dgemma_decoding`); transformers keeps unknown config keys as attributes.
    wanted_format = settings.prompt_format
    if wanted_format == "auto":
        wanted_format = getattr(model.config, "dgemma_prompt_format", None) or "auto"
    prompt_format = prompt_format_for(tokenizer, wanted_format)
    decoding = settings.decoding
    if decoding == "auto":
        decoding = getattr(model.config, "dgemma_decoding", None) or "diffusion"
    if decoding not in ("diffusion", "greedy", "drafted"):
        raise ModelLoadError(
            f"{name!r} asks for decoding {decoding!r}; dgemma-lsp knows 'diffusion', 'greedy' and 'drafted'"
        )
    drafter = None
    if decoding == "drafted":
        if drafter_file is None or not drafter_file.is_file():
            raise ModelLoadError(f"decoding 'drafted' needs a drafter ({ADAPTER_FILE}) beside {name!r}'s config")
        try:
            drafter = CanvasDrafter.load(model, drafter_file)
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise ModelLoadError(f"cannot load the drafter {drafter_file}: {error}") from error
    eos_id = tokenizer.convert_tokens_to_ids(EOS) if EOS in tokenizer.get_vocab() else tokenizer.eos_token_id
    if eos_id is None:
        raise ModelLoadError(f"tokenizer of {name!r} has no end-of-sequence token")
    pad_id = tokenizer.pad_token_id
    if prompt_format.name in ("fim", "prefix"):
        configure_generation(model, special_ids(tokenizer))
    log.info(
        "loaded model %s (%s prompts, %s decoding, canvas %d)",
        name,
        prompt_format.name,
        decoding,
        model.config.canvas_length,
    )
    if decoding != "diffusion" and settings.matmuls != "float32" and not pack_bfloat16(model):
        if settings.matmuls == "bfloat16":
            log.warning("bfloat16 matmuls asked for, but this CPU or model has none; multiplying in float32")
    heals = prompt_format.name == "fim" and bool(getattr(model.config, "fim_heal_indentation", False))
    sampler = checkpoint_sampler(model)
    return LoadedModel(name, model, tokenizer, prompt_format, eos_id, pad_id, heals, decoding, drafter, sampler)


def checkpoint_sampler(model) -> SamplerSettings:
    """The sampler a checkpoint was tuned for: the released fields of its generation_config.json, and
    `dgemma_self_conditioning` from its config.json (transformers' diffusion generation config rejects keys it does
    not know); RELEASED_SAMPLER for what it leaves unset. A value that does not make a valid sampler is ignored."""
    generation = model.generation_config
    bound = getattr(generation, "sampler_config", None)
    bound = bound.get("entropy_bound") if isinstance(bound, dict) else getattr(bound, "entropy_bound", None)
    own = {
        "max_denoising_steps": getattr(generation, "max_denoising_steps", None),
        "entropy_bound": bound,
        "t_max": getattr(generation, "t_max", None),
        "t_min": getattr(generation, "t_min", None),
        "stability_threshold": getattr(generation, "stability_threshold", None),
        "confidence_threshold": getattr(generation, "confidence_threshold", None),
        "self_conditioning": getattr(model.config, "dgemma_self_conditioning", None),
    }
    try:
        return SamplerSettings(**own).over(RELEASED_SAMPLER)
    except (TypeError, ValueError) as error:
        log.warning("the checkpoint's sampler values %s are not usable (%s); using the released ones", own, error)
        return RELEASED_SAMPLER


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or (os.sep in name and name.count("/") != 1)


def _device(wanted: str) -> torch.device:
    if wanted == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' was asked for, but torch sees no CUDA device")
    return torch.device(wanted)


def _dtype(wanted: str, device: torch.device) -> torch.dtype:
    if wanted == "auto":
        # CPUs here have no bf16 units (bf16 matmuls ran 4-7x slower); GPUs want bf16.
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, wanted)


__all__ = [
    "EMBEDDED",
    "TINY",
    "LoadedModel",
    "byte_tokenizer",
    "checkpoint_sampler",
    "embedded_available",
    "embedded_dir",
    "load",
]
