"""`textDocument/inlineCompletion`: ghost text at the cursor, several candidates when asked.

The session reuses a suggestion the user is typing into and cancels the fill a newer request supersedes."""

from __future__ import annotations

from lsprotocol import types

from dgemma_lsp.lsp.features import EmptyResult, lsp_errors


def register(server) -> None:
    session = server.session

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls, params: types.InlineCompletionParams):
        invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        try:
            with lsp_errors("inline completion"):
                items = await session.complete_inline(params.text_document.uri, params.position, invoked=invoked)
        except EmptyResult:
            return types.InlineCompletionList(items=[])
        return types.InlineCompletionList(items=items)
