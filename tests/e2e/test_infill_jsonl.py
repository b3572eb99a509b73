"""`dgemma-lsp infill --jsonl`: one output row per input row, in order; malformed rows become error rows."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fake_model import scripted_loader

from dgemma_lsp.cli import main as cli_main
from dgemma_lsp.diffusion import loading
from dgemma_lsp.headless import infill

MALFORMED = {
    "not json": "line {n}: not JSON",
    "[1, 2]": "a row must be a JSON object",
    '{"prefix": "a", "suffix": ""}': 'missing "id"',
    '{"id": "x", "prefix": 1, "suffix": ""}': '"prefix" must be a string',
    '{"id": "x", "prefix": "", "suffix": "", "max_tokens": 0}': '"max_tokens" must be',
    '{"id": "x", "prefix": "", "suffix": "", "language": 3}': '"language" must be a string',
    '{"id": "x", "prefix": ""}': '"suffix" is missing',
    '{"id": "x", "prefix": "\\ud83d", "suffix": ""}': '"prefix" holds a lone surrogate',
}


@pytest.fixture
def scripted(monkeypatch):
    def answers(*texts):
        monkeypatch.setattr(loading, "load", scripted_loader(list(texts)))

    answers("y = x + 1")
    return answers


def _row(i: int) -> str:
    return json.dumps({"id": i, "prefix": f"def f{i}(x):\n    ", "suffix": "\n    return y\n", "language": "python"})


def test_a_thousand_rows_in_order_with_malformed_ones_reported(tmp_path: Path, scripted, capsys):
    malformed = list(MALFORMED)
    lines, expected = [], []
    for i in range(1000):
        if i % 100 == 7:
            bad = malformed[(i // 100) % len(malformed)]
            lines.append(bad)
            expected.append(("error", (bad, len(lines))))
        else:
            lines.append(_row(i))
            expected.append(("ok", i))
        if i % 250 == 0:
            lines.append("   ")  # blank lines are not rows
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(lines) + "\n")
    assert cli_main(["infill", "--jsonl", str(source), "--out", str(out), "--model", "tiny"]) == 1
    assert "10 row(s) with errors" in capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1000
    for row, (kind, what) in zip(rows, expected):
        assert set(row) >= {"id", "completion", "latency_ms", "steps"}
        if kind == "ok":
            assert row["id"] == what and "error" not in row
            assert row["completion"] == "y = x + 1" and row["steps"] >= 1 and row["latency_ms"] > 0
        else:
            bad, number = what
            assert row["error"].startswith(f"line {number}: ")
            assert MALFORMED[bad].format(n=number) in row["error"]
            assert row["completion"] == "" and row["id"] in (None, "x")


def test_the_real_pipeline_with_the_tiny_model(tmp_path: Path, capsys, monkeypatch):
    rows = [
        {"id": "a", "prefix": "def f(x):\n    return ", "suffix": "\n", "language": "python"},
        {"id": "b", "prefix": "function g() {\n  ", "suffix": "\n}\n", "language": "javascriptreact", "max_tokens": 8},
        {"id": "c", "prefix": "some text ", "suffix": "", "language": "cobol"},  # plain infill
        {"id": "d", "prefix": "retu", "suffix": "rn 1\n", "language": "python"},  # mid-word: filled all the same
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    settings = json.dumps({"completion": {"seed": 0}, "sampler": {"maxDenoisingSteps": 2}})
    assert cli_main(["infill", "--jsonl", "-", "--model", "tiny", "--settings", settings]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in out] == ["a", "b", "c", "d"]
    assert all(isinstance(r["completion"], str) and "error" not in r for r in out)
    assert all(r["steps"] >= 1 for r in out)


def test_completions_get_the_editor_post_processing(scripted, capsys, tmp_path: Path):
    # The model repeats the closer that follows the cursor; the editor path drops it, and so does this one.
    scripted("a, b)")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prefix": "print(", "suffix": ")\n", "language": "python"}) + "\n")
    assert cli_main(["infill", "--jsonl", str(source)]) == 0
    assert json.loads(capsys.readouterr().out)["completion"] == "a, b"


@pytest.mark.parametrize(
    ("prefix", "suffix", "answer", "completion"),
    [
        ("def f(x):\n", "    return y\n", "y = x + 1", "    y = x + 1\n"),  # a whole line before the suffix's code
        ("def f(x):\n    return ", "x\n", "2 * ", "2 * "),  # code after the gap on its line
    ],
)
def test_the_given_hole_is_filled_where_an_editor_would_offer_nothing(
    scripted, tmp_path, capsys, prefix, suffix, answer, completion
):
    scripted(answer)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prefix": prefix, "suffix": suffix, "language": "python"}) + "\n")
    assert cli_main(["infill", "--jsonl", str(source)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["completion"] == completion and row["steps"] >= 1


def test_max_tokens_bounds_the_middle_in_whole_canvases(scripted, tmp_path: Path, capsys):
    long = " + ".join(f"x{i}" for i in range(30))  # ~170 bytes: several 16-token canvases of the tiny model
    scripted(long)
    rows = [{"id": n, "prefix": "y = ", "suffix": "\n", "language": "python", "max_tokens": n} for n in (16, 64)]
    rows.append({"id": "all", "prefix": "y = ", "suffix": "\n", "language": "python"})
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    settings = json.dumps({"completion": {"lineCanvases": 16}})
    assert cli_main(["infill", "--jsonl", str(source), "--settings", settings]) == 0
    out = {r["id"]: r["completion"] for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert 0 < len(out[16]) <= 16 < len(out[64]) <= 64 and out["all"] == long
    assert long.startswith(out[16]) and long.startswith(out[64])


def test_a_row_that_is_not_utf8_is_an_error_row():
    class Nothing:
        def fill(self, row):
            return {"id": row.id, "completion": "", "latency_ms": 0.0, "steps": 0}

    out = list(infill.answer(Nothing(), [b'{"id": 1, "prefix": "", "suffix": ""}\n', b"\xff\xfe\n"]))
    assert out[0] == {"id": 1, "completion": "", "latency_ms": 0.0, "steps": 0}
    assert out[1]["id"] is None and out[1]["error"].startswith("line 2: not UTF-8")


def test_a_failure_inside_one_row_does_not_stop_the_rest():
    class Flaky:
        def fill(self, row):
            if row.id == 2:
                raise RuntimeError("boom")
            return {"id": row.id, "completion": "x", "latency_ms": 1.0, "steps": 1}

    lines = [json.dumps({"id": i, "prefix": "", "suffix": ""}) for i in (1, 2, 3)]
    out = list(infill.answer(Flaky(), lines))
    assert [r["id"] for r in out] == [1, 2, 3]
    assert "error" not in out[0] and "RuntimeError: boom" in out[1]["error"] and "error" not in out[2]


def test_cannot_start_exits_2(tmp_path: Path, capsys):
    assert cli_main(["infill", "--jsonl", str(tmp_path / "missing.jsonl")]) == 2
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "prefix": "", "suffix": ""}) + "\n")
    out = tmp_path / "out.jsonl"
    assert cli_main(["infill", "--jsonl", str(source), "--out", str(out), "--model", "/no/such/model"]) == 2
    assert "/no/such/model" in capsys.readouterr().err and not out.exists()


def test_an_out_that_cannot_be_written_fails_before_any_model_work(tmp_path: Path, monkeypatch, capsys):
    def load(settings, progress=None):
        raise AssertionError("the model was loaded before --out was checked")

    monkeypatch.setattr(loading, "load", load)
    source = tmp_path / "in.jsonl"
    source.write_text(_row(1) + "\n")
    for out in (tmp_path / "missing" / "x.jsonl", tmp_path):
        assert cli_main(["infill", "--jsonl", str(source), "--out", str(out)]) == 2
        assert f"cannot write {out}" in capsys.readouterr().err


def test_a_reader_that_goes_away_ends_the_run_quietly(tmp_path: Path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(_row(i) + "\n" for i in range(200)))
    fake = Path(__file__).parents[1] / "fake_model.py"
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])}
    argv = [sys.executable, str(fake), json.dumps(["y = x + 1"]), "infill", "--jsonl", str(source)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert json.loads(process.stdout.readline())["id"] == 0  # `| head -1`
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr  # as a tool killed by SIGPIPE
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


def test_a_bom_before_the_first_row_is_not_part_of_it(scripted, tmp_path: Path, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\xef\xbb\xbf" + (_row(1) + "\n" + _row(2) + "\n").encode())
    assert cli_main(["infill", "--jsonl", str(source)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["completion"], "error" in r) for r in rows] == [
        (1, "y = x + 1", False),
        (2, "y = x + 1", False),
    ]


def test_lone_surrogates_make_error_rows_and_ids_come_back_as_given(scripted, tmp_path: Path, capsys):
    rows = [
        '{"id": 1, "prefix": "x = \'\\udc80", "suffix": "\'\\n", "language": "python"}',
        '{"id": "\\ud800", "prefix": "def f(x):\\n    ", "suffix": "\\n"}',
    ]
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("\n".join(rows) + "\n")
    assert cli_main(["infill", "--jsonl", str(source), "--out", str(out)]) == 1
    first, second = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert first["id"] == 1 and first["error"] == 'line 1: "prefix" holds a lone surrogate (\\udc80)'
    assert second["id"] == "\ud800" and second["completion"] == "y = x + 1" and "error" not in second
