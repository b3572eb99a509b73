"""Document synchronisation: full and incremental; each change also updates the document's syntax tree and
cancels the inline fill running for the older text."""

from __future__ import annotations

from lsprotocol import types


def register(server) -> None:
    session = server.session
    documents = session.documents

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        documents.open(item.uri, item.text, item.version, item.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        session.change_document(params.text_document.uri, params.content_changes, params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        documents.close(params.text_document.uri)
