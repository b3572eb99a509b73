"""One exception hierarchy for the whole package.

The LSP layer turns these into protocol errors or user messages at the boundary; the core raises them and never
imports pygls. "Nothing to fill" is not an error: the pipeline returns an empty result for it.
"""


class DgemmaError(Exception):
    """Base of every error dgemma-lsp raises on purpose."""


class InvalidPositionError(DgemmaError):
    """A position or range lies outside the document."""


class UnknownDocumentError(DgemmaError):
    """A request names a document the server has not been told about."""


class UnsupportedDocumentError(DgemmaError):
    """The buffer cannot be filled: binary content, or larger than the configured limit."""


class ModelLoadError(DgemmaError):
    """The configured model could not be loaded (missing files, not in the local cache, wrong architecture)."""


class ModelNotReadyError(DgemmaError):
    """A fill was asked for before the model finished loading, or after it failed to load."""


class FramingError(DgemmaError):
    """The client's byte stream has lost its message boundaries (a wrong or missing Content-Length)."""


class SettingsError(DgemmaError):
    """A settings value could not be used."""


class CancelledError(DgemmaError):
    """The request was cancelled or superseded; raised between two denoising steps."""


class RemoteError(DgemmaError):
    """A remote model server (`remote.py`) failed a fill. `kind` groups failures the user fixes the same way
    ("unreachable", "unauthorized", "not-found", "rejected", "timeout", "malformed", "server"): the editor is told
    once per kind, not once per keystroke."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
