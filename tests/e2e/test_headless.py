"""Headless filling: which files, which holes, checked fills, diff / write / check / json, atomic writes."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fake_model import scripted_loader

from dgemma_lsp.cli import main as cli_main
from dgemma_lsp.diffusion import loading
from dgemma_lsp.fill.holes import FillKind
from dgemma_lsp.headless import atomic, fill_files, targets
from dgemma_lsp.text import sources, syntax

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STUB = "def double(x):\n    return x * 2\n\n\ndef triple(x):\n    pass\n"


@pytest.fixture
def scripted(monkeypatch):
    """Every model load gives the scripted model (see fake_model.py); returns a setter for its answers."""

    def answers(*texts: str):
        monkeypatch.setattr(loading, "load", scripted_loader(list(texts)))

    answers("return 0;")
    return answers


def _tree(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())


# ---- walking -----------------------------------------------------------------------------------------------------


def test_walk_honours_gitignore_and_skips_hidden_vendored_binary_huge_and_unknown(tmp_path: Path):
    _tree(tmp_path, {
        ".git/HEAD": "ref\n", ".gitignore": "build/\n*.gen.py\n!keep.gen.py\n",
        "a.py": "x = 1\n", "b.rs": "fn main() {}\n", "notes.txt": "x\n", "keep.gen.py": "x = 1\n",
        "drop.gen.py": "x = 1\n", "build/c.py": "x = 1\n", ".hidden/d.py": "x = 1\n", "node_modules/e.js": "1\n",
        "pkg/.gitignore": "local.go\n", "pkg/local.go": "package p\n", "pkg/f.go": "package p\n",
        "blob.py": b"\x00\x01binary", "huge.py": "x = 1\n" * 100,
    })  # fmt: skip
    found = sources.walk([tmp_path], max_file_bytes=500)
    assert {f.path.relative_to(tmp_path).as_posix() for f in found.files} == {"a.py", "b.rs", "keep.gen.py", "pkg/f.go"}
    reasons = {s.path.name: s.reason for s in found.skipped}
    assert reasons["blob.py"] == "binary" and reasons["notes.txt"] == "unknown language"
    assert reasons["huge.py"].startswith("too large")
    assert {f.language for f in found.files} == {"python", "rust", "go"}


def test_walk_reads_the_gitignore_of_the_repository_above_the_folder(tmp_path: Path):
    _tree(tmp_path, {".git/HEAD": "ref\n", ".gitignore": "src/gen/\n", "src/a.py": "", "src/gen/b.py": ""})
    found = sources.walk([tmp_path / "src"], max_file_bytes=10_000)
    assert [f.path.name for f in found.files] == ["a.py"]


def test_walk_reports_missing_paths_and_lists_each_file_once(tmp_path: Path):
    _tree(tmp_path, {"a.py": ""})
    found = sources.walk([tmp_path, tmp_path / "a.py", tmp_path / "nope.py"], max_file_bytes=10)
    assert [f.path.name for f in found.files] == ["a.py"]
    assert found.missing == [tmp_path / "nope.py"]


@pytest.mark.parametrize(
    "path, pattern",
    [
        ("/home/me/app/.env", ".env*"),
        ("app/.env.local", ".env*"),
        ("certs/server.pem", "*.pem"),
        ("keys/API.KEY", "*.key"),  # case is ignored
        ("/home/me/.ssh/id_ed25519", "id_*"),
        ("config/client_secret.json", "*secret*"),
        ("settings/secrets.py", "*secret*"),
        ("src/app.py", None),
        ("/home/me/secret-project/app.py", None),  # a glob without "/" looks at the file name only
        ("environment.py", None),
    ],
)
def test_excluded_by_the_default_globs(path, pattern):
    from dgemma_lsp.settings import DEFAULT_EXCLUDE

    assert sources.excluded_by(path, DEFAULT_EXCLUDE) == pattern


def test_a_glob_with_a_slash_matches_the_whole_path():
    assert sources.excluded_by("/repo/private/notes.py", ["*/private/*"]) == "*/private/*"
    assert sources.excluded_by("/repo/public/private.py", ["*/private/*"]) is None


def test_fill_skips_and_reports_excluded_files(tmp_path: Path, scripted, capsys):
    _tree(tmp_path, {"app.py": STUB, "client_secret.py": STUB, "keys/.env.py": STUB})
    assert cli_main(["fill", "--json", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["path"] for f in report["files"]] == [str(tmp_path / "app.py")]
    assert {"path": str(tmp_path / "client_secret.py"), "reason": "excluded ('*secret*' in the exclude setting)"} in (
        report["skipped"]
    )
    assert {s["path"] for s in report["skipped"]} == {
        str(tmp_path / "client_secret.py"),
        str(tmp_path / "keys/.env.py"),
    }
    assert cli_main(["fill", str(tmp_path / "client_secret.py")]) == 2  # named, yet excluded: said loudly
    assert "client_secret.py: cannot fill (excluded ('*secret*' in the exclude setting))" in capsys.readouterr().err
    assert cli_main(["fill", "--settings", '{"exclude": []}', "--json", str(tmp_path)]) == 0
    assert len(json.loads(capsys.readouterr().out)["files"]) == 3


# ---- finding holes -----------------------------------------------------------------------------------------------

TODOS = """\
def f(x):
    y = x + 1
    # TODO: handle negative numbers
    return y


# TODO: a module-level note is not a hole
def g():
    pass
"""


def test_targets_are_stubs_and_todo_comments_inside_functions():
    found = targets.find_targets(TODOS, "python")
    assert [(t.kind, t.name) for t in found] == [("todo", "f"), ("stub", "g")]
    todo = found[0]
    assert TODOS[todo.hole.start : todo.hole.end] == "# TODO: handle negative numbers"
    assert todo.hole.kind is FillKind.BLOCK and todo.hole.indent == "    "
    assert TODOS[found[1].hole.start : found[1].hole.end] == "pass"


BRACE_TODOS = [
    ("javascript", "function f(x) {\n  const y = x;\n  // TODO: negatives\n  return y;\n}\n// TODO: top level\n",
     "// TODO: negatives", "  "),
    ("rust", "fn f(x: i32) -> i32 {\n    let y = x;\n    // FIXME: overflow\n    y\n}\n",
     "// FIXME: overflow", "    "),
    ("go", "package p\n\nfunc F(x int) int {\n\ty := x\n\t// TODO: more\n\treturn y\n}\n",
     "// TODO: more", "\t"),
    ("typescript", "class A {\n  m(): number {\n    const a = 1; // TODO: trailing, not a hole\n"
     "    /* TODO */\n    return a;\n  }\n}\n", "/* TODO */", "    "),
]  # fmt: skip


@pytest.mark.parametrize("language, text, marker, indent", BRACE_TODOS)
def test_todo_markers_in_brace_languages(language, text, marker, indent):
    (found,) = targets.find_targets(text, language)
    assert found.kind == "todo" and text[found.hole.start : found.hole.end] == marker and found.hole.indent == indent


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir()))
def test_every_example_stub_is_found(name):
    text = (EXAMPLES / name).read_text()
    language = syntax.language_for(name).name
    found = targets.find_targets(text, language)
    assert len(found) == 2 + name.endswith(".py") and all(t.kind == "stub" for t in found)


def test_explicit_positions_and_function_names():
    # A line inside a function is that function's body; a line and column is an editor cursor.
    by_line = targets.find_targets(STUB, "python", positions=[targets.Position(2)], defaults=False)
    assert [(t.kind, t.name, STUB[t.hole.start : t.hole.end]) for t in by_line] == [("at", "double", "return x * 2")]
    cursor = targets.find_targets(STUB, "python", positions=[targets.Position(2, 17)], defaults=False)
    assert cursor[0].hole.kind is FillKind.LINE and cursor[0].hole.start == STUB.index("x * 2") + 5
    mid_word = targets.find_targets(STUB, "python", positions=[targets.Position(2, 12)], defaults=False)
    assert mid_word[0].hole.kind is FillKind.NONE
    named = targets.find_targets(STUB, "python", functions=["double", "nope"], defaults=False)
    assert [t.name for t in named] == ["double"]
    with pytest.raises(targets.InvalidPositionError):
        targets.find_targets(STUB, "python", positions=[targets.Position(99)], defaults=False)
    with pytest.raises(targets.InvalidPositionError):
        targets.find_targets(STUB, "python", positions=[targets.Position(1, 40)], defaults=False)


# ---- checking and filling ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "after, language, problem",
    [
        ("def f():\n    return 1\n", "python", None),
        ("def f():\n    return (1\n", "python", "the file would not parse"),
        ("def f():\n    return 1\n    yield from\n", "python", "the file would not parse"),
        ("def f():\n    nonlocal x\n", "python", "the file would not compile"),  # parses, does not compile
        ("function f() { return 1; }\n", "javascript", None),
        ("function f() { return 1; \n", "javascript", "the file would not parse"),
    ],
)
def test_syntax_problem(after, language, problem):
    before = "def f():\n    pass\n" if language == "python" else "function f() { }\n"
    assert fill_files.syntax_problem(before, after, language) == problem


@pytest.mark.parametrize(
    "fill, language, problem",
    [
        ("ET", "python", "the fill adds undefined name 'ET'"),  # junk that parses
        ("s", "python", "the fill adds undefined name 's'"),
        ("return\tthis,", "python", "the fill adds undefined name 'this'"),
        ("return x is 1", "python", 'syntax warning: "is" with a literal'),
        ("import os\n    return x", "python", "the fill adds 'os' imported but unused"),
        ("return x * 3", "python", None),
        ("return y", "python", None),  # a name the file already uses undefined: the project provides it
        ("ET;", "javascript", None),  # no linter here: the parse check alone
    ],
)
def test_lint_added_problem(fill, language, problem):
    from dgemma_lsp.text import lint

    before = {
        "python": "def f(x):\n    pass\n\n\ndef g():\n    return y\n",
        "javascript": "function f(x) {\n  \n}\n",
    }[language]
    after = before.replace("pass", fill) if language == "python" else before.replace("  \n", f"  {fill}\n")
    found = lint.added_problem(before, after, language)
    assert found == problem if problem is None or problem.startswith("the fill") else problem in found


@pytest.mark.parametrize(
    "before, fill",
    [
        # A finding below the hole moves down a line: "redefinition of unused 'g' from line 5" is no new finding.
        ("def f(x):\n    pass\n\n\ndef g():\n    pass\n\n\ndef g():\n    pass\n", "y = x\n    return y"),
        ("from os.path import *\n\n\ndef f(x):\n    pass\n", "return join(x, x)"),  # may well be defined
    ],
)
def test_lint_counts_no_finding_the_fill_only_moves_or_that_may_be_fine(before, fill):
    from dgemma_lsp.text import lint

    after = before.replace("pass", fill, 1)
    assert lint.added_problem(before, after, "python") is None


RUST_FILE = "pub fn total(counts: &[usize]) -> usize {\n    todo!()\n}\n\npub fn one() -> u8 {\n    1\n}\n"


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc is not installed")
@pytest.mark.parametrize(
    "prefix, body, problem",
    [
        ("", "counts.iter().sum()", None),
        ("", "counts.size()", "rustc: error[E0599]: no method named `size`"),  # parses; a reviewer would reject
        ("", "let t = 0;", "rustc: error[E0308]: mismatched types"),  # the body returns nothing
        ("use crate::stats::mean;\n", "counts.size()", None),  # needs its crate: only cargo (`--verify`) can tell
    ],
)
def test_rustc_judges_a_rust_file_that_compiles_alone(prefix, body, problem):
    from dgemma_lsp.text import lint

    before = prefix + RUST_FILE
    found = lint.added_problem(before, before.replace("todo!()", body), "rust")
    assert found == problem if problem is None else found.startswith(problem)


def test_without_rustc_a_rust_fill_keeps_the_parse_check_alone(monkeypatch):
    from dgemma_lsp.text import lint

    monkeypatch.setattr(shutil, "which", lambda name: None)
    lint.rustc_errors.cache_clear()
    try:
        assert lint.added_problem(RUST_FILE, RUST_FILE.replace("todo!()", "counts.size()"), "rust") is None
    finally:
        lint.rustc_errors.cache_clear()


def test_lint_stands_aside_where_python_does_not_compile():
    from dgemma_lsp.text import lint

    before = "def f(x):\n    # TODO\n\n\ndef g():\n    pass\n"  # a TODO-only body does not compile
    assert lint.added_problem(before, before.replace("pass", "ET"), "python") is None


class ListFiller:
    """A filler that offers fixed candidates, to test the choosing logic apart from any model."""

    def __init__(self, *texts: str) -> None:
        self.texts = texts

    def fill(self, text, hole, language, *, candidates=1, **kwargs):
        from dgemma_lsp.fill.pipeline import Fill, FillOutcome

        fills = [Fill(t, hole.start, hole.end, t) for t in self.texts[:candidates]]
        return FillOutcome(fills, {"denoise": 0.001})


def test_fill_file_keeps_the_first_candidate_that_keeps_the_file_sound():
    found = targets.find_targets(STUB, "python")
    filler = ListFiller("return (x", "nonlocal z", "return x * 3", "return x")
    filled, results = fill_files.fill_file(filler, STUB, "python", found, candidates=4)
    assert filled == STUB.replace("    pass\n", "    return x * 3\n")
    (result,) = results
    assert (result.status, result.fill, result.candidates_tried) == ("filled", "return x * 3", 3)
    assert result.start == (6, 5) and result.end == (6, 9) and result.timings_ms["denoise"] == 1.0


def test_fill_file_reports_rejected_and_empty_holes():
    found = targets.find_targets(STUB, "python")
    filled, results = fill_files.fill_file(ListFiller("return (x"), STUB, "python", found)
    assert filled == STUB and results[0].status == "rejected" and "parse" in results[0].detail
    filled, results = fill_files.fill_file(ListFiller(), STUB, "python", found)
    assert filled == STUB and results[0].status == "empty"


def test_a_fill_that_writes_the_stub_back_is_rejected():
    text = "pub fn total(counts: &[usize]) -> usize {\n    todo!()\n}\n"
    found = targets.find_targets(text, "rust")
    filler = ListFiller("\n    unimplemented!()\n", "\n    counts.iter().sum()\n")
    filled, results = fill_files.fill_file(filler, text, "rust", found, candidates=2)
    assert filled == text.replace("todo!()", "counts.iter().sum()")
    assert results[0].rejected == [
        {"fill": "\n    unimplemented!()\n", "reason": "the fill leaves the function a stub"}
    ]
    filled, results = fill_files.fill_file(ListFiller("\n    todo!()\n"), text, "rust", found)
    assert filled == text and results[0].status == "rejected"


def test_fill_file_asks_accept_and_fills_later_holes_first():
    text = "def a():\n    pass\n\n\ndef b():\n    pass\n"
    seen = []

    def accept(candidate):
        seen.append(candidate)
        return "return 1" not in candidate, "tests failed"

    filler = ListFiller("return 1", "return 2")
    found = targets.find_targets(text, "python")
    filled, results = fill_files.fill_file(filler, text, "python", found, candidates=2, accept=accept)
    assert filled == text.replace("pass", "return 2")
    assert [r.status for r in results] == ["filled", "filled"] and [r.candidates_tried for r in results] == [2, 2]
    assert seen[0] == "def a():\n    pass\n\n\ndef b():\n    return 1\n"
    assert "def a():\n    return 1" in seen[2] and seen[2].endswith("return 2\n")  # b's kept fill stays in
    filled, results = fill_files.fill_file(ListFiller("return 1"), text, "python", found, accept=accept)
    assert filled == text and {r.status for r in results} == {"verify-failed"} and "tests failed" in results[0].detail


def test_scripted_model_through_the_whole_pipeline(scripted):
    from dgemma_lsp.fill.pipeline import Filler
    from dgemma_lsp.settings import parse_settings

    scripted("return x * 3")
    settings = parse_settings({"model": "tiny"})
    filler = Filler(loading.load(settings), settings)
    filled, results = fill_files.fill_file(filler, STUB, "python", targets.find_targets(STUB, "python"))
    assert filled == STUB.replace("    pass\n", "    return x * 3\n") and results[0].status == "filled"


def test_unified_diff_marks_a_missing_final_newline():
    diff = fill_files.unified_diff("m.py", "a\nb", "a\nc")
    assert diff.endswith("+c\n\\ No newline at end of file\n") and diff.startswith("--- a/m.py\n+++ b/m.py\n")


# ---- atomic writes -----------------------------------------------------------------------------------------------


def test_write_atomically_replaces_the_whole_file_and_keeps_its_mode(tmp_path: Path):
    target = tmp_path / "m.py"
    target.write_text("old\n")
    target.chmod(0o751)
    atomic.write_atomically(target, "new 😀\r\n")
    assert target.read_bytes() == "new 😀\r\n".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o751
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_a_failed_write_leaves_the_original_and_no_temp_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "m.py"
    target.write_text("original\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic.write_atomically(target, "half")
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_a_file_changed_since_it_was_read_is_not_written(tmp_path: Path):
    target = tmp_path / "m.py"
    target.write_text("v1\n")
    snapshot = atomic.read_snapshot(target)
    target.write_text("v2 by the user\n")
    with pytest.raises(atomic.ChangedOnDiskError):
        atomic.write_if_unchanged(snapshot, "filled\n")
    assert target.read_text() == "v2 by the user\n"


# ---- the command ---------------------------------------------------------------------------------------------


CHECK = [sys.executable, "-m", "dgemma_lsp", "fill", "--check"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_check_diff_write_check_on_the_examples(tmp_path: Path, scripted, capsys, monkeypatch):
    """The issue's acceptance run, on a copy of examples/ (stubs in all five languages). The scripted `return 0;`
    is no `Option` for rustc, which is left out here (`test_rustc_judges_...` has it)."""
    from dgemma_lsp.text import lint

    monkeypatch.setattr(lint, "rustc_errors", lambda source: None)
    tree = tmp_path / "examples"
    shutil.copytree(EXAMPLES, tree)
    before = _snapshot(tree)

    # --check loads no model: run it as CI would, in a process of its own.
    check = subprocess.run(CHECK + [str(tree)], capture_output=True, text=True)
    assert check.returncode == 1 and "check: 11 hole(s) in 5 file(s) (11 found)" in check.stderr

    assert cli_main(["fill", "--diff", str(tree)]) == 0
    diff = capsys.readouterr().out
    assert _snapshot(tree) == before
    for name in before:
        assert f"+++ b/{tree / name}" in diff
    assert diff.count("+  return 0;") + diff.count("+\treturn 0;") + diff.count("+    return 0;") == 11

    assert cli_main(["fill", "--write", str(tree)]) == 0
    after = _snapshot(tree)
    assert set(after) == set(before)  # no temp files left behind
    for name, data in after.items():
        language = syntax.language_for(name).name
        assert data != before[name]
        assert syntax.error_count(data, language) == 0, name
        if language == "python":
            compile(data, name, "exec")
    check = subprocess.run(CHECK + [str(tree)], capture_output=True, text=True)
    assert check.returncode == 0 and "check: 0 hole(s) in 5 file(s)" in check.stderr


def test_json_report(tmp_path: Path, scripted, capsys):
    (tmp_path / "m.py").write_text(STUB)
    (tmp_path / "notes.md").write_text("# notes\n")
    assert cli_main(["fill", "--json", "--candidates", "2", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 0 and report["mode"] == "diff"
    assert report["summary"] == {"files": 1, "holes": 1, "by_status": {"filled": 1}}
    (entry,) = report["files"]
    assert entry["path"] == str(tmp_path / "m.py") and entry["diff"].startswith("--- a/")
    (hole,) = entry["holes"]
    assert hole["kind"] == "stub" and hole["name"] == "triple" and hole["fill"] == "return 0;"
    assert hole["range"] == {"start": {"line": 6, "column": 5}, "end": {"line": 6, "column": 9}}
    assert hole["candidates_tried"] == 1 and hole["timings_ms"]["all"] > 0
    assert {"path": str(tmp_path / "notes.md"), "reason": "unknown language"} in report["skipped"]
    assert (tmp_path / "m.py").read_text() == STUB


def test_junk_that_parses_is_not_kept_and_the_json_says_why(tmp_path: Path, scripted, capsys):
    scripted("ET", "s", "return\tthis,")
    target = tmp_path / "m.py"
    target.write_text(STUB)
    assert cli_main(["fill", "--write", "--json", "--candidates", "3", str(target)]) == 1
    assert target.read_text() == STUB
    (hole,) = json.loads(capsys.readouterr().out)["files"][0]["holes"]
    assert hole["status"] == "rejected" and hole["fill"] is None
    assert hole["rejected"] == [
        {"fill": "ET", "reason": "the fill adds undefined name 'ET'"},
        {"fill": "s", "reason": "the fill adds undefined name 's'"},
        {"fill": "return\tthis,", "reason": "the fill adds undefined name 'this'"},
    ]
    assert hole["detail"] == "the fill adds undefined name 'this'"


def test_write_keeps_line_endings_and_mode(tmp_path: Path, scripted):
    target = tmp_path / "m.py"
    target.write_bytes(STUB.replace("\n", "\r\n").encode())
    target.chmod(0o700)
    assert cli_main(["fill", "--write", str(target)]) == 0
    assert target.read_bytes() == STUB.replace("pass", "return 0;").replace("\n", "\r\n").encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


def test_check_json_lists_the_holes_without_a_model(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(loading, "load", lambda settings: pytest.fail("--check must not load a model"))
    (tmp_path / "m.py").write_text(TODOS)
    assert cli_main(["fill", "--check", "--json", str(tmp_path)]) == 1
    report = json.loads(capsys.readouterr().out)
    holes = report["files"][0]["holes"]
    assert [(h["kind"], h["name"], h["status"], h["range"]["start"]["line"]) for h in holes] == [
        ("todo", "f", "found", 3),
        ("stub", "g", "found", 9),
    ]
    assert "diff" not in report["files"][0]


def test_at_and_function_fill_only_what_they_name(tmp_path: Path, scripted, capsys):
    target = tmp_path / "m.py"
    target.write_text(STUB)
    assert cli_main(["fill", "--write", "--at", f"{target}:2"]) == 0
    assert target.read_text() == STUB.replace("return x * 2", "return 0;")
    target.write_text(STUB)
    assert cli_main(["fill", "--write", "--function", "double", str(tmp_path)]) == 0
    assert target.read_text() == STUB.replace("return x * 2", "return 0;")


def test_unfillable_holes_exit_1_and_leave_the_file(tmp_path: Path, scripted, capsys):
    scripted("nonlocal z")  # post-processing cuts it all away: CPython refuses it
    (tmp_path / "m.py").write_text(STUB)
    assert cli_main(["fill", "--write", str(tmp_path)]) == 1
    assert "0/1 hole(s) filled; 6:5 empty" in capsys.readouterr().err
    assert (tmp_path / "m.py").read_text() == STUB


def test_a_file_edited_during_the_run_is_not_written(tmp_path: Path, scripted, monkeypatch, capsys):
    target = tmp_path / "m.py"
    target.write_text(STUB)
    real_fill_file = fill_files.fill_file

    def fill_while_the_user_types(*args, **kwargs):
        target.write_text(STUB + "# typed meanwhile\n")
        return real_fill_file(*args, **kwargs)

    monkeypatch.setattr(fill_files, "fill_file", fill_while_the_user_types)
    assert cli_main(["fill", "--write", str(tmp_path)]) == 1
    assert "changed on disk" in capsys.readouterr().err
    assert target.read_text() == STUB + "# typed meanwhile\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fill"], "give a PATH"),
        (["fill", "--at", "m.py"], "FILE:LINE"),
        (["fill", "--at", "m.py:0"], "FILE:LINE"),
        (["fill", "--check", "--verify", "true", "."], "do not go together"),
        (["fill", "--write", "--check", "."], "not allowed with"),
        (["fill", "--candidates", "0", "."], "at least 1"),
        (["fill", "/no/such/dir"], "no such file"),
        (["fill", "--settings", "{bad", "."], "not JSON"),
    ],
)
def test_usage_and_input_errors_exit_2(argv, message, capsys):
    try:
        code = cli_main(argv)
    except SystemExit as exit:
        code = exit.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_a_position_outside_the_file_and_an_unfillable_named_file_exit_2(tmp_path: Path, capsys):
    (tmp_path / "m.py").write_text(STUB)
    (tmp_path / "notes.txt").write_text("x\n")
    assert cli_main(["fill", "--at", f"{tmp_path / 'm.py'}:40"]) == 2
    assert cli_main(["fill", str(tmp_path / "notes.txt")]) == 2
    assert "unknown language" in capsys.readouterr().err


def test_an_unloadable_model_exits_2_and_changes_nothing(tmp_path: Path, capsys):
    (tmp_path / "m.py").write_text(STUB)
    assert cli_main(["fill", "--write", "--model", "/no/such/model", str(tmp_path)]) == 2
    assert "/no/such/model" in capsys.readouterr().err
    assert (tmp_path / "m.py").read_text() == STUB


def test_tiny_model_runs_the_real_pipeline_and_never_breaks_a_file(tmp_path: Path, capsys):
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    settings = json.dumps({"completion": {"seed": 0}, "sampler": {"maxDenoisingSteps": 2}})
    code = cli_main(["fill", "--write", "--json", "--model", "tiny", "--settings", settings, str(tmp_path / "ex")])
    report = json.loads(capsys.readouterr().out)
    assert code == report["exit_code"] and code in (0, 1)
    assert report["summary"]["holes"] == 11
    for path in (tmp_path / "ex").iterdir():
        language = syntax.language_for(path.name).name
        assert syntax.error_count(path.read_text(), language) == 0


def test_a_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    plain = fill_files._Progress(3)
    assert plain.bar is None
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    bar = fill_files._Progress(3)
    for _ in range(3):
        bar.step(None)
    assert bar.bar.n == 3 and bar.bar.total == 3
    bar.close()
    assert "0/3 [" in capsys.readouterr().err  # drawn on stderr (redraws are rate-limited)


def test_unified_diff_splits_lines_as_patch_does(tmp_path: Path):
    old = "s = 'a\u2028b'\nx = 1\r\n"
    diff = fill_files.unified_diff("m.py", old, old.replace("x = 1", "x = 2"))
    assert diff.split("\n")[2:] == ["@@ -1,2 +1,2 @@", " s = 'a\u2028b'", "-x = 1\r", "+x = 2\r", ""]
