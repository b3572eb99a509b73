"""`textDocument/inlineCompletion`: ghost text at the cursor, several candidates when asked."""

from __future__ import annotations

from lsprotocol import types

from . import EmptyResult, lsp_errors


def register(server) -> None:
    session = server.session

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls, params: types.InlineCompletionParams):
        try:
            with lsp_errors("inline completion"):
                plan = session.plan_inline(params.text_document.uri, params.position)
                if plan is None:
                    return types.InlineCompletionList(items=[])
                invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
                candidates = session.settings.completion.invoked_candidates if invoked else None
                outcome = await session.run(plan, candidates=candidates, supersede=True)
        except EmptyResult:
            return types.InlineCompletionList(items=[])
        fills = outcome.fills if outcome else []
        items = [types.InlineCompletionItem(insert_text=fill.text, range=plan.range) for fill in fills]
        return types.InlineCompletionList(items=items)
