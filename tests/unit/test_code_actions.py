"""Where "Fill this function" is offered (`Session.stub_at`) and what its command fills (`Session.plan_function`):
anywhere on a stub function, its signature line's indentation and its body included, and nowhere else."""

import pytest
from lsprotocol import types

from dgemma_lsp.lsp.session import Session
from dgemma_lsp.settings import parse_settings

YES = "+ "  # a line of the stub function: offered at every character
NO = "- "

CASES = [
    (
        "python",
        [
            NO + "class A:",
            YES + "    def f(self, x):",
            YES + '        """Doc."""',
            YES + "",
            YES + "        pass",
            NO + "",
            NO + "    def g(self):",
            NO + "        return 1",
        ],
    ),
    ("python", [YES + "def f(x):", YES + "    # TODO: parse x", NO + "", NO + "x = 1"]),  # the comment is no body
    ("javascript", [NO + "class A {", YES + "  f(x) {", YES + "    // TODO", YES + "  }", NO + "}"]),
    (
        "typescript",
        [NO + "class A {", YES + "  f(): number {", YES + '    throw new Error("todo");', YES + "  }", NO + "}"],
    ),
    ("go", [NO + "package m", NO + "", YES + "func F(x int) int {", YES + '\tpanic("TODO")', YES + "}"]),
    ("rust", [NO + "impl A {", YES + "    fn f(&self) -> i32 {", YES + "        todo!()", YES + "    }", NO + "}"]),
]


@pytest.mark.parametrize(("language", "marked"), CASES)
def test_fill_this_function_is_offered_anywhere_on_a_stub(language, marked):
    session = Session()
    uri = f"file:///m.{language}"
    session.documents.open(uri, "\n".join(line[2:] for line in marked) + "\n", 1, language)
    for row, line in enumerate(marked):
        for character in range(len(line) - 2 + 1):
            position = types.Position(row, character)
            offered = session.stub_at(uri, types.Range(position, position)) is not None
            assert offered is line.startswith(YES), (row, character, line)


def test_the_command_from_a_signatures_indentation_fills_that_body():
    session = Session()
    uri = "file:///m.py"
    session.documents.open(uri, "class A:\n    def f(self):\n        pass\n", 1, "python")
    plan = session.plan_function(uri, types.Position(1, 0))
    assert plan is not None and plan.text[plan.hole.start : plan.hole.end] == "pass"


def test_over_the_size_limit_nothing_is_parsed_or_offered():
    """`limits.maxFileBytes` bounds parsing too: no tree, no stub, no fill; a raised limit parses the buffer."""
    session = Session(parse_settings({"limits": {"maxFileBytes": 100}}))
    uri = "file:///m.py"
    text = "def f(x):\n    pass\n" + "# padding\n" * 20
    session.documents.open(uri, text, 1, "python")
    stub = types.Range(types.Position(1, 4), types.Position(1, 4))
    assert session.documents.get(uri).tree is None
    assert not session.fillable(uri) and session.stub_at(uri, stub) is None
    session.configure({"limits": {"maxFileBytes": 1_000}})
    assert session.documents.get(uri).tree is not None
    assert session.fillable(uri) and session.stub_at(uri, stub) is not None


def test_settings_that_shape_the_loaded_model_ask_for_a_reload_and_others_do_not():
    session = Session(parse_settings({"model": "tiny"}))
    assert not session.configure({"model": "tiny", "completion": {"draftTokens": 0}, "limits": {"maxFileBytes": 10}})
    assert session.configure({"model": "tiny", "matmuls": "float32"})  # bfloat16 copies replace fp32 weights
    assert session.configure({"model": "tiny", "matmuls": "float32", "decoding": "greedy"})
    assert not session.configure({"model": "tiny", "matmuls": "float32", "decoding": "greedy"})
