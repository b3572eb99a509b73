"""LSP features, one module each; every handler turns params into a Session call and wraps the result."""

from __future__ import annotations

import contextlib
import logging

from pygls.exceptions import JsonRpcInvalidParams

from dgemma_lsp.errors import (
    CancelledError,
    InvalidPositionError,
    ModelNotReadyError,
    UnknownDocumentError,
    UnsupportedDocumentError,
)

log = logging.getLogger(__name__)


class EmptyResult(Exception):
    """Raised inside `lsp_errors` to make the handler return its empty result."""


@contextlib.contextmanager
def lsp_errors(what: str):
    """Our errors at the protocol boundary: bad params become InvalidParams; nothing-to-fill becomes empty."""
    try:
        yield
    except (InvalidPositionError, UnknownDocumentError) as error:
        raise JsonRpcInvalidParams(message=f"{what}: {error}") from error
    except (UnsupportedDocumentError, ModelNotReadyError, CancelledError) as error:
        log.info("%s: %s", what, error)
        raise EmptyResult() from error
