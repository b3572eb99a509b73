"""The language server: creates it and registers the features. The logic lives in `session.py` and below."""

from __future__ import annotations

from pygls.lsp.server import LanguageServer

from . import __version__
from .session import Session
from .settings import Settings


class DgemmaServer(LanguageServer):
    def __init__(self, session: Session, cli_settings: dict | None = None) -> None:
        super().__init__("dgemma-lsp", __version__)
        self.session = session
        self.cli_settings = cli_settings or {}  # applied after the editor's, so command-line flags win


def create_server(settings: Settings | None = None, cli_settings: dict | None = None) -> DgemmaServer:
    from .features import code_actions, inline_completion, lifecycle, sync

    server = DgemmaServer(Session(settings), cli_settings)
    for feature in (lifecycle, sync, inline_completion, code_actions):
        feature.register(server)
    return server
