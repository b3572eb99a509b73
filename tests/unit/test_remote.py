"""The remote backend's plain functions: requests, streamed answers, errors, context budgets without a tokenizer,
and the once-per-kind reporting. The real server is in tests/e2e/test_e2e_remote.py."""

import json

import pytest

from dgemma_lsp.diffusion.chat import HOLE_MARKER, without_echo
from dgemma_lsp.errors import ModelLoadError, RemoteError
from dgemma_lsp.fill.context import collect_context
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.remote import (
    Outage,
    RemoteFiller,
    api_key,
    approximate_tokens,
    call_for,
    deltas,
    display_url,
    error_for_status,
    is_remote,
    line_complete,
    middle_of,
)
from dgemma_lsp.settings import ContextSettings, Settings, parse_settings


@pytest.mark.parametrize(
    ("model", "remote"),
    [
        ("http://gpu:8000/v1", True),
        ("https://team.example/v1", True),
        ("embedded", False),
        ("tiny", False),
        ("google/diffusiongemma-26B-A4B-it", False),
        ("/models/dg", False),
        ("httpdir/model", False),
    ],
)
def test_a_url_names_a_server(model, remote):
    assert is_remote(model) is remote


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://gpu:8000/v1", "http://gpu:8000/v1"),
        ("https://me:hunter2@gpu/v1?key=abc", "https://gpu/v1"),
        ("embedded", "embedded"),
        ("/models/dg", "/models/dg"),
    ],
)
def test_urls_are_shown_without_credentials(url, shown):
    assert display_url(url) == shown


def test_settings_take_a_remote_section():
    settings = parse_settings(
        {
            "model": "http://gpu:8000/v1",
            "remote": {"servedModel": "dg", "apiKeyEnv": "TEAM_KEY", "timeout": 2.5, "lineTokens": 32},
        }
    )
    assert settings.remote.served_model == "dg" and settings.remote.api_key_env == "TEAM_KEY"
    assert settings.remote.timeout == 2.5 and settings.remote.line_tokens == 32
    assert parse_settings({"remote": {"timeout": 0}}).remote.timeout == Settings().remote.timeout


@pytest.mark.parametrize(
    "text",
    ["def f(x):\n    return x + 1\n", "\t\tif (a) {\n\t\t\tb();\n\t\t}\n", "naïve = 'é'\n", "", "x" * 30],
)
def test_approximate_tokens_cover_the_text_in_order(text):
    ids, offsets = approximate_tokens(text)
    assert len(ids) == len(offsets)
    assert "".join(text[a:b] for a, b in offsets) == text  # nothing lost, nothing reordered
    assert all(text[a:b] == "\n" or "\n" not in text[a:b] for a, b in offsets)  # newlines are pieces of their own


def test_context_without_a_tokenizer_keeps_the_budget_and_cuts_at_lines():
    text = "".join(f"line_{i} = compute({i}, {i + 1})\n" for i in range(200))
    cursor = text.index("line_100")
    context = collect_context(text, Hole(FillKind.LINE, cursor, cursor), ContextSettings(40, 20), approximate_tokens)
    assert context.prefix_tokens <= 40 and context.suffix_tokens <= 20
    assert context.prefix.startswith("line_") and text[:cursor].endswith(context.prefix)
    assert context.suffix.endswith("\n") and text[cursor:].startswith(context.suffix)


@pytest.mark.parametrize(
    ("prompt_format", "kind", "path", "keys"),
    [
        ("chat", FillKind.LINE, "/chat/completions", {"messages"}),
        ("fim", FillKind.BLOCK, "/completions", {"prompt", "suffix"}),
        ("prefix", FillKind.LINE, "/completions", {"prompt"}),
    ],
)
def test_requests_by_prompt_format(prompt_format, kind, path, keys):
    settings = parse_settings({"remote": {"lineTokens": 40, "blockTokens": 300}, "completion": {"seed": 7}})
    call = call_for("def f():\n    ", "\nprint(f())\n", "python", kind, prompt_format, settings, "dg", 3)
    assert call.path == path
    body = call.body
    assert keys <= body.keys() and not ({"messages", "prompt", "suffix"} - keys) & body.keys()
    assert body["model"] == "dg" and body["n"] == 3 and body["stream"] is True and body["seed"] == 7
    assert body["max_tokens"] == (40 if kind is FillKind.LINE else 300)
    assert "temperature" not in body  # the server's own unless set
    if prompt_format == "chat":
        (message,) = body["messages"]
        assert message["role"] == "user" and f"def f():\n    {HOLE_MARKER}\nprint(f())\n" in message["content"]
    else:
        assert body["prompt"] == "def f():\n    "
    json.dumps(body)  # plain JSON


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('{"choices": [{"index": 0, "delta": {"content": "ret"}}]}', [(0, "ret")]),
        ('{"choices": [{"index": 1, "delta": {"role": "assistant"}}]}', [(1, "")]),
        ('{"choices": [{"index": 0, "text": "urn x"}, {"index": 1, "text": "urn y"}]}', [(0, "urn x"), (1, "urn y")]),
        ('{"choices": [{"message": {"content": "x + 1"}, "finish_reason": "stop"}]}', [(0, "x + 1")]),
        ('{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}', [(0, "")]),
        ('{"choices": []}', []),
    ],
)
def test_answers_are_read_from_chat_and_completion_chunks(payload, expected):
    assert deltas(payload) == expected


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ("{not json", "malformed"),
        ("<html>502</html>", "malformed"),
        ('{"id": "x"}', "malformed"),
        ('{"choices": "no"}', "malformed"),
        ('{"choices": [{"text": 5}]}', "malformed"),
        ("[1, 2]", "malformed"),
        ('{"error": {"message": "CUDA out of memory"}}', "server"),
    ],
)
def test_bad_answers_are_remote_errors(payload, kind):
    with pytest.raises(RemoteError) as raised:
        deltas(payload)
    assert raised.value.kind == kind


@pytest.mark.parametrize(
    ("answer", "prompt_format", "line_before", "middle"),
    [
        ("```python\nx + 1\n```", "chat", "    return ", "x + 1"),
        ("```python\n    return x + 1\n```\n", "chat", "    return ", "x + 1"),
        ("return x + 1", "chat", "    return ", "x + 1"),
        ("    total += x\n", "chat", "    ", "total += x\n"),
        ("x + 1", "chat", "    return ", "x + 1"),
        ("```\nfoo()", "chat", "", "foo()"),
        ("```python\nx + 1\n```", "prefix", "", "```python\nx + 1\n```"),
        ("x + 1\n", "fim", "    return ", "x + 1\n"),
    ],
)
def test_the_middle_of_an_answer(answer, prompt_format, line_before, middle):
    assert middle_of(answer, prompt_format, line_before) == middle


@pytest.mark.parametrize(
    ("middle", "line_before", "kept"),
    [
        ("x", "", "x"),
        ("    y = 2", "    ", "y = 2"),
        ("y = 2", "    ", "y = 2"),
        ("  y", "    ", "  y"),
        ("foo(a, b)", "    foo(", "a, b)"),
        ("bar(a)", "    foo(", "bar(a)"),
    ],
)
def test_without_echo(middle, line_before, kept):
    assert without_echo(middle, line_before) == kept


@pytest.mark.parametrize(
    ("answer", "prompt_format", "complete"),
    [
        ("x + 1", "prefix", False),
        ("x + 1\n", "prefix", True),
        ("```", "chat", False),
        ("```pyth", "chat", False),
        ("```python\n", "chat", False),
        ("```python\nx + 1", "chat", False),
        ("```python\nx + 1\n", "chat", True),
        ("x + 1\nmore", "chat", True),
    ],
)
def test_a_line_is_complete_at_its_newline(answer, prompt_format, complete):
    assert line_complete(answer, prompt_format) is complete


@pytest.mark.parametrize(
    ("status", "body", "kind", "says"),
    [
        (401, '{"error": {"message": "Invalid API key"}}', "unauthorized", "apiKeyEnv"),
        (403, "", "unauthorized", "HTTP 403"),
        (404, '{"error": {"message": "The model `dg-x` does not exist.", "code": 404}}', "not-found", "does not exist"),
        (400, '{"error": {"message": "suffix is not supported"}}', "rejected", "promptFormat to chat"),
        (422, '{"detail": [{"msg": "field required"}]}', "rejected", "HTTP 422"),
        (504, "", "timeout", "timed out"),
        (500, "Internal Server Error", "server", "Internal Server Error"),
    ],
)
def test_http_errors_say_what_to_do(status, body, kind, says):
    error = error_for_status(status, body, "http://me:secret@gpu:8000/v1", "dg-x")
    assert error.kind == kind and says in str(error)
    assert "secret" not in str(error) and "gpu:8000" in str(error)


def test_one_message_per_kind_of_failure_and_one_when_it_is_over():
    outage = Outage()
    down, late = RemoteError("unreachable", "cannot reach"), RemoteError("timeout", "late")
    assert outage.succeeded() is None
    assert "cannot reach" in outage.failed(down)
    assert outage.failed(down) is None and outage.failed(down) is None  # keystrokes while it is down
    assert "late" in outage.failed(late)
    assert "again" in outage.succeeded()
    assert outage.succeeded() is None
    assert outage.failed(down) is not None  # down again: said again


def test_the_api_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("TEAM_KEY", "sk-team-123")
    monkeypatch.delenv("UNSET_KEY", raising=False)
    assert api_key("TEAM_KEY") == "sk-team-123"
    assert api_key("UNSET_KEY") is None
    with pytest.raises(ModelLoadError) as raised:
        api_key("sk-pasted-by-mistake-123")
    assert "sk-pasted" not in str(raised.value)


@pytest.mark.parametrize("url", ["http://me:pw@gpu:8000/v1", "http://"])
def test_bad_server_urls_are_refused(url):
    with pytest.raises(ModelLoadError) as raised:
        RemoteFiller(parse_settings({"model": url}))
    assert "pw" not in str(raised.value)


def test_auto_prompt_format_means_chat_for_a_server():
    assert RemoteFiller(parse_settings({"model": "http://gpu:8000/v1"})).prompt_format == "chat"
    assert RemoteFiller(parse_settings({"model": "http://gpu:8000/v1", "promptFormat": "fim"})).prompt_format == "fim"


def test_an_unreachable_server_is_a_remote_error_not_a_crash():
    filler = RemoteFiller(parse_settings({"model": "http://127.0.0.1:9/v1", "remote": {"timeout": 5}}))
    text = "def f(x):\n    return \n"
    with pytest.raises(RemoteError) as raised:
        filler.fill(text, Hole(FillKind.LINE, text.index("return ") + 7, text.index("return ") + 7), "python")
    assert raised.value.kind == "unreachable"


def test_a_remote_fill_loads_no_torch():
    """An editor pointed at a team server needs no model library in its own process."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from dgemma_lsp.fill.remote import RemoteFiller\n"
        "from dgemma_lsp.lsp.session import Session\n"
        "from dgemma_lsp.settings import parse_settings\n"
        "from dgemma_lsp.errors import RemoteError\n"
        "from dgemma_lsp.fill.holes import FillKind, Hole\n"
        "session = Session(parse_settings({'model': 'http://127.0.0.1:9/v1'}))\n"
        "session.load_model()\n"
        "assert isinstance(session.filler, RemoteFiller), session.load_error\n"
        "try:\n"
        "    session.filler.fill('def f():\\n    return \\n', Hole(FillKind.LINE, 20, 20), 'python')\n"
        "except RemoteError:\n"
        "    pass\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr
