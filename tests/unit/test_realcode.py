"""The real-code benchmark: holes cut as editors make them, put back exactly, scored through the editor's path."""

import dataclasses
import gzip
import json

import pytest

from dgemma_lsp.cli import main as cli_main
from dgemma_lsp.evaluation import realcode, released, sites
from dgemma_lsp.fill.holes import FillKind, Hole

SOURCE = '''"""A module."""
import os


def load(path, *, strict=False):
    """Read a file."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    with open(path) as handle:
        text = handle.read()
    lines = [line.strip() for line in text.splitlines()]
    return finish(lines, strict=strict)


class Store:
    def __init__(self, root):
        self.root = root
        self.items = {}

    def get(self, key):
        value = self.items.get(key)
        return value if value is not None else load(os.path.join(self.root, key))


def finish(lines, strict):
    return [x for x in lines if x or not strict]
'''

FILE = realcode.SourceFile("pkg", "1.0", "MIT", "dev", "pkg/mod.py", SOURCE)


@pytest.mark.parametrize("kind", realcode.KINDS)
def test_every_task_puts_the_file_back_with_its_reference(kind):
    tasks = realcode.tasks_of_file(FILE, kind, __import__("random").Random(0))
    assert tasks, kind
    for task in tasks:
        assert task.before + task.reference + task.after == SOURCE
        assert task.document == task.before + task.typed + task.after
        hole = realcode.editor_hole(task)
        result = realcode.score(task, "reference", hole.kind.value, task.reference, None)
        assert result.exact and result.first_line_exact and result.parses and not result.empty
        assert result.edit_similarity == 1.0


def test_line_sites_are_whole_statements_of_function_bodies():
    lines = SOURCE.split("\n")
    picked = [lines[n].strip() for n in sites.line_sites(SOURCE, __import__("ast").parse(SOURCE))]
    assert "if not os.path.exists(path):" in picked and "text = handle.read()" in picked
    assert "self.items = {}" in picked
    assert '"""Read a file."""' not in picked and "import os" not in picked  # docstrings, module level
    assert "lines = [line.strip() for line in text.splitlines()]" in picked


def test_the_editor_hole_is_the_choosers():
    tasks = {t.kind: t for k in realcode.KINDS for t in realcode.tasks_of_file(FILE, k, __import__("random").Random(1))}
    assert realcode.editor_hole(tasks["block-opener"]).kind is FillKind.BLOCK  # after a `:`
    stub = tasks["function-body"]
    hole = realcode.editor_hole(stub)
    assert (hole.start, hole.end) == (len(stub.before), len(stub.before) + len("pass"))
    assert realcode.editor_hole(tasks["rest-of-line"]).kind is FillKind.LINE
    assert realcode.editor_hole(tasks["call-arguments"]).kind is FillKind.LINE


def test_rest_of_line_cursors_are_never_inside_a_word():
    line = "    value = self.items.get(key)"
    cursors = sites.rest_of_line_cursors(line)
    assert cursors and all(not (line[i - 1].isalnum() and line[i].isalnum()) for i in cursors)
    assert min(cursors) > 4 and max(cursors) < len(line)


def test_scores_say_what_a_user_sees():
    task = realcode.Task("t", "line-column0", "p", "m.py", "def f():\n", "    return 1", "\n", "")
    wrong_indent = realcode.score(task, "m", "line", "return 1", 1.0)
    assert not wrong_indent.exact and not wrong_indent.parses and not wrong_indent.empty
    two_lines = realcode.score(task, "m", "line", "    return 1\n    x = 2", 1.0)
    assert two_lines.first_line_exact and not two_lines.exact and two_lines.multi_line
    assert realcode.score(task, "m", "line", "", 1.0).empty


def test_a_hole_outside_the_region_is_refused():
    task = realcode.Task("t", "line-indented", "p", "m.py", "a = 1\n", "b = 2", "\nc = 3\n", "")
    with pytest.raises(ValueError):
        realcode.middle_of(task, Hole(FillKind.LINE, 2, 2), "x")


@pytest.mark.parametrize(
    ("written", "block", "floor", "line_before", "done", "shown"),
    [
        ("x = 1\n", False, 0, "    ", True, "x = 1"),
        ("\n    x = 1\n", False, 0, "", True, "\n    x = 1"),  # a blank first line is passed over
        ("\n        a()\n        b()\n    c", True, 8, "    if x:", True, "\n        a()\n        b()"),
        ("\n        a()\n", True, 8, "    if x:", False, "\n        a()"),
    ],
)
def test_the_base_stops_at_the_line_or_where_the_block_ends(written, block, floor, line_before, done, shown):
    assert released._base_done(written, block, floor, line_before) is done
    assert released._base_cut(written, block, floor, line_before) == shown


def test_block_indent_width_reads_the_first_line_of_code():
    assert released.block_indent_width("    if x:", "\n        a()\n        b()") == 8
    assert released.block_indent_width("        ", "a()\n        b()") == 8  # a stub's body


@pytest.fixture
def data_dir(tmp_path):
    rows = [
        {"package": p, "version": "1", "license": "MIT", "split": s, "path": "m.py", "text": SOURCE}
        for p, s in (("a", "dev"), ("b", "test"))
    ]
    with gzip.open(tmp_path / "python.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return tmp_path


def test_build_tasks_is_seeded_nested_and_keeps_splits_apart(data_dir):
    dev = realcode.load_files(data_dir / "python.jsonl.gz", "dev")
    assert {f.package for f in dev} == {"a"}
    small, large = realcode.build_tasks(dev, "line-indented", 2), realcode.build_tasks(dev, "line-indented", 3)
    assert [t.task_id for t in small] == [t.task_id for t in large[:2]]
    assert [t.task_id for t in realcode.build_tasks(dev, "line-indented", 3)] == [t.task_id for t in large]


def test_the_command_scores_methods_and_writes_the_report(data_dir, tmp_path, capsys):
    out = tmp_path / "report.json"
    argv = ["eval", "real-code", "--data", str(data_dir), "--split", "test", "--kind", "line-column0"]
    assert cli_main([*argv, "--methods", "reference,empty", "--json", str(out)]) == 0
    assert "line-1" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["summary"]["reference"]["exact"] == 1.0 and report["summary"]["empty"]["empty"] == 1.0
    assert {r["task_id"].split("/")[0] for r in report["results"]} == {"b"}


def test_the_tiny_model_fills_through_the_editors_path(data_dir, tmp_path):
    out = tmp_path / "report.json"
    argv = ["eval", "real-code", "--data", str(data_dir), "--kind", "line-indented", "--limit", "2", "--model", "tiny"]
    assert cli_main([*argv, "--methods", "model", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["results"]
    assert len(rows) == 2 and all(r["ms"] is not None and r["hole"] in ("line", "block") for r in rows)


def test_automatic_fills_as_an_inline_request_the_user_did_not_ask_for(data_dir, tmp_path, monkeypatch):
    from dgemma_lsp.fill import pipeline

    asked = []
    fill = pipeline.Filler.fill

    def spy(self, *args, automatic=False, **kwargs):
        asked.append(automatic)
        return fill(self, *args, automatic=automatic, **kwargs)

    monkeypatch.setattr(pipeline.Filler, "fill", spy)
    out = tmp_path / "report.json"
    argv = ["eval", "real-code", "--data", str(data_dir), "--kind", "line-indented", "--limit", "2", "--model", "tiny"]
    assert cli_main([*argv, "--methods", "model", "--automatic", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["automatic"] is True and asked and all(asked)
    asked.clear()
    assert cli_main([*argv, "--methods", "model"]) == 0
    assert asked and not any(asked)


def test_bad_arguments_are_refused(data_dir, capsys):
    assert cli_main(["eval", "real-code", "--data", str(data_dir), "--methods", "nope"]) == 2
    assert cli_main(["eval", "real-code", "--data", str(data_dir / "missing"), "--methods", "empty"]) == 2


TS_SOURCE = """import { readFileSync } from "fs";

export function load(path: string, strict = false): string[] {
  const text = readFileSync(path, "utf8");
  const lines = text.split("\\n").map((line) => line.trim());
  if (strict) {
    return lines.filter((line) => line.length > 0);
  }
  return lines;
}

export class Store {
  private items = new Map<string, string>();

  get(key: string): string | undefined {
    const value = this.items.get(key);
    return value ?? load(key).join(",");
  }
}
"""

TS_FILE = realcode.SourceFile("pkg", "1.0", "MIT", "dev", "src/store.ts", TS_SOURCE, "typescript")


@pytest.mark.parametrize("kind", realcode.KINDS)
def test_typescript_tasks_put_the_file_back_and_go_through_the_editors_hole(kind):
    tasks = realcode.tasks_of_file(TS_FILE, kind, __import__("random").Random(0))
    assert tasks, kind
    for task in tasks:
        assert task.language == "typescript" and task.before + task.reference + task.after == TS_SOURCE
        hole = realcode.editor_hole(task)
        assert hole.kind is not FillKind.NONE
        assert realcode.score(task, "reference", hole.kind.value, task.reference, None).exact
        if task.stub:  # "Fill this function": the hole is everything inside the braces, the stub included
            assert sites.BRACE_STUB in task.typed and (hole.start, hole.end) == (
                task.cursor,
                task.cursor + len(task.typed),
            )
        if kind == "block-opener":
            assert task.before.endswith("if (strict) {") and task.reference.strip().startswith("return lines.filter")
        if kind == "call-arguments":
            assert task.document[task.cursor - 1 : task.cursor + 1] == "()"


def test_a_typescript_file_that_does_not_parse_gives_no_tasks():
    broken = dataclasses.replace(TS_FILE, text=TS_SOURCE.replace("return lines;", "return lines;;) {"))
    assert realcode.tasks_of_file(broken, "line-indented", __import__("random").Random(0)) == []
