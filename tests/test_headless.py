"""Headless filling: stubs across a tree, diff or atomic write; a failure never leaves a half-written file."""

import os
from pathlib import Path

import pytest

from dgemma_lsp import headless
from dgemma_lsp.loading import load
from dgemma_lsp.pipeline import Filler
from dgemma_lsp.settings import parse_settings

STUB = "def double(x):\n    return x * 2\n\n\ndef triple(x):\n    pass\n"


@pytest.fixture(scope="module")
def filler():
    settings = parse_settings({"model": "tiny", "completion": {"seed": 0}, "sampler": {"maxDenoisingSteps": 4}})
    return Filler(load(settings), settings)


def test_source_files_skip_hidden_vendored_and_unknown(tmp_path: Path):
    for name in ["a.py", "b.rs", "notes.txt", ".git/c.py", "node_modules/d.js", "pkg/e.go", "pkg/vendor/f.go"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x\n")
    found = {p.relative_to(tmp_path).as_posix() for p in headless.source_files([str(tmp_path)])}
    assert found == {"a.py", "b.rs", "pkg/e.go"}


def test_fill_text_fills_only_stubs_and_keeps_the_rest(filler):
    filled, count = headless.fill_text(filler, STUB, "python")
    assert count <= 1
    assert filled.startswith("def double(x):\n    return x * 2\n\n\ndef triple(x):\n")
    if count:
        assert "    pass\n" not in filled.split("def triple")[1]


def test_write_atomically_replaces_whole_file(tmp_path: Path):
    target = tmp_path / "m.py"
    target.write_text("old\n")
    headless.write_atomically(target, "new 😀\r\n")
    assert target.read_bytes() == "new 😀\r\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_failed_write_leaves_the_original_and_no_temp_file(tmp_path: Path, monkeypatch):
    target = tmp_path / "m.py"
    target.write_text("original\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        headless.write_atomically(target, "half")
    assert target.read_text() == "original\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]


def test_fill_paths_reports_unreadable_files_and_keeps_going(tmp_path: Path, capsys):
    (tmp_path / "bad.py").write_bytes(b"\xff\xfe not utf-8 \x00")
    (tmp_path / "good.py").write_text(STUB)
    status = headless.fill_paths([str(tmp_path)], {"model": "tiny", "sampler": {"maxDenoisingSteps": 2}}, write=True)
    assert status == 1
    err = capsys.readouterr().err
    assert "bad.py: skipped" in err
    assert (tmp_path / "bad.py").read_bytes() == b"\xff\xfe not utf-8 \x00"
    good = (tmp_path / "good.py").read_text()
    assert good.startswith("def double(x):\n    return x * 2\n")


def test_fill_paths_refuses_a_fill_that_breaks_the_syntax(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "m.py").write_text(STUB)
    monkeypatch.setattr(headless, "fill_text", lambda filler, text, language: (text + "def (:\n", 1))
    status = headless.fill_paths([str(tmp_path)], {"model": "tiny"}, write=True)
    assert status == 1
    assert "would break the syntax" in capsys.readouterr().err
    assert (tmp_path / "m.py").read_text() == STUB


def test_fill_paths_with_an_unloadable_model_exits_with_a_message(tmp_path: Path, capsys):
    (tmp_path / "m.py").write_text(STUB)
    assert headless.fill_paths([str(tmp_path)], {"model": "/no/such/model"}, write=True) == 2
    assert "/no/such/model" in capsys.readouterr().err
    assert (tmp_path / "m.py").read_text() == STUB
