"""Shared pieces of the end-to-end tests: the server command, client capabilities and small waiting helpers."""

from __future__ import annotations

import asyncio
import os
import sys
import time

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

# The protocol tests use the seeded tiny model: what they check (ranges, actions, edits, cancellation) must not
# depend on how well a checkpoint is trained. DGEMMA_TEST_MODEL=embedded (or a directory) runs them on another.
TEST_MODEL = os.environ.get("DGEMMA_TEST_MODEL") or "tiny"
SERVER_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def server_config(*extra: str, model: str = TEST_MODEL, settings: str | None = None) -> ClientServerConfig:
    command = [sys.executable, "-m", "dgemma_lsp", "serve", "--model", model, "--log-level", "INFO", *extra]
    if settings:
        command += ["--settings", settings]
    return ClientServerConfig(server_command=command, server_env=SERVER_ENV, client_factory=make_client)


def make_client() -> LanguageClient:
    from pytest_lsp.client import make_test_lsp_client

    client = make_test_lsp_client()
    client.applied_edits = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    return client


CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    text_document=types.TextDocumentClientCapabilities(
        synchronization=types.TextDocumentSyncClientCapabilities(),
        inline_completion=types.InlineCompletionClientCapabilities(),
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.RefactorRewrite])
            )
        ),
    ),
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True, workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)
    ),
)


async def initialize(client: LanguageClient, options: dict | None = None) -> float:
    """Initialize the session; returns how long `initialize` took to answer (seconds)."""
    started = time.perf_counter()
    await client.initialize_session(types.InitializeParams(capabilities=CAPABILITIES, initialization_options=options))
    return time.perf_counter() - started


async def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def model_loaded(client: LanguageClient) -> bool:
    return any(
        isinstance(report, types.WorkDoneProgressEnd)
        for reports in client.progress_reports.values()
        for report in reports
    )


async def wait_until_loaded(client: LanguageClient) -> None:
    await wait_for(lambda: model_loaded(client), what="the model to load")


def open_document(client: LanguageClient, uri: str, text: str, language_id: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=version, text=text)
        )
    )


def position_of(text: str, marker: str, after: bool = True) -> types.Position:
    """The LSP position (UTF-16 columns) just after (or at) the first occurrence of `marker`."""
    index = text.index(marker) + (len(marker) if after else 0)
    line = text.count("\n", 0, index)
    column_text = text[text.rfind("\n", 0, index) + 1 : index]
    return types.Position(line=line, character=len(column_text.encode("utf-16-le")) // 2)


async def inline(client: LanguageClient, uri: str, position: types.Position, invoked: bool = False):
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position,
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
    )
