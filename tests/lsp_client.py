"""Shared pieces of the end-to-end tests: the server command, client capabilities and small waiting helpers."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
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


# --- raw connections: the base protocol byte for byte, for tests of framing, bad params and the exit code --------


def frame(message: dict, header: str = "Content-Length") -> bytes:
    body = json.dumps(message).encode()
    return f"{header}: {len(body)}\r\n\r\n".encode() + body


def read_message(stream) -> dict:
    """One message from a binary stream; EOFError when it closes."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("connection closed")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    body = stream.read(length)
    if len(body) < length:
        raise EOFError("connection closed inside a message")
    return json.loads(body)


class RawServer:
    """`dgemma-lsp serve` over real stdio pipes. A thread reads what the server writes, so a test can wait for a
    reply, or for the process to end, with a time limit instead of hanging."""

    def __init__(
        self, log_path, *extra: str, model: str = "tiny", settings: str | None = None, env: dict | None = None
    ) -> None:
        command = [sys.executable, "-m", "dgemma_lsp", "serve", "--model", model, "--log-file", str(log_path), *extra]
        if settings:
            command += ["--settings", settings]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env or SERVER_ENV)
        self.received: queue.Queue = queue.Queue()
        self.notifications: list[dict] = []  # what came while waiting for a reply: notifications, other replies
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                self.received.put(read_message(self.process.stdout))
        except (EOFError, ValueError, OSError):
            self.received.put(None)  # the server closed its end

    def send(self, message: dict | bytes) -> None:
        self.process.stdin.write(message if isinstance(message, bytes) else frame(message))
        self.process.stdin.flush()

    def request(self, id: int, method: str, params: dict | None = None) -> dict:
        return {"jsonrpc": "2.0", "id": id, "method": method, **({} if params is None else {"params": params})}

    def notification(self, method: str, params: dict | None = None) -> dict:
        return {"jsonrpc": "2.0", "method": method, **({} if params is None else {"params": params})}

    def reply(self, id: int | None, timeout: float = 30.0) -> dict | None:
        """The response to request `id`; None when the server closed its end or `timeout` passed first."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.received.get(timeout=left)
            except queue.Empty:
                return None
            if message is None:
                self.received.put(None)
                return None
            if message.get("id") == id and "method" not in message:
                return message
            self.notifications.append(message)
        return None

    def initialize(self, capabilities: dict | None = None) -> None:
        self.send(self.request(1, "initialize", {"capabilities": capabilities or {}}))
        assert self.reply(1, timeout=60) is not None, "initialize was not answered"

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
