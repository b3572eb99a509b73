"""The one way to get a filler for the configured model, shared by the server, the headless commands and the
evaluation: an OpenAI-compatible server's URL gives a `RemoteFiller`, anything else the in-process pipeline.

torch and transformers are imported here, on first use, not at import time: the server answers `initialize`
before they load."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from dgemma_lsp.diffusion.base_model import Progress
from dgemma_lsp.fill.remote import RemoteFiller, is_remote
from dgemma_lsp.settings import Settings

if TYPE_CHECKING:
    from dgemma_lsp.fill.pipeline import Filler

log = logging.getLogger(__name__)


def load_filler(settings: Settings, progress: Progress = lambda message, fraction: None) -> Filler | RemoteFiller:
    """Blocking. Raises a `DgemmaError` (`ModelLoadError` for a local model) with a message for the user. A remote
    filler is not contacted here: `RemoteFiller.check` asks the server when the caller wants to know now."""
    if is_remote(settings.model):
        return RemoteFiller(settings)
    started = time.perf_counter()
    import torch

    from dgemma_lsp.diffusion import loading
    from dgemma_lsp.fill.pipeline import Filler

    imported = time.perf_counter()  # torch + transformers: most of the time to the first completion
    if settings.threads:
        torch.set_num_threads(settings.threads)
    filler = Filler(loading.load(settings, progress), settings)
    log.info("model ready: imports %.2fs, load %.2fs", imported - started, time.perf_counter() - imported)
    return filler
