"""Code actions "Fill this function" (on stub bodies) and "Fill selection", run as commands that apply an edit."""

from __future__ import annotations

import logging

from lsprotocol import types

from dgemma_lsp.lsp import planning
from dgemma_lsp.lsp.features import EmptyResult, lsp_errors
from dgemma_lsp.lsp.session import FILL_FUNCTION, FILL_SELECTION

log = logging.getLogger(__name__)


def register(server) -> None:
    session = server.session

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]),
    )
    def code_action(ls, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri, selection = params.text_document.uri, params.range
        actions: list[types.CodeAction] = []
        with lsp_errors("code action"):
            if not session.fillable(uri):  # excluded, too large or binary: nothing to offer
                return actions
            if session.stub_at(uri, selection) is not None:
                actions.append(_action("Fill this function", FILL_FUNCTION, [uri, selection.start]))
            if selection.start != selection.end:
                actions.append(_action("Fill selection", FILL_SELECTION, [uri, selection]))
        return actions

    # pygls structures each command argument from its annotation.
    @server.command(FILL_FUNCTION)
    async def fill_function(ls, uri: str, position: types.Position) -> bool:
        return await _fill_and_apply(ls, "fill function", lambda: session.plan_function(uri, position))

    @server.command(FILL_SELECTION)
    async def fill_selection(ls, uri: str, selection: types.Range) -> bool:
        return await _fill_and_apply(ls, "fill selection", lambda: session.plan_selection(uri, selection))


def _action(title: str, command: str, arguments: list) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.RefactorRewrite,
        command=types.Command(title=title, command=command, arguments=arguments),
    )


async def _fill_and_apply(ls, what: str, plan_fill) -> bool:
    """Plan, fill, apply with `workspace/applyEdit`; True when an edit was applied. Errors go to the user."""
    session = ls.session
    try:
        with lsp_errors(what):
            plan = plan_fill()
            if plan is None:
                ls.window_show_message(
                    types.ShowMessageParams(type=types.MessageType.Info, message=f"{what}: nothing to fill here")
                )
                return False
            outcome = await session.run(plan)
    except EmptyResult:
        message = session.load_error or "the model is not ready, or the document cannot be filled"
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"{what}: {message}"))
        return False
    if not outcome or not outcome.fills:
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=f"{what}: the model produced no usable code")
        )
        return False
    result = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=planning.workspace_edit(plan, outcome.fills[0].text), label=what)
    )
    return bool(result and result.applied)
