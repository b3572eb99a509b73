"""A model behind an OpenAI-compatible server: vLLM serving DiffusionGemma on a team's GPU, or llama.cpp.

Only the model call leaves this process. Hole choice, context, post-processing and ranking are the local
pipeline's (`canvas.collect_context`, `pipeline.finish_middles`); `RemoteFiller.fill` has `Filler.fill`'s shape, so
the LSP session, the headless CLI and `bench lsp` drive either.

Prompts, by `promptFormat`:
- "chat" (what "auto" means here): `/chat/completions` with one user turn (`prompts.chat_messages`). The server
  renders it with the served checkpoint's own chat template, so no tokenizer or template is needed on this side
  and none can go stale; the answer is unfenced and the echo of the typed line dropped (`middle_of`). This is the
  only infilling vLLM offers for the 26B model: its `/completions` rejects `suffix` and the checkpoint has no FIM
  tokens.
- "fim": `/completions` with `prompt` (prefix) and `suffix`, for servers and models that infill natively.
- "prefix": `/completions` with the prefix alone, for a base model that only continues text.

Without the model's tokenizer, context budgets count approximate tokens (`approximate_tokens`: words cut every
four characters, each punctuation mark, each run of blanks); a code tokenizer makes about as many.

Every request streams (SSE). A line fill closes its stream once the line is complete; a superseded or cancelled
fill closes it at once (the asyncio task is cancelled; leaving `client.stream` drops the connection, which vLLM and
llama.cpp take as an abort). Several candidates are one request with `n`; a server that answers fewer choices
gets `n` parallel requests from then on. Failures become `RemoteError`s with a kind, reported once per kind by
`Outage`. The API key comes from the environment variable `remote.apiKeyEnv` names and is only ever put in the
Authorization header: never logged, never in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from dgemma_lsp.diffusion.chat import chat_messages, unfence, without_echo
from dgemma_lsp.errors import ModelLoadError, RemoteError
from dgemma_lsp.fill.context import collect_context
from dgemma_lsp.fill.holes import FillKind, Hole
from dgemma_lsp.fill.ranking import FillOutcome, finish_middles
from dgemma_lsp.settings import Settings

# Nothing here loads torch: a remote model needs no model library in this process. The HTTP client is imported
# where it is first needed (the server imports this module before it answers `initialize`).

log = logging.getLogger(__name__)

FORMATS = ("chat", "fim", "prefix")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PIECES = re.compile(r"\n|[ \t]+|\w{1,4}|[^\w\s]")


def is_remote(model: str) -> bool:
    """Whether the `model` setting names a server (an http(s) base URL) rather than a checkpoint."""
    return model.startswith(("http://", "https://"))


def display_url(url: str) -> str:
    """A server URL for logs and messages, any user:password@ and query string left out; another model name as is."""
    if not is_remote(url):
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def approximate_tokens(text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """A `canvas.Tokenize` without a tokenizer: pieces of code about a token each, with their offsets (ids are
    placeholders). Each newline is a piece of its own, so line starts are piece boundaries."""
    offsets = [match.span() for match in _PIECES.finditer(text)]
    return [0] * len(offsets), offsets


# --- requests ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    path: str  # under the base URL: "/chat/completions" or "/completions"
    body: dict


def call_for(
    prefix: str,
    suffix: str,
    language: str | None,
    kind: FillKind,
    prompt_format: str,
    settings: Settings,
    model: str,
    n: int,
) -> Call:
    """The request for one hole: its body in the OpenAI API's words, streaming."""
    remote = settings.remote
    body: dict = {
        "model": model,
        "stream": True,
        "n": n,
        "max_tokens": remote.line_tokens if kind is FillKind.LINE else remote.block_tokens,
    }
    if remote.temperature is not None:
        body["temperature"] = remote.temperature
    if settings.completion.seed is not None:
        body["seed"] = settings.completion.seed
    if prompt_format == "chat":
        return Call("/chat/completions", body | {"messages": chat_messages(prefix, suffix, language)})
    body["prompt"] = prefix
    if prompt_format == "fim":
        body["suffix"] = suffix
    return Call("/completions", body)


# --- answers ----------------------------------------------------------------------------------------------------


def deltas(payload: str) -> list[tuple[int, str]]:
    """(choice index, new text) from one streamed chunk (`data:` of an SSE event) or a whole non-streamed answer:
    chat (`delta.content`, `message.content`) or completion (`text`). Raises RemoteError("malformed")."""
    try:
        chunk = json.loads(payload)
    except ValueError as error:
        raise RemoteError("malformed", f"the completion server sent something that is not JSON ({error})") from None
    if isinstance(chunk, dict) and "error" in chunk:  # vLLM reports some failures inside a 200 stream
        raise RemoteError("server", f"the completion server failed: {_error_message(chunk)}")
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    if not isinstance(choices, list):
        raise RemoteError("malformed", "the completion server's answer has no choices (is it OpenAI-compatible?)")
    found = []
    for position, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise RemoteError("malformed", "the completion server's answer has a choice that is not an object")
        part = choice.get("delta") or choice.get("message")
        text = part.get("content") if isinstance(part, dict) else choice.get("text")
        if text is not None and not isinstance(text, str):
            raise RemoteError("malformed", "the completion server's answer holds text that is not a string")
        index = choice.get("index", position)
        found.append((index if isinstance(index, int) else position, text or ""))
    return found


def middle_of(answer: str, prompt_format: str, line_before: str) -> str:
    """The middle in a model's answer: a chat answer unfenced and without the typed line echoed; else as is."""
    return without_echo(unfence(answer), line_before) if prompt_format == "chat" else answer


def line_complete(answer: str, prompt_format: str) -> bool:
    """Whether a line fill has all it needs (its middle holds a newline), so its stream may close. A chat answer
    still inside its opening fence line is not."""
    opening = answer.lstrip()
    if prompt_format == "chat" and opening.startswith("`"):
        if "\n" not in opening:
            return False
        answer = opening.split("\n", 1)[1]  # the fence's body
    return "\n" in answer


def error_for_status(status: int, body: str, url: str, model: str) -> RemoteError:
    """What an HTTP error status means for the user, with the server's own message where it sent one."""
    detail = _error_message(_json_or_none(body)) or body.strip()[:200]
    where = display_url(url)
    if status in (401, 403):
        return RemoteError(
            "unauthorized",
            f"the completion server at {where} refused the API key (HTTP {status}); "
            "set the environment variable named by remote.apiKeyEnv",
        )
    if status == 404:
        return RemoteError(
            "not-found",
            f"the completion server at {where} has no model {model!r} or no such "
            f"route (HTTP 404: {detail}); check remote.servedModel and that the URL "
            "ends in /v1",
        )
    if status in (408, 504):
        return RemoteError("timeout", f"the completion server at {where} timed out (HTTP {status})")
    if 400 <= status < 500:
        hint = "; this server cannot infill with suffix: set promptFormat to chat" if "suffix" in detail else ""
        return RemoteError(
            "rejected", f"the completion server at {where} rejected the request (HTTP {status}: {detail}){hint}"
        )
    return RemoteError("server", f"the completion server at {where} failed (HTTP {status}: {detail})")


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _error_message(value) -> str:
    if not isinstance(value, dict):
        return ""
    error = value.get("error", value.get("detail", value.get("message")))
    if isinstance(error, dict):
        error = error.get("message")
    return str(error)[:200] if error else ""


class Outage:
    """Turns a run of failures into one message per kind, and the first success after them into one "back" note:
    an editor fires a request per keystroke, and must not show a dialog for each."""

    def __init__(self) -> None:
        self.kind: str | None = None

    def failed(self, error: RemoteError) -> str | None:
        if error.kind == self.kind:
            return None
        self.kind = error.kind
        return f"dgemma-lsp: {error}. Completions are empty until this is fixed."

    def succeeded(self) -> str | None:
        if self.kind is None:
            return None
        self.kind = None
        return "dgemma-lsp: the completion server answers again."


# --- transport --------------------------------------------------------------------------------------------------


def api_key(env_name: str) -> str | None:
    """The key from the environment, or None. A value that cannot be a variable name (a key pasted into the
    setting by mistake) is refused without being repeated."""
    if not _ENV_NAME.fullmatch(env_name):
        raise ModelLoadError(
            "remote.apiKeyEnv must be the NAME of an environment variable that holds the key "
            "(the value given is not shown, in case it is the key itself)"
        )
    return os.environ.get(env_name) or None


class RemoteModel:
    """An OpenAI-compatible server over one pooled async HTTP client."""

    def __init__(self, base_url: str, settings: Settings) -> None:
        import httpx2

        self.url = base_url.rstrip("/")
        key = api_key(settings.remote.api_key_env)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        timeout = settings.remote.timeout
        self.client = httpx2.AsyncClient(base_url=self.url, headers=headers, timeout=httpx2.Timeout(timeout))

    async def models(self) -> list[str]:
        """The ids the server lists at /models."""
        with transport_errors(self.url):
            response = await self.client.get("/models")
            if response.status_code >= 400:
                raise error_for_status(response.status_code, response.text, self.url, "?")
            data = _json_or_none(response.text)
        listed = data.get("data") if isinstance(data, dict) else None
        if not isinstance(listed, list):
            raise RemoteError("malformed", f"{display_url(self.url)}/models is not an OpenAI-compatible model list")
        return [str(entry.get("id")) for entry in listed if isinstance(entry, dict) and entry.get("id")]

    async def complete(self, call: Call, n: int, done: Callable[[str], bool], request_id: str) -> list[str]:
        """The answers' texts, by choice index. Streams; stops reading once `done` holds for all `n` answers."""
        from httpx2 import EventSource

        started = time.perf_counter()
        texts: dict[int, str] = {}
        how = "ended"
        try:
            with transport_errors(self.url):
                async with self.client.stream("POST", call.path, json=call.body) as response:
                    if response.status_code >= 400:
                        body = (await response.aread()).decode("utf-8", "replace")
                        raise error_for_status(response.status_code, body, self.url, call.body["model"])
                    kind = response.headers.get("content-type", "")
                    if "text/event-stream" not in kind:  # a server that ignores "stream": one JSON answer
                        for index, text in deltas((await response.aread()).decode("utf-8", "replace")):
                            texts[index] = texts.get(index, "") + text
                        return [texts[i] for i in sorted(texts)]
                    async for event in EventSource(response):
                        if not texts:
                            log.debug(
                                "remote %s: first chunk after %.0fms",
                                request_id,
                                (time.perf_counter() - started) * 1000,
                            )
                        if event.data.strip() == "[DONE]":
                            break
                        for index, text in deltas(event.data):
                            texts[index] = texts.get(index, "") + text
                        if len(texts) >= n and all(done(text) for text in texts.values()):
                            how = "closed early"
                            break
        except asyncio.CancelledError:
            how = "cancelled, stream closed"
            raise
        except RemoteError as error:
            how = f"failed ({error.kind})"
            raise
        finally:
            log.info(
                "remote %s: %s after %.0fms, %d answers",
                request_id,
                how,
                (time.perf_counter() - started) * 1000,
                len(texts),
            )
        return [texts[i] for i in sorted(texts)]

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.contextmanager
def transport_errors(url: str):
    """Failures of the connection itself as RemoteErrors the user can act on."""
    import httpx2

    where = display_url(url)
    try:
        yield
    except (httpx2.ConnectError, httpx2.ConnectTimeout):
        raise RemoteError("unreachable", f"cannot reach the completion server at {where}") from None
    except httpx2.TimeoutException:
        raise RemoteError(
            "timeout", f"the completion server at {where} did not answer in time (remote.timeout)"
        ) from None
    except httpx2.TransportError as error:  # closed mid-answer, broken chunking, an oversized SSE event
        raise RemoteError(
            "unreachable", f"the connection to the completion server at {where} broke ({type(error).__name__})"
        ) from None
    except UnicodeDecodeError:
        raise RemoteError("malformed", f"the completion server at {where} sent text that is not UTF-8") from None


# --- the filler -------------------------------------------------------------------------------------------------


class RemoteFiller:
    """`Filler` for a model on a server: same `fill`, plus `fill_async` for the language server's event loop."""

    remote = True

    def __init__(self, settings: Settings) -> None:
        if not urlsplit(settings.model).hostname:
            raise ModelLoadError(f"{display_url(settings.model)} is not a server URL (http://host:port/v1)")
        if urlsplit(settings.model).username:
            raise ModelLoadError(
                "put no credentials in the model URL: the API key goes in the environment "
                "variable named by remote.apiKeyEnv"
            )
        wanted = settings.prompt_format
        self.prompt_format = "chat" if wanted == "auto" else wanted
        self.settings = settings
        self.model = RemoteModel(settings.model, settings)
        self.served: str | None = settings.remote.served_model
        self.n_in_one_request = True  # until a server answers fewer choices than asked
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def name(self) -> str:
        return display_url(self.settings.model)

    async def check(self) -> str:
        """Ask the server which models it serves: the one to name in requests (`remote.servedModel`, else the
        first listed). Raises RemoteError when the server cannot be reached or does not serve that model."""
        listed = await self.model.models()
        wanted = self.settings.remote.served_model
        if wanted and wanted not in listed:
            raise RemoteError(
                "not-found",
                f"the completion server at {self.name} does not serve {wanted!r} "
                f"(it serves: {', '.join(listed) or 'nothing'}); set remote.servedModel",
            )
        if not listed and not wanted:
            raise RemoteError("not-found", f"the completion server at {self.name} lists no model")
        self.served = wanted or listed[0]
        log.info("remote model %s at %s (%s prompts)", self.served, self.name, self.prompt_format)
        return self.served

    async def fill_async(
        self, text: str, hole: Hole, language: str | None, *, candidates: int | None = None, request_id: str = "-"
    ) -> FillOutcome:
        """Context here, the middle from the server, post-processing and ranking here; `remote.timeout` bounds
        the whole call. Cancelling the task closes the HTTP stream. Raises RemoteError."""
        if hole.kind is FillKind.NONE:
            return FillOutcome([])
        settings, timings = self.settings, {}
        started = time.perf_counter()
        context = collect_context(text, hole, settings.context, approximate_tokens)
        timings["canvas"] = time.perf_counter() - started
        n = candidates or settings.completion.candidates
        fmt = self.prompt_format
        line = hole.kind is FillKind.LINE
        done = (lambda answer: line_complete(answer, fmt)) if line else (lambda answer: False)
        asked = time.perf_counter()
        try:
            async with asyncio.timeout(settings.remote.timeout):
                model = self.served or await self.check()
                answers = await self._answers(context, language, hole.kind, model, n, done, request_id)
        except TimeoutError:
            raise RemoteError(
                "timeout",
                f"the completion server at {self.name} did not answer within "
                f"{settings.remote.timeout:g} s (remote.timeout)",
            ) from None
        timings["queue"] = 0.0
        timings["denoise"] = timings["forward"] = time.perf_counter() - asked  # the server's time, network included
        post_started = time.perf_counter()
        line_before = text[text.rfind("\n", 0, hole.start) + 1 : hole.start]
        fills = finish_middles([middle_of(a, fmt, line_before) for a in answers], text, hole, language)
        timings["postprocess"] = time.perf_counter() - post_started
        timings["total"] = time.perf_counter() - started
        log.info(
            "fill %s: %s hole, remote %s, %d/%d candidates kept; %s",
            request_id,
            hole.kind.value,
            fmt,
            len(fills),
            n,
            " ".join(f"{stage}={s * 1000:.0f}ms" for stage, s in timings.items()),
        )
        return FillOutcome(fills, timings)

    async def _answers(self, context, language, kind, model, n, done, request_id) -> list[str]:
        def call(count: int, index: int = 0) -> Call:
            made = call_for(
                context.prefix, context.suffix, language, kind, self.prompt_format, self.settings, model, count
            )
            if index and "seed" in made.body:  # parallel requests with one seed would give one answer n times
                made.body["seed"] += index
            return made

        if n == 1 or self.n_in_one_request:
            answers = await self.model.complete(call(n), n, done, request_id)
            if len(answers) >= n or not answers:
                return answers
            log.info(
                "remote %s: the server answered %d of %d choices; asking in parallel from now on",
                request_id,
                len(answers),
                n,
            )
            self.n_in_one_request = False
            n -= len(answers)
        else:
            answers = []
        more = await asyncio.gather(*(self.model.complete(call(1, i + 1), 1, done, request_id) for i in range(n)))
        return answers + [text for texts in more for text in texts]

    def fill(
        self,
        text: str,
        hole: Hole,
        language: str | None,
        *,
        candidates: int | None = None,
        is_cancelled: Callable[[], bool] = lambda: False,
        on_draft=None,
        request_id: str = "-",
        workspace=None,
        automatic: bool = False,
    ):
        """`Filler.fill` for the headless commands (no event loop of their own). The server's prompt is its own: a
        `workspace` is not drawn on (yet), and `automatic` changes nothing (the server decodes as it is set)."""
        return self.run_sync(self.fill_async(text, hole, language, candidates=candidates, request_id=request_id))

    def run_sync(self, coroutine):
        if self._loop is None:  # one loop for this filler's life: the client's pooled connections belong to it
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)
