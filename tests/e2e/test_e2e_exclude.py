"""End to end: a document the `exclude` setting names (a `.env`, key or credential file) gets no completion and no
code action; the same text under another name gets both."""

import pytest_lsp
from lsp_client import initialize, inline, open_document, server_config, wait_until_loaded
from lsprotocol import types
from pytest_lsp import LanguageClient

STUB = "def connect(url):\n    pass\n"


@pytest_lsp.fixture(config=server_config(model="tiny"))
async def client(lsp_client: LanguageClient):
    await initialize(lsp_client)
    await wait_until_loaded(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def actions(client: LanguageClient, uri: str) -> list[str]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(1, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [action.title for action in found or []]


async def test_excluded_documents_get_no_completion_and_no_action(client: LanguageClient):
    for uri in ("file:///work/client_secret.py", "file:///work/.env.py", "file:///work/deploy/ID_RSA"):
        open_document(client, uri, STUB, "python")
        assert not (await inline(client, uri, types.Position(1, 8))).items
        assert await actions(client, uri) == []
    open_document(client, "file:///work/client.py", STUB, "python")
    assert await actions(client, "file:///work/client.py") == ["Fill this function", "Fill selection"]
