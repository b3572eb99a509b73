"""The language server: creates it and registers the features. The logic lives in `session.py` and below."""

from __future__ import annotations

from pygls.lsp.server import LanguageServer

from . import __version__
from .session import Session
from .settings import parse_settings


class DgemmaServer(LanguageServer):
    def __init__(self, session: Session) -> None:
        super().__init__("dgemma-lsp", __version__)
        self.session = session


def create_server(cli_settings: dict | None = None) -> DgemmaServer:
    """A server whose settings start from the command line's; the editor's settings are layered on top."""
    from .features import code_actions, inline_completion, lifecycle, sync

    server = DgemmaServer(Session(parse_settings(cli_settings)))
    for feature in (lifecycle, sync, inline_completion, code_actions):
        feature.register(server)
    return server
