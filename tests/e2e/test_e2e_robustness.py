"""End to end: bad input gets an empty result or a clear error and the server stays alive; cancelled and
superseded fills free the model thread; a model that cannot load is reported and the server keeps serving."""

import asyncio
import time

import pytest
import pytest_lsp
from lsp_client import initialize, inline, open_document, position_of, server_config, wait_for, wait_until_loaded
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

PYTHON = "def area(radius):\n    r2 = radius * radius\n    return \n"
URI = "file:///work/area.py"
# Never confident, so denoising runs all its steps: a fill takes minutes unless it is cancelled.
ENDLESS = '{"sampler": {"maxDenoisingSteps": 100000, "confidenceThreshold": 1e-12}, "model": "tiny"}'


@pytest_lsp.fixture(config=server_config(model="tiny"))
async def client(lsp_client: LanguageClient):
    await initialize(lsp_client)
    await wait_until_loaded(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def assert_alive(client: LanguageClient) -> None:
    """The server still answers a normal request."""
    open_document(client, URI, PYTHON, "python")
    result = await inline(client, URI, position_of(PYTHON, "return "))
    assert isinstance(result, types.InlineCompletionList)


@pytest.mark.parametrize("position", [types.Position(99, 0), types.Position(4, 1), types.Position(2**31 - 1, 0)])
async def test_positions_past_the_last_line_get_a_clear_error(client: LanguageClient, position):
    open_document(client, URI, PYTHON, "python")
    with pytest.raises(JsonRpcException) as raised:
        await inline(client, URI, position)
    assert f"position {position.line}:{position.character} is outside" in str(raised.value)
    await assert_alive(client)


@pytest.mark.parametrize("position", [types.Position(0, 500), types.Position(2, 10_000)])
async def test_a_character_past_the_line_end_means_the_line_end(client: LanguageClient, position):
    """LSP: a character beyond the line's length defaults back to the line's length."""
    open_document(client, URI, PYTHON, "python")
    result = await inline(client, URI, position)
    line_end = types.Position(position.line, len(PYTHON.splitlines()[position.line]))
    assert all(item.range.start == line_end for item in result.items)


async def test_unknown_uri_gets_a_clear_error(client: LanguageClient):
    with pytest.raises(JsonRpcException) as raised:
        await inline(client, "file:///never/opened.py", types.Position(0, 0))
    assert "opened.py" in str(raised.value)
    await assert_alive(client)


async def test_binary_buffer_gets_an_empty_result(client: LanguageClient):
    binary = "\x00\x01\x02ELF\x00" * 200 + "\n"
    open_document(client, "file:///work/blob.py", binary, "python")
    result = await inline(client, "file:///work/blob.py", types.Position(0, 3))
    assert not result.items
    await assert_alive(client)


async def test_ten_megabyte_file_gets_an_empty_result(client: LanguageClient):
    big = "x = 1\n" * (10 * 1024 * 1024 // 6)
    open_document(client, "file:///work/big.py", big, "python")
    started = time.perf_counter()
    result = await inline(client, "file:///work/big.py", types.Position(5, 5))
    assert not result.items
    assert time.perf_counter() - started < 30
    await assert_alive(client)


async def test_over_the_configured_size_limit_completions_and_code_actions_are_empty(client: LanguageClient):
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dgemma": {"limits": {"maxFileBytes": 1_000}}})
    )
    text = "def area(radius):\n    pass\n" + "# padding\n" * 200
    open_document(client, URI, text, "python")
    result = await inline(client, URI, position_of(text, "    "))
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=URI),
            range=types.Range(types.Position(1, 4), types.Position(1, 8)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert not result.items and not actions


async def test_unknown_language_gets_plain_text_infill(client: LanguageClient):
    text = "shopping list:\n- apples\n- \n"
    open_document(client, "file:///work/notes.txt", text, "plaintext")
    result = await inline(client, "file:///work/notes.txt", position_of(text, "- apples\n- "))
    assert isinstance(result, types.InlineCompletionList)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///work/notes.txt"),
            range=types.Range(types.Position(0, 0), types.Position(1, 3)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert [action.title for action in actions] == ["Fill selection"]  # no syntax, so no "Fill this function"
    await assert_alive(client)


async def test_fill_selection_replaces_the_selection(client: LanguageClient):
    text = "def area(radius):\n    r2 = radius * radius\n    return r2 * 3.14159\n"
    open_document(client, URI, text, "python")
    selection = types.Range(types.Position(2, 4), types.Position(2, 23))
    applied = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="dgemma.fillSelection", arguments=[URI, selection])
    )
    if applied:
        (change,) = client.applied_edits[-1].document_changes
        assert change.edits[0].range == selection
    else:
        assert any("fill selection" in m.message for m in client.messages)


@pytest_lsp.fixture(config=server_config(model="tiny", settings=ENDLESS))
async def slow_client(lsp_client: LanguageClient):
    await initialize(lsp_client)
    await wait_until_loaded(lsp_client)
    open_document(lsp_client, URI, PYTHON, "python")
    yield
    await lsp_client.shutdown_session()


async def quick_fill_after(client: LanguageClient) -> float:
    """Turn the step count back down and time a fill: it only finishes quickly if the model thread is free."""
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dgemma": {"sampler": {"maxDenoisingSteps": 4}}})
    )
    started = time.perf_counter()
    result = await asyncio.wait_for(inline(client, URI, position_of(PYTHON, "return ")), timeout=60)
    assert isinstance(result, types.InlineCompletionList)
    return time.perf_counter() - started


async def test_cancelled_fill_frees_the_model_thread(slow_client: LanguageClient):
    client = slow_client
    pending = set(client.protocol._request_futures)
    request = asyncio.ensure_future(inline(client, URI, position_of(PYTHON, "return ")))
    await asyncio.sleep(1.5)  # well into denoising
    assert not request.done()
    # Cancel as an editor does: $/cancelRequest for the request's id, then wait for the server's answer.
    (request_id,) = set(client.protocol._request_futures) - pending
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(request, timeout=10)
    assert await quick_fill_after(client) < 30


async def test_newer_inline_request_supersedes_the_running_one(slow_client: LanguageClient):
    client = slow_client
    first = asyncio.ensure_future(inline(client, URI, position_of(PYTHON, "return ")))
    await asyncio.sleep(1.5)
    assert await quick_fill_after(client) < 30  # the newer request cancels the endless one
    result = await asyncio.wait_for(first, timeout=10)
    assert not result.items


async def test_an_edit_cancels_the_fill_for_the_older_text(slow_client: LanguageClient):
    """No answer computed for an older version arrives after the edit: the fill is stopped and the answer empty."""
    client = slow_client
    request = asyncio.ensure_future(inline(client, URI, position_of(PYTHON, "return ")))
    await asyncio.sleep(1.5)  # well into an endless fill
    start = position_of(PYTHON, "radius * radius")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start, start), text="2 * ")],
        )
    )
    result = await asyncio.wait_for(request, timeout=10)
    assert not result.items


@pytest_lsp.fixture(config=server_config(model="/nonexistent/checkpoint"))
async def broken_client(lsp_client: LanguageClient):
    await initialize(lsp_client)
    yield
    await lsp_client.shutdown_session()


async def test_model_load_failure_is_shown_and_the_server_keeps_running(broken_client: LanguageClient):
    client = broken_client
    await wait_for(lambda: any(m.type == types.MessageType.Error for m in client.messages), what="an error message")
    error = next(m for m in client.messages if m.type == types.MessageType.Error)
    assert "/nonexistent/checkpoint" in error.message
    open_document(client, URI, PYTHON, "python")
    result = await inline(client, URI, position_of(PYTHON, "return "))
    assert not result.items
